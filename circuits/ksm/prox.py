"""Proximal operators of the Z-step: the soft threshold (ℓ1, eq. 23) and the projection onto the probability
simplex (eq. 32, Appendix B eqs. 20-21).

Both act row-wise on a batch (B, K) of latents, in torch, on whatever device and dtype they are given.
"""

from __future__ import annotations

import torch

__all__ = ["soft_threshold", "project_simplex"]


def soft_threshold(v: torch.Tensor, threshold) -> torch.Tensor:
    """S_t(v) = sign(v) max(|v| - t, 0): the proximal operator of t‖·‖₁ (t >= 0, scalar or broadcastable)."""
    return torch.sign(v) * torch.clamp(v.abs() - threshold, min=0)


def project_simplex(y: torch.Tensor) -> torch.Tensor:
    """Euclidean projection of every row of ``y`` (B, K) onto {z : z >= 0, Σ z = 1} (Appendix B).

    Sort each row decreasingly (u_1 >= ... >= u_K); ρ = max{j : u_j - (Σ_{i<=j} u_i - 1)/j > 0}; the threshold
    λ(y) = (Σ_{i<=ρ} u_i - 1)/ρ is subtracted and the result clipped at 0 (eq. 21): the "subtractive
    normalisation" of the paper. O(K log K) per row (Wang & Carreira-Perpiñán 2013).
    """
    if y.ndim != 2:
        raise ValueError(f"project_simplex expects a (batch, K) tensor, got shape {tuple(y.shape)}")
    u, _ = torch.sort(y, dim=1, descending=True)
    css = torch.cumsum(u, dim=1) - 1
    j = torch.arange(1, y.shape[1] + 1, device=y.device, dtype=y.dtype)
    cond = u - css / j > 0
    # ρ: the last index where the condition holds (it always holds for j = 1)
    rho = cond.to(torch.int64).cumsum(dim=1).argmax(dim=1, keepdim=True)  # position of the last True
    # argmax of a non-decreasing count returns the first occurrence of its maximum: the last True
    lam = css.gather(1, rho) / (rho + 1).to(y.dtype)
    return torch.clamp(y - lam, min=0)
