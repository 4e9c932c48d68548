"""§5.1 of Amit (2019/2021): the 40-100-100-10 linear network, BP and ε ∈ {0, .25, .5, 1}, 3 runs (Fig. 12).

    PYTHONPATH=$PWD python experiments/urfb/linear_theory.py            # ~1 min on one core

Writes experiments/urfb/results/linear_theory.json (the curves: log10 error per iteration, W–Rᵀ
correlation per layer every 10 iterations) and linear_theory.png (a figure laid out like Fig. 12: top row
log-error per run, then one row per layer, top layer first), and prints the checks of the paper's claims:

* convergence is faster for larger ε (iterations to reach error 1e-8, per run);
* the top layer's corr(W, Rᵀ) ends ≈ 1 for every ε; the deeper layers only approach it for ε > 0.

Choices the paper leaves open (step size, scale of T and R(0)) are documented in circuits/urfb/linear.py.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from circuits.urfb.linear import simulate_linear  # noqa: E402
from neuromorph.io import atomic_write_text  # noqa: E402

EPS = (0.0, 0.25, 0.5, 1.0)
COLORS = {"BP": "k", 0.0: "tab:green", 0.25: "tab:orange", 0.5: "tab:blue", 1.0: "tab:red"}


def iterations_to(err: np.ndarray, level: float) -> int | None:
    below = np.nonzero(err < level)[0]
    return int(below[0]) if below.size else None


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--iters", type=int, default=1000)
    ap.add_argument("--dt", type=float, default=0.25)
    ap.add_argument("--r-sd", type=float, default=0.1)
    ap.add_argument("--w-sd", type=float, default=0.3)
    ap.add_argument("--level", type=float, default=1e-8, help="error level for the convergence-speed check")
    ap.add_argument("--out", default=str(ROOT / "experiments" / "urfb" / "results" / "linear_theory"))
    args = ap.parse_args(argv)
    if args.runs < 1 or args.iters < 10 or args.dt <= 0:
        print("error: --runs ≥ 1, --iters ≥ 10 and --dt > 0 are required", file=sys.stderr)
        return 2

    common = dict(iters=args.iters, dt=args.dt, r_sd=args.r_sd, w_sd=args.w_sd)
    result = {"settings": {**common, "sizes": [40, 100, 100, 10], "eps": list(EPS), "runs": args.runs,
                           "record_every": 10, "level": args.level}, "runs": []}
    checks = {"faster_with_eps": [], "top_corr_final": [], "deeper_corr_final": []}
    for run in range(args.runs):
        entry = {"seed": run, "BP": {}, "eps": {}}
        bp = simulate_linear(eps=None, seed=run, **common)
        entry["BP"] = {"log10_error": np.log10(bp["error"] + 1e-300).tolist(),
                       "iters_to_level": iterations_to(bp["error"], args.level)}
        reach = {}
        for e in EPS:
            r = simulate_linear(eps=e, seed=run, **common)
            reach[e] = iterations_to(r["error"], args.level)
            entry["eps"][str(e)] = {
                "log10_error": np.log10(r["error"] + 1e-300).tolist(),
                "corr": {str(l): v for l, v in r["corr"].items()},
                "iters_to_level": reach[e],
                "final_corr": {str(l): v[-1] for l, v in r["corr"].items()},
            }
        order = [reach[e] if reach[e] is not None else np.inf for e in EPS]
        checks["faster_with_eps"].append(bool(all(a >= b for a, b in zip(order, order[1:]))))
        checks["top_corr_final"].append({str(e): entry["eps"][str(e)]["final_corr"]["3"] for e in EPS})
        checks["deeper_corr_final"].append(
            {str(e): {l: entry["eps"][str(e)]["final_corr"][l] for l in ("1", "2")} for e in EPS})
        result["runs"].append(entry)
        print(f"run {run}: iterations to error < {args.level:g}: BP {entry['BP']['iters_to_level']}, "
              + ", ".join(f"ε={e}: {reach[e]}" for e in EPS))
        print("        final corr(W_l, R_lᵀ) layers 3/2/1: "
              + "; ".join(f"ε={e}: " + "/".join(f"{entry['eps'][str(e)]['final_corr'][l]:.3f}" for l in ("3", "2", "1"))
                          for e in EPS))
    result["checks"] = checks
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out.with_suffix(".json"), json.dumps(result))
    print(f"larger ε converges faster in {sum(checks['faster_with_eps'])}/{args.runs} runs")
    print(f"wrote {out.with_suffix('.json')}")
    _plot(result, out.with_suffix(".png"))
    print(f"wrote {out.with_suffix('.png')}")
    return 0


def _plot(result, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = result["runs"]
    every = result["settings"]["record_every"]
    fig, axes = plt.subplots(4, len(runs), figsize=(4 * len(runs), 11), squeeze=False, sharex=True)
    for j, entry in enumerate(runs):
        ax = axes[0, j]
        ax.plot(entry["BP"]["log10_error"], color=COLORS["BP"], label="BP")
        for e in EPS:
            ax.plot(entry["eps"][str(e)]["log10_error"], color=COLORS[e], label=f"ε={e}")
        ax.set_title(f"run {j + 1}: log10 error")
        if j == 0:
            ax.legend(fontsize=8)
        for row, layer in enumerate(("3", "2", "1"), start=1):
            ax = axes[row, j]
            for e in EPS:
                c = entry["eps"][str(e)]["corr"][layer]
                ax.plot(np.arange(len(c)) * every, c, color=COLORS[e])
            ax.set_ylim(-0.1, 1.05)
            ax.set_title(f"corr(W{layer}, R{layer}ᵀ)")
    for ax in axes[-1]:
        ax.set_xlabel("iteration")
    fig.tight_layout()
    tmp = path.with_name(path.name + ".tmp.png")
    fig.savefig(tmp, dpi=90)
    plt.close(fig)
    tmp.replace(path)


if __name__ == "__main__":
    sys.exit(main())
