"""The Brian2 model of CorInfoMax, built from the templates of ``equations.py`` with neuromorph's blocks.

One NeuronGroup per layer (compartments as state variables), one Synapses object per matrix with a summed
input. Gauss-Seidel within a time step comes from Brian2's schedule: a summed variable is computed in the
'groups' slot at order (target.order − 1). Layer k has order 4k, so its inputs are summed at 4k − 1: after
layer k−1's state update (order 4k − 4) and before layer k+1's (order 4k + 4). The sparse variant's
interneuron of layer k has order 4k + 2: it sums the rates layer k produced in this sweep (at 4k + 1) and
updates before layer k's next sweep reads its q.

Learning runs only on the steps where it does something. The Hebbian terms are accumulated at the two
frozen steps (free_end, nudged_end) and applied once per window (on the last step of its last trial);
written as ``run_regularly`` blocks (blocks.windowed_plasticity) they cost two passes over every synapse on
every step: 3.7 ns per synapse per step at width 400 where the summed input alone costs ~1. Here each layer
raises the custom event ``learn`` on those two steps, and each plastic Synapses object runs its accumulate
and apply code as one event-driven pathway of its presynaptic layer, in the accumulation's slot (``end``,
order 1). The code is the blocks' text with the same gates, so the numbers are those of the every-step form.
"""

from __future__ import annotations

import numpy as np

from neuromorph.brian import BrianModel, set_weight_matrix
from neuromorph.brian.blocks import learning_synapses, neuron_group, phase_reset, relay, trial_inputs
from neuromorph.brian.equations import GroupEquations

from . import equations as E
from .params import CorInfoMaxParams, lateral_coefficients, phase_schedule

__all__ = ["build", "equations", "LEARNING_EVENTS"]

# The custom event every layer raises on the two frozen steps of a trial (free_end, nudged_end; a window's
# update falls on the last of them): the plastic synapses' learning code runs on it.
LEARNING_EVENTS = {"learn": "gate_learn_free + gate_learn_nudged > 0"}


def build(params: CorInfoMaxParams, dt: float, weights, data, n_trials: int, lr_factor: float = 1.0) -> BrianModel:
    """The Brian2 objects for ``data``'s trials (checked by the caller), with state and weight probes."""
    p, sch = params, phase_schedule(params)
    P, N = p.n_layers, p.sizes
    inputs = trial_inputs(data, ("x", "y", "beta"), sch.trial_steps * dt)
    layers = [input_layer(p, N[0], sch)] + [hidden_or_output_layer(p, k, sch) for k in range(1, P + 1)]
    inter = {k: interneuron(p, k, sch) for k in range(1, P + 1)} if p.variant == "sparse" else {}
    objects = list(layers) + list(inter.values())
    weight_probes = {}
    for k in range(P):  # feedforward W_ff^(k): layer k → basal of layer k+1; e→ = r^(k+1) − W_ff r^(k)
        S = hebbian_projection(p, f"W_ff{k}", layers[k], layers[k + 1], "v_B", "r_post - v_B_post", p.lr_ff[k],
                               weights, lr_factor, "eq. 26")
        weight_probes[S.name] = (S, (N[k], N[k + 1]), "w")
        objects.append(S)
    for k in range(1, P):  # feedback W_fb^(k): layer k+1 → apical of layer k; e← = r^(k) − W_fb r^(k+1)
        S = hebbian_projection(p, f"W_fb{k}", layers[k + 1], layers[k], "I_fb", "r_post - I_fb_post", p.lr_fb[k - 1],
                               weights, lr_factor, "eq. 27")
        weight_probes[S.name] = (S, (N[k + 1], N[k]), "w")
        objects.append(S)
    for k in range(1, P + 1):
        if p.lateral_update == "B":
            S = lateral_B(p, k, layers[k], weights[f"B{k}"])
            weight_probes[S.name] = (S, (N[k], N[k]), "w")
            objects.append(S)
        else:
            D, O = lateral_DO(p, k, layers[k], weights[f"B{k}"])
            weight_probes[D.name] = (D, (1, N[k]), "w")
            weight_probes[O.name] = (O, (N[k], N[k] - 1), "w")
            objects += [D, O]
    for k in inter:  # the interneuron sums its layer's rates and inhibits every soma of the layer by q
        objects += [relay(layers[k], inter[k], ["S_r_post = r_pre"], name=f"to_inter{k}", ref="eq. A.51"),
                    relay(inter[k], layers[k], ["I_q_post = q_pre"], name=f"from_inter{k}", ref="App. I")]
    state_probes = {f"u{k}": (layers[k], "u") for k in range(1, P + 1)}
    state_probes.update({f"a{k}": (inter[k], "a") for k in inter})
    return BrianModel(
        objects=objects,
        schedule=sch,
        n_trials=n_trials,
        dt=dt,
        state_probes=state_probes,
        weight_probes=weight_probes,
        inputs={"x": inputs["x_in"], "y": inputs["y_in"], "beta": inputs["beta_in"]},
        namespace=dict(inputs),
    )


