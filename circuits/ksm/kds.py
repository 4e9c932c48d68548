"""Alternating minimisation of the K-Deep Simplex objective (Tasissa, Tankala, Murphy & Ba, "K-Deep Simplex:
Manifold Learning via Local Dictionaries", IEEE TSP 71, 2023), eq. 8 of the KSM paper:

    min_{A, Z}  (1/2T) ‖X − A Z‖²_F + (ω/T) Σ_k Σ_l z_kl ‖x_l − a_k‖²     s.t. every z_l on the probability simplex.

The SMPC paper (App. E.1, moons) warm-starts its circuit from the latents of this problem "ran ... with ω = 0.1
for 500 iterations" (plus N(0, 5²) noise); this module computes them. Written from eq. 8 (no code of the
authors is public); the choices the papers leave open are marked.

* Z-step (A fixed), per sample: ½‖x_l − A z_l‖² + ω Σ_k z_kl d_kl with d_kl = ‖x_l − a_k‖², a quadratic plus a
  linear term on the simplex: ``z_steps`` projected-gradient steps of size 1/L, L = λ_max(AᵀA) (its gradient's
  Lipschitz constant), gradient Aᵀ(A z_l − x_l) + ω d_l. (Choice: the number of inner steps, 10.)
* A-step (Z fixed): the gradient of eq. 8 in A vanishes at
  (A Z − X) Zᵀ + 2ω (A D − X Zᵀ) = 0, D = diag(Z 1_T)  ⇒  A = (1 + 2ω) X Zᵀ (Z Zᵀ + 2ω D)⁻¹   (closed form).
* Initialisation (choice, as the KSM moons run): A = K distinct training samples chosen by ``seed``
  ("random points on the input manifold", §6.3), Z = 1/K.

Rows are samples here (X: (T, N), Z: (T, K)); A is (N, K), columns = atoms.
"""

from __future__ import annotations

import numpy as np
import torch

from neuromorph.errors import ConfigError, ShapeError

from .prox import project_simplex

__all__ = ["kds_objective", "kds_alternating_minimisation"]


def kds_objective(X: np.ndarray, A: np.ndarray, Z: np.ndarray, omega: float) -> float:
    """Eq. 8's value (rows of X, Z are samples)."""
    T = len(X)
    d = ((X[:, None, :] - A.T[None, :, :]) ** 2).sum(axis=2)  # (T, K): ‖x_l − a_k‖²
    return float(0.5 * np.sum((X - Z @ A.T) ** 2) / T + omega * np.sum(Z * d) / T)


def kds_alternating_minimisation(X, K: int, *, omega: float = 0.1, iters: int = 500, z_steps: int = 10,
                                 seed: int = 0) -> tuple[np.ndarray, np.ndarray, list[float]]:
    """(A (N, K), Z (T, K), objective after every iteration) of eq. 8 by alternating minimisation."""
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2 or not np.all(np.isfinite(X)):
        raise ShapeError(f"kds: X must be a finite (T, N) array, got shape {X.shape}")
    T = len(X)
    if not isinstance(K, int) or not 2 <= K <= T:
        raise ConfigError(f"kds: K must be an integer in [2, T = {T}], got {K!r}")
    for name, v in (("iters", iters), ("z_steps", z_steps)):
        if not isinstance(v, int) or isinstance(v, bool) or v < 1:
            raise ConfigError(f"kds: {name} must be a positive integer, got {v!r}")
    if not (np.isfinite(omega) and omega >= 0):
        raise ConfigError(f"kds: omega must be >= 0, got {omega!r}")
    rng = np.random.default_rng(seed)
    A = X[rng.choice(T, size=K, replace=False)].T.copy()
    Z = np.full((T, K), 1.0 / K)
    history = []
    for _ in range(iters):
        # Z-step: projected gradient on each sample's simplex problem.
        G = A.T @ A
        L = float(np.linalg.eigvalsh(G).max())
        step = 1.0 / max(L, 1e-12)
        XA = X @ A
        d = (X**2).sum(axis=1)[:, None] - 2 * XA + (A**2).sum(axis=0)[None, :]
        lin = -XA + omega * d  # the z-independent part of the gradient
        for _ in range(z_steps):
            Z = project_simplex(torch.as_tensor(Z - step * (Z @ G + lin))).numpy()
        # A-step: closed form.
        H = Z.T @ Z + 2 * omega * np.diag(Z.sum(axis=0))
        A = np.linalg.solve(H + 1e-12 * np.trace(H) * np.eye(K), ((1 + 2 * omega) * (X.T @ Z)).T).T
        history.append(kds_objective(X, A, Z, omega))
    return A, Z, history
