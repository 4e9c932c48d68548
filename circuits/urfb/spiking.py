"""Spiking twin of a trained URFB network's inference (the feedforward MLP of ``reference.forward``).

The rate network, for sizes ``(N_0, N_1, ..., N_L)`` and weights ``W{l}`` in (n_pre, n_post) orientation as
the trainer returns them (``R{l}`` only carries feedback during learning: inference does not read it)::

    h_l = x_{l-1} @ W_l,   x_l = σ(h_l) = clip(s·h_l, −1, 1)  (0 < l < L),   x_L = h_L,   label = argmax h_L

(eq. 1, §3.1 Remark 2; s = ``params.slope``; no biases, paper and author's code). It is converted with the
generic mechanism of :mod:`neuromorph.spiking` (encoders, synaptic traces, projections, one-phase inference
schedule, spike/SynOp counting). Each choice and its reason:

Input (affine rate code). A pixel x ∈ [lo, hi] fires at ``r_max·(x − lo)/(hi − lo)``. The author's code and
the paper feed x/255 ∈ [0, 1] (``scale = "unit"``), so lo = 0, hi = 1 and the background is silent. The default
``input_range=None`` takes lo = min(0, min x), hi = max(1, max x): exact for any scale. With lo ≠ 0 layer 1
also receives the constant current ``lo·Σ_m W_1[m, :]`` (a per-unit bias), which the point-neuron export of
``neuromorph deploy`` cannot hold; (0, 1) inputs need none.

Hidden layers: σ is signed, in [−1, 1] (σ(0) = 0, saturation at ±1), so a single non-negative rate cannot
carry it as it stands. Two codes, ``code=``:

* ``"onoff"`` (default): every hidden neuron n is an ON unit (index n) and an OFF unit (index N_l + n) of one
  population of 2·N_l units. The ON unit's membrane follows s·h_n, the OFF unit's −s·h_n (its incoming weights
  and bias are negated), and each fires at ``r_max·clip(u, 0, 1)``: the ON unit at r_max·[σ]₊, the OFF unit at
  r_max·[−σ]₊, so the pair's ``clip(u, 0, 1)`` *is* URFB's saturation — no rate scale, no approximation of σ.
  A synapse from an OFF unit carries −W, so the next trace's mean is ``Wᵀ([σ]₊ − [−σ]₊) = Wᵀσ``. Cost:
  r_max·|σ| spikes per neuron (none at σ = 0), each reaching both copies of every next-layer neuron (2·N_{l+1}
  SynOps). Every population is then ``ρ = clip(u, 0, 1)`` of a leaky membrane without per-unit constants: the
  form deploy's point-neuron (NIR / Loihi) export reads.
* ``"offset"``: one unit per neuron firing at ``r_max·(1 + σ)/2``; the next layer's synapses carry 2·W and it
  receives the constant current ``−Σ_n W[n, :]``. Cost: r_max·(1 + σ)/2 spikes (r_max/2 at σ = 0, none at
  σ = −1), N_{l+1} SynOps each. It pays where units sit at −1 and loses where they sit near 0; the per-unit
  bias keeps it out of the point-neuron export.

Measured on a 3-epoch FMNIST 784-500-10 net (experiments/urfb/README.md): both codes cost the same hidden spikes
(mean |σ| ≈ 0.51 vs mean (1 + σ)/2 ≈ 0.48) and reach the same accuracy; offset needs half the SynOps. ON/OFF is
the default for what it needs (no per-unit constants: the point-neuron export) and for its silence at σ = 0.

Membrane. Each spiking unit integrates ``du/dt = (target − u)/τ_u`` with the target its rate model value
(s·(I + bias) for ON/OFF, (1 + s·(I + bias))/2 offset, (I − a)/(b − a) at a spiking output), τ_u = ``tau_u``
(2 ms default, ≪ τ_syn = 20 ms): a quasi-static soma, so the twin's mean follows the rate model; the trace
``I`` (one per unit, ``dI/dt = −I/τ_syn``, a spike adds ``w/(r_max·τ_syn)``) is the rate model's summed input
``Wᵀρ_pre`` in the mean (:mod:`neuromorph.spiking`). The network is a chain of L such filters: it settles in
a few L·τ_syn, which is why the readout window is the last ``readout_fraction`` (0.5) of a trial.

Output (linear, signed, unbounded h_L). ``readout=``:

* ``"spikes"`` (default): C units firing at ``r_max·clip((h_L − a)/(b − a), 0, 1)``: monotone in h_L, so
  the argmax of the spike count is the argmax of h_L up to counting resolution (two classes closer than
  (b − a)/(r_max·window) in h tie; ties go to the lower index). Only the winner matters, so the window
  [a, b] = ``out_range`` need not hold every h_L: by default it spans the winning scores of the rate model on
  the given inputs, from the lowest winner to the highest, widened by 10 % of that span on each side (every
  sample's winner then fires at ≥ 1/12 of r_max; classes below a stay silent). Compared with an offset code
  over all of ±max|h_L| this halves the resolution step on the trained FMNIST net (no labels are used; the
  rate model's labels are unchanged by it). No outgoing SynOps.
* ``"graded"``: C non-spiking units reading their trace, ``o = I_out (+ bias)``: the argmax of o averaged over
  the readout window (``SpikingModel.readout_var``), as the linear output of a Nengo conversion is kept
  non-spiking. No counting resolution limit; not a point neuron (deploy marks it not exportable).

Trials, counting, costs. One trial of ``t_sample`` s per row of ``x``, every state reset at the trial start
(:func:`~neuromorph.spiking.inference_schedule`). ``reference_rates`` are the rate model's normalised rates
in each population's layout; SynOps count each spike times its unit's fan-out; ``rate_macs`` is the rate
network's ``Σ_l N_{l−1}·N_l`` multiply-accumulates per inference (one feedforward pass).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from neuromorph.errors import ConfigError, ShapeError

__all__ = ["CODES", "READOUTS", "check_twin_arch", "rate_forward", "build_spiking_twin"]

CODES = ("onoff", "offset")
READOUTS = ("spikes", "graded")


def _check_x(params, x) -> np.ndarray:
    x = np.asarray(x, dtype=float)
    if x.ndim != 2 or x.shape[1] != params.sizes[0] or x.shape[0] < 1:
        raise ShapeError(f"urfb: inputs x have shape {x.shape}, expected (n_samples >= 1, N_0={params.sizes[0]})")
    if not np.all(np.isfinite(x)):
        raise ShapeError("urfb: inputs x contain NaN or inf")
    return x


def check_twin_arch(params) -> None:
    """The twin converts the MLP; simpnet's convolution and pooling have no spiking form here."""
    if params.arch != "mlp":
        raise ConfigError(f"urfb: the spiking twin exists for arch 'mlp' only, got {params.arch!r} (simpnet has conv layers)")


