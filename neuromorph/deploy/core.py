"""``neuromorph deploy``: a trained run → quantised twin, fixed-point emulation, lint, energy, NIR, report.

:func:`deploy` writes ``deploy.json`` (figures), ``deploy.md`` (a report with figures under ``figures/``) and
``model.nir`` into the output folder, each atomically. The steps, in order:

1. load the run (:func:`.loader.load_trained`), its test samples and the twin's settings (the run's
   ``[compare]`` r_max / τ_syn; regular spikes: deterministic, the encoding a chip's integrate-and-fire reproduces);
2. quantise every weight matrix to the target's format (:mod:`.quantize`) at the target's bits and at every
   width of ``bits_sweep``; run the Brian2 twin with each (:mod:`.twin`; one compilation) and the rate model with
   each; the twin's accuracy per simulated time comes from one run at the longest time;
3. read the twin as point neurons (:mod:`.pointnet`), run its Loihi fixed-point form in integers on the same
   regular input spikes, lint it (:mod:`.lint`), price its operations (:mod:`.energy`);
4. export it to NIR and run the file in Norse (:mod:`.nirio`), where the ``deploy`` extra is installed.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np

from ..errors import ConfigError
from ..io import atomic_write_bytes, atomic_write_json, atomic_write_text

__all__ = ["deploy", "DEFAULT_BITS_SWEEP", "DEFAULT_T_SAMPLES"]

DEFAULT_BITS_SWEEP = (8, 6, 4, 3, 2)
DEFAULT_T_SAMPLES = (0.02, 0.05, 0.1, 0.2)  # one run at the longest; shorter ones are its prefixes


def _acc(pred, y) -> float:
    return float(np.mean(np.asarray(pred) == np.asarray(y)))


def _savefig(fig, path: Path) -> None:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    atomic_write_bytes(path, buf.getvalue())


def _summary(v):
    """A point-form parameter for deploy.json: the number, or (per unit) its distinct values / range."""
    a = np.asarray(v, float)
    if a.ndim == 0:
        return float(a)
    distinct = np.unique(np.round(a, 12))
    if len(distinct) <= 4:
        return {"per_unit": [float(d) for d in distinct]}
    return {"per_unit_min": float(a.min()), "per_unit_max": float(a.max())}


def deploy(run_dir, target: str, *, weight_bits: int | None = None, out=None, samples: int = 100,
           t_samples=DEFAULT_T_SAMPLES, bits_sweep=DEFAULT_BITS_SWEEP, backend: str = "cpp", nir_export: bool = True,
           log=print) -> dict:
    """Deploy the trained run in ``run_dir`` on ``target``; returns what deploy.json holds.

    Runs with one torch thread and one BLAS thread: every product here is small (one step of a network, one
    rate-model settle), and with two threads on a busy machine the threads' hand-offs cost 10-100x the
    arithmetic (CorInfoMax 784-500-10's twin build, whose rate-model settle is torch: 12.6 s with 2 threads,
    1.4 s with 1, measured side by side at load 15 on 2 cores).
    """
    import torch
    from threadpoolctl import threadpool_limits

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with threadpool_limits(limits=1, user_api="blas"):
            return _deploy(run_dir, target, weight_bits=weight_bits, out=out, samples=samples, t_samples=t_samples,
                           bits_sweep=bits_sweep, backend=backend, nir_export=nir_export, log=log)
    finally:
        torch.set_num_threads(threads)



def lint_learning_rules(circuit, weights, target) -> list[dict]:
    """The learning-rule lint of ``circuit``; where the trained configuration has no Brian2 training model (e.g.
    URFB trained with batch > 1, which the circuit refuses with a NotImplementedError), the rule's form does not
    depend on the sizes, so it is linted on the circuit's small verification instance, and each entry says so."""
    from .lint import learning_lint

    try:
        return learning_lint(circuit, weights, target)
    except NotImplementedError as exc:
        small = circuit.verification_circuit()
        learning = learning_lint(small, small.initial_weights(0), target)
        for entry in learning:
            entry["note"] = (f"linted on the circuit's verification instance: the trained configuration has no "
                             f"Brian2 training model ({exc})")
        return learning

