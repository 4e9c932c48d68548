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
        import nir  # noqa: F401
    except ImportError as exc:
        raise ConfigError("NIR export needs the `nir` package: pip install 'neuromorph[deploy]'") from exc
    import nir

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
        nodes[name] = nir.CubaLIF(
            tau_syn=np.full(n, p.tau_syn), tau_mem=np.full(n, TAU_INF), r=np.full(n, p.r_max * TAU_INF),
            v_leak=np.full(n, p.r_max * p.bias * TAU_INF), v_threshold=np.ones(n), v_reset=np.zeros(n), w_in=np.ones(n),
        )
        fidelity[name] = p.fidelity
        approx[name] = p.approximations + ["reset by subtraction (v -= 1), NIR v_reset = 0 is not used"]
    for proj in net.projections:
        W = np.asarray((weights or {}).get(proj.name, proj.weight), float)
        r_pre = pops[proj.pre].r_max
        nodes[proj.name] = nir.Linear(weight=(W * proj.gain / r_pre).T.copy())
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
        "readout": f"argmax of output spike counts over the last {net.readout_fraction:g} of each sample",
        "spike_convention": "Dirac delta of unit area; Linear weight W gives a current jump w_in*W/tau_syn",
        "membrane": f"tau_mem={TAU_INF:g} s stands for no leak; r = r_max*tau_mem so dv/dt = r_max*I; threshold 1",
        "reset": "subtract",
        "input": "regular spikes: phase += r_max*x*dt, spike when phase >= 1, phase -= 1",
        "input_r_max": float(pops[net.input_name].r_max),
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


def norse_round_trip(path, in_spikes: np.ndarray, *, dt: float, readout_fraction: float):
    """Read ``path`` back with nir.read, run it in Norse on ``in_spikes`` (steps, n_trials, n_in); return
    (predictions, output spike counts over the readout window, the graph read back)."""
    nir = require_nir()
    try:
        from functools import partial

        import nirtorch
        import torch
        from norse.torch.functional.reset import reset_subtract
        from norse.torch.utils.import_nir import _import_norse_module
    except ImportError as exc:
        raise ConfigError("the NIR round trip needs Norse: pip install 'neuromorph[deploy]'") from exc
    graph = nir.read(str(path))
    for node in graph.nodes.values():
        if isinstance(node, nir.CubaLIF):
            node.w_in = np.asarray(node.w_in, float) / dt  # a unit spike acts for one step in Norse
    # Norse 1.1's from_nir goes through nirtorch's deprecated GraphExecutor, which does not run recurrent
    # graphs (its output is the wrong node); nirtorch.nir_to_torch (fx interpreter with state) does, with
    # Norse's own node importer for the CubaLIF nodes and nirtorch's default Linear.
    importer = partial(_import_norse_module, reset_method=reset_subtract, dt=dt, ignore_warnings=True)
    module = nirtorch.nir_to_torch(graph, {nir.CubaLIF: importer})
    steps = in_spikes.shape[0]
    window = max(1, int(round(readout_fraction * steps)))
    counts = None
    state = None
    with torch.no_grad():
        for k in range(steps):
            out, state = module(torch.as_tensor(in_spikes[k], dtype=torch.float32), state)
            if k >= steps - window:
                c = out.detach().numpy().astype(np.int64)
                counts = c if counts is None else counts + c
    return np.argmax(counts, axis=1), counts, graph
