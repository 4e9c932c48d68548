"""A NIR graph of point neurons as a Brian2 model: the reverse of :func:`.nirio.to_nir`.

:func:`nir_to_brian` reads ``Input``, ``Linear``, ``Affine``, ``IF``, ``LIF``, ``CubaLIF``, ``LI``, ``CubaLI`` and
``Output`` nodes (any graph of them, recurrent edges included) and builds Brian2 objects on the active device.
NIR's continuous-time equations are written as they are, per unit (``u`` is the node's input):

* ``LIF``:      τ dv/dt = (v_leak − v) + r·u                  spike when v > v_threshold
* ``IF``:         dv/dt = r·u                                  spike when v > v_threshold
* ``CubaLIF``:  τ_syn dI/dt = −I + w_in·u;  τ_mem dv/dt = (v_leak − v) + r·I    spike when v > v_threshold
* ``LI`` / ``CubaLI``: as LIF / CubaLIF without a threshold (their output is v)

A spike is a Dirac delta of unit area (NIR's reading), so a spike through weight W makes the variable the
input drives jump: ``I += w_in·W/τ_syn`` (Cuba nodes), ``v += r·W/τ`` (LIF/LI), ``v += r·W`` (IF). An
``Affine`` bias is a constant input: ``+ w_in·b/τ_syn`` in dI/dt (or the analogue for v). After a spike the
membrane is set to ``v_reset`` (NIR's rule), or lowered by the threshold where the graph's metadata says
``"reset": "subtract"`` (what neuromorph's export writes) or ``reset="subtract"`` is passed.

Time is discrete: Euler steps of ``dt`` (the graph's ``metadata["dt"]`` unless given), spikes act in the
step after they are emitted (Brian2's schedule: state update, threshold, synapses, reset). Trials (rows of
``in_spikes``) run side by side in one simulation: every node has one copy of its units per trial and the
synapses are block-diagonal, so trials never interact.

:func:`run_nir_brian` runs such a model on input spikes (steps, n_trials, n_in) and returns every spiking node's
spikes and every non-spiking node's v, as arrays (steps, n_trials, n).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..errors import ConfigError

__all__ = ["NIRBrianModel", "nir_to_brian", "run_nir_brian", "simulate_nir_file"]

NEURON_NODES = ("IF", "LIF", "CubaLIF", "LI", "CubaLI")
WEIGHT_NODES = ("Linear", "Affine")


@dataclass
class NIRBrianModel:
    network: object  # brian2.Network
    groups: dict  # node -> NeuronGroup (n_trials · n units)
    input: object  # SpikeGeneratorGroup (n_trials · n_in)
    spike_monitors: dict = field(default_factory=dict)
    v_monitors: dict = field(default_factory=dict)
    sizes: dict = field(default_factory=dict)  # node -> units per trial
    n_trials: int = 1
    dt: float = 1e-4
    output: str | None = None  # the neuron node that feeds the graph's Output


def _vec(node, attr, n, default=None):
    v = getattr(node, attr, None)
    if v is None:
        if default is None:
            raise ConfigError(f"NIR node {type(node).__name__} has no {attr}")
        v = default
    return np.broadcast_to(np.asarray(v, float).reshape(-1) if np.ndim(v) else np.asarray(v, float), (n,)).astype(float)


def _size(node) -> int:
    name = type(node).__name__
    if name in ("Linear", "Affine"):
        return int(np.asarray(node.weight).shape[0])
    for attr in ("tau_mem", "tau", "r", "v_threshold", "tau_syn"):
        if getattr(node, attr, None) is not None and np.ndim(getattr(node, attr)):
            return int(np.asarray(getattr(node, attr)).size)
    raise ConfigError(f"cannot tell the size of NIR node {name}")


def nir_to_brian(graph, in_spikes: np.ndarray, *, dt: float | None = None, reset: str | None = None,
                 prefix: str = "nir") -> NIRBrianModel:
    """Brian2 objects (on the active device) for ``graph`` driven by ``in_spikes`` (steps, n_trials, n_in)."""
    from brian2 import NeuronGroup, SpikeGeneratorGroup, SpikeMonitor, StateMonitor, Synapses, second
    from brian2 import Network

    meta = dict(getattr(graph, "metadata", {}) or {})
    dt = float(dt if dt is not None else meta.get("dt", 0) or 0)
    if not dt > 0:
        raise ConfigError("nir_to_brian: the graph's metadata has no 'dt'; pass dt= (seconds per step)")
    reset = reset or ("subtract" if meta.get("reset") == "subtract" else "value")
    if reset not in ("subtract", "value"):
        raise ConfigError(f"nir_to_brian: reset must be 'subtract' or 'value', got {reset!r}")
    in_spikes = np.asarray(in_spikes, bool)
    if in_spikes.ndim != 3:
        raise ConfigError(f"nir_to_brian: in_spikes must be (steps, n_trials, n_in), got shape {in_spikes.shape}")
    steps, T, n_in = in_spikes.shape
    nodes = graph.nodes
    kinds = {k: type(v).__name__ for k, v in nodes.items()}
    unknown = sorted({v for v in kinds.values() if v not in NEURON_NODES + WEIGHT_NODES + ("Input", "Output")})
    if unknown:
        raise ConfigError(f"nir_to_brian: node types {unknown} are not point-neuron nodes; supported: "
                          f"Input, Output, {', '.join(WEIGHT_NODES + NEURON_NODES)}")
    inputs = [k for k, t in kinds.items() if t == "Input"]
    if len(inputs) != 1:
        raise ConfigError(f"nir_to_brian: expected one Input node, found {len(inputs)}")
    itype = nodes[inputs[0]].input_type
    itype = next(iter(itype.values())) if isinstance(itype, dict) else itype  # nir keeps {"input": shape}
    if int(np.prod(np.asarray(itype).reshape(-1))) != n_in:
        raise ConfigError(f"nir_to_brian: the graph's Input has shape {np.asarray(itype).tolist()}, the input spikes "
                          f"have {n_in} channels")
    src_of = {}
    for a, b in graph.edges:
        src_of.setdefault(b, []).append(a)
    groups, sizes, objects = {}, {}, []
    gen_idx, gen_t = np.nonzero(in_spikes.reshape(steps, T * n_in).T)  # unit (trial-major), step
    order = np.lexsort((gen_idx, gen_t))
    inp = SpikeGeneratorGroup(T * n_in, gen_idx[order], gen_t[order] * dt * second, dt=dt * second, name=f"{prefix}_input")
    groups[inputs[0]] = inp
    sizes[inputs[0]] = n_in
    objects.append(inp)
    biases: dict[str, np.ndarray] = {}
    for name, node in nodes.items():
        kind = kinds[name]
        if kind not in NEURON_NODES:
            continue
        n = _size(node)
        sizes[name] = n
        cuba = kind.startswith("Cuba")
        spiking = kind in ("IF", "LIF", "CubaLIF")
        tau_m = "tau_mem" if cuba else "tau"
        lines = []
        if cuba:
            lines.append("dI/dt = (-I + bias_in)/tau_syn : 1")
            lines.append(f"dv/dt = (v_leak - v + r*I)/{tau_m} : 1")
            params = ["tau_syn", tau_m, "r", "v_leak", "w_in"]
        elif kind == "IF":
            lines.append("dv/dt = r*bias_in : 1")
            params = ["r"]
        else:
            lines.append(f"dv/dt = (v_leak - v + r*bias_in)/{tau_m} : 1")
            params = [tau_m, "r", "v_leak"]
        if spiking:
            params += ["v_threshold"] + (["v_reset"] if reset == "value" else [])
        lines += [f"{p} : {'second' if p.startswith('tau') else '1'} (constant)" for p in params]
        lines.append("bias_in : 1 (constant)   # an Affine bias: constant input")
        kw = {}
        if spiking:
            kw = {"threshold": "v > v_threshold",
                  "reset": "v -= v_threshold" if reset == "subtract" else "v = v_reset"}
        G = NeuronGroup(n * T, "\n".join(lines), method="euler", name=f"{prefix}_{name}", dt=dt * second, **kw)
        for p in params:
            default = {"w_in": 1.0, "v_leak": 0.0, "r": 1.0, "v_reset": 0.0}.get(p)
            vals = np.tile(_vec(node, p, n, default), T)
            setattr(G, p, vals * second if p.startswith("tau") else vals)
        groups[name] = G
        biases[name] = np.zeros(n)
        objects.append(G)
    # synapses: neuron/input -> (Linear | Affine) -> neuron, or neuron -> neuron (identity)
    k_syn = 0
    for name, node in nodes.items():
        if kinds[name] not in NEURON_NODES:
            continue
        post = groups[name]
        n_post = sizes[name]
        kind = kinds[name]
        node_post = nodes[name]
        if kind.startswith("Cuba"):
            jump = _vec(node_post, "w_in", n_post, 1.0) / _vec(node_post, "tau_syn", n_post)
            target = "I"
        elif kind == "IF":
            jump, target = _vec(node_post, "r", n_post, 1.0), "v"
        else:
            jump = _vec(node_post, "r", n_post, 1.0) / _vec(node_post, "tau", n_post)
            target = "v"
        for mid in src_of.get(name, []):
            if kinds[mid] in WEIGHT_NODES:
                W = np.asarray(nodes[mid].weight, float)  # (n_post, n_pre)
                pres = src_of.get(mid, [])
                if kinds[mid] == "Affine" and nodes[mid].bias is not None:
                    b = np.asarray(nodes[mid].bias, float).reshape(-1)
                    # a constant input u = b: for Cuba nodes it enters dI/dt as w_in·b/τ_syn (bias_in = w_in·b)
                    scale = _vec(node_post, "w_in", n_post, 1.0) if kind.startswith("Cuba") else np.ones(n_post)
                    biases[name] += scale * b
            else:
                W, pres = np.eye(n_post), [mid]
            for pre in pres:
                if kinds.get(pre) not in NEURON_NODES + ("Input",):
                    raise ConfigError(f"nir_to_brian: edge {pre} -> {mid} -> {name}: chained weight nodes are not supported")
                if kinds[pre] in ("LI", "CubaLI"):
                    raise ConfigError(f"nir_to_brian: {pre} is a non-spiking node ({kinds[pre]}); it cannot drive {name}")
                n_pre = sizes[pre]
                if W.shape != (n_post, n_pre):
                    raise ConfigError(f"nir_to_brian: weight {mid} has shape {W.shape}, expected ({n_post}, {n_pre})")
                i, j = np.nonzero(W.T)
                ii = (i[None, :] + n_pre * np.arange(T)[:, None]).ravel()
                jj = (j[None, :] + n_post * np.arange(T)[:, None]).ravel()
                S = Synapses(groups[pre], post, "w : 1", on_pre=f"{target}_post += w", name=f"{prefix}_syn{k_syn}",
                             dt=dt * second)
                k_syn += 1
                S.connect(i=ii.astype(np.int32), j=jj.astype(np.int32))
                S.w = np.tile(W.T[i, j] * jump[j], T)
                objects.append(S)
    for name, b in biases.items():
        groups[name].bias_in = np.tile(b, T)
    spike_mons, v_mons = {}, {}
    for name, G in groups.items():
        if name in inputs:
            continue
        if kinds[name] in ("IF", "LIF", "CubaLIF"):
            spike_mons[name] = SpikeMonitor(G, name=f"{prefix}_spikes_{name}")
        else:
            v_mons[name] = StateMonitor(G, "v", record=True, name=f"{prefix}_v_{name}", dt=dt * second, when="end")
    objects += list(spike_mons.values()) + list(v_mons.values())
    outs = [src for src, dst in graph.edges if kinds.get(dst) == "Output"]
    return NIRBrianModel(network=Network(*objects), groups=groups, input=inp, spike_monitors=spike_mons,
                         v_monitors=v_mons, sizes=sizes, n_trials=T, dt=dt, output=outs[0] if outs else None)


def run_nir_brian(graph, in_spikes: np.ndarray, *, dt: float | None = None, reset: str | None = None,
                  target: str = "numpy") -> dict[str, np.ndarray]:
    """Build ``graph`` on Brian2 ``target`` ("numpy", "cython" or "cpp"), run it for ``in_spikes``' steps, and
    return {node: spikes (steps, n_trials, n) bool, or v (steps, n_trials, n) float} for every neuron node."""
    from brian2 import second

    from ..brian.devices import activate

    activate(target)
    m = nir_to_brian(graph, in_spikes, dt=dt, reset=reset)
    steps, T, _ = np.asarray(in_spikes).shape
    m.network.run(steps * m.dt * second)
    out = {}
    for name, mon in m.spike_monitors.items():
        n = m.sizes[name]
        arr = np.zeros((steps, T, n), bool)
        k = np.rint(np.asarray(mon.t_[:]) / m.dt).astype(np.int64)
        idx = np.asarray(mon.i[:], np.int64)
        arr[k, idx // n, idx % n] = True
        out[name] = arr
    for name, mon in m.v_monitors.items():
        n = m.sizes[name]
        v = np.asarray(mon.v[:], float)  # (T·n, steps)
        out[name] = v.T.reshape(steps, T, n)
    return out


def simulate_nir_file(path, inputs, *, out=None, steps: int | None = None, backend: str = "numpy") -> dict:
    """The CLI form (``neuromorph deploy FILE.nir --inputs X.npy``): read ``path``, drive its Input with regular
    spikes at ``input_r_max·x`` (the file's metadata, as neuromorph's export writes it) for every row x of the
    .npy ``inputs``, run it in Brian2 and write ``brian_run.npz`` (every node's spikes or v) and
    ``brian_run.json`` (predictions: argmax of the output node's spike counts, or of its v's increase, over the
    last ``readout_fraction`` of the steps) into ``out`` (default: next to the file)."""
    import io
    import os

    from ..io import atomic_write_bytes, atomic_write_json
    from .nirio import require_nir
    from .pointnet import regular_input_spikes

    nir = require_nir()
    path = str(path)
    if not os.path.isfile(path):
        raise ConfigError(f"no NIR file at {path}")
    try:
        graph = nir.read(path)
    except Exception as exc:  # h5py/nir raise many kinds; one line names the file
        raise ConfigError(f"cannot read {path} as a NIR graph ({type(exc).__name__}: {exc})") from None
    meta = dict(graph.metadata or {})
    for key in ("dt", "input_r_max"):
        if key not in meta:
            raise ConfigError(f"{path}: metadata has no {key!r} (a file written by neuromorph deploy has it)")
    try:
        x = np.load(str(inputs))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read --inputs {inputs} as a .npy array ({exc})") from None
    itype = next(v for v in graph.nodes.values() if type(v).__name__ == "Input").input_type
    itype = next(iter(itype.values())) if isinstance(itype, dict) else itype  # nir keeps {"input": shape}
    n_in = int(np.prod(np.asarray(itype).reshape(-1)))
    x = np.asarray(x, float)
    if x.ndim == 1:
        x = x[None, :]
    if x.ndim != 2 or x.shape[1] != n_in or not np.all(np.isfinite(x)) or x.min() < 0 or x.max() > 1:
        raise ConfigError(f"--inputs must be (n_trials, {n_in}) rates in [0, 1]; got shape {x.shape}"
                          + (f", range {x.min():.3g}..{x.max():.3g}" if x.size else ""))
    dt = float(meta["dt"])
    steps = int(steps) if steps else int(round(float(meta.get("t_sample", 0)) / dt))
    if steps < 1:
        raise ConfigError("--steps must be a positive number of steps (the file's metadata has no t_sample)")
    spikes = regular_input_spikes(x, float(meta["input_r_max"]), dt, steps, float(meta.get("input_phase0", 0.0)))
    res = run_nir_brian(graph, spikes, dt=dt, target=backend)
    outs = [src for src, dst in graph.edges if type(graph.nodes.get(dst)).__name__ == "Output"]
    window = max(1, int(round(float(meta.get("readout_fraction", 1.0)) * steps)))
    o = res[outs[0]]
    score = o[-window:].sum(axis=0) if o.dtype == bool else o[-1] - (o[-window - 1] if window < steps else 0.0)
    out = os.path.dirname(os.path.abspath(path)) if out is None else str(out)
    os.makedirs(out, exist_ok=True)
    buf = io.BytesIO()
    np.savez_compressed(buf, **res)
    atomic_write_bytes(os.path.join(out, "brian_run.npz"), buf.getvalue())
    rep = {"file": path, "backend": backend, "n_trials": int(x.shape[0]), "steps": steps, "dt": dt, "output": outs[0],
           "predictions": [int(v) for v in np.argmax(score, axis=1)], "output_score": score.tolist(),
           "spikes_per_trial": {k: float(v.sum() / x.shape[0]) for k, v in res.items() if v.dtype == bool}}
    atomic_write_json(os.path.join(out, "brian_run.json"), rep)
    rep["written"] = os.path.join(out, "brian_run.{npz,json}")
    return rep