def _deploy(run_dir, target: str, *, weight_bits, out, samples, t_samples, bits_sweep, backend, nir_export, log) -> dict:
    from .energy import DEVICES, rate_energy, spiking_energy, training_counts
    from .lint import hardware_lint
    from .loader import load_trained, test_samples
    from .pointnet import extract, fixed_point, predict_from_counts, regular_input_spikes, run_fixed_point
    from .quantize import quantize_all
    from .targets import get_target
    from .twin import lap, now, run_variants

    t_start = now()
    tgt = get_target(target, weight_bits=weight_bits)  # unknown target: one-line error before any work
    if nir_export:
        from .nirio import require_nir

        require_nir()
    t_samples = sorted(float(t) for t in t_samples)
    if not t_samples or t_samples[0] <= 0:
        raise ConfigError(f"t_samples must be positive seconds, got {t_samples}")
    bits_sweep = sorted({int(b) for b in bits_sweep} | {tgt.weight_bits}, reverse=True)
    run_dir = Path(run_dir)
    out = Path(out) if out else run_dir / f"deploy-{tgt.name}"
    t0 = now()
    circuit, weights, manifest, config, data = load_trained(run_dir)
    x, y = test_samples(data, samples)
    load_t = {}
    lap(load_t, "load_s", t0)
    cc = config.compare
    r_max = float(cc.r_max) if cc else 200.0
    tau_syn = float(cc.tau_syn) if cc else 0.02
    encoding = "regular"
    t_main = t_samples[-1]
    (out / "figures").mkdir(parents=True, exist_ok=True)
    timings = load_t

    # ---- quantisation and the twin ------------------------------------------------------------------------
    t0 = now()
    quant = {b: quantize_all(weights, bits=b, fmt=tgt.weight_format) for b in bits_sweep}
    lap(timings, "quantise_s", t0)
    variants = {"float": weights, **{f"q{b}": {k: q.values for k, q in quant[b].items()} for b in bits_sweep}}
    log(f"{circuit.name}: {len(x)} test samples, target {tgt.title}, {tgt.weight_bits}-bit {tgt.weight_format} "
        f"weights; twin runs: {list(variants)} at {t_main:g} s per sample ({backend})")
    t0 = now()
    res = run_variants(circuit, variants, x, t_samples=t_samples, encoding=encoding, r_max=r_max, tau_syn=tau_syn,
                       backend=backend, seed=config.seed, log=log, timings=timings)
    lap(timings, "twin_s", t0)
    t0 = now()
    rate_pred = {k: np.asarray(circuit.predict_rate(w, x)) for k, w in variants.items()}
    lap(timings, "rate_s", t0)
    main_q = f"q{tgt.weight_bits}"
    acc_float = _acc(res["float"].predictions, y)
    acc_q = _acc(res[main_q].predictions, y)
    bits_curve = [{"bits": b, "spiking_accuracy": _acc(res[f"q{b}"].predictions, y),
                   "rate_accuracy": _acc(rate_pred[f"q{b}"], y),
                   "agreement_with_float_twin": _acc(res[f"q{b}"].predictions, res["float"].predictions),
                   "max_rel_rms_error": max(q.rel_rms_error for q in quant[b].values())} for b in bits_sweep]
    t0 = now()
    net = extract(circuit, weights, x, t_sample=t_main, r_max=r_max, tau_syn=tau_syn, encoding=encoding)
    lap(timings, "extract_s", t0)
    n_spiking = sum(p.n for p in net.populations.values() if p.kind != "input")
    time_curve = []
    for name in ("float", main_q):
        for t, r in sorted(res[name].prefixes.items()):
            steps = int(round(t / circuit.dt))
            counts = {"synops": r.stats.synops_per_inference, "neuron_updates": n_spiking * steps}
            time_curve.append({"weights": name, "t_sample": t, "accuracy": _acc(r.predictions, y),
                               "synops_per_inference": r.stats.synops_per_inference,
                               "spikes_per_inference": r.stats.spikes_per_inference,
                               "energy_per_inference_j": spiking_energy(counts)})

    # ---- point form, fixed point, lint ---------------------------------------------------------------------
    twin_info = net.info
    fixed = {"available": False}
    in_spikes = None
    if net.exportable:
        in_pop = net.populations[net.input_name]
        in_spikes = regular_input_spikes(net.input_rates, in_pop.r_max, net.dt, net.trial_steps, in_pop.phase0)
    loihi_like = tgt.state_bits == 24 and tgt.decay_bits == 12 and tgt.weight_format == "mantissa_exp"
    t0 = now()
    if net.exportable and loihi_like:
        fp = fixed_point(net, bits=tgt.weight_bits, exp_max=tgt.weight_exp_range[1], exp_min=tgt.weight_exp_range[0],
                         vth_bits=tgt.threshold_bits or 17)
        spikes = run_fixed_point(net, fp, in_spikes)
        pred_fp, counts_fp = predict_from_counts(spikes[net.output], net.readout_fraction)
        fixed = {
            "available": True, "accuracy": _acc(pred_fp, y),
            "agreement_with_quantized_twin": _acc(pred_fp, res[main_q].predictions),
            "agreement_with_float_twin": _acc(pred_fp, res["float"].predictions),
            "spikes_per_inference": {k: float(v.sum() / len(x)) for k, v in spikes.items()
                                     if net.populations[k].kind != "integrating"},
            "du": fp.du, "vth": fp.vth, "exponents": fp.exponent, "rel_weight_error": fp.rel_weight_error,
            "tau_syn_rel_error": fp.tau_error, "notes": fp.notes, "stats": fp.stats,
            "exact": ["integer state updates (24-bit u wrap, v clip, 12-bit decays, 17-bit threshold << 6, "
                      "16-bit synaptic input << 6) as Lava's PyLifModelBitAcc does them",
                      "weights as integer mantissas; each projection's summed input shifted by its exponent "
                      "(<< e, or >> -e with floor) as Lava's Dense does"],
            "not_exact": [a for p in net.populations.values() for a in p.approximations]
            + ["reset to 0 after a spike (the twin subtracts the threshold)",
               "trace decay rounded to (du + 1)/4096 per step: the time constant keeps the rounding, the trace's "
               "mean does not (weights scaled by τ_syn·(du + 1)/(4096·dt))"],
        }
    elif not net.exportable:
        fixed["reason"] = "; ".join(net.reasons())
    else:
        fixed["reason"] = f"{tgt.title} is not a Loihi-style (24-bit state, 12-bit decay, mantissa+exponent) target"
    lap(timings, "fixed_point_s", t0)
    t0 = now()
    findings, parts = hardware_lint(net, tgt, quant[tgt.weight_bits], twin_info=twin_info,
                                    fixed_point_stats=fixed.get("stats"))
    learning = lint_learning_rules(circuit, weights, tgt)
    from .lint import Finding

    for proj, err in (fixed.get("rel_weight_error") or {}).items():
        if err > 0.05:  # a pathway far below its population's threshold scale loses its weights to rounding
            findings.append(Finding(
                "weight_dynamic_range", f"projection {proj}",
                f"one threshold per population; weight exponent >= {tgt.weight_exp_range[0]}",
                f"fixed-point weights off by {100 * err:.0f} % (rel. RMS) at exponent {fixed['exponents'][proj]}",
                "give the pathway its own compartment/population, or lower the threshold (costs the other "
                "pathways' precision)", "violation" if err > 0.5 else "note"))
    for rule in learning:  # on-chip learning is part of the target's fit: unmappable rules are violations
        if rule["verdict"] in ("does not map", "maps with conditions"):
            findings.append(Finding(
                "plasticity", f"matrix {rule['matrix']}", f"{tgt.title} learning engine ({tgt.learning.get('form')}, "
                f"{tgt.learning.get('pre_traces')} pre / {tgt.learning.get('post_traces')} post traces)",
                "; ".join(rule["reasons"][:2]),
                "learn on the host (or an embedded core) and write the weights, or reformulate the rule with traces"
                if rule["verdict"] == "does not map" else "provide the snapshots as neuron-computed post traces",
                "violation" if rule["verdict"] == "does not map" else "note"))
    lap(timings, "lint_s", t0)

    # ---- energy -------------------------------------------------------------------------------------------
    st = res[main_q].stats
    steps_main = int(round(t_main / circuit.dt))
    spiking_pops = [p for p, q in net.populations.items() if q.kind != "input"]
    inf_counts = {"synops": st.synops_per_inference, "spikes": st.spikes_per_inference,
                  "neuron_updates": sum(net.populations[p].n for p in spiking_pops) * steps_main, "weight_updates": 0}
    e_inf = spiking_energy(inf_counts)
    plastic = {m: int(np.count_nonzero(weights[m])) for m in (r["matrix"] for r in learning) if m in weights}
    tr_rate = training_counts(circuit, learning, plastic)
    n_phases = tr_rate["phases"]
    tr_spk = {"synops": n_phases * inf_counts["synops"], "neuron_updates": n_phases * inf_counts["neuron_updates"],
              "weight_updates": tr_rate["weight_updates"], "phases": n_phases}
    macs = st.dense_macs_per_inference or 0
    energy = {
        "inference": {"counts": inf_counts, "spiking_j": e_inf,
                      "rate_network": {"macs": macs, "j": rate_energy(macs)}},
        "training_sample": {"spiking_counts": tr_spk, "spiking_j": spiking_energy(tr_spk),
                            "rate_counts": tr_rate, "rate_j": rate_energy(tr_rate["macs"], tr_rate["neuron_updates"],
                                                                           tr_rate["weight_updates"])},
        "devices": {k: v["source"] for k, v in DEVICES.items()},
        "note": "estimates from published per-operation energies (minimum figures, no static power or memory "
                "traffic); a spiking training sample is priced as one inference per phase plus the weight updates",
    }

    # ---- NIR ------------------------------------------------------------------------------------------------
    nir_info = {"file": None}
    if nir_export and net.exportable:
        from .nirio import norse_round_trip, to_nir, write_nir

        t0 = now()
        graph = to_nir(net)
        write_nir(out / "model.nir", graph)
        lap(timings, "nir_export_s", t0)
        t0 = now()
        nir_info = {"file": "model.nir", "nodes": len(graph.nodes), "edges": len(graph.edges),
                    "fidelity": json.loads(graph.metadata["fidelity"]),
                    "approximations": json.loads(graph.metadata["approximations"])}
        try:
            pred_n, counts_n, back = norse_round_trip(out / "model.nir", in_spikes, dt=net.dt,
                                                      readout_fraction=net.readout_fraction)
            nir_info.update({
                "simulator": "norse", "read_back_nodes": len(back.nodes), "accuracy": _acc(pred_n, y),
                "agreement_with_float_twin": _acc(pred_n, res["float"].predictions),
                "agreement_with_fixed_point": _acc(pred_n, pred_fp) if fixed["available"] else None,
                "output_spikes_per_inference": float(counts_n.sum() / len(x)),
            })
        except ConfigError as exc:
            nir_info["round_trip"] = f"not run: {exc}"
        lap(timings, "norse_s", t0)
    elif nir_export:
        nir_info["reason"] = "not exportable: " + "; ".join(net.reasons())

    violations = [f.to_dict() for f in findings if f.severity == "violation"]
    by_kind: dict[str, int] = {}
    for f in violations:
        by_kind[f["kind"]] = by_kind.get(f["kind"], 0) + 1
    lap(timings, "total_s", t_start)
    report = {
        "run_dir": str(run_dir), "circuit": circuit.name, "target": tgt.name, "target_title": tgt.title,
        "weight_format": tgt.weight_format, "weight_bits": tgt.weight_bits, "n_samples": int(len(x)),
        "t_sample": t_main, "encoding": encoding, "r_max": r_max, "tau_syn": tau_syn, "backend": backend,
        "accuracy_float": acc_float, "accuracy_quantized": acc_q,
        "rate_accuracy_float": _acc(rate_pred["float"], y), "rate_accuracy_quantized": _acc(rate_pred[main_q], y),
        "agreement_float_quantized": _acc(res[main_q].predictions, res["float"].predictions),
        "bits_curve": bits_curve, "time_curve": time_curve,
        "quantization": {k: q.summary() for k, q in quant[tgt.weight_bits].items()},
        "fixed_point": fixed,
        "violations": violations, "violations_by_kind": by_kind,
        "notes": [f.to_dict() for f in findings if f.severity == "note"],
        "cores": int(sum(p["cores"] for p in parts.values())), "partition": parts,
        "learning_rules": learning,
        "synops_per_inference": st.synops_per_inference, "spikes_per_inference": st.spikes_per_inference,
        "energy_per_inference_j": e_inf, "energy_per_training_sample_j": energy["training_sample"]["spiking_j"],
        "energy": energy,
        "nir_file": nir_info["file"], "nir": nir_info,
        "point_neurons": {k: {"kind": p.kind, "n": p.n, "fidelity": p.fidelity, "tau_syn": p.tau_syn, "tau_u": p.tau_u,
                              "gains": {t: _summary(g) for t, g in p.gains.items()}, "bias": _summary(p.bias),
                              "reason": p.reason, "approximations": p.approximations}
                          for k, p in net.populations.items()},
        "target_profile": tgt.describe(), "timings": timings,
    }
    t0 = now()
    _figures(report, out / "figures", circuit.name)
    lap(timings, "report_s", t0)
    lap(timings, "total_s", t_start)  # again, with the figures
    atomic_write_json(out / "deploy.json", report)
    atomic_write_text(out / "deploy.md", _markdown(report))
    log(f"wrote {out / 'deploy.json'}, {out / 'deploy.md'}" + (f", {out / 'model.nir'}" if nir_info["file"] else ""))
    return report


