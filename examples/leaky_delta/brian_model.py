"""leaky_delta's Brian2 model, composed from neuromorph.brian.blocks and equations.py."""

from __future__ import annotations

import numpy as np

from neuromorph.brian import BrianModel, blocks

from . import equations as eqs
from .params import LeakyDeltaParams, weight_layout


def build(p: LeakyDeltaParams, schedule, weights, data, dt: float, n_trials: int) -> BrianModel:
    from brian2 import second

    T = schedule.trial_steps
    tas = blocks.trial_inputs(data, ("x", "y"), T * dt)  # x_in, y_in: one row per trial
    X = blocks.neuron_group(p.n_in, eqs.inputs(), schedule=schedule)
    O = blocks.neuron_group(p.n_out, eqs.output(p), schedule=schedule)
    blocks.phase_reset(O, ["u = u*(1 - reset_zero)"])  # 'start' slot of the free phase's first step
    blocks.gated_store(O, [("r_free", "r")], "gate_snapshot", name="O_snapshot")  # 'end', order 0
    W = blocks.projection(X, O, "W", "I_ff", np.asarray(weights["W"], float), plastic=True)
    blocks.windowed_plasticity(W, eqs.rule(p))  # accumulate 'end' order 1, apply order 2
    return BrianModel(
        objects=[X, O, W],
        schedule=schedule,
        n_trials=n_trials,
        dt=dt,
        state_probes={"u_o": (O, "u")},
        weight_probes={"W": (W, weight_layout(p)["W"], "w")},
        inputs={"x": tas["x_in"], "y": tas["y_in"]},
        namespace={**tas, "tau": eqs.tau(p, dt) * second},
    )
