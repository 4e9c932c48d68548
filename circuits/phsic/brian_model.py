"""Brian2 model of the streaming pHSIC circuit, built from the templates of ``equations.py`` (what is simulated and
the step order are written there), one small function per population or projection.

Groups and their place in the Gauss-Seidel sweep of a step (Brian2 ``order``; a summed input runs at its target's
order − 1, a population's rates at its order in the 'groups' slot):

    X, Y (0) → L_k (10k) → N_k (10k + 5, divnorm) → O (10(L + 1)) → K (1000) → b1_k, b2_k, b3_k (1000 + 10k + 2/4/6)

Gates in the ``end`` slot: memories (order 0), b3's running average (order 0), the learning event of W^k (order 1,
on the ``learn`` step only), monitors (order 1000).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from neuromorph.brian import blocks
from neuromorph.brian.blocks import attach, gated_store, neuron_group, run_code, synapses, trial_inputs
from neuromorph.brian.model import BrianModel, set_weight_matrix
from neuromorph.errors import ConfigError

from . import equations as E
from .params import PHSICCircuitParams, state_names

if TYPE_CHECKING:  # pragma: no cover
    from neuromorph.phases import PhaseSchedule

    from .circuit import PHSIC

__all__ = ["build_brian"]

_INPUT_KEYS = ("x_a", "x_b", "y_a", "y_b")
# the steps on which a pre-synaptic population triggers its projection's plasticity pathways
_EVENTS = {"learn": "gate_learn > 0", "apply": "apply_update > 0"}


def build_brian(circuit: PHSIC, weights, data) -> BrianModel:
    """The circuit's Brian2 objects for ``data``'s trials (one TimedArray row per trial), with its probes."""
    p, sch = circuit.params, circuit.schedule
    p.check_streaming()
    circuit.check_weights(weights)
    n_trials = circuit.check_data(data)
    _check_learn_step(sch)
    L = p.n_hidden_layers
    objects: list = []
    probes: dict[str, tuple] = {}
    N, C = p.sizes, p.sizes[-1]
    X = input_population(sch, "X", "x", N[0], objects)
    Y = input_population(sch, "Y", "y", C, objects)
    layers, norms, syns = {}, {}, {}
    pre = X
    for k in range(1, L + 1):
        layers[k] = hidden_layer(p, sch, k, objects, probes)
        syns[k] = projection(p, k, pre, layers[k], weights[f"W{k}"], objects)
        if p.mode == "divnorm":
            norms[k] = norm_unit(p, sch, k, layers[k], objects, probes)
        pre = layers[k]
    readout(p, pre, weights, objects, probes)
    K = label_kernel(p, Y, objects, probes)
    for k in range(1, L + 1):
        third_factor(p, sch, k, layers[k], norms.get(k), K, objects, probes)
    namespace = trial_inputs(data, _INPUT_KEYS, sch.trial_steps * circuit.dt)
    return BrianModel(
        objects=objects,
        schedule=sch,
        n_trials=n_trials,
        dt=circuit.dt,
        state_probes={name: probes[name] for name in state_names(p)},
        weight_probes={f"W{k}": (syns[k], (N[k - 1], N[k]), "w") for k in range(1, L + 1)},
        inputs={key: namespace[f"{key}_in"] for key in _INPUT_KEYS},
        namespace=namespace,
    )


def relay(pre, post, assignments, name, i=None, j=None, ref=""):
    """:func:`neuromorph.brian.blocks.relay` whose namespace also holds the two groups' symbols: a relay reads
    subexpressions of its groups (b3's M = −(b2 − b3) kz/σ²), which Brian2 resolves in the synapses' namespace."""
    S = blocks.relay(pre, post, assignments, name, i=i, j=j, ref=ref)
    S.namespace.update({**(pre.namespace or {}), **(post.namespace or {})})
    return S


def _check_learn_step(sch: PhaseSchedule) -> None:
    """The learning event carries the window's apply step too: both must be the trial's last step."""
    if sch.end("update") != sch.trial_steps - 1:
        raise ConfigError("phsic: the update phase must end the trial (its learn step is where a window is applied)")


# ---- populations of the sweep -----------------------------------------------------------------------------------
def input_population(sch: PhaseSchedule, name: str, key: str, n: int, objects: list):
    """X or Y (n units): sample a during sample_a, b afterwards, once per step; memory of sample a (``store``)."""
    G = neuron_group(n, E.input_population(name), schedule=sch, order=0, events=_EVENTS)
    run_code(G, E.input_rates(name, key))
    gated_store(G, [("out_a", "out")])
    objects.append(G)
    return G


def hidden_layer(p: PHSICCircuitParams, sch: PhaseSchedule, k: int, objects: list, probes: dict):
    """L_k: rates once per step after its summed inputs; memories (``store``); the ``learn`` event (it drives the
    plasticity of the projection this layer sends, W^(k+1))."""
    G = neuron_group(p.sizes[k], E.hidden_layer(p, k), schedule=sch, order=10 * k, events=_EVENTS)
    run_code(G, E.hidden_rates(p, k))
    gated_store(G, [("out_a", "out"), ("g_a", "g")])
    objects.append(G)
    probes[f"z{k}"] = (G, "z")
    probes[f"mod{k}"] = (G, "mod")
    if p.mode == "divnorm":
        probes[f"r{k}"] = (G, "out")
    return G


def projection(p: PHSICCircuitParams, k: int, pre, post, matrix, objects: list):
    """W^k: the summed drive of layer k and its two-point update, run on the ``learn`` and ``apply`` events of the
    pre-synaptic population only (``end`` slot, orders 1 and 2: after the memories, before the monitors, where
    every-step gated blocks would run). The pre side triggers them because synapses are stored pre-major: each spiking pre neuron's synapses
    are contiguous in memory (a post-triggered pathway strides through them, several times slower)."""
    learn, apply = E.projection_learning(p, k), E.projection_apply(p, k)
    S = synapses(pre, post, E.projection_synapses(k).bind(**apply.namespace),
                 on_pre={"learn": learn.code(comments=False), "apply": apply.code(comments=False)},
                 on_event={"learn": "learn", "apply": "apply"})
    for pathway, template in ((S.learn, learn), (S.apply, apply)):
        pathway.when, pathway.order = template.when, template.order
        attach(pathway, template)
    set_weight_matrix(S, np.asarray(matrix, dtype=float))
    objects.append(S)
    return S


def norm_unit(p: PHSICCircuitParams, sch: PhaseSchedule, k: int, layer, objects: list, probes: dict):
    """N_k: one interneuron per group of n_α contiguous neurons; statistics in, z̄, u and M_α out."""
    c, na = p.n_groups, p.group_size(k)
    G = neuron_group(c, E.norm_unit(p, k), schedule=sch, order=10 * k + 5)
    gated_store(G, [("w_a", "w")])
    objects.append(G)
    member = np.arange(p.sizes[k])
    objects.append(relay(layer, G, ["S1_post = z_pre", "S2_post = z_pre*z_pre"], f"L{k}_to_norm", member, member // na, ref="eq. 17"))
    objects.append(relay(G, layer, ["zbar_post = zbar_pre", "u_post = u_pre", "mod_post = Malpha_pre"], f"L{k}_norm_to_L",
                         member // na, member, ref="eqs. 17, 66"))
    probes[f"u{k}"] = (G, "u")
    return G


def readout(p: PHSICCircuitParams, last, weights, objects: list, probes: dict):
    """O: the fixed readout W_outᵀ h^L + b_out."""
    O = neuron_group(p.sizes[-1], E.readout(p), order=10 * (p.n_hidden_layers + 1))
    O.b = np.asarray(weights["b_out"], dtype=float)
    S = synapses(last, O, E.readout_synapses())
    set_weight_matrix(S, np.asarray(weights["W_out"], dtype=float))
    objects += [O, S]
    probes["o"] = (O, "o")
    return O


def label_kernel(p: PHSICCircuitParams, labels, objects: list, probes: dict):
    """K: k(y_b, y_a) from the label population and its memory (eq. 35)."""
    K = neuron_group(1, E.label_kernel(p), order=1000)
    objects += [K, relay(labels, K, ["dot_post = out_pre*out_a_pre"], "Y_to_K", ref="eq. 35")]
    probes["ky"] = (K, "ky")
    return K


# ---- third-factor units of layer k --------------------------------------------------------------------------------
def third_factor(p: PHSICCircuitParams, sch: PhaseSchedule, k: int, layer, norm, K, objects: list, probes: dict):
    """b1_k (kernel of the two points), b2_k (γ k_y − 2 kz), b3_k (running mean, M) and M's way back to the
    layer (directly in plain; through the group interneurons as M_α in divnorm)."""
    base = 1000 + 10 * k
    B1 = neuron_group(1, E.b1_unit(p, k), order=base + 2)
    objects.append(B1)
    if p.mode == "divnorm":
        d = "(w_pre - w_a_pre)"
        objects.append(relay(norm, B1, [f"D1_post = {d}", f"D2_post = {d}*{d}"], f"L{k}_norm_to_b1", ref="eq. 65"))
        objects.append(relay(B1, norm, ["dmean_post = dmean_pre"], f"L{k}_b1_to_norm", ref="eq. 18"))
    else:
        d = "(out_pre - out_a_pre)"
        objects.append(relay(layer, B1, [f"b1_post = {d}*{d}"], f"L{k}_to_b1", ref="eq. 59"))
    B2 = neuron_group(1, E.b2_unit(p, k), order=base + 4)
    objects += [B2, relay(K, B2, ["ky_in_post = ky_pre"], f"K_to_L{k}_b2"), relay(B1, B2, ["kz_in_post = kz_pre"], f"L{k}_b1_to_b2")]
    B3 = neuron_group(1, E.b3_unit(p, k), schedule=sch, order=base + 6)
    B3.b3 = p.b3_start(k)
    run_code(B3, E.b3_centre(p, k))
    objects += [B3, relay(B1, B3, ["kz_in_post = kz_pre"], f"L{k}_b1_to_b3"), relay(B2, B3, ["b2_in_post = b2_pre"], f"L{k}_b2_to_b3")]
    if p.mode == "divnorm":
        objects.append(relay(B3, norm, ["Mc_post = M_pre"], f"L{k}_b3_to_norm", ref="eq. 62"))
    else:
        objects.append(relay(B3, layer, ["mod_post = M_pre"], f"L{k}_b3_to_L", ref="eq. 62"))
    probes[f"b1_{k}"] = (B1, "b1")
    probes[f"b2_{k}"] = (B2, "b2")
    probes[f"b3_{k}"] = (B3, "b3")
    probes[f"M{k}"] = (B3, "M")
