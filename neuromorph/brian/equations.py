"""Equations as data: symbolic Brian2 templates with the paper's equation numbers, values in a namespace.

A circuit writes its model once, in ``circuits/<name>/equations.py``, as :class:`GroupEquations`: one per
population, projection or code block, each line an :class:`Eq` carrying the Brian2 text, the paper's
reference ("eq. 19") and a short note. Values never appear inside the text: a line says ``g_A*(v_A - u)``
and the group's ``namespace`` says ``g_A = 6.666666666666667``. Brian2 receives exactly ``code()`` plus
``namespace`` (``NeuronGroup(..., namespace=...)``), so the compiled model reads like the paper and one
template serves every layer (each layer binds its own values).

:func:`read_back` goes the other way: from built Brian2 objects to the equations *as Brian2 holds them*
(its parsed equations, the abstract code of every ``run_regularly`` block, the namespace), with the
templates' references attached: what ``neuromorph equations CIRCUIT`` prints.

This module imports no Brian2 (the read-back touches only attributes of objects it is given), so circuits'
``equations.py`` can be imported where Brian2 is not installed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

__all__ = ["Eq", "GroupEquations", "WindowedRule", "as_eq", "format_equations", "long_literals", "read_back", "format_value", "MAX_LITERAL_DIGITS"]

# A float literal with more significant digits than this inside an equation is a value that should have
# been a namespace name (tests/test_contract.py checks every registered circuit).
MAX_LITERAL_DIGITS = 6


@dataclass(frozen=True)
class Eq:
    """One Brian2 line (equation, declaration or statement) with its provenance.

    ``line`` is Brian2 text without a comment (``"du/dt = (-g_L*u + g_A*(v_A - u))/tau : 1"``);
    ``ref`` the paper's number (``"eq. 19"``, ``"App. I, eq. A.51"``; empty for bookkeeping lines);
    ``doc`` a short note (``"soma, forward Euler"``).
    """

    line: str
    ref: str = ""
    doc: str = ""

    def render(self, comments: bool = True) -> str:
        note = "; ".join(x for x in (self.ref, self.doc) if x)
        return f"{self.line}  # {note}" if comments and note else self.line

    @property
    def target(self) -> str:
        """The name the line defines (``u`` for ``du/dt = ...``, ``acc`` for ``acc += ...``; "" if none)."""
        return _target(self.line)


def as_eq(item: Eq | str) -> Eq:
    """A plain string (e.g. the schedule's flag lines) becomes an Eq without reference."""
    return item if isinstance(item, Eq) else Eq(item)


@dataclass(frozen=True)
class GroupEquations:
    """The equations of one Brian2 object, symbolic, with the values its symbols stand for.

    ``kind``: ``"neurons"`` (a NeuronGroup's model), ``"synapses"`` (a Synapses model) or ``"code"`` (the
    statements of a ``run_regularly`` block; ``when``/``order`` say where it runs in a step).
    ``namespace``: symbol -> value (floats, Brian2 quantities, TimedArrays); passed to Brian2 unchanged.
    """

    name: str
    lines: tuple = ()
    namespace: Mapping[str, Any] = field(default_factory=dict)
    kind: str = "neurons"
    when: str = ""
    order: int = 0
    ref: str = ""  # the object's reference as a whole ("eq. 26", "Algorithm 1")
    event: str = ""  # code run as an event's pathway, not every step: "'learn' (gate_learn > 0) of L1"

    def __post_init__(self):
        object.__setattr__(self, "lines", tuple(as_eq(x) for x in self.lines))
        object.__setattr__(self, "namespace", dict(self.namespace))
        if self.kind not in ("neurons", "synapses", "code"):
            raise ValueError(f"GroupEquations kind must be neurons, synapses or code, got {self.kind!r}")

    def code(self, comments: bool = True) -> str:
        """The Brian2 text (comments carry the references; Brian2 ignores them)."""
        return "\n".join(eq.render(comments) for eq in self.lines if eq.line.strip())

    def bind(self, **values) -> GroupEquations:
        """The same template with more (or other) namespace values: one template, one binding per layer."""
        return replace(self, namespace={**self.namespace, **values})

    def renamed(self, name: str, **values) -> GroupEquations:
        """This template under another object name, with extra values bound."""
        return replace(self, name=name, namespace={**self.namespace, **values})

    def extended(self, *lines: Eq | str) -> GroupEquations:
        """This template with ``lines`` appended (e.g. the schedule's flags or an optional input)."""
        return replace(self, lines=self.lines + tuple(as_eq(x) for x in lines))

    def prefixed(self, *lines: Eq | str) -> GroupEquations:
        """This template with ``lines`` in front."""
        return replace(self, lines=tuple(as_eq(x) for x in lines) + self.lines)

    def ref_of(self, target: str) -> Eq | None:
        """The template line defining ``target`` (for attaching references to Brian2's parsed equations)."""
        for eq in self.lines:
            if eq.target == target:
                return eq
        return None

    def describe(self) -> list[dict]:
        """Rows for printing: one per line, with its reference and note."""
        return [{"line": eq.line, "ref": eq.ref, "doc": eq.doc} for eq in self.lines if eq.line.strip()]

    def symbols(self) -> dict[str, str]:
        """The namespace, each value formatted for reading (``{"g_A": "6.666666666666667"}``)."""
        return {k: format_value(v) for k, v in self.namespace.items()}


@dataclass(frozen=True)
class WindowedRule:
    """Accumulate-then-apply plasticity as data (the pattern every circuit's learning takes).

    Every step: ``acc += gate*(term)`` (``gate`` empty: ``acc += term``). On the update step of a window
    (``apply_update_post``): ``update`` (default ``w += apply_update_post*eta*acc``), then ``acc`` is reset.
    ``namespace`` binds the rule's symbols (``eta``: the learning rate with the window's 1/n_batch, ...).
    ``update`` lines must be gated by ``apply_update_post`` themselves (e.g. ``w = apply_update_post*(...)
    + (1 - apply_update_post)*w``): they run on every step.
    """

    term: str
    gate: str = ""
    update: tuple = ("w += apply_update_post*eta*acc",)
    namespace: Mapping[str, Any] = field(default_factory=dict)
    ref: str = ""
    doc: str = ""
    apply_flag: str = "apply_update_post"

    def __post_init__(self):
        if isinstance(self.update, str):
            object.__setattr__(self, "update", tuple(x for x in self.update.splitlines() if x.strip()))
        object.__setattr__(self, "namespace", dict(self.namespace))

    def accumulate(self, name: str) -> GroupEquations:
        term = f"{self.gate}*({self.term})" if self.gate else self.term
        return GroupEquations(
            name, (Eq(f"acc += {term}", self.ref, self.doc or "accumulate over the window"),), self.namespace,
            kind="code", when="end", order=1, ref=self.ref,
        )

    def apply(self, name: str) -> GroupEquations:
        lines = tuple(Eq(u, self.ref, "apply once per window") for u in self.update)
        lines += (Eq(f"acc = acc*(1 - {self.apply_flag})", "", "start the next window from zero"),)
        return GroupEquations(name, lines, self.namespace, kind="code", when="end", order=2, ref=self.ref)

    def learn(self, name: str) -> GroupEquations:
        """Accumulate, then apply, in one block (``end`` slot, order 1): the code of an event-driven learning
        pathway (:func:`neuromorph.brian.blocks.learning_synapses`), run only on the steps where the gate or
        ``apply_update`` is 1."""
        acc, apply = self.accumulate(name), self.apply(name)
        return GroupEquations(name, acc.lines + apply.lines, self.namespace, kind="code", when="end", order=1, ref=self.ref)


_TARGET = re.compile(r"^\s*(?:d([A-Za-z_]\w*)/dt|([A-Za-z_]\w*))\s*(?:[-+*/]?=|:)")


def _target(line: str) -> str:
    m = _TARGET.match(line.split("#", 1)[0])
    return (m.group(1) or m.group(2)) if m else ""


def format_value(value) -> str:
    """Namespace values for reading: floats in full (repr), quantities with units, TimedArrays by shape."""
    values = getattr(value, "values", None)
    if values is not None and hasattr(value, "dt") and hasattr(values, "shape"):  # a TimedArray
        return f"TimedArray {tuple(values.shape)} (one row per trial)"
    if isinstance(value, float):
        return repr(value)
    return str(value)


# A decimal number: digits with an optional fraction and exponent, not part of a name (x1, W_ff0) or an index.
_NUMBER = re.compile(r"(?<![\w.])(\d+\.\d*|\.\d+|\d+)([eE][-+]?\d+)?(?![\w.])")


def long_literals(text: str, max_digits: int = MAX_LITERAL_DIGITS) -> list[str]:
    """Float literals in ``text`` (comments stripped) with more than ``max_digits`` significant digits."""
    found = []
    for line in text.splitlines():
        code = line.split("#", 1)[0]
        for m in _NUMBER.finditer(code):
            mantissa = m.group(1)
            digits = mantissa.replace(".", "").lstrip("0")
            if "." not in mantissa:  # 1000 has one significant digit; 100.5 has four
                digits = digits.rstrip("0")
            if len(digits) > max_digits:
                found.append(m.group(0))
    return found


# ---- from built Brian2 objects back to equations ------------------------------------------------------------
def _template(obj) -> GroupEquations | None:
    return getattr(obj, "_nm_template", None)


def _constant_over_dt(obj) -> dict[str, str]:
    """{name: expression} of the object's subexpressions flagged "constant over dt". Brian2 turns each into a
    parameter (its parsed equations say ``mu : 1``) that a SubexpressionUpdater sets once per step before the
    state update; the updater's code holds the expression."""
    out = {}
    for runner in getattr(obj, "contained_objects", ()):
        if type(runner).__name__ == "SubexpressionUpdater":
            for text in str(runner.abstract_code).splitlines():
                name = _target(text)
                if name and "=" in text:
                    out[name] = text.split("=", 1)[1].strip()
    return out


def _brian_lines(obj) -> list[str]:
    eqs = getattr(obj, "equations", None)
    if eqs is None:
        return []
    lines = [str(single) for single in eqs.values()] if hasattr(eqs, "values") else str(eqs).splitlines()
    constant = _constant_over_dt(obj)
    if not constant:
        return lines
    out = []
    for text in lines:
        name = _target(text)
        if name in constant and " : " in text and "=" not in text.split(" : ", 1)[0]:
            # what it is: an expression evaluated once per step, not a parameter
            unit, _, flags = text.split(" : ", 1)[1].partition(" (")
            extra = ", ".join(f for f in flags.rstrip(")").split(", ") if f) if flags else ""
            text = f"{name} = {constant[name]} : {unit.strip()} (constant over dt{', ' + extra if extra else ''})"
        out.append(text)
    return out


_IDENT = re.compile(r"[A-Za-z_]\w*")


def _used(namespace: Mapping, lines) -> dict:
    names = {n for eq in lines for n in _IDENT.findall(eq.line)}
    return {k: v for k, v in namespace.items() if k in names}


def _pathways(obj, namespace: Mapping) -> list[GroupEquations]:
    """The event-driven code of a Synapses object (its pathways, e.g. blocks.learning_synapses' learning
    code): one entry each, named after the template it was built from, saying which event runs it."""
    out = []
    for pathway in getattr(obj, "_pathways", ()):
        tmpl = _template(pathway)
        lines = []
        for text in str(pathway.code).splitlines():
            text = text.split("#", 1)[0].strip()
            if not text:
                continue
            same = [eq for eq in (tmpl.lines if tmpl else ()) if eq.line == text]
            src = same[0] if same else (tmpl.ref_of(_target(text)) if tmpl else None)
            lines.append(Eq(text, src.ref if src else "", src.doc if src else ""))
        if not lines:
            continue
        event = pathway.event
        condition = (getattr(pathway.source, "events", None) or {}).get(event, event)
        out.append(GroupEquations(tmpl.name if tmpl else pathway.name, tuple(lines), _used(namespace, lines), kind="code",
                                  when=pathway.when, order=int(pathway.order), ref=tmpl.ref if tmpl else "",
                                  event=f"'{event}' ({condition}) of {pathway.source.name}"))
    return out


def read_back(objects: Iterable, flag_names: Iterable[str] = (), run_namespace: Mapping | None = None) -> list[GroupEquations]:
    """The equations of built Brian2 objects as Brian2 holds them, with the templates' references.

    For each NeuronGroup/Synapses: its parsed equations (one line per variable, Brian2's spelling), then one
    entry per ``run_regularly`` block (its abstract code, ``when``/``order``). Lines defining a name in
    ``flag_names`` (the schedule's flags, the same in every group) are left out. Each entry's namespace is
    what its lines use of the object's own namespace and of ``run_namespace`` (the model's shared names);
    references come from the template a block attached (``_nm_template``), matched by the line's target.
    """
    shared = dict(run_namespace or {})
    flags = set(flag_names)
    out = []
    for obj in objects:
        if not _brian_lines(obj) and not hasattr(obj, "contained_objects"):
            continue
        tmpl = _template(obj)
        lines = []
        texts = _brian_lines(obj)
        for runner in getattr(obj, "contained_objects", ()):
            if type(runner).__name__ == "SummedVariableUpdater":  # Brian2 keeps summed lines apart
                texts.append(f"{runner.target_varname} = {runner.expression} : 1 (summed)")
        for text in texts:
            target = _target(text)
            if target in flags:
                continue
            src = tmpl.ref_of(target) if tmpl else None
            lines.append(Eq(text, src.ref if src else "", src.doc if src else ""))
        kind = "synapses" if hasattr(obj, "source") and hasattr(obj, "target") else "neurons"
        namespace = {**shared, **(getattr(obj, "namespace", None) or {})}
        out.append(GroupEquations(obj.name, tuple(lines), _used(namespace, lines), kind=kind, ref=tmpl.ref if tmpl else ""))
        out += _pathways(obj, namespace)
        for runner in getattr(obj, "contained_objects", ()):
            if type(runner).__name__ != "CodeRunner":  # state updaters, summed-variable updaters: generated
                continue
            rt = _template(runner)
            code_lines = []
            for text in str(runner.abstract_code).strip().splitlines():
                text = text.split("#", 1)[0].rstrip()
                if not text.strip():
                    continue
                src = rt.ref_of(_target(text)) if rt else None
                code_lines.append(Eq(text.strip(), src.ref if src else "", src.doc if src else ""))
            out.append(
                GroupEquations(
                    runner.name,
                    tuple(code_lines),
                    _used(namespace, code_lines),
                    kind="code",
                    when=runner.when,
                    order=int(runner.order),
                    ref=rt.ref if rt else "",
                )
            )
    return out


def format_equations(groups: Iterable[GroupEquations], flag_names: Iterable[str | Eq] = ()) -> str:
    """Readable listing: per object its lines (paper references on the right), then its namespace values.
    ``flag_names``: the schedule's flags, listed once at the top (names, or their defining lines as Eqs)."""
    groups = list(groups)
    out = []
    flags = [as_eq(f) for f in flag_names]
    width = max((len(eq.line) for g in groups for eq in g.lines), default=40)
    width = min(width, 100)
    if flags and all(_target(f.line) == f.line.strip() for f in flags):  # names only
        out.append("phase-schedule flags in every group (integer arithmetic on the time step): "
                   + ", ".join(f.line for f in flags))
    elif flags:  # the flags' definitions: expressions of the time step, evaluated once per step
        out.append("phase-schedule flags, the same lines in every group (constant over dt: evaluated once per step):")
        out += [f"    {f.line}" for f in flags]
    for g in groups:
        where = {"neurons": "NeuronGroup", "synapses": "Synapses"}.get(g.kind, f"run_regularly, {g.when} slot, order {g.order}")
        if g.event:
            where = f"on event {g.event}, {g.when} slot, order {g.order}"
        out.append("")
        out.append(f"{g.name}  ({where})" + (f"  [{g.ref}]" if g.ref else ""))
        for eq in g.lines:
            note = "; ".join(x for x in (eq.ref, eq.doc) if x)
            out.append(f"    {eq.line:<{width}}" + (f"  # {note}" if note else ""))
        if g.namespace:
            out.append("    where " + ", ".join(f"{k} = {v}" for k, v in g.symbols().items()))
    return "\n".join(out)
