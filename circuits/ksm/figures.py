"""Figures of a trained KSM solver, after the paper's: the implicit generative map's atoms (Fig. 2a, Fig. 4),
the two-moons anchors and piecewise-linear reconstruction with the ‖z‖₀ histogram (Fig. 5a-c).

matplotlib on the Agg backend, PNGs written atomically (neuromorph.plots conventions).
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from neuromorph.io import atomic_write_bytes

from . import metrics

__all__ = ["trainer_figures"]


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path) -> Path:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    atomic_write_bytes(path, buf.getvalue())
    return path


def trainer_figures(trainer, data, folder) -> list[Path]:
    """The figures that fit ``data``: image atoms, 2-D anchors, or a dictionary against the true one."""
    plt = _plt()
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    A = trainer.generative_map()  # (N, K)
    Z_test = trainer.codes(data.x_test)
    Xhat = metrics.predict(A, Z_test)
    r2 = metrics.r2_score(data.x_test, Xhat)
    l0 = metrics.l0_norms(Z_test)
    p = trainer.params
    out = []
    shape = tuple(data.image_shape)
    if len(shape) == 2 and shape[0] * shape[1] == A.shape[0]:
        n = min(100, A.shape[1])
        order = np.argsort(-np.linalg.norm(A, axis=0))[:n]  # the atoms used most strongly first
        side = int(np.ceil(np.sqrt(n)))
        fig, axes = plt.subplots(side, side, figsize=(side * 0.8, side * 0.8))
        for ax in axes.ravel():
            ax.axis("off")
        for ax, k in zip(axes.ravel(), order):
            a = A[:, k].reshape(shape)
            m = np.abs(a).max() or 1.0
            ax.imshow(a, cmap="gray", vmin=-m, vmax=m)
        fig.suptitle(f"{data.name}: {n} of K = {A.shape[1]} atoms of Â = XZᵀH⁻¹/T (test R² {r2:.3f})", fontsize=8)
        out.append(_save(fig, folder / "ksm_dictionary.png"))
        plt.close(fig)
    elif A.shape[0] == 2:
        fig, axes = plt.subplots(1, 2, figsize=(9, 3.6))
        ax = axes[0]
        ax.scatter(data.x_test[:, 0], data.x_test[:, 1], s=3, c="tab:red", alpha=0.5, label="x (test)")
        ax.scatter(Xhat[:, 0], Xhat[:, 1], s=3, c="tab:green", alpha=0.6, label="x̂ = Â z")
        c = (1 + p.omega) if p.constraint == "simplex" else 1.0
        anchors = A if p.constraint == "simplex" else A * np.abs(Z_test).max()
        ax.scatter(anchors[0], anchors[1], marker="x", s=60, c="k", label="columns of Â" + ("" if c != 1 else " (scaled)"))
        ax.set_title(f"{data.name}: test R² {r2:.3f}", fontsize=9)
        ax.legend(fontsize=7)
        ax.set_aspect("equal", adjustable="datalim")
        ax = axes[1]
        ax.hist(l0, bins=np.arange(0, p.K + 2) - 0.5, color="tab:blue")
        ax.set_xlabel("‖z‖₀ (active latents per test sample)")
        ax.set_ylabel("samples")
        ax.set_title(f"modal ‖z‖₀ = {metrics.l0_mode(Z_test)}", fontsize=9)
        fig.tight_layout()
        out.append(_save(fig, folder / "ksm_manifold.png"))
        plt.close(fig)
    else:
        cols = 3 if trainer.A_true is not None else 2
        fig, axes = plt.subplots(1, cols, figsize=(4 * cols, 3.4))
        An = A / np.maximum(np.linalg.norm(A, axis=0), 1e-300)
        if trainer.A_true is not None:
            T = trainer.A_true / np.linalg.norm(trainer.A_true, axis=0)
            match = np.argmax((T.T @ An) ** 2, axis=1)  # each true atom's best estimated atom
            sign = np.sign(np.sum(T * An[:, match], axis=0))
            axes[0].imshow(T, aspect="auto", cmap="RdBu_r", vmin=-1, vmax=1)
            axes[0].set_title("true atoms (normalised)", fontsize=9)
            axes[1].imshow(An[:, match] * sign, aspect="auto", cmap="RdBu_r", vmin=-1, vmax=1)
            axes[1].set_title(f"Â atoms, matched (error {metrics.dictionary_error(trainer.A_true, A):.1e})", fontsize=9)
        else:
            axes[0].imshow(An, aspect="auto", cmap="RdBu_r", vmin=-1, vmax=1)
            axes[0].set_title("Â atoms (normalised)", fontsize=9)
        ax = axes[-1]
        ax.hist(l0, bins=np.arange(0, p.K + 2) - 0.5, color="tab:blue")
        ax.set_xlabel("‖z‖₀ per test sample")
        ax.set_title(f"test R² {r2:.4f}, S₁ {metrics.sparsity_1(Z_test):.3f}", fontsize=9)
        fig.tight_layout()
        out.append(_save(fig, folder / "ksm_dictionary.png"))
        plt.close(fig)
    return out
