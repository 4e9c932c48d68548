"""NIR export of a spiking twin's point form, and a round trip through Norse.

The graph (``nir`` package, Pedersen et al., Nat. Commun. 2024) is ``Input → Linear → CubaLIF → … → Output``:
one ``Linear`` node per projection and one ``CubaLIF`` node per spiking population, edges as in the twin
(recurrent edges included). Conventions, also written into the graph's metadata:

* spikes are Dirac deltas of unit area (NIR's continuous-time reading): a spike through weight ``W`` makes the
  synaptic current jump by ``w_in·W/τ_syn``; ``W = g·w/r_max_pre`` reproduces the twin's trace jump
  ``g·w/(r_max_pre·τ_syn)`` (g: the pathway's gain into the soma, see :mod:`.pointnet`);
* the membrane is the regular encoder's phase: ``dv/dt = r_max·I``, threshold 1, *subtract* reset. NIR's LIF
  always leaks, so ``tau_mem`` = :data:`TAU_INF` (10⁶ s) stands for "no leak" and ``r = r_max·tau_mem``;
* the prediction is the argmax of the output population's spike counts over the last ``readout_fraction`` of
  each sample (ties → lowest index).

Fidelity per node (``exact`` / ``approximate`` / ``not exportable``) and every approximation are in the graph
metadata under ``fidelity`` and ``approximations`` (JSON strings).

Round trip (:func:`norse_round_trip`): ``nir.read`` the file, import it with ``norse.torch.from_nir`` (Norse
was chosen over snnTorch because its node importer takes ``dt`` and a subtract reset, and with nirtorch's
``nir_to_torch`` interpreter it runs recurrent graphs; snnTorch 1.0's importer fixes dt at 1e-4 s, resets to zero and accepts only
self-recurrence), and run the same input spikes there. Norse integrates with one Euler "box" step in which a
unit spike acts for one step, i.e. a delta of area ``dt``: the importer's ``w_in`` is therefore divided by
``dt`` on import, the only change made to the file's parameters.
"""

from __future__ import annotations

import json

import numpy as np

from ..errors import ConfigError

__all__ = ["TAU_INF", "to_nir", "write_nir", "norse_round_trip", "require_nir"]

TAU_INF = 1e6  # s: a membrane time constant standing for "no leak"


def require_nir():
    try:
        import nir
    except ImportError as exc:
        raise ConfigError("NIR export needs the `nir` package: pip install 'neuromorph[deploy]'") from exc
    return nir


