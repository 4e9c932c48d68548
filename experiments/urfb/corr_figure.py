"""corr(W_l, R_lᵀ) per layer over epochs, mean ± 1 std over seeds, URFB vs FRFB (the paper's Figs. 10-11).

    PYTHONPATH=$PWD python experiments/urfb/corr_figure.py results/urfb-sweeps --out experiments/urfb/results/corr

reads run folders (or folders holding them, e.g. the ``--out-root`` of ``neuromorph sweep CFG --seeds 0-2``),
one per method x architecture x seed, and writes ``corr.png`` (one panel per architecture: one colour per
layer, URFB solid, FRFB dashed, other ε-mixtures dotted, band ±1 std over seeds) and ``corr.json`` (per
architecture, method and layer: the mean, std and n per epoch, and each seed's curve).

The trainer logs ``corr_W{l}_R{l}`` (l = 2..L, the layers with a feedback matrix) into metrics.jsonl after every
epoch; nothing else is read (manifest.json for the config, metrics.jsonl; no pickles). Runs are grouped by
(data set, architecture, method); runs that differ in anything else but the seed (e.g. lr) are refused, so a
band never mixes configurations. Which runs count: those with status "complete", and — unless
``--complete-only`` — those that logged every configured epoch but ended otherwise (e.g. "failed" in a step
after training; they are listed with their status in the JSON and on stderr).
"""

from __future__ import annotations

import argparse
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

CORR = re.compile(r"^corr_W(\d+)_R(\d+)$")
METHOD_ORDER = ("bp", "bp_hinge", "urfb", "frfb")


@dataclass
class Run:
    path: Path
    seed: int
    status: str
    dataset: str
    arch: str  # e.g. "mlp1 (784-500-10)", "simpnet"
    method: str  # "urfb", "frfb", "urfb ε=0.5", "bp", "bp_hinge" (+ " 50 %" with pruning)
    group: str  # config digest without seed and name
    epochs_configured: int
    rows: list[dict] = field(default_factory=list)


def _arch_label(params: dict) -> str:
    if params.get("arch", "mlp") == "simpnet":
        return "simpnet"
    sizes = list(params.get("sizes", (784, 500, 10)))
    return f"mlp{len(sizes) - 2} ({'-'.join(str(n) for n in sizes)})"


def _method_label(params: dict) -> str:
    m = params.get("method", "urfb")
    eps = float(params.get("eps", 1.0))
    label = f"urfb ε={eps:g}" if m == "urfb" and eps != 1.0 else m
    conn = float(params.get("connectivity", 1.0))
    return label + (f" {100 * conn:g} %" if conn < 1 else "")


def load_runs(paths, *, complete_only: bool = False, log=lambda msg: print(msg, file=sys.stderr)) -> list[Run]:
    """The urfb runs under ``paths`` that count (see the module docstring); the others are logged and skipped."""
    from neuromorph.config import config_from_dict
    from neuromorph.errors import ConfigError
    from neuromorph.summarize import find_runs, load_run_record

    out = []
    for folder in find_runs(paths):
        rec = load_run_record(folder)
        cfg = config_from_dict(rec.config)
        if cfg.circuit != "urfb" or cfg.train is None:
            log(f"skipped {folder}: not a urfb training run (circuit {cfg.circuit!r})")
            continue
        params = dict(cfg.params)
        full = len(rec.rows) >= cfg.train.epochs > 0
        if rec.status != "complete" and (complete_only or not full):
            log(f"skipped {folder}: status {rec.status!r} after {len(rec.rows)}/{cfg.train.epochs} epochs")
            continue
        if rec.status != "complete":
            log(f"counted {folder}: status {rec.status!r}, but all {cfg.train.epochs} epochs logged")
        # the row names the epoch count: tables and panels may hold architectures trained for different lengths
        arch = f"{_arch_label(params)}, {cfg.train.epochs} ep"
        out.append(Run(folder, cfg.seed, rec.status, cfg.train.dataset, arch, _method_label(params),
                       rec.group, cfg.train.epochs, rec.rows[: cfg.train.epochs]))
    groups: dict[tuple, set] = {}
    for r in out:
        groups.setdefault((r.dataset, r.arch, r.method), set()).add(r.group)
    for key, digests in groups.items():
        if len(digests) > 1:
            raise ConfigError(
                f"runs of {' / '.join(key)} come from {len(digests)} different configurations (they differ in more "
                "than the seed); give the folders of one sweep per configuration"
            )
    if not out:
        raise ConfigError(f"no urfb training runs that count under {[str(p) for p in paths]}")
    return sorted(out, key=lambda r: (r.dataset, r.arch, _method_key(r.method), r.seed))


