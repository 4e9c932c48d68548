"""pHSIC on Fashion-MNIST: the streaming circuit's rule vs the batch form, same data, same sizes, same samples seen.

    python experiments/phsic/streaming_vs_batch.py [--sizes 784 256 256 10] [--modes plain divnorm] \
        [--n-train 60000] [--seed 0] [--eta-scales 1] [--out experiments/phsic/results/streaming_vs_batch]

For every mode (plain, divnorm; Gaussian kernel) three sets of hidden weights start from the same seeded init
(:meth:`PHSIC.initial_weights` == the batch trainer's init):

* **random**: the init itself (what the hidden layers give without learning);
* **streaming**: the circuit's rule (``circuits.phsic.circuit``; pairs (s_{t−1}, s_t) of a stream, memory of
  sample a, b1/b2/b3 third factor with the running mean of eq. 61, ``pairs_per_update`` pairs per update),
  computed by ``circuits.phsic.streaming.StreamingPHSIC`` (equal to ``simulate_reference`` to rounding,
  tests/test_phsic_streaming.py);
* **batch**: ``PHSICTrainer`` (eq. 40, mini-batches of 256, SGD momentum 0.95, dropout 0.01; its own output
  layer trained by cross-entropy alongside, reported as "batch own readout").

Both learners see the same ``--n-train`` training samples once, in the same order (the batch trainer's epoch-0
permutation, ``epoch_plan(n, seed, 0)``): the stream visits them in that order and the batch form cuts it into
mini-batches. The streaming circuit's readout is fixed (not plastic), so accuracy is measured the same way for
all three: a multinomial logistic regression (L-BFGS, L2 ``--l2``, standardised features) fitted on the last
hidden layer's forwarded output (z in plain, r in divnorm) of all ``--n-train`` training samples, tested on
the 10 000 test samples.

Learning rates. The batch form keeps its settings (η_l 1.0 divnorm / 0.5 plain, momentum 0.95, batch 256). The
streaming rule has no momentum; its η is *matched per sample* instead of tuned: averaged over pairs, the
two-point update is −η dL/dW (tests/test_phsic_circuit.py), so P pairs per update with η move the weights
like η/P per sample, and the batch form with momentum μ moves them like η_l/(m(1−μ)) per sample in steady
state:  η_stream = scale · η_l · P / (m (1 − μ))  (0.078 divnorm, 0.039 plain for P = 1). ``--eta-scales``
runs extra multiples; every one run is reported (none is chosen on the test set).

Writes (atomically, neuromorph.io): ``results.json`` (rows + diagnostics), ``results.md`` (table) and
``manifest.json`` (config, seed, versions, git commit, wall/CPU timings, load averages, status).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from circuits.phsic import PHSIC, PHSICCircuitParams  # noqa: E402
from circuits.phsic.trainer import PHSICTrainer, epoch_plan  # noqa: E402
from circuits.phsic.streaming import StreamingPHSIC  # noqa: E402
from neuromorph.io import atomic_write_json, atomic_write_text  # noqa: E402

BATCH_LR = {"plain": dict(lr_local=0.5, lr_final=5e-4), "divnorm": dict(lr_local=1.0, lr_final=5e-3)}  # bench_phsic.py


# ---- readout ---------------------------------------------------------------------------------------------------
def fit_readout(f_train, y_train, f_test, y_test, n_classes: int, *, l2: float = 1e-4, max_iter: int = 200,
                dtype=torch.float64) -> dict:
    """Multinomial logistic regression on standardised features, the same for every feature set.

    Minimises mean cross-entropy + (l2/2)‖W‖² (bias unpenalised) by full-batch L-BFGS with a strong-Wolfe line
    search, from zero: deterministic. Standardisation uses the training features' mean and std (constant
    features are left at 0). Returns train/test accuracy, the objective and the iterations used.
    """
    ftr = torch.as_tensor(np.asarray(f_train), dtype=dtype)
    fte = torch.as_tensor(np.asarray(f_test), dtype=dtype)
    mu, sd = ftr.mean(0), ftr.std(0)
    sd = torch.where(sd > 1e-12, sd, torch.ones_like(sd))
    ftr, fte = (ftr - mu) / sd, (fte - mu) / sd
    ytr, yte = torch.as_tensor(np.asarray(y_train), dtype=torch.long), torch.as_tensor(np.asarray(y_test), dtype=torch.long)
    W = torch.zeros(ftr.shape[1], n_classes, dtype=dtype, requires_grad=True)
    b = torch.zeros(n_classes, dtype=dtype, requires_grad=True)
    opt = torch.optim.LBFGS([W, b], lr=1.0, max_iter=max_iter, history_size=20, line_search_fn="strong_wolfe",
                            tolerance_grad=1e-9, tolerance_change=1e-12)
    n_eval = [0]

    def closure():
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(ftr @ W + b, ytr) + 0.5 * l2 * (W * W).sum()
        loss.backward()
        n_eval[0] += 1
        return loss

    with torch.enable_grad():
        opt.step(closure)
    with torch.no_grad():
        loss = float(torch.nn.functional.cross_entropy(ftr @ W + b, ytr) + 0.5 * l2 * (W * W).sum())
        train_acc = float(((ftr @ W + b).argmax(1) == ytr).double().mean())
        test_acc = float(((fte @ W + b).argmax(1) == yte).double().mean())
    state = opt.state[opt._params[0]]
    return {"train_acc": train_acc, "test_acc": test_acc, "objective": loss, "iterations": int(state.get("n_iter", 0)),
            "function_evals": n_eval[0], "W": W.detach(), "b": b.detach()}


def hidden_features(circuit: PHSIC, weights: dict, x: np.ndarray, chunk: int = 8192) -> np.ndarray:
    """The last hidden layer's forwarded output (z plain, r divnorm) of the circuit's settled forward pass."""
    L = circuit.n_layers
    return np.concatenate([circuit.forward(weights, x[i:i + chunk])[f"out{L}"] for i in range(0, len(x), chunk)])


def phsic_losses(circuit: PHSIC, weights: dict, x: np.ndarray, labels: np.ndarray, n_batches: int, seed: int,
                 batch: int = 256) -> list[float]:
    """The objective both forms descend, per hidden layer: pHSIC(Z, Z) − γ pHSIC(Y, Z) (eqs. 9, 34) averaged over
    ``n_batches`` fixed mini-batches of training samples (the same batches for every weight set; no dropout).

    Computed with the batch form's ``local_loss`` on the settled forward pass, so a lower value means the
    hidden layer carries more label information relative to its self-similarity, whichever rule got it there.
    """
    from circuits.phsic.trainer import label_kernel, layer_forward, local_loss

    P = circuit.params.batch_params()
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0x105]))
    idx = rng.permutation(len(labels))[:n_batches * batch].reshape(n_batches, batch)
    Ws = [torch.as_tensor(weights[f"W{k}"], dtype=torch.float64).T for k in range(1, circuit.n_layers + 1)]
    total = np.zeros(len(Ws))
    for rows in idx:
        h = torch.as_tensor(x[rows], dtype=torch.float64)
        ky = label_kernel(torch.as_tensor(labels[rows]), P.n_classes, P.center_labels, dtype=torch.float64)
        for k, W in enumerate(Ws):
            total[k] += float(local_loss(h, W, ky, P))
            h = layer_forward(h, W, P)["out"]
    return list(total / n_batches)


def streaming_eta(mode: str, pairs_per_update: int, batch: int, momentum: float, scale: float = 1.0) -> float:
    """η of the streaming rule that moves the weights per sample like the batch form does (module docstring)."""
    return scale * BATCH_LR[mode]["lr_local"] * pairs_per_update / (batch * (1.0 - momentum))


def _rel_change(w: dict, w0: dict, names) -> dict:
    return {k: float(np.linalg.norm(w[k] - w0[k]) / np.linalg.norm(w0[k])) for k in names}


class _Clock:
    """Wall and process-CPU seconds of a block, with the 1-minute load average before and after."""

    def __enter__(self):
        self.load_before = os.getloadavg()[0]
        self.t, self.c = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc):
        self.wall_s = time.perf_counter() - self.t
        self.cpu_s = time.process_time() - self.c
        self.load_after = os.getloadavg()[0]

    def record(self) -> dict:
        return {"wall_s": self.wall_s, "cpu_s": self.cpu_s, "load1_before": self.load_before, "load1_after": self.load_after}


def main(argv=None) -> int:
    from tqdm.auto import tqdm

    from neuromorph.data import load_dataset
    from neuromorph.runner import git_commit, package_versions

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[784, 256, 256, 10])
    ap.add_argument("--modes", nargs="+", default=["plain", "divnorm"], choices=["plain", "divnorm"])
    ap.add_argument("--n-train", type=int, default=60000, help="training samples seen by each learner (once)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--sigma", type=float, default=5.0)
    ap.add_argument("--gamma", type=float, default=2.0)
    ap.add_argument("--n-groups", type=int, default=32)
    ap.add_argument("--pairs-per-update", type=int, default=1)
    ap.add_argument("--beta-avg", type=float, default=0.05)
    ap.add_argument("--eta-scales", type=float, nargs="+", default=[1.0])
    ap.add_argument("--stream-dtype", choices=["float32", "float64"], default="float32")
    ap.add_argument("--l2", type=float, default=1e-4)
    ap.add_argument("--readout-iters", type=int, default=200)
    ap.add_argument("--loss-batches", type=int, default=20, help="fixed 256-sample batches for the pHSIC objective")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--no-progress", action="store_true")
    ap.add_argument("--out", default=str(ROOT / "experiments/phsic/results/streaming_vs_batch"))
    args = ap.parse_args(argv)

    torch.set_num_threads(args.threads)
    out = Path(args.out)
    t_start = time.perf_counter()
    cpu_start = time.process_time()
    manifest = {
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "config": vars(args),
        "seed": args.seed,
        "versions": package_versions(),
        "git_commit": git_commit(),
        "machine": {"host": platform.node(), "platform": platform.platform(), "cpus": os.cpu_count(),
                    "loadavg_start": os.getloadavg()},
        "torch_threads": torch.get_num_threads(),
        "status": "running",
        "timings": {},
        "started": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }
    atomic_write_json(out / "manifest.json", manifest)

    with _Clock() as clk:
        data = load_dataset("fashion_mnist", scale="symmetric", seed=args.seed,
                            n_train=args.n_train if args.n_train < 60000 else None)
    manifest["timings"]["load_data"] = clk.record()
    sizes = (data.n_features, *args.sizes[1:-1], data.n_classes)
    x, y = data.x_train, data.y_train
    n = len(y)
    stream_dtype = torch.float32 if args.stream_dtype == "float32" else torch.float64
    rows, diagnostics = [], {}

    def readout(name: str, mode: str, circuit: PHSIC, weights: dict, extra: dict) -> dict:
        with _Clock() as c:
            ftr, fte = hidden_features(circuit, weights, x), hidden_features(circuit, weights, data.x_test)
            r = fit_readout(ftr, y, fte, data.y_test, data.n_classes, l2=args.l2, max_iter=args.readout_iters)
            loss = phsic_losses(circuit, weights, x, y, args.loss_batches, args.seed)
        row = {"phsic_loss": loss, "mode": mode, "learner": name, "test_acc": r["test_acc"], "readout_train_acc": r["train_acc"],
               "readout_objective": r["objective"], "readout_iterations": r["iterations"], "readout": c.record(), **extra}
        rows.append(row)
        print(f"[{mode}] {name}: linear readout test {r['test_acc']:.4f} (train {r['train_acc']:.4f}, "
              f"{r['iterations']} L-BFGS iterations, {c.wall_s:.1f} s); pHSIC objective per layer "
              f"{', '.join(f'{v:.4f}' for v in loss)}", flush=True)
        return row

    for mode in args.modes:
        order, _ = epoch_plan(n, args.seed, 0)  # the batch trainer's epoch-0 order: the stream visits it too
        base = PHSICCircuitParams(sizes=sizes, mode=mode, kernel="gaussian", sigma=args.sigma, gamma=args.gamma,
                                  n_groups=args.n_groups, beta_avg=args.beta_avg,
                                  pairs_per_update=args.pairs_per_update, **BATCH_LR[mode])
        circuit0 = PHSIC(base)
        w0 = circuit0.initial_weights(args.seed)
        plastic = circuit0.plastic_names()

        readout("random init", mode, circuit0, w0, {"samples_seen": 0})

        for scale in args.eta_scales:
            eta = streaming_eta(mode, args.pairs_per_update, base.batch, base.momentum, scale)
            circuit = PHSIC(dataclasses.replace(base, lr_local=eta))
            twin = StreamingPHSIC(circuit, w0, dtype=stream_dtype)
            bar = tqdm(total=n, desc=f"{mode} streaming η={eta:.3g}", unit="pair", disable=args.no_progress,
                       mininterval=5.0, dynamic_ncols=True)
            with _Clock() as c:
                twin.process_stream(x, y, order, progress=bar.update)
            bar.close()
            w = twin.weights()
            if not all(np.isfinite(w[k]).all() for k in plastic):
                raise SystemExit(f"{mode} streaming η={eta}: weights diverged")
            extra = {"samples_seen": twin.n_pairs, "eta_stream": eta, "eta_scale": scale,
                     "pairs_per_update": args.pairs_per_update, "updates": twin.n_updates, "train": c.record(),
                     "us_per_pair": 1e6 * c.wall_s / max(twin.n_pairs, 1),
                     "rel_weight_change": _rel_change(w, w0, plastic), "b3_final": list(twin.b3)}
            readout("streaming", mode, circuit, w, extra)

        bp = dataclasses.replace(base.batch_params(), epochs=1)
        trainer = PHSICTrainer(bp, data.n_features, data.n_classes, seed=args.seed, dtype=torch.float32)
        bar = tqdm(total=n, desc=f"{mode} batch", unit="sample", disable=args.no_progress, mininterval=5.0,
                   dynamic_ncols=True)
        with _Clock() as c:
            metrics = trainer.train_epoch(x, y, 0, progress=bar.update)
        bar.close()
        wb = trainer.weights()
        own = float((trainer.predict(data.x_test) == data.y_test).mean())
        extra = {"samples_seen": n, "batch": bp.batch, "lr_local": bp.lr_local, "momentum": bp.momentum,
                 "updates": -(-n // bp.batch), "train": c.record(), "own_readout_test_acc": own,
                 "rel_weight_change": _rel_change(wb, w0, plastic),
                 "local_loss": {k: v for k, v in metrics.items() if k.startswith("local_loss")}}
        readout("batch", mode, circuit0, wb, extra)
        diagnostics[mode] = {"circuit_params": dataclasses.asdict(base), "batch_params": dataclasses.asdict(bp)}

    total_wall, total_cpu = time.perf_counter() - t_start, time.process_time() - cpu_start
    manifest["timings"].update({"total_wall_s": total_wall, "total_cpu_s": total_cpu})
    manifest["machine"]["loadavg_end"] = os.getloadavg()
    manifest["status"] = "done"
    manifest["finished"] = time.strftime("%Y-%m-%dT%H:%M:%S")
    setup = (f"Fashion-MNIST (Debian files, inputs in [-1, 1]); sizes {list(sizes)}; {n} training samples seen once "
             f"by each learner, same order; Gaussian kernel σ={args.sigma}, γ={args.gamma}, {args.n_groups} groups "
             f"(divnorm); seed {args.seed}")
    result = {"setup": setup, "sizes": list(sizes), "rows": rows, "params": diagnostics,
              "readout": f"multinomial logistic regression, L-BFGS ≤ {args.readout_iters} iterations, L2 {args.l2}, "
                         "standardised last-hidden-layer features, fitted on the training samples seen"}
    atomic_write_json(out / "results.json", result)
    atomic_write_json(out / "manifest.json", manifest)

    lines = ["# pHSIC streaming vs batch on Fashion-MNIST\n", setup + ".", "",
             f"Readout: {result['readout']}. Streaming η matched per sample to the batch form "
             "(η_l·P/(m(1−μ)), times the scale shown). pHSIC objective: pHSIC(Z,Z) − γ pHSIC(Y,Z) of each hidden "
             f"layer (lower is better), mean over {args.loss_batches} fixed batches of 256 training samples.", "",
             "| mode | learner | η (scale) | samples seen | updates | linear-readout test acc | batch own readout | "
             "train wall s | train CPU s | ‖ΔW‖/‖W0‖ | pHSIC objective per layer |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        eta = f"{r['eta_stream']:.3g} ({r['eta_scale']:g}x)" if "eta_stream" in r else (
            f"{r['lr_local']:g} (SGD μ {r['momentum']:g}, m {r['batch']})" if "lr_local" in r else "-")
        change = ", ".join(f"{v:.3f}" for v in r.get("rel_weight_change", {}).values()) or "-"
        tr = r.get("train")
        own = f"{100 * r['own_readout_test_acc']:.2f} %" if "own_readout_test_acc" in r else "-"
        wall = f"{tr['wall_s']:.1f}" if tr else "-"
        cpu = f"{tr['cpu_s']:.1f}" if tr else "-"
        lines.append(f"| {r['mode']} | {r['learner']} | {eta} | {r['samples_seen']} | {r.get('updates', 0)} | "
                     f"{100 * r['test_acc']:.2f} % | {own} | {wall} | {cpu} | {change} | "
                     f"{', '.join(f'{v:.4f}' for v in r['phsic_loss'])} |")
    lines += ["", f"Total wall {total_wall:.0f} s, CPU {total_cpu:.0f} s, torch threads {args.threads}, load average "
              f"{manifest['machine']['loadavg_start'][0]:.1f} → {manifest['machine']['loadavg_end'][0]:.1f} "
              f"(shared 2-core machine). Command: `{manifest['command']}`", ""]
    atomic_write_text(out / "results.md", "\n".join(lines))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
