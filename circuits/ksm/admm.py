"""The KSM ADMM solver (paper §5.1, Algorithm 2, Appendix C), mini-batched, in torch.

Layout: samples are rows. x (B, N), z (B, K), W (K, N) as in the paper (W x_i is ``x @ W.T``), per-sample
P_i and M_i stacked as (T, K, K). c = 1 and D(z) = I for the sparse form (eqs. 13, 22-26), c = 1 + ω and
D(z) = diag(z) for the simplex form (eqs. 31-35).

One mini-batch b (``admm_batch``), for the three schedules of §5.1.2:

* Z-step (eq. 23 / 32): T_z proximal-gradient steps z <- prox(z - η_Z g) with
  g = -c W x + 2ρ Q z (+ ρω diag(Q) for the simplex), Q = z zᵀ + ωD(z) - P_i + M_i/ρ;
  prox = soft threshold at η_Z λ (ℓ1) or the simplex projection.
* P-step, at its fixed point (after eq. 24): P_i = (M_i - WWᵀ/2)/ρ + z zᵀ + ωD(z).
  Schedules 1 and 2 take it after every Z gradient step, Schedule 3 once after the Z-step.
* M-step (eq. 25 / 34): M_i <- M_i + ρ(z zᵀ + ωD(z) - P_i)  (Schedules 2, 3).
* W-step (eq. 26 / 35), one gradient step on the batch mean: W <- W + η_W (c zᵀx/B - mean_b(P_i) W); rows
  renormalised to unit norm when ``normalize_rows``.
* Schedule 1 then sets M_i <- W Wᵀ/2 for every i (Theorem 1).

Schedule 1 in closed form. With M_i = WWᵀ/2 and P_i tracking z, Q = WWᵀ/(2ρ) exactly, so the Z-step is ISTA
(eq. 29), g = -c W x + WWᵀ z (+ (ω/2) diag(WWᵀ) for the simplex), and P_i = z zᵀ + ωD(z) at every step: P_i
and M_i are implied by z and W and are not stored (T·K² numbers each: 18 GB for the paper's MNIST run).
:func:`admm_batch` with explicit P_i, M_i and ``schedule=1`` computes the same step (the tests check it).
"""

from __future__ import annotations

import torch

from .params import KSMParams
from .prox import project_simplex, soft_threshold

__all__ = ["outer_d", "lipschitz", "prox", "z_grad", "ista_grad", "p_fixed_point", "admm_batch", "admm_batch_implicit",
           "infer_codes", "w_step"]


def outer_d(z: torch.Tensor, p: KSMParams) -> torch.Tensor:
    """z zᵀ + ωD(z) for every row of z: (B, K, K). D = I (ℓ1) or diag(z) (simplex)."""
    out = z[:, :, None] * z[:, None, :]
    diag = torch.ones_like(z) if p.constraint == "l1" else z
    return out + p.omega * torch.diag_embed(diag)


def lipschitz(W: torch.Tensor, v: torch.Tensor, iters: int = 3) -> tuple[torch.Tensor, torch.Tensor]:
    """(λ_max(WWᵀ) estimate, the updated power-iteration vector), warm-started from ``v`` (K,).

    A power iteration approaches λ_max from below; the 5 % margin keeps η_Z = 1/L on the safe side of 2/λ_max.
    """
    G = W @ W.T
    for _ in range(iters):
        v = G @ v
        v = v / v.norm()
    return 1.05 * (v @ (G @ v)), v


def prox(v: torch.Tensor, step, p: KSMParams) -> torch.Tensor:
    """The Z-step's proximal operator: soft threshold at step·λ (ℓ1) or the simplex projection."""
    return soft_threshold(v, step * p.lam) if p.constraint == "l1" else project_simplex(v)


def _c(p: KSMParams) -> float:
    return 1.0 if p.constraint == "l1" else 1.0 + p.omega


def z_grad(z, x, W, P, M, p: KSMParams) -> torch.Tensor:
    """Gradient of the smooth part of L_i in z with explicit P_i, M_i (eq. 23; eq. 32 for the simplex)."""
    Q = outer_d(z, p) - P + M / p.rho
    g = -_c(p) * (x @ W.T) + 2 * p.rho * (Q @ z[:, :, None])[:, :, 0]
    if p.constraint == "simplex":
        g = g + p.rho * p.omega * torch.diagonal(Q, dim1=1, dim2=2)
    return g


