"""Linear theory of §5 (eqs. 7–9): gradient flow of a deep linear network with feedback matrices.

Network y = x W_1 W_2 ⋯ W_k (row vectors, (n_pre, n_post) matrices as everywhere in neuromorph), inputs
X = I (so the targets are a matrix T, n_0 × n_k) and quadratic loss ½|T − W_1⋯W_k|². Forward Euler steps
of size ``dt`` of

    Ẇ_l = (W_1⋯W_{l-1})ᵀ δ_l,   δ_k = E = T − W_1⋯W_k,   δ_{l-1} = δ_l F_l,
    F_l = W_lᵀ (BP) or R_l (feedback matrices),   Ṙ_l = ε Ẇ_lᵀ   (eq. 7; ε = 0 FRFB, ε = 1 URFB).

R_1 carries no signal (nothing lies below the input) but is updated like the others, so that the W–Rᵀ
correlation of the first layer can be plotted as in Fig. 12. With W(0) = 0 the update keeps
R_l = R_l(0) + ε W_lᵀ (eq. 8), which the tests check.

§5.1's setting: n = (40, 100, 100, 10), T = W*_1 W*_2 W*_3 with N(0, 2²) entries. The paper gives no step
size nor the scale of R(0); we rescale T to spectral norm 1 (Appendix 2 assumes 0 < λ_T ≤ 1 without loss of
generality: scaling T only rescales time) and draw R_l(0) ~ N(0, r_sd²/n_l) small (Theorem 2 assumes
λ_R ≪ λ_T); BP starts from W_l(0) ~ N(0, w_sd²/n_{l-1}) (it cannot leave W = 0, a saddle).
Step size: dt = 0.25 (forward Euler of the ODEs). At dt = 0.5 the ε = 1 runs become unstable near the end
(one of three seeds stalls at 1e-1), the discretisation, not the ODE; dt = 0.25 and dt = 0.1 give the same
ordering in every run.
"""

from __future__ import annotations

import numpy as np

__all__ = ["target_matrix", "simulate_linear", "corr"]


def corr(a: np.ndarray, b: np.ndarray) -> float:
    a = a.ravel() - a.mean()
    b = b.ravel() - b.mean()
    den = np.linalg.norm(a) * np.linalg.norm(b)
    return float(a @ b / den) if den > 0 else 0.0


def target_matrix(sizes, seed: int, sd: float = 2.0) -> np.ndarray:
    """T = W*_1 ⋯ W*_k with N(0, sd²) entries (§5.1), rescaled to spectral norm 1."""
    rng = np.random.default_rng([seed, 0])
    T = np.eye(sizes[0])
    for a, b in zip(sizes[:-1], sizes[1:]):
        T = T @ rng.normal(0.0, sd, size=(a, b))
    return T / np.linalg.norm(T, 2)


def simulate_linear(
    sizes=(40, 100, 100, 10),
    *,
    eps: float | None,
    seed: int,
    iters: int = 1000,
    dt: float = 0.25,
    r_sd: float = 0.1,
    w_sd: float = 0.3,
    record_every: int = 10,
) -> dict:
    """One run: ``eps`` = None is BP (feedback through Wᵀ, random W(0)); a number is eq. (7) with W(0) = 0.

    Returns {"error": tr(EᵀE) before each step (iters values), "corr": {layer l: [corr(W_l, R_lᵀ) every
    ``record_every`` steps]} (absent for BP), "weights": final W and R}.
    """
    T = target_matrix(sizes, seed)
    rng = np.random.default_rng([seed, 1])
    k = len(sizes) - 1
    R = [rng.normal(0.0, r_sd / np.sqrt(sizes[l + 1]), size=(sizes[l + 1], sizes[l])) for l in range(k)]
    if eps is None:
        W = [rng.normal(0.0, w_sd / np.sqrt(sizes[l]), size=(sizes[l], sizes[l + 1])) for l in range(k)]
    else:
        W = [np.zeros((sizes[l], sizes[l + 1])) for l in range(k)]
    errors = np.empty(iters)
    corrs = {l + 1: [] for l in range(k)} if eps is not None else {}
    for it in range(iters):
        if eps is not None and it % record_every == 0:
            for l in range(k):
                corrs[l + 1].append(corr(W[l], R[l].T))
        prefix = [np.eye(sizes[0])]  # W_1⋯W_{l-1} for l = 1..k
        for l in range(k - 1):
            prefix.append(prefix[-1] @ W[l])
        E = T - prefix[-1] @ W[k - 1]
        errors[it] = float(np.sum(E * E))
        grads = [None] * k
        delta = E
        for l in range(k - 1, -1, -1):
            grads[l] = prefix[l].T @ delta
            if l > 0:
                delta = delta @ (W[l].T if eps is None else R[l])
        for l in range(k):
            W[l] = W[l] + dt * grads[l]
            if eps is not None and eps != 0.0:
                R[l] = R[l] + eps * dt * grads[l].T
    return {"error": errors, "corr": corrs, "weights": {"W": W, "R": R if eps is not None else None}}