def to_nir(net, *, weights: dict | None = None):
    """The NIR graph of point network ``net``; ``weights`` (projection -> (n_pre, n_post)) replaces the
    twin's weights, e.g. by quantised values."""
    nir = require_nir()
    if not net.exportable:
        raise ConfigError("not exportable to NIR: " + "; ".join(net.reasons()))
    nodes, edges = {}, []
    pops = net.populations
    nodes["input"] = nir.Input(input_type=np.array([pops[net.input_name].n]))
    fidelity, approx = {"input": "exact"}, {}
    for name, p in pops.items():
        if p.kind == "input":
            continue
        n = p.n
        bias = np.broadcast_to(np.asarray(p.bias, float), (n,))
        if p.kind == "integrating":  # a readout integrator: dv/dt = I + b, its value over the window is read
            nodes[name] = nir.CubaLI(tau_syn=np.full(n, p.tau_syn), tau_mem=np.full(n, TAU_INF), r=np.full(n, TAU_INF),
                                     v_leak=bias * TAU_INF, w_in=np.ones(n))
            fidelity[name] = p.fidelity
            approx[name] = list(p.approximations)
            continue
        nodes[name] = nir.CubaLIF(
            tau_syn=np.full(n, p.tau_syn), tau_mem=np.full(n, TAU_INF), r=np.full(n, p.r_max * TAU_INF),
            v_leak=p.r_max * bias * TAU_INF, v_threshold=np.ones(n), v_reset=np.zeros(n), w_in=np.ones(n),
        )
        fidelity[name] = p.fidelity
        approx[name] = p.approximations + ["reset by subtraction (v -= 1), NIR v_reset = 0 is not used"]
    for proj in net.projections:
        W = np.asarray((weights or {}).get(proj.name, proj.weight), float)
        r_pre = pops[proj.pre].r_max
        nodes[proj.name] = nir.Linear(weight=(W * np.asarray(proj.gain, float) / r_pre).T.copy())  # gain: per post unit
        fidelity[proj.name] = "exact"
        src = "input" if proj.pre == net.input_name else proj.pre
        edges += [(src, proj.name), (proj.name, proj.post)]
    nodes["output"] = nir.Output(output_type=np.array([pops[net.output].n]))
    edges.append((net.output, "output"))
    fidelity["output"] = "exact"
    meta = {
        "generator": "neuromorph deploy",
        "dt": float(net.dt),
        "t_sample": float(net.t_sample),
        "readout": (f"argmax of the output integrator's increase over the last {net.readout_fraction:g} of each sample"
                    if pops[net.output].kind == "integrating" else
                    f"argmax of output spike counts over the last {net.readout_fraction:g} of each sample"),
        "spike_convention": "Dirac delta of unit area; Linear weight W gives a current jump w_in*W/tau_syn",
        "membrane": f"tau_mem={TAU_INF:g} s stands for no leak; r = r_max*tau_mem so dv/dt = r_max*I; threshold 1",
        "reset": "subtract",
        "input": "regular spikes: phase += r_max*x*dt, spike when phase >= 1, phase -= 1",
        "input_r_max": float(pops[net.input_name].r_max),
        "input_phase0": float(pops[net.input_name].phase0),
        "readout_fraction": float(net.readout_fraction),
        "fidelity": json.dumps(fidelity),
        "approximations": json.dumps(approx),
    }
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata=meta)


def write_nir(path, graph) -> None:
    """Write atomically (temporary file + os.replace)."""
    import os
    import tempfile

    nir = require_nir()
    path = str(path)
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(os.path.abspath(path)) or ".", suffix=".nir.tmp")
    os.close(fd)
    try:
        nir.write(tmp, graph)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _norse_modules(dt: float):
    """Node map for nirtorch: Norse's own CubaLIF importer (subtract reset, our dt) with two of its defaults
    corrected, and a CubaLI built from Norse's leaky-integrator cell (Norse 1.1 imports no CubaLI).

    Norse 1.1's importer hands the node's ``v_leak`` to the *synaptic* filter as well and starts both the
    synaptic and the membrane state at ``v_leak``; NIR's CubaLIF has neither (the current relaxes to 0 and a
    network starts at rest), so the wrapper gives the filter ``v_leak = 0`` and starts every state at 0. With
    bias-free nodes (``v_leak = 0``) nothing changes.
    """
    from functools import partial

    import torch
    from norse.torch.functional.leaky_integrator_box import LIBoxParameters, LIBoxState
    from norse.torch.functional.lif_box import LIFBoxFeedForwardState
    from norse.torch.functional.reset import reset_subtract
    from norse.torch.module.leaky_integrator_box import LIBoxCell
    from norse.torch.utils.import_nir import _import_norse_module, _to_tensor

    nir = require_nir()
    importer = partial(_import_norse_module, reset_method=reset_subtract, dt=dt, ignore_warnings=True)

    class Cuba(torch.nn.Module):
        def __init__(self, w_in, synapse, r, cell, integrate):
            super().__init__()
            self.w_in, self.synapse, self.r, self.cell, self.integrate = w_in, synapse, r, cell, integrate

        def forward(self, x, state=None):
            if state is None:
                zero = torch.zeros(x.shape[:-1] + self.w_in.shape[-1:], dtype=x.dtype)
                state = (LIBoxState(v=zero), LIBoxState(v=zero) if self.integrate else LIFBoxFeedForwardState(v=zero))
            i, syn = self.synapse(self.w_in * x, state[0])
            z, mem = self.cell(self.r * i, state[1])
            return (mem.v if self.integrate else z), (syn, mem)

    def cuba_lif(node):
        m = importer(node)
        m.synapse.p = m.synapse.p._replace(v_leak=torch.zeros_like(m.synapse.p.v_leak))
        return Cuba(_to_tensor(node.w_in), m.synapse, m.r, m.lif, integrate=False)

    def cuba_li(node):
        syn = LIBoxCell(LIBoxParameters(tau_mem_inv=1 / _to_tensor(node.tau_syn), v_leak=torch.zeros(len(node.tau_syn))), dt=dt)
        mem = LIBoxCell(LIBoxParameters(tau_mem_inv=1 / _to_tensor(node.tau_mem), v_leak=_to_tensor(node.v_leak)), dt=dt)
        return Cuba(_to_tensor(node.w_in), syn, _to_tensor(node.r), mem, integrate=True)

    return {nir.CubaLIF: cuba_lif, nir.CubaLI: cuba_li}