def ista_grad(z, xW, G, p: KSMParams) -> torch.Tensor:
    """The same gradient when Q = WWᵀ/(2ρ) (Schedule 1; xW = x Wᵀ, G = WWᵀ precomputed)."""
    g = -_c(p) * xW + z @ G
    if p.constraint == "simplex":
        g = g + 0.5 * p.omega * torch.diagonal(G)
    return g


def p_fixed_point(z, M, G, p: KSMParams) -> torch.Tensor:
    """P-step at its fixed point: (M_i - WWᵀ/2)/ρ + z zᵀ + ωD(z)."""
    return (M - G / 2) / p.rho + outer_d(z, p)


def w_step(W, x, z, Pmean, p: KSMParams) -> torch.Tensor:
    """One W gradient step on the batch mean (eq. 26 / 35), rows renormalised if asked."""
    W = W + p.lr_W * (_c(p) * (z.T @ x) / len(x) - Pmean @ W)
    if p.normalize_rows:
        W = W / W.norm(dim=1, keepdim=True).clamp_min(1e-12)
    return W


def admm_batch(W, x, z, P, M, eta, p: KSMParams):
    """One ADMM iteration of Algorithm 2 on a mini-batch with explicit per-sample P_i, M_i.

    Returns (W, z, P, M) after the Z-, P-, M- and W-steps of ``p.schedule``. ``eta`` is η_Z.
    """
    G = W @ W.T
    for _ in range(p.T_z):
        z = prox(z - eta * z_grad(z, x, W, P, M, p), eta, p)
        if p.schedule in (1, 2):
            P = p_fixed_point(z, M, G, p)
    if p.schedule == 3:
        P = p_fixed_point(z, M, G, p)
    if p.schedule in (2, 3):
        M = M + p.rho * (outer_d(z, p) - P)
    W = w_step(W, x, z, P.mean(dim=0), p)
    if p.schedule == 1:
        M = (W @ W.T / 2).expand_as(M).clone()
    return W, z, P, M


def admm_batch_implicit(W, x, z, eta, p: KSMParams):
    """Schedule 1 without stored P_i, M_i (see the module docstring): (W, z)."""
    G = W @ W.T
    xW = x @ W.T
    for _ in range(p.T_z):
        z = prox(z - eta * ista_grad(z, xW, G, p), eta, p)
    if p.constraint == "l1":
        Pmean = z.T @ z / len(z) + p.omega * torch.eye(p.K, dtype=z.dtype, device=z.device)
    else:
        Pmean = z.T @ z / len(z) + p.omega * torch.diag(z.mean(dim=0))
    return w_step(W, x, z, Pmean, p), z


def infer_codes(W, x, p: KSMParams, steps: int, z0=None, chunk: int = 4096, method: str = "ista") -> torch.Tensor:
    """Codes of ``x`` under fixed W: ``steps`` iterations of the Schedule-1 Z-step (ISTA for ℓ1, projected
    gradient for the simplex; Theorem 1) with η_Z = 1/λ_max(WWᵀ), from z = 0 (ℓ1) or the simplex centre (or z0);
    ``method = "fista"`` accelerates them to the same minimiser (used to infer codes of unseen samples: the
    training latents have had T_z steps per epoch for many epochs, a test sample gets ``steps`` in all)."""
    G = W @ W.T
    # the ISTA step 1/L whatever the training schedule: with W fixed the Z-step is convex (ℓ1) or a convex QP
    # on the simplex, and the Schedule-3 damping of training is not needed
    eta = 1.0 / torch.linalg.eigvalsh(G)[-1]
    out = []
    for s in range(0, len(x), chunk):
        xb = x[s : s + chunk]
        if z0 is not None:
            z = z0[s : s + chunk]
        elif p.constraint == "l1":
            z = torch.zeros(len(xb), p.K, dtype=x.dtype, device=x.device)
        else:
            z = torch.full((len(xb), p.K), 1.0 / p.K, dtype=x.dtype, device=x.device)
        xW = xb @ W.T
        if method == "ista":
            for _ in range(steps):
                z = prox(z - eta * ista_grad(z, xW, G, p), eta, p)
        else:  # FISTA (Beck & Teboulle 2009): the same fixed point, reached in O(1/k²) instead of O(1/k)
            y, t = z, 1.0
            for _ in range(steps):
                z_next = prox(y - eta * ista_grad(y, xW, G, p), eta, p)
                t_next = (1 + (1 + 4 * t * t) ** 0.5) / 2
                y = z_next + ((t - 1) / t_next) * (z_next - z)
                z, t = z_next, t_next
        out.append(z)
    return torch.cat(out) if out else torch.zeros(0, p.K, dtype=x.dtype, device=x.device)
