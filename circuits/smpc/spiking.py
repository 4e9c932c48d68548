"""SMPC's spiking twin of the inference dynamics: latents inferred by spiking units from fixed synapses.

The rate circuit's neural iteration (reference.neural_step) read as a continuous-time flow with one iteration
per ``tau`` seconds: each state s ∈ {y, z, ζ} relaxes toward the value the iteration would give it,
τ ds/dt = s_next(ŷ, ẑ, ζ̂) − s, where every input a unit receives from another unit arrives as spikes:

* each unit of y, z, ζ is a signed integrate-and-fire encoder of its value a (ON and OFF spikes: the
  accumulator u integrates r_max a dt and emits a +1 spike at u ≥ 1 or a −1 spike at u ≤ −1, resetting by
  subtraction — deterministic, so the spike count in any window is r_max ∫a dt ± 1);
* the receiving synapses filter the spikes with a trace of time constant ``tau_syn`` (forward Euler decay
  1 − dt/τ_syn per step, the convention of neuromorph/spiking.py) scaled by 1/(r_max τ_syn), so â → a for a
  constant a.

ŷ (feeding ζ, and y itself through the lateral M), ẑ (feeding ζ through Ω) and ζ̂ (feeding y and, through Ωᵀ,
the dendrites v) replace y, z, ζ in the iteration; a unit's own state (its membrane) and the clamped input x
are exact. The fixed point of the flow is the rate circuit's fixed point; the twin approaches it with an error
that shrinks as r_max τ_syn grows.

Two implementations of the same twin, forward Euler at ``dt`` with the same step order:

* :func:`run` — torch, the independent reference (every sample side by side as rows; ℓ1 and simplex);
* :func:`run_brian` — Brian2: populations Y, Z, Zeta as NeuronGroups (one unit per sample and neuron; the
  ON spike is the group's threshold event, the OFF spike a custom event ``neg``), the synapses M (Y → Y),
  identity (Zeta → Y, Y → Zeta), Ω (Z → Zeta) and Ωᵀ (Zeta → Z) as Synapses, block-diagonal over samples.
  ℓ1 latents only: the simplex projection couples all latent units of a sample inside one iteration (the rate
  model's sort-free form needs chained summed variables per step), which the torch twin keeps.

Within one step (both): the targets are computed from the traces at the start of the step; every state takes
its Euler step; every trace decays; each unit's accumulator integrates its new value and fires; the spikes
are added to the traces. tests/test_smpc_spiking.py checks Brian2 == torch (spike counts and latents).
"""

from __future__ import annotations

import numpy as np
import torch

from neuromorph.errors import ConfigError, ShapeError

from . import reference
from .params import SMPCParams

__all__ = ["run", "run_brian"]


def _encode(u, a, r_max, dt):
    """Signed integrate-and-fire encoder: returns (new accumulator, spikes in {−1, 0, +1})."""
    u = u + r_max * a * dt
    spikes = (u >= 1).to(a.dtype) - (u <= -1).to(a.dtype)
    return u - spikes, spikes


def _check(t_sample, dt, tau, r_max, tau_syn, record_every):
    for name, v in (("t_sample", t_sample), ("dt", dt), ("tau", tau), ("r_max", r_max), ("tau_syn", tau_syn)):
        if not (isinstance(v, (int, float)) and np.isfinite(v) and v > 0):
            raise ConfigError(f"smpc spiking twin: {name} must be a positive number, got {v!r}")
    if dt >= tau or dt >= tau_syn:
        raise ConfigError(f"smpc spiking twin: dt ({dt} s) must be below tau ({tau} s) and tau_syn ({tau_syn} s) "
                          "(forward Euler steps of the flow and of the traces)")
    if not isinstance(record_every, int) or record_every < 1:
        raise ConfigError(f"smpc spiking twin: record_every must be a positive integer (steps), got {record_every!r}")
    steps = int(round(t_sample / dt))
    if steps < 2:
        raise ConfigError(f"smpc spiking twin: t_sample ({t_sample} s) must be at least two steps of dt ({dt} s)")
    return steps


