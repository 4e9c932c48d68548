"""Brian2 building blocks the circuits compose: groups from templates, projections, relays, gated stores,
phase resets, windowed accumulate-then-apply plasticity, and the one check of a trial's inputs.

Every block takes a symbolic template (:class:`~neuromorph.brian.equations.GroupEquations`) or builds one,
hands Brian2 its text and namespace, and attaches the template to the Brian2 object it creates
(``_nm_template``) so that :func:`~neuromorph.brian.equations.read_back` can print the equations as Brian2
holds them next to the paper's references.

Where in a time step each block runs (Brian2's schedule; the toolkit's convention for every circuit):

====================  ==================  =========================================================
block                 slot                why
====================  ==================  =========================================================
phase_reset           ``start``, 0        a phase's first step begins from the reset state
(state updates)       ``groups``          Euler step; a summed input runs at its target's order − 1
gated_store           ``end``, 0          the snapshot sees this step's updated state
windowed_plasticity   ``end``, 1 and 2    accumulate after the snapshot, apply last (then reset acc)
learning_synapses     ``end``, 1          the same code as one event-driven pathway: run only on the
                                          steps where the presynaptic group raises its learning event
monitors              ``end``, 1000       the state after everything (neuromorph.brian.model)
====================  ==================  =========================================================

Speed. A ``run_regularly`` block on a Synapses object is a pass over every synapse on every step, even where
its gate is 0: windowed_plasticity costs two such passes per step (2-3 ns per synapse and step on
cpp_standalone at width 400, where the summed input alone costs ~0.8). Learning happens on one or two steps
of a trial, so the circuits run it with :func:`learning_synapses` instead: the presynaptic group raises a
custom event on those steps (a condition on the schedule's flags, the same for every neuron) and the
synapses run the accumulate-then-apply code as the event's pathway, in the same slot. Synapses are stored
pre-major, so a pre-triggered pathway walks memory in order.

Brian2 is imported inside the functions: importing this module costs nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import numpy as np

from ..errors import ShapeError
from .equations import Eq, GroupEquations, WindowedRule, _target
from .model import set_weight_matrix

__all__ = [
    "check_trial_inputs",
    "schedule_flags",
    "flag_names",
    "attach",
    "neuron_group",
    "synapses",
    "projection",
    "relay",
    "run_code",
    "gated_store",
    "phase_reset",
    "windowed_plasticity",
    "learning_synapses",
    "learning_event",
    "trial_inputs",
]


# ---- inputs ---------------------------------------------------------------------------------------------------
def check_trial_inputs(circuit: str, data: Mapping, expected: Mapping[str, Sequence]) -> int:
    """Check ``data`` against ``expected`` shapes and return the number of trials.

    ``expected`` maps each key to its shape; ``None`` marks the trial axis (the same length everywhere),
    e.g. ``{"x": (None, 8), "y": (None, 3), "beta": (None,)}``. Raises one :class:`ShapeError` naming the key,
    the shape found and the shape expected.
    """

    def show(shape) -> str:
        dims = ["n_trials" if d is None else str(d) for d in shape]
        return "(" + ", ".join(dims) + ("," if len(dims) == 1 else "") + ")"

    missing = [k for k in expected if k not in data]
    if missing:
        need = ", ".join(f"{k!r} {show(s)}" for k, s in expected.items())
        raise ShapeError(f"{circuit}: trial data needs {need}; missing {missing}")
    n_trials = None
    for key, shape in expected.items():
        got = np.shape(data[key])
        ok = len(got) == len(shape) and all(d is None or g == d for g, d in zip(got, shape))
        if ok:
            for g, d in zip(got, shape):
                if d is None:
                    if n_trials is None:
                        n_trials = g
                    elif g != n_trials:
                        ok = False
        if not ok:
            trials = "" if n_trials is None else f" with n_trials = {n_trials}"
            raise ShapeError(f"{circuit}: trial data {key!r} has shape {tuple(got)}, expected {show(shape)}{trials}")
    if n_trials is not None and n_trials < 1:
        raise ShapeError(f"{circuit}: trial data holds no trials (n_trials = 0); give at least one")
    return int(n_trials or 0)


def trial_inputs(data: Mapping, keys: Iterable[str], trial_seconds: float, suffix: str = "_in") -> dict:
    """One TimedArray per key, one row per trial (dt = one trial): ``{"x_in": TimedArray, ...}``.

    Rows clamp after the last trial (never read). Put the result in the model's (run) namespace.
    """
    from brian2 import TimedArray, second

    return {
        f"{k}{suffix}": TimedArray(np.asarray(data[k], dtype=float), dt=trial_seconds * second, name=f"{k}{suffix}")
        for k in keys
    }


# ---- schedule flags -------------------------------------------------------------------------------------------
def schedule_flags(schedule) -> tuple[Eq, ...]:
    """The schedule's flag lines (k, trial, in_<phase>, gate_<g>, reset_<r>, apply_update, ...) as Eqs."""
    return tuple(Eq(line, "", "phase schedule") for line in schedule.brian_flags().splitlines() if line.strip())


