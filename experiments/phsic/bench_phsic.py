"""Seconds per Fashion-MNIST epoch of the pHSIC batch form (3x1024 MLP, batch 256), 1 and 2 torch threads.

    python experiments/phsic/bench_phsic.py [--batches 20] [--threads 1 2] [--full-epoch] \
        [--out experiments/phsic/results/bench_phsic.json]

By default ``--batches`` training batches are timed (after one warm-up batch) and scaled to the 235 batches of
an epoch (60 000 samples); ``--full-epoch`` times a whole epoch instead. Evaluation (argmax over the 10 000
test images) is timed separately. The JSON (written atomically) records the command, machine, versions, the
1-minute load average before each measurement (the machine is shared: read the figures with it) and the table.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from circuits.phsic.trainer import PHSICTrainer  # noqa: E402
from circuits.phsic.params import PHSICParams  # noqa: E402
from neuromorph.data import load_dataset  # noqa: E402

CONFIGS = {
    "gauss grp+div": dict(kernel="gaussian", mode="divnorm", lr_final=5e-3),
    "cos grp+div": dict(kernel="cosine", mode="divnorm", lr_final=5e-4),
    "gauss plain": dict(kernel="gaussian", mode="plain", lr_local=0.5, lr_final=5e-4),
    "gauss grp+div (autograd)": dict(kernel="gaussian", mode="divnorm", lr_final=5e-3, gradient="autograd"),
    "last": dict(rule="last", mode="plain", lr_local=0.0, lr_final=5e-2),
}


def atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--batches", type=int, default=20)
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--configs", nargs="+", default=list(CONFIGS), choices=list(CONFIGS))
    ap.add_argument("--full-epoch", action="store_true")
    ap.add_argument("--out", default=str(ROOT / "experiments/phsic/results/bench_phsic.json"))
    args = ap.parse_args(argv)

    data = load_dataset("fashion_mnist", scale="symmetric")
    n_epoch = len(data.y_train)
    rows = []
    for threads in args.threads:
        torch.set_num_threads(threads)
        for name in args.configs:
            P = PHSICParams(**CONFIGS[name])
            tr = PHSICTrainer(P, data.n_features, data.n_classes, seed=0)
            batches_per_epoch = math.ceil(n_epoch / P.batch)
            n = batches_per_epoch if args.full_epoch else min(args.batches, batches_per_epoch)
            tr.train_epoch(data.x_train[:P.batch], data.y_train[:P.batch], 0)  # warm-up
            load = os.getloadavg()[0]
            t0 = time.perf_counter()
            tr.train_epoch(data.x_train[:n * P.batch], data.y_train[:n * P.batch], 1)
            dt = time.perf_counter() - t0
            t1 = time.perf_counter()
            tr.predict(data.x_test)
            t_eval = time.perf_counter() - t1
            row = {"config": name, "threads": threads, "batches_timed": n, "s_per_batch": dt / n,
                   "s_per_epoch": dt / n * batches_per_epoch, "eval_test_s": t_eval, "load1_before": load}
            rows.append(row)
            print(f"{name:28s} threads={threads}: {row['s_per_epoch']:.1f} s/epoch "
                  f"({row['s_per_batch'] * 1e3:.0f} ms/batch), eval {t_eval:.1f} s, load {load:.1f}", flush=True)
    result = {
        "command": " ".join([sys.executable, *sys.argv]),
        "machine": {"host": platform.node(), "cpu": platform.processor() or platform.machine(),
                    "cores": os.cpu_count()},
        "versions": {"torch": torch.__version__, "numpy": np.__version__, "python": platform.python_version()},
        "setup": "3x1024 MLP, batch 256, float32, FMNIST 60000 train / 10000 test",
        "rows": rows,
        "time": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(out, json.dumps(result, indent=1).encode())
    print()
    print("| config | threads | s/epoch (train) | ms/batch | eval 10k (s) | load avg |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['config']} | {r['threads']} | {r['s_per_epoch']:.1f} | {r['s_per_batch'] * 1e3:.0f} | "
              f"{r['eval_test_s']:.2f} | {r['load1_before']:.1f} |")
    print(f"\nwritten {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
