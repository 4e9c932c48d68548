"""CorInfoMax spiking twin on Fashion-MNIST test samples, with weights trained by the fast trainer.

Loads a checkpoint written by train_corinfomax.py, runs the rate model (free phase) and the spiking twin
(Brian2, cpp_standalone) on the first N test samples for each simulated time per sample, and writes the
comparison (accuracy, agreement, state error, spikes and SynOps per inference) as JSON + a markdown table.

    python experiments/corinfomax/spiking_fmnist.py experiments/corinfomax/results/fmnist_dense_seed10.ckpt.npz \
        --samples 200 --t-samples 0.1 0.3 --encoding regular --out experiments/corinfomax/results/spiking_fmnist.json
"""

import argparse
import time
import warnings

import numpy as np

warnings.filterwarnings("ignore")


def main():
    from neuromorph.circuit import get_circuit
    from neuromorph.compare import compare_rate_spiking
    from neuromorph.data import load_dataset
    from neuromorph.io import atomic_write_text

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("checkpoint")
    ap.add_argument("--samples", type=int, default=200)
    ap.add_argument("--t-samples", type=float, nargs="+", default=[0.1, 0.3])
    ap.add_argument("--encoding", default="regular")
    ap.add_argument("--r-max", type=float, default=200.0)
    ap.add_argument("--tau-syn", type=float, default=0.02)
    ap.add_argument("--backend", default="cpp")
    ap.add_argument("--out", required=True)
    args = ap.parse_args()

    with np.load(args.checkpoint, allow_pickle=True) as f:
        weights = {k[2:]: f[k] for k in f.files if k.startswith("w/")}
    circuit = get_circuit("corinfomax")  # the FMNIST defaults: sizes [784, 500, 10]
    circuit.check_weights(weights)
    data = load_dataset("fashion_mnist")
    x, y = data.x_test[: args.samples], data.y_test[: args.samples]
    t0 = time.perf_counter()
    report = compare_rate_spiking(
        circuit, weights, x, y, t_samples=tuple(args.t_samples), encoding=args.encoding,
        target=args.backend, r_max=args.r_max, tau_syn=args.tau_syn, seed=0,
    )
    report.write_json(args.out)
    table = report.table()
    print(table)
    atomic_write_text(args.out.replace(".json", ".md"), f"checkpoint: {args.checkpoint}\n\n{table}\n\nseconds: {time.perf_counter() - t0:.1f}\n")


if __name__ == "__main__":
    main()
