"""SMPC's Brian2 model, composed from neuromorph.brian.blocks and the templates in equations.py."""

from __future__ import annotations

import numpy as np

from neuromorph.brian import BrianModel, blocks
from neuromorph.brian.equations import Eq, GroupEquations

from . import equations as eqs
from .params import SMPCParams, weight_layout

TRIAL_INPUTS = ("x", "y0", "z0", "zeta0")


# The steps where learning code runs: the end of the synaptic phase (gate_learn; apply_update falls on it). The
# presynaptic groups of W, M and Omega (X, Y, Z) raise this event there, and each plastic projection runs its
# accumulate-then-apply rule as the event's pathway (blocks.learning_synapses): one pass over its synapses per
# trial instead of one per step.
LEARN = {"learn": blocks.learning_event("gate_learn", "apply_update")}


def build(p: SMPCParams, schedule, weights, data, dt: float, n_trials: int) -> BrianModel:
    """Populations X, Y, Z (v and z), Zeta (and, for the simplex, Theta); synapses W, M, Omega (plastic) and,
    for the simplex, the rank synapses Z → Z and the support synapses Z → Theta."""
    from brian2 import linked_var

    T = schedule.trial_steps
    tas = blocks.trial_inputs(data, TRIAL_INPUTS, T * dt)
    X = blocks.neuron_group(p.n_in, eqs.inputs(), schedule=schedule, events=dict(LEARN))
    Y = blocks.neuron_group(p.n_y, eqs.intermediate(p), schedule=schedule, order=eqs.ORDERS["Y"], events=dict(LEARN))
    Z = blocks.neuron_group(p.n_latent, eqs.latent(p), schedule=schedule, order=eqs.ORDERS["Z"], events=dict(LEARN))
    Zeta = blocks.neuron_group(p.n_y, eqs.interneuron(p), schedule=schedule, order=eqs.ORDERS["Zeta"], events=dict(LEARN))
    Y.zeta = linked_var(Zeta, "zeta")
    Zeta.y = linked_var(Y, "y")
    # A trial starts from the sample's stored state (params.py, reading 7), in the 'start' slot of step 0.
    blocks.phase_reset(Y, ["y = reset_init*y0_in(t, i) + (1 - reset_init)*y"], ref="reading 7")
    blocks.phase_reset(Z, ["z = reset_init*z0_in(t, i) + (1 - reset_init)*z"], ref="reading 7")
    blocks.phase_reset(Zeta, ["zeta = reset_init*zeta0_in(t, i) + (1 - reset_init)*zeta"], ref="reading 7")
    blocks.run_code(Zeta, eqs.interneuron_update(p))
    blocks.run_code(Y, eqs.intermediate_update())
    blocks.run_code(Z, eqs.latent_update(p))

    shapes = weight_layout(p)
    W = blocks.projection(X, Y, "W", "I_W", np.asarray(weights["W"], float), source="x", ref="eq. 39", learning=eqs.rule_w(p))
    M = blocks.projection(Y, Y, "M", "I_M", np.asarray(weights["M"], float), source="y", ref="eq. 39", learning=eqs.rule_m(p))
    Om = blocks.projection(Z, Zeta, "Omega", "I_pred", np.asarray(weights["Omega"], float), source="z", ref="eq. 41",
                           learning=eqs.rule_omega(p))
    # Ωᵀ ζ back to the latent units through a transposed copy of Ω (Zeta → Z). Summed onto the presynaptic side
    # of Omega instead (I_back_pre = w*zeta_post), consecutive synapses (stored pre-major) add into the same
    # unit, one dependent add after another: 2.5 ns per synapse and step, three times a summed input's cost.
    # The copy starts from Ωᵀ and learns by the same rule with the product's factors swapped (z ζ = ζ z exactly
    # in floating point), so it stays equal to Ωᵀ bit for bit, and each I_back_j adds its terms in the same
    # order (i = 0, 1, ...) as the pre-side sum did.
    OmT = blocks.projection(Zeta, Z, "OmegaT", "I_back", np.asarray(weights["Omega"], float).T, source="zeta", ref="eq. 40",
                            learning=eqs.rule_omega(p, transposed=True))
    objects = [X, Y, Z, Zeta, W, M, Om, OmT]

    if p.constraint == "simplex":
        # The sort-free projection (params.py, reading 2), staged by order inside the step.
        Theta = blocks.neuron_group(1, eqs.simplex_threshold(), order=eqs.ORDERS["support"] + 1)
        rank = blocks.synapses(Z, Z, GroupEquations("Z_rank", (
            Eq("n_ge_post = int(v_pre >= v_post) : 1 (summed)", "App. B", "|S_j|"),
            Eq("s_ge_post = v_pre*int(v_pre >= v_post) : 1 (summed)", "App. B", "Σ_{S_j} v"),
        ), kind="synapses", ref="App. B"))
        rank.connect()
        supp = blocks.synapses(Z, Theta, GroupEquations("Z_support", (
            Eq("n_supp_post = in_support_pre : 1 (summed)", "App. B", "|support|"),
            Eq("s_supp_post = v_pre*in_support_pre : 1 (summed)", "App. B", "Σ_support v"),
            Eq("theta_pre = (s_supp_post - 1)/n_supp_post : 1 (summed)", "App. B, eq. 21", "θ back to every unit"),
        ), kind="synapses", ref="App. B"))
        supp.connect()
        for name in ("n_ge_post", "s_ge_post"):
            rank.summed_updaters[name].order = eqs.ORDERS["rank"]
        for name in ("n_supp_post", "s_supp_post"):
            supp.summed_updaters[name].order = eqs.ORDERS["support"]
        supp.summed_updaters["theta_pre"].order = eqs.ORDERS["theta"]
        blocks.run_code(Z, eqs.latent_project())
        objects += [Theta, rank, supp]

    return BrianModel(
        objects=objects,
        schedule=schedule,
        n_trials=n_trials,
        dt=dt,
        state_probes={"y": (Y, "y"), "v": (Z, "v"), "z": (Z, "z"), "zeta": (Zeta, "zeta")},
        weight_probes={"W": (W, shapes["W"], "w"), "M": (M, shapes["M"], "w"), "Omega": (Om, shapes["Omega"], "w")},
        transposed_copies={"Omega": (OmT, "w")},
        inputs={k: tas[f"{k}_in"] for k in TRIAL_INPUTS},
        namespace=dict(tas),
    )
