"""Collect the KSM runs (results/ksm/<config>, written by run_all.sh) into experiments/ksm/results/: one JSON with
each run's final figures beside the paper's (Table 1), and per run the small files that let a table be audited
(manifest.json, metrics.jsonl, report.md, figures/*.png) in experiments/ksm/results/<config>/; never checkpoints
or weights.

    python experiments/ksm/collect.py [--runs results/ksm] [--out experiments/ksm/results]
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

from neuromorph.io import atomic_write_json


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", default="results/ksm")
    ap.add_argument("--out", default="experiments/ksm/results")
    args = ap.parse_args(argv)
    runs, out = Path(args.runs), Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    table = {}
    for m in sorted(runs.glob("*/manifest.json")):
        run = m.parent
        man = json.loads(m.read_text())
        rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines() if line.strip()]
        if man.get("status") != "complete" or not rows:  # a run still going (or stopped) is not a table row yet
            print(f"{run.name}: skipped ({man.get('status')}, {len(rows)} epochs)")
            continue
        last = rows[-1]
        cfg = man["config"]
        ksm = cfg.get("trainer", {}).get("ksm", {})
        table[run.name] = {
            "status": man["status"],
            "config": f"experiments/ksm/{run.name}.toml",
            "dataset": man["data"]["dataset"], "n_train": man["data"]["n_train"], "n_test": man["data"]["n_test"],
            "epochs": last["epoch"], "sweeps_per_epoch": ksm.get("sweeps", 1),
            "paper_epochs_equivalent": last["epoch"] * ksm.get("sweeps", 1),
            "schedule": ksm.get("schedule"), "init": ksm.get("init"),
            "final": {k: v for k, v in last.items() if k not in ("epoch",)},
            "paper": cfg.get("paper"),
            "train_s": man["timings"].get("train_s"), "total_s": man["timings"].get("total_s"),
            "git_commit": man.get("git_commit"),
        }
        dest = out / run.name
        (dest / "figures").mkdir(parents=True, exist_ok=True)
        for name in ("manifest.json", "metrics.jsonl", "report.md"):
            if (run / name).exists():
                shutil.copyfile(run / name, dest / name)
        for fig in sorted((run / "figures").glob("*.png")):
            shutil.copyfile(fig, dest / "figures" / fig.name)
    atomic_write_json(out / "ksm_results.json", table)
    for name, r in table.items():
        f = r["final"]
        print(f"{name}: test_r2 {f['test_r2']:.4f} fit_r2 {f.get('fit_r2', float('nan')):.4f} test_l0_mode {f.get('test_l0_mode')} "
              f"(paper {r['paper']['value'] if r['paper'] else '-'}) after {r['paper_epochs_equivalent']} sweeps, {r['train_s']:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
