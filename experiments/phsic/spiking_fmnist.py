"""pHSIC spiking twin on Fashion-MNIST test samples, with the weights of a trained batch-form network.

Reads a results folder of `neuromorph run` / `neuromorph sweep` (through ``neuromorph.runner.load_run``: the
manifest, its config digest and the data-only checkpoint; nothing is unpickled), runs the rate model and the
spiking twin (circuits/phsic/spiking.py; Brian2 cpp_standalone) on the first N test samples and writes, per
simulated time per sample: spiking accuracy, rate accuracy, agreement, per-layer rate error, readout error,
spikes and SynOps per inference (JSON + markdown table, both atomic).

    neuromorph run experiments/phsic/fmnist_gauss_divnorm.toml --out results/fmnist_gauss_divnorm-seed0
    python experiments/phsic/spiking_fmnist.py results/fmnist_gauss_divnorm-seed0 --samples 200 \
        --t-samples 0.05 0.1 0.2 0.3 --out experiments/phsic/results/spiking_fmnist.json

What `neuromorph compare --run RUN_DIR` does not (hence this script): the rate scales λ_k (Hz per unit of
activity = r_max/λ_k) are the 99.9 % quantiles of |h^k| on the first ``--calibration`` *training* samples, so
the test samples only ever pass through the network (compare calibrates on the samples it tests); the regular
encoder starts each trial at phase ``--phase0``; and by default every duration is read off one run at the
longest (``compare_rate_spiking(prefix=True)``: a trial's first t seconds are exactly a run of t seconds for
regular spikes) so that cpp_standalone compiles once; ``--separate`` builds and runs each duration on its own.
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

warnings.filterwarnings("ignore")  # Brian2's TimedArray-grid and compiler notices would drown the table

RANGES = {"symmetric": (-1.0, 1.0), "unit": (0.0, 1.0)}


def main(argv=None) -> int:
    from circuits.phsic.spiking import activity_scales
    from neuromorph.compare import compare_rate_spiking
    from neuromorph.data import load_dataset
    from neuromorph.io import atomic_write_text
    from neuromorph.runner import load_run
    from neuromorph.spiking import make_encoder

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run", help="results folder of `neuromorph run`/`sweep` with a pHSIC config (manifest.json, checkpoint.npz)")
    ap.add_argument("--samples", type=int, default=200, help="first N Fashion-MNIST test samples")
    ap.add_argument("--t-samples", type=float, nargs="+", default=[0.05, 0.1, 0.2, 0.3], help="seconds per sample")
    ap.add_argument("--encoding", default="regular", choices=["regular", "poisson", "lif"])
    ap.add_argument("--phase0", type=float, default=0.5,
                    help="regular spikes: phase at each trial start (0.5: half-threshold, half the first-spike latency)")
    ap.add_argument("--r-max", type=float, default=200.0, help="Hz at normalised rate 1 (input pixel at full intensity)")
    ap.add_argument("--tau-syn", type=float, default=0.01, help="synaptic trace time constant (s)")
    ap.add_argument("--readout-fraction", type=float, default=0.5, help="readout = mean o over this last fraction")
    ap.add_argument("--calibration", type=int, default=2000, help="training samples for the rate scales")
    ap.add_argument("--scale-quantile", type=float, default=0.999)
    ap.add_argument("--backend", default="cpp", choices=["numpy", "cython", "cpp"])
    ap.add_argument("--separate", action="store_true", help="one build and run per duration instead of one run")
    ap.add_argument("--out", required=True, help="JSON file (the markdown table goes beside it, .md)")
    args = ap.parse_args(argv)
    t_start = time.perf_counter()

    run_dir = Path(args.run).resolve()
    shown = run_dir.relative_to(ROOT) if run_dir.is_relative_to(ROOT) else run_dir  # repository-relative in the results
    config, circuit, trainer = load_run(run_dir)  # checks manifest, config digest and the data-only checkpoint
    if circuit.name != "phsic":
        raise SystemExit(f"error: {shown} is a run of circuit {circuit.name!r}; give a results folder of a pHSIC config")
    if config.train.dataset != "fashion_mnist":
        raise SystemExit(f"error: {shown} was trained on {config.train.dataset!r}; this script tests Fashion-MNIST runs")
    p = circuit.params
    weights = trainer.weights()  # (n_pre, n_post), as the circuit expects
    circuit.check_weights(weights)
    scale = config.train.scale  # inputs must be scaled as in training
    if scale not in RANGES:
        raise SystemExit(f"error: data scale {scale!r} of {shown}: the spiking input code knows {sorted(RANGES)}")
    data = load_dataset("fashion_mnist", scale=scale, root=config.train.data_root or None)
    x, y = data.x_test[: args.samples], data.y_test[: args.samples]
    scales = activity_scales(circuit, weights, data.x_train[: args.calibration], args.scale_quantile)
    options = {"phase0": args.phase0} if args.encoding == "regular" else {}
    encoder = make_encoder(args.encoding, r_max=args.r_max, **options)

    print(f"{shown}: {p.mode}, sizes {list(p.sizes)}, {trainer.epochs_done} epochs; {len(y)} test samples; "
          f"rate scales {[round(s, 3) for s in scales]}", flush=True)
    report = compare_rate_spiking(
        circuit, weights, x, y, t_samples=tuple(args.t_samples), encoding=encoder, target=args.backend,
        r_max=args.r_max, tau_syn=args.tau_syn, seed=0, readout_fraction=args.readout_fraction,
        prefix=not args.separate, progress=lambda m: print(m, flush=True),
        build_options={"rate_scales": scales, "input_range": RANGES[scale]},
    )
    wall = time.perf_counter() - t_start
    trainer_acc = float(np.mean(trainer.predict(x) == y))  # the trainer's own float32 forward, as a cross-check
    report.meta.update({
        "run": str(shown),
        "config_digest": config.digest(),
        "epochs_trained": trainer.epochs_done,
        "data_scale": scale,
        "calibration_samples": args.calibration,
        "scale_quantile": args.scale_quantile,
        "rate_scales": list(scales),
        "trainer_predict_accuracy": trainer_acc,
        "rate_network_synapses": int(sum(np.asarray(w).size for k, w in weights.items() if k != "b_out")),
        "wall_s": wall,
        "host": platform.node(),
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
    })
    out = Path(args.out)
    report.write_json(out)
    table = report.table()
    atomic_write_text(
        out.with_suffix(".md"),
        f"run: `{shown}` ({trainer.epochs_done} epochs, {p.mode}, config {config.digest()}); rate scales λ = "
        f"{', '.join(f'{s:.3f}' for s in scales)} (q {args.scale_quantile} of |h| on {args.calibration} training "
        f"samples); trainer's own predict on these samples: {trainer_acc:.3f}\n\n{table}\n\n"
        f"wall: {wall:.0f} s; command: `{report.meta['command']}`\n",
    )
    print(table)
    print(f"wall {wall:.0f} s; wrote {out} and {out.with_suffix('.md')}")
    return 0


if __name__ == "__main__":
    from neuromorph.errors import NeuromorphError

    try:
        raise SystemExit(main())
    except NeuromorphError as exc:  # a missing/corrupt results folder, a bad option: one line, not a traceback
        raise SystemExit(f"error: {exc}") from None
