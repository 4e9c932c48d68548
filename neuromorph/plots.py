"""Figures of what a verification, a comparison or a run did (matplotlib, Agg backend, PNG written atomically).

* :func:`phase_timeline` – the compartments of the first trials through the phases, time in ms, the torch
  reference (lines) and Brian2 (dots) overlaid, phases shaded and named, gates and weight updates marked.
* :func:`equivalence_errors` – Brian2 vs torch relative error per state at the end of every phase, and per
  plastic matrix after every weight update, against the tolerance (log scale).
* :func:`rate_vs_spiking` – accuracy of the rate model and of its spiking twin, and their agreement, against
  the simulated time per sample.
* :func:`spike_raster` – the spiking twin's spikes for the first samples, one band per population.

:func:`verify_figures` and :func:`compare_figures` write the set for a report into a folder and return the paths.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from .io import atomic_write_bytes

__all__ = [
    "phase_timeline",
    "equivalence_errors",
    "rate_vs_spiking",
    "spike_raster",
    "verify_figures",
    "compare_figures",
]

_PHASE_COLORS = ("#4c72b0", "#dd8452", "#55a868", "#c44e52", "#8172b3", "#937860")


def _plt():
    import matplotlib

    matplotlib.use("Agg")  # files only: works on a cluster node without a display
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=120)
    atomic_write_bytes(path, buf.getvalue())
    _plt().close(fig)
    return path


def _shown_trials(schedule, n_trials: int, max_trials: int = 3) -> list[int]:
    """The trials a timeline shows: the first ones, ending with the first weight update when it is near."""
    B = schedule.trials_per_update
    if B <= max_trials:
        return list(range(min(B if B > 1 else min(2, n_trials), n_trials)))
    last = min(B, n_trials)
    return list(range(max(0, last - max_trials), last))


def phase_timeline(circuit, reference, path, *, brian=None, units: int = 3, title: str | None = None,
                   max_states: int = 6) -> Path:
    """States of the first trials against time (ms); ``reference`` (torch) as lines, ``brian`` as dots.

    At most ``max_states`` panels: the circuit's compared states first, then the others in recorded order.
    """
    plt = _plt()
    sch, dt_ms = circuit.schedule, circuit.dt * 1e3
    T = sch.trial_steps
    preferred = [n for n in (circuit.compared_states() or ()) if n in reference.states]
    names = list(dict.fromkeys(preferred + list(reference.states)))
    omitted = names[max_states:]
    names = names[:max_states]
    n_trials = next(iter(reference.states.values())).shape[0]
    trials = _shown_trials(sch, n_trials)
    fig, axes = plt.subplots(len(names), 1, figsize=(8.5, 1.9 * len(names) + 1.4), sharex=True, squeeze=False)
    axes = axes[:, 0]
    t_of = lambda i, k: (i * T + k + 1) * dt_ms  # noqa: E731  the value after step k of trial i
    unit_colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for ax, name in zip(axes, names):
        ref = reference.states[name]
        shown = list(range(min(units, ref.shape[2])))
        for i in trials:
            t = np.array([t_of(i, k) for k in range(T)])
            for j, u in enumerate(shown):
                ax.plot(t, ref[i, :, u], "-", lw=1.3, color=unit_colors[j % len(unit_colors)])
                if brian is not None and name in brian.states:
                    ax.plot(t, brian.states[name][i, :, u], "o", ms=2.6, mfc="none", mew=0.8,
                            color=unit_colors[j % len(unit_colors)])
        unit_note = f"units 0-{shown[-1]} of {ref.shape[2]}" if len(shown) > 1 else f"unit 0 of {ref.shape[2]}"
        ax.set_ylabel(f"{name} (unitless)\n{unit_note}", fontsize=8.5)
        ax.grid(alpha=0.25)
    # phases, gates and updates, on every panel
    gate_handles, update_handle = {}, None
    gate_styles = [("0.15", ":"), ("darkviolet", "-."), ("teal", ":"), ("saddlebrown", "-.")]
    gate_style = {g: gate_styles[i % len(gate_styles)] for i, g in enumerate(
        dict.fromkeys(", ".join(ph.gates) for ph in sch.phases if ph.gates))}
    for ax in axes:
        for i in trials:
            for p_idx, ph in enumerate(sch.phases):
                start = i * T + sch.start(ph.name)
                ax.axvspan(start * dt_ms, (start + ph.steps) * dt_ms, color=_PHASE_COLORS[p_idx % 6], alpha=0.10, lw=0)
                if ph.gates:
                    x = t_of(i, sch.end(ph.name))
                    c, ls = gate_style[", ".join(ph.gates)]
                    gate_handles[", ".join(ph.gates)] = ax.axvline(x, color=c, ls=ls, lw=1.3)
            if sch.applies_update(i):
                update_handle = ax.axvline((i + 1) * T * dt_ms, color="crimson", ls="--", lw=1.6)
            ax.axvline(i * T * dt_ms, color="0.5", lw=0.6)
    top = axes[0]
    for i in trials:
        for p_idx, ph in enumerate(sch.phases):
            mid = (i * T + sch.start(ph.name) + ph.steps / 2) * dt_ms
            top.text(mid, 1.02, ph.name + (f" (β×{ph.nudge:g})" if ph.nudge else ""), transform=top.get_xaxis_transform(),
                     ha="center", va="bottom", fontsize=7.5, color=_PHASE_COLORS[p_idx % 6])
        top.text((i * T + T / 2) * dt_ms, 1.14, f"trial {i}", transform=top.get_xaxis_transform(), ha="center",
                 va="bottom", fontsize=8, weight="bold")
    from matplotlib.lines import Line2D

    handles = [Line2D([], [], color="k", lw=1.3, label="torch reference (float64)")]
    if brian is not None:
        handles.append(Line2D([], [], color="k", marker="o", ls="", mfc="none", ms=4, label="Brian2"))
    for g in gate_handles:
        c, ls = gate_style[g]
        handles.append(Line2D([], [], color=c, ls=ls, lw=1.3, label=f"gate: {g} (end of phase)"))
    if update_handle is not None:
        handles.append(Line2D([], [], color="crimson", ls="--", lw=1.6, label="weight update"))
    axes[-1].legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.42), ncol=min(4, len(handles)),
                    fontsize=8, frameon=False)
    axes[-1].set_xlabel(f"time (ms); dt = {dt_ms:g} ms, {T} steps per trial"
                        + (f"; not shown: {', '.join(omitted)}" if omitted else ""), fontsize=9)
    fig.suptitle(title or f"{circuit.name}: states through the phases (colours: units)", fontsize=10, y=0.99)
    fig.tight_layout(rect=(0, 0, 1, 0.985))
    return _save(fig, path)


def equivalence_errors(circuit, brian, reference, path, *, tolerance: float | None = None, backend: str = "Brian2") -> Path:
    """Relative error |Brian2 − torch| / max|torch| per state and phase end, and per matrix and update."""
    plt = _plt()
    sch = circuit.schedule
    bounds = sch.boundary_steps()
    phase_names, steps = list(bounds), list(bounds.values())
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 3.8))
    tiny = 1e-18  # exact agreement (error 0) drawn at the floor of the log axis
    states = [n for n in (circuit.compared_states() or tuple(reference.states)) if n in brian.states]
    width = 0.8 / max(1, len(states))
    x = np.arange(len(phase_names))
    for j, name in enumerate(states):
        ref = reference.states[name][:, steps, :]
        got = brian.states[name][:, steps, :]
        scale = max(float(np.max(np.abs(ref))), 1e-300)
        err = np.max(np.abs(got - ref), axis=(0, 2)) / scale  # worst over trials and units, per phase
        a1.bar(x + (j - (len(states) - 1) / 2) * width, np.maximum(err, tiny), width, label=name)
    a1.set_xticks(x, [f"end of\n{p}" for p in phase_names], fontsize=8)
    a1.set_title("states: worst over trials and units", fontsize=9)
    for name, ref in reference.weights.items():
        if name not in brian.weights:
            continue
        scale = max(float(np.max(np.abs(ref))), 1e-300)
        err = np.max(np.abs(brian.weights[name] - ref), axis=(1, 2)) / scale
        a2.plot(np.arange(1, len(err) + 1), np.maximum(err, tiny), "o-", label=name)
    a2.set_xlabel("weight update")
    a2.set_title("plastic matrices: worst synapse after each update", fontsize=9)
    if len(reference.weights):
        n_up = len(next(iter(reference.weights.values())))
        a2.set_xticks(np.arange(1, n_up + 1))
    eps = np.finfo(float).eps
    for ax in (a1, a2):
        ax.set_yscale("log")
        ax.set_ylabel("relative error  |Brian2 − torch| / max|torch|", fontsize=8)
        if tolerance is not None and tolerance > 0:
            ax.axhline(tolerance, color="crimson", ls="--", lw=1.2, label=f"tolerance {tolerance:g}")
        ax.axhline(eps, color="0.4", ls=":", lw=1, label="float64 ε (2.2e-16)")
        ax.set_ylim(tiny / 2, max(10 * (tolerance or eps), 1e-6))
        ax.legend(fontsize=7.5, loc="upper right")
        ax.grid(alpha=0.25, axis="y")
    fig.suptitle(f"{circuit.name}: {backend} vs torch float64 (bars at 1e-18: exactly equal)", fontsize=10)
    fig.tight_layout()
    return _save(fig, path)


def rate_vs_spiking(report, path) -> Path:
    """Accuracy of the rate model and the spiking twin, and their agreement, against simulated time per sample."""
    plt = _plt()
    rows = sorted(report.rows, key=lambda r: r.t_sample)
    t = np.array([r.t_sample * 1e3 for r in rows])
    fig, ax = plt.subplots(figsize=(6.4, 4.6))
    ax.plot(t, [100 * r.spiking_accuracy for r in rows], "o-", label="spiking twin")
    ax.axhline(100 * report.rate_accuracy, color="k", ls="--", lw=1.2, label=f"rate model ({100 * report.rate_accuracy:.1f} %)")
    ax.plot(t, [100 * r.agreement for r in rows], "s:", label="agreement (same label as the rate model)")
    ax.set_xlabel("simulated time per sample (ms)")
    ax.set_ylabel("% of samples")
    ax.set_ylim(-2, 102)
    ax.set_xscale("log")
    ax.set_xticks(t, [f"{v:g}" for v in t])
    ax.minorticks_off()
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=2, frameon=False)
    ax.set_title(f"{report.circuit}: rate model vs spiking twin\n{report.encoding} spikes, r_max {report.r_max:g} Hz, "
                 f"τ_syn {report.tau_syn * 1e3:g} ms, {report.n_samples} samples, target {report.target}", fontsize=9)
    fig.tight_layout()
    return _save(fig, path)


def spike_raster(spikes, n_neurons, path, *, dt: float, trial_steps: int, n_trials: int = 3, title: str = "",
                 readout_fraction: float | None = None) -> Path:
    """Spikes of the first ``n_trials`` samples: ``spikes[pop] = (neuron indices, time steps)``.

    One band per population (neuron index upwards), time in ms, sample boundaries and readout windows marked.
    """
    plt = _plt()
    pops = [p for p in n_neurons if p in spikes]
    heights = [max(14, min(n_neurons[p], 60)) for p in pops]  # small populations stay readable
    fig, axes = plt.subplots(len(pops), 1, figsize=(8.5, 1.2 + 0.035 * sum(heights) + 0.5 * len(pops)), sharex=True,
                             squeeze=False, gridspec_kw={"height_ratios": heights})
    axes = axes[:, 0]
    horizon = n_trials * trial_steps
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for ax, pop, c in zip(axes, pops, colors):
        idx, steps = spikes[pop]
        idx, steps = np.asarray(idx), np.asarray(steps)
        keep = steps < horizon
        n = n_neurons[pop]
        ax.scatter(steps[keep] * dt * 1e3, idx[keep], s=2.5, marker="|", color=c, linewidths=0.8)
        ax.set_ylim(-0.5, n - 0.5)
        ax.set_ylabel(f"{pop}\nneuron\n({n})", fontsize=8)
        for i in range(n_trials + 1):
            ax.axvline(i * trial_steps * dt * 1e3, color="0.3", lw=0.8)
        if readout_fraction:
            for i in range(n_trials):
                end = (i + 1) * trial_steps * dt * 1e3
                ax.axvspan(end - readout_fraction * trial_steps * dt * 1e3, end, color="gold", alpha=0.15, lw=0)
        rate = keep.sum() / max(n * horizon * dt, 1e-300)
        ax.text(1.005, 0.5, f"{int(keep.sum())} spikes\n{rate:.0f} Hz mean", transform=ax.transAxes, ha="left",
                va="center", fontsize=7.5, color="0.25")
        from matplotlib.ticker import MaxNLocator

        ax.yaxis.set_major_locator(MaxNLocator(integer=True, nbins=4))
    for i in range(n_trials):
        axes[0].text((i + 0.5) * trial_steps * dt * 1e3, 1.02, f"sample {i}", transform=axes[0].get_xaxis_transform(),
                     ha="center", va="bottom", fontsize=8)
    axes[-1].set_xlabel("time (ms)" + ("; shaded: readout window whose spikes are counted" if readout_fraction else ""))
    fig.suptitle(title or "spiking twin: spike raster", fontsize=10, y=0.995)
    fig.tight_layout(rect=(0, 0, 1, 0.97))
    return _save(fig, path)


def verify_figures(circuit, report, folder) -> list[Path]:
    """The equivalence figures of a verify report that kept its traces (``report.traces``)."""
    traces = getattr(report, "traces", None)
    if traces is None:
        return []
    brian, reference = traces
    folder = Path(folder)
    tag = f"{report.backend}"
    return [
        phase_timeline(circuit, reference, folder / f"verify-{tag}-timeline.png", brian=brian,
                       title=f"{circuit.name}: Brian2 ({report.backend}, dots) and torch (lines) through the phases"),
        equivalence_errors(circuit, brian, reference, folder / f"verify-{tag}-errors.png", tolerance=report.tolerance,
                           backend=f"Brian2 ({report.backend})"),
    ]


def compare_figures(report, folder) -> list[Path]:
    """Accuracy-vs-time and, when the report kept the spikes of its longest run, the raster."""
    folder = Path(folder)
    out = [rate_vs_spiking(report, folder / "compare-accuracy.png")]
    raster = getattr(report, "raster", None)
    if raster:
        out.append(spike_raster(raster["spikes"], raster["n_neurons"], folder / "compare-raster.png", dt=raster["dt"],
                                trial_steps=raster["trial_steps"], readout_fraction=report.readout_fraction,
                                title=f"{report.circuit}: spiking twin, {raster['t_sample'] * 1e3:g} ms per sample "
                                      f"({report.encoding}, r_max {report.r_max:g} Hz)"))
    return out
