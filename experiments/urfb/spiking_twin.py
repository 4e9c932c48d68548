"""URFB spiking twin vs rate model on a trained run: accuracy, agreement, spikes and SynOps per simulated time.

    PYTHONPATH=$PWD python experiments/urfb/spiking_twin.py --run RUN_DIR --samples 500 \\
        --t-samples 0.05 0.1 0.2 0.4 --variants onoff:spikes offset:spikes onoff:graded --out results/spiking_twin.json

One build per variant (code:readout, see circuits/urfb/spiking.py); every duration is read off the prefixes of
one run at the longest (``compare_rate_spiking(..., prefix=True)``: exact for the deterministic ``regular``
encoder). The test samples are the first ``--samples`` of the run's own test split, prepared as in training.
Writes one JSON (atomically) with every report and prints the tables.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def main(argv=None) -> int:
    import neuromorph
    from neuromorph.compare import compare_rate_spiking
    from neuromorph.data import load_dataset
    from neuromorph.errors import ConfigError, NeuromorphError
    from neuromorph.io import atomic_write_json
    from neuromorph.weights import read_run

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", required=True, help="a results folder of a urfb training run")
    ap.add_argument("--samples", type=int, default=200)
    ap.add_argument("--t-samples", type=float, nargs="+", default=[0.05, 0.1, 0.2, 0.4])
    ap.add_argument("--variants", nargs="+", default=["onoff:spikes", "offset:spikes", "onoff:graded"],
                    help="code:readout pairs (codes onoff|offset, readouts spikes|graded)")
    ap.add_argument("--encoding", default="regular")
    ap.add_argument("--backend", default="cpp")
    ap.add_argument("--r-max", type=float, default=200.0)
    ap.add_argument("--tau-syn", type=float, default=0.02)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="experiments/urfb/results/spiking_twin.json")
    args = ap.parse_args(argv)
    try:
        if args.samples < 1 or any(t <= 0 for t in args.t_samples):
            raise ConfigError("--samples must be >= 1 and --t-samples positive")
        variants = []
        for v in args.variants:
            code, _, readout = v.partition(":")
            if not readout:
                raise ConfigError(f"--variants: {v!r} is not code:readout (e.g. onoff:spikes)")
            variants.append((code, readout))
        neuromorph.register_circuit("urfb", "circuits.urfb:URFB")
        run = read_run(args.run)
        if run.circuit != "urfb":
            raise ConfigError(f"{args.run} trained circuit {run.circuit!r}, not urfb")
        circuit = neuromorph.get_circuit("urfb", **run.params)
        tr = run.train or {}
        data = load_dataset(tr.get("dataset"), root=tr.get("data_root") or None, n_test=args.samples, seed=run.seed,
                            scale=tr.get("scale", "unit"))
        x, y = data.x_test[: args.samples], data.y_test[: args.samples]
        reports = {}
        for code, readout in variants:
            rep = compare_rate_spiking(
                circuit, run.weights, x, y, t_samples=args.t_samples, encoding=args.encoding, target=args.backend,
                r_max=args.r_max, tau_syn=args.tau_syn, seed=args.seed, progress=True, prefix=True,
                build_options={"code": code, "readout": readout},
            )
            rep.meta["weights"] = f"trained weights of {args.run}"
            reports[f"{code}:{readout}"] = rep.to_dict()
            print(f"\n## {code} hidden code, {readout} readout\n")
            print(rep.table(explain=False))
            sys.stdout.flush()
        atomic_write_json(args.out, {"run": str(args.run), "dataset": data.name, "sizes": list(circuit.params.sizes),
                                     "reports": reports})
        print(f"wrote {args.out}")
    except NeuromorphError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