def flag_names(schedule) -> tuple[str, ...]:
    """Names the schedule's flags define (left out of printed equations: they are the same in every group)."""
    return tuple(_target(eq.line) for eq in schedule_flags(schedule))


# ---- objects from templates ----------------------------------------------------------------------------------
def attach(obj, template: GroupEquations):
    """Remember ``template`` on a Brian2 object (for read_back); returns ``obj``."""
    object.__setattr__(obj, "_nm_template", template)
    return obj


def neuron_group(n: int, eqs: GroupEquations, *, schedule=None, method: str = "euler", order: int = 0, **kwargs):
    """A NeuronGroup named ``eqs.name`` with ``eqs``' text and namespace (and the schedule's flags first)."""
    from brian2 import NeuronGroup

    if schedule is not None:
        eqs = eqs.prefixed(*schedule_flags(schedule))
    G = NeuronGroup(n, eqs.code(), method=method, name=eqs.name, order=order, namespace=dict(eqs.namespace), **kwargs)
    return attach(G, eqs)


def synapses(pre, post, eqs: GroupEquations, **kwargs):
    """A Synapses object named ``eqs.name`` with ``eqs``' text and namespace (not connected)."""
    from brian2 import Synapses

    S = Synapses(pre, post, eqs.code(), name=eqs.name, namespace=dict(eqs.namespace), **kwargs)
    return attach(S, eqs)


def projection(
    pre,
    post,
    name: str,
    target: str,
    weights: np.ndarray | None = None,
    *,
    source: str = "r",
    plastic: bool = False,
    extra: Sequence[Eq | str] = (),
    namespace: Mapping | None = None,
    ref: str = "",
    learning: GroupEquations | WindowedRule | None = None,
    event: str = "learn",
):
    """All-to-all weights ``w`` driving ``target`` of ``post`` with ``source`` of ``pre``:

        w : 1;  [acc : 1 (plastic)];  {target}_post = w*{source}_pre : 1 (summed)

    ``weights`` (n_pre, n_post) are loaded with :func:`set_weight_matrix` (pre-major synapse order on every
    device). Without ``weights`` the synapses are left unconnected (connect them yourself, e.g. with a
    condition). ``learning`` (a code template or a WindowedRule; implies ``plastic``): the synapses' learning
    code, run as the pathway of ``pre``'s custom event ``event`` (:func:`learning_synapses`).
    """
    plastic = plastic or learning is not None
    lines = [Eq("w : 1", "", "weight")]
    if plastic:
        lines.append(Eq("acc : 1", "", "update accumulated over the window"))
    lines.append(Eq(f"{target}_post = w*{source}_pre : 1 (summed)", ref, f"{pre.name} -> {post.name}"))
    lines.extend(extra)
    template = GroupEquations(name, tuple(lines), dict(namespace or {}), kind="synapses", ref=ref)
    if learning is None:
        S = synapses(pre, post, template)
    else:
        if isinstance(learning, WindowedRule):
            learning = learning.learn(f"{name}_learn")
        S = learning_synapses(pre, post, template, learning, event=event)
    if weights is not None:
        set_weight_matrix(S, np.asarray(weights, dtype=float))
    return S


def relay(pre, post, assignments: Sequence[str], name: str, i=None, j=None, ref: str = ""):
    """Weightless synapses copying or summing ``assignments`` (``"target_post = expr"``, summed) pre -> post.

    All-to-all unless ``i``/``j`` give the connections (e.g. each neuron to its group's interneuron).
    """
    eqs = GroupEquations(name, tuple(Eq(f"{a} : 1 (summed)", ref) for a in assignments), kind="synapses", ref=ref)
    S = synapses(pre, post, eqs)
    if i is None:
        S.connect()
    else:
        S.connect(i=np.asarray(i), j=np.asarray(j))
    return S


