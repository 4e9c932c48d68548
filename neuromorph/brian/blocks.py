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
monitors              ``end``, 1000       the state after everything (neuromorph.brian.model)
====================  ==================  =========================================================

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
):
    """All-to-all weights ``w`` driving ``target`` of ``post`` with ``source`` of ``pre``:

        w : 1;  [acc : 1 (plastic)];  {target}_post = w*{source}_pre : 1 (summed)

    ``weights`` (n_pre, n_post) are loaded with :func:`set_weight_matrix` (pre-major synapse order on every
    device). Without ``weights`` the synapses are left unconnected (connect them yourself, e.g. with a
    condition).
    """
    lines = [Eq("w : 1", "", "weight")]
    if plastic:
        lines.append(Eq("acc : 1", "", "update accumulated over the window"))
    lines.append(Eq(f"{target}_post = w*{source}_pre : 1 (summed)", ref, f"{pre.name} -> {post.name}"))
    lines.extend(extra)
    S = synapses(pre, post, GroupEquations(name, tuple(lines), dict(namespace or {}), kind="synapses", ref=ref))
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
