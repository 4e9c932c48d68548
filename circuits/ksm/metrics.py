"""What KSM is scored by: the implicit generative map (§3, §4, Appendix A), R² of its prediction, the
1-sparsity of Appendix F (eq. 44), the support size ‖z‖₀ (§6.3, Fig. 5c) and dictionary recovery (§6.1, Fig. 2h).

Samples are rows: X (T, N), Z (T, K). Everything here is plain numpy float64 (evaluation, not training).
"""

from __future__ import annotations

import numpy as np

__all__ = ["generative_map", "predict", "r2_score", "sparsity_p", "sparsity_1", "l0_norms", "l0_mode", "dictionary_error",
           "variance_normalise"]


def generative_map(X: np.ndarray, Z: np.ndarray, omega: float, constraint: str = "l1") -> np.ndarray:
    """Â (N, K): X Zᵀ H⁻¹ / T with H = Z Zᵀ/T + ωI (sparse, §3 and Appendix A.1), or (1 + ω) X Zᵀ H⁻¹ / T with
    H = Z Zᵀ/T + ω diag(Z 1/T) (simplex, Appendix A.2) — in the paper's column layout, here with rows as samples.

    H is symmetric positive semi-definite; a latent that is never active makes the simplex H singular, so the
    pseudo-inverse is used (it gives that latent a zero column in Â).
    """
    X = np.asarray(X, dtype=np.float64)
    Z = np.asarray(Z, dtype=np.float64)
    if X.ndim != 2 or Z.ndim != 2 or len(X) != len(Z):
        raise ValueError(f"generative_map: X (T, N) and Z (T, K) with the same T, got {X.shape} and {Z.shape}")
    T, K = Z.shape
    if constraint == "l1":
        H, c = Z.T @ Z / T + omega * np.eye(K), 1.0
    else:
        H, c = Z.T @ Z / T + omega * np.diag(Z.mean(axis=0)), 1.0 + omega
    return c * (X.T @ Z / T) @ np.linalg.pinv(H, hermitian=True)


def predict(A: np.ndarray, Z: np.ndarray) -> np.ndarray:
    """x̂ = Â z for every row z of Z: (T, N)."""
    return np.asarray(Z, dtype=np.float64) @ np.asarray(A, dtype=np.float64).T


def variance_normalise(X: np.ndarray) -> np.ndarray:
    """x_i / sqrt((1/T) Σ_j ‖x_j‖²): the paper's variance normalisation (§7.1)."""
    X = np.asarray(X, dtype=np.float64)
    return X / np.sqrt(np.mean(np.sum(X**2, axis=1)))


def r2_score(X: np.ndarray, Xhat: np.ndarray) -> float:
    """1 - Σ‖x_i - x̂_i‖² / Σ‖x_i - x̄‖² (x̄ the mean sample), on variance-normalised data.

    Both X and X̂ are divided by the same scale (X's, :func:`variance_normalise`); R² is invariant to it, so
    the normalisation only makes the figure the paper's. It equals the per-feature R² averaged with weights
    proportional to each feature's variance (scikit-learn's ``variance_weighted``).
    """
    X = np.asarray(X, dtype=np.float64)
    Xhat = np.asarray(Xhat, dtype=np.float64)
    if X.shape != Xhat.shape:
        raise ValueError(f"r2_score: X {X.shape} and X̂ {Xhat.shape} differ in shape")
    s = np.sqrt(np.mean(np.sum(X**2, axis=1)))
    if s == 0:
        raise ValueError("r2_score: X is all zeros")
    X, Xhat = X / s, Xhat / s
    ss_tot = np.sum((X - X.mean(axis=0)) ** 2)
    if ss_tot == 0:
        raise ValueError("r2_score: every sample is the same; R² is undefined")
    return float(1.0 - np.sum((X - Xhat) ** 2) / ss_tot)


def sparsity_p(Z: np.ndarray, p: float = 1.0) -> float:
    """Mean over samples (rows, n = K entries each) of the p-sparsity S_p of Appendix F, eq. 43:

        S_p(z) = (1/N_p) [ ((1/(n-1)) Σ|z_k - z̄|^p) / ((1/n) Σ|z_k|^p) ]^(1/p),
        N_p = (((n-1)^(p-1) + 1) / n^(p-1))^(1/p).

    S_p = 1 when one entry is non-zero and 0 when all are equal; an all-zero z counts as 0.
    For p = 1 eq. 43 gives N_1 = 2 and S_1 = n Σ|z_k - z̄| / (2 (n-1) Σ|z_k|). The paper's eq. 44 prints N_1 = 1
    and drops n/(n-1), which would give 2(n-1)/n (not 1) for a 1-sparse vector, against its own statement
    "when ‖x‖₀ = 1, S_1(x) = 1": eq. 43 is followed.
    """
    Z = np.atleast_2d(np.asarray(Z, dtype=np.float64))
    n = Z.shape[1]
    if n < 2:
        raise ValueError("sparsity_p needs vectors of at least 2 entries")
    Np = (((n - 1) ** (p - 1) + 1) / n ** (p - 1)) ** (1 / p)
    num = np.sum(np.abs(Z - Z.mean(axis=1, keepdims=True)) ** p, axis=1) / (n - 1)
    den = np.sum(np.abs(Z) ** p, axis=1) / n
    ratio = np.where(den > 0, num / np.where(den > 0, den, 1.0), 0.0)
    return float(np.mean(ratio ** (1 / p) / Np))


def sparsity_1(Z: np.ndarray) -> float:
    """The 1-sparsity (Appendix F, eq. 43 with p = 1), averaged over samples: the paper's Fig. 2d / 4 measure."""
    return sparsity_p(Z, 1.0)


def l0_norms(Z: np.ndarray, tol: float = 1e-8) -> np.ndarray:
    """‖z_i‖₀ per sample: entries with |z| > tol·max|z_i| (the projections give exact zeros)."""
    Z = np.atleast_2d(np.asarray(Z, dtype=np.float64))
    scale = np.abs(Z).max(axis=1, keepdims=True)
    return np.sum(np.abs(Z) > tol * np.where(scale > 0, scale, 1.0), axis=1) * (scale[:, 0] > 0)


def l0_mode(Z: np.ndarray, tol: float = 1e-8) -> int:
    """The most frequent ‖z_i‖₀ (the smallest one on a tie): 2 on two moons means piecewise-linear (§6.3)."""
    counts = np.bincount(l0_norms(Z, tol))
    return int(np.argmax(counts))


def dictionary_error(A_true: np.ndarray, A_est: np.ndarray) -> float:
    """1 - mean over true atoms of the largest cos² with an estimated atom (columns; 0 = every atom found)."""
    A = np.asarray(A_true, dtype=np.float64)
    B = np.asarray(A_est, dtype=np.float64)
    An = A / np.maximum(np.linalg.norm(A, axis=0), 1e-300)
    Bn = B / np.maximum(np.linalg.norm(B, axis=0), 1e-300)
    return float(1.0 - np.mean(np.max((An.T @ Bn) ** 2, axis=1)))
