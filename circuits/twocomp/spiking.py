"""twocomp's spiking twin of the free phase (inference only), from the same soma equations as the rate model."""

from __future__ import annotations

import numpy as np

from . import equations as eqs
from .params import TwoCompParams


def build(p: TwoCompParams, weights, x: np.ndarray, *, dt: float, encoding, t_sample, r_max, tau_syn, reference_rates):
    """Spiking twin of the free phase: one trial of ``t_sample`` s per row of ``x``.

    X fires at r_max·x; H, Inh and O integrate the rate model's soma equations (same τ, g_L, g_B, g_A; the
    templates of equations.py), with each summed input replaced by a synaptic trace of time constant
    ``tau_syn`` (one per pathway: I_basal ← X, I_apical ← O, I_inh ← Inh; I_exc ← H; I_ff ← H) and fire at
    r_max·σ(u) (σ = clip(u, 0, 1); interneurons clip(u, 0, ∞)). Every trial starts from u = 0 with empty
    traces. The prediction is the argmax of O's spike count over the last half of the trial
    (``readout_fraction`` 0.5: the first half lets the traces, τ_syn, settle).
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

    r_max = DEFAULT_R_MAX if r_max is None else float(r_max)
    tau_syn = DEFAULT_TAU_SYN if tau_syn is None else float(tau_syn)
    sch = inference_schedule(t_sample, dt, clamp=("x",))
    T = sch.trial_steps
    enc = make_encoder(encoding, r_max=r_max)
    r_max = enc.r_max  # an encoder instance brings its own
    x_in = TimedArray(x, dt=T * dt * second, name="x_in")
    flags = sch.brian_flags()
    # Interneuron rates are unbounded (clip(u, 0, inf)); with r_h <= 1 they stay below the largest
    # positive column sum of W_hi.
    inh_bound = max(1.0, float(np.clip(np.asarray(weights["W_hi"]), 0, None).sum(axis=0).max()))
    common = dict(dt=dt, r_max=r_max, tau_syn=tau_syn)
    hidden = eqs.hidden(p)
    eq = {
        "X": spiking_group_equations("clamp_x*x_in(t, i)", enc, rate_bound=max(1.0, float(x.max())), **common),
        "H": spiking_group_equations(
            "clip(u, 0, 1)", enc, dynamics=eqs.HIDDEN_SOMA.line, inputs=("I_basal", "I_apical", "I_inh"), **common
        ),
        "Inh": spiking_group_equations(
            "clip(u, 0, inf)", enc, dynamics="du/dt = (-u + I_exc)/tau : 1", inputs=("I_exc",), rate_bound=inh_bound, **common
        ),
        "O": spiking_group_equations("clip(u, 0, 1)", enc, dynamics="du/dt = (-u + I_ff)/tau : 1", inputs=("I_ff",), **common),
    }
    # Values reach Brian2 through each group's namespace, as in the rate model.
    tau = eqs.tau(p, dt) * second
    namespaces = {"X": {}, "H": {**hidden.namespace, "tau": tau}, "Inh": {"tau": tau}, "O": {"tau": tau}}
    sizes = {"X": p.n_in, "H": p.n_hidden, "Inh": p.n_inh, "O": p.n_out}
    groups = {
        k: eq[k].make_group(
            sizes[k], f"spk_{k}", header=flags, reset_flag="reset_zero", reset_vars=() if k == "X" else ("u",),
            namespace=namespaces[k],
        )
        for k in sizes
    }
    syns, projs = [], []
    for name, pre, post, target in eqs.PROJECTIONS:
        S, proj = spike_projection(
            groups[pre], groups[post], weights[name], target, r_max=r_max, tau_syn=tau_syn,
            name=f"spk_{name}", pre_name=pre, post_name=post,
        )
        syns.append(S)
        projs.append(proj)
    return SpikingModel.assemble(
        populations=groups,
        synapses=syns,
        schedule=sch,
        dt=dt,
        x_in=x_in,
        encoders={k: e.encoder for k, e in eq.items()},
        projections=projs,
        output="O",
        t_sample=float(t_sample),
        compared=("H", "Inh", "O"),
        readout_fraction=0.5,
        reference_rates=reference_rates,
        rate_steps=p.t_free,
        info={"encoding": enc.encoding, "r_max": r_max, "tau_syn": tau_syn},
    )