def norse_round_trip(path, in_spikes: np.ndarray, *, dt: float, readout_fraction: float):
    """Read ``path`` back with nir.read, run it in Norse on ``in_spikes`` (steps, n_trials, n_in); return
    (predictions, the output's readout over the window, the graph read back). The readout is the output
    population's spike count, or an integrating (CubaLI) output's increase over the window."""
    nir = require_nir()
    try:
        import nirtorch
        import torch
    except ImportError as exc:
        raise ConfigError("the NIR round trip needs Norse: pip install 'neuromorph[deploy]'") from exc
    try:
        node_map = _norse_modules(dt)
    except ImportError as exc:
        raise ConfigError("the NIR round trip needs Norse: pip install 'neuromorph[deploy]'") from exc
    graph = nir.read(str(path))
    out_src = next(src for src, dst in graph.edges if dst == "output")
    integrating = isinstance(graph.nodes[out_src], nir.CubaLI)
    for node in graph.nodes.values():
        if isinstance(node, (nir.CubaLIF, nir.CubaLI)):
            node.w_in = np.asarray(node.w_in, float) / dt  # a unit spike acts for one step in Norse
    # Norse 1.1's from_nir goes through nirtorch's deprecated GraphExecutor, which does not run recurrent
    # graphs (its output is the wrong node); nirtorch.nir_to_torch (fx interpreter with state) does.
    module = nirtorch.nir_to_torch(graph, node_map)
    steps = in_spikes.shape[0]
    window = max(1, int(round(readout_fraction * steps)))
    # One step is a few small matrix products: with several threads on a busy machine OpenMP's hand-offs cost
    # ~100x the arithmetic (20 ms vs 0.12 ms for a 100x64 @ 64x256 product measured under load). Decaying
    # traces reach subnormal floats, which are also slow: flush them to zero (below 1e-38, far under float32
    # resolution of any value that matters here).
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    torch.set_flush_denormal(True)
    try:
        with torch.no_grad():
            counts, before = _norse_loop(module, in_spikes, steps, window, integrating)
    finally:
        torch.set_num_threads(threads)
        torch.set_flush_denormal(False)
    return np.argmax(counts, axis=1), counts, graph


def _norse_loop(module, in_spikes, steps, window, integrating):
    import torch

    counts, before, state = None, None, None
    for k in range(steps):
        out, state = module(torch.as_tensor(in_spikes[k], dtype=torch.float32), state)
        o = out.detach().numpy().astype(np.float64)
        if integrating:
            if k == steps - window - 1:
                before = o.copy()
            if k == steps - 1:
                counts = o - (before if before is not None else 0.0)
        elif k >= steps - window:
            c = o.astype(np.int64)
            counts = c if counts is None else counts + c
    return counts, before
