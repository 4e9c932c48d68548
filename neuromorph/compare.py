"""Rate model versus spiking twin: accuracy, agreement, state error and spike/SynOp counts per simulated time.

:func:`compare_rate_spiking` asks the circuit for its rate-model predictions (``Circuit.predict_rate``) and,
for each simulated time per sample ``t_sample``, builds its spiking twin (``Circuit.build_spiking_brian``)
for *all* samples at once - trials are consecutive ``t_sample`` windows, state reset at each start, inputs
as per-trial rows of a TimedArray - and runs it in one Brian2 run (for ``cpp``/``cuda``: one build per
duration). It reports, per duration:

* spiking accuracy, rate accuracy, agreement (fraction of samples where both predict the same label);
* state error: mean |ρ_rate − ρ_spike| of each compared population (normalised rates; ρ_spike = spike count
  in the readout window / (r_max · window)), when the circuit supplies its rate model's rates;
* spikes and SynOps (Σ_spikes fan-out) per inference, next to the rate model's dense MACs per inference;
* for twins with a graded readout (``SpikingModel.readout_var``) that state the rate model's value
  (``reference_readout``): the mean |readout_rate − readout_spike| over samples and output units.

``build_options`` are passed on to ``build_spiking_brian`` as keyword arguments (circuit-specific options such
as rate scales); they are recorded in the report's ``meta``. With ``prefix=True`` every duration is read off
one run at the longest (one build instead of one per duration; see :func:`compare_rate_spiking`).

The report prints as a markdown table (:meth:`CompareReport.table`) and serialises to JSON
(:meth:`CompareReport.to_json`, written atomically with ``path=``).
"""

from __future__ import annotations

import json
import os
import platform
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .errors import ConfigError, ShapeError
from .io import atomic_write_text, json_safe
from .spiking import DEFAULT_R_MAX, DEFAULT_TAU_SYN, ENCODINGS, SpikeEncoder, run_spiking

__all__ = ["CompareRow", "CompareReport", "compare_rate_spiking", "COLUMNS"]

COLUMNS = """\
columns:
  t_sample       simulated time per sample (each sample: a fresh trial of that length, state reset at its start)
  spiking acc    fraction of samples the spiking twin labels correctly (argmax of the output's spike count, or of
                 its graded readout, over the readout window); rate acc: the rate model on the same samples
  agreement      fraction of samples where twin and rate model give the same label
  err ρ <pop>    mean |rate-model rate − spike count/(r_max·window)| of that population (normalised rates, 0..1)
  spikes/inf, SynOps/inf   spikes, and synaptic events (spikes × fan-out), per sample; rate MACs/inf: the rate
                 model's multiply-accumulates per sample (every synapse, every step)
  sim (s)        wall time of the spiking run (standalone targets: build + run)"""


@dataclass
class CompareRow:
    """Figures for one simulated time per sample."""

    t_sample: float
    n_samples: int
    spiking_accuracy: float
    rate_accuracy: float
    agreement: float
    state_error: dict[str, float]
    spikes_per_inference: float
    synops_per_inference: float
    dense_macs_per_inference: int | None
    spikes_per_population: dict[str, float]  # per inference
    mean_rate_hz: dict[str, float]
    sim_s: float  # wall time of the Brian2 run (standalone: build + run)
    readout_error: float | None = None  # mean |readout_rate − readout_spike| (graded readouts only)


@dataclass
class CompareReport:
    circuit: str
    encoding: str
    target: str
    r_max: float
    tau_syn: float
    seed: int
    n_samples: int
    readout_fraction: float
    rate_accuracy: float
    rows: list[CompareRow] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)

    def table(self, explain: bool = True) -> str:
        """Markdown table, one row per t_sample; with ``explain`` followed by what each column means."""
        pops = list(dict.fromkeys(k for r in self.rows for k in r.state_error))
        graded = any(r.readout_error is not None for r in self.rows)
        head = (
            ["t_sample (s)", "spiking acc", "rate acc", "agreement"]
            + [f"err ρ {p}" for p in pops]
            + (["err readout"] if graded else [])
            + ["spikes/inf", "SynOps/inf", "rate MACs/inf", "sim (s)"]
        )
        one_run = self.meta.get("prefix_run")
        lines = [
            f"{self.circuit}: {self.encoding} spikes, r_max {self.r_max:g} Hz, τ_syn {self.tau_syn * 1e3:g} ms, "
            f"{self.n_samples} samples, readout = last {self.readout_fraction:g} of each trial, target {self.target}"
            + (f"; one run of {one_run['t_sample']:g} s per sample, shorter times read off its prefixes" if one_run else ""),
            "",
            "| " + " | ".join(head) + " |",
            "|" + "---|" * len(head),
        ]
        for r in self.rows:
            macs = "" if r.dense_macs_per_inference is None else f"{r.dense_macs_per_inference:,}"
            cells = (
                [f"{r.t_sample:g}", f"{r.spiking_accuracy:.3f}", f"{r.rate_accuracy:.3f}", f"{r.agreement:.3f}"]
                + [f"{r.state_error[p]:.4f}" if p in r.state_error else "" for p in pops]
                + ([f"{r.readout_error:.4f}" if r.readout_error is not None else ""] if graded else [])
                + [f"{r.spikes_per_inference:,.1f}", f"{r.synops_per_inference:,.0f}", macs, f"{r.sim_s:.1f}"]
            )
            lines.append("| " + " | ".join(cells) + " |")
        if explain:
            lines += ["", COLUMNS]
        return "\n".join(lines)

    def to_dict(self) -> dict:
        return asdict(self)

    def to_json(self, path: str | os.PathLike | None = None) -> str:
        """The report as JSON; with ``path`` also written atomically (temporary file + os.replace)."""
        text = json.dumps(json_safe(self.to_dict()), indent=2, default=_json_default, allow_nan=False) + "\n"
        if path is not None:
            atomic_write_text(path, text)
        return text

    def write_json(self, path: str | os.PathLike) -> None:
        """Write :meth:`to_json` to ``path`` atomically."""
        self.to_json(path)


