"""twocomp's Brian2 model, composed from neuromorph.brian.blocks and the templates in equations.py."""

from __future__ import annotations

import numpy as np

from neuromorph.brian import BrianModel, blocks

from . import equations as eqs
from .params import PLASTIC, TwoCompParams, weight_layout


def build(p: TwoCompParams, schedule, weights, data, dt: float, n_trials: int) -> BrianModel:
    """Populations X, H, Inh, O; the five projections; resets, snapshots and the two plastic rules."""
    from brian2 import second

    T = schedule.trial_steps
    tas = blocks.trial_inputs(data, ("x", "y"), T * dt)
    # X and H raise the learning event of the plastic projections they send (W_xh, W_ho) on the steps where the
    # rules' gates are open: the learning code runs on those steps only (blocks.learning_synapses).
    learn = {"learn": blocks.learning_event("gate_accumulate", "apply_update")}
    X = blocks.neuron_group(p.n_in, eqs.inputs(), schedule=schedule, events=dict(learn))
    H = blocks.neuron_group(p.n_hidden, eqs.hidden(p), schedule=schedule, events=dict(learn))
    Inh = blocks.neuron_group(p.n_inh, eqs.interneurons(), schedule=schedule)
    O = blocks.neuron_group(p.n_out, eqs.output(p), schedule=schedule)
    for G in (H, Inh, O):
        # 'start' slot of a trial's first step: state starts from zero before the step's update.
        blocks.phase_reset(G, ["u = u*(1 - reset_zero)"])
    for G in (H, O):
        blocks.gated_store(G, [("r_free", "r")], "gate_snapshot", name=f"{G.name}_snapshot")
    groups = {"X": X, "H": H, "Inh": Inh, "O": O}
    # Contrastive Hebbian terms, accumulated after this step's snapshot (end slot), applied once per window.
    rules = {"W_xh": eqs.rule_xh(p), "W_ho": eqs.rule_ho(p)}
    assert set(rules) == set(PLASTIC)
    syn = {
        name: blocks.projection(groups[pre], groups[post], name, target, np.asarray(weights[name], float),
                                learning=rules.get(name))
        for name, pre, post, target in eqs.PROJECTIONS
    }
    shapes = weight_layout(p)
    return BrianModel(
        objects=[X, H, Inh, O, *syn.values()],
        schedule=schedule,
        n_trials=n_trials,
        dt=dt,
        state_probes={"u_h": (H, "u"), "u_i": (Inh, "u"), "u_o": (O, "u")},
        weight_probes={k: (syn[k], shapes[k], "w") for k in ("W_xh", "W_ho")},
        inputs={"x": tas["x_in"], "y": tas["y_in"]},
        namespace={**tas, "tau": eqs.tau(p, dt) * second},
    )
