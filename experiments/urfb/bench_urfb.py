"""Speed of the URFB trainer (torch reference): seconds per epoch of each method, 1-hidden and 4-hidden MLPs.

    PYTHONPATH=$PWD python experiments/urfb/bench_urfb.py [--n 60000] [--threads 1] [--dtype float32]

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
from circuits.urfb.trainer import URFBTrainer  # noqa: E402
from neuromorph.io import atomic_write_text  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=60000)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    ap.add_argument("--out", default=str(ROOT / "experiments" / "urfb" / "results" / "bench_urfb.json"))
    args = ap.parse_args(argv)
    if args.n < 500 or args.repeats < 1 or args.threads < 1:
        print("error: --n ≥ 500, --repeats ≥ 1 and --threads ≥ 1 are required", file=sys.stderr)
        return 2
    torch.set_num_threads(args.threads)
    dtype = getattr(torch, args.dtype)
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, (args.n, 784)).astype(np.float32)
    y = rng.integers(0, 10, args.n)
    rows = []
    print("| arch | " + " | ".join(METHODS) + " |\n|---|" + "---|" * len(METHODS))
    for arch, hidden in (("mlp1 (784-500-10)", (500,)), ("mlp4 (784-4×500-10)", (500,) * 4)):
        cells = []
        for method in METHODS:
            tr = URFBTrainer(URFBParams(sizes=(784, *hidden, 10), method=method), seed=0, dtype=dtype)
            times, cpu = [], []
            for e in range(args.repeats):
                t0, c0 = time.perf_counter(), time.process_time()
                tr.train_epoch(x, y, e)
                times.append(time.perf_counter() - t0)
                cpu.append(time.process_time() - c0)
            s, c = float(np.median(times)), float(np.median(cpu))
            # CPU seconds are the figure to read on a shared machine (wall time includes waiting for a core)
            rows.append({"arch": arch, "method": method, "s_per_epoch": s, "cpu_s_per_epoch": c, "times": times, "cpu": cpu})
            cells.append(f"{s:.2f} ({c:.2f} CPU)")
        print(f"| {arch} | " + " | ".join(cells) + " |", flush=True)
    meta = {"n": args.n, "threads": args.threads, "dtype": args.dtype, "batch": 500, "torch": torch.__version__,
            "machine": platform.machine()}
    atomic_write_text(args.out, json.dumps({"meta": meta, "rows": rows}, indent=1))
    print(f"s per epoch of {args.n} samples, batch 500, {args.threads} thread(s), {args.dtype}; wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
