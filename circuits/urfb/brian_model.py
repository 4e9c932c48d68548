"""Builds the URFB circuit's Brian2 objects from the templates of equations.py, one function per population
and projection. Every trial's phases (Fig. 15) run inside one Brian2 run, switched by the schedule's flags."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from neuromorph.errors import ShapeError

from . import equations as eq
from .params import URFBParams, phase_schedule, plastic_layout, weight_layout
from .reference import check_circuit_params, circuit_state_names, masks_of

__all__ = ["build"]


def _group(n, code, flags, name, latch=None, reset=None):
    from brian2 import NeuronGroup

    G = NeuronGroup(n, flags + "\n" + code, name=name)
    if reset:
        # 'start' slot of the trial's first step: the state starts from zero before anything reads it
        G.run_regularly(reset, when="start", name=f"{name}_reset")
    if latch:
        G.run_regularly(latch, when="end", order=0, name=f"{name}_latch")
    return G


def input_population(p: URFBParams, flags: str):
    return _group(p.sizes[0], eq.input_equations(), flags, "X0")


def hidden_population(p: URFBParams, l: int, flags: str):
    code, latch, reset = eq.hidden_equations(l)
    return _group(p.sizes[l], code, flags, f"H{l}", latch, reset)


def output_population(p: URFBParams, flags: str):
    code, latch, reset = eq.output_equations()
    return _group(p.sizes[-1], code, flags, "Out", latch, reset)


def _load(S, matrix, mask):
    from neuromorph.brian import set_weight_matrix

    set_weight_matrix(S, np.asarray(matrix, dtype=float))
    S.m = np.ascontiguousarray(mask, dtype=float).ravel()


def forward_projection(p: URFBParams, l: int, pre, post, W, mask, apply_flag: str):
    from brian2 import Synapses

    post_error = "err" if l == p.n_layers else "d"
    code, acc, apply = eq.forward_projection(l, post_error, apply_flag)
    S = Synapses(pre, post, code, name=f"W{l}")
    _load(S, W, mask)
    S.run_regularly(acc, when="end", order=1, name=f"W{l}_acc")
    S.run_regularly(apply, when="end", order=2, name=f"W{l}_apply")
    return S


def feedback_projection(p: URFBParams, l: int, pre, post, R, mask, apply_flag: str, plastic: bool):
    from brian2 import Synapses

    pre_error = "err" if l == p.n_layers else "d"
    code, acc, apply = eq.feedback_projection(l, pre_error, apply_flag, plastic)
    S = Synapses(pre, post, code, name=f"R{l}")
    _load(S, R, mask)
    if plastic:
        S.run_regularly(acc, when="end", order=1, name=f"R{l}_acc")
        S.run_regularly(apply, when="end", order=2, name=f"R{l}_apply")
    return S


def build(p: URFBParams, weights: Mapping[str, np.ndarray], x: np.ndarray, y: np.ndarray, dt: float):
    """The BrianModel of the circuit on trials (x, one-hot y)."""
    from brian2 import TimedArray, second

    from neuromorph.brian import BrianModel

    check_circuit_params(p)
    sch = phase_schedule(p)
    T, L = sch.trial_steps, p.n_layers
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if x.ndim != 2 or x.shape[1] != p.sizes[0] or y.shape != (x.shape[0], p.sizes[-1]):
        raise ShapeError(
            f"urfb: trials need x (n, {p.sizes[0]}) and one-hot y (n, {p.sizes[-1]}), got {x.shape} and {y.shape}"
        )
    # one row per trial: a TimedArray whose dt is one trial
    x_in = TimedArray(x, dt=T * dt * second, name="x_in")
    y_in = TimedArray(y, dt=T * dt * second, name="y_in")
    flags = sch.brian_flags()
    layers = [input_population(p, flags)]
    layers += [hidden_population(p, l, flags) for l in range(1, L)]
    layers.append(output_population(p, flags))
    masks = masks_of(p, weights)
    plastic = set(plastic_layout(p))
    layout = weight_layout(p)
    syns, probes = [], {}
    for l in range(1, L + 1):
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
        n_trials=x.shape[0],
        dt=dt,
        state_probes=states,
        weight_probes=probes,
        inputs={"x": x_in, "y": y_in},
        namespace={"x_in": x_in, "y_in": y_in, **eq.namespace(p)},
    )
