"""How fast a circuit's Brian2 model simulates on a standalone target: ns per synapse per integration step.

The one timing harness of the Brian2 benchmarks (``benchmarks/brian_speed.py`` for every circuit, the
per-paper ``experiments/*/bench_brian*.py`` for width sweeps): build the binary once
(:class:`~neuromorph.brian.model.StandaloneSession`), without state or weight monitors (the circuit is timed,
not the recording), run it ``repeats`` times and keep

* ``sim_s``: the binary's own time in its simulation loop (Brian2's ``last_run_info.txt``), what the
  per-synapse figure uses;
* ``wall_s``: ``device.run`` seen from Python (process start, reading inputs, writing results on top);
* ``cpu_s``: user + system CPU seconds of the child process. On a shared machine ``cpu_s`` is close to what the
  run takes on a quiet one and ``wall_s`` is not;

and the plastic matrices at the end of the last run (pre-major order, read back from the synapses), so that a
benchmark can check that two versions of a model computed the same numbers.

ns / synapse / step = best ``sim_s`` / (synapses x steps), synapses = the entries of every weight matrix of the
circuit (its ``initial_weights``; relays and interneuron connections of O(n) are not counted).
"""

from __future__ import annotations

import os
import resource
import tempfile
import time
from collections.abc import Mapping

import numpy as np

__all__ = ["synapse_count", "time_standalone", "profile_standalone"]


def _children_cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def synapse_count(weights: Mapping[str, np.ndarray]) -> int:
    """Entries of every weight matrix (2-D arrays) of ``weights``: the synapses a step sweeps over."""
    return int(sum(np.size(v) for v in weights.values() if np.ndim(v) == 2))


def _strip(model) -> dict:
    """Record nothing during the run; return {name: (synapses, shape, variable)} to read the final weights."""
    probes = dict(model.weight_probes)
    model.record_states = False
    model.weight_probes = {}
    return probes


def time_standalone(model, n_synapses: int, *, repeats: int = 3, build_dir=None) -> dict:
    """Build ``model`` on the active standalone device (cpp or cuda) once, run it ``repeats`` times; timings.

    Returns ``build_s``, ``runs`` (each ``sim_s``, ``wall_s``, ``cpu_s``, ``load1``), ``steps``, ``synapses``,
    ``ns_per_synapse_step`` (best ``sim_s``), ``cpu_ns_per_synapse_step`` (best ``cpu_s``) and ``final_weights``
    ({name: (n_pre, n_post) array} after the last run).
    """
    from brian2 import get_device

    from .model import StandaloneSession

    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}")
    probes = _strip(model)
    t0 = time.perf_counter()
    session = StandaloneSession(model, build_dir)
    build_s = time.perf_counter() - t0
    runs = []
    for _ in range(repeats):
        load = os.getloadavg()[0]
        c0, t1 = _children_cpu(), time.perf_counter()
        session.run()
        wall = time.perf_counter() - t1
        sim = getattr(get_device(), "_last_run_time", None)
        runs.append({"sim_s": float(sim) if sim is not None else wall, "wall_s": wall,
                     "cpu_s": _children_cpu() - c0, "load1": load})
    final = {name: np.asarray(getattr(syn, var + "_")[:], dtype=float).reshape(shape)
             for name, (syn, shape, var) in probes.items()}
    steps = int(model.n_steps)
    work = float(n_synapses) * steps
    return {
        "build_s": build_s,
        "build_dir": session.directory,
        "runs": runs,
        "steps": steps,
        "synapses": int(n_synapses),
        "ns_per_synapse_step": 1e9 * min(r["sim_s"] for r in runs) / work,
        "cpu_ns_per_synapse_step": 1e9 * min(r["cpu_s"] for r in runs) / work,
        "final_weights": final,
    }


def profile_standalone(model, build_dir=None) -> list[tuple[str, float]]:
    """Seconds spent in each code object of one run of ``model`` on the active standalone device, largest first
    (Brian2's ``profile=True``): where a model's time goes."""
    from brian2 import Network, get_device, second

    _strip(model)
    net = Network(*model.objects)
    net.run(model.n_steps * model.dt * second, namespace=model.namespace, profile=True)
    device = get_device()
    directory = str(build_dir) if build_dir else tempfile.mkdtemp(prefix="neuromorph-profile-")
    device.build(directory=directory, compile=True, run=True, with_output=False)
    return [(name, float(t)) for name, t in device.network_get_profiling_info(net)]