def run(p: SMPCParams, W, x, *, t_sample: float, dt: float = 1e-4, tau: float = 2e-2, r_max: float = 1000.0,
        tau_syn: float = 2e-3, record_every: int = 10, state=None):
    """Infer the latents of ``x`` (n, N) with spiking communication for ``t_sample`` seconds (torch).

    Returns a dict: ``t`` (recorded times), ``z`` (n_rec, n, K) the latent states, ``z_rate`` (n, K) the
    latents read from the spike counts of the last half of the trial, ``counts`` {population: (n, units)
    signed spike counts}, ``spikes`` {population: total count}, ``rate_hz`` {population: mean rate per unit}.
    Step sizes are those of ``p`` (use reference.stable_steps for learned synapses).
    """
    steps = _check(t_sample, dt, tau, r_max, tau_syn, record_every)
    dtype = x.dtype
    n = x.shape[0]
    y, z, zeta = reference.cold_state(p, n, dtype) if state is None else state
    hat = {"y": y.clone(), "z": z.clone(), "zeta": zeta.clone()}
    acc = {k: torch.zeros_like(v) for k, v in hat.items()}
    signed = {k: torch.zeros_like(v) for k, v in hat.items()}
    count = {k: 0.0 for k in hat}
    late = torch.zeros_like(z)
    half = steps // 2
    a = dt / tau
    decay = 1.0 - dt / tau_syn  # forward Euler, as the Brian2 twin integrates its traces
    ts, zs = [], []
    Om = W["Omega"]
    eta_y, eta_z = p.neural_rates
    drive = x @ W["W"]
    for k in range(steps):
        # The iteration's targets from the spiking estimates (start-of-step traces) and the units' own state.
        zeta_t = reference.interneuron(p, Om, hat["y"], hat["z"], zeta)
        y_t = y + eta_y * (drive - hat["y"] @ W["M"] + hat["zeta"])
        v = z - eta_z * (hat["zeta"] @ Om.T)
        z_t = reference.latent_update(p, v, z)
        zeta = zeta + a * (zeta_t - zeta)
        y = y + a * (y_t - y)
        z = z + a * (z_t - z)
        for name, val in (("y", y), ("z", z), ("zeta", zeta)):
            acc[name], s = _encode(acc[name], val, r_max, dt)
            hat[name] = hat[name] * decay + s / (r_max * tau_syn)
            count[name] += float(s.abs().sum())
            signed[name] += s
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
        "counts": signed,
        "spikes": count,
        "rate_hz": {k: count[k] / (n * sizes[k] * steps * dt) for k in count},
    }


def _block_synapses(pre, post, weights: np.ndarray, target: str, n: int, inc: float, name: str):
    """ON and OFF Synapses carrying ``pre``'s spikes into ``post``'s trace ``target`` with the per-sample matrix
    ``weights`` (n_pre, n_post) repeated block-diagonally over the ``n`` samples; zero weights make no synapse."""
    from brian2 import Synapses

    ii, jj = np.nonzero(weights)
    n_pre, n_post = weights.shape
    s = np.repeat(np.arange(n), len(ii))
    pre_idx = (s * n_pre + np.tile(ii, n)).astype(np.int32)
    post_idx = (s * n_post + np.tile(jj, n)).astype(np.int32)
    w = np.tile(weights[ii, jj], n)
    out = []
    for sign, event in (("+", "spike"), ("-", "neg")):
        S = Synapses(pre, post, "w : 1 (constant)", on_pre=f"{target}_post {sign}= w*{inc!r}", on_event=event,
                     name=f"{name}_{'on' if sign == '+' else 'off'}")
        if len(pre_idx):
            S.connect(i=pre_idx, j=post_idx)
            S.w = w
        out.append(S)
    return out