# ---- code blocks ------------------------------------------------------------------------------------------------
def run_code(owner, code: GroupEquations):
    """``owner.run_regularly`` with a code template (its ``when``/``order``); its namespace joins the owner's.

    A symbol bound to different values in the owner and the template is a programming error (Brian2 would
    pick one silently): ValueError.
    """
    ns = owner.namespace
    if ns is None:
        object.__setattr__(owner, "namespace", {})
        ns = owner.namespace
    for k, v in code.namespace.items():
        if k in ns and ns[k] is not v and not _same(ns[k], v):
            raise ValueError(f"{owner.name}: symbol {k!r} is bound to {ns[k]!r} and, by {code.name}, to {v!r}")
        ns[k] = v
    # Brian2 parses abstract code without comments: the references stay on the attached template.
    runner = owner.run_regularly(code.code(comments=False), when=code.when or "end", order=code.order, name=code.name)
    return attach(runner, code)


def _same(a, b) -> bool:
    try:
        return bool(np.all(a == b))
    except Exception:  # noqa: BLE001 - incomparable objects are different
        return False


def gated_store(owner, pairs: Sequence[tuple[str, str]], gate: str = "gate_store", *, name: str | None = None, ref: str = ""):
    """On the steps where ``gate`` is 1 copy ``value`` into ``memory`` (``end`` slot, order 0):

        memory = gate*value + (1 - gate)*memory

    The arithmetic form (no if) compiles to the same code on every target; the snapshot of the free phase's
    rates and pHSIC's memory of sample a are both this.
    """
    lines = tuple(Eq(f"{m} = {gate}*{v} + (1 - {gate})*{m}", ref, f"store {v} while {gate}") for m, v in pairs)
    return run_code(owner, GroupEquations(name or f"{owner.name}_store", lines, kind="code", when="end", order=0, ref=ref))


def phase_reset(owner, statements: Sequence[str], *, name: str | None = None, ref: str = ""):
    """Reset statements at the ``start`` slot (before the step's update), gated by the schedule's reset flags,
    e.g. ``["u = u*(1 - reset_zero)"]``."""
    lines = tuple(Eq(s, ref, "phase reset") for s in statements)
    return run_code(owner, GroupEquations(name or f"{owner.name}_reset", lines, kind="code", when="start", order=0, ref=ref))


def windowed_plasticity(S, rule: WindowedRule, *, name: str | None = None):
    """Accumulate-then-apply learning on synapses ``S`` (which declare ``acc : 1``; ``plastic=True``):

    ``end`` order 1: ``acc += gate*(term)``; ``end`` order 2: the rule's update on ``apply_update`` steps
    (default ``w += apply_update_post*eta*acc``), then ``acc = acc*(1 - apply_update_post)``.
    The rule's rate and constants are bound in the namespace (``eta`` = lr/(β·n_batch), ...).
    Returns the two code runners.
    """
    name = name or S.name
    return run_code(S, rule.accumulate(f"{name}_acc")), run_code(S, rule.apply(f"{name}_apply"))


# ---- event-driven learning ----------------------------------------------------------------------------------------
def learning_event(*flags: str) -> str:
    """The condition of a learning event: true on the steps where any of the schedule's ``flags`` is 1
    (e.g. ``learning_event("gate_learn", "apply_update")``). Put it in the presynaptic group's ``events``."""
    if not flags:
        raise ValueError("learning_event needs at least one schedule flag")
    return " + ".join(flags) + " > 0"


def learning_synapses(pre, post, template: GroupEquations, learn: GroupEquations, *, event: str = "learn", **kwargs):
    """Synapses from ``template`` whose learning code ``learn`` (statements on the synapses, e.g.
    :meth:`WindowedRule.learn`) runs as the pathway ``event`` of ``pre``'s custom event ``event``, in
    ``learn``'s slot (default ``end``, order 1), instead of on every step.

    ``pre`` must declare the event (``events={event: learning_event(...)}``) true on every step where the code
    changes something: where its gates are 1. On the other steps the gated code adds 0 and keeps ``w``, so
    skipping them gives the same numbers. Accumulating and applying in one pass per synapse (a window's
    update falls on a learning step) equals all accumulations, then all updates, as long as no accumulated
    term reads a weight.
    """
    namespace = dict(template.namespace)
    for key, value in learn.namespace.items():
        if key in namespace and not _same(namespace[key], value):
            raise ValueError(f"{template.name}: symbol {key!r} bound to {namespace[key]!r} and, by {learn.name}, to {value!r}")
        namespace[key] = value
    S = synapses(
        pre, post, GroupEquations(template.name, template.lines, namespace, kind="synapses", ref=template.ref),
        on_pre={event: learn.code(comments=False)}, on_event={event: event}, **kwargs,
    )
    pathway = getattr(S, event)
    pathway.when, pathway.order = learn.when or "end", learn.order
    attach(pathway, learn)
    return S
