"""Speed of the KSM ADMM solver: seconds per epoch (one pass over the data) for each Table 1 setting, beside the
machine's GEMM floor for the same matmul work, measured side by side in one process.

For each setting (the paper's K, N, T, B = 128, T_z = 15) and schedule:

* ``solver_s``: one epoch of the solver's inner loop as KSMTrainer runs it (λ_max estimate, Z-, P-, M-, W-steps
  per mini-batch; no evaluation);
* ``gemm_replay_s``: the same sequence of matrix products (same shapes, same count) on random tensors, nothing
  else: what the epoch would cost if it were only its matmuls;
* ``ratio`` = solver_s / gemm_replay_s (1 = the solver is GEMM-bound; the rest is the prox, the per-sample K x K
  work of Schedules 2/3 and Python overhead);
* ``flop_floor_s``: the epoch's matmul FLOPs at the rate of a large square GEMM on this machine.

Data: the real sets where offline (ksm_sparse, moons_ksm, patches, fashion_mnist in place of MNIST); timing depends
only on the shapes. Writes JSON and a markdown table (``--out``, default results/ksm/bench).

    python experiments/ksm/bench_ksm.py [--device cpu|cuda] [--dtype float64|float32] [--reps 2] [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

from circuits.ksm import KSMTrainer, table1
from neuromorph.data import load_dataset
from neuromorph.io import atomic_write_json, atomic_write_text
from neuromorph.runner import git_commit

# setting -> (data set, scale, n_train, schedules benchmarked)
SETTINGS = {
    "synthetic": ("ksm_sparse", "raw", 1500, (1, 2, 3)),
    "moons": ("moons_ksm", "raw", 2500, (1, 2, 3)),
    "patches": ("patches", "raw", 40000, (1,)),
    "mnist": ("fashion_mnist", "unit", 9000, (1,)),  # Fashion-MNIST in place of MNIST (same N, K, T)
}


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def solver_epoch(tr: KSMTrainer, X: torch.Tensor, epoch: int) -> float:
    """Seconds of one pass of the trainer's solver (KSMTrainer.solver_pass, without train_epoch's metrics)."""
    order = np.random.default_rng([tr.seed, epoch]).permutation(len(X))
    _sync(tr.device)
    t0 = time.perf_counter()
    tr.solver_pass(X, order)
    _sync(tr.device)
    return time.perf_counter() - t0


def matmul_plan(T: int, N: int, K: int, B: int, T_z: int, schedule: int) -> list[tuple]:
    """The (m, k, n, batch) products of one epoch (batch > 1: a batched K x K product per sample)."""
    plan = []
    for start in range(0, T, B):
        b = min(B, T - start)
        plan += [(K, N, K, 1)] + [(K, K, 1, 1)] * 4  # λ_max: WWᵀ and 4 matvecs
        plan += [(K, N, K, 1)]  # G = WWᵀ
        if schedule == 1:
            plan += [(b, N, K, 1)] + [(b, K, K, 1)] * T_z  # x Wᵀ, then z G per Z step
        else:
            plan += [(b, N, K, 1), (K, K, K, 1)]  # x Wᵀ per step (done once here), G
            plan += [(K, K, 1, b)] * T_z  # Q z per sample and step
        plan += [(K, b, N, 1), (K, b, K, 1), (K, K, N, 1)]  # zᵀx, zᵀz (or mean P), P̄ W
    return plan


def flops(plan) -> float:
    return float(sum(2 * m * k * n * bt for m, k, n, bt in plan))


def gemm_replay(plan, dtype, device, reps: int) -> float:
    shapes = {}
    for m, k, n, bt in plan:
        key = (m, k, n, bt)
        if key not in shapes:
            a = torch.randn((bt, m, k) if bt > 1 else (m, k), dtype=dtype, device=device)
            b = torch.randn((bt, k, n) if bt > 1 else (k, n), dtype=dtype, device=device)
            shapes[key] = (a, b)
    best = np.inf
    for _ in range(reps):
        _sync(device)
        t0 = time.perf_counter()
        for key in plan:
            a, b = shapes[key]
            torch.matmul(a, b)
        _sync(device)
        best = min(best, time.perf_counter() - t0)
    return best


def peak_gflops(dtype, device, n: int = 1024, reps: int = 5) -> float:
    a = torch.randn(n, n, dtype=dtype, device=device)
    b = torch.randn(n, n, dtype=dtype, device=device)
    torch.matmul(a, b)
    best = np.inf
    for _ in range(reps):
        _sync(device)
        t0 = time.perf_counter()
        torch.matmul(a, b)
        _sync(device)
        best = min(best, time.perf_counter() - t0)
    return 2 * n**3 / best / 1e9


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--dtype", default="float64", choices=("float64", "float32"))
    ap.add_argument("--reps", type=int, default=2)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--quick", action="store_true", help="a tenth of the samples of each set (a smoke run)")
    ap.add_argument("--out", default="results/ksm/bench")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    load_start = os.getloadavg()[0]
    device = torch.device(args.device)
    dtype = torch.float64 if args.dtype == "float64" else torch.float32
    peak = peak_gflops(dtype, device)
    rows = []
    for setting, (name, scale, n, schedules) in SETTINGS.items():
        n = max(256, n // 10) if args.quick else n
        d = load_dataset(name, scale=scale, n_train=n, n_test=64)
        for schedule in schedules:
            p = table1(setting, schedule=schedule, init="data", dtype=args.dtype, device=args.device,
                       lr_z_factor=0.01 if schedule == 3 else 1.0, init_code_steps=5)
            tr = KSMTrainer(d.n_features, p, 0)
            tr._init(np.asarray(d.x_train))
            X = tr._t(d.x_train)
            solver = min(solver_epoch(tr, X, e) for e in range(args.reps))
            plan = matmul_plan(len(X), d.n_features, p.K, p.batch, p.T_z, schedule)
            replay = gemm_replay(plan, dtype, device, args.reps)
            fl = flops(plan)
            rows.append({"setting": setting, "data": name, "schedule": schedule, "T": len(X), "N": d.n_features, "K": p.K,
                         "B": p.batch, "T_z": p.T_z, "solver_s": solver, "gemm_replay_s": replay, "ratio": solver / replay,
                         "gflop": fl / 1e9, "flop_floor_s": fl / (peak * 1e9), "solver_gflops": fl / solver / 1e9})
            print(json.dumps(rows[-1]), flush=True)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    meta = {"device": str(device), "dtype": args.dtype, "threads": torch.get_num_threads(), "torch": torch.__version__,
            "machine": platform.platform(), "processor": platform.processor(), "peak_square_gemm_gflops": peak,
            "quick": args.quick, "note": "timings on a shared machine; the ratios are measured side by side",
            "command": " ".join([sys.executable, *sys.argv]), "git_commit": git_commit(),
            "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "loadavg_start": load_start,
            "loadavg_end": os.getloadavg()[0]}
    atomic_write_json(out / "bench_ksm.json", {"meta": meta, "rows": rows})
    lines = [f"# KSM solver: seconds per epoch ({args.dtype}, {device}, {meta['threads']} thread(s); square-GEMM peak "
             f"{peak:.1f} GFLOP/s)", "",
             "| setting | data | schedule | T | N | K | s / epoch | GEMM replay s | ratio | GFLOP | FLOP floor s | GFLOP/s |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['setting']} | {r['data']} | {r['schedule']} | {r['T']} | {r['N']} | {r['K']} | {r['solver_s']:.3f} | "
                     f"{r['gemm_replay_s']:.3f} | {r['ratio']:.2f} | {r['gflop']:.2f} | {r['flop_floor_s']:.3f} | {r['solver_gflops']:.1f} |")
    atomic_write_text(out / "bench_ksm.md", "\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
