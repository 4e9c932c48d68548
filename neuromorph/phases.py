"""Phase schedules: the timing of one trial, as data.

A trial is an ordered list of phases (free, nudged, ...), each lasting a whole number of integration steps.
A phase can

* scale the teaching signal (``nudge``: 0 in a free phase, 1 in a nudged one; circuits multiply it with
  their own β and any per-trial sign),
* clamp inputs (``clamp``: the names of the input streams that drive the circuit during the phase),
* reset state on its first step (``resets``: names of reset actions the circuit defines, e.g. ``"zero"``),
* open gates on its last step (``gates``: names of end-of-phase actions, e.g. ``"snapshot_free"``).

Weight updates are applied every ``trials_per_update`` trials (a mini-batch of sequential trials); the
``apply_update`` flag is 1 on the last step of the last trial of each such window.

One schedule object drives both simulators:

* Brian2: :meth:`PhaseSchedule.brian_flags` writes the flags as ``(constant over dt)`` subexpressions of
  ``timestep(t, dt)``, so every phase of every trial runs inside one compiled run (no ``network_operation``,
  no Python loop of ``run()`` calls).
* torch: :meth:`PhaseSchedule.steps` yields one :class:`Step` per integration step with the same flags.

Timing semantics follow Brian2's step order (see ../shared/notes §2.4): a reset runs in the ``start`` slot of
the phase's first step (before the state update), a gate in the ``end`` slot of the phase's last step (after
the update, seeing the new state).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field

from .errors import ConfigError

__all__ = ["Phase", "PhaseSchedule", "Step"]


@dataclass(frozen=True)
class Phase:
    """One named phase of a trial."""

    name: str
    steps: int
    nudge: float = 0.0
    clamp: tuple[str, ...] = ()
    resets: tuple[str, ...] = ()
    gates: tuple[str, ...] = ()

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name.isidentifier():
            raise ConfigError(f"phase name {self.name!r} must be a Python identifier (it becomes a Brian2 flag name)")
        if not isinstance(self.steps, int) or isinstance(self.steps, bool) or self.steps < 1:
            raise ConfigError(f"phase {self.name!r}: steps must be a positive integer, got {self.steps!r}")
        for kind in ("clamp", "resets", "gates"):
            names = getattr(self, kind)
            if isinstance(names, str):
                names = (names,)
            names = tuple(names)
            for n in names:
                if not isinstance(n, str) or not n.isidentifier():
                    raise ConfigError(f"phase {self.name!r}: {kind} entry {n!r} must be an identifier")
            object.__setattr__(self, kind, names)
        object.__setattr__(self, "nudge", float(self.nudge))


@dataclass(frozen=True)
class Step:
    """What happens at one integration step of a trial (the torch loop reads these)."""

    k: int  # step index within the trial
    phase: Phase
    first: bool  # first step of its phase: resets apply before the update
    last: bool  # last step of its phase: gates apply after the update
    nudge: float
    resets: tuple[str, ...]  # resets to apply before this step's update
    gates: tuple[str, ...]  # gates to apply after this step's update

    def clamped(self, name: str) -> bool:
        return name in self.phase.clamp


@dataclass(frozen=True)
class PhaseSchedule:
    """An ordered list of phases that make up every trial, plus the update window."""

    phases: tuple[Phase, ...]
    trials_per_update: int = 1
    _starts: tuple[int, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        phases = tuple(self.phases)
        if not phases:
            raise ConfigError("a phase schedule needs at least one phase")
        names = [p.name for p in phases]
        if len(set(names)) != len(names):
            raise ConfigError(f"phase names must be unique, got {names}")
        if not isinstance(self.trials_per_update, int) or isinstance(self.trials_per_update, bool) or self.trials_per_update < 1:
            raise ConfigError(f"trials_per_update must be a positive integer, got {self.trials_per_update!r}")
        starts, s = [], 0
        for p in phases:
            starts.append(s)
            s += p.steps
        object.__setattr__(self, "phases", phases)
        object.__setattr__(self, "_starts", tuple(starts))

    # ---- structure -------------------------------------------------------------------------------
    @property
    def trial_steps(self) -> int:
        """Integration steps in one trial."""
        return sum(p.steps for p in self.phases)

    def phase(self, name: str) -> Phase:
        for p in self.phases:
            if p.name == name:
                return p
        raise ConfigError(f"no phase named {name!r}; phases are {[p.name for p in self.phases]}")

    def start(self, name: str) -> int:
        """Step index (within a trial) at which phase ``name`` starts."""
        return self._starts[[p.name for p in self.phases].index(self.phase(name).name)]

    def end(self, name: str) -> int:
        """Step index of the last step of phase ``name``."""
        return self.start(name) + self.phase(name).steps - 1

    def boundary_steps(self) -> dict[str, int]:
        """Last step index of every phase: where the equivalence harness compares states."""
        return {p.name: self.end(p.name) for p in self.phases}

    @property
    def reset_names(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(r for p in self.phases for r in p.resets))

    @property
    def gate_names(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(g for p in self.phases for g in p.gates))

    def with_steps(self, steps: Mapping[str, int]) -> PhaseSchedule:
        """A copy with some phase durations changed (e.g. ``{"free": 20}``)."""
        unknown = set(steps) - {p.name for p in self.phases}
        if unknown:
            raise ConfigError(f"unknown phase(s) {sorted(unknown)}; phases are {[p.name for p in self.phases]}")
        phases = tuple(
            Phase(p.name, int(steps.get(p.name, p.steps)), p.nudge, p.clamp, p.resets, p.gates) for p in self.phases
        )
        return PhaseSchedule(phases, self.trials_per_update)

    # ---- torch side --------------------------------------------------------------------------------
    def steps(self) -> Iterator[Step]:
        """The steps of one trial, in order."""
        for p, s0 in zip(self.phases, self._starts):
            for j in range(p.steps):
                first, last = j == 0, j == p.steps - 1
                yield Step(
                    k=s0 + j,
                    phase=p,
                    first=first,
                    last=last,
                    nudge=p.nudge,
                    resets=p.resets if first else (),
                    gates=p.gates if last else (),
                )

    def applies_update(self, trial: int) -> bool:
        """Whether the weight update fires at the end of trial ``trial`` (0-based)."""
        return (trial + 1) % self.trials_per_update == 0

    # ---- Brian2 side ---------------------------------------------------------------------------------
    def brian_flags(self, extra_flags: Sequence[str] = ()) -> str:
        """Equation lines defining the schedule's flags for a Brian2 group.

        Defines ``k`` (step within the trial), ``trial`` (trial index), ``nudge`` (the phase's nudge scale),
        ``in_<phase>`` (1 during a phase), ``clamp_<input>`` (1 while a phase clamps that input), ``reset_<name>`` (1 on the first step of a phase that lists the
        reset), ``gate_<name>`` (1 on the last step of a phase that lists the gate) and ``apply_update``
        (1 on the last step of every ``trials_per_update``-th trial). All are integer arithmetic on
        ``timestep(t, dt)``, so they compile on every Brian2 target, CUDA included, and cost nothing to
        change between phases. Numbers are written as literals: the schedule is fixed at build time.
        """
        T = self.trial_steps
        lines = [
            f"k = timestep(t, dt) % {T} : integer (constant over dt)",
            f"trial = timestep(t, dt) // {T} : integer (constant over dt)",
        ]
        in_terms = {}
        for p, s0 in zip(self.phases, self._starts):
            term = f"int(k >= {s0})*int(k < {s0 + p.steps})"
            in_terms[p.name] = term
            lines.append(f"in_{p.name} = {term} : 1 (constant over dt)")
        for c in dict.fromkeys(c for p in self.phases for c in p.clamp):
            terms = [f"in_{p.name}" for p in self.phases if c in p.clamp]
            lines.append(f"clamp_{c} = {' + '.join(terms)} : 1 (constant over dt)")
        nudge_terms = [f"{p.nudge!r}*in_{p.name}" for p in self.phases if p.nudge != 0.0]
        lines.append(f"nudge = {' + '.join(nudge_terms) if nudge_terms else '0.0'} : 1 (constant over dt)")
        for r in self.reset_names:
            terms = [f"int(k == {self.start(p.name)})" for p in self.phases if r in p.resets]
            lines.append(f"reset_{r} = {' + '.join(terms)} : 1 (constant over dt)")
        for g in self.gate_names:
            terms = [f"int(k == {self.end(p.name)})" for p in self.phases if g in p.gates]
            lines.append(f"gate_{g} = {' + '.join(terms)} : 1 (constant over dt)")
        B = self.trials_per_update
        lines.append(f"apply_update = int(k == {T - 1})*int(trial % {B} == {B - 1}) : 1 (constant over dt)")
        lines.extend(extra_flags)
        return "\n".join(lines)

    # ---- description ----------------------------------------------------------------------------------
    def describe(self) -> list[dict]:
        return [
            {
                "name": p.name,
                "steps": p.steps,
                "start": s0,
                "nudge": p.nudge,
                "clamp": list(p.clamp),
                "resets": list(p.resets),
                "gates": list(p.gates),
            }
            for p, s0 in zip(self.phases, self._starts)
        ]
