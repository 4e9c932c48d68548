"""Figures and a JSON summary of an SMPC run of `neuromorph run` (experiments/smpc/*.toml), beside the paper's.

    python experiments/smpc/figures.py RUN_DIR [--out DIR]

Reads the run's checkpoint (the trainer's state: weights, per-sample latents, their initial values, the
training samples, Â) and writes, under DIR (default RUN_DIR/figures):

* ``smpc-latents.png`` — like Fig. 7: (a) the data coloured by the true latent (sets with true codes),
  (b) y against its top-down prediction Ωz, (c) x and x̂ = Âz (variance-normalised), (d) latents before and
  after training (true latents beside them where known);
* ``smpc-summary.json`` — R² of x̂ with the training latents (the paper's figure) and on held-out samples
  (metrics.jsonl), latent error (Fig. 8c; matched over the latents' order for a cold start), ‖y − Ωz‖/‖y‖,
  and the R² of the kernel-matched prediction (XXᵀ/T) x (r2_kernel_matched).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run_dir")
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from circuits.ksm import metrics
    from circuits.smpc.trainer import _r2_centred, _r2_own_scale, latent_error, load_circuit_run
    from neuromorph.errors import NeuromorphError

    run = Path(args.run_dir)
    out = Path(args.out) if args.out else run / "figures"
    try:
        st, manifest = load_circuit_run(run)
    except NeuromorphError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    X, Z, Y, Z0, A = (np.asarray(st[k]) for k in ("X", "z", "y", "z_init", "A_hat"))
    Om = np.asarray(st["weights"]["Omega"])  # (K, n_y) = Ωᵀ
    dataset = manifest["data"]["dataset"]
    z_true = np.asarray(st["z_true"]) if "z_true" in st else None
    if z_true is None:
        try:
            from neuromorph.data import true_codes

            z_true = np.asarray(true_codes(dataset, n_train=len(X), seed=manifest.get("seed", 0))[0])
        except NeuromorphError:
            z_true = None
    Xhat = metrics.predict(A, Z)
    s = np.sqrt(np.mean(np.sum(X**2, axis=1)))
    lines = [json.loads(ln) for ln in (run / "metrics.jsonl").read_text().splitlines() if ln.strip()]
    epochs = [ln for ln in lines if "test_r2" in ln]
    X_kernel_matched = X @ (X.T @ X) / len(X)
    summary = {
        "run": str(run), "dataset": dataset, "params": manifest["circuit"]["params"],
        "epochs": len(epochs),
        "fit_r2": metrics.r2_score(X, Xhat),
        "fit_r2_own_scale": _r2_own_scale(X, Xhat),
        "fit_r2_centred": _r2_centred(X, Xhat),
        "test_r2": epochs[-1]["test_r2"] if epochs else None,
        "test_r2_own_scale": epochs[-1].get("test_r2_own_scale") if epochs else None,
        "test_r2_centred": epochs[-1].get("test_r2_centred") if epochs else None,
        "train_r2_cold_inference": epochs[-1].get("train_r2") if epochs else None,
        "fit_sparsity_1": metrics.sparsity_1(Z), "fit_l0_mode": metrics.l0_mode(Z),
        "y_prediction_error": float(np.linalg.norm(Y - Z @ Om) / max(np.linalg.norm(Y), 1e-300)),
        # The prediction when the latent kernel equals the input kernel exactly, (ΩZ)ᵀ(ΩZ) = XᵀX: x̂ = X K_Z/T
        # = (XXᵀ/T) x (§7), the similarity-matching fixed point of the relaxed objective. Its R² says how far
        # the data's covariance is from isotropic on its span (dictionary coherence, latent means): a
        # reference for fit_r2_own_scale, not a bound.
        "r2_kernel_matched": _r2_own_scale(X, X_kernel_matched),
        "r2_kernel_matched_centred": _r2_centred(X, X_kernel_matched),
    }
    if z_true is not None:
        summary["latent_error"] = latent_error(z_true, Z)
        summary["latent_error_matched"] = latent_error(z_true, Z, match=True)
        summary["latent_error_init"] = latent_error(z_true, Z0)
    paper = manifest["config"].get("paper") or {}
    summary["paper_r2"] = paper.get("value") or None

    out.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(1, 4, figsize=(17, 4.2))
    colour = np.argmax(np.abs(z_true), axis=1) if z_true is not None else np.argmax(Z, axis=1)
    if X.shape[1] == 2:
        ax[0].scatter(X[:, 0], X[:, 1], c=colour, s=4, cmap="coolwarm")
        ax[0].set_title("(a) data, coloured by " + ("true latent" if z_true is not None else "argmax z"))
        ax[2].scatter(X[:, 0] / s, X[:, 1] / s, s=4, c="tab:red", label="x")
        ax[2].scatter(Xhat[:, 0] / s, Xhat[:, 1] / s, s=4, c="tab:green", label="x̂ = Âz")
        ax[2].scatter(A[0] / s, A[1] / s, marker="x", c="k", s=60, label="Â columns")
        ax[2].legend(fontsize=7)
        ax[2].set_title(f"(c) variance-normalised x and x̂ (R² {summary['fit_r2']:.3f}; own scale {summary['fit_r2_own_scale']:.3f})")
    else:
        ax[0].imshow(X[:40].T, aspect="auto", cmap="coolwarm")
        ax[0].set_title("(a) 40 samples (columns)")
        ax[2].scatter((X / s).ravel(), (Xhat / s).ravel(), s=1)
        ax[2].set_title(f"(c) x̂ against x (R² {summary['fit_r2']:.3f}; own scale {summary['fit_r2_own_scale']:.3f})")
    Yhat = Z @ Om
    ax[1].scatter(Y.ravel(), Yhat.ravel(), s=2)
    ax[1].set_xlabel("y")
    ax[1].set_ylabel("Ωz")
    ax[1].set_title("(b) y against its prediction Ωz")
    n_show = min(200, len(Z))
    if Z.shape[1] == 2:
        ax[3].scatter(Z0[:n_show, 0], Z0[:n_show, 1], s=4, c="0.7", label="initial z")
        if z_true is not None:
            ax[3].scatter(z_true[:, 0], z_true[:, 1], s=14, c="tab:red", alpha=0.3, label="true z")
        ax[3].scatter(Z[:, 0], Z[:, 1], s=3, c="tab:blue", label="final z")
        ax[3].legend(fontsize=7)
    else:
        i = int(np.argmax(np.abs(Z).sum(axis=1) > 0))
        ax[3].plot(Z0[i], "o-", c="0.6", label="initial")
        ax[3].plot(Z[i], "s-", c="tab:blue", label="final")
        if z_true is not None:
            ax[3].plot(z_true[i], "x--", c="tab:red", label="true")
        ax[3].legend(fontsize=7)
        ax[3].set_xlabel("latent unit")
    ax[3].set_title("(d) latents z" + (f", error {summary.get('latent_error_matched', float('nan')):.3f}" if z_true is not None else ""))
    fig.suptitle(f"SMPC on {dataset}: {run.name}")
    fig.tight_layout()
    fig.savefig(out / "smpc-latents.png", dpi=110)
    tmp = out / "smpc-summary.json.tmp"
    tmp.write_text(json.dumps(summary, indent=2, default=float))
    os.replace(tmp, out / "smpc-summary.json")
    print(json.dumps(summary, default=float))
    print(f"wrote {out / 'smpc-latents.png'} and {out / 'smpc-summary.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
