"""A circuit's Brian2 objects plus what to record, and how to run them on the active target.

A circuit's ``build_brian`` returns a :class:`BrianModel`: its Brian2 objects, the per-trial input
TimedArrays, and the state and weight probes. :func:`run_model` adds the monitors, runs all trials in *one*
Brian2 ``run`` (phases are switched inside the model by the schedule's flags), and converts what was
recorded into a :class:`~neuromorph.circuit.Trace`.

For standalone targets :class:`StandaloneSession` builds the binary once and then runs it many times with new
inputs and weights through ``device.run(run_args=...)`` - the way to stream a data set through a compiled
circuit chunk by chunk without recompiling.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from ..circuit import Trace
from ..errors import ShapeError
from ..phases import PhaseSchedule

__all__ = ["BrianModel", "run_model", "StandaloneSession", "weight_matrix", "set_weight_matrix", "monitor_values"]


@dataclass
class BrianModel:
    """Brian2 objects of one circuit instance and what to record from them."""

    objects: list  # NeuronGroups, Synapses, ... (monitors are added by run_model)
    schedule: PhaseSchedule
    n_trials: int
    dt: float  # seconds
    state_probes: dict[str, tuple] = field(default_factory=dict)  # name -> (group, variable)
    weight_probes: dict[str, tuple] = field(default_factory=dict)  # name -> (synapses, (n_pre, n_post), variable)
    inputs: dict[str, object] = field(default_factory=dict)  # name -> TimedArray (per-trial rows)
    # External names used in the equations (TimedArrays, units, constants). Library code cannot rely on
    # Brian2 finding them in the caller's frame, so every run passes them explicitly.
    namespace: dict[str, object] = field(default_factory=dict)
    record_states: bool = True
    # Synapses holding a transposed copy of a plastic matrix (a projection used in both directions, e.g. SMPC's
    # Omega): name -> (synapses, variable). StandaloneSession.run loads new weights into the copies too.
    transposed_copies: dict[str, tuple] = field(default_factory=dict)

    @property
    def n_steps(self) -> int:
        return self.n_trials * self.schedule.trial_steps

    def equations(self) -> list:
        """Each object's equations as Brian2 holds them, with the paper's references and the namespace values
        they use (schedule flags left out): a list of :class:`~neuromorph.brian.equations.GroupEquations`."""
        from .blocks import flag_names
        from .equations import read_back

        return read_back(self.objects, flag_names(self.schedule), self.namespace)


def set_weight_matrix(syn, matrix: np.ndarray, variable: str = "w") -> None:
    """Connect ``syn`` all-to-all and load ``matrix`` (n_pre, n_post) into ``variable``.

    ``connect()`` creates synapses in pre-major order (k = i*n_post + j) on every device, so the
    ravelled matrix lines up with the synapse index without reading i/j back (standalone cannot).
    """
    n_pre, n_post = len(syn.source), len(syn.target)
    if matrix.shape != (n_pre, n_post):
        raise ShapeError(f"{syn.name}: weight matrix has shape {matrix.shape}, expected {(n_pre, n_post)}")
    syn.connect()
    setattr(syn, variable, np.ascontiguousarray(matrix, dtype=float).ravel())


def weight_matrix(values: np.ndarray, shape: tuple[int, int], i=None, j=None) -> np.ndarray:
    """Flat per-synapse values (pre-major, or with explicit i/j) back to an (n_pre, n_post) matrix."""
    values = np.asarray(values, dtype=float)
    if i is None:
        return values.reshape(shape)
    m = np.zeros(shape)
    m[np.asarray(i), np.asarray(j)] = values
    return m


def _add_monitors(model: BrianModel):
    from brian2 import StateMonitor

    mons = {}
    if model.record_states:
        for name, (group, var) in model.state_probes.items():
            # 'end' slot, after every update and plasticity: the state after each step.
            mons[("state", name)] = StateMonitor(group, var, record=True, when="end", order=1000, name=f"mon_state_{name}")
    period = model.schedule.trials_per_update * model.schedule.trial_steps * model.dt
    from brian2 import second

    for name, (syn, shape, var) in model.weight_probes.items():
        # Weights change only on update steps (last step of each window); a monitor ticking once per window
        # at its first step sees the result of the previous window's update.
        mons[("weight", name)] = StateMonitor(
            # explicit indices: standalone cannot count synapses before the run
            syn, var, record=np.arange(shape[0] * shape[1]), when="end", order=1000, dt=period * second, name=f"mon_weight_{name}"
        )
    return mons


def monitor_values(values) -> np.ndarray:
    """Recorded Brian2 values as an array that owns its memory (a float64 copy).

    Copy, never view: from Brian2 2.10 on, runtime-mode monitors keep their data in C++ DynamicArrays whose
    numpy views do not reference their owner, so a view dangles as soon as the monitor is freed (when
    run_model returns) and later reads see reused memory (tests/test_brian_numpy_regression.py).
    ``devices.check_target`` probes this reader on the installed Brian2 before a runtime target is used.
    """
    return np.array(values, dtype=float, copy=True)


def _collect(model: BrianModel, mons) -> Trace:
    T = model.schedule.trial_steps
    trace = Trace()
    for (kind, name), mon in mons.items():
        if kind == "state":
            group, var = model.state_probes[name]
            data = monitor_values(getattr(mon, var + "_"))  # (n_units, n_steps)
            trace.states[name] = data.T.reshape(model.n_trials, T, -1)
        else:
            syn, shape, var = model.weight_probes[name]
            rec = monitor_values(getattr(mon, var + "_")).T  # (n_records, n_syn); record 0 = initial
            final = monitor_values(getattr(syn, var + "_")[:])
            n_updates = model.n_trials // model.schedule.trials_per_update
            seq = list(rec[1:]) + [final]
            trace.weights[name] = np.stack([weight_matrix(v, shape) for v in seq[:n_updates]]) if n_updates else np.zeros((0, *shape))
    return trace


def run_model(model: BrianModel, *, build_dir: str | os.PathLike | None = None, compile_only: bool = False,
              label: str | None = None) -> tuple[Trace, dict]:
    """Run every trial of ``model`` on the active Brian2 device in one ``run``.

    Returns the trace and timings in seconds. Runtime targets (numpy, cython): ``run_s``, the ``Network.run``
    call - code generation, the Cython compile on first use of a code object, and the simulation. Standalone
    targets (cpp, cuda) separate the one-off cost from the simulation: ``setup_s`` (Brian2 generating the
    code objects), ``build_s`` (writing the project and compiling it), ``run_s`` (running the binary,
    reading and writing its arrays included), ``sim_s`` (the binary's own time in its simulation loop, as it
    reports it) and ``build_and_run_s`` = ``build_s + run_s``.

    With ``compile_only`` (standalone targets) the binary is built but not run, and the trace is empty: how
    CUDA code is checked on a machine without GPU. ``label``: report each step on stderr under this name
    (:func:`neuromorph.progress.task`).
    """
    from brian2 import Network, get_device, second
    from brian2.devices.device import RuntimeDevice

    from ..progress import _fmt_s, task

    quiet = label is None
    mons = _add_monitors(model)
    net = Network(*model.objects, *mons.values())
    device = get_device()
    # Every Brian2 device has a build() (a no-op in runtime mode), so test the device class instead.
    standalone = not isinstance(device, RuntimeDevice)
    timings = {}
    steps = f"{model.n_trials} trials x {model.schedule.trial_steps} steps"
    if not standalone:
        with task(f"{label}: Brian2 run, {steps} (code generation included)", enabled=not quiet):
            t0 = time.perf_counter()
            net.run(model.n_steps * model.dt * second, namespace=model.namespace)
            timings["run_s"] = time.perf_counter() - t0
        return _collect(model, mons), timings
    with task(f"{label}: generating code", enabled=not quiet):
        t0 = time.perf_counter()
        net.run(model.n_steps * model.dt * second, namespace=model.namespace)
        timings["setup_s"] = time.perf_counter() - t0
    directory = str(build_dir) if build_dir else tempfile.mkdtemp(prefix="neuromorph-build-")
    timings["build_dir"] = directory
    with task(f"{label}: compiling the binary in {directory}", enabled=not quiet):
        t1 = time.perf_counter()
        device.build(directory=directory, compile=True, run=False, with_output=False)
        timings["build_s"] = time.perf_counter() - t1
    if compile_only:
        return Trace(), timings
    with task(f"{label}: running the binary, {steps}", enabled=not quiet) as info:
        t2 = time.perf_counter()
        device.run(directory=directory, with_output=False)
        timings["run_s"] = time.perf_counter() - t2
        sim = getattr(device, "_last_run_time", None)  # written by the binary (last_run_info.txt)
        if sim is not None:
            timings["sim_s"] = float(sim)
            info["note"] = f"{_fmt_s(float(sim))} in the simulation loop"
    timings["build_and_run_s"] = timings["build_s"] + timings["run_s"]
    return _collect(model, mons), timings


class StandaloneSession:
    """Build a standalone binary once; run it many times with new inputs and weights.

    >>> session = StandaloneSession(model, build_dir)         # compiles
    >>> trace = session.run(inputs={"x": X_chunk}, weights={"W1": W})   # 10-20 ms + simulation time

    ``inputs`` replace the model's per-trial TimedArrays (same shape as at build time), ``weights`` the
    initial values of plastic matrices; every run starts from the model's initial state otherwise.
    """

    def __init__(self, model: BrianModel, build_dir: str | os.PathLike | None = None):
        from brian2 import Network, get_device, second
        from brian2.devices.device import RuntimeDevice

        device = get_device()
        if isinstance(device, RuntimeDevice):
            raise TypeError("StandaloneSession needs an active cpp or cuda standalone device (neuromorph.brian.activate)")
        self.model = model
        self.mons = _add_monitors(model)
        Network(*model.objects, *self.mons.values()).run(model.n_steps * model.dt * second, namespace=model.namespace)
        self.directory = str(build_dir) if build_dir else tempfile.mkdtemp(prefix="neuromorph-build-")
        t0 = time.perf_counter()
        device.build(directory=self.directory, compile=True, run=False, with_output=False)
        self.build_s = time.perf_counter() - t0
        self.device = device
        self.runs = 0

    def run(self, inputs: Mapping[str, np.ndarray] | None = None, weights: Mapping[str, np.ndarray] | None = None) -> Trace:
        run_args = {}
        for name, values in (inputs or {}).items():
            ta = self.model.inputs[name]
            values = np.asarray(values, dtype=float)
            if values.shape != ta.values.shape:
                raise ShapeError(f"input {name!r} has shape {values.shape}; the binary was built for {ta.values.shape}")
            run_args[ta] = values
        for name, matrix in (weights or {}).items():
            syn, shape, var = self.model.weight_probes[name]
            if np.shape(matrix) != tuple(shape):
                raise ShapeError(f"weights {name!r} have shape {np.shape(matrix)}, expected {tuple(shape)}")
            run_args[getattr(syn, var)] = np.ascontiguousarray(matrix, dtype=float).ravel()
            if name in self.model.transposed_copies:
                copy, copy_var = self.model.transposed_copies[name]
                run_args[getattr(copy, copy_var)] = np.ascontiguousarray(np.asarray(matrix, dtype=float).T).ravel()
        self.device.run(results_directory=f"results_{self.runs % 2}", run_args=run_args, with_output=False)
        self.runs += 1
        return _collect(self.model, self.mons)