def _json_default(o):
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def compare_rate_spiking(
    circuit,
    weights: Mapping[str, np.ndarray],
    x: np.ndarray,
    y: np.ndarray,
    *,
    t_samples: Sequence[float] = (0.05, 0.1, 0.2, 0.5),
    encoding: str | SpikeEncoder = "poisson",
    target: str = "cpp",
    r_max: float = DEFAULT_R_MAX,
    tau_syn: float = DEFAULT_TAU_SYN,
    seed: int = 0,
    readout_fraction: float | None = None,
    build_root: str | os.PathLike | None = None,
    progress=None,
    build_options: Mapping[str, Any] | None = None,
    prefix: bool = False,
) -> CompareReport:
    """Run the rate model and the spiking twin of ``circuit`` on (x, y) and compare them per ``t_sample``.

    ``encoding`` is one of :data:`~neuromorph.spiking.ENCODINGS` or an encoder instance (e.g.
    ``LIF(r_max, tau_ref=0.001)``; its r_max is the one used). ``y`` holds integer labels (or one-hot rows).
    ``readout_fraction`` overrides the circuit's readout window (the last fraction of each trial whose spikes
    are counted). ``build_root``: where standalone builds go (one sub-directory per duration, removed when the
    next duration re-activates the device, so only the last one stays; temporary directories otherwise).
    ``progress(message)`` is called before each duration; ``progress=True`` reports every spiking run with its
    duration on stderr instead (:func:`neuromorph.progress.task`). ``build_options``: extra keyword arguments for
    ``circuit.build_spiking_brian`` (recorded in ``meta``).

    ``prefix=True``: build and run once, at the longest t_sample, and read every t_sample off the first
    t_sample seconds of each trial (``run_spiking(..., prefixes=...)``): identical to separate runs for
    deterministic encoders (regular, LIF), statistically equivalent for Poisson, one build instead of one per
    duration. Every row's ``sim_s`` is then that one run's time (also in ``meta["prefix_run"]``).
    """
    from .brian.state import preserved_brian_state

    # the caller's Brian2 device, preferences and numpy random state come back afterwards
    with preserved_brian_state():
        return _compare(circuit, weights, x, y, t_samples=t_samples, encoding=encoding, target=target, r_max=r_max,
                        tau_syn=tau_syn, seed=seed, readout_fraction=readout_fraction, build_root=build_root,
                        progress=progress, build_options=build_options, prefix=prefix)


def _raster(sm, res, t_sample) -> dict:
    """What :func:`neuromorph.plots.spike_raster` needs from a run (kept on the report, not in its JSON)."""
    return {"spikes": dict(res.spike_trains), "n_neurons": {k: len(G) for k, G in sm.populations.items()},
            "dt": sm.dt, "trial_steps": sm.trial_steps, "t_sample": t_sample}


