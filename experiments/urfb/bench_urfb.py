"""Speed of the URFB trainer (torch reference): seconds per epoch of each method, 1-hidden and 4-hidden MLPs
and simpnet (§4: conv 32 5×5, pool, full 500, dropout .8/.3).

    PYTHONPATH=$PWD python experiments/urfb/bench_urfb.py [--n 60000] [--simpnet-n 5000] [--threads 1] [--dtype float32]

simpnet costs ~50× an MLP epoch, so it is timed on --simpnet-n samples and scaled to --n (every batch of 500
costs the same; the JSON keeps the measured figures and the scale).
Synthetic inputs of MNIST's size (n × 784 in [0, 1], 10 classes): the cost does not depend on the values.
Writes experiments/urfb/results/bench_urfb.json and prints a markdown table (median of --repeats epochs):
wall seconds and, in brackets, the process's CPU seconds (the figure to read on a shared machine).
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from circuits.urfb.params import METHODS, URFBParams  # noqa: E402
from circuits.urfb.simpnet import SimpnetTrainer  # noqa: E402
from circuits.urfb.trainer import URFBTrainer  # noqa: E402
from neuromorph.io import atomic_write_text  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=60000)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--simpnet-n", type=int, default=5000, help="samples timed for simpnet (0: skip simpnet)")
    ap.add_argument("--archs", nargs="+", default=["mlp1", "mlp4", "simpnet"], choices=["mlp1", "mlp4", "simpnet"])
    ap.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    ap.add_argument("--out", default=str(ROOT / "experiments" / "urfb" / "results" / "bench_urfb.json"))
    args = ap.parse_args(argv)
    if args.n < 500 or args.repeats < 1 or args.threads < 1 or not 500 <= args.simpnet_n <= args.n:
        print("error: --n ≥ 500, 500 ≤ --simpnet-n ≤ --n, --repeats ≥ 1 and --threads ≥ 1 are required", file=sys.stderr)
        return 2
    torch.set_num_threads(args.threads)
    dtype = getattr(torch, args.dtype)
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, (args.n, 784)).astype(np.float32)
    y = rng.integers(0, 10, args.n)
    rows = []
    print("| arch | " + " | ".join(METHODS) + " |\n|---|" + "---|" * len(METHODS))
    archs = {
        "mlp1": ("mlp1 (784-500-10)", {"sizes": (784, 500, 10)}, args.n),
        "mlp4": ("mlp4 (784-4×500-10)", {"sizes": (784, 500, 500, 500, 500, 10)}, args.n),
        "simpnet": ("simpnet (conv 32, full 500)", {"sizes": (784, 500, 10), "arch": "simpnet",
                                                   "drop_conv": 0.8, "drop_full": 0.3}, args.simpnet_n),
    }
    for key in args.archs:
        arch, kw, n = archs[key]
        scale = args.n / n  # per-epoch figure from n samples
        cells = []
        for method in METHODS:
            params = URFBParams(method=method, **kw)
            tr = (SimpnetTrainer if key == "simpnet" else URFBTrainer)(params, seed=0, dtype=dtype)
            times, cpu = [], []
            for e in range(args.repeats):
                t0, c0 = time.perf_counter(), time.process_time()
                tr.train_epoch(x[:n], y[:n], e)
                times.append(time.perf_counter() - t0)
                cpu.append(time.process_time() - c0)
            s, c = scale * float(np.median(times)), scale * float(np.median(cpu))
            # CPU seconds are the figure to read on a shared machine (wall time includes waiting for a core)
            rows.append({"arch": arch, "method": method, "s_per_epoch": s, "cpu_s_per_epoch": c, "times": times,
                         "cpu": cpu, "measured_samples": n, "scale": scale})
            cells.append(f"{s:.2f} ({c:.2f} CPU)")
        print(f"| {arch} | " + " | ".join(cells) + " |", flush=True)
    meta = {"n": args.n, "threads": args.threads, "dtype": args.dtype, "batch": 500, "torch": torch.__version__,
            "machine": platform.machine()}
    atomic_write_text(args.out, json.dumps({"meta": meta, "rows": rows}, indent=1))
    print(f"s per epoch of {args.n} samples, batch 500, {args.threads} thread(s), {args.dtype}; wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
