"""Benchmark: seconds per Fashion-MNIST training epoch of the fast CorInfoMax trainer, and evaluation time.

    python experiments/corinfomax/bench_corinfomax.py                  # default layouts, 300 timed batches
    python experiments/corinfomax/bench_corinfomax.py --batches 3000   # a full epoch per layout
    # in ONE run: the authors' code, ours, the GEMM floor, 10 seeds stacked vs one by one (ratios)
    python experiments/corinfomax/bench_corinfomax.py --authors-src /tmp/authors --floor --seed-batch 10 \
        --layouts 1:nosplit:auto:cpp,2:split:auto:cpp --out experiments/corinfomax/results/bench_ratios.json

``--authors-src DIR``: a checkout of github.com/BariscanBozkurt/Supervised-CorInfoMax (never part of this
repository; without it that row is skipped with a note). Their ``ContrastiveCorInfoMaxHopfield`` trains
``--authors-batches`` batches of their FMNIST loop (``authors_code.py``: their script's settings, debug logs
every 500 batches) with the same torch thread count as each of our layouts, extrapolated to 3,000 batches.

``--floor``: the GEMM floor of this machine for one epoch: every matrix product of the epoch (the shapes and
counts of :func:`epoch_gemms`, which sum to :func:`epoch_flops`) timed as plain ``torch.mm`` calls of the
same shapes, float32, one thread; with T threads, T such streams run concurrently (one per core, the best
the cores do on these shapes) and the floor is the epoch's GEMMs divided over them. Element-wise work,
Python and synchronisation are not in it, so no implementation of this algorithm (with these GEMMs) can be
faster: "floor / ours" is the fraction of the machine's GEMM throughput ours reaches.

``--seed-batch S``: S seeds stacked in one :class:`circuits.corinfomax.seedbatch.SeedBatch` (one thread) vs
the same S seeds trained one after another by the single-seed trainer (one thread, whole batch), side by
side on the same batches; with ``evaluation`` (predict on 10k test + 10k train images per seed, what the
runner does each epoch) this gives the wall time of a sweep cell of S seeds x 50 epochs on ``cores`` cores.

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


def epoch_gemms(sizes, n_samples=60000, batch=20, t_free=30, t_nudged=10) -> list[tuple[int, int, int, int]]:
    """(M, K, N, calls per epoch) of every matrix product of one training epoch as this implementation does
    them (the same terms as :func:`epoch_flops`; multiply-adds 2 M K N)."""
    n = list(sizes)
    P = len(n) - 1
    nb = batch
    T = t_free + t_nudged
    nbat = n_samples // batch
    g = [(nb, n[0], n[1], nbat)]  # x W_ff0, once per batch
    for k in range(1, P):
        g.append((nb, n[k + 1], n[k], T * nbat))  # feedback r[k+1] W_fb{k}
        g.append((nb, n[k], n[k] + n[k + 1], T * nbat))  # fused r[k] [cgB + gI | W_ff{k}/eps]
    g.append((nb, n[P], n[P], T * nbat))  # output lateral
    g.append((n[0], nb, n[1], nbat))  # W_ff0 update x^T (r1_nud - r1_free)
    for k in range(1, P):
        g.append((nb, n[k], n[k + 1], 2 * nbat))  # e = r[k+1] - r[k] W_ff{k}, both phases
        g.append((n[k], 2 * nb, n[k + 1], nbat))  # stacked [r_nud; r_free]^T [e_nud; -e_free]
        g.append((nb, n[k + 1], n[k], 2 * nbat))  # e'
        g.append((n[k + 1], 2 * nb, n[k], nbat))
    for k in range(1, P + 1):
        g.append((nb, n[k], n[k], nbat))  # Z = r B
        g.append((n[k], nb, n[k], nbat))  # Z^T Z
    return g


def gemm_floor(sizes, threads: int, reps_target_s: float = 0.25) -> dict:
    """Seconds the epoch's GEMMs take as plain torch.mm calls (float32, one thread per stream, ``threads``
    concurrent streams), see the module docstring."""
    import threading

    import torch

    prev = torch.get_num_threads()
    rows = []
    total = total_cpu = 0.0
    try:
        for M, K, N, calls in epoch_gemms(sizes):
            a, b = torch.rand(M, K), torch.rand(K, N)
            out = torch.empty(M, N)

            def stream(n_rep, res, cpu, i):
                torch.set_num_threads(1)
                for _ in range(10):
                    torch.mm(a, b, out=out) if i == 0 else torch.mm(a, b)
                t0, c0 = time.perf_counter(), time.thread_time()
                for _ in range(n_rep):
                    torch.mm(a, b, out=out) if i == 0 else torch.mm(a, b)
                res[i] = (time.perf_counter() - t0) / n_rep
                cpu[i] = (time.thread_time() - c0) / n_rep

            res, cpu = [0.0], [0.0]
            stream(20, res, cpu, 0)
            n_rep = max(20, int(reps_target_s / max(res[0], 1e-7)))
            res, cpu = [0.0] * threads, [0.0] * threads
            ths = [threading.Thread(target=stream, args=(n_rep, res, cpu, i)) for i in range(1, threads)]
            for th in ths:
                th.start()
            stream(n_rep, res, cpu, 0)
            for th in ths:
                th.join()
            per_call = max(res) / threads  # T streams deliver T calls in max(res) seconds
            cpu_call = sum(cpu) / threads  # CPU seconds of one call (robust to other processes on the cores)
            total += per_call * calls
            total_cpu += cpu_call * calls
            rows.append({"M": M, "K": K, "N": N, "calls": calls, "us_per_call": per_call * 1e6,
                         "cpu_us_per_call": cpu_call * 1e6, "gflops": 2 * M * K * N / per_call / 1e9,
                         "epoch_s": per_call * calls, "cpu_epoch_s": cpu_call * calls})
    finally:
        torch.set_num_threads(prev)
    fl = sum(2 * r["M"] * r["K"] * r["N"] * r["calls"] for r in rows)
    # cpu_epoch_s: CPU seconds of all streams together, comparable with a layout's cpu_epoch_s (all threads)
    return {"threads": threads, "epoch_s": total, "cpu_epoch_s": total_cpu, "gflops": fl / total / 1e9,
            "gflops_per_cpu_s": fl / total_cpu / 1e9, "flops": fl, "shapes": rows}


def measure_authors(src: Path, data, threads: int, n_batches: int) -> dict:
    """Seconds per epoch of the authors' code (their training loop, ``authors_code.py``), extrapolated."""
    import torch

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import authors_code as ac

    cm = ac.load_authors(src)
    prev = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        model = ac.make_model(cm, 0)
        loader = ac.make_loader(data.x_train, data.y_train)
        ac.train_epoch(model, loader, 0, 1.0, n_batches=5)  # warm-up
        t0, c0 = time.perf_counter(), time.process_time()
        ac.train_epoch(model, loader, 0, 1.0, n_batches=n_batches)
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    finally:
        torch.set_num_threads(prev)
    scale = (len(data.x_train) // 20) / n_batches
    return {"threads": threads, "timed_batches": n_batches, "epoch_s": wall * scale, "cpu_epoch_s": cpu * scale,
            "loadavg": os.getloadavg()[0]}


def measure_seed_batch(data, S: int, n_batches: int, eval_n: int) -> dict:
    """S seeds stacked (SeedBatch, 1 thread) vs the same seeds one by one (single-seed trainer, 1 thread)."""
    import torch

    from circuits.corinfomax.params import CorInfoMaxParams
    from circuits.corinfomax.seedbatch import SeedBatch
    from circuits.corinfomax.trainer import CorInfoMaxTrainer

    p = CorInfoMaxParams()
    nb = p.batch
    x, y = data.x_train[: n_batches * nb], data.y_train[: n_batches * nb]
    xe = data.x_test[:eval_n]
    prev = torch.get_num_threads()
    torch.set_num_threads(1)
    scale = (len(data.x_train) // nb) / n_batches
    try:
        single = {"wall": 0.0, "cpu": 0.0, "eval_wall": 0.0}
        for s in range(S):
            tr = CorInfoMaxTrainer(p, s, threads=1)
            tr.train_epoch(x[: 10 * nb], y[: 10 * nb], 0)
            t0, c0 = time.perf_counter(), time.process_time()
            tr.train_epoch(x, y, 0)
            single["wall"] += time.perf_counter() - t0
            single["cpu"] += time.process_time() - c0
            t1 = time.perf_counter()
            tr.predict(xe)
            single["eval_wall"] += time.perf_counter() - t1
            kernel = tr.kernel
            tr.close()
        sb = SeedBatch(p, list(range(S)), threads=1)
        sb.train_epoch(x[: 10 * nb], y[: 10 * nb], 0)
        t0, c0 = time.perf_counter(), time.process_time()
        sb.train_epoch(x, y, 0)
        bw, bc = time.perf_counter() - t0, time.process_time() - c0
        t1 = time.perf_counter()
        sb.predict([xe] * S)
        be = time.perf_counter() - t1
    finally:
        torch.set_num_threads(prev)
    ev = 2 * 10000 / eval_n  # the runner evaluates 10k test + a 10k train subset per epoch
    return {
        "seeds": S, "timed_batches": n_batches, "single_kernel": kernel,
        "single_s_per_seed_epoch": single["wall"] * scale / S, "single_cpu_s_per_seed_epoch": single["cpu"] * scale / S,
        "batched_s_per_seed_epoch": bw * scale / S, "batched_cpu_s_per_seed_epoch": bc * scale / S,
        "single_eval_s_per_seed_epoch": single["eval_wall"] * ev / S, "batched_eval_s_per_seed_epoch": be * ev / S,
        "loadavg": os.getloadavg()[0],
    }


def cell_minutes(per_seed_epoch_s: float, seeds: int = 10, epochs: int = 50, cores: int = 2) -> float:
    """Wall minutes of a sweep cell when each core trains one seed at a time (1 thread each)."""
    return per_seed_epoch_s * seeds * epochs / cores / 60


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
    ap.add_argument("--authors-src", type=Path, default=None,
                    help="checkout of BariscanBozkurt/Supervised-CorInfoMax: also time the authors' code (never committed)")
    ap.add_argument("--authors-batches", type=int, default=200, help="batches of the authors' code timed per layout")
    ap.add_argument("--authors-threads", type=int, nargs="+", default=None,
                    help="thread counts to time the authors' code with (default: every layout's)")
    ap.add_argument("--floor", action="store_true", help="also time the GEMM floor of one epoch (module docstring)")
    ap.add_argument("--seed-batch", type=int, default=0, metavar="S",
                    help="also compare S seeds stacked vs one by one (1 thread each)")
    ap.add_argument("--seed-batch-batches", type=int, default=100, help="batches timed per seed in that comparison")
    args = ap.parse_args(argv)
    if args.authors_src is not None and not (args.authors_src / "src" / "ContrastiveModels.py").is_file():
        raise SystemExit(f"error: --authors-src {args.authors_src} has no src/ContrastiveModels.py; give a checkout of "
                         "github.com/BariscanBozkurt/Supervised-CorInfoMax")
    if args.seed_batch < 0 or args.authors_batches < 1 or args.batches < 1:
        raise SystemExit("error: --seed-batch must be >= 0 and --batches/--authors-batches >= 1")

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
    # the authors' code, the GEMM floor and the seed batch, measured right after ours (same load, same run)
    authors: dict[int, dict] = {}
    floors: dict[int, dict] = {}
    for th in sorted({lay["threads"] for lay in layouts}):
        if args.authors_src is not None and (args.authors_threads is None or th in args.authors_threads):
            authors[th] = measure_authors(args.authors_src, data, th, args.authors_batches)
            print(f"  authors' code, {th} thread(s): {authors[th]['epoch_s']:.1f} s/epoch", flush=True)
        if args.floor:
            floors[th] = gemm_floor((784, 500, 10), th)
            print(f"  GEMM floor, {th} thread(s): {floors[th]['epoch_s']:.2f} s/epoch ({floors[th]['gflops']:.0f} GFLOP/s)",
                  flush=True)
    seed_batch = measure_seed_batch(data, args.seed_batch, args.seed_batch_batches, min(args.eval_samples, 2000)) \
        if args.seed_batch else None
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
        "authors": {str(k): v for k, v in authors.items()} if args.authors_src is not None else
        "skipped: no --authors-src (a checkout of github.com/BariscanBozkurt/Supervised-CorInfoMax)",
        "gemm_floor": {str(k): v for k, v in floors.items()} if floors else None,
        "seed_batch": seed_batch,
    }
    ratios = []
    for r in rows:
        row = {"threads": r["threads"], "layout": "split" if r["lanes"] > 1 else "whole batch", "kernel": r["kernel_used"],
               "ours_s": r["epoch_s"]}
        row["ours_cpu_s"] = r["cpu_epoch_s"]
        # CPU-second ratios are the robust ones on a shared machine (other processes stretch wall time
        # unevenly between measurements); wall ratios are kept beside them
        if r["threads"] in authors:
            a = authors[r["threads"]]
            row.update(authors_s=a["epoch_s"], authors_cpu_s=a["cpu_epoch_s"], authors_over_ours=a["epoch_s"] / r["epoch_s"],
                       authors_over_ours_cpu=a["cpu_epoch_s"] / r["cpu_epoch_s"])
        if r["threads"] in floors:
            fl_ = floors[r["threads"]]
            row.update(floor_s=fl_["epoch_s"], floor_cpu_s=fl_["cpu_epoch_s"], floor_over_ours=fl_["epoch_s"] / r["epoch_s"],
                       floor_over_ours_cpu=fl_["cpu_epoch_s"] / r["cpu_epoch_s"])
        ratios.append(row)
    result["ratios"] = ratios
    if seed_batch:
        sbr = seed_batch
        result["cell_estimate_min"] = {
            "single_one_thread_per_core": cell_minutes(sbr["single_s_per_seed_epoch"] + sbr["single_eval_s_per_seed_epoch"]),
            "stacked_one_thread_per_core": cell_minutes(sbr["batched_s_per_seed_epoch"] + sbr["batched_eval_s_per_seed_epoch"]),
            "note": "10 seeds x 50 epochs on 2 cores, each core one seed (or one stack) at a time, evaluation included; "
                    "from this run's per-seed-epoch seconds, so as loaded as the machine was",
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
    if ratios and (authors or floors):
        nan = float("nan")
        print("\n| threads | layout | ours s/epoch wall (CPU) | authors' code s/epoch wall (CPU) | authors / ours wall; CPU "
              "| GEMM floor s/epoch wall (CPU) | floor / ours wall; CPU |")
        print("|---|---|---|---|---|---|---|")
        for q in ratios:
            print(f"| {q['threads']} | {q['layout']} ({q['kernel']}) | {q['ours_s']:.1f} ({q['ours_cpu_s']:.1f}) "
                  f"| {q.get('authors_s', nan):.1f} ({q.get('authors_cpu_s', nan):.1f}) "
                  f"| {q.get('authors_over_ours', nan):.1f}x; {q.get('authors_over_ours_cpu', nan):.1f}x "
                  f"| {q.get('floor_s', nan):.2f} ({q.get('floor_cpu_s', nan):.2f}) "
                  f"| {100 * q.get('floor_over_ours', nan):.0f} %; {100 * q.get('floor_over_ours_cpu', nan):.0f} % |")
    if args.authors_src is None:
        print("authors' code: skipped (no --authors-src)")
    if seed_batch:
        sbr = seed_batch
        print(f"\n{sbr['seeds']} seeds, 1 thread: one by one {sbr['single_s_per_seed_epoch']:.1f} s (CPU "
              f"{sbr['single_cpu_s_per_seed_epoch']:.1f}) vs stacked {sbr['batched_s_per_seed_epoch']:.1f} s (CPU "
              f"{sbr['batched_cpu_s_per_seed_epoch']:.1f}) per seed-epoch; evaluation {sbr['single_eval_s_per_seed_epoch']:.1f} "
              f"vs {sbr['batched_eval_s_per_seed_epoch']:.1f} s; 10 x 50 cell on 2 cores: "
              f"{result['cell_estimate_min']['single_one_thread_per_core']:.0f} min one by one, "
              f"{result['cell_estimate_min']['stacked_one_thread_per_core']:.0f} min stacked (load {sbr['loadavg']:.1f})")
    print(f"\nwritten {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