def _compare(circuit, weights, x, y, *, t_samples, encoding, target, r_max, tau_syn, seed, readout_fraction, build_root,
             progress, build_options, prefix) -> CompareReport:
    import brian2

    from .brian.devices import activate
    from .progress import task

    if isinstance(encoding, SpikeEncoder):
        encoding_desc = ", ".join(f"{k}={v}" for k, v in encoding.describe().items() if k != "encoding")
        encoding_name = f"{encoding.encoding} ({encoding_desc})"
        r_max = encoding.r_max
    elif encoding in ENCODINGS:
        encoding_name = encoding
    else:
        raise ConfigError(f"unknown spike encoding {encoding!r}; allowed values are {list(ENCODINGS)}")
    x = np.asarray(x, dtype=float)
    y = np.asarray(y)
    if y.ndim == 2:
        y = np.argmax(y, axis=1)
    if x.ndim != 2 or y.shape != (x.shape[0],):
        raise ShapeError(f"compare: x must be (n, n_in) and y (n,) labels or (n, n_classes); got {x.shape}, {y.shape}")
    t_samples = [float(t) for t in t_samples]
    if not t_samples or any(t <= 0 for t in t_samples):
        raise ConfigError(f"t_samples must be positive durations in seconds, got {t_samples}")
    y = y.astype(np.int64)
    # True/False: neuromorph.progress lines on stderr or none; a callable gets the messages (older API)
    show = progress is True
    if isinstance(progress, bool):
        progress = None
    np.random.seed(seed)
    t0 = time.perf_counter()
    rate_pred = np.asarray(circuit.predict_rate(weights, x))
    rate_s = time.perf_counter() - t0
    rate_acc = float(np.mean(rate_pred == y))
    report = CompareReport(
        circuit=getattr(circuit, "name", type(circuit).__name__),
        encoding=encoding_name,
        target=target,
        r_max=float(r_max),
        tau_syn=float(tau_syn),
        seed=int(seed),
        n_samples=int(x.shape[0]),
        readout_fraction=float("nan"),
        rate_accuracy=rate_acc,
        meta={
            "brian2": brian2.__version__,
            "python": platform.python_version(),
            "machine": platform.machine(),
            "rate_predict_s": rate_s,
            "build_options": dict(build_options or {}),
        },
    )
    def row(t_sample, sm, res, sim_s):
        st = res.stats
        return CompareRow(
            t_sample=t_sample,
            n_samples=int(x.shape[0]),
            spiking_accuracy=float(np.mean(res.predictions == y)),
            rate_accuracy=rate_acc,
            agreement=float(np.mean(res.predictions == rate_pred)),
            state_error={k: v for k, v in res.state_errors(sm.reference_rates).items() if k in sm.compared},
            spikes_per_inference=st.spikes_per_inference,
            synops_per_inference=st.synops_per_inference,
            dense_macs_per_inference=st.dense_macs_per_inference,
            spikes_per_population=st.spikes_per_sample,
            mean_rate_hz=st.mean_rate_hz,
            sim_s=sim_s,
            readout_error=(
                None
                if res.readout is None or sm.reference_readout is None
                else float(np.mean(np.abs(np.asarray(sm.reference_readout, float) - res.readout)))
            ),
        )

    def build(t_sample):
        activate(target)
        np.random.seed(seed)
        sm = circuit.build_spiking_brian(
            weights, x, encoding=encoding, t_sample=t_sample, r_max=r_max, tau_syn=tau_syn, **dict(build_options or {})
        )
        if readout_fraction is not None:
            sm.readout_fraction = float(readout_fraction)
        report.readout_fraction = float(sm.readout_fraction)
        build_dir = None
        if build_root is not None:
            build_dir = Path(build_root) / f"t{t_sample:g}"
            build_dir.mkdir(parents=True, exist_ok=True)
        return sm, build_dir

    if prefix:
        t_max = max(t_samples)
        if progress is not None:
            progress(f"t_sample={t_max:g} s: building the spiking twin ({target}); shorter times read off its prefixes")
        sm, build_dir = build(t_max)
        t1 = time.perf_counter()
        with task(f"compare {report.circuit} [{target}]: spiking twin, {len(x)} samples x {t_max:g} s", enabled=show):
            res = run_spiking(sm, build_dir=build_dir, seed=seed, prefixes=t_samples)
        sim_s = time.perf_counter() - t1
        report.raster = _raster(sm, res, t_max)
        report.meta["prefix_run"] = {"t_sample": t_max, "sim_s": sim_s}
        report.rows = [row(t, sm, res.prefixes[t], sim_s) for t in t_samples]
        return report
    for t_sample in t_samples:
        if progress is not None:
            progress(f"t_sample={t_sample:g} s: building the spiking twin ({target})")
        sm, build_dir = build(t_sample)
        t1 = time.perf_counter()
        with task(f"compare {report.circuit} [{target}]: spiking twin, {len(x)} samples x {t_sample:g} s "
                  f"({t_samples.index(t_sample) + 1}/{len(t_samples)})", enabled=show):
            res = run_spiking(sm, build_dir=build_dir, seed=seed)
        report.rows.append(row(t_sample, sm, res, time.perf_counter() - t1))
        if t_sample == max(t_samples):
            report.raster = _raster(sm, res, t_sample)
    return report
