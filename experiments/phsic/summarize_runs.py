"""Table of finished (and running) train_phsic.py runs: final test accuracy per config, mean ± std over seeds.

    python experiments/phsic/summarize_runs.py experiments/phsic/results/*_e100_s*

Each argument is a run folder written by train_phsic.py (run.json + metrics.jsonl). Runs are grouped by their
config file; a run that has not reached its last epoch is listed with the epoch it reached and left out of the
mean. Writes the markdown table to stdout and, with --out, atomically to a file.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from neuromorph.io import atomic_write_text  # noqa: E402

# paper Table 1 (fMNIST, mean of 5 runs, 100 epochs), by config file stem
PAPER = {
    "fmnist_gauss_divnorm": "88.8",
    "fmnist_cos_divnorm": "88.1",
    "fmnist_last": "83.3",
    "fmnist_last_divnorm": "85.7",
}


def load_run(folder: Path) -> dict | None:
    info_path, metrics_path = folder / "run.json", folder / "metrics.jsonl"
    if not info_path.exists() or not metrics_path.exists():
        return None
    info = json.loads(info_path.read_text())
    rows = [json.loads(ln) for ln in metrics_path.read_text().splitlines() if ln.strip()]
    if not rows:
        return None
    last = rows[-1]
    return {
        "config": Path(info["config"]).stem,
        "seed": info["seed"],
        "epochs": info["epochs"],
        "reached": last["epoch"] + 1,
        "test": 100 * last["test_acc"],
        "train": 100 * last["train_acc"],
        "s_per_epoch": statistics.fmean(r["seconds"] for r in rows),
        "folder": str(folder),
    }


def table(runs: list[dict]) -> str:
    lines = [
        "| config | seeds (final test %) | complete runs | mean ± std (ddof 1) | paper (mean of 5) | mean train s/epoch |",
        "|---|---|---|---|---|---|",
    ]
    for cfg in sorted({r["config"] for r in runs}):
        rs = sorted((r for r in runs if r["config"] == cfg), key=lambda r: r["seed"])
        done = [r["test"] for r in rs if r["reached"] == r["epochs"]]
        per_seed = ", ".join(
            f"s{r['seed']}: {r['test']:.2f}" + ("" if r["reached"] == r["epochs"] else f" (epoch {r['reached']}/{r['epochs']})")
            for r in rs
        )
        if len(done) >= 2:
            agg = f"**{statistics.fmean(done):.2f} ± {statistics.stdev(done):.2f}**"
        elif done:
            agg = f"{done[0]:.2f} (one seed)"
        else:
            agg = "–"
        s_ep = statistics.fmean(r["s_per_epoch"] for r in rs)
        lines.append(f"| {cfg} | {per_seed} | {len(done)} | {agg} | {PAPER.get(cfg, '–')} | {s_ep:.0f} |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("runs", nargs="+", type=Path, help="run folders written by train_phsic.py")
    ap.add_argument("--out", type=Path, default=None, help="also write the table here (markdown)")
    args = ap.parse_args(argv)
    runs = [r for r in (load_run(f) for f in args.runs) if r is not None]
    if not runs:
        raise SystemExit("no run folder with run.json and metrics.jsonl among the arguments")
    text = table(runs)
    print(text, end="")
    if args.out:
        atomic_write_text(args.out, text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
