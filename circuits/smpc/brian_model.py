"""SMPC's Brian2 model, composed from neuromorph.brian.blocks and the templates in equations.py."""

from __future__ import annotations

import numpy as np

from neuromorph.brian import BrianModel, blocks
from neuromorph.brian.equations import Eq, GroupEquations

from . import equations as eqs
from .params import SMPCParams, weight_layout

TRIAL_INPUTS = ("x", "y0", "z0", "zeta0")


def plasticity(S, rule):
    """``blocks.windowed_plasticity`` in one code block (``end`` slot, order 1): accumulate, then apply and
    clear on the window's last step. The gate (end of the synaptic phase) and ``apply_update`` fall on the same
    step, so the order within the block is the order of the two blocks; one compiled object per synapse
    group instead of two (the cython compile dominates the test time)."""
    acc, apply = rule.accumulate(f"{S.name}_acc"), rule.apply(f"{S.name}_apply")
    return blocks.run_code(S, GroupEquations(f"{S.name}_plasticity", acc.lines + apply.lines, rule.namespace,
                                             kind="code", when="end", order=1, ref=rule.ref))


def build(p: SMPCParams, schedule, weights, data, dt: float, n_trials: int) -> BrianModel:
    """Populations X, Y, Z (v and z), Zeta (and, for the simplex, Theta); synapses W, M, Omega (plastic) and,
    for the simplex, the rank synapses Z → Z and the support synapses Z → Theta."""
    from brian2 import linked_var

    T = schedule.trial_steps
    tas = blocks.trial_inputs(data, TRIAL_INPUTS, T * dt)
    # X needs no schedule flags (x is clamped in both phases): one code object fewer to compile.
    X = blocks.neuron_group(p.n_in, eqs.inputs())
    Y = blocks.neuron_group(p.n_y, eqs.intermediate(p), schedule=schedule, order=eqs.ORDERS["Y"])
    Z = blocks.neuron_group(p.n_latent, eqs.latent(p), schedule=schedule, order=eqs.ORDERS["Z"])
    Zeta = blocks.neuron_group(p.n_y, eqs.interneuron(p), schedule=schedule, order=eqs.ORDERS["Zeta"])
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
    W = blocks.projection(X, Y, "W", "I_W", np.asarray(weights["W"], float), source="x", plastic=True, ref="eq. 39")
    M = blocks.projection(Y, Y, "M", "I_M", np.asarray(weights["M"], float), source="y", plastic=True, ref="eq. 39")
    Om = blocks.projection(
        Z, Zeta, "Omega", "I_pred", np.asarray(weights["Omega"], float), source="z", plastic=True, ref="eq. 41",
        extra=(Eq("I_back_pre = w*zeta_post : 1 (summed)", "eq. 40", "Ωᵀ ζ back to the latent units"),),
    )
    for S, rule in ((W, eqs.rule_w(p)), (M, eqs.rule_m(p)), (Om, eqs.rule_omega(p))):
        plasticity(S, rule)
    objects = [X, Y, Z, Zeta, W, M, Om]

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
        inputs={k: tas[f"{k}_in"] for k in TRIAL_INPUTS},
        namespace=dict(tas),
    )
