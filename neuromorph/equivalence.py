"""Equivalence harness: a circuit's Brian2 model versus its torch reference.

Both sides get the same initial weights (generated once), the same trials (inputs, targets, per-trial
values) and the same phase schedule. Every recorded state variable is compared at the last step of every
phase of every trial, and every plastic matrix after every weight update.

Errors per variable:

* ``max_abs``: max |brian − torch| over all compared entries;
* ``max_rel``: max_abs / max(|torch|) over the same entries (a scale-aware relative error that does not
  blow up on entries that happen to be near zero).

The check passes when every variable's ``max_rel`` is at most the tolerance. Tolerances by target (float64):
1e-9 for numpy, cython and cpp_standalone (observed ~1e-16); 1e-9 for cuda_standalone too (its atomics reorder
sums and ``-use_fast_math`` contracts to FMAs; both stay many orders of magnitude below it in float64).
"""

from __future__ import annotations

import json
import platform
import time
from dataclasses import asdict, dataclass, field

import numpy as np
import torch

from .brian.devices import activate, normalise_target
from .brian.model import run_model
from .circuit import Circuit, Trace
from .errors import ShapeError
from .io import atomic_write_text

__all__ = ["VariableError", "EquivalenceReport", "compare_traces", "verify", "DEFAULT_TOLERANCE"]

DEFAULT_TOLERANCE = 1e-9


@dataclass
class VariableError:
    name: str
    kind: str  # "state" or "weight"
    compared: int  # number of entries compared
    max_abs: float
    max_rel: float
    scale: float  # max |reference| (the denominator of max_rel)
    worst_at: str  # where the largest error occurred, e.g. "trial 3, phase nudged"


@dataclass
class EquivalenceReport:
    circuit: str
    backend: str
    tolerance: float
    n_trials: int
    n_updates: int
    phases: list
    variables: list[VariableError] = field(default_factory=list)
    timings: dict = field(default_factory=dict)
    compile_only: bool = False
    environment: dict = field(default_factory=dict)

    @property
    def max_abs_error(self) -> float:
        return max((v.max_abs for v in self.variables), default=0.0)

    @property
    def max_rel_error(self) -> float:
        return max((v.max_rel for v in self.variables), default=0.0)

    @property
    def passed(self) -> bool:
        if self.compile_only:
            return True
        return bool(self.variables) and all(v.max_rel <= self.tolerance for v in self.variables)

    def to_dict(self) -> dict:
        return {
            "circuit": self.circuit,
            "backend": self.backend,
            "passed": self.passed,
            "compile_only": self.compile_only,
            "tolerance": self.tolerance,
            "max_abs_error": self.max_abs_error,
            "max_rel_error": self.max_rel_error,
            "n_trials": self.n_trials,
            "n_updates": self.n_updates,
            "phases": self.phases,
            "variables": {v.name: asdict(v) for v in self.variables},
            "timings": self.timings,
            "environment": self.environment,
        }

    def write_json(self, path) -> None:
        atomic_write_text(path, json.dumps(self.to_dict(), indent=2))

    def table(self) -> str:
        head = f"{self.circuit} on {self.backend}: {self.n_trials} trials, {self.n_updates} weight updates, tolerance {self.tolerance:g} (relative)"
        if self.compile_only:
            return head + "\ncompiled only (no run): " + json.dumps(self.timings)
        rows = [
            head,
            "| variable | kind | compared | max abs error | max rel error | worst at | ok |",
            "|---|---|---|---|---|---|---|",
        ]
        for v in self.variables:
            ok = "yes" if v.max_rel <= self.tolerance else "NO"
            rows.append(f"| {v.name} | {v.kind} | {v.compared} | {v.max_abs:.3e} | {v.max_rel:.3e} | {v.worst_at} | {ok} |")
        rows.append(f"PASSED (max rel error {self.max_rel_error:.3e})" if self.passed else f"FAILED (max rel error {self.max_rel_error:.3e})")
        return "\n".join(rows)


def _error(name, kind, got: np.ndarray, ref: np.ndarray, where) -> VariableError:
    if got.shape != ref.shape:
        raise ShapeError(f"{kind} {name!r}: Brian2 recorded shape {got.shape}, the torch reference {ref.shape}")
    diff = np.abs(got - ref)
    scale = float(np.max(np.abs(ref))) if ref.size else 0.0
    max_abs = float(diff.max()) if diff.size else 0.0
    idx = np.unravel_index(int(np.argmax(diff)), diff.shape) if diff.size else ()
    return VariableError(
        name=name,
        kind=kind,
        compared=int(ref.size),
        max_abs=max_abs,
        max_rel=max_abs / scale if scale > 0 else max_abs,
        scale=scale,
        worst_at=where(idx) if diff.size else "-",
    )


