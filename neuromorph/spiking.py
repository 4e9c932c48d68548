"""Spiking twins of rate circuits: rate → spike encoders, LIF units, synaptic filtering, spike and SynOp counts.

The pattern follows Nengo's neuron types: a *rate* population states its steady-state rate curve, and its
spiking twin shares every parameter and differs only in its step. Here a rate population is described by a
Brian2 expression ``ρ = f(state)`` (its normalised rate, e.g. ``clip(u, 0, 1)``). Its spiking twin

* integrates the **same** state equations (the circuit passes them as ``dynamics``),
* emits spikes at the rate ``r_max·ρ`` (Hz) through an encoder (:class:`RateToSpikes` or :class:`LIF`),
* receives input through **synaptic traces** instead of summed rates.

Encoders (``encoding=`` everywhere; :data:`ENCODINGS`)

==========  ==========================================================================================
poisson     Bernoulli draw per step: spike with probability ``p = r_max·ρ·dt`` (a Poisson process while
            p ≪ 1; :class:`RateToSpikes` raises ConfigError when ``r_max·rate_bound·dt > max_p``)
regular     phase integrator ``dφ/dt = r_max·ρ``; spike when ``φ ≥ 1``, then ``φ -= 1``: the spike count
            after time t is ``floor(φ₀ + ∫ r_max·ρ dt)`` exactly (Euler sum of the same steps). ``phase0``
            φ₀ (default 0) is the phase at each trial start; 0.5 (half-threshold initialisation) halves the
            first spike's latency and turns the count into the rounded integral
lif         a leaky integrate-and-fire unit (τ_rc, τ_ref; threshold 1, reset 0) driven by the current
            ``j = lif_current(r_max·ρ)``, the inverse of its own rate curve :func:`lif_rate`, so its
            steady-state rate is again ``r_max·ρ``. The membrane is integrated exactly over each step and the
            threshold-crossing time is interpolated into the refractory period (as Nengo's LIF does), so the
            measured rate matches :func:`lif_rate` up to counting (±1 spike).
==========  ==========================================================================================

Synaptic filtering (stated scaling). A spike of presynaptic neuron i arriving through a synapse of weight w
adds ``w/(r_max·τ_syn)`` to the postsynaptic trace ``s``, which decays as ``ds/dt = -s/τ_syn`` (forward
Euler, like the rate model). With presynaptic rate ``r_max·ρ_i`` the trace's stationary mean is

    E[s] = Σ_i (w_i / (r_max·τ_syn)) · r_max·ρ_i · τ_syn = Σ_i w_i ρ_i,

exactly the summed input ``Wᵀρ`` the rate model uses (the identity is exact for the Euler-integrated trace,
with any dt: s̄·dt/τ = increment·(spikes per step)). Fluctuations shrink as r_max·τ_syn grows: for Poisson
input the trace's standard deviation is ``|w|·sqrt(ρ/(2·r_max·τ_syn))`` per input.

Counting. :func:`run_spiking` adds a ``SpikeMonitor`` to every population, runs all trials (consecutive
windows of ``t_sample``, state reset at each trial start) in one Brian2 run, and returns per-trial spike
counts, spike-estimated rates ``count/(r_max·window)``, predictions (argmax of the output population's count
in the readout window, ties → lowest index) and :class:`SpikeStats`: spikes per population and synaptic
operations ``SynOps = Σ_spikes fan_out(pre neuron)`` (NeuroBench's Eff_ACs: one accumulate per spike per
non-zero outgoing synapse), next to the rate model's dense MACs (every synapse, every integration step).

Graded readout (optional). A twin may end in a *non-spiking* population that only integrates synaptic traces
(:func:`trace_group_equations`), like the linear output layer a Nengo/NengoDL conversion keeps non-spiking.
With ``SpikingModel.readout_var`` set, :func:`run_spiking` samples that variable of the ``output`` group
with a ``StateMonitor`` (every ``readout_stride`` steps) and predicts the argmax of its mean over the readout
window instead of a spike count; the window means are returned as ``SpikingResult.readout``. Populations
without a threshold get no ``SpikeMonitor`` and count 0 spikes.

Everything here is generic: circuits (``circuits/...``) assemble their twins from
:func:`spiking_group_equations`, :meth:`SpikingEquations.make_group`, :func:`spike_projection` and
:func:`inference_schedule` and return a :class:`SpikingModel` from ``Circuit.build_spiking_brian``.
A multi-layer recurrent circuit gives every layer one trace per pathway and one projection per matrix::

    sch = inference_schedule(t_sample, dt)                    # flags: k, clamp_x, reset_zero
    flags = sch.brian_flags()
    enc = make_encoder(encoding, r_max=r_max)
    inp = spiking_group_equations("clamp_x*x_in(t, i)", enc, dt=dt)
    X = inp.make_group(N0, "spk_layer0", header=flags, reset_flag="reset_zero")
    eqs = spiking_group_equations(
        "clip(u, 0, 1)", enc, dt=dt, tau_syn=tau_syn,
        dynamics="du/dt = (-g*u + gB*(I_ff - u) + gA*(c*I_lat + h*rho + I_fb - u))/tau : 1",
        inputs=("I_ff", "I_fb", "I_lat"))                      # feedforward, feedback, lateral traces
    L1 = eqs.make_group(N1, "spk_layer1", header=flags, reset_flag="reset_zero", reset_vars=("u",), order=4)
    S_ff, P_ff = spike_projection(X, L1, W_ff0, "I_ff", r_max=r_max, tau_syn=tau_syn, name="spk_W_ff0")
    S_lat, P_lat = spike_projection(L1, L1, B1, "I_lat", r_max=r_max, tau_syn=tau_syn, name="spk_B1")  # autapses ok
    ...  # S_fb from the next layer into "I_fb"; then SpikingModel(BrianModel(...), populations, ...)

A unit's own rate ``rho`` may be used locally (no spikes needed), as in the ``h*rho`` self term above.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from .errors import ConfigError, ShapeError
from .phases import Phase, PhaseSchedule

__all__ = [
    "ENCODINGS",
    "DEFAULT_R_MAX",
    "DEFAULT_TAU_SYN",
    "lif_rate",
    "lif_current",
    "SpikeEncoder",
    "RateToSpikes",
    "LIF",
    "make_encoder",
    "SpikingEquations",
    "spiking_group_equations",
    "lif_equations",
    "trace_group_equations",
    "Projection",
    "spike_projection",
    "inference_schedule",
    "SpikingModel",
    "SpikeStats",
    "SpikingResult",
    "count_synops",
    "trial_counts",
    "run_spiking",
]

ENCODINGS = ("poisson", "regular", "lif")
DEFAULT_R_MAX = 200.0  # Hz: firing rate of a unit at normalised rate 1
DEFAULT_TAU_SYN = 0.02  # s: synaptic trace time constant


# ---- LIF rate curve ------------------------------------------------------------------------------------------
def lif_rate(j, tau_rc: float = 0.02, tau_ref: float = 0.002) -> np.ndarray:
    """Steady-state firing rate (Hz) of a LIF unit (threshold 1, reset 0) driven by constant current ``j``.

    ``rate = 1 / (tau_ref + tau_rc·log1p(1/(j−1)))`` for ``j > 1``, else 0.
    """
    j = np.asarray(j, dtype=float)
    out = np.zeros_like(j)
    m = j > 1
    out[m] = 1.0 / (tau_ref + tau_rc * np.log1p(1.0 / (j[m] - 1.0)))
    return out


def lif_current(rate, tau_rc: float = 0.02, tau_ref: float = 0.002) -> np.ndarray:
    """Inverse of :func:`lif_rate`: the constant current giving ``rate`` Hz (1 for rate ≤ 0).

    ``j = 1 + 1/expm1((1/rate − tau_ref)/tau_rc)``; needs ``rate < 1/tau_ref``. In double precision ``j − 1``
    vanishes for rates below about ``1/(tau_ref + 37·tau_rc)`` (1.35 Hz for the defaults): those give j = 1
    (no spikes).
    """
    rate = np.asarray(rate, dtype=float)
    if np.any(rate * tau_ref >= 1):
        raise ConfigError(f"a LIF unit with tau_ref={tau_ref} s cannot fire at {rate.max()} Hz (max < {1 / tau_ref} Hz)")
    out = np.ones_like(rate)
    m = rate > 0
    out[m] = 1.0 + 1.0 / np.expm1((1.0 / rate[m] - tau_ref) / tau_rc)
    return out


# ---- encoders: how a normalised rate ρ becomes spikes -----------------------------------------------------------
class SpikeEncoder(ABC):
    """The spiking step of a rate population (Nengo's ``RatesToSpikes`` idea for Brian2 expressions).

    ``rates(ρ)`` is the steady-state rate curve shared with the rate twin: ``r_max·max(ρ, 0)`` Hz.
    """

    encoding: ClassVar[str]
    r_max: float

    def rates(self, rho) -> np.ndarray:
        """Firing rate (Hz) at normalised rate ``rho``."""
        return self.r_max * np.clip(np.asarray(rho, dtype=float), 0.0, None)

    def check(self, dt: float, rate_bound: float = 1.0) -> None:
        """Raise ConfigError unless the encoder is valid for step ``dt`` and ρ up to ``rate_bound``."""
        if not self.r_max > 0:
            raise ConfigError(f"{self.encoding} spiking: r_max must be > 0 Hz, got {self.r_max}")
        p = self.r_max * rate_bound * dt
        if p > 1:
            raise ConfigError(
                f"{self.encoding} spiking: r_max·rate_bound·dt = {self.r_max}·{rate_bound}·{dt} = {p:.3g} > 1, but a "
                "unit can spike at most once per step; lower r_max or dt"
            )

    @abstractmethod
    def lines(self, rate_var: str) -> tuple[str, str, str | None, str | None, tuple[str, ...]]:
        """(equations, threshold, reset, per-step code, state variables) spiking at ``r_max·rate_var``."""

    def initial_state(self) -> dict[str, float]:
        """Encoder state at each trial start, where it is not 0."""
        return {}

    def describe(self) -> dict:
        return {"encoding": self.encoding, **{k: v for k, v in vars(self).items()}}


@dataclass(frozen=True)
class RateToSpikes(SpikeEncoder):
    """Poisson (Bernoulli per step) or regular (phase integrator) spikes at ``r_max·ρ``.

    ``max_p``: the largest spike probability per step accepted for ``"poisson"`` (the Bernoulli process is a
    Poisson process only while ``r_max·ρ·dt ≪ 1``). ``phase0``: the regular encoder's phase φ at each trial
    start, in [0, 1) (see the module docstring).
    """

    encoding: str = "poisson"
    r_max: float = DEFAULT_R_MAX
    max_p: float = 0.25
    phase0: float = 0.0

    def __post_init__(self):
        if self.encoding not in ("poisson", "regular"):
            raise ConfigError(
                f"RateToSpikes encoding {self.encoding!r} is unknown; allowed: 'poisson', 'regular' "
                f"(use LIF / make_encoder('lif') for LIF units; all encodings: {list(ENCODINGS)})"
            )
        object.__setattr__(self, "r_max", float(self.r_max))
        if not 0.0 <= self.phase0 < 1.0:
            raise ConfigError(f"regular spiking: phase0 must lie in [0, 1) (a fraction of the threshold), got {self.phase0!r}")
        if self.encoding == "poisson" and self.phase0 != 0.0:
            raise ConfigError("phase0 sets the regular encoder's initial phase; Poisson spikes have no phase")
        object.__setattr__(self, "phase0", float(self.phase0))

    def initial_state(self) -> dict[str, float]:
        return {"phi": self.phase0} if self.encoding == "regular" and self.phase0 else {}

    def check(self, dt: float, rate_bound: float = 1.0) -> None:
        super().check(dt, rate_bound)
        p = self.r_max * rate_bound * dt
        if self.encoding == "poisson" and p > self.max_p:
            raise ConfigError(
                f"poisson spiking: spike probability per step r_max·rate_bound·dt = {self.r_max}·{rate_bound}·{dt} "
                f"= {p:.3g} exceeds max_p={self.max_p} (a Bernoulli step approximates a Poisson process only while "
                "it is ≪ 1); lower r_max or dt, or use encoding='regular'"
            )

    def lines(self, rate_var):
        r = f"{self.r_max!r}*Hz"
        if self.encoding == "poisson":
            return "", f"rand() < {r}*{rate_var}*dt", None, None, ()
        eqs = f"dphi/dt = {r}*clip({rate_var}, 0, inf) : 1"
        return eqs, "phi >= 1", "phi -= 1", None, ("phi",)


@dataclass(frozen=True)
class LIF(SpikeEncoder):
    """LIF units firing at ``r_max·ρ`` in the steady state: driven by ``j = lif_current(r_max·ρ)``."""

    r_max: float = DEFAULT_R_MAX
    tau_rc: float = 0.02
    tau_ref: float = 0.002
    encoding: ClassVar[str] = "lif"

    def __post_init__(self):
        object.__setattr__(self, "r_max", float(self.r_max))
        if not (self.tau_rc > 0 and self.tau_ref >= 0):
            raise ConfigError(f"LIF: tau_rc must be > 0 and tau_ref >= 0 (seconds), got {self.tau_rc}, {self.tau_ref}")

    def lif_rate(self, j) -> np.ndarray:
        return lif_rate(j, self.tau_rc, self.tau_ref)

    def current(self, rate_hz) -> np.ndarray:
        return lif_current(rate_hz, self.tau_rc, self.tau_ref)

    def check(self, dt, rate_bound=1.0):
        super().check(dt, rate_bound)
        if self.r_max * rate_bound * self.tau_ref >= 1:
            raise ConfigError(
                f"lif spiking: r_max·rate_bound = {self.r_max * rate_bound} Hz is not below 1/tau_ref = "
                f"{1 / self.tau_ref if self.tau_ref else float('inf')} Hz; lower r_max or tau_ref"
            )

    def lines(self, rate_var):
        # Inverse rate curve; the exponent is clipped so that ρ → 0 gives j → 1 (no spikes) without overflow
        # and ρ at the bound stays finite.
        cur = (
            f"1 + 1/expm1(clip((1/({self.r_max!r}*clip({rate_var}, 1e-12, inf)) - {self.tau_ref!r})/{self.tau_rc!r}, "
            "1e-9, 700))"
        )
        return _lif_lines(cur, self.tau_rc, self.tau_ref)


def _lif_lines(current_expr, tau_rc, tau_ref):
    eqs = f"lif_j = {current_expr} : 1\nv : 1\nref : second"
    # Exact integration over the part of the step after the refractory period (Nengo's LIF step).
    step = (
        "ref = ref - dt\n"
        f"v = v - (lif_j - v)*expm1(-clip(dt - ref, 0*second, dt)/({tau_rc!r}*second))\n"
        "v = clip(v, 0, inf)"
    )
    # Time since the threshold crossing, read from the overshoot, is charged to the refractory period.
    reset = (
        f"ref = {tau_ref!r}*second + dt + {tau_rc!r}*second*log1p(-clip((v - 1)/(lif_j - 1), 0, 1 - 1e-12))\n"
        "v = 0"
    )
    return eqs, "v > 1", reset, step, ("v", "ref")


def make_encoder(encoding: str | SpikeEncoder, *, r_max: float = DEFAULT_R_MAX, **options) -> SpikeEncoder:
    """The encoder called ``encoding`` (one of :data:`ENCODINGS`); an encoder instance is returned as is."""
    if isinstance(encoding, SpikeEncoder):
        return encoding
    if encoding in ("poisson", "regular"):
        return RateToSpikes(encoding, r_max, **options)
    if encoding == "lif":
        return LIF(r_max, **options)
    raise ConfigError(f"unknown spike encoding {encoding!r}; allowed values are {list(ENCODINGS)}")


# ---- Brian2 equations of a spiking population -----------------------------------------------------------------
@dataclass
class SpikingEquations:
    """Everything needed to build one spiking population as a Brian2 ``NeuronGroup``."""

    equations: str
    threshold: str | None  # None: a non-spiking population (trace_group_equations)
    reset: str | None
    encoder: SpikeEncoder | None
    rate_var: str = "rho"
    traces: dict[str, float] = field(default_factory=dict)  # trace name -> tau_syn (s)
    step_code: str | None = None  # run every step in the 'groups' slot after the state update (LIF)
    state_vars: tuple[str, ...] = ()  # encoder state + traces: reset at each trial start (to 0 or `initial`)
    method: str = "euler"
    namespace: dict[str, Any] = field(default_factory=dict)
    initial: dict[str, float] = field(default_factory=dict)  # state values at each trial start other than 0

    def reset_code(self, flag: str, extra_vars: Sequence[str] = ()) -> str:
        """Code resetting ``extra_vars`` and the encoder/trace state (to 0, or ``initial``) where ``flag`` is 1."""
        lines = []
        for v in (*extra_vars, *self.state_vars):
            value = self.initial.get(v, 0.0)
            lines.append(f"{v} = {v}*(1 - {flag})" + (f" + {value!r}*{flag}" if value else ""))
        return "\n".join(lines)

    def make_group(self, n: int, name: str, *, header: str = "", reset_flag: str | None = None, reset_vars: Sequence[str] = (),
                   **group_options):
        """The NeuronGroup: ``header`` (e.g. a schedule's ``brian_flags()``) + the equations.

        With ``reset_flag`` the state in ``reset_vars`` plus the encoder and trace state is reset (to 0, or to its
        ``initial`` value) in the ``start`` slot of every step where the flag is 1 (a trial's first step), before
        that step's update. ``initial`` values are also the group's values at t = 0.
        ``group_options`` go to ``NeuronGroup`` (e.g. ``order=`` for layer-by-layer update orders); the LIF
        step runs in the ``groups`` slot right after the group's own state update (same order, +0.5).
        """
        from brian2 import NeuronGroup

        eqs = "\n".join(s for s in (header, self.equations) if s.strip())
        G = NeuronGroup(n, eqs, threshold=self.threshold, reset=self.reset, method=self.method, name=name, **group_options)
        for var, value in self.initial.items():
            setattr(G, var, value)
        if self.step_code:
            G.run_regularly(self.step_code, when="groups", order=G.order + 0.5, name=f"{name}_spike_step")
        if reset_flag is not None:
            code = self.reset_code(reset_flag, reset_vars)
            if code:
                G.run_regularly(code, when="start", name=f"{name}_trial_reset")
        return G


def _traces(inputs: Sequence[str] | Mapping[str, float], tau_syn: float) -> tuple[dict[str, float], list[str]]:
    """Checked trace names → τ_syn, and their equations ``dI/dt = -I/τ_syn``."""
    traces = dict(inputs) if isinstance(inputs, Mapping) else {name: tau_syn for name in inputs}
    for name, tau in traces.items():
        if not name.isidentifier():
            raise ConfigError(f"synaptic input name {name!r} must be an identifier")
        if not tau > 0:
            raise ConfigError(f"synaptic input {name!r}: tau_syn must be > 0 s, got {tau}")
    return traces, [f"d{name}/dt = -{name}/({tau!r}*second) : 1" for name, tau in traces.items()]


def spiking_group_equations(
    rate_expr: str,
    encoding: str | SpikeEncoder = "poisson",
    *,
    dt: float,
    dynamics: str = "",
    inputs: Sequence[str] | Mapping[str, float] = (),
    tau_syn: float = DEFAULT_TAU_SYN,
    r_max: float = DEFAULT_R_MAX,
    rate_bound: float = 1.0,
    rate_var: str = "rho",
    **encoder_options,
) -> SpikingEquations:
    """Turn a rate population into its spiking twin.

    Parameters
    ----------
    rate_expr
        The rate population's normalised rate as a Brian2 expression of its state (``"clip(u, 0, 1)"``).
    encoding
        ``"poisson"``, ``"regular"``, ``"lif"`` or a :class:`SpikeEncoder`.
    dt
        Integration step (s): the encoder is checked against it (:meth:`SpikeEncoder.check`).
    dynamics
        The rate model's state equations (``"du/dt = (-u + I_ff)/tau : 1"``), unchanged; names in ``inputs``
        are the synaptic input currents they read.
    inputs
        Names of synaptic traces (one per incoming pathway), or a mapping name → τ_syn. Each becomes
        ``dI/dt = -I/τ_syn : 1``; :func:`spike_projection` increments it.
    rate_bound
        The largest ρ the expression can reach (1 for ``clip(u, 0, 1)``; state a bound for unbounded ones).
    """
    enc = make_encoder(encoding, r_max=r_max, **encoder_options)
    enc.check(dt, rate_bound)
    if not rate_var.isidentifier():
        raise ConfigError(f"rate_var {rate_var!r} must be an identifier")
    traces, trace_eqs = _traces(inputs, tau_syn)
    enc_eqs, threshold, reset, step, enc_state = enc.lines(rate_var)
    lines = [dynamics.strip(), f"{rate_var} = {rate_expr} : 1", enc_eqs, *trace_eqs]
    return SpikingEquations(
        equations="\n".join(line for line in lines if line),
        threshold=threshold,
        reset=reset,
        encoder=enc,
        rate_var=rate_var,
        traces=traces,
        step_code=step,
        state_vars=(*enc_state, *traces),
        initial=enc.initial_state(),
    )


def trace_group_equations(
    *,
    inputs: Sequence[str] | Mapping[str, float],
    tau_syn: float = DEFAULT_TAU_SYN,
    dynamics: str = "",
) -> SpikingEquations:
    """A non-spiking population that integrates synaptic traces (e.g. a graded linear readout).

    The traces are those of :func:`spiking_group_equations` (``dI/dt = -I/τ_syn``, incremented by
    :func:`spike_projection`, zeroed at each trial start by ``make_group(..., reset_flag=...)``); ``dynamics``
    adds the population's own equations (``"b : 1 (constant)\no = I_out + b : 1"``). No threshold, no encoder:
    read it out with ``SpikingModel.readout_var``.
    """
    traces, trace_eqs = _traces(inputs, tau_syn)
    if not traces:
        raise ConfigError("trace_group_equations: give at least one synaptic input (a population without inputs reads nothing)")
    lines = [dynamics.strip(), *trace_eqs]
    return SpikingEquations(
        equations="\n".join(line for line in lines if line),
        threshold=None,
        reset=None,
        encoder=None,
        rate_var="",
        traces=traces,
        state_vars=tuple(traces),
    )


def _spikes(group) -> bool:
    """Whether a Brian2 group emits spikes (has a threshold)."""
    return "spike" in getattr(group, "events", {"spike": None})


def lif_equations(current_expr: str, *, tau_rc: float = 0.02, tau_ref: float = 0.002, dynamics: str = "") -> SpikingEquations:
    """A plain LIF group driven by the dimensionless current ``current_expr`` (threshold 1, reset 0).

    Its rate is :func:`lif_rate` of the current (exact step integration, sub-step spike timing).
    """
    eqs, threshold, reset, step, state = _lif_lines(current_expr, tau_rc, tau_ref)
    enc = LIF(r_max=1.0 / tau_ref if tau_ref else 1e9, tau_rc=tau_rc, tau_ref=tau_ref)
    return SpikingEquations(
        equations="\n".join(s for s in (dynamics.strip(), eqs) if s),
        threshold=threshold,
        reset=reset,
        encoder=enc,
        rate_var="lif_j",
        step_code=step,
        state_vars=state,
    )


# ---- projections --------------------------------------------------------------------------------------------------
@dataclass
class Projection:
    """A spiking pathway, with what SynOp counting needs."""

    name: str
    pre: str  # population name
    post: str
    target: str  # postsynaptic trace
    shape: tuple[int, int]  # (n_pre, n_post)
    fan_out: np.ndarray  # synapses per presynaptic neuron (non-zero weights)
    increment: float  # trace increment per spike per unit weight: 1/(r_max·tau_syn)

    @property
    def n_synapses(self) -> int:
        return int(self.fan_out.sum())

    @property
    def dense_size(self) -> int:
        return int(self.shape[0] * self.shape[1])


def spike_projection(pre, post, weights: np.ndarray, target: str, *, r_max: float, tau_syn: float, name: str,
                     pre_name: str | None = None, post_name: str | None = None):
    """Synapses carrying ``pre``'s spikes into ``post``'s trace ``target``; returns (Synapses, Projection).

    Only non-zero weights become synapses (their count per presynaptic neuron is its fan-out for SynOps). A
    spike adds ``w/(r_max·tau_syn)`` to the trace, so the trace's mean is ``Wᵀρ_pre`` (see module doc);
    ``r_max`` is the presynaptic population's, ``tau_syn`` the trace's.
    """
    from brian2 import Synapses

    W = np.asarray(weights, dtype=float)
    if W.shape != (len(pre), len(post)):
        raise ShapeError(f"{name}: weight matrix has shape {W.shape}, expected {(len(pre), len(post))} (n_pre, n_post)")
    if not (r_max > 0 and tau_syn > 0):
        raise ConfigError(f"{name}: r_max and tau_syn must be > 0, got {r_max}, {tau_syn}")
    inc = 1.0 / (r_max * tau_syn)
    S = Synapses(pre, post, "w : 1", on_pre=f"{target}_post += w*{inc!r}", name=name)
    ii, jj = np.nonzero(W)
    if len(ii):
        S.connect(i=ii.astype(np.int32), j=jj.astype(np.int32))
        S.w = W[ii, jj]
    proj = Projection(
        name=name,
        pre=pre_name or pre.name,
        post=post_name or post.name,
        target=target,
        shape=W.shape,
        fan_out=np.count_nonzero(W, axis=1).astype(np.int64),
        increment=inc,
    )
    return S, proj


def inference_schedule(t_sample: float, dt: float, clamp: Sequence[str] = ("x",), phase: str = "free") -> PhaseSchedule:
    """One-phase schedule for spiking inference: ``t_sample`` per trial, inputs clamped, reset ``zero`` at start.

    Its ``brian_flags()`` give ``k``, ``clamp_<input>`` and ``reset_zero`` for the twin's groups.
    """
    steps = int(round(t_sample / dt))
    if not t_sample > 0 or steps < 1:
        raise ConfigError(f"t_sample must be at least one step ({dt} s), got {t_sample}")
    if abs(steps * dt - t_sample) > 1e-9 * max(1.0, t_sample):
        raise ConfigError(f"t_sample={t_sample} s is not a whole number of steps of dt={dt} s")
    return PhaseSchedule((Phase(phase, steps, nudge=0.0, clamp=tuple(clamp), resets=("zero",)),))


# ---- the twin a circuit returns -------------------------------------------------------------------------------------
@dataclass
class SpikingModel:
    """A circuit's spiking twin: its Brian2 objects plus what to count and how to read it out.

    ``brian`` holds the objects, the one-phase schedule (trials are consecutive ``t_sample`` windows, state
    reset at each start), n_trials, dt, per-trial input TimedArrays and the namespace. Every spiking population
    in ``populations`` gets a SpikeMonitor. The prediction is the argmax of ``output``'s spike count in the last
    ``readout_fraction`` of each trial, or, with ``readout_var``, the argmax of that variable of ``output``
    averaged over the same window (sampled every ``readout_stride`` steps; ``output`` may then be non-spiking).
    ``compared`` populations' spike-estimated rates are compared with ``reference_rates`` (the rate model's
    normalised rates, (n_trials, n_units), if the circuit provides them); ``reference_readout`` is the rate
    model's value of ``readout_var`` (n_trials, n_out), if given.
    ``rate_steps``: integration steps the rate model spends on one inference (for its dense MAC count: every
    projection's dense matrix per step). ``rate_macs``: the rate model's MACs per inference stated directly,
    for twins whose projections are not the rate model's matrices (e.g. ON/OFF pairs double them).
    """

    brian: Any  # neuromorph.brian.BrianModel
    populations: dict[str, Any]  # name -> NeuronGroup
    encoders: dict[str, SpikeEncoder]  # name -> encoder (its r_max converts counts to rates)
    projections: list[Projection]
    output: str
    t_sample: float
    compared: tuple[str, ...] = ()
    readout_fraction: float = 0.5
    reference_rates: dict[str, np.ndarray] = field(default_factory=dict)
    rate_steps: int | None = None
    info: dict[str, Any] = field(default_factory=dict)
    readout_var: str | None = None
    readout_stride: int = 1
    reference_readout: np.ndarray | None = None
    rate_macs: int | None = None

    @classmethod
    def assemble(cls, *, populations: dict[str, Any], synapses: Sequence[Any], schedule: PhaseSchedule, dt: float,
                 x_in: Any, **fields) -> SpikingModel:
        """A twin whose trials are the rows of ``x_in``: the input TimedArray named ``x_in`` (one row per trial,
        read by the input population as ``x_in(t, i)``). Builds the BrianModel (the populations, then the
        synapses; no state recording) and the SpikingModel around it; ``fields`` are the remaining fields."""
        from .brian import BrianModel

        brian = BrianModel(
            objects=[*populations.values(), *synapses],
            schedule=schedule,
            n_trials=int(np.shape(x_in.values)[0]),
            dt=dt,
            inputs={"x": x_in},
            namespace={"x_in": x_in},
            record_states=False,
        )
        return cls(brian=brian, populations=populations, **fields)

    def __post_init__(self):
        if self.output not in self.populations:
            raise ConfigError(f"SpikingModel: output population {self.output!r} not in {sorted(self.populations)}")
        if self.readout_var is not None and not str(self.readout_var).isidentifier():
            raise ConfigError(f"SpikingModel: readout_var must be a variable name, got {self.readout_var!r}")
        if isinstance(self.readout_stride, bool) or not isinstance(self.readout_stride, int) or self.readout_stride < 1:
            raise ConfigError(f"SpikingModel: readout_stride must be a positive integer (steps), got {self.readout_stride!r}")
        for name in (*self.compared, *self.encoders):
            if name not in self.populations:
                raise ConfigError(f"SpikingModel: population {name!r} not in {sorted(self.populations)}")
        for proj in self.projections:
            if proj.pre not in self.populations:
                raise ConfigError(f"SpikingModel: projection {proj.name!r} starts at unknown population {proj.pre!r}")

    @property
    def n_trials(self) -> int:
        return self.brian.n_trials

    @property
    def dt(self) -> float:
        return self.brian.dt

    @property
    def trial_steps(self) -> int:
        return self.brian.schedule.trial_steps

    @property
    def window_steps(self) -> int:
        return _window(self, self.trial_steps)

    def dense_macs_per_inference(self) -> int | None:
        """The rate model's multiply-accumulates per inference: every synapse at every integration step."""
        if self.rate_macs is not None:
            return int(self.rate_macs)
        if self.rate_steps is None:
            return None
        return int(sum(p.dense_size for p in self.projections) * self.rate_steps)


@dataclass
class SpikeStats:
    """Spike and synaptic-operation counts of a spiking run."""

    n_samples: int
    t_sample: float
    n_neurons: dict[str, int]
    spikes: dict[str, int]  # per population, all samples
    synops: dict[str, int]  # per projection, all samples: Σ_spikes fan-out
    dense_macs_per_inference: int | None = None  # the rate model's

    @property
    def spikes_total(self) -> int:
        return int(sum(self.spikes.values()))

    @property
    def synops_total(self) -> int:
        return int(sum(self.synops.values()))

    @property
    def spikes_per_sample(self) -> dict[str, float]:
        return {k: v / max(self.n_samples, 1) for k, v in self.spikes.items()}

    @property
    def spikes_per_inference(self) -> float:
        return self.spikes_total / max(self.n_samples, 1)

    @property
    def synops_per_inference(self) -> float:
        return self.synops_total / max(self.n_samples, 1)

    @property
    def mean_rate_hz(self) -> dict[str, float]:
        return {k: v / max(self.n_samples * self.t_sample * self.n_neurons[k], 1e-300) for k, v in self.spikes.items()}

    def to_dict(self) -> dict:
        return {
            "n_samples": self.n_samples,
            "t_sample": self.t_sample,
            "n_neurons": dict(self.n_neurons),
            "spikes": dict(self.spikes),
            "synops": dict(self.synops),
            "spikes_per_sample": self.spikes_per_sample,
            "spikes_per_inference": self.spikes_per_inference,
            "synops_per_inference": self.synops_per_inference,
            "mean_rate_hz": self.mean_rate_hz,
            "dense_macs_per_inference": self.dense_macs_per_inference,
        }


def count_synops(spike_indices: Mapping[str, np.ndarray], projections: Sequence[Projection]) -> dict[str, int]:
    """SynOps per projection: Σ over the presynaptic population's spikes of the spiking neuron's fan-out."""
    out = {}
    for proj in projections:
        idx = np.asarray(spike_indices.get(proj.pre, np.zeros(0, dtype=int)), dtype=np.int64)
        per_neuron = np.bincount(idx, minlength=proj.shape[0])
        out[proj.name] = int(per_neuron @ proj.fan_out)
    return out


def trial_counts(indices: np.ndarray, steps: np.ndarray, n_units: int, n_trials: int, trial_steps: int,
                 window_steps: int | None = None, horizon_steps: int | None = None) -> np.ndarray:
    """Spike counts (n_trials, n_units) from spike (neuron index, time step) pairs.

    Trial of a spike = step // trial_steps; only its first ``horizon_steps`` steps count (default: all), and
    with ``window_steps`` only spikes in the last ``window_steps`` steps before the horizon.
    """
    indices = np.asarray(indices, dtype=np.int64)
    steps = np.asarray(steps, dtype=np.int64)
    horizon = trial_steps if horizon_steps is None else int(horizon_steps)
    trial, k = steps // trial_steps, steps % trial_steps
    keep = (trial < n_trials) & (k < horizon)
    if window_steps is not None:
        keep &= k >= horizon - window_steps
    counts = np.zeros((n_trials, n_units), dtype=np.int64)
    np.add.at(counts, (trial[keep], indices[keep]), 1)
    return counts


@dataclass
class SpikingResult:
    """Per-trial counts and readouts of one spiking run.

    ``prefixes`` (from ``run_spiking(..., prefixes=...)``) maps a shorter time per sample t to the result read
    off the first t seconds of every trial, as if each trial had lasted t (see :func:`run_spiking`).
    """

    counts: dict[str, np.ndarray]  # readout window, (n_trials, n_units)
    counts_total: dict[str, np.ndarray]  # whole trial
    rates: dict[str, np.ndarray]  # spike-estimated normalised rates: counts / (r_max · window)
    predictions: np.ndarray  # argmax of the output count, or of ``readout`` (ties → lowest index)
    stats: SpikeStats
    timings: dict[str, Any] = field(default_factory=dict)
    readout: np.ndarray | None = None  # readout_var's mean over the readout window, (n_trials, n_out)
    prefixes: dict[float, SpikingResult] = field(default_factory=dict)
    # every spike of the run: population -> (neuron indices, time steps from the run's start), for rasters
    spike_trains: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)

    def state_errors(self, reference: Mapping[str, np.ndarray]) -> dict[str, float]:
        """Mean |rate − spike-estimated rate| per population present in both."""
        return {
            k: float(np.mean(np.abs(np.asarray(reference[k], float) - self.rates[k])))
            for k in self.rates
            if k in reference
        }


def _prefix_steps(sm: SpikingModel, prefixes: Sequence[float]) -> dict[float, int]:
    """Each prefix time (s) → its number of steps; must be whole steps within one trial."""
    out = {}
    for t in prefixes:
        t = float(t)
        steps = int(round(t / sm.dt))
        if not (t > 0 and 1 <= steps <= sm.trial_steps) or abs(steps * sm.dt - t) > 1e-9 * max(1.0, t):
            raise ConfigError(
                f"prefix t={t} s must be a whole number of steps (dt={sm.dt} s) between one step and the trial's "
                f"t_sample={sm.t_sample} s"
            )
        out[t] = steps
    return out


def _window(sm: SpikingModel, horizon: int) -> int:
    if not 0 < sm.readout_fraction <= 1:
        raise ConfigError(f"readout_fraction must be in (0, 1], got {sm.readout_fraction}")
    return max(1, int(round(sm.readout_fraction * horizon)))


def run_spiking(sm: SpikingModel, *, build_dir: str | os.PathLike | None = None, seed: int | None = None,
                prefixes: Sequence[float] = ()) -> SpikingResult:
    """Run every trial of ``sm`` on the active Brian2 device in one run and count spikes.

    Standalone targets build and run one binary in ``build_dir``, or in a temporary directory that is removed
    once the spikes are read (monitors of ``sm`` cannot be read again afterwards). ``seed`` seeds Brian2's
    random numbers (``brian2.seed``) before the run.

    ``prefixes``: shorter times per sample t (whole steps, ≤ t_sample) whose results are read off the first t
    seconds of every trial (readout window: the last ``readout_fraction`` of those t seconds; spikes and
    SynOps: those of the first t seconds) into ``result.prefixes[t]``. Every trial starts from the reset state
    with constant inputs, so its first t seconds are the whole of a run with ``t_sample = t``: the same
    numbers for deterministic encoders (regular, LIF) and the same statistics for Poisson, from one build.
    """
    import brian2
    from brian2 import Network, SpikeMonitor, StateMonitor, get_device, second

    horizons = _prefix_steps(sm, prefixes)
    mons = {name: SpikeMonitor(G, name=f"spikemon_{G.name}") for name, G in sm.populations.items() if _spikes(G)}
    extra = []
    if sm.readout_var is not None:
        out_group = sm.populations[sm.output]
        if sm.readout_var not in out_group.variables:
            raise ConfigError(f"SpikingModel: readout_var {sm.readout_var!r} is not a variable of {out_group.name!r}")
        shortest = min([sm.trial_steps, *horizons.values()])
        if _window(sm, shortest) < sm.readout_stride:  # samples fall every `stride` steps: a window needs one
            raise ConfigError(
                f"SpikingModel: the readout window ({_window(sm, shortest)} steps) is shorter than readout_stride "
                f"({sm.readout_stride} steps); lower the stride or lengthen t_sample/readout_fraction"
            )
        readout_mon = StateMonitor(out_group, sm.readout_var, record=True, dt=sm.readout_stride * sm.dt * second,
                                   name=f"readoutmon_{out_group.name}")
        extra.append(readout_mon)
    elif not _spikes(sm.populations[sm.output]):
        raise ConfigError(f"SpikingModel: output {sm.output!r} does not spike; set readout_var to read a variable of it")
    net = Network(*sm.brian.objects, *mons.values(), *extra)
    from brian2.devices.cpp_standalone.device import CPPStandaloneDevice

    device = get_device()
    standalone = isinstance(device, CPPStandaloneDevice)  # cuda_standalone derives from it
    if seed is not None:
        brian2.seed(int(seed))
    T, dt = sm.trial_steps, sm.dt
    t0 = time.perf_counter()
    net.run(sm.n_trials * T * dt * second, namespace=sm.brian.namespace)
    timings: dict[str, Any] = {}
    if standalone:
        directory = str(build_dir) if build_dir else tempfile.mkdtemp(prefix="neuromorph-spiking-")
        t1 = time.perf_counter()
        device.build(directory=directory, compile=True, run=True, with_output=False)
        timings["build_and_run_s"] = time.perf_counter() - t1
        timings["build_dir"] = directory if build_dir else None
    else:
        timings["run_s"] = time.perf_counter() - t0
    spikes = {}
    for name, mon in mons.items():
        idx = np.asarray(mon.i[:], dtype=np.int64)
        steps = np.rint(np.asarray(mon.t_[:], dtype=float) / dt).astype(np.int64)
        spikes[name] = (idx, steps)
    samples = None
    if sm.readout_var is not None:
        steps = np.rint(np.asarray(readout_mon.t_[:], dtype=float) / dt).astype(np.int64)
        samples = (steps, np.asarray(getattr(readout_mon, sm.readout_var), dtype=float).T)  # (n_samples, n_out)
    if standalone and not build_dir:
        shutil.rmtree(directory, ignore_errors=True)
    result = _summarise(sm, spikes, samples, T, sm.t_sample)
    result.timings = timings
    result.spike_trains = spikes
    result.prefixes = {t: _summarise(sm, spikes, samples, h, t) for t, h in horizons.items()}
    return result


def _summarise(sm: SpikingModel, spikes: Mapping[str, tuple[np.ndarray, np.ndarray]], samples, horizon: int,
               t_sample: float) -> SpikingResult:
    """Counts, rates, readout, prediction and stats of the first ``horizon`` steps (``t_sample`` s) of every trial."""
    T, dt = sm.trial_steps, sm.dt
    W = _window(sm, horizon)
    empty = (np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64))
    counts, totals, rates, indices = {}, {}, {}, {}
    for name, G in sm.populations.items():
        n = len(G)
        idx, steps = spikes.get(name, empty)  # a non-spiking population: no spikes to count
        counts[name] = trial_counts(idx, steps, n, sm.n_trials, T, W, horizon)
        totals[name] = trial_counts(idx, steps, n, sm.n_trials, T, horizon_steps=horizon)
        indices[name] = idx[(steps % T) < horizon]
        enc = sm.encoders.get(name)
        if enc is not None:
            rates[name] = counts[name] / (enc.r_max * W * dt)
    readout = None
    if samples is not None:
        # Mean over the samples taken in each trial's readout window (steps horizon - W <= k < horizon).
        steps, values = samples
        trial, k = steps // T, steps % T
        keep = (trial < sm.n_trials) & (k >= horizon - W) & (k < horizon)
        sums = np.zeros((sm.n_trials, values.shape[1]))
        np.add.at(sums, trial[keep], values[keep])
        n_per = np.bincount(trial[keep], minlength=sm.n_trials)
        readout = sums / np.maximum(n_per, 1)[:, None]
    stats = SpikeStats(
        n_samples=sm.n_trials,
        t_sample=float(t_sample),
        n_neurons={k: len(G) for k, G in sm.populations.items()},
        spikes={k: int(len(v)) for k, v in indices.items()},
        synops=count_synops(indices, sm.projections),
        dense_macs_per_inference=sm.dense_macs_per_inference(),
    )
    return SpikingResult(
        counts=counts,
        counts_total=totals,
        rates=rates,
        predictions=np.argmax(counts[sm.output] if readout is None else readout, axis=1),
        stats=stats,
        readout=readout,
    )