def _figures(rep: dict, figdir: Path, name: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    bc = rep["bits_curve"]
    fig, ax = plt.subplots(figsize=(5, 3.3))
    bits = [r["bits"] for r in bc]
    ax.plot(bits, [100 * r["spiking_accuracy"] for r in bc], "o-", label="spiking twin (Brian2)")
    ax.plot(bits, [100 * r["rate_accuracy"] for r in bc], "s--", label="rate model")
    ax.axhline(100 * rep["accuracy_float"], color="gray", lw=0.8, label="spiking twin, float weights")
    ax.set_xlabel(f"weight bits ({rep['weight_format']}, per projection)")
    ax.set_ylabel("test accuracy (%)")
    ax.invert_xaxis()
    ax.set_title(f"{name} on {rep['target_title']}: accuracy vs weight bits", fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    _savefig(fig, figdir / "accuracy_vs_bits.png")
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(5, 3.3))
    for wname, style in (("float", "o-"), (f"q{rep['weight_bits']}", "s--")):
        rows = [r for r in rep["time_curve"] if r["weights"] == wname]
        for dev, color in (("loihi", "C0"), ("spinnaker2", "C1")):
            ax.plot([1e9 * r["energy_per_inference_j"][dev] for r in rows], [100 * r["accuracy"] for r in rows], style,
                    color=color, label=f"{dev}, {wname} weights")
            for r in rows:
                ax.annotate(f"{1e3 * r['t_sample']:g} ms", (1e9 * r["energy_per_inference_j"][dev], 100 * r["accuracy"]),
                            fontsize=6)
    ax.set_xscale("log")
    ax.set_xlabel("estimated energy per inference (nJ)")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title(f"{name}: accuracy vs energy as simulated time grows", fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    _savefig(fig, figdir / "energy_vs_accuracy.png")
    plt.close(fig)

    q = rep["quantization"]
    fig, ax = plt.subplots(figsize=(5, 3.0))
    ax.bar(list(q), [100 * v["rel_rms_error"] for v in q.values()])
    ax.set_ylabel("relative RMS weight error (%)")
    ax.set_title(f"{rep['weight_bits']}-bit {rep['weight_format']} quantisation per matrix", fontsize=9)
    ax.tick_params(axis="x", labelrotation=45, labelsize=7)
    fig.tight_layout()
    _savefig(fig, figdir / "quantization_error.png")
    plt.close(fig)


def _fmt_j(j: float) -> str:
    for unit, s in (("J", 1.0), ("mJ", 1e-3), ("µJ", 1e-6), ("nJ", 1e-9), ("pJ", 1e-12)):
        if abs(j) >= s:
            return f"{j / s:.3g} {unit}"
    return f"{j:.3g} J"


def _markdown(r: dict) -> str:
    L = [f"# Deployment of `{r['circuit']}` on {r['target_title']}", "",
         f"Run `{r['run_dir']}`; {r['n_samples']} test samples; spiking twin with {r['encoding']} spikes, r_max "
         f"{r['r_max']:g} Hz, τ_syn {1e3 * r['tau_syn']:g} ms, {1e3 * r['t_sample']:g} ms per sample (Brian2 {r['backend']}); "
         f"weights {r['weight_bits']}-bit `{r['weight_format']}` per projection.", "",
         "## Accuracy", "",
         "| | float weights | quantised |", "|---|---|---|",
         f"| spiking twin (Brian2) | {100 * r['accuracy_float']:.1f} % | {100 * r['accuracy_quantized']:.1f} % |",
         f"| rate model | {100 * r['rate_accuracy_float']:.1f} % | {100 * r['rate_accuracy_quantized']:.1f} % |", "",
         f"Twin predictions agree float vs quantised on {100 * r['agreement_float_quantized']:.1f} % of samples.", "",
         "| weight bits | spiking twin | rate model | agrees with float twin | max rel. RMS weight error |", "|---|---|---|---|---|"]
    for b in r["bits_curve"]:
        L.append(f"| {b['bits']} | {100 * b['spiking_accuracy']:.1f} % | {100 * b['rate_accuracy']:.1f} % | "
                 f"{100 * b['agreement_with_float_twin']:.1f} % | {100 * b['max_rel_rms_error']:.2f} % |")
    L += ["", "![accuracy vs bits](figures/accuracy_vs_bits.png)", "",
          "Per matrix (target bits):", "", "| matrix | exponent / scale | rel. RMS error | zeroed | max abs error |",
          "|---|---|---|---|---|"]
    for k, q in r["quantization"].items():
        sc = f"2^{q['exponent']}" if q["exponent"] is not None else f"{q['scale']:.3g}"
        L.append(f"| {k} | {sc} | {100 * q['rel_rms_error']:.2f} % | {100 * q['zeroed_fraction']:.1f} % | {q['max_abs_error']:.3g} |")
    L += ["", "![quantisation error](figures/quantization_error.png)", "", "## Fixed-point emulation (integer state updates)", ""]
    fx = r["fixed_point"]
    if fx["available"]:
        L += [f"Accuracy {100 * fx['accuracy']:.1f} %; agrees with the quantised Brian2 twin on "
              f"{100 * fx['agreement_with_quantized_twin']:.1f} % and with the float twin on "
              f"{100 * fx['agreement_with_float_twin']:.1f} % of samples.", "", "Exact (integer, as on chip):"]
        L += [f"- {s}" for s in fx["exact"]]
        L += ["", "Not exact (the point form's approximations of the twin):"] + [f"- {s}" for s in dict.fromkeys(fx["not_exact"])]
        L += ["", f"Thresholds θ: {fx['vth']}; du: {fx['du']}; exponents: {fx['exponents']}; relative weight "
              f"rounding error: { {k: round(v, 4) for k, v in fx['rel_weight_error'].items()} }"]
    else:
        L.append(f"Not run: {fx.get('reason')}")
    L += ["", "## Point form per population", "", "| population | kind | neurons | fidelity | why / approximations |",
          "|---|---|---|---|---|"]
    for k, p in r["point_neurons"].items():
        why = p["reason"] or "; ".join(p.get("approximations") or []) or "-"
        L.append(f"| {k} | {p['kind']} | {p['n']} | {p['fidelity']} | {why} |")
    L += ["", "## Hardware lint", "", f"**{len(r['violations'])} violation(s)** "
          + (f"({', '.join(f'{k}: {v}' for k, v in r['violations_by_kind'].items())})" if r["violations"] else "")
          + f"; **{r['cores']} core(s)**.", "", "| severity | kind | where | limit | value | remedy |", "|---|---|---|---|---|---|"]
    for f in r["violations"] + r["notes"]:
        L.append(f"| {f['severity']} | {f['kind']} | {f['where']} | {f['limit']} | {f['value']} | {f['remedy']} |")
    L += ["", "Partition:", "", "| population | neurons | synapses in | cores | bound by |", "|---|---|---|---|---|"]
    for k, p in r["partition"].items():
        L.append(f"| {k} | {p['neurons']} | {p['synapses_in']} | {p['cores']} | {p['bound_by']} |")
    L += ["", "## Learning-rule lint (sum-of-products form with pre/post traces and third factors)", "",
          "| matrix | verdict | terms | why |", "|---|---|---|---|"]
    for lr in r["learning_rules"]:
        terms = "; ".join(t for t in lr["terms"] if t not in ("acc", "w"))[:160]
        L.append(f"| {lr['matrix']} | {lr['verdict']} | `{terms}` | {' '.join(lr['reasons'])} |")
    e = r["energy"]
    L += ["", "## Operations and energy (estimates)", "", e["note"] + ".", "",
          f"Per inference: {e['inference']['counts']['synops']:,.0f} SynOps, {e['inference']['counts']['spikes']:,.0f} "
          f"spikes, {e['inference']['counts']['neuron_updates']:,} neuron updates; the rate network: "
          f"{e['inference']['rate_network']['macs']:,} MACs.", "",
          f"Per training sample: spiking {e['training_sample']['spiking_counts']['synops']:,.0f} SynOps + "
          f"{e['training_sample']['spiking_counts']['weight_updates']:,.0f} weight updates; rate network "
          f"{e['training_sample']['rate_counts']['macs']:,} MACs + {e['training_sample']['rate_counts']['weight_updates']:,.0f} weight updates.", "",
          "| device | spiking inference | spiking training sample | rate inference | rate training sample | source |",
          "|---|---|---|---|---|---|"]
    for dev, src in e["devices"].items():
        ri = e["inference"]["rate_network"]["j"].get(dev)
        rt = e["training_sample"]["rate_j"].get(dev)
        L.append(f"| {dev} | {_fmt_j(e['inference']['spiking_j'][dev])} | {_fmt_j(e['training_sample']['spiking_j'][dev])} | "
                 f"{_fmt_j(ri) if ri is not None else '-'} | {_fmt_j(rt) if rt is not None else '-'} | {src} |")
    L += ["", "![energy vs accuracy](figures/energy_vs_accuracy.png)", "",
          "| weights | t_sample | accuracy | SynOps/inf | Loihi energy/inf |", "|---|---|---|---|---|"]
    for row in r["time_curve"]:
        L.append(f"| {row['weights']} | {1e3 * row['t_sample']:g} ms | {100 * row['accuracy']:.1f} % | "
                 f"{row['synops_per_inference']:,.0f} | {_fmt_j(row['energy_per_inference_j']['loihi'])} |")
    n = r["nir"]
    L += ["", "## NIR export and round trip", ""]
    if n["file"]:
        L += [f"`{n['file']}`: {n['nodes']} nodes, {n['edges']} edges (Input → Linear → CubaLIF … → Output; an integrating readout is a CubaLI).", "",
              "| node | fidelity | approximations |", "|---|---|---|"]
        for node, fid in n["fidelity"].items():
            L.append(f"| {node} | {fid} | {'; '.join(n['approximations'].get(node, []))} |")
        if "accuracy" in n:
            L += ["", f"Read back with `nir.read` ({n['read_back_nodes']} nodes) and run in **Norse** on the same input "
                  f"spikes: accuracy {100 * n['accuracy']:.1f} %, agreement with the Brian2 float twin "
                  f"{100 * n['agreement_with_float_twin']:.1f} %"
                  + (f", with the fixed-point emulation {100 * n['agreement_with_fixed_point']:.1f} %" if n.get("agreement_with_fixed_point") is not None else "")
                  + "."]
        elif "round_trip" in n:
            L += ["", n["round_trip"]]
    else:
        L.append(n.get("reason", "NIR export not requested"))
    L += ["", "## Time per stage", "", "Wall seconds on this machine now, and CPU seconds (this process and its finished "
          "children: g++, the compiled twin), which is about what a quiet machine needs for the single-threaded stages.",
          "", "| stage | wall (s) | CPU (s) |", "|---|---|---|"]
    cpu = r["timings"].get("cpu", {})

    def fmt(v):
        return f"{', '.join(f'{n} {t:.1f}' for n, t in v.items())} (total {sum(v.values()):.1f})" if isinstance(v, dict) else f"{v:.1f}"

    for k, v in r["timings"].items():
        if k != "cpu":
            L.append(f"| {k} | {fmt(v)} | {fmt(cpu[k]) if k in cpu else '-'} |")
    L.append("")
    return "\n".join(L)
