"""SMPC's independent torch reference: eqs. 39–42 as written in params.py's docstring, a window's trials
side by side (the weights are constant within it).

Imports neither Brian2 nor brian_model (tests/test_contract.py checks): written from the paper's equations.
The simplex projection here is the sorting algorithm of Appendix B (eq. 21); Brian2 uses a sort-free form of
the same map (params.py, reading 2), so the equivalence check also checks one against the other.
"""

from __future__ import annotations

import numpy as np
import torch

from neuromorph.circuit import Trace

from .params import PLASTIC, SMPCParams

__all__ = ["project_simplex", "soft_threshold", "latent_update", "interneuron", "neural_step", "run_trials",
           "synaptic_update", "simulate", "cold_state", "infer", "stable_steps", "generative_map", "r2_score", "normalise"]


def soft_threshold(v: torch.Tensor, thr: float) -> torch.Tensor:
    """S_thr(v) = sign(v) max(|v| − thr, 0)."""
    return torch.sign(v) * torch.clamp(v.abs() - thr, min=0)


def project_simplex(v: torch.Tensor) -> torch.Tensor:
    """Euclidean projection of each row of ``v`` onto the probability simplex (Appendix B, eq. 21): sort
    decreasing, ρ = max{j : u_j − (Σ_{r≤j} u_r − 1)/j > 0}, θ = (Σ_{r≤ρ} u_r − 1)/ρ, z = max(0, v − θ)."""
    u, _ = torch.sort(v, dim=-1, descending=True)
    css = torch.cumsum(u, dim=-1) - 1
    j = torch.arange(1, v.shape[-1] + 1, dtype=v.dtype, device=v.device)
    cond = (u - css / j) > 0
    rho = cond.to(v.dtype).cumprod(dim=-1).sum(dim=-1, keepdim=True).clamp(min=1)  # prefix: first failure ends it
    theta = torch.gather(css, -1, rho.long() - 1) / rho
    return torch.clamp(v - theta, min=0)


def latent_update(p: SMPCParams, v: torch.Tensor, z_prev: torch.Tensor) -> torch.Tensor:
    """z = f(v, z_prev) (eq. 40): soft threshold, subgradient step, or the simplex projection."""
    if p.constraint == "simplex":
        return project_simplex(v)
    eta_z = p.neural_rates[1]
    if p.l1_form == "soft":
        return soft_threshold(v, eta_z * p.lam)
    return v - eta_z * p.lam * torch.sign(z_prev)


def interneuron(p: SMPCParams, Om, y, z, zeta):
    """ζ after one interneuron step: the fixed point ρ(Ωz − y) or eq. 41 (Om: (K, n_y) = Ωᵀ)."""
    pred = z @ Om  # (Ω z)ᵀ
    if p.interneuron == "fixed":
        return p.rho * (pred - y)
    return zeta + p.eta_zeta * (pred - y - zeta / p.rho)


def neural_step(p: SMPCParams, W, x, y, z, zeta):
    """One neural iteration (params.py, reading 3): ζ first, then eqs. 39 and 40 from it. Returns y, v, z, ζ."""
    eta_y, eta_z = p.neural_rates
    zeta = interneuron(p, W["Omega"], y, z, zeta)
    y_new = y + eta_y * (x @ W["W"] - y @ W["M"] + zeta)  # eq. 39
    v = z - eta_z * (zeta @ W["Omega"].T)  # eq. 40: the dendrite at its fixed point
    z_new = latent_update(p, v, z)
    return y_new, v, z_new, zeta


def run_trials(p: SMPCParams, W, x, y, z, zeta, record=None):
    """One trial per row: ``n_neural`` iterations, then the synaptic phase's interneuron step (y, z frozen).

    ``record[name][:, k]`` (name in y, v, z, zeta) receives the state after step k if given.
    Returns the final y, v, z, ζ.
    """
    v = z.clone()
    for k in range(p.n_neural):
        y, v, z, zeta = neural_step(p, W, x, y, z, zeta)
        if record is not None:
            for name, val in (("y", y), ("v", v), ("z", z), ("zeta", zeta)):
                record[name][:, k] = val
    zeta = interneuron(p, W["Omega"], y, z, zeta)  # the synaptic phase: ζ^{k+1} from y^{k+1}, z^{k+1}
    if record is not None:
        for name, val in (("y", y), ("v", v), ("z", z), ("zeta", zeta)):
            record[name][:, p.n_neural] = val
    return y, v, z, zeta


def synaptic_update(p: SMPCParams, W, x, y, z, zeta, lr_scale: float = 1.0) -> dict:
    """Eq. 42, ``n_synaptic`` literal steps with the activities held (reading 6); batch means ⟨·⟩ (or sums with
    ``batch_sum``, reading 10)."""
    n = x.shape[0]
    gain = 1.0 / n if not p.batch_sum else 1.0
    eta_w, eta_m = (p.eta_w, p.eta_m) if not p.batch_sum else (p.eta_w / n, p.eta_m / n)
    yx = gain * (x.T @ y)  # ⟨y xᵀ⟩ (or Σ) in (pre, post) = (x, y) orientation
    yy = gain * (y.T @ y)
    zz = z.T @ zeta / n  # ⟨ζ zᵀ⟩ᵀ: (K, n_y)
    out = dict(W)
    for _ in range(p.n_synaptic):
        out["W"] = out["W"] + lr_scale * eta_w * (yx - out["W"])
        out["M"] = out["M"] + lr_scale * eta_m * (yy - out["M"])
        out["Omega"] = out["Omega"] - lr_scale * p.eta_omega * zz
    return out