def run_brian(p: SMPCParams, W, x, *, t_sample: float, dt: float = 1e-4, tau: float = 2e-2, r_max: float = 1000.0,
              tau_syn: float = 2e-3, record_every: int = 10, state=None, target: str = "numpy"):
    """:func:`run` as a Brian2 network (runtime target ``"numpy"`` or ``"cython"``); the same return value.

    ``W``: the circuit's synapses (torch or numpy, stored (pre, post)); ``x``: (n, N). ℓ1 latents only.
    """
    import brian2
    from brian2 import EventMonitor, Hz, Network, NeuronGroup, SpikeMonitor, defaultclock, second

    if p.constraint != "l1":
        raise ConfigError("smpc spiking twin: the Brian2 twin infers ℓ1 latents only (the simplex projection couples "
                          "a sample's latent units within one step); use circuits.smpc.spiking.run (torch) for the simplex")
    if target not in ("numpy", "cython"):
        raise ConfigError(f"smpc spiking twin: target must be 'numpy' or 'cython', got {target!r}")
    steps = _check(t_sample, dt, tau, r_max, tau_syn, record_every)
    Wn = {k: np.asarray(v.detach().numpy() if isinstance(v, torch.Tensor) else v, dtype=np.float64) for k, v in W.items()}
    xn = np.asarray(x.detach().numpy() if isinstance(x, torch.Tensor) else x, dtype=np.float64)
    if xn.ndim != 2 or xn.shape[1] != p.n_in:
        raise ShapeError(f"smpc spiking twin: x has shape {xn.shape}, expected (n, {p.n_in})")
    n, K, ny = len(xn), p.n_latent, p.n_y
    if state is None:
        y0, z0, zeta0 = (t.numpy() for t in reference.cold_state(p, n))
    else:
        y0, z0, zeta0 = (np.asarray(t.detach().numpy() if isinstance(t, torch.Tensor) else t, dtype=np.float64) for t in state)
    eta_y, eta_z = p.neural_rates
    inc = 1.0 / (r_max * tau_syn)
    ns = {"tau": tau * second, "tau_syn": tau_syn * second, "r_max": r_max * Hz, "eta_y": eta_y, "eta_z": eta_z,
          "lam": p.lam, "rho": p.rho, "eta_zeta": p.eta_zeta}
    encoder = "u : 1"
    l1 = ("sign(v)*clip(abs(v) - eta_z*lam, 0, inf)" if p.l1_form == "soft" else "v - eta_z*lam*sign(z)")
    zeta_flow = ("(rho*(I_pred - I_y) - zeta)/tau" if p.interneuron == "fixed"
                 else "eta_zeta*(I_pred - I_y - zeta/rho)/tau")
    eqs = {
        "Y": f"""dy/dt = eta_y*(drive - I_M + I_zeta)/tau : 1
                 drive : 1 (constant)
                 dI_M/dt = -I_M/tau_syn : 1
                 dI_zeta/dt = -I_zeta/tau_syn : 1
                 {encoder}""",
        "Z": f"""dz/dt = (z_next - z)/tau : 1
                 v = z - eta_z*I_back : 1
                 z_next = {l1} : 1
                 dI_back/dt = -I_back/tau_syn : 1
                 {encoder}""",
        "Zeta": f"""dzeta/dt = {zeta_flow} : 1
                    dI_pred/dt = -I_pred/tau_syn : 1
                    dI_y/dt = -I_y/tau_syn : 1
                    {encoder}""",
    }
    state_var = {"Y": "y", "Z": "z", "Zeta": "zeta"}
    sizes = {"Y": ny, "Z": K, "Zeta": ny}
    old_target, old_dt = brian2.prefs.codegen.target, defaultclock.dt
    brian2.prefs.codegen.target = target
    try:
        defaultclock.dt = dt * second
        groups = {}
        for order, (name, e) in enumerate(eqs.items()):
            var = state_var[name]
            G = NeuronGroup(n * sizes[name], e, threshold="u >= 1", reset="u -= 1", events={"neg": "u <= -1"},
                            method="euler", name=f"smpc_spk_{name}", namespace=ns, order=order)
            G.run_on_event("neg", "u += 1")
            # The encoder integrates the unit's new value: after the state update, before the thresholds.
            G.run_regularly(f"u += r_max*{var}*dt", when="groups", order=order + 0.5, name=f"smpc_spk_{name}_encode")
            groups[name] = G
        Y, Z, Zeta = groups["Y"], groups["Z"], groups["Zeta"]
        Y.drive = (xn @ Wn["W"]).ravel()
        Y.y, Z.z, Zeta.zeta = y0.ravel(), z0.ravel(), zeta0.ravel()
        # The traces start at the spiking estimates' values of the start state (torch: ŷ = y0, ẑ = z0, ζ̂ = ζ0).
        Y.I_M, Y.I_zeta = (y0 @ Wn["M"]).ravel(), zeta0.ravel()
        Z.I_back = (zeta0 @ Wn["Omega"].T).ravel()
        Zeta.I_pred, Zeta.I_y = (z0 @ Wn["Omega"]).ravel(), y0.ravel()
        eye = np.eye(ny)
        syns = [
            *_block_synapses(Y, Y, Wn["M"], "I_M", n, inc, "smpc_spk_M"),
            *_block_synapses(Zeta, Y, eye, "I_zeta", n, inc, "smpc_spk_zeta_y"),
            *_block_synapses(Zeta, Z, Wn["Omega"].T, "I_back", n, inc, "smpc_spk_OmegaT"),
            *_block_synapses(Z, Zeta, Wn["Omega"], "I_pred", n, inc, "smpc_spk_Omega"),
            *_block_synapses(Y, Zeta, eye, "I_y", n, inc, "smpc_spk_y_zeta"),
        ]
        mons = {name: (SpikeMonitor(G, record=True, name=f"smpc_spk_{name}_on"),
                       EventMonitor(G, "neg", record=True, name=f"smpc_spk_{name}_off")) for name, G in groups.items()}
        net = Network(*groups.values(), *syns, *(m for pair in mons.values() for m in pair))
        ts, zs = [], []
        done = 0
        while done < steps:
            chunk = min(record_every - done % record_every, steps - done)
            net.run(chunk * dt * second, namespace={})  # names resolve in the groups' namespaces only
            done += chunk
            ts.append(done * dt)
            zs.append(np.asarray(Z.z[:], dtype=np.float64).reshape(n, K).copy())
    finally:
        brian2.prefs.codegen.target = old_target
        defaultclock.dt = old_dt
    half = steps // 2
    counts, total, late = {}, {}, np.zeros((n, K))
    for name, (on, off) in mons.items():
        c = np.zeros(n * sizes[name])
        for mon, sgn in ((on, 1.0), (off, -1.0)):
            idx = np.asarray(mon.i[:], dtype=np.int64)
            np.add.at(c, idx, sgn)
            if name == "Z":
                k = np.rint(np.asarray(mon.t_[:], dtype=float) / dt).astype(np.int64)
                np.add.at(late.reshape(-1), idx[k >= half], sgn)
        key = state_var[name]
        counts[key] = torch.as_tensor(c.reshape(n, sizes[name]))
        total[key] = float(on.num_spikes + off.num_events)
    return {
        "t": torch.as_tensor(ts),
        "z": torch.as_tensor(np.stack(zs)),
        "z_rate": torch.as_tensor(late / (r_max * (steps - half) * dt)),
        "counts": counts,
        "spikes": total,
        "rate_hz": {state_var[g]: total[state_var[g]] / (n * sizes[g] * steps * dt) for g in groups},
    }