def _method_key(m: str):
    base = m.split()[0]
    return (METHOD_ORDER.index(base) if base in METHOD_ORDER else len(METHOD_ORDER), m)


def _band(curves: list[np.ndarray]) -> dict:
    n = min(len(c) for c in curves)
    a = np.stack([c[:n] for c in curves])
    return {
        "epochs": list(range(1, n + 1)),
        "mean": a.mean(axis=0).tolist(),
        "std": (a.std(axis=0, ddof=1) if len(curves) > 1 else np.full(n, np.nan)).tolist(),
        "n": len(curves),
        "seeds": [c[:n].tolist() for c in curves],
    }


def corr_curves(runs: list[Run]) -> dict:
    """{dataset/arch: {method: {layer: band}}} for every method that logs corr_W{l}_R{l}."""
    out: dict[str, dict] = {}
    for r in runs:
        keys = sorted({k for row in r.rows for k in row if CORR.match(k)}, key=lambda k: int(CORR.match(k).group(1)))
        if not keys:
            continue  # BP variants have no R
        panel = out.setdefault(f"{r.dataset} {r.arch}", {}).setdefault(r.method, {})
        for k in keys:
            panel.setdefault(f"layer{CORR.match(k).group(1)}", []).append(
                (r.seed, np.array([row.get(k, np.nan) for row in r.rows], dtype=float)))
    return {
        arch: {m: {layer: {**_band([c for _, c in sorted(v)]), "seed_ids": [s for s, _ in sorted(v)]}
                   for layer, v in sorted(layers.items(), key=lambda kv: int(kv[0][5:]))}
               for m, layers in sorted(methods.items(), key=lambda kv: _method_key(kv[0]))}
        for arch, methods in out.items()
    }


def plot_corr(curves: dict, path: Path) -> None:
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    from neuromorph.io import atomic_write_bytes

    n = len(curves)
    fig, axes = plt.subplots(1, n, figsize=(5.2 * n, 3.8), squeeze=False)
    styles = {"urfb": "-", "frfb": "--"}
    for ax, (arch, methods) in zip(axes[0], curves.items()):
        layers = sorted({layer for m in methods.values() for layer in m}, key=lambda s: int(s[5:]))
        colours = {layer: plt.cm.tab10(i % 10) for i, layer in enumerate(layers)}
        for method, per_layer in methods.items():
            ls = styles.get(method, ":")
            for layer, b in per_layer.items():
                ep, mean, std = np.array(b["epochs"]), np.array(b["mean"]), np.array(b["std"])
                ax.plot(ep, mean, ls, color=colours[layer], lw=1.8, label=f"{method} {layer} (n={b['n']})")
                if b["n"] > 1:
                    ax.fill_between(ep, mean - std, mean + std, color=colours[layer], alpha=0.15)
        ax.set_title(arch, fontsize=9)
        ax.set_xlabel("epoch")
        ax.set_ylabel(r"corr($W_l$, $R_l^T$)")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylim(-0.1, 1.0)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, ncol=2)
    fig.suptitle("alignment of feedback R with forward W: mean over seeds, band ±1 std (solid URFB, dashed FRFB)",
                 fontsize=9)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    atomic_write_bytes(path, buf.getvalue())


def main(argv=None) -> int:
    from neuromorph.errors import NeuromorphError
    from neuromorph.io import atomic_write_json

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dirs", nargs="+", help="run folders or folders holding them (sweep --out-root)")
    ap.add_argument("--out", default="experiments/urfb/results/corr", help="folder for corr.png and corr.json")
    ap.add_argument("--complete-only", action="store_true", help="only runs whose status is 'complete'")
    args = ap.parse_args(argv)
    try:
        runs = load_runs(args.dirs, complete_only=args.complete_only)
        curves = corr_curves(runs)
        if not curves:
            raise NeuromorphError("none of these runs logs corr_W{l}_R{l} (BP runs have no R): give urfb/frfb runs")
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        plot_corr(curves, out / "corr.png")
        atomic_write_json(out / "corr.json", {
            "runs": [{"path": str(r.path), "seed": r.seed, "status": r.status, "dataset": r.dataset, "arch": r.arch,
                      "method": r.method, "epochs": len(r.rows)} for r in runs],
            "curves": curves,
        })
        for arch, methods in curves.items():
            for m, per_layer in methods.items():
                finals = ", ".join(f"{layer} {b['mean'][-1]:.3f}" + (f" ± {b['std'][-1]:.3f}" if b["n"] > 1 else "")
                                   for layer, b in per_layer.items())
                print(f"{arch} {m}: final corr {finals} (n = {next(iter(per_layer.values()))['n']})")
        print(f"wrote {out / 'corr.png'} and {out / 'corr.json'}")
    except NeuromorphError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
