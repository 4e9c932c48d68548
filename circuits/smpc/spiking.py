"""SMPC's spiking twin of the inference dynamics: latents inferred by spiking units from fixed synapses.

The rate circuit's neural iteration (reference.neural_step) read as a continuous-time flow with one iteration
per ``tau`` seconds: each state s ∈ {y, z, ζ} relaxes toward the value the iteration would give it,
τ ds/dt = s_next(ŷ, ẑ, ζ̂) − s, where every input a unit receives from *another* population arrives as spikes:

* each unit of y, z, ζ is an ON/OFF pair of integrate-and-fire encoders of its signed value a (the pair fires
  at r_max |a|: the accumulator u integrates r_max a dt and emits a +1 spike at u ≥ 1 or a −1 spike at
  u ≤ −1, resetting by subtraction — deterministic, so the spike count in any window is r_max ∫a dt ± 1);
* the receiving synapses filter the spikes with an exponential trace of time constant ``tau_syn`` scaled by
  1/(r_max τ_syn), so that â → a for a constant a.

So ŷ (feeding ζ), ẑ (feeding ζ) and ζ̂ (feeding y and, through Ωᵀ, the dendrites v) replace y, z, ζ in the
iteration; a unit's own state is exact (it is the unit's membrane). The fixed point of the flow is the rate
circuit's fixed point; the spiking twin approaches it with an error that shrinks as r_max τ_syn grows. The
twin is written in torch (forward Euler at ``dt``): it exists to measure latent error, R² and spike counts
against simulated time (experiments/smpc/spiking_smpc.py), not to be verified against Brian2 step by step.
"""

from __future__ import annotations

import torch

from . import reference
from .params import SMPCParams

__all__ = ["run"]


def _encode(u, a, r_max, dt):
    """Signed integrate-and-fire encoder: returns (new accumulator, spikes in {−1, 0, +1})."""
    u = u + r_max * a * dt
    spikes = (u >= 1).to(a.dtype) - (u <= -1).to(a.dtype)
    return u - spikes, spikes


def run(p: SMPCParams, W, x, *, t_sample: float, dt: float = 1e-4, tau: float = 2e-2, r_max: float = 1000.0,
        tau_syn: float = 2e-3, record_every: int = 10, state=None):
    """Infer the latents of ``x`` (n, N) with spiking communication for ``t_sample`` seconds.

    Returns a dict: ``t`` (recorded times), ``z`` (n_rec, n, K) the latent states, ``z_rate`` (n, K) the
    latents read from the spike counts of the last half of the trial, ``spikes`` {population: total count},
    ``rate_hz`` {population: mean rate per unit}. Step sizes are those of ``p`` (use
    reference.stable_steps for learned synapses).
    """
    dtype = x.dtype
    n = x.shape[0]
    y, z, zeta = reference.cold_state(p, n, dtype) if state is None else state
    hat = {"y": y.clone(), "z": z.clone(), "zeta": zeta.clone()}
    acc = {k: torch.zeros_like(v) for k, v in hat.items()}
    count = {k: 0.0 for k in hat}
    late = torch.zeros_like(z)
    steps = int(round(t_sample / dt))
    half = steps // 2
    a = dt / tau
    decay = torch.exp(torch.as_tensor(-dt / tau_syn, dtype=dtype))
    ts, zs = [], []
    Om = W["Omega"]
    for k in range(steps):
        # The iteration's targets from the spiking estimates of the other populations.
        zeta_t = reference.interneuron(p, Om, hat["y"], hat["z"], zeta)
        y_t = y + p.neural_rates[0] * (x @ W["W"] - y @ W["M"] + hat["zeta"])
        v = z - p.neural_rates[1] * (hat["zeta"] @ Om.T)
        z_t = reference.latent_update(p, v, z)
        zeta = zeta + a * (zeta_t - zeta)
        y = y + a * (y_t - y)
        z = z + a * (z_t - z)
        for name, val in (("y", y), ("z", z), ("zeta", zeta)):
            acc[name], s = _encode(acc[name], val, r_max, dt)
            hat[name] = hat[name] * decay + s / (r_max * tau_syn)
            count[name] += float(s.abs().sum())
            if name == "z" and k >= half:
                late = late + s
        if (k + 1) % record_every == 0 or k == steps - 1:
            ts.append((k + 1) * dt)
            zs.append(z.clone())
    sizes = {"y": p.n_y, "z": p.n_latent, "zeta": p.n_y}
    return {
        "t": torch.as_tensor(ts),
        "z": torch.stack(zs),
        "z_rate": late / (r_max * (steps - half) * dt),
        "spikes": count,
        "rate_hz": {k: count[k] / (n * sizes[k] * steps * dt) for k in count},
    }