def rate_forward(params, weights: Mapping[str, np.ndarray], x) -> tuple[list[np.ndarray], np.ndarray]:
    """The rate network in float64 numpy: ([σ_1, ..., σ_{L−1}], h_L) for inputs ``x`` (n, N_0).

    The same algebra as ``reference.forward`` (written again here so that the twin's reference does not share
    code with the trainer it is compared against; a test checks the two agree)."""
    check_twin_arch(params)
    a = _check_x(params, x)
    hidden = []
    L = params.n_layers
    for l in range(1, L + 1):
        h = a @ np.asarray(weights[f"W{l}"], dtype=float)
        if l < L:
            a = np.clip(params.slope * h, -1.0, 1.0)
            hidden.append(a)
        else:
            return hidden, h
    raise AssertionError("unreachable: n_layers >= 1")


def _input_range(x: np.ndarray, input_range) -> tuple[float, float]:
    if input_range is None:
        return min(0.0, float(x.min())), max(1.0, float(x.max()))
    try:
        lo, hi = (float(v) for v in input_range)
    except (TypeError, ValueError):
        raise ConfigError(f"input_range must be (low, high) or None, got {input_range!r}") from None
    if not hi > lo:
        raise ConfigError(f"input_range must be (low, high) with high > low, got {input_range!r}")
    if x.min() < lo or x.max() > hi:
        raise ConfigError(
            f"urfb: inputs span [{x.min():.4g}, {x.max():.4g}], outside input_range ({lo:g}, {hi:g}); a rate "
            "cannot be negative or exceed r_max: widen input_range or leave it None (taken from the inputs)"
        )
    return lo, hi


def _out_range(h_out: np.ndarray, out_range) -> tuple[float, float]:
    """The spiking output's window [a, b] of h_L (see the module docstring): given, or from the winners."""
    if out_range is not None:
        try:
            lo, hi = (float(v) for v in out_range)
        except (TypeError, ValueError):
            raise ConfigError(f"out_range must be (low, high) or None, got {out_range!r}") from None
        if not (np.isfinite(lo) and np.isfinite(hi) and hi > lo):
            raise ConfigError(f"out_range must be finite (low, high) with high > low, got {out_range!r}")
        return lo, hi
    winners = h_out.max(axis=1)
    lo, hi = float(winners.min()), float(winners.max())
    pad = 0.1 * (hi - lo)
    if not pad > 0:  # one sample, or every winner equal: a window of ±1 around it
        pad = 1.0
    return lo - pad, hi + pad


