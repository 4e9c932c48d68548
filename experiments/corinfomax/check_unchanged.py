"""Bit-identity of the CorInfoMax fast trainer and spiking twin against the code at a git commit.

The package at ``--commit`` (default 73f9c1f, before the issue-9 file split) is written from ``git show`` into
a temporary directory as the package ``old_corinfomax``; each configuration is trained for two epochs on a
seeded synthetic data set by the old code and by the working tree's, each in its own process (both compile a
C++ kernel registering the same torch op), and the final weights, the predictions and the spiking twin's spike
counts and predictions are compared for exact equality.

    PYTHONPATH=$PWD python experiments/corinfomax/check_unchanged.py [--commit 73f9c1f] [--quick]
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path

warnings.filterwarnings("ignore")
FILES = ("__init__.py", "circuit.py", "fast.py", "params.py", "sweeps.cpp")


def _data(n_in: int, n_cls: int, n: int = 200):
    import numpy as np

    rng = np.random.default_rng(7)
    centres = rng.uniform(0, 1, size=(n_cls, n_in))
    y = rng.integers(0, n_cls, size=n)
    x = np.clip(centres[y] + 0.25 * rng.standard_normal((n, n_in)), 0, 1)
    return x, y


def run_one(impl: str, cfg: dict, out: str) -> None:
    """Train with ``impl`` ("old": the package from the commit, "new": the working tree) and save results."""
    import numpy as np
    import torch

    if impl == "old":
        from old_corinfomax.fast import CorInfoMaxTrainer
        from old_corinfomax.params import CorInfoMaxParams
    else:
        from circuits.corinfomax.params import CorInfoMaxParams
        from circuits.corinfomax.trainer import CorInfoMaxTrainer
    sizes = tuple(cfg["sizes"])
    P = len(sizes) - 1
    p = CorInfoMaxParams(variant=cfg["variant"], lateral_update=cfg["lateral"], sizes=sizes,
                         lr_ff=(0.3, 0.22, 0.15)[:P], lr_fb=(0.07, 0.05)[: P - 1], lam=0.999, t_free=12, t_nudged=5)
    x, y = _data(sizes[0], sizes[-1])
    dtype = {"float64": torch.float64, "float32": torch.float32}[cfg["dtype"]]
    tr = CorInfoMaxTrainer(p, 3, dtype=dtype, threads=cfg["threads"], kernel=cfg["kernel"])
    for epoch in range(2):
        tr.train_epoch(x, y, epoch)
    res = {f"w_{k}": v for k, v in tr.weights().items()}
    st = tr.state_dict()
    res.update({f"do_{k}": v for k, v in st.get("DO", {}).items()})
    res["pred"] = tr.predict(x)
    res["kernel_used"] = np.array(tr.kernel)
    np.savez(out, **res)


def run_twin(impl: str, out: str) -> None:
    """The spiking twin of the small dense instance (numpy target), spike counts and predictions."""
    import numpy as np

    from neuromorph.brian.devices import activate
    from neuromorph.spiking import run_spiking

    if impl == "old":
        from old_corinfomax import CorInfoMax
    else:
        from circuits.corinfomax import CorInfoMax
    c = CorInfoMax.verification_instance(2)
    w = c.initial_weights(0)
    x = c.example_data(6, 1)["x"]
    activate("numpy")
    res = {}
    for enc in ("regular", "poisson"):
        sm = c.build_spiking_brian(w, x, encoding=enc, t_sample=0.3, r_max=400.0, tau_syn=0.02)
        r = run_spiking(sm, seed=0)
        res[f"{enc}_pred"] = np.asarray(r.predictions)
        for name, counts in r.counts_total.items():
            res[f"{enc}_counts_{name}"] = np.asarray(counts)
    res["rate_pred"] = c.predict_rate(w, x)
    np.savez(out, **res)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--commit", default="73f9c1f")
    ap.add_argument("--quick", action="store_true", help="fewer configurations (float64 only)")
    ap.add_argument("--worker", nargs=3, metavar=("IMPL", "CFG", "OUT"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:  # one process per implementation runs every configuration (torch starts once)
        impl, cfgs, outdir = args.worker
        for i, cfg in enumerate(json.loads(cfgs)):
            out = str(Path(outdir, f"{impl}_{i}.npz"))
            run_twin(impl, out) if cfg == "twin" else run_one(impl, cfg, out)
        return
    import numpy as np

    repo = Path(__file__).resolve().parents[2]
    with tempfile.TemporaryDirectory() as tmp:
        pkg = Path(tmp, "old", "old_corinfomax")
        pkg.mkdir(parents=True)
        for f in FILES:
            text = subprocess.run(["git", "show", f"{args.commit}:circuits/corinfomax/{f}"], cwd=repo, check=True,
                                  capture_output=True, text=True).stdout
            if f == "fast.py":  # its own extension name, so the old kernel never shadows the new one in the cache
                text = text.replace('"neuromorph_corinfomax_sweeps"', '"neuromorph_corinfomax_sweeps_old"')
            (pkg / f).write_text(text)
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(repo), str(Path(tmp, "old"))])}
        configs = []
        dtypes = ("float64",) if args.quick else ("float64", "float32")
        for variant, lateral, layers, dtype, threads, kernel in itertools.product(
                ("dense", "sparse"), ("B", "DO"), (2, 3), dtypes, (1, 2), ("cpp", "torchscript", "python")):
            if kernel != "cpp" and (threads == 2 or layers == 3 or dtype == "float32"):
                continue  # the other kernels once per variant / lateral form
            if layers == 3 and (threads == 1 or dtype == "float32"):
                continue  # 3 layers: the split layout in float64
            sizes = [64, 32, 10] if layers == 2 else [64, 32, 16, 10]
            configs.append({"variant": variant, "lateral": lateral, "sizes": sizes, "dtype": dtype, "threads": threads,
                            "kernel": kernel})
        jobs = configs + ["twin"]
        for impl in ("old", "new"):
            subprocess.run([sys.executable, __file__, "--worker", impl, json.dumps(jobs), tmp], env=env, check=True)
        n_same = 0
        failures = []
        for i, cfg in enumerate(jobs):
            a, b = np.load(Path(tmp, f"old_{i}.npz")), np.load(Path(tmp, f"new_{i}.npz"))
            keys = sorted(set(a.files) | set(b.files))
            diff = [k for k in keys if k not in a.files or k not in b.files or not np.array_equal(a[k], b[k])]
            label = "spiking twin (regular and poisson encodings)" if cfg == "twin" else \
                " ".join(f"{k}={v}" for k, v in cfg.items())
            if diff:
                failures.append((label, diff))
                print(f"DIFFERENT  {label}: {diff}", flush=True)
            else:
                n_same += 1
                used = f" (kernel used: {b['kernel_used']})" if "kernel_used" in b.files else ""
                print(f"identical  {label}: {len(keys)} arrays{used}", flush=True)
    print(f"{n_same} of {len(jobs)} configurations bit-identical to {args.commit}")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
