"""Run one spiking twin with several weight variants (float, quantised at several bit widths) on Brian2.

On ``cpp`` the twin is compiled once, with the float weights, and each variant is a ``device.run`` with
``run_args`` replacing the synaptic weights (and any constant group parameter the circuit derives from the
weights, e.g. a bias): one compilation instead of one per variant. The values each variant needs are read off
a runtime (numpy) build of the twin with that variant's weights, so whatever transform the circuit applies
(scales, ON/OFF copies) is applied by the circuit itself. Quantisation only removes synapses (a weight
rounded to 0 stays a synapse of weight 0), so the float build's connectivity holds every variant; SynOps are
counted with each variant's own non-zero fan-out. On ``numpy`` every variant is built and run on its own.

Every run lasts the longest ``t_samples`` per sample; shorter times are read off each trial's prefix
(:func:`neuromorph.spiking.run_spiking` does the same with ``prefixes``), exact for the deterministic
``regular`` encoder.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import tempfile
import time

import numpy as np

from ..errors import ConfigError

__all__ = ["run_variants", "now", "lap"]


def now() -> tuple[float, float]:
    """(wall, CPU) seconds; CPU includes finished child processes (g++, the compiled twin), so on a shared
    machine it says what a stage costs when the machine is quiet, where wall time says what it cost now."""
    t = os.times()
    return time.perf_counter(), t.user + t.system + t.children_user + t.children_system


def lap(timings: dict, name: str, start: tuple[float, float]) -> float:
    """Record the wall seconds since ``start`` as timings[name] and the CPU seconds as timings["cpu"][name]."""
    wall, cpu = now()
    timings[name] = wall - start[0]
    timings.setdefault("cpu", {})[name] = cpu - start[1]
    return timings[name]


def _arrays(sm):
    syn, params = {}, {}
    for o in sm.brian.objects:
        kind = type(o).__name__
        if kind == "Synapses" and "w" in o.variables:
            syn[o.name] = (np.asarray(o.i[:], np.int64), np.asarray(o.j[:], np.int64), np.asarray(o.w[:], float),
                           (len(o.source), len(o.target)))
        elif kind == "NeuronGroup":
            for eq in o.equations.ordered:
                if eq.type == "parameter" and "constant" in eq.flags:
                    params[(o.name, eq.varname)] = np.asarray(getattr(o, eq.varname)[:], float)
    return syn, params


def _with_fan_out(sm, syn):
    projs = []
    for p in sm.projections:
        if p.name in syn:
            i, _j, w, _shape = syn[p.name]
            fan = np.bincount(i[w != 0], minlength=p.shape[0]).astype(np.int64)
            p = dataclasses.replace(p, fan_out=fan)
        projs.append(p)
    return projs


def run_variants(circuit, variants: dict, x: np.ndarray, *, t_samples, encoding: str, r_max: float, tau_syn: float,
                 backend: str = "cpp", seed: int = 0, build_options: dict | None = None, log=None,
                 timings: dict | None = None) -> dict:
    """{variant: SpikingResult (with ``prefixes`` for every t in ``t_samples``)} for weight dicts ``variants``;
    ``timings`` (a dict) receives the seconds of each stage."""
    timings = {} if timings is None else timings
    import brian2
    from brian2 import Network, SpikeMonitor, StateMonitor, get_device, second

    from ..brian.devices import activate
    from ..spiking import _spikes, _summarise, run_spiking

    t_max = max(t_samples)
    opts = dict(encoding=encoding, t_sample=t_max, r_max=r_max, tau_syn=tau_syn, **dict(build_options or {}))
    names = list(variants)
    if backend in ("numpy", "cython"):
        out = {}
        for name in names:
            activate(backend)
            np.random.seed(seed)
            sm = circuit.build_spiking_brian(variants[name], x, **opts)
            syn, _ = _arrays(sm)
            sm = dataclasses.replace(sm, projections=_with_fan_out(sm, syn))
            out[name] = run_spiking(sm, seed=seed, prefixes=t_samples)
        return out
    if backend != "cpp":
        raise ConfigError(f"deploy runs the twin on 'cpp' or 'numpy', got backend {backend!r}")
    # 1. runtime builds: what each variant sets
    t0 = now()
    arrays = {}
    for name in names:
        activate("numpy")
        np.random.seed(seed)
        arrays[name] = _arrays(circuit.build_spiking_brian(variants[name], x, **opts))
    base = names[0]
    lap(timings, "twin_runtime_builds_s", t0)
    # 2. one compiled twin (first variant's weights), re-run per variant
    t0 = now()
    activate("cpp")
    np.random.seed(seed)
    sm = circuit.build_spiking_brian(variants[base], x, **opts)
    objs = {o.name: o for o in sm.brian.objects}
    mons = {n: SpikeMonitor(G, name=f"spikemon_{G.name}") for n, G in sm.populations.items() if _spikes(G)}
    extra = []
    if sm.readout_var is not None:
        out_group = sm.populations[sm.output]
        readout_mon = StateMonitor(out_group, sm.readout_var, record=True, dt=sm.readout_stride * sm.dt * second,
                                   name=f"readoutmon_{out_group.name}")
        extra.append(readout_mon)
    net = Network(*sm.brian.objects, *mons.values(), *extra)
    brian2.seed(int(seed))
    net.run(sm.n_trials * sm.trial_steps * sm.dt * second, namespace=sm.brian.namespace)
    directory = tempfile.mkdtemp(prefix="neuromorph-deploy-")
    device = get_device()
    lap(timings, "twin_cpp_build_s", t0)
    t0 = now()
    device.build(directory=directory, compile=True, run=False, with_output=False)
    lap(timings, "twin_compile_s", t0)
    if log:
        log(f"compiled the twin in {timings['twin_compile_s']:.1f} s")
    timings["twin_runs_s"] = {}
    base_syn, base_params = arrays[base]
    results = {}
    try:
        for k, name in enumerate(names):
            syn, params = arrays[name]
            run_args = {}
            for sname, (i, j, w, shape) in syn.items():
                bi, bj, bw, _ = base_syn[sname]
                M = np.zeros(shape)
                M[i, j] = w
                present = np.zeros(shape, bool)
                present[bi, bj] = True
                if not present[i, j][w != 0].all():
                    raise ConfigError(f"variant {name!r} adds synapses to {sname} that the compiled twin lacks")
                vals = M[bi, bj]
                if not np.array_equal(vals, bw):
                    run_args[objs[sname].w] = vals
            for (gname, var), vals in params.items():
                if not np.array_equal(vals, base_params[(gname, var)]):
                    run_args[getattr(objs[gname], var)] = vals
            t1 = now()
            device.run(results_directory=f"results_{k}", run_args=run_args, with_output=False)
            spikes = {}
            for pname, mon in mons.items():
                idx = np.asarray(mon.i[:], dtype=np.int64)
                steps = np.rint(np.asarray(mon.t_[:], dtype=float) / sm.dt).astype(np.int64)
                spikes[pname] = (idx, steps)
            samples = None
            if sm.readout_var is not None:
                st = np.rint(np.asarray(readout_mon.t_[:], dtype=float) / sm.dt).astype(np.int64)
                samples = (st, np.asarray(getattr(readout_mon, sm.readout_var), dtype=float).T)
            smv = dataclasses.replace(sm, projections=_with_fan_out(sm, syn))
            res = _summarise(smv, spikes, samples, sm.trial_steps, sm.t_sample)
            res.prefixes = {float(t): _summarise(smv, spikes, samples, int(round(t / sm.dt)), float(t)) for t in t_samples}
            run_t = {}
            lap(run_t, name, t1)
            res.timings = {"run_s": run_t[name]}
            timings["twin_runs_s"][name] = run_t[name]
            timings.setdefault("cpu", {}).setdefault("twin_runs_s", {})[name] = run_t["cpu"][name]
            results[name] = res
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    return results