def build_spiking_twin(params, dt: float, weights: Mapping[str, np.ndarray], x, *, encoding="regular",
                       t_sample: float = 0.2, r_max: float | None = None, tau_syn: float | None = None,
                       code: str = "onoff", readout: str = "spikes", out_range=None,
                       input_range=None, tau_u: float = 0.002, readout_fraction: float = 0.5):
    """The spiking twin of the inference of the URFB MLP ``weights`` on ``x`` (see the module docstring).

    ``params`` is a :class:`URFBParams` (sizes, slope, arch); ``weights`` hold ``W1..WL`` (``R``s are ignored).
    Returns a :class:`~neuromorph.spiking.SpikingModel` for :func:`~neuromorph.spiking.run_spiking` or
    :func:`~neuromorph.compare.compare_rate_spiking`.
    """
    from brian2 import TimedArray, second

    from neuromorph.spiking import (
        DEFAULT_R_MAX,
        DEFAULT_TAU_SYN,
        SpikingModel,
        inference_schedule,
        make_encoder,
        spike_projection,
        spiking_group_equations,
        trace_group_equations,
    )

    p = params
    if code not in CODES:
        raise ConfigError(f"urfb spiking twin: code {code!r} unknown; allowed values are {list(CODES)}")
    if readout not in READOUTS:
        raise ConfigError(f"urfb spiking twin: readout {readout!r} unknown; allowed values are {list(READOUTS)}")
    hidden, h_out = rate_forward(p, weights, x)  # checks arch and x
    x = _check_x(p, x)
    for key in (f"W{l}" for l in range(1, p.n_layers + 1)):
        if not np.all(np.isfinite(np.asarray(weights[key], dtype=float))):
            raise ShapeError(f"urfb: weight {key!r} contains NaN or inf")
    if not 0 < readout_fraction <= 1:
        raise ConfigError(f"readout_fraction must lie in (0, 1], got {readout_fraction!r}")
    if not (isinstance(tau_u, (int, float)) and tau_u >= 2 * dt):
        # forward Euler of du/dt = (target − u)/τ_u is smooth (no overshoot) only for dt/τ_u ≤ 1/2
        raise ConfigError(f"tau_u must be at least two steps (2·dt = {2 * dt:g} s), got {tau_u!r}")
    r_max = DEFAULT_R_MAX if r_max is None else float(r_max)
    tau_syn = DEFAULT_TAU_SYN if tau_syn is None else float(tau_syn)
    if not tau_syn > 0:
        raise ConfigError(f"tau_syn must be > 0 s, got {tau_syn}")
    lo, hi = _input_range(x, input_range)
    if readout == "spikes":
        out_lo, out_hi = _out_range(h_out, out_range)
    sch = inference_schedule(t_sample, dt, clamp=("x",))
    T = sch.trial_steps
    enc = make_encoder(encoding, r_max=r_max)
    r_max = enc.r_max  # an encoder instance brings its own
    flags = sch.brian_flags()
    L, N, s = p.n_layers, p.sizes, float(p.slope)

    rho_in = (x - lo) / (hi - lo)
    x_in = TimedArray(rho_in, dt=T * dt * second, name="x_in")
    eq_in = spiking_group_equations("clamp_x*x_in(t, i)", enc, dt=dt, r_max=r_max, rate_bound=1.0)
    groups = {"layer0": eq_in.make_group(N[0], "spk_urfb_layer0", header=flags, reset_flag="reset_zero", order=0)}
    encoders = {"layer0": eq_in.encoder}
    reference = {}
    synapses, projections = [], []

    def incoming(l: int) -> tuple[np.ndarray, np.ndarray]:
        """(synaptic weights from layer l−1's units to layer l's neurons, constant current per neuron) such that
        the trace mean plus the current is h_l."""
        W = np.asarray(weights[f"W{l}"], dtype=float)
        if l == 1:
            return (hi - lo) * W, lo * W.sum(axis=0)
        if code == "onoff":
            return np.vstack([W, -W]), np.zeros(W.shape[1])
        return 2.0 * W, -W.sum(axis=0)  # offset: σ = 2ρ − 1

    def project(l: int, post, W_syn, target: str, post_name: str):
        S, proj = spike_projection(
            groups[f"layer{l - 1}"], post, W_syn, target, r_max=r_max, tau_syn=tau_syn, name=f"spk_urfb_W{l}",
            pre_name=f"layer{l - 1}", post_name=post_name,
        )
        synapses.append(S)
        projections.append(proj)

    tau = {"tau_u": tau_u * second, "slope": s}
    for l in range(1, L):
        W_syn, bias = incoming(l)
        has_bias = bool(np.any(bias != 0))
        drive = "(I_ff + bias)" if has_bias else "I_ff"
        if code == "onoff":  # OFF copies: negated weights and bias, so u follows −s·h
            W_syn, bias, n_units = np.hstack([W_syn, -W_syn]), np.r_[bias, -bias], 2 * N[l]
            target = f"slope*{drive}"
            ref = np.hstack([np.clip(hidden[l - 1], 0, 1), np.clip(-hidden[l - 1], 0, 1)])
        else:
            n_units = N[l]
            target = f"0.5 + 0.5*slope*{drive}"
            ref = (1.0 + hidden[l - 1]) / 2.0
        dyn = ([f"bias : 1 (constant)   # constant current: {'input offset' if l == 1 else 'offset code'}"] if has_bias else [])
        dyn.append(f"du/dt = ({target} - u)/tau_u : 1")
        eqs = spiking_group_equations("clip(u, 0, 1)", enc, dt=dt, r_max=r_max, tau_syn=tau_syn, inputs=("I_ff",),
                                      dynamics="\n".join(dyn))
        G = eqs.make_group(n_units, f"spk_urfb_layer{l}", header=flags, reset_flag="reset_zero", reset_vars=("u",),
                           order=10 * l, namespace=dict(tau))
        if has_bias:
            G.bias = bias
        groups[f"layer{l}"] = G
        encoders[f"layer{l}"] = eqs.encoder
        reference[f"layer{l}"] = ref
        project(l, G, W_syn, "I_ff", f"layer{l}")

    W_syn, bias = incoming(L)
    has_bias = bool(np.any(bias != 0))
    drive = "(I_out + bias)" if has_bias else "I_out"
    dyn = ["bias : 1 (constant)   # constant current: input offset (L = 1) or offset code"] if has_bias else []
    name_out = f"layer{L}"
    if readout == "spikes":
        dyn.append(f"du/dt = (({drive} - out_lo)/out_span - u)/tau_u : 1")
        eqs = spiking_group_equations("clip(u, 0, 1)", enc, dt=dt, r_max=r_max, tau_syn=tau_syn, inputs=("I_out",),
                                      dynamics="\n".join(dyn))
        G = eqs.make_group(N[L], f"spk_urfb_layer{L}", header=flags, reset_flag="reset_zero", reset_vars=("u",),
                           order=10 * L, namespace={**tau, "out_lo": out_lo, "out_span": out_hi - out_lo})
        encoders[name_out] = eqs.encoder
        reference[name_out] = np.clip((h_out - out_lo) / (out_hi - out_lo), 0, 1)
    else:
        dyn.append(f"o = {drive} : 1")
        eqs = trace_group_equations(inputs=("I_out",), tau_syn=tau_syn, dynamics="\n".join(dyn))
        G = eqs.make_group(N[L], f"spk_urfb_layer{L}", header=flags, reset_flag="reset_zero", order=10 * L)
    if has_bias:
        G.bias = bias
    groups[name_out] = G
    project(L, G, W_syn, "I_out", name_out)

    compared = tuple(f"layer{l}" for l in range(1, L + (readout == "spikes")))
    return SpikingModel.assemble(
        populations=groups,
        synapses=synapses,
        schedule=sch,
        dt=dt,
        x_in=x_in,
        encoders=encoders,
        projections=projections,
        output=name_out,
        t_sample=float(t_sample),
        compared=compared,
        readout_fraction=float(readout_fraction),
        reference_rates=reference,
        readout_var="o" if readout == "graded" else None,
        reference_readout=h_out if readout == "graded" else None,
        rate_macs=int(sum(N[l - 1] * N[l] for l in range(1, L + 1))),
        info={
            "encoding": enc.encoding,
            "r_max": r_max,
            "tau_syn": tau_syn,
            "tau_u": float(tau_u),
            "code": code,
            "readout": readout,
            "out_range": [out_lo, out_hi] if readout == "spikes" else None,
            "input_range": [lo, hi],
            "slope": s,
            "n_synapses": int(sum(pr.n_synapses for pr in projections)),
        },
    )
