"""BP, BP-hinge, URFB, FRFB on one data set: accuracy table (mean ± std over seeds) and corr(W_l, R_lᵀ) per
layer over epochs (the paper's Figs. 5–6 and 10–11), with the trainer the `neuromorph run` configs use.

    PYTHONPATH=$PWD python experiments/urfb/compare_methods.py --dataset digits --epochs 30 --batch 20
    PYTHONPATH=$PWD python experiments/urfb/compare_methods.py --dataset fashion_mnist --epochs 100   # hours

Architectures: ``mlp1`` (one hidden layer of --width units) and ``mlp4`` (four). Writes
experiments/urfb/results/compare_<dataset>.json and .png (per-layer correlations, URFB solid, FRFB dashed).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from circuits.urfb.params import METHODS, URFBParams  # noqa: E402
from circuits.urfb.trainer import URFBTrainer  # noqa: E402
from neuromorph.data import load_dataset  # noqa: E402
from neuromorph.errors import NeuromorphError  # noqa: E402
from neuromorph.io import atomic_write_text  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dataset", default="digits")
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--batch", type=int, default=500)
    ap.add_argument("--lr", type=float, default=0.1)
    ap.add_argument("--width", type=int, default=500)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--archs", nargs="+", default=["mlp1", "mlp4"], choices=["mlp1", "mlp4"])
    ap.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS))
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    try:
        data = load_dataset(args.dataset)
    except NeuromorphError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    n_in, n_cls = data.x_train.shape[1], int(data.y_train.max()) + 1
    out = Path(args.out or ROOT / "experiments" / "urfb" / "results" / f"compare_{args.dataset}")
    results = {"settings": vars(args), "runs": []}
    for arch in args.archs:
        hidden = (args.width,) * (1 if arch == "mlp1" else 4)
        for method in args.methods:
            for seed in args.seeds:
                p = URFBParams(sizes=(n_in, *hidden, n_cls), method=method, lr=args.lr, batch=args.batch)
                tr = URFBTrainer(p, seed)
                curve, corr = [], []
                t0 = time.perf_counter()
                for epoch in range(args.epochs):
                    tr.train_epoch(data.x_train, data.y_train, epoch)
                    curve.append(float((tr.predict(data.x_test) == data.y_test).mean()))
                    corr.append(tr.epoch_metrics())
                results["runs"].append({"arch": arch, "method": method, "seed": seed, "test_acc": curve,
                                        "corr": corr, "s_per_epoch": (time.perf_counter() - t0) / args.epochs})
                print(f"{arch} {method} seed {seed}: test {curve[-1]:.4f}"
                      + "".join(f" {k}={v:.2f}" for k, v in corr[-1].items()), flush=True)
    table = summarize(results)
    results["table"] = table
    atomic_write_text(out.with_suffix(".json"), json.dumps(results))
    print(render(table))
    plot(results, out.with_suffix(".png"))
    print(f"wrote {out.with_suffix('.json')} and {out.with_suffix('.png')}")
    return 0


def summarize(results) -> dict:
    table = {}
    for r in results["runs"]:
        table.setdefault(r["arch"], {}).setdefault(r["method"], []).append(r["test_acc"][-1])
    return {a: {m: [float(np.mean(v)), float(np.std(v)), len(v)] for m, v in d.items()} for a, d in table.items()}


def render(table) -> str:
    methods = list(dict.fromkeys(m for d in table.values() for m in d))
    rows = ["| arch | " + " | ".join(methods) + " |", "|---|" + "---|" * len(methods)]
    for a, d in table.items():
        rows.append(f"| {a} | " + " | ".join(f"{100 * d[m][0]:.2f} ± {100 * d[m][1]:.2f}" if m in d else "-" for m in methods) + " |")
    return "\n".join(rows)


def plot(results, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    archs = list(dict.fromkeys(r["arch"] for r in results["runs"]))
    fig, axes = plt.subplots(1, len(archs), figsize=(5 * len(archs), 4), squeeze=False)
    for ax, arch in zip(axes[0], archs):
        for r in results["runs"]:
            if r["arch"] != arch or r["method"] not in ("urfb", "frfb") or r["seed"] != results["runs"][0]["seed"]:
                continue
            keys = list(r["corr"][0])
            for i, k in enumerate(keys):
                ax.plot([c[k] for c in r["corr"]], color=plt.cm.viridis(i / max(1, len(keys) - 1)),
                        ls="-" if r["method"] == "urfb" else "--", label=f"{r['method']} {k[5:]}")
        ax.set_title(f"{arch}: corr(W_l, R_lᵀ) (URFB solid, FRFB dashed)")
        ax.set_xlabel("epoch")
        ax.legend(fontsize=7)
    fig.tight_layout()
    tmp = path.with_name(path.name + ".tmp.png")
    fig.savefig(tmp, dpi=90)
    plt.close(fig)
    tmp.replace(path)


if __name__ == "__main__":
    sys.exit(main())
