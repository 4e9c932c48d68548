"""Method x architecture table of final test accuracy, mean ± std (ddof 1) over seeds, from sweep folders.

    PYTHONPATH=$PWD python experiments/urfb/accuracy_table.py results/urfb-sweeps --out experiments/urfb/results/accuracy

Rows: data set and architecture; columns: bp, bp_hinge, urfb, frfb (and any ε-mixture or pruned variant found);
cells: final-epoch test accuracy in %, mean ± std over seeds, with n. Writes ``accuracy.md`` and
``accuracy.json`` (every seed's value and run folder). Which runs count and how they are grouped:
``corr_figure.py`` (same loader; runs of one cell must come from one configuration).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from corr_figure import ROOT, _method_key, load_runs  # noqa: E402

if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def accuracy_table(runs, metric: str = "test_acc") -> dict:
    """{"rows": [dataset arch], "methods": [...], "cells": {row: {method: {mean, std, n, values, seeds}}}}."""
    cells: dict[str, dict] = {}
    for r in runs:
        if not r.rows or metric not in r.rows[-1]:
            continue
        c = cells.setdefault(f"{r.dataset} {r.arch}", {}).setdefault(r.method, {"values": [], "seeds": [], "paths": []})
        c["values"].append(float(r.rows[-1][metric]))
        c["seeds"].append(r.seed)
        c["paths"].append(str(r.path))
    for row in cells.values():
        for c in row.values():
            a = np.asarray(c["values"])
            c.update(mean=float(a.mean()), std=float(a.std(ddof=1)) if len(a) > 1 else None, n=len(a))
    methods = sorted({m for row in cells.values() for m in row}, key=_method_key)
    return {"metric": metric, "rows": sorted(cells), "methods": methods, "cells": cells}


def markdown(t: dict) -> str:
    scale = 100 if t["metric"].endswith("acc") else 1
    unit = " (%)" if scale == 100 else ""
    lines = [f"final {t['metric']}{unit}, mean ± std over seeds (n)", "",
             "| data set, architecture | " + " | ".join(t["methods"]) + " |", "|---|" + "---|" * len(t["methods"])]
    for row in t["rows"]:
        cells = []
        for m in t["methods"]:
            c = t["cells"][row].get(m)
            if c is None:
                cells.append("")
            else:
                std = "" if c["std"] is None else f" ± {scale * c['std']:.2f}"
                cells.append(f"{scale * c['mean']:.2f}{std} ({c['n']})")
        lines.append(f"| {row} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv=None) -> int:
    from neuromorph.errors import NeuromorphError
    from neuromorph.io import atomic_write_json, atomic_write_text

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dirs", nargs="+", help="run folders or folders holding them (sweep --out-root)")
    ap.add_argument("--out", default="experiments/urfb/results/accuracy", help="folder for accuracy.md and .json")
    ap.add_argument("--metric", default="test_acc")
    ap.add_argument("--complete-only", action="store_true", help="only runs whose status is 'complete'")
    args = ap.parse_args(argv)
    try:
        runs = load_runs(args.dirs, complete_only=args.complete_only)
        t = accuracy_table(runs, args.metric)
        if not t["rows"]:
            raise NeuromorphError(f"no run logs {args.metric!r} in its last epoch")
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        text = markdown(t)
        atomic_write_text(out / "accuracy.md", text + "\n")
        atomic_write_json(out / "accuracy.json", t)
        print(text)
        print(f"wrote {out / 'accuracy.md'} and {out / 'accuracy.json'}")
    except NeuromorphError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