# ---- populations -------------------------------------------------------------------------------------------------
def input_layer(p: CorInfoMaxParams, n: int, sch):
    return neuron_group(n, E.input_layer(), schedule=sch, order=0, events=dict(LEARNING_EVENTS))


def hidden_or_output_layer(p: CorInfoMaxParams, k: int, sch):
    G = neuron_group(p.sizes[k], E.layer(p, k), schedule=sch, order=4 * k, events=dict(LEARNING_EVENTS))
    phase_reset(G, E.layer_reset(p, k))
    return G


def interneuron(p: CorInfoMaxParams, k: int, sch):
    I = neuron_group(1, E.interneuron(p, k), schedule=sch, order=4 * k + 2)
    phase_reset(I, E.interneuron_reset())
    return I


# ---- projections -------------------------------------------------------------------------------------------------
def _learning_synapses(pre, post, template: GroupEquations, acc: GroupEquations, apply: GroupEquations, **kwargs):
    """Synapses from ``template`` whose learning code (``acc`` then ``apply``) is one pathway ``learn`` run on
    ``pre``'s event ``learn`` in ``acc``'s slot (``end``, order 1) instead of on every step
    (blocks.learning_synapses).

    One pathway is exact: the window's update falls on the last step of a trial, which is a learning step,
    and no accumulated term reads a weight, so applying a synapse's update right after its own accumulation
    gives what all accumulations, then all updates (the blocks' order 1 and 2) give.
    """
    code = GroupEquations(f"{template.name}_learn", acc.lines + apply.lines, {**acc.namespace, **apply.namespace},
                          kind="code", when=acc.when, order=acc.order, ref=acc.ref)
    return learning_synapses(pre, post, template, code, event="learn", **kwargs)


def hebbian_projection(p, name, pre, post, target, error, lr, weights, lr_factor, ref):
    """W_ff / W_fb: summed drive of ``target`` and the contrastive Hebbian rule (eqs. 26-27)."""
    S = _learning_synapses(pre, post, E.forward_projection(name, target), *E.hebbian_rule(p, name, error, lr, ref))
    set_weight_matrix(S, np.asarray(weights[name], float))
    S.lr_scale = float(lr_factor)
    return S


def lateral_B(p, k, G, B):
    """B^(k) (eq. 28): the lateral drive I_lat = B r (autapses included) and its update."""
    S = _learning_synapses(G, G, E.lateral_projection(f"B{k}", "I_lat"), *E.lateral_rule(p, k))
    set_weight_matrix(S, np.asarray(B, float))
    return S


def lateral_DO(p, k, G, B):
    """Autapses D^(k) (eq. 29, ``i == j``) and lateral inhibition O^(k) (eq. 30, ``i != j``), M = D − O."""
    c, h = lateral_coefficients(p, k)
    n = p.sizes[k]
    M = c * np.asarray(B, float) + h * np.eye(n)
    rules = E.lateral_DO_rules(p, k)
    out = []
    for m, condition, values in (("D", "i == j", np.diagonal(M).copy()),
                                 ("O", "i != j", -M[~np.eye(n, dtype=bool)])):  # pre-major, posts ascending
        S = _learning_synapses(G, G, E.lateral_projection(f"{m}{k}", f"I_{m}"), *rules[m])
        S.connect(condition=condition)
        S.w = values
        out.append(S)
    return tuple(out)


# ---- reading the model back ----------------------------------------------------------------------------------------
def equations(model: BrianModel) -> list[GroupEquations]:
    """What Brian2 holds (``BrianModel.equations``): each synapse object's event-driven learning code (its
    pathway) follows it."""
    for obj in model.objects:
        # built to be read, never run: without a network id Brian2 warns on deletion (Circuit.equations does this)
        object.__setattr__(obj, "_network", "read back by equations")
    return model.equations()