def _check_names(kind: str, brian: set, torch_side: set, expected: set | None) -> None:
    """Both sides must report the same names (and, for weights, exactly the circuit's plastic matrices):
    a name one side leaves out would otherwise never be compared."""
    problems = []
    if brian != torch_side:
        problems.append(
            f"Brian2 reports {sorted(brian)}, the torch reference {sorted(torch_side)} "
            f"(only Brian2: {sorted(brian - torch_side)}, only torch: {sorted(torch_side - brian)})"
        )
    if expected is not None and torch_side != expected:
        problems.append(f"the circuit declares {sorted(expected)} but the torch reference reports {sorted(torch_side)}")
    if problems:
        raise ShapeError(
            f"{kind} names differ: " + "; ".join(problems) + "; make both simulators record the same names "
            "(Circuit.compared_states / plastic_names)"
        )


def compare_traces(circuit: Circuit, brian: Trace, reference: Trace) -> list[VariableError]:
    """Per-variable errors at every phase boundary and after every weight update.

    States: the circuit's :meth:`~neuromorph.circuit.Circuit.compared_states` (each must be recorded by both
    sides), or, when it declares none, every state - and then both sides must record the same names.
    Weights: both sides must report exactly the circuit's :meth:`~neuromorph.circuit.Circuit.plastic_names`.
    A mismatch raises ShapeError naming what is missing where.
    """
    boundaries = circuit.schedule.boundary_steps()
    names, steps = list(boundaries), list(boundaries.values())
    declared = circuit.compared_states()
    if declared is None:
        _check_names("state", set(brian.states), set(reference.states), None)
        wanted = tuple(reference.states)
    else:
        wanted = tuple(declared)
        for side, trace in (("Brian2", brian), ("the torch reference", reference)):
            missing = [n for n in wanted if n not in trace.states]
            if missing:
                raise ShapeError(
                    f"state names differ: the circuit compares {list(wanted)} but {side} did not record {missing}"
                )
    _check_names("weight", set(brian.weights), set(reference.weights), set(circuit.plastic_names()))
    out = []
    for name in wanted:
        got = brian.states[name][:, steps, :]
        ref = reference.states[name][:, steps, :]
        out.append(_error(name, "state", got, ref, lambda idx: f"trial {idx[0]}, end of {names[idx[1]]}, unit {idx[2]}"))
    for name, ref in reference.weights.items():
        out.append(_error(name, "weight", brian.weights[name], ref, lambda idx: f"after update {idx[0] + 1}, synapse {idx[1:]}"))
    return out


def environment() -> dict:
    import brian2

    return {
        "python": platform.python_version(),
        "brian2": brian2.__version__,
        "torch": torch.__version__,
        "numpy": np.__version__,
        "machine": platform.machine(),
    }


def verify(
    circuit: Circuit,
    backend: str = "numpy",
    *,
    n_trials: int | None = None,
    seed: int = 0,
    tolerance: float = DEFAULT_TOLERANCE,
    compile_only: bool = False,
    build_dir=None,
) -> EquivalenceReport:
    """Run ``circuit`` on Brian2 ``backend`` and in torch float64 on the same trials; compare.

    ``n_trials`` defaults to three update windows (so at least 3 weight updates). With ``compile_only``
    (standalone targets) the Brian2 side is only built - how CUDA code is checked without a GPU.
    """
    backend = normalise_target(backend)
    sch = circuit.schedule
    if n_trials is None:
        n_trials = 3 * sch.trials_per_update
    weights = circuit.initial_weights(seed)
    data = circuit.example_data(n_trials, seed)
    report = EquivalenceReport(
        circuit=circuit.name,
        backend=backend,
        tolerance=tolerance,
        n_trials=n_trials,
        n_updates=n_trials // sch.trials_per_update,
        phases=sch.describe(),
        compile_only=compile_only,
        environment=environment(),
    )
    if not compile_only:
        t0 = time.perf_counter()
        reference = circuit.simulate_reference(weights, data, dtype=torch.float64)
        report.timings["torch_s"] = time.perf_counter() - t0
    activate(backend)
    t0 = time.perf_counter()
    model = circuit.build_brian(weights, data)
    trace, timings = run_model(model, build_dir=build_dir, compile_only=compile_only)
    report.timings.update(timings)
    report.timings["brian_total_s"] = time.perf_counter() - t0
    if not compile_only:
        report.variables = compare_traces(circuit, trace, reference)
    return report
