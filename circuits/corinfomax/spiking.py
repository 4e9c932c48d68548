"""The spiking twin of CorInfoMax's free phase (dense variant): inference with spikes, checked against the
rate model's free-phase rates (``reference.free_rates``)."""

from __future__ import annotations

import numpy as np

from .params import CorInfoMaxParams, lateral_coefficients
from .reference import free_rates

__all__ = ["build_spiking"]


def build_spiking(params: CorInfoMaxParams, dt: float, weights, x: np.ndarray, *, name: str = "corinfomax",
                  encoding="poisson", t_sample=0.2, r_max=None, tau_syn=None):
    """Spiking twin of the free phase (dense variant, B∞,+): one trial of ``t_sample`` s per row of ``x``.

    Layer 0 fires at r_max·x. Layer k integrates eq. 19 at the constant step μ_u per Brian2 step
    (du/dt = μ_u·F(u)/dt, i.e. one step = one iteration of Algorithm 1 without the μ decay, which changes
    the speed of convergence but not the fixed point) with every summed input replaced by a synaptic trace
    (τ_syn): I_ff ← spikes of layer k−1 through W_ff^(k−1), I_fb ← layer k+1 through W_fb^(k), I_lat ← layer
    k itself through c·B^(k) (autapses included; c = 2εγ hidden, γ output); the g·r self term reads the
    unit's own rate ρ locally. Units fire at r_max·σ₊(u). Every trial starts from u = 0 with empty traces;
    the prediction is the argmax of the output layer's spike count over the last half of the trial.
    Reference rates: the rate model at the end of its free phase. ``weights`` and ``x`` are checked by the
    caller (``CorInfoMax.build_spiking_brian``).
    """
    from brian2 import TimedArray, second

    from neuromorph.spiking import (
        DEFAULT_R_MAX,
        DEFAULT_TAU_SYN,
        SpikingModel,
        inference_schedule,
        make_encoder,
        spike_projection,
        spiking_group_equations,
    )

    p = params
    if p.variant != "dense":
        raise NotImplementedError(
            f"{name}: the spiking twin exists for the dense variant (clipped-ReLU rates) only; the sparse "
            "variant's unbounded ReLU rates and ℓ1 interneuron have no spiking form yet"
        )
    r_max = DEFAULT_R_MAX if r_max is None else float(r_max)
    tau_syn = DEFAULT_TAU_SYN if tau_syn is None else float(tau_syn)
    P, N = p.n_layers, p.sizes
    eps = p.epsilon
    sch = inference_schedule(t_sample, dt, clamp=("x",))
    T = sch.trial_steps
    enc = make_encoder(encoding, r_max=r_max)
    r_max = enc.r_max  # an encoder instance brings its own
    x_in = TimedArray(x, dt=T * dt * second, name="x_in")
    flags = sch.brian_flags()
    rate = {0: spiking_group_equations("clamp_x*x_in(t, i)", enc, dt=dt, r_max=r_max, rate_bound=max(1.0, float(x.max())))}
    # eq. 19 at the constant step μ_u; values reach Brian2 through each group's namespace
    namespace = {"mu_u": p.mu_u, "g_lk": p.g_lk, "g_A": 1.0 / eps, "g_B": 1.0 / eps, "t_step": dt * second}
    for k in range(1, P + 1):
        if k < P:  # hidden: −g u + g r + 2γ B r + (1/ε)(W_ff r − u) + (1/ε)(W_fb r − u)
            F = "-g_lk*u + g_lk*rho + I_lat + g_B*(I_ff - u) + g_A*(I_fb - u)"
            inputs = ("I_ff", "I_fb", "I_lat")
        else:  # output, β = 0: −g u + g r + γ B r + (1/ε)(W_ff r − u) − u (the code's apical leak 1)
            F = "-g_lk*u + g_lk*rho + I_lat + g_B*(I_ff - u) - u"
            inputs = ("I_ff", "I_lat")
        rate[k] = spiking_group_equations(
            "clip(u, 0, 1)", enc, dt=dt, r_max=r_max, tau_syn=tau_syn, inputs=inputs,
            dynamics=f"du/dt = mu_u*({F})/t_step : 1",
        )
    groups = {
        f"layer{k}": rate[k].make_group(
            N[k], f"spk_layer{k}", header=flags, reset_flag="reset_zero", reset_vars=() if k == 0 else ("u",),
            **({} if k == 0 else {"namespace": {key: v for key, v in namespace.items() if key != "g_A" or k < P}}),
        )
        for k in range(P + 1)
    }
    pathways = [(f"W_ff{k}", k, k + 1, "I_ff", 1.0) for k in range(P)]
    pathways += [(f"W_fb{k}", k + 1, k, "I_fb", 1.0) for k in range(1, P)]
    pathways += [(f"B{k}", k, k, "I_lat", lateral_coefficients(p, k)[0] / (eps if k < P else 1.0)) for k in range(1, P + 1)]
    syns, projs = [], []
    for wname, pre, post, target, scale in pathways:
        S, proj = spike_projection(
            groups[f"layer{pre}"], groups[f"layer{post}"], scale * np.asarray(weights[wname], float), target,
            r_max=r_max, tau_syn=tau_syn, name=f"spk_{wname}", pre_name=f"layer{pre}", post_name=f"layer{post}",
        )
        syns.append(S)
        projs.append(proj)
    return SpikingModel.assemble(
        populations=groups,
        synapses=syns,
        schedule=sch,
        dt=dt,
        x_in=x_in,
        encoders={k: rate[int(k[5:])].encoder for k in groups},
        projections=projs,
        output=f"layer{P}",
        t_sample=float(t_sample),
        compared=tuple(f"layer{k}" for k in range(1, P + 1)),
        readout_fraction=0.5,
        reference_rates=free_rates(p, weights, x),
        rate_steps=p.t_free,
        info={"encoding": enc.encoding, "r_max": r_max, "tau_syn": tau_syn, "mu_u": p.mu_u},
    )
