"""Builds the URFB circuit's Brian2 objects from the templates of equations.py with neuromorph.brian.blocks,
one function per population and projection. Every trial's phases (Fig. 15) run inside one Brian2 run,
switched by the schedule's flags."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from neuromorph.brian import BrianModel, blocks, set_weight_matrix
from neuromorph.brian.equations import GroupEquations

from . import equations as eq
from .params import URFBParams, phase_schedule, plastic_layout, weight_layout
from .reference import check_circuit_params, circuit_state_names, masks_of

__all__ = ["build"]


def learning_events(p: URFBParams, l: int) -> dict:
    """The custom events layer l raises: ``learn{m}`` on the steps where projection m's learning code changes
    something (its update phase in_upd{m}, and the window's last step), for the projections it sends: W_(l+1)
    and, from layer 2 on, R_l. Their accumulate-then-apply code runs on those steps only
    (blocks.learning_synapses), not on all 14 steps of a trial."""
    ms = ([l + 1] if l < p.n_layers else []) + ([l] if l >= 2 else [])
    return {f"learn{m}": blocks.learning_event(f"in_upd{m}", "apply_update") for m in ms}


def input_population(p: URFBParams, sch):
    return blocks.neuron_group(p.sizes[0], eq.input_group(), schedule=sch, events=learning_events(p, 0))


def hidden_population(p: URFBParams, l: int, sch):
    G = blocks.neuron_group(p.sizes[l], eq.hidden_group(p, l), schedule=sch, events=learning_events(p, l))
    blocks.run_code(G, eq.reset(G.name, ("x", "u", "v", "d")))
    blocks.run_code(G, eq.hidden_latch(p, l))
    return G


def output_population(p: URFBParams, sch):
    G = blocks.neuron_group(p.sizes[-1], eq.output_group(p), schedule=sch, events=learning_events(p, p.n_layers))
    blocks.run_code(G, eq.reset(G.name, ("d", "tc", "z", "err")))
    blocks.run_code(G, eq.output_latch(p))
    return G


def _load(S, matrix, mask):
    set_weight_matrix(S, np.asarray(matrix, dtype=float))
    S.m = np.ascontiguousarray(mask, dtype=float).ravel()


def _learning(name: str, acc, apply):
    """The Hebbian accumulation (order 1) and its application (order 2) as one block at order 1: no
    accumulated term reads a weight, so per synapse 'accumulate, then apply' equals the two passes."""
    return GroupEquations(name, acc.lines + apply.lines, {**acc.namespace, **apply.namespace}, kind="code",
                          when=acc.when, order=acc.order, ref=acc.ref)


def forward_projection(p: URFBParams, l: int, pre, post, W, mask, apply_flag: str):
    template = eq.forward_projection(l, p.n_layers)
    learn = _learning(f"W{l}_learn", eq.hebbian(f"W{l}", l, p.n_layers, feedback=False),
                      eq.apply_rule(p, f"W{l}", apply_flag, feedback=False))
    S = blocks.learning_synapses(pre, post, template, learn, event=f"learn{l}")
    _load(S, W, mask)
    return S


def feedback_projection(p: URFBParams, l: int, pre, post, R, mask, apply_flag: str, plastic: bool):
    template = eq.feedback_projection(l, p.n_layers)
    if not plastic:  # FRFB: R fixed, no update code at all
        S = blocks.synapses(pre, post, template)
    else:
        learn = _learning(f"R{l}_learn", eq.hebbian(f"R{l}", l, p.n_layers, feedback=True),
                          eq.apply_rule(p, f"R{l}", apply_flag, feedback=True))
        S = blocks.learning_synapses(pre, post, template, learn, event=f"learn{l}")
    _load(S, R, mask)
    return S


def build(p: URFBParams, weights: Mapping[str, np.ndarray], data, dt: float) -> BrianModel:
    """The BrianModel of the circuit on trials data = {x (n, n_in), y one-hot (n, C)}."""
    check_circuit_params(p)
    sch = phase_schedule(p)
    T, L = sch.trial_steps, p.n_layers
    n_trials = blocks.check_trial_inputs("urfb", data, {"x": (None, p.sizes[0]), "y": (None, p.sizes[-1])})
    tas = blocks.trial_inputs(data, ("x", "y"), T * dt)
    layers = [input_population(p, sch)]
    layers += [hidden_population(p, l, sch) for l in range(1, L)]
    layers.append(output_population(p, sch))
    masks = masks_of(p, weights)
    plastic = set(plastic_layout(p))
    layout = weight_layout(p)
    syns, probes = [], {}
    for l in range(1, L + 1):
        # Fig. 15: the increment lands in the layer's own update phase; otherwise at the window's end
        apply_flag = f"in_upd{l}" if p.feedback_after_update else "apply_update"
        S = forward_projection(p, l, layers[l - 1], layers[l], weights[f"W{l}"], masks[f"W{l}"], apply_flag)
        syns.append(S)
        probes[f"W{l}"] = (S, layout[f"W{l}"], "w")
        if l >= 2:
            name = f"R{l}"
            S = feedback_projection(p, l, layers[l], layers[l - 1], weights[name], masks[name], apply_flag, name in plastic)
            syns.append(S)
            if name in plastic:
                probes[name] = (S, layout[name], "w")
    states = {}
    for name in circuit_state_names(p):
        var, where = (name[:-4], layers[-1]) if name.endswith("_out") else (name[0], layers[int(name[1:])])
        states[name] = (where, var)
    return BrianModel(
        objects=[*layers, *syns],
        schedule=sch,
        n_trials=n_trials,
        dt=dt,
        state_probes=states,
        weight_probes=probes,
        inputs={"x": tas["x_in"], "y": tas["y_in"]},
        namespace=dict(tas),
    )
