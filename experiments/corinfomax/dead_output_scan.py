"""Which CorInfoMax runs have a dead output unit? Scans results folders of `neuromorph run` / `neuromorph sweep`.

    neuromorph sweep experiments/corinfomax/fmnist_dense.toml --seeds 0-9 --set train.epochs=1 \
        --out-root results/dead_scan
    python experiments/corinfomax/dead_output_scan.py results/dead_scan \
        --out experiments/corinfomax/results/dead_output_scan.json

Each RUN argument is a results folder or a folder holding them (a sweep's --out-root). Every run is read
through ``neuromorph.runner.load_run`` (manifest, config digest, data-only checkpoint; nothing is unpickled),
in whatever epoch it reached, and the output units whose free-phase rate is 0 on more than ``--silent``
(default 99 %) of the first ``--test-samples`` test images are listed. Why it matters: a dead output unit gets
no learning signal (its rate is 0 in the free and the nudged phase, so both contrast terms vanish), every
image of its class then goes to the lowest-index unit by the argmax tie rule, and the run sits near 79 % until
(if ever) the unit revives. The same scan on the final folders of a 50-epoch sweep counts the seeds that stayed
stuck. Writes JSON atomically.

``--md PATH`` also writes a markdown table: one row per setting (config digest: e.g. the faithful default
and ``params.revive_silent_output``), with the seeds that have a dead output unit and the test accuracy with
and without them; ``--authors JSON`` (written by ``authors_code.py --out``) adds the authors' code as a row.

    python experiments/corinfomax/dead_output_scan.py /tmp/dead_ours /tmp/dead_revive \
        --authors experiments/corinfomax/results/dead_output_authors.json \
        --out experiments/corinfomax/results/dead_output_units.json --md experiments/corinfomax/results/dead_output_units.md
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def scan_run(run_dir: Path, test_samples: int, silent_above: float) -> dict:
    """The dead output units of one results folder (see the module docstring)."""
    from neuromorph.data import load_dataset
    from neuromorph.errors import ConfigError
    from neuromorph.io import read_json
    from neuromorph.runner import load_run

    config, circuit, trainer = load_run(run_dir)
    if circuit.name not in ("corinfomax", "corinfomax-sparse"):
        raise ConfigError(f"{run_dir} is a run of circuit {circuit.name!r}; give results folders of CorInfoMax configs")
    tc = config.train
    data = load_dataset(tc.dataset, root=tc.data_root or None, seed=config.seed, scale=tc.scale)
    x, y = data.x_test[:test_samples], data.y_test[:test_samples]
    t0 = time.perf_counter()
    out = trainer.free_rates(x)[-1]
    trainer.close()
    silent = (out <= 0).mean(axis=0)  # per output unit: fraction of images on which its free-phase rate is 0
    manifest = read_json(run_dir / "manifest.json")
    # The run's own last evaluation (the whole test set, as `neuromorph summarize` reads it): the protocol's figure.
    from neuromorph.summarize import load_run_record

    record = load_run_record(run_dir)
    last = record.rows[-1:] or [{}]
    remedy = config.params.get("revive_silent_output")
    return {
        "run": run_dir.name,
        "seed": config.seed,
        "config_digest": config.digest(),
        "status": manifest.get("status"),
        "epochs_trained": trainer.epochs_done,
        "test_acc": float((out.argmax(axis=1) == y).mean()),
        "final_test_acc": last[0].get("test_acc"),
        "dead_output_units": [int(j) for j in np.where(silent > silent_above)[0]],
        "fraction_silent_per_unit": [round(float(v), 4) for v in silent],
        "trainer_options": manifest.get("backend", {}).get("trainer_options"),
        # what sets this run apart: the remedy's setting (0 = the faithful default)
        "setting": f"{record.label}: " + (f"ours, revive_silent_output = {remedy}" if remedy
                                          else "ours, faithful (default)"),
        "scan_seconds": time.perf_counter() - t0,
    }


def main(argv=None) -> int:
    from neuromorph.io import atomic_write_json
    from neuromorph.summarize import find_runs

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("runs", nargs="+", type=Path, help="results folders, or folders holding them (a sweep's --out-root)")
    ap.add_argument("--test-samples", type=int, default=2000, help="first N test images (default 2000)")
    ap.add_argument("--silent", type=float, default=0.99, help="dead: rate 0 on more than this fraction (default 0.99)")
    ap.add_argument("--out", type=Path, required=True, help="JSON file to write")
    ap.add_argument("--md", type=Path, default=None, help="also write a markdown table (module docstring)")
    ap.add_argument("--authors", type=Path, default=None, help="JSON of authors_code.py --out: a row for the authors' code")
    args = ap.parse_args(argv)
    if args.test_samples < 1 or not 0.0 < args.silent < 1.0:
        raise SystemExit("error: --test-samples must be >= 1 and --silent lie in (0, 1)")

    rows = []
    for run_dir in find_runs(args.runs):
        row = scan_run(run_dir, args.test_samples, args.silent)
        rows.append(row)
        print(f"{row['run']}: {row['epochs_trained']} epochs, test {row['test_acc']:.4f} on {args.test_samples}, "
              f"dead output units {row['dead_output_units']}", flush=True)
    rows.sort(key=lambda r: (r["config_digest"], r["seed"]))
    n_dead = sum(bool(r["dead_output_units"]) for r in rows)
    atomic_write_json(args.out, {
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "test_samples": args.test_samples, "silent_above": args.silent,
        "rows": rows, "runs_with_a_dead_unit": n_dead, "runs": len(rows),
    })
    print(f"{n_dead} of {len(rows)} runs have a dead output unit; wrote {args.out}")
    if args.md is not None:
        from neuromorph.io import atomic_write_text, read_json

        text = markdown_table(rows, read_json(args.authors) if args.authors else None, args.test_samples)
        atomic_write_text(args.md, text)
        print(text)
    return 0


def _pct(values, std: bool = False) -> str:
    """Mean (± std, ddof 1) in %, or "-" when a value is missing (the authors' rows have no run metrics)."""
    if not values or any(v is None for v in values):
        return "-"
    v = 100 * np.asarray(values, dtype=float)
    if std and len(v) > 1:
        return f"{v.mean():.2f} ± {v.std(ddof=1):.2f}"
    return f"{v.mean():.2f}"


def markdown_table(rows: list[dict], authors: dict | None, test_samples: int) -> str:
    """Seeds with a dead output unit per setting, and the mean test accuracy with and without them."""
    def line(name, group):
        dead = [r for r in group if r["dead_output_units"]]
        acc = [r["test_acc"] for r in group]
        alive = [r["test_acc"] for r in group if not r["dead_output_units"]]
        epochs = sorted({r["epochs_trained"] for r in group})
        seeds_dead = ", ".join(f"{r['seed']} (unit {'/'.join(map(str, r['dead_output_units']))})" for r in dead) or "-"
        final = [r.get("final_test_acc") for r in group]
        final_alive = [r.get("final_test_acc") for r in group if not r["dead_output_units"]]
        return (f"| {name} | {'/'.join(map(str, epochs))} | {len(group)} | **{len(dead)}** | {seeds_dead} | "
                f"{_pct(acc)} | {_pct(alive)} | {_pct(final, std=True)} | {_pct(final_alive, std=True)} |")

    out = [f"Dead output units (free-phase rate 0 on > 99 % of the first {test_samples} test images) and test accuracy "
           f"on those images.", "",
           "| code / setting | epochs | seeds | seeds with a dead unit | which (seed: unit) | mean test acc % | "
           "without those seeds % | final test acc % (whole test set, the run's own; mean ± std) | without those seeds % |",
           "|---|---|---|---|---|---|---|---|---|"]
    groups: dict[str, list] = {}
    for r in rows:
        groups.setdefault(r["setting"], []).append(r)
    for name, group in groups.items():
        out.append(line(name, group))
    if authors is not None:
        out.append(line("authors' code (their torch random streams)", authors["rows"]))
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    from neuromorph.errors import NeuromorphError

    try:
        raise SystemExit(main())
    except NeuromorphError as exc:  # a missing/corrupt results folder, a run of another circuit: one line
        raise SystemExit(f"error: {exc}") from None