def simulate(p: SMPCParams, weights, data, n_trials: int, dtype=torch.float64) -> Trace:
    """The circuit on ``data`` (x, y0, z0, zeta0 per trial), windows of ``batch`` trials side by side."""
    T = p.n_steps
    W = {k: torch.as_tensor(np.asarray(v), dtype=dtype) for k, v in weights.items()}
    t = {k: torch.as_tensor(np.asarray(data[k]), dtype=dtype) for k in ("x", "y0", "z0", "zeta0")}
    sizes = {"y": p.n_y, "v": p.n_latent, "z": p.n_latent, "zeta": p.n_y}
    rec = {n: torch.zeros(n_trials, T, m, dtype=dtype) for n, m in sizes.items()}
    history = {k: [] for k in PLASTIC}
    for start in range(0, n_trials, p.batch):
        sl = slice(start, min(start + p.batch, n_trials))
        view = {k: v[sl] for k, v in rec.items()}
        y, _, z, zeta = run_trials(p, W, t["x"][sl], t["y0"][sl], t["z0"][sl], t["zeta0"][sl], record=view)
        if sl.stop - sl.start == p.batch:  # a full window: Brian2 applies the update at its last step too
            W = synaptic_update(p, W, t["x"][sl], y, z, zeta)
            for k in PLASTIC:
                history[k].append(W[k].clone())
    return Trace(
        states={k: v.numpy() for k, v in rec.items()},
        weights={k: (torch.stack(v).numpy() if v else np.zeros((0, *W[k].shape))) for k, v in history.items()},
    )


def cold_state(p: SMPCParams, n: int, dtype=torch.float64):
    """The state inference on unseen samples starts from (reading 7): y = 0, ζ = 0, z = 0 (ℓ1) or 1/K."""
    z = torch.full((n, p.n_latent), 1.0 / p.n_latent if p.constraint == "simplex" else 0.0, dtype=dtype)
    return torch.zeros(n, p.n_y, dtype=dtype), z, torch.zeros(n, p.n_y, dtype=dtype)


def stable_steps(p: SMPCParams, W) -> SMPCParams:
    """``p`` with η_Z, η_Y clipped to the stability bounds of the learned synapses: η_Z ≤ 1/(ρ λ_max(ΩᵀΩ))
    (the latent step is a gradient step on (ρ/2)‖y − Ωz‖², Lipschitz constant ρ λ_max(ΩᵀΩ)) and
    η_Y ≤ 1/λ_max(M + ρI). The fixed points are those of the circuit's own steps (the ℓ1 threshold scales
    with η_Z as the prox of λ‖z‖₁ does); only the approach to them changes. Learning grows Ω (the relaxed
    objective is invariant to Ω → cΩ, z → z/c except for λ‖z‖₁), so the paper's η_Z = 0.1 can leave the
    stable range of the learned circuit: inference on new samples from a cold start then diverges."""
    import dataclasses

    Om = W["Omega"].double()
    l_z = p.rho * float(torch.linalg.eigvalsh(Om @ Om.T).max())
    Msym = 0.5 * (W["M"] + W["M"].T).double()
    l_y = float(torch.linalg.eigvalsh(Msym + p.rho * torch.eye(p.n_y, dtype=torch.float64)).abs().max())
    # batch_sum off: the fixed points do not depend on the step sizes, so inference takes full steps.
    return dataclasses.replace(p, eta_z=min(p.eta_z, 1.0 / l_z), eta_y=min(p.eta_y, 1.0 / l_y), batch_sum=False)


def infer(p: SMPCParams, W, x, n_iter: int, state=None):
    """Latents of samples ``x`` from fixed synapses: ``n_iter`` neural iterations (no plasticity)."""
    y, z, zeta = cold_state(p, x.shape[0], x.dtype) if state is None else state
    for _ in range(n_iter):
        y, _, z, zeta = neural_step(p, W, x, y, z, zeta)
    return y, z, interneuron(p, W["Omega"], y, z, zeta)


def normalise(x):
    """Variance normalisation of §7.1: x_i / sqrt(mean_j ‖x_j‖²)."""
    return x / torch.sqrt((x * x).sum(dim=1).mean())


def generative_map(x, z, Om):
    """Â = X Zᵀ(ΩᵀΩ)/T (§7), rows of x, z are samples; Om = Ωᵀ (K, n_y). Returns Â (N, K)."""
    return x.T @ z @ (Om @ Om.T) / x.shape[0]


def r2_score(x, xhat) -> float:
    """R² = 1 − Σ‖x − x̂‖² / Σ‖x − x̄‖² (over samples and features)."""
    ss_res = ((x - xhat) ** 2).sum()
    ss_tot = ((x - x.mean(dim=0)) ** 2).sum()
    return float(1.0 - ss_res / ss_tot)
