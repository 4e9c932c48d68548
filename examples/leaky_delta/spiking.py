"""leaky_delta's spiking twin of the free phase: X fires Poisson/regular spikes at r_max·x; O integrates the
same leaky equation with Wᵀr_x replaced by a synaptic trace and fires at r_max·clip(u, 0, 1)."""

from __future__ import annotations

import numpy as np


def build(p, weights, x, *, dt, encoding, t_sample, r_max, tau_syn, reference_rates):
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

    from . import equations as eqs

    r_max = DEFAULT_R_MAX if r_max is None else float(r_max)
    tau_syn = DEFAULT_TAU_SYN if tau_syn is None else float(tau_syn)
    sch = inference_schedule(t_sample, dt, clamp=("x",))
    enc = make_encoder(encoding, r_max=r_max)
    common = dict(dt=dt, r_max=enc.r_max, tau_syn=tau_syn)
    eq = {
        "X": spiking_group_equations("clamp_x*x_in(t, i)", enc, rate_bound=max(1.0, float(np.max(x))), **common),
        "O": spiking_group_equations("clip(u, 0, 1)", enc, dynamics="du/dt = (-u + I_ff)/tau : 1", inputs=("I_ff",), **common),
    }
    tau = eqs.tau(p, dt) * second
    flags = sch.brian_flags()
    X = eq["X"].make_group(p.n_in, "spk_X", header=flags, reset_flag="reset_zero", namespace={})
    O = eq["O"].make_group(p.n_out, "spk_O", header=flags, reset_flag="reset_zero", reset_vars=("u",), namespace={"tau": tau})
    S, proj = spike_projection(X, O, weights["W"], "I_ff", r_max=enc.r_max, tau_syn=tau_syn, name="spk_W", pre_name="X", post_name="O")
    return SpikingModel.assemble(
        populations={"X": X, "O": O}, synapses=[S], schedule=sch, dt=dt,
        x_in=TimedArray(np.asarray(x, float), dt=sch.trial_steps * dt * second, name="x_in"),
        encoders={k: e.encoder for k, e in eq.items()}, projections=[proj], output="O", t_sample=float(t_sample),
        compared=("O",), readout_fraction=0.5, reference_rates={"O": reference_rates}, rate_steps=p.t_free,
        info={"encoding": enc.encoding, "r_max": enc.r_max, "tau_syn": tau_syn},
    )
