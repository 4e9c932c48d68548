"""Benchmark: seconds per Fashion-MNIST training epoch of the fast CorInfoMax trainer, and evaluation time.

    python experiments/corinfomax/bench_corinfomax.py                  # default layouts, 300 timed batches
    python experiments/corinfomax/bench_corinfomax.py --batches 3000   # a full epoch per layout

For each layout (threads x split x GEMM path) it trains ``--batches`` batches of 20 (after a warm-up)
and extrapolates to the 3,000 batches of an epoch (60,000 samples) unless a full epoch is timed, reports
the breakdown (per-batch preparation incl. oneDNN packing / neural dynamics / weight updates), times
``predict`` on the 10,000 test images, and converts both to GFLOP/s with the FLOP count of
:func:`epoch_flops` (multiply-add = 2 FLOP; GEMMs only, elementwise work excluded). Writes JSON atomically
(default experiments/corinfomax/results/bench_corinfomax.json) and prints a markdown table.

The machine's load average is recorded before and after each measurement: on a shared machine, other
processes take cores and the figures are only meaningful together with it.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def epoch_flops(sizes, n_samples=60000, batch=20, t_free=30, t_nudged=10) -> dict:
    """GEMM FLOPs of one training epoch and of one evaluation pass, as this implementation does them."""
    n = list(sizes)
    P = len(n) - 1
    nb = batch
    sweep = 0
    for k in range(1, P):
        sweep += 2 * nb * n[k + 1] * n[k]  # feedback r[k+1] W_fb{k}
        sweep += 2 * nb * n[k] * (n[k] + n[k + 1])  # fused r[k] [cgB + gI | W_ff{k}/eps]
    sweep += 2 * nb * n[P] * n[P]  # output lateral
    prep = 2 * nb * n[0] * n[1]  # x W_ff0, once per batch (per phase pair)
    upd = 2 * nb * n[0] * n[1]  # W_ff0 += x^T (r1_nud - r1_free)
    for k in range(1, P):
        upd += 2 * 2 * nb * n[k] * n[k + 1]  # e = r[k+1] - r[k] W_ff{k}, both phases
        upd += 2 * (2 * nb) * n[k] * n[k + 1]  # stacked [r_nud; r_free]^T [e_nud; -e_free]
        upd += 2 * 2 * nb * n[k + 1] * n[k]  # e' both phases
        upd += 2 * (2 * nb) * n[k + 1] * n[k]
    for k in range(1, P + 1):
        upd += 2 * 2 * nb * n[k] * n[k]  # Z = r B, Z^T Z
    n_batches = n_samples // batch
    dyn = sweep * (t_free + t_nudged)
    per_batch = prep + dyn + upd
    ev_sweep = sweep / nb  # per sample
    eval_per_sample = 2 * n[0] * n[1] + ev_sweep * t_free
    return {
        "per_batch": per_batch,
        "dynamics_per_batch": dyn + prep,
        "update_per_batch": upd,
        "epoch": per_batch * n_batches,
        "eval_10k": eval_per_sample * 10000,
    }


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def _git() -> str | None:
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, cwd=ROOT, timeout=5).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None


def _atomic_write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    tmp.write_text(text)
    os.replace(tmp, path)


def measure(layout: dict, data, n_batches: int, warmup: int, eval_n: int) -> dict:
    import torch

    from circuits.corinfomax.trainer import CorInfoMaxTrainer
    from circuits.corinfomax.params import CorInfoMaxParams

    p = CorInfoMaxParams()
    tr = CorInfoMaxTrainer(p, seed=0, threads=layout["threads"], split=layout["split"], gemm=layout["gemm"],
                           kernel=layout["kernel"])
    nb = p.batch
    x, y = data.x_train, data.y_train
    la0 = os.getloadavg()[0]
    tr.train_epoch(x[: warmup * nb], y[: warmup * nb], 0)
    for k in tr.timing:
        tr.timing[k] = 0 if k == "batches" else 0.0
    t0, p0 = time.perf_counter(), time.process_time()
    tr.train_epoch(x[: n_batches * nb], y[: n_batches * nb], 0)
    wall, proc = time.perf_counter() - t0, time.process_time() - p0
    tm = dict(tr.timing)
    torch.set_num_threads(layout["threads"])
    t1, p1 = time.perf_counter(), time.process_time()
    tr.predict(data.x_test[:eval_n])
    t_eval = (time.perf_counter() - t1) * (10000 / eval_n)
    p_eval = (time.process_time() - p1) * (10000 / eval_n)
    main_cpu = tm["prepare_cpu"] + tm["dynamics_cpu"] + tm["update_cpu"]
    la1 = os.getloadavg()[0]
    tr.close()
    scale = (len(x) // nb) / n_batches
    return {
        **layout,
        "gemm_used": tr.gemm,
        "kernel_used": tr.kernel,
        "lanes": tr.n_lanes,
        "timed_batches": n_batches,
        "extrapolated": n_batches != len(x) // nb,
        "epoch_s": wall * scale,
        "dynamics_s": tm["dynamics"] * scale,
        "update_s": tm["update"] * scale,
        "prepare_s": tm["prepare"] * scale,
        "other_s": (wall - tm["dynamics"] - tm["update"] - tm["prepare"]) * scale,
        "ms_per_batch": wall / n_batches * 1e3,
        # CPU seconds (robust to other processes): all threads, and the calling thread alone
        "cpu_epoch_s": proc * scale,
        "cpu_main_thread_epoch_s": main_cpu * scale,
        "cpu_dynamics_s": tm["dynamics_cpu"] * scale,
        "cpu_update_s": tm["update_cpu"] * scale,
        "cpu_prepare_s": tm["prepare_cpu"] * scale,
        # quiet-machine estimate: the busiest thread's CPU time (split: the lanes run concurrently and the
        # calling thread does at least its equal share; single thread: its CPU time); OpenMP spinning
        # inflates CPU time, so for intra-op layouts this is an upper bound
        "quiet_epoch_estimate_s": (main_cpu if layout["split"] or layout["threads"] == 1 else proc) * scale,
        "cpu_eval_10k_s": p_eval,
        "eval_10k_s": t_eval,
        "eval_timed_samples": eval_n,
        "loadavg_before": la0,
        "loadavg_after": la1,
    }


def micro_timings(reps: int = 200) -> dict:
    """Where a batch's time goes, in microseconds: one lane's Gauss-Seidel sweep per kernel, the GEMM alone,
    two lanes at once, and the per-batch pieces (FMNIST sizes, 10 rows per lane, float32, oneDNN)."""
    import threading

    import torch

    from circuits.corinfomax import kernels
    from circuits.corinfomax import trainer as fast
    from circuits.corinfomax.params import CorInfoMaxParams

    torch.set_num_threads(1)
    p = CorInfoMaxParams()
    T = p.t_free + p.t_nudged
    out: dict = {"rows_per_lane": p.batch // 2, "sweeps_per_batch": T}

    def per_call(fn, n=reps) -> float:
        for _ in range(max(5, n // 10)):
            fn()
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        return (time.perf_counter() - t0) / n * 1e6

    with torch.inference_mode():
        for kernel in ("cpp", "torchscript"):
            tr = fast.CorInfoMaxTrainer(p, 0, threads=2, kernel=kernel)
            bufs = tr._buffers(p.batch)
            bufs["x"].uniform_(-1, 1)
            blocks = tr._blocks(bufs, p.batch, 2)
            mats = tr._derived(0.5, blocks[0].n)
            out[f"block_step_per_sweep_{kernel}"] = per_call(lambda: tr._block_step(blocks[0], mats, 0.5), 50) / T
            out[f"block_step_two_lanes_per_sweep_{kernel}"] = per_call(
                lambda: tr._run_parallel([lambda b=b: tr._block_step(b, mats, 0.5) for b in blocks]), 50) / T
            if kernel == "cpp":
                r, e, w = blocks[0].r[1], blocks[0].E[1], mats["packed"][1]
                out["gemm_per_sweep"] = per_call(lambda: kernels._ONEDNN_LINEAR_ADD(r, e, w, None, "add"), 2000)
                out["x_Wff0_per_lane"] = per_call(lambda: torch.mm(blocks[0].x, tr.Wff[0]))
                out["Z_rB_per_lane"] = per_call(lambda: torch.mm(blocks[0].r[1], tr.B[1]))
                out["pack_per_batch"] = per_call(lambda: tr._pack(mats, 1, blocks[0].n))
                out["updates_and_next_prepare_per_batch"] = per_call(
                    lambda: tr._update_and_derive_split(bufs, p.batch, 1e9, 1.0, 0.5, blocks[0].n))

                # the pure C++ sweeps of two lanes at once (no Python between phases): the shared-cache cost
                def lane_args(blk):
                    none = kernels.NO_TENSOR
                    return ([none] + blk.u[1:], [blk.x] + blk.r[1:], [none] + blk.G[1:], [none] + blk.E[1:],
                            [none] + mats["Wfbs"][1:], [none] + mats["packed"][1:], mats["latp"],
                            [p.mu_at(s) for s in range(T)], list(p.sizes), 1.0, 1.0, True, False, [], [], none, 0.0, 0.0)

                args = [lane_args(b) for b in blocks]

                def lane(i, n):
                    torch.set_num_threads(1)
                    with torch.inference_mode():
                        for _ in range(n):
                            tr._sweeps(*args[i])

                def two(n):
                    th = threading.Thread(target=lane, args=(1, n))
                    th.start()
                    lane(0, n)
                    th.join()

                out["sweeps_only_one_lane_per_sweep"] = per_call(lambda: lane(0, 1), 100) / T
                out["sweeps_only_two_lanes_per_sweep"] = per_call(lambda: two(1), 100) / T
            tr.close()
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--batches", type=int, default=300, help="timed batches per layout (3000 = a full epoch)")
    ap.add_argument("--warmup", type=int, default=20)
    ap.add_argument("--eval-samples", type=int, default=10000)
    ap.add_argument("--layouts", default="2:split:auto,1:nosplit:auto,1:nosplit:blas,2:split:blas",
                    help="comma list of threads:split|nosplit:auto|onednn|blas[:auto|cpp|torchscript|python]")
    ap.add_argument("--repeats", type=int, default=1,
                    help="measure each layout this many times (interleaved); the table shows the fastest run and "
                         "the JSON every run, since a shared machine's timings vary from run to run")
    ap.add_argument("--out", type=Path, default=ROOT / "experiments" / "corinfomax" / "results" / "bench_corinfomax.json")
    ap.add_argument("--micro", action="store_true", help="also time the pieces of a batch (micro_timings)")
    args = ap.parse_args(argv)

    import torch

    from neuromorph.data import load_dataset

    data = load_dataset("fashion_mnist")
    layouts = []
    for item in args.layouts.split(","):
        th, sp, gm, *kn = item.split(":")
        layouts.append({"threads": int(th), "split": sp == "split", "gemm": gm, "kernel": kn[0] if kn else "auto"})
    fl = epoch_flops((784, 500, 10))
    runs: list[list[dict]] = [[] for _ in layouts]
    for _ in range(max(1, args.repeats)):
        for i, lay in enumerate(layouts):
            r = measure(lay, data, args.batches, args.warmup, args.eval_samples)
            r["gflops_train"] = fl["epoch"] / r["epoch_s"] / 1e9
            r["gflops_dynamics"] = fl["dynamics_per_batch"] * 3000 / r["dynamics_s"] / 1e9
            r["gflops_eval"] = fl["eval_10k"] / r["eval_10k_s"] / 1e9
            runs[i].append(r)
            print(f"  {lay}: {r['epoch_s']:.1f} s/epoch (load {r['loadavg_before']:.1f}->{r['loadavg_after']:.1f})",
                  flush=True)
    rows = []
    for rs in runs:
        best = dict(min(rs, key=lambda r: r["epoch_s"]))
        best["epoch_s_runs"] = [r["epoch_s"] for r in rs]
        best["epoch_s_median"] = float(np.median(best["epoch_s_runs"]))
        rows.append(best)
    result = {
        "command": " ".join([Path(sys.executable).name] + sys.argv),
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
        "git_commit": _git(),
        "machine": {"cpu": _cpu_model(), "cpu_count": os.cpu_count(), "platform": platform.platform()},
        "versions": {"python": platform.python_version(), "torch": torch.__version__, "numpy": np.__version__},
        "setting": "FMNIST [784, 500, 10], batch 20, T_free 30, T_nudged 10, float32, 60,000 samples/epoch",
        "flops": fl,
        "flops_note": "GEMM FLOPs (multiply-add = 2) as implemented: x W_ff0 hoisted once per batch, one fused "
                      "GEMM per hidden layer per sweep, one GEMM per matrix for the updates",
        "results": rows,
    }
    if args.micro:
        result["micro_us"] = micro_timings()
    _atomic_write(args.out, json.dumps(result, indent=2) + "\n")
    print()
    print(f"CorInfoMax fast trainer, {result['setting']}; {result['machine']['cpu']}, torch {torch.__version__}")
    print(f"FLOP per epoch {fl['epoch'] / 1e12:.3f} TFLOP (dynamics {fl['dynamics_per_batch'] * 3000 / 1e12:.3f}, "
          f"updates {fl['update_per_batch'] * 3000 / 1e12:.3f}); evaluation of 10k: {fl['eval_10k'] / 1e9:.0f} GFLOP")
    print()
    print("| threads | layout | GEMM | sweep kernel | wall s/epoch (fastest; median of runs) | CPU s/epoch (all threads) | calling-thread CPU s: dynamics / updates / prepare "
          "| quiet estimate s/epoch | GFLOP/s (wall; quiet est.) | eval 10k wall s (CPU s) | batches timed | load avg |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        q = r["quiet_epoch_estimate_s"]
        print(f"| {r['threads']} | {'split' if r['lanes'] > 1 else 'whole batch'} | {r['gemm_used']} | {r['kernel_used']} "
              f"| {r['epoch_s']:.1f}; {r['epoch_s_median']:.1f} ({len(r['epoch_s_runs'])} runs) "
              f"| {r['cpu_epoch_s']:.1f} | {r['cpu_dynamics_s']:.1f} / {r['cpu_update_s']:.1f} / {r['cpu_prepare_s']:.1f} "
              f"| {q:.1f} | {r['gflops_train']:.0f}; {fl['epoch'] / q / 1e9:.0f} "
              f"| {r['eval_10k_s']:.1f} ({r['cpu_eval_10k_s']:.1f}) | {r['timed_batches']}{' (extrapolated)' if r['extrapolated'] else ''} "
              f"| {r['loadavg_before']:.1f}-{r['loadavg_after']:.1f} |")
    if args.micro:
        print("\nmicro-timings (µs): " + ", ".join(f"{k} {v:.1f}" if isinstance(v, float) else f"{k} {v}"
                                                   for k, v in result["micro_us"].items()))
    print(f"\nwritten {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
