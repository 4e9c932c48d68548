"""Hardware lint (a network against a target's limits) and learning-rule lint (plasticity against Loihi's
sum-of-products learning engine). Generic: both read the spiking twin's point form (:mod:`.pointnet`) and the
circuit's training Brian2 model; no circuit is named here.

Every finding is a :class:`Finding` naming the population or projection, the limit, the value and the remedy.
``severity`` is ``"violation"`` (the network does not fit as is) or ``"note"`` (fits, with a stated cost).
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass

import numpy as np

__all__ = ["Finding", "partition", "hardware_lint", "learning_lint"]


@dataclass
class Finding:
    kind: str
    where: str
    limit: str
    value: str
    remedy: str
    severity: str = "violation"

    def to_dict(self) -> dict:
        return asdict(self)


def partition(net, target) -> dict:
    """Cores per population: enough for its neurons and for the synapse memory of its incoming weights.

    Synapse memory of a post neuron = Σ incoming non-zero synapses × ``bits_per_synapse``; a core holds at
    most ``neurons_per_core`` neurons and ``synapse_memory_bits_per_core`` bits. Input populations sit off-core
    (host spike generators) and use no core.
    """
    out = {}
    for name, pop in net.populations.items():
        if pop.kind == "input":
            continue
        syn = sum(int(np.count_nonzero(p.weight)) for p in net.projections if p.post == name)
        by_neurons = math.ceil(pop.n / target.neurons_per_core) if target.neurons_per_core else 1
        by_memory = (math.ceil(syn * target.bits_per_synapse / target.synapse_memory_bits_per_core)
                     if target.synapse_memory_bits_per_core else 1)
        cores = max(1, by_neurons, by_memory)
        out[name] = {"neurons": pop.n, "synapses_in": syn, "cores": cores, "neurons_per_core": math.ceil(pop.n / cores),
                     "bound_by": "synapse memory" if by_memory > by_neurons else "neurons"}
    return out


def hardware_lint(net, target, quant: dict, *, twin_info: dict | None = None, fixed_point_stats: dict | None = None):
    """(findings, partition) of the point network ``net`` with quantised weights ``quant`` on ``target``."""
    F: list[Finding] = []
    parts = partition(net, target)
    twin_info = twin_info or {}
    # -- weights: precision per projection, exponent span per population
    for name, q in quant.items():
        sev = "violation" if (q.rel_rms_error > 0.05 or q.zeroed_fraction > 0.10) else "note"
        F.append(Finding("weight_precision", f"matrix {name}",
                         f"{target.weight_bits}-bit {target.weight_format} weights",
                         f"rel. RMS error {100 * q.rel_rms_error:.2f} %, {100 * q.zeroed_fraction:.1f} % of weights "
                         f"rounded to 0, max |error| {q.max_abs_error:.3g}" + (f", exponent {q.exponent}" if q.exponent is not None else ""),
                         "more weight bits, or fine-tune with quantisation-aware training" if sev == "violation" else "none needed",
                         sev))
    if target.weight_format == "mantissa_exp":
        lo, hi = target.weight_exp_range
        for name, pop in net.populations.items():
            exps = [quant[k].exponent for k in quant if any(p.post == name and _matrix_of(p.name, k) for p in net.projections)]
            exps = [e for e in exps if e is not None]
            if exps and max(exps) - min(exps) > hi - lo:
                F.append(Finding("weight_exponent_range", f"population {name}", f"exponents within {hi - lo} of each other",
                                 f"incoming exponents span {min(exps)}..{max(exps)}", "rescale the smaller pathway's weights "
                                 "into its postsynaptic threshold or split the population"))
    # -- fan-in / fan-out per core, neurons and synapse memory
    for name, pop in net.populations.items():
        if pop.kind == "input":
            continue
        pre_n = sum(net.populations[p.pre].n for p in net.projections if p.post == name)
        if target.fan_in_per_core and pre_n > target.fan_in_per_core:
            F.append(Finding("fan_in", f"population {name}", f"{target.fan_in_per_core} input axons per core",
                             f"{pre_n} presynaptic neurons", "split the presynaptic populations across cores "
                             "(multi-compartment dendritic summation) or prune inputs"))
        p = parts[name]
        if p["cores"] > 1:
            F.append(Finding("cores", f"population {name}", f"{target.neurons_per_core} neurons / "
                             f"{(target.synapse_memory_bits_per_core or 0) // 8 // 1024} KiB synapse memory per core",
                             f"{p['neurons']} neurons, {p['synapses_in']} synapses -> {p['cores']} cores ({p['bound_by']})",
                             "none needed: partitioned over cores", "note"))
    for name, pop in net.populations.items():
        out_cores = sum(parts[p.post]["cores"] for p in net.projections if p.pre == name and p.post in parts)
        if target.fan_out_per_core and pop.n * out_cores > target.fan_out_per_core:
            F.append(Finding("fan_out", f"population {name}", f"{target.fan_out_per_core} output axons per core",
                             f"{pop.n} neurons x {out_cores} destination cores = {pop.n * out_cores}",
                             "spread the population over more source cores"))
    n_cores = sum(p["cores"] for p in parts.values())
    if target.cores_per_chip and n_cores > target.cores_per_chip:
        F.append(Finding("chip_cores", "network", f"{target.cores_per_chip} cores per chip", f"{n_cores} cores",
                         "use a multi-chip board", "note"))
    # -- chip-level I/O (Xylo)
    ins = [p for p in net.populations.values() if p.kind == "input"]
    n_in = sum(p.n for p in ins)
    hidden = [p for n, p in net.populations.items() if p.kind != "input" and n != net.output]
    if target.max_inputs is not None and n_in > target.max_inputs:
        F.append(Finding("inputs", ins[0].name if ins else "input", f"{target.max_inputs} input channels",
                         f"{n_in} inputs", "reduce the input dimension (pooling/PCA) before the chip"))
    if target.max_hidden is not None and sum(p.n for p in hidden) > target.max_hidden:
        F.append(Finding("hidden_neurons", ", ".join(p.name for p in hidden), f"{target.max_hidden} hidden neurons",
                         f"{sum(p.n for p in hidden)}", "shrink the hidden layers"))
    if target.max_outputs is not None and net.populations[net.output].n > target.max_outputs:
        F.append(Finding("outputs", net.output, f"{target.max_outputs} output neurons",
                         f"{net.populations[net.output].n}", "fewer classes per chip, or read hidden neurons"))
    n_layers = sum(1 for p in net.populations.values() if p.kind != "input")
    if target.min_neuron_layers and n_layers < target.min_neuron_layers:
        F.append(Finding("layers", "network", f">= {target.min_neuron_layers} neuron layers", f"{n_layers}", "add a layer"))
    # -- constructs
    for name, pop in net.populations.items():
        if pop.n_compartments > 1:
            sev = "note" if target.multi_compartment else "violation"
            F.append(Finding("multi_compartment", f"population {name}", "point neurons" if not target.multi_compartment
                             else "multi-compartment supported", f"{pop.n_compartments} input pathways with own gains",
                             "exported as one current with gain-scaled weights (exact for linear dendrites)", sev))
        if not pop.exportable:
            remedy = ("read the output as a synaptic current (Loihi 2 probes u) or make it a spiking population"
                      if pop.kind == "graded" else "replace the rate function by a clipped linear one, or run the "
                      "population on an embedded core (Loihi 2 x86 / SpiNNaker ARM)")
            F.append(Finding("neuron_model", f"population {name}", "LIF / CUBA point neurons", pop.reason, remedy))
        if pop.kind == "spiking" and pop.clip and pop.clip[0] == 0 and target.state_bits is not None:
            F.append(Finding("rate_clip", f"population {name}", "LIF membranes integrate signed drive",
                             f"ρ = clip(u, {pop.clip[0]:g}, {pop.clip[1]:g})", "accepted approximation: the membrane "
                             "also integrates negative drive (see the fixed-point accuracy)", "note"))
    for name in net.graded_couplings:
        sev = "note" if target.graded_spikes else "violation"
        F.append(Finding("graded_coupling", f"synapses {name}", "graded spikes" if target.graded_spikes else "binary spikes only",
                         "a value (not a spike) sent every step", "send it as a graded-spike payload (Loihi 2) or "
                         "rate-code it" if target.graded_spikes else "rate-code the value as spikes or compute it off-chip", sev))
    if twin_info.get("on_off"):
        sev = "note" if target.signed_spikes else "violation"
        F.append(Finding("signed_rates", "network", "signed payloads" if target.signed_spikes else "non-negative spike rates",
                         "signed rates carried by ON/OFF unit pairs (twice the neurons)",
                         "keep the ON/OFF pairs" if not target.signed_spikes else "ON/OFF pairs could become signed graded spikes", sev))
    if fixed_point_stats:
        for name, st in fixed_point_stats.items():
            if st.get("activation_overflow", 0):
                F.append(Finding("activation_range", f"population {name}", "16-bit synaptic input per step",
                                 f"{st['activation_overflow']} steps x neurons above 2**15 (max {st['max_activation']})",
                                 "lower the weight exponent or the threshold"))
    return F, parts


def _matrix_of(projection_name: str, matrix: str) -> bool:
    """Whether a twin projection (e.g. 'spk_W_xh') carries circuit matrix ``matrix`` (e.g. 'W_xh')."""
    return re.search(rf"(^|_){re.escape(matrix)}$", projection_name) is not None


# ---- learning-rule lint ----------------------------------------------------------------------------------
def _assignments(code: str):
    for line in code.splitlines():
        m = re.match(r"\s*(\w+)\s*(\+=|-=|\*=|=)\s*(.+)", line)
        if m:
            yield m.group(1), m.group(2), m.group(3)


def learning_lint(circuit, weights, target) -> list[dict]:
    """For each plastic matrix of ``circuit``'s training model: its update's product terms, what each factor is
    (pre/post activity, stored snapshot, a signal delivered by another population, a phase gate) and whether it
    fits ``target``'s sum-of-products learning engine, with the reasons."""
    import sympy
    from brian2.parsing.sympytools import str_to_sympy

    from ..brian.devices import activate

    activate("numpy")
    data = circuit.example_data(circuit.schedule.trials_per_update, 0)
    model = circuit.build_brian(weights, data)
    flags = set(re.findall(r"^\s*(\w+)\s*:", circuit.schedule.brian_flags(), flags=re.M))
    learn = target.learning or {}
    results = []

    def kind_of(group, var):
        if var in flags or var.startswith(("gate_", "apply_")):
            return "gate"
        eqs = {e.varname: e for e in group.equations.ordered}
        if var not in eqs:
            return "unknown"
        if eqs[var].type in ("subexpression", "differential equation"):
            return "activity"
        for co in group.contained_objects:
            for lhs, _op, _rhs in _assignments(getattr(co, "abstract_code", "") or ""):
                if lhs == var:
                    return "snapshot"
        return "external"

    for mname, (S, _shape, _var) in model.weight_probes.items():
        # the update runs every step (a CodeRunner) or on an event (a SynapticPathway's on_pre, e.g. pHSIC's
        # learn/apply pathways triggered at a phase's end)
        codes = [getattr(co, "abstract_code", "") or "" for co in S.contained_objects
                 if type(co).__name__ in ("CodeRunner", "SynapticPathway")]
        updates = [(lhs, op, rhs) for c in codes for lhs, op, rhs in _assignments(c) if lhs in ("acc", "w")]
        terms, factors, post_products, globals_ = [], {}, set(), set()
        nonlinear = []
        for lhs, op, rhs in updates:
            try:
                e = sympy.expand(str_to_sympy(rhs))
            except Exception as exc:  # noqa: BLE001 - an unparsable update is itself a finding
                nonlinear.append(f"unparsable update {rhs!r} ({exc})")
                continue
            for term in sympy.Add.make_args(e):
                terms.append(str(term))
                post_part = []
                for f in sympy.Mul.make_args(term):
                    base = f.base if isinstance(f, sympy.Pow) else f
                    if isinstance(base, sympy.Symbol):
                        factors.setdefault(str(base), None)
                        if str(base).endswith("_post"):
                            post_part.append(str(base))
                    elif base.is_number:
                        continue
                    elif isinstance(base, sympy.Function) and all(str(a) == "t" for a in base.args):
                        # a per-trial scalar read from a TimedArray (β, reward): one global signal
                        globals_.add(str(base))
                    else:
                        nonlinear.append(str(term))
                post_products.add(tuple(sorted(post_part)))
        pre_g, post_g = S.source, S.target
        kinds = {}
        for s in factors:
            if s.endswith("_pre"):
                kinds[s] = ("pre", kind_of(pre_g, s[:-4]))
            elif s.endswith("_post"):
                kinds[s] = ("post", kind_of(post_g, s[:-5]))
            elif s in ("w", "acc"):
                kinds[s] = ("synapse", "weight" if s == "w" else "accumulator")
            else:
                kinds[s] = ("constant", "constant")
        pre_act = [s for s, (side, k) in kinds.items() if side == "pre" and k == "activity"]
        pre_snap = [s for s, (side, k) in kinds.items() if side == "pre" and k in ("snapshot", "external")]
        post_snap = [s for s, (side, k) in kinds.items() if side == "post" and k == "snapshot"]
        third = [s for s, (side, k) in kinds.items() if side == "post" and k == "external"] + sorted(globals_)
        gates = [s for s, (side, k) in kinds.items() if k == "gate"]
        # the post neuron can compute a product of its own variables and offer it as one trace; gates and
        # signals delivered by other populations (third factors) are counted apart
        own = {tuple(v for v in prod if kinds[v][1] in ("activity", "snapshot")) for prod in post_products}
        own.discard(())
        reasons, verdict = [], "maps"
        if learn.get("form") != "sum_of_products":
            verdict = "n/a" if learn.get("form") == "none" else "maps (software)"
            reasons.append(f"{target.title}: learning engine form {learn.get('form')!r}")
        else:
            n_pre = len(pre_act) + len(pre_snap)
            n_post = len(own) + len(third)
            if pre_snap:
                verdict = "does not map"
                reasons.append(f"presynaptic stored values {pre_snap}: pre traces x1, x2 are spike filters and "
                               "cannot hold a value from another phase or sample (a slow x2 trace only approximates it)")
            if n_pre > learn.get("pre_traces", 0):
                verdict = "does not map"
                reasons.append(f"{n_pre} presynaptic factors > {learn.get('pre_traces')} pre traces")
            if n_post > learn.get("post_traces", 0):
                verdict = "does not map"
                reasons.append(f"{n_post} postsynaptic traces needed (own products {sorted(own)} + third factors "
                               f"{third}) > {learn.get('post_traces')} post traces y1..y3")
            if len(third) > learn.get("third_factors", 0):
                verdict = "does not map"
                reasons.append(f"{len(third)} third factors {third} > {learn.get('third_factors')} the engine takes")
            if nonlinear:
                verdict = "does not map"
                reasons.append(f"non-polynomial terms {nonlinear[:2]}")
            if post_snap and verdict == "maps":
                verdict = "maps with conditions"
                reasons.append(f"post snapshots {post_snap} must be offered as post traces y2/y3 by the neuron "
                               "(Loihi 2 programmable neuron; not Loihi 1)")
            if third:
                reasons.append(f"third factor(s) {third} reach the post neuron from other populations or as a "
                               "per-trial global value (Loihi3FLearningRule reads them from the post neuron's y ports)")
            if gates:
                reasons.append(f"phase gates {gates}: evaluate the rule at learning-epoch ends (t_epoch)")
            if verdict != "does not map":
                reasons.append("products of pre/post traces, third factors, constants and w: sum-of-products form; "
                               "updates accumulate in float here, in integers (stochastic rounding) on chip")
        results.append({
            "matrix": mname, "terms": terms, "factors": {s: f"{side}:{k}" for s, (side, k) in kinds.items()},
            "verdict": verdict, "reasons": reasons, "global_signals": sorted(globals_), "n_synapses": int(np.size(weights.get(mname, np.zeros(0)))),
        })
    return results
