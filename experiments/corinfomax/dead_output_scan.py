"""How often does a CorInfoMax FMNIST run start with a dead output unit?

    python experiments/corinfomax/dead_output_scan.py --seeds 0 1 2 3 4 5 6 7 8 9

Trains one epoch of experiments/corinfomax/fmnist_dense.toml per seed with the fast trainer and lists the output
units whose free-phase rate is 0 on more than 99 % of the first 2,000 test images. Why: a dead output unit gets
no learning signal (its rate is 0 in the free and the nudged phase, so both contrast terms vanish), every image
of its class then goes to the lowest-index unit by the argmax tie rule, and the run sits near 79 % until (if
ever) the unit revives. Writes JSON atomically (default experiments/corinfomax/results/dead_output_scan.json).
"""

from __future__ import annotations

import argparse
import sys
import time
import tomllib
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from circuits.corinfomax.trainer import CorInfoMaxTrainer  # noqa: E402
from circuits.corinfomax.params import CorInfoMaxParams  # noqa: E402
from neuromorph.circuit import make_params  # noqa: E402
from neuromorph.data import load_dataset  # noqa: E402
from neuromorph.io import atomic_write_json  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", type=Path, default=ROOT / "experiments/corinfomax/fmnist_dense.toml")
    ap.add_argument("--seeds", type=int, nargs="+", default=list(range(10)))
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--test-samples", type=int, default=2000)
    ap.add_argument("--out", type=Path, default=ROOT / "experiments/corinfomax/results/dead_output_scan.json")
    args = ap.parse_args(argv)

    raw = tomllib.loads(args.config.read_text())
    params = make_params(CorInfoMaxParams, raw.get("params", {}), where=f"[params] of {args.config}")
    data = load_dataset(raw.get("train", {}).get("dataset", "fashion_mnist"))
    xt, yt = data.x_test[: args.test_samples], data.y_test[: args.test_samples]
    rows = []
    for seed in args.seeds:
        t0 = time.perf_counter()
        tr = CorInfoMaxTrainer(params, seed, threads=args.threads)
        tr.train_epoch(data.x_train, data.y_train, 0)
        out = tr.free_rates(xt)[-1]
        tr.close()
        silent = (out <= 0).mean(axis=0)
        row = {
            "seed": seed,
            "test_acc_after_epoch_1": float((out.argmax(axis=1) == yt).mean()),
            "dead_output_units": [int(j) for j in np.where(silent > 0.99)[0]],
            "fraction_silent_per_unit": [round(float(v), 4) for v in silent],
            "seconds": time.perf_counter() - t0,
            "kernel": tr.kernel,
        }
        rows.append(row)
        print(f"seed {seed}: test {row['test_acc_after_epoch_1']:.4f}, dead output units {row['dead_output_units']}",
              flush=True)
    n_dead = sum(bool(r["dead_output_units"]) for r in rows)
    atomic_write_json(args.out, {"command": " ".join([Path(sys.executable).name, *sys.argv]), "config": str(args.config),
                                 "rows": rows, "seeds_with_a_dead_unit": n_dead, "seeds": len(rows)})
    print(f"{n_dead} of {len(rows)} seeds start epoch 2 with a dead output unit; wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
