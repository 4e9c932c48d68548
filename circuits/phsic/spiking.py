"""Spiking twin of a trained pHSIC network's inference (the batch-form MLP of ``trainer.py``, dropout off).

The rate network, for sizes ``(N_0, N_1, ..., N_L, C)`` and weights in (n_pre, n_post) orientation as
:meth:`PHSICTrainer.weights` returns them (the streaming circuit's :meth:`PHSIC.forward` computes it)::

    a^k = W^kᵀ h^{k-1},  z^k = LReLU(a^k)                      (eq. 1; h^0 = x)
    h^k = z^k                                                  modes "plain" and "grouped" (the grouping only
                                                               enters the training kernel; the next layer sees z)
    h^k_αn = r_αn = (z_αn − z̄_α)/u_α^p,  u_α = (δ + Σ_n ẑ_αn²)/n_α   mode "divnorm" (eqs. 17, 21)
    o = W_outᵀ h^L + b_out,  label = argmax o

is converted with the generic mechanism of :mod:`neuromorph.spiking` (encoders, traces, projections, one-phase
inference schedule, spike/SynOp counting) as follows. Each choice and its reason:

Input (affine rate code). A pixel value x ∈ [lo, hi] (``input_range``; (−1, 1) for the ``symmetric`` scale
the network was trained on) fires at ``r_max·(x − lo)/(hi − lo)``: non-negative intensities, as a
photoreceptor would signal them. The offset is exact algebra, not an approximation: layer 1's synapses carry
``(hi − lo)·W¹`` and its units receive the constant current ``lo·Σ_m W¹_m`` (a bias). Signed ON/OFF input
pairs would also be exact, but with symmetric scaling the image background is −1, so every background pixel's
OFF unit would fire at r_max: the offset code sends the fewest input spikes.

Hidden layers (ON/OFF pairs). ``h^k`` is signed: in "divnorm" r is centred per group (its group mean is 0 by
eq. 21), so a large part of it is negative (two thirds of the values in the trained FMNIST network, where
rectifying r in the rate model costs 25 points of test accuracy; experiments/README.md); in "plain" LReLU's
negative branch (slope 0.01) is small but real. Every hidden neuron n is therefore an ON unit
(index n) and an OFF unit (index N_k + n) of one population of 2·N_k units: both integrate the same input
(each has its own synapses, so both copies of a presynaptic spike count as SynOps) and compute the same h_n;
the ON unit fires at ``r_max·[h_n]₊/λ_k``, the OFF unit at ``r_max·[−h_n]₊/λ_k``. A synapse from an OFF unit
has the negated weight, so the postsynaptic trace's mean is ``λ_k·Wᵀ([h]₊/λ_k − [−h]₊/λ_k) = Wᵀh`` (the
trace identity of :mod:`neuromorph.spiking`).

Rate scaling λ_k (``rate_scales``). Normalised rates are ``|h|/λ_k``, unclipped, so λ_k sets how many Hz
one unit of activity costs (r_max/λ_k). By default λ_k is data-based (as in rate→spike conversions that
normalise each layer by a high percentile of its activity): the ``scale_quantile`` (0.999) quantile of |h^k|
of the rate model over the given inputs; pass ``rate_scales`` computed on calibration (training) data to keep
test data out of it. Rates are *not* clipped or rescaled silently: if the rate model's largest |h^k|/λ_k on
``x`` would need more than one spike per step (``r_max·max ρ·dt > 1``, or the encoder's own stricter limit,
e.g. Poisson's max_p), building raises :class:`~neuromorph.errors.ConfigError` naming the layer and the fix.
(The check reads the rate model's values; a spiking trace that overshoots them for a moment delays a regular
unit's spikes, whose phase keeps the surplus, rather than dropping them.)

Divisive normalisation (graded pool interneurons). One non-spiking interneuron per group α reads its
group's z every step through graded couplings (summed variables: S1 = Σ z, S2 = Σ z²) and holds
``z̄_α = S1/n_α`` and ``u_α = (S2 − S1·z̄_α + δ)/n_α``; it sends back ``z̄_α`` (subtractive inhibition)
and ``gain_α = u_α^(−p)`` (divisive, shunting inhibition as a neuron-local gain), so each unit computes
``r = (z − z̄_α)·gain_α`` locally. The paper leaves this recurrent circuitry open (§3.4); a spiking pool would
need every neuron to send z and z² as two more spike trains. The pool lags by one step (it is updated after
its layer in Brian2's schedule), so hidden units stay silent on the first step of every trial, when the pool
still holds the previous trial's values: trials are then independent of each other and of their length. The
couplings cost 3·N_k graded operations per layer and step; they are reported in ``info`` and are not SynOps.

Synaptic traces. Every spiking pathway is one trace ``dI/dt = −I/τ_syn`` per postsynaptic unit (``tau_syn``);
a spike adds ``w/(r_max·τ_syn)``. The network is a chain of L + 1 such low-pass filters (input → layer 1 →
... → readout), so the readout settles after a few times (L + 1)·τ_syn: shorter τ_syn is faster and noisier.

Readout (graded, trace argmax). The C output units do not spike: each integrates its trace and
``o = I_out + b_out`` (the bias is a constant current), like the non-spiking linear output layer of a
Nengo/NengoDL conversion. The label is the argmax of o averaged over the last ``readout_fraction`` of each
trial (``SpikingModel.readout_var``); the rate model's o is ``reference_readout``.

Encoding. Any encoder of :mod:`neuromorph.spiking` (``encoding``: "regular", "poisson", "lif" or an instance).
At short times the first-spike latency of weakly active units dominates; regular spikes that start each trial
at half threshold (``RateToSpikes("regular", r_max, phase0=0.5)``) halve it at no cost in spikes.

Trials, counting, costs. One trial of ``t_sample`` s per row of ``x``, all state (traces to 0, encoder phases
to their initial value) reset at each trial start (:func:`~neuromorph.spiking.inference_schedule`). ``reference_rates`` are the rate
model's normalised rates in the ON/OFF layout, (n, 2·N_k). SynOps count every spike times its unit's fan-out
over the spiking projections (ON/OFF copies included); ``rate_macs`` is the rate network's
``Σ_k N_{k-1}·N_k`` multiply-accumulates per inference (one feedforward pass).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from neuromorph.errors import ConfigError, ShapeError

__all__ = ["activity_scales", "build_spiking_twin", "rate_activities"]


def _check_x(circuit, x) -> np.ndarray:
    n_in = circuit.params.sizes[0]
    x = np.asarray(x, dtype=float)
    if x.ndim != 2 or x.shape[1] != n_in or x.shape[0] < 1:
        raise ShapeError(f"{circuit.name}: inputs x have shape {x.shape}, expected (n_samples >= 1, N_0={n_in})")
    if not np.all(np.isfinite(x)):
        raise ShapeError(f"{circuit.name}: inputs x contain NaN or inf")
    return x


def rate_activities(circuit, weights: Mapping[str, np.ndarray], x) -> dict[str, np.ndarray]:
    """The rate model on ``x``: ``h{k}`` (n, N_k) for every hidden layer and ``o`` (n, C), float64."""
    circuit.check_weights(weights)
    x = _check_x(circuit, x)
    fw = circuit.forward(weights, x)
    out = {f"h{k}": fw[f"out{k}"] for k in range(1, len(circuit.params.sizes) - 1)}
    out["o"] = fw["o"]
    return out


def activity_scales(circuit, weights: Mapping[str, np.ndarray], x, quantile: float = 0.999) -> tuple[float, ...]:
    """Data-based rate scales λ_k: the ``quantile`` of |h^k| over all samples of ``x`` and units of layer k."""
    if not 0.0 < quantile <= 1.0:
        raise ConfigError(f"scale_quantile must lie in (0, 1], got {quantile!r}")
    act = rate_activities(circuit, weights, x)
    scales = []
    for k in range(1, len(circuit.params.sizes) - 1):
        lam = float(np.quantile(np.abs(act[f"h{k}"]), quantile))
        # A silent layer (all h = 0) has no scale to find; 1 keeps its (zero) rates finite.
        scales.append(lam if lam > 0 else 1.0)
    return tuple(scales)


def _scales(rate_scales, n_hidden: int) -> tuple[float, ...]:
    """User-given scales: one number for every hidden layer, or one per layer (sequence or array)."""
    try:
        values = np.asarray(rate_scales, dtype=float)
    except (TypeError, ValueError):
        values = None
    if values is not None and values.ndim == 0 and not isinstance(rate_scales, bool):
        out = (float(values),) * n_hidden
    elif values is not None and values.shape == (n_hidden,):
        out = tuple(float(v) for v in values)
    else:
        raise ConfigError(
            f"rate_scales: give None (data-based), one positive number, or one per hidden layer ({n_hidden}); "
            f"got {rate_scales!r}"
        )
    if not all(np.isfinite(v) and v > 0 for v in out):
        raise ConfigError(f"rate_scales must be positive and finite, got {out}")
    return out


def build_spiking_twin(
    circuit,
    weights: Mapping[str, np.ndarray],
    x,
    *,
    encoding="regular",
    t_sample: float = 0.2,
    r_max: float | None = None,
    tau_syn: float | None = None,
    rate_scales: float | Sequence[float] | None = None,
    scale_quantile: float = 0.999,
    input_range: tuple[float, float] = (-1.0, 1.0),
    readout_fraction: float = 0.5,
):
    """The spiking twin of ``circuit``'s feedforward inference on ``x`` (see the module docstring).

    ``circuit`` is a :class:`~circuits.phsic.PHSIC` (its params give sizes, mode, groups, δ, p, LReLU slope);
    ``weights`` are ``W1..WL, W_out`` (n_pre, n_post) and ``b_out`` (C,). Returns a
    :class:`~neuromorph.spiking.SpikingModel` for :func:`~neuromorph.spiking.run_spiking` or
    :func:`~neuromorph.compare.compare_rate_spiking`.
    """
    from brian2 import NeuronGroup, Synapses, TimedArray, second

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

    p = circuit.params
    N = tuple(p.sizes)
    L, C = len(N) - 2, N[-1]
    divnorm = p.mode == "divnorm"
    act = rate_activities(circuit, weights, x)  # checks weights and x
    x = _check_x(circuit, x)
    for key, w in weights.items():
        if not np.all(np.isfinite(np.asarray(w, dtype=float))):
            raise ShapeError(f"{circuit.name}: weight {key!r} contains NaN or inf")
    lo, hi = (float(v) for v in input_range)
    if not hi > lo:
        raise ConfigError(f"input_range must be (low, high) with high > low, got {input_range!r}")
    if x.min() < lo:
        raise ConfigError(
            f"{circuit.name}: inputs go down to {x.min():.4g}, below input_range low = {lo:g}; a rate cannot be "
            "negative: widen input_range (e.g. (-1, 1) for the 'symmetric' scale, (0, 1) for 'unit')"
        )
    if not 0 < readout_fraction <= 1:
        raise ConfigError(f"readout_fraction must lie in (0, 1], got {readout_fraction!r}")
    r_max = DEFAULT_R_MAX if r_max is None else float(r_max)
    tau_syn = DEFAULT_TAU_SYN if tau_syn is None else float(tau_syn)
    if not tau_syn > 0:
        raise ConfigError(f"tau_syn must be > 0 s, got {tau_syn}")
    scales = activity_scales(circuit, weights, x, scale_quantile) if rate_scales is None else _scales(rate_scales, L)
    dt = circuit.dt
    sch = inference_schedule(t_sample, dt, clamp=("x",))
    T = sch.trial_steps
    enc = make_encoder(encoding, r_max=r_max)
    r_max = enc.r_max  # an encoder instance brings its own
    flags = sch.brian_flags()

    # Normalised rates and their bounds (the rate model's, on these inputs); the encoder refuses bounds it
    # cannot follow (more than one spike per step), with the layer named here.
    rho_in = (x - lo) / (hi - lo)
    bounds = {0: max(float(rho_in.max()), 1e-12)}
    for k in range(1, L + 1):
        bounds[k] = max(float(np.abs(act[f"h{k}"]).max()) / scales[k - 1], 1e-12)
    for k, bound in bounds.items():
        try:
            enc.check(dt, bound)
        except ConfigError as exc:
            what = "the input" if k == 0 else f"hidden layer {k} (rate scale λ = {scales[k - 1]:.4g})"
            raise ConfigError(
                f"{circuit.name} spiking twin: {what} reaches normalised rate {bound:.4g} on these inputs: {exc}"
                + ("" if k == 0 else f"; or raise rate_scales[{k - 1}]")
            ) from exc

    x_in = TimedArray(rho_in, dt=T * dt * second, name="x_in")
    groups, objects, projections = {}, [], []
    eq_in = spiking_group_equations("clamp_x*x_in(t, i)", enc, dt=dt, r_max=r_max, rate_bound=bounds[0])
    groups["layer0"] = eq_in.make_group(N[0], "spk_phsic_layer0", header=flags, reset_flag="reset_zero", order=0)
    encoders = {"layer0": eq_in.encoder}

    slope = float(p.leaky_slope)
    graded_ops = 0
    for k in range(1, L + 1):
        n, lam = N[k], scales[k - 1]
        dyn = [
            "sgn : 1 (constant)    # +1: ON unit, -1: OFF unit of the pair",
            "bias : 1 (constant)   # constant current: the input offset (layer 1), else 0",
            "a = I_ff + bias : 1",
            f"z = clip(a, 0, inf) + {slope!r}*clip(a, -inf, 0) : 1   # LReLU (eq. 1)",
        ]
        if divnorm:
            dyn += [
                "zbar : 1   # group mean, from the group's pool interneuron (graded)",
                "gain : 1   # u^-p, the pool's divisive (shunting) gain",
                "r = (z - zbar)*gain : 1   # eq. 21",
            ]
        else:
            dyn += ["r = z : 1"]
        # Silent on a trial's first step: the pool's values then still describe the previous trial (one-step lag).
        eqs = spiking_group_equations(
            f"(1 - reset_zero)*clip(sgn*r, 0, inf)/{lam!r}", enc, dt=dt, r_max=r_max, tau_syn=tau_syn, inputs=("I_ff",),
            dynamics="\n".join(dyn), rate_bound=bounds[k],
        )
        G = eqs.make_group(2 * n, f"spk_phsic_layer{k}", header=flags, reset_flag="reset_zero", order=10 * k)
        G.sgn = np.r_[np.ones(n), -np.ones(n)]
        W = np.asarray(weights[f"W{k}"], dtype=float)
        if k == 1:
            G.bias = np.tile(lo * W.sum(axis=0), 2)
            W_syn = (hi - lo) * np.hstack([W, W])  # input unit → ON and OFF copies of every neuron
        else:
            lam_pre = scales[k - 2]
            W_syn = lam_pre * np.vstack([np.hstack([W, W]), -np.hstack([W, W])])  # OFF pre units: negated
        S, proj = spike_projection(
            groups[f"layer{k - 1}"], G, W_syn, "I_ff", r_max=r_max, tau_syn=tau_syn, name=f"spk_phsic_W{k}",
            pre_name=f"layer{k - 1}", post_name=f"layer{k}",
        )
        objects.append(S)
        projections.append(proj)
        groups[f"layer{k}"] = G
        encoders[f"layer{k}"] = eqs.encoder
        if divnorm:
            c = p.n_groups
            na = n // c
            pool = NeuronGroup(
                c,
                f"""
                S1 : 1   # sum of z over the group (graded coupling)
                S2 : 1   # sum of z^2 over the group
                zbar = S1/{float(na)!r} : 1
                u = (S2 - S1*zbar + {float(p.delta)!r})/{float(na)!r} : 1   # eq. 17
                gain = 1.0/u**{float(p.power)!r} : 1
                """,
                name=f"spk_phsic_pool{k}",
                order=10 * k + 5,  # after its layer: S1, S2 are summed at order 10k + 4
            )
            member = np.arange(n)
            up = Synapses(G, pool, "S1_post = z_pre : 1 (summed)\nS2_post = z_pre*z_pre : 1 (summed)",
                          name=f"spk_phsic_layer{k}_to_pool")
            up.connect(i=member.astype(np.int32), j=(member // na).astype(np.int32))  # ON copies carry z
            down = Synapses(pool, G, "zbar_post = zbar_pre : 1 (summed)\ngain_post = gain_pre : 1 (summed)",
                            name=f"spk_phsic_pool{k}_to_layer")
            down.connect(i=np.tile(member // na, 2).astype(np.int32), j=np.arange(2 * n, dtype=np.int32))
            objects += [pool, up, down]
            graded_ops += 3 * n

    eq_out = trace_group_equations(
        inputs=("I_out",), tau_syn=tau_syn, dynamics="b : 1 (constant)   # output bias b_out\no = I_out + b : 1"
    )
    G_out = eq_out.make_group(C, "spk_phsic_readout", header=flags, reset_flag="reset_zero", order=10 * (L + 1))
    G_out.b = np.asarray(weights["b_out"], dtype=float)
    W_out = np.asarray(weights["W_out"], dtype=float)
    S, proj = spike_projection(
        groups[f"layer{L}"], G_out, scales[L - 1] * np.vstack([W_out, -W_out]), "I_out", r_max=r_max,
        tau_syn=tau_syn, name="spk_phsic_W_out", pre_name=f"layer{L}", post_name="readout",
    )
    objects.append(S)
    projections.append(proj)
    groups["readout"] = G_out

    reference = {
        f"layer{k}": np.hstack([np.clip(act[f"h{k}"], 0, None), np.clip(-act[f"h{k}"], 0, None)]) / scales[k - 1]
        for k in range(1, L + 1)
    }
    return SpikingModel.assemble(
        populations=groups,
        synapses=objects,
        schedule=sch,
        dt=dt,
        x_in=x_in,
        encoders=encoders,
        projections=projections,
        output="readout",
        t_sample=float(t_sample),
        compared=tuple(f"layer{k}" for k in range(1, L + 1)),
        readout_fraction=float(readout_fraction),
        reference_rates=reference,
        readout_var="o",
        reference_readout=act["o"],
        rate_macs=int(sum(N[k] * N[k + 1] for k in range(L + 1))),
        info={
            "encoding": enc.encoding,
            "r_max": r_max,
            "tau_syn": tau_syn,
            "mode": p.mode,
            "rate_scales": list(scales),
            "rate_bounds": [bounds[k] for k in range(L + 1)],
            "input_range": [lo, hi],
            "on_off": True,
            "graded_ops_per_step": graded_ops,
            "n_synapses": int(sum(pr.n_synapses for pr in projections)),
        },
    )
