"""The spiking twin read as a network of point neurons: the form NIR and a Loihi-style chip can hold.

:func:`extract` builds a circuit's spiking twin (``Circuit.build_spiking_brian``) on Brian2's runtime device,
without running it, and reads every population's equations with sympy (generic: no circuit is named). A twin
population spikes at ``r_max·ρ`` with ``ρ = clip(u, lo, hi)``, where ``u`` integrates

    du/dt = a·u + Σ_k b_k·I_k + c        (ρ terms in the dynamics are read as u: exact while lo ≤ u ≤ hi)

and every synaptic trace ``I_k`` decays with its own τ_syn and jumps by ``w/(r_max_pre·τ_syn)`` per spike.
The point form keeps the trace (the NIR ``CubaLIF`` synaptic current / Loihi ``u``), replaces ``u`` by its
quasi-static value ``Σ_k g_k I_k + bias`` (``g_k = −b_k/a``, ``bias = −c/a``; the soma time constant
``τ_u = −1/a`` is dropped, which is close when τ_u ≪ τ_syn) and integrates it into a non-leaky membrane that
fires at threshold 1 (the regular encoder's phase ``φ``). Multi-compartment cells whose compartments are
linear pathways into one soma thus become one current with gain-scaled weights ``g_k·W``. What is dropped is
recorded per population in ``approximations`` (the clip of ρ, τ_u, subtract-vs-zero reset), and a population
that does not fit (a non-linear rate function of its inputs, graded couplings, no spiking) is marked
``exportable=False`` with the reason.

Two more forms are read the same generic way (the twin's equations, evaluated numerically per unit):

* a population with no integrated soma whose ρ is ``max(g_i·I + b_i, 0)`` of its one trace, per unit ``i``
  (pHSIC's LReLU ON/OFF pairs: ON ``g = 1/λ``, OFF ``g = −slope/λ``; per-unit ``b``, e.g. an input offset):
  the same integrate-and-fire point neuron with per-unit gains and biases; its rectification is the
  membrane's silence (a unit driven below 0 integrates that debt);
* a non-spiking output whose readout variable is ``g_i·I + b_i`` of one trace (a graded trace readout):
  ``kind = "integrating"``, a threshold-free integrator whose value over the readout window is read.

:func:`fixed_point` maps the point network onto Loihi's integer neuron (Lava ``PyLifModelBitAcc`` semantics:
24-bit ``u``/``v``, decay ``(4096 − d)/4096`` with rounding toward zero, ``du`` offset by 1, synaptic input
and threshold shifted left by 6 bits, ``v > θ`` then ``v = 0``) with weights ``m·2**e`` (signed ``bits``-bit
mantissa, one exponent ``e ≥ 0`` per projection) and :func:`run_fixed_point` simulates it with integer
arithmetic only (numpy int64), trial by trial in parallel.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ..errors import ConfigError

__all__ = [
    "PointPopulation", "PointProjection", "PointNet", "extract", "regular_input_spikes",
    "FixedPointNet", "fixed_point", "loihi_lif_step", "loihi_current_step", "run_fixed_point", "predict_from_counts",
    "run_point_float",
]

ENCODER_VARS = {"phi", "v", "ref", "lif_j"}  # encoder state in spiking_group_equations groups


@dataclass
class PointPopulation:
    name: str
    n: int
    kind: str  # "input" | "spiking" | "graded" | "integrating" (a non-spiking readout of g·I + b)
    encoding: str | None
    r_max: float | None
    tau_syn: float | None = None  # common τ of the population's traces (s)
    tau_u: float | None = None  # the dropped soma time constant (s)
    gains: dict[str, float] = field(default_factory=dict)  # trace -> g_k
    bias: float = 0.0
    clip: tuple[float, float] | None = None
    n_compartments: int = 1  # distinct input pathways with their own gain into one soma
    phase0: float = 0.0  # the regular encoder's phase at each trial start
    exportable: bool = True
    reason: str = ""
    approximations: list[str] = field(default_factory=list)

    @property
    def fidelity(self) -> str:
        if not self.exportable:
            return "not exportable"
        return "approximate" if self.approximations else "exact"


@dataclass
class PointProjection:
    name: str
    pre: str
    post: str
    target: str
    weight: np.ndarray  # (n_pre, n_post): the twin's synaptic weights
    gain: float  # g of the target trace: weight·gain is the contribution to u
    increment: float  # trace jump per spike per unit weight: 1/(r_max_pre·τ_syn)

    @property
    def effective(self) -> np.ndarray:
        """Contribution of one presynaptic spike to the postsynaptic quasi-static u, times τ_syn."""
        return self.weight * self.gain * self.increment


@dataclass
class PointNet:
    populations: dict[str, PointPopulation]
    projections: list[PointProjection]
    output: str
    dt: float
    t_sample: float
    readout_fraction: float
    input_rates: np.ndarray | None  # (n_trials, n_in): the input population's ρ per trial
    input_name: str | None
    graded_couplings: list[str] = field(default_factory=list)  # non-spike synapses between groups
    readout_var: str | None = None
    info: dict = field(default_factory=dict)  # the twin's own description (SpikingModel.info)

    @property
    def exportable(self) -> bool:
        return all(p.exportable for p in self.populations.values()) and not self.graded_couplings

    def reasons(self) -> list[str]:
        out = [f"{p.name}: {p.reason}" for p in self.populations.values() if not p.exportable]
        out += [f"{name}: graded (non-spike) coupling between groups" for name in self.graded_couplings]
        return out

    @property
    def trial_steps(self) -> int:
        return int(round(self.t_sample / self.dt))


def _sym(code: str, namespace: dict | None = None):
    """``code`` as a sympy expression with the numbers bound in ``namespace`` put in (equations are symbolic:
    ``g_A*(v_A - u)`` with ``g_A`` in the group's namespace) and units stripped (SI values)."""
    import sympy
    from brian2.parsing.sympytools import str_to_sympy

    expr = str_to_sympy(code)
    values = {}
    for sym in expr.free_symbols:
        v = (namespace or {}).get(str(sym))
        if v is not None and not callable(v):
            try:
                values[sym] = float(np.asarray(v))
            except (TypeError, ValueError):
                pass
    expr = expr.subs(values)
    return expr.subs(sympy.Symbol("second", real=True), 1).subs(sympy.Symbol("second"), 1)


def _clip_args(expr):
    """(arg, lo, hi) if expr is clip(arg, lo, hi), else None."""
    import sympy

    f = getattr(expr, "func", None)
    if f is not None and getattr(f, "__name__", "") == "clip" and len(expr.args) == 3:
        lo, hi = expr.args[1], expr.args[2]
        as_float = lambda v: float("inf") if v == sympy.oo else float("-inf") if v == -sympy.oo else float(v)  # noqa: E731
        try:
            return expr.args[0], as_float(lo), as_float(hi)
        except TypeError:
            return None
    return None


_FLAG_VALUES = (("reset_", 0.0), ("gate_", 0.0), ("clamp_", 1.0), ("in_", 1.0), ("apply_update", 0.0), ("nudge", 0.0))


def _flag_value(name: str):
    """An inference schedule flag's value between trial starts (None: not a flag)."""
    for prefix, value in _FLAG_VALUES:
        if name == prefix or (prefix.endswith("_") and name.startswith(prefix)):
            return value
    return None


def _unit_function(expr, G, eqs, trace: str):
    """``expr`` (sympy) as f(I) -> (m, n) values for trace values I (m, 1), with every per-unit constant of
    ``G`` put in and the schedule flags at their value between trial starts; or a reason string."""
    import sympy

    flags = {s: _flag_value(str(s)) for s in expr.free_symbols if _flag_value(str(s)) is not None}
    expr = expr.subs(flags)
    consts, dynamic = {}, []
    for sym in expr.free_symbols:
        name = str(sym)
        if name == trace:
            continue
        eq = eqs.get(name)
        if eq is not None and eq.type == "parameter" and "constant" in eq.flags:
            consts[name] = np.asarray(getattr(G, name)[:], float)
        else:
            dynamic.append(name)
    if dynamic:
        return f"its rate depends on {', '.join(sorted(dynamic))}, which change during a trial without being " \
               "a synaptic trace (e.g. values sent by graded couplings): no point-neuron form"
    names = [trace] + sorted(consts)
    f = sympy.lambdify([sympy.Symbol(v, real=True) for v in names], expr, modules=[{"clip": np.clip}, "numpy"])
    n = len(G)

    def fun(I):
        return np.broadcast_to(np.asarray(f(I, *(consts[k][None, :] for k in names[1:])), float), (I.shape[0], n))

    return fun, consts


def _fit_piecewise(fun, consts, *, rectified: bool):
    """Per unit (g, b) with f(I) = max(g·I + b, 0) (``rectified``) or g·I + b, read off a grid of trace values
    that spans every unit's kink; None when f is not of that form on the grid."""
    scale = 1.0 + max([float(np.max(np.abs(v))) for v in consts.values()] or [0.0])
    grid = np.linspace(-1e3 * scale, 1e3 * scale, 4001)[:, None]
    vals = fun(grid)
    if not np.all(np.isfinite(vals)):
        return None
    hi_side = vals[-1] >= vals[0]  # the side where a rectified unit is active
    i1 = np.where(hi_side, -1, 0)
    i2 = np.where(hi_side, -2, 1)
    cols = np.arange(vals.shape[1])
    g = (vals[i1, cols] - vals[i2, cols]) / (grid[i1, 0] - grid[i2, 0])
    b = vals[i1, cols] - g * grid[i1, 0]
    model = g[None, :] * grid + b[None, :]
    if rectified:
        model = np.maximum(model, 0.0)
    tol = 1e-9 * (1.0 + np.max(np.abs(vals)))
    return (g, b) if np.max(np.abs(model - vals)) <= tol else None


def _instantaneous(pop: PointPopulation, rho, G, eqs, traces) -> None:
    """Point form of a population with no integrated soma whose ρ is max(g_i·I + b_i, 0) of its one trace, per
    unit i (e.g. LReLU ON/OFF pairs: the ON unit has g = 1/λ, the OFF unit g = −slope/λ, the leak slope on the
    opposite unit of the pair). Fills ``pop`` or marks it not exportable."""
    if len(traces) != 1:
        pop.exportable, pop.reason = False, f"rate ρ = {rho} is neither clip(u, lo, hi) of an integrated state " \
                                            "nor a function of one synaptic trace"
        return
    made = _unit_function(rho, G, eqs, traces[0])
    if isinstance(made, str):
        pop.exportable, pop.reason = False, made
        return
    fit = _fit_piecewise(*made, rectified=True)
    if fit is None:
        pop.exportable, pop.reason = False, f"rate ρ = {rho} is not max(g·I + b, 0) of its trace per unit"
        return
    g, b = fit
    pop.gains, pop.bias = {traces[0]: g}, b
    pop.clip = (0.0, float("inf"))
    signs = sorted({int(v) for v in np.sign(g[g != 0])})
    pop.approximations.append(
        f"ρ = max(g·{traces[0]} + b, 0) per unit (no soma state; {pop.n} units, gains of sign {signs}: ON/OFF pairs "
        "carry a signed rate, an OFF unit's gain holds the negative-branch slope), read off the twin's rate function")
    pop.approximations.append("the rectification max(·, 0) is the membrane's silence: a unit driven below 0 "
                              "integrates that drive and must climb back before it fires (the twin fires as soon as "
                              "its drive turns positive)")
    if any(str(s).startswith("reset_") for s in rho.free_symbols):
        pop.approximations.append("the twin keeps the unit silent on a trial's first step; the point form does not")


def _integrating_readout(pop: PointPopulation, var: str, G, eqs, trace: str, ns) -> None:
    """A non-spiking readout ``var`` = g_i·I + b_i of one trace: a non-leaky integrator of g·I + b (read over the
    readout window; on a chip: the compartment's current probed, or v with no threshold)."""
    import sympy

    expr = _sym(eqs[var].expr.code, ns) if var in eqs and eqs[var].type == "subexpression" else sympy.Symbol(var, real=True)
    subs = {v: e for v, e in eqs.items() if e.type == "subexpression" and v != var}
    for _ in range(10):
        names = {str(s) for s in expr.free_symbols} & set(subs)
        if not names:
            break
        expr = expr.subs({sympy.Symbol(v, real=True): _sym(subs[v].expr.code, ns) for v in names})
    made = _unit_function(expr, G, eqs, trace)
    if isinstance(made, str):
        pop.exportable, pop.reason = False, made
        return
    fit = _fit_piecewise(*made, rectified=False)
    if fit is None:
        pop.exportable, pop.reason = False, f"readout {var} = {expr} is not linear in its trace {trace}"
        return
    pop.kind = "integrating"
    pop.gains, pop.bias = {trace: fit[0]}, fit[1]
    tau = _sym(eqs[trace].expr.code, ns)
    pop.tau_syn = float(-1.0 / sympy.diff(tau, sympy.Symbol(trace, real=True)))
    pop.approximations.append(f"graded readout {var} = g·{trace} + b: an integrator whose value over the readout "
                              "window is read (argmax of its mean, as the twin reads its mean)")


def extract(circuit, weights, x: np.ndarray, *, t_sample: float, r_max: float, tau_syn: float,
            encoding: str = "regular", build_options: dict | None = None) -> PointNet:
    """Build the twin for inputs ``x`` on the runtime device and read it as a :class:`PointNet`."""
    import sympy

    from ..brian.devices import activate

    activate("numpy")
    sm = circuit.build_spiking_brian(weights, np.asarray(x, float), encoding=encoding, t_sample=t_sample,
                                     r_max=r_max, tau_syn=tau_syn, **dict(build_options or {}))
    incoming: dict[str, list] = {}
    for proj in sm.projections:
        incoming.setdefault(proj.post, []).append(proj)
    proj_names = {p.name for p in sm.projections}
    syn_objs = {o.name: o for o in sm.brian.objects if type(o).__name__ == "Synapses"}
    graded = sorted(n for n in syn_objs if n not in proj_names)
    pops: dict[str, PointPopulation] = {}
    input_name, input_rates = None, None

    def graded_into(pop_name):
        return any(syn_objs[g].target is sm.populations[pop_name] for g in graded)
    for name, G in sm.populations.items():
        enc = sm.encoders.get(name)
        eqs = {eq.varname: eq for eq in G.equations.ordered}
        ns = {**sm.brian.namespace, **(G.namespace or {})}  # the values the symbolic equations are bound to
        spiking = "spike" in getattr(G, "events", {})
        kind = "spiking" if spiking else "graded"
        pop = PointPopulation(name=name, n=len(G), kind=kind, encoding=getattr(enc, "encoding", None),
                              r_max=getattr(enc, "r_max", None), phase0=float(getattr(enc, "phase0", 0.0)))
        pops[name] = pop
        if name not in incoming:  # an input population: its ρ reads the input TimedArray
            pop.kind = "input"
            input_name = name
            ta = sm.brian.inputs.get("x")
            input_rates = np.asarray(ta.values, float) if ta is not None else None
            if pop.encoding != "regular":
                pop.approximations.append(f"{pop.encoding} input spikes are replaced by regular (deterministic) ones")
            continue
        if not spiking:
            traces = sorted({p.target for p in incoming[name]})
            if name == sm.output and sm.readout_var in eqs and len(traces) == 1 and not graded_into(name):
                _integrating_readout(pop, sm.readout_var, G, eqs, traces[0], ns)
            else:
                pop.exportable, pop.reason = False, ("non-spiking (graded) population that is not a linear readout of "
                                                     "one synaptic trace: no point-neuron form")
            continue
        if pop.encoding != "regular":
            pop.approximations.append(
                f"{pop.encoding} spike generation replaced by an integrate-and-fire membrane (regular spikes)")
        traces = sorted({p.target for p in incoming[name]})
        taus = {}
        for tr in traces:
            e = _sym(eqs[tr].expr.code, ns)
            taus[tr] = float(-1.0 / sympy.diff(e, sympy.Symbol(tr, real=True)))
        if len(set(np.round(list(taus.values()), 12))) != 1:
            pop.exportable, pop.reason = False, f"traces with different τ_syn {taus} (NIR CubaLIF has one)"
            continue
        pop.tau_syn = next(iter(taus.values()))
        if "rho" not in eqs:
            pop.exportable, pop.reason = False, "no rate variable 'rho' in its equations"
            continue
        # ρ as a function of state: substitute subexpressions (other than ρ itself) until none is left.
        rho = _sym(eqs["rho"].expr.code, ns)
        subs = {v: e for v, e in eqs.items() if e.type == "subexpression" and v != "rho"}
        for _ in range(10):
            names = {str(s) for s in rho.free_symbols} & set(subs)
            if not names:
                break
            rho = rho.subs({sympy.Symbol(v, real=True): _sym(subs[v].expr.code, ns) for v in names})
        cl = _clip_args(rho)
        state = [v for v, e in eqs.items() if e.type == "differential equation" and v not in traces and v not in ENCODER_VARS]
        if cl is None or str(cl[0]) not in state:
            # No integrated soma: ρ may still be an instantaneous rectified-linear function of the trace
            # (pHSIC's LReLU ON/OFF units), which a point neuron represents without dropping a time constant.
            _instantaneous(pop, rho, G, eqs, traces)
            continue
        u = sympy.Symbol(str(cl[0]), real=True)
        pop.clip = (cl[1], cl[2])
        F = _sym(eqs[str(u)].expr.code, ns).subs(sympy.Symbol("rho", real=True), u)
        syms = [u] + [sympy.Symbol(t, real=True) for t in traces]
        zero = {s: 0 for s in syms}
        a = sympy.diff(F, u)
        if any(sympy.diff(F, s1, s2) != 0 for s1 in syms for s2 in syms) or (F.free_symbols - set(syms)):
            pop.exportable, pop.reason = False, f"du/dt = {F} is not linear in u and the traces"
            continue
        a = float(a)
        if not a < 0:
            pop.exportable, pop.reason = False, f"du/dt has no leak (coefficient of u is {a})"
            continue
        pop.tau_u = -1.0 / a
        pop.gains = {t: float(sympy.diff(F, sympy.Symbol(t, real=True))) / -a for t in traces}
        pop.bias = float(F.subs(zero)) / -a
        pop.n_compartments = len({round(g, 12) for g in pop.gains.values()}) if len(traces) > 1 else 1
        if "rho" in {str(s) for s in _sym(eqs[str(u)].expr.code, ns).free_symbols}:
            pop.approximations.append("the ρ self term of du/dt is read as u (exact while ρ is not clipped)")
        pop.approximations.append(
            f"soma time constant τ_u = {pop.tau_u * 1e3:.3g} ms dropped (u taken quasi-static; τ_syn = {pop.tau_syn * 1e3:g} ms)")
        pop.approximations.append(f"rate clip ρ = clip(u, {pop.clip[0]:g}, {pop.clip[1]:g}) not represented "
                                  "(the membrane integrates negative and super-maximal drive)")
        if pop.n_compartments > 1:
            pop.approximations.append(
                f"{len(traces)} input pathways with gains {', '.join(f'{k} {g:.3g}' for k, g in pop.gains.items())} "
                "merged into one current (multi-compartment cell → point neuron; exact for linear dendrites)")
    projections = []
    for proj in sm.projections:
        S = syn_objs[proj.name]
        W = np.zeros(proj.shape)
        W[np.asarray(S.i[:]), np.asarray(S.j[:])] = np.asarray(S.w[:])
        post = pops[proj.post]
        projections.append(PointProjection(name=proj.name, pre=proj.pre, post=proj.post, target=proj.target,
                                           weight=W, gain=post.gains.get(proj.target, 1.0), increment=proj.increment))
    return PointNet(populations=pops, projections=projections, output=sm.output, dt=sm.dt, t_sample=sm.t_sample,
                    readout_fraction=sm.readout_fraction, input_rates=input_rates, input_name=input_name,
                    graded_couplings=graded, readout_var=sm.readout_var, info=dict(sm.info or {}))


def regular_input_spikes(rates: np.ndarray, r_max: float, dt: float, steps: int, phase0: float = 0.0) -> np.ndarray:
    """The regular encoder's spikes (steps, n_trials, n): φ += r_max·max(ρ,0)·dt, spike when φ ≥ 1, φ −= 1."""
    rates = np.clip(np.asarray(rates, float), 0, None)
    phi = np.full(rates.shape, float(phase0))
    out = np.zeros((steps, *rates.shape), dtype=bool)
    inc = r_max * rates * dt
    for k in range(steps):
        phi = phi + inc
        s = phi >= 1.0
        phi = phi - s
        out[k] = s
    return out


# ---- Loihi-style fixed point --------------------------------------------------------------------------------
@dataclass
class FixedPointNet:
    """Integer parameters of a point network on a Loihi-style core (see module doc)."""

    du: dict[str, int]  # population -> 12-bit current decay (Lava du; effective decay du + 1)
    dv: dict[str, int]
    vth: dict[str, int]  # 17-bit threshold mantissa (compared after << 6)
    bias: dict[str, int | np.ndarray]  # per-step bias added to v (already exponent-scaled), scalar or per unit
    weights: dict[str, np.ndarray]  # projection -> represented value mantissa·2**exponent (float, for reports)
    mantissa: dict[str, np.ndarray]  # int64 (n_pre, n_post)
    exponent: dict[str, int]  # shift of the accumulated sum: << e, or >> −e (floor) as Lava's Dense does
    order: list[str]  # non-input populations
    edges: list[tuple[str, str, str]]  # (projection, pre, post)
    state_bits: int = 24
    notes: list[str] = field(default_factory=list)
    rel_weight_error: dict[str, float] = field(default_factory=dict)
    tau_error: dict[str, float] = field(default_factory=dict)
    stats: dict[str, dict] = field(default_factory=dict)  # filled by run_fixed_point


def fixed_point(net: PointNet, *, bits: int = 8, exp_max: int = 7, exp_min: int = -7, vth_bits: int = 17,
                decay_bits: int = 12, state_bits: int = 24) -> FixedPointNet:
    """Integer parameters for ``net`` with ``bits``-bit weight mantissas (sign included)."""
    if not net.exportable:
        raise ConfigError("the network has populations without a point-neuron form: " + "; ".join(net.reasons()))
    m_max = 2 ** (bits - 1) - 1
    vth_max = 2 ** vth_bits - 1
    dt = net.dt
    du, dv, vth, bias = {}, {}, {}, {}
    weights, mant, expo, rel_err, tau_err = {}, {}, {}, {}, {}
    order = [n for n, p in net.populations.items() if p.kind != "input"]
    incoming = {n: [p for p in net.projections if p.post == n] for n in order}
    for name in order:
        pop = net.populations[name]
        # Jump of u per pre spike, in units of the threshold: dt·r_max·(g·w·inc); the threshold θ is as large
        # as the mantissa range allows (every projection's exponent ≤ exp_max), which keeps rounding small.
        # An integrating readout has no rate: its value is read in units of g·I + b (rate 1).
        r_post = pop.r_max if pop.kind == "spiking" else 1.0
        peaks = [float(np.max(np.abs(p.effective))) * dt * r_post for p in incoming[name]]
        peak = max([pk for pk in peaks if pk > 0] or [1.0])
        if pop.kind == "integrating":
            # No threshold to fit: the scale is free. The largest weight becomes the largest mantissa at
            # exponent 0 (a negative exponent floors every step's summed input: at a few units per spike that
            # biases the readout by ~15 %); vth only carries the scale and is never compared.
            theta = max(1, math.floor(m_max / peak))
        else:
            theta = int(min(vth_max, math.floor(m_max * 2 ** exp_max / peak)))
        vth[name] = max(theta, 1)
        d = int(round(2 ** decay_bits * dt / pop.tau_syn)) - 1  # Lava adds ds_offset = 1
        du[name] = int(np.clip(d, 0, 2 ** decay_bits - 1))
        eff = (du[name] + 1) / 2 ** decay_bits
        tau_err[name] = float((dt / eff - pop.tau_syn) / pop.tau_syn)
        dv[name] = 0  # the membrane is the encoder's phase: no leak
        b = np.rint(vth[name] * 64 * dt * r_post * np.asarray(pop.bias, float)).astype(np.int64)
        bias[name] = int(b) if b.ndim == 0 else b  # per unit where the point form has per-unit biases
        for p in incoming[name]:
            # The 12-bit decay is rounded (τ_syn = 20 ms at dt = 0.1 ms: 20/4096 per step instead of 20.48/4096),
            # which scales the trace's mean by dt/(τ_syn·eff), here +2.4 %; a unit driven by the difference of
            # a trace and a bias (pHSIC's layer 1) turns that into ~20 % rate errors. The weights are rescaled
            # by τ_syn·eff/dt so the mean (DC gain) stays exact; only the time constant keeps the rounding.
            target = p.effective * dt * r_post * vth[name] * (pop.tau_syn * eff / dt)  # input units (before << 6)
            pk = float(np.max(np.abs(target))) if target.size else 0.0
            e = 0 if pk == 0 else int(np.clip(math.ceil(math.log2(pk / m_max)), exp_min, exp_max))
            m = np.clip(np.rint(target / 2.0 ** e), -m_max, m_max).astype(np.int64)
            weights[p.name] = m * 2.0 ** e
            mant[p.name], expo[p.name] = m, e
            nz = target != 0
            rel_err[p.name] = float(np.linalg.norm((m * 2 ** e - target)[nz]) / max(np.linalg.norm(target[nz]), 1e-300))
    notes = [
        "u (synaptic current) decays by (4096 − (du + 1))/4096 per step, rounded toward zero; 24-bit wrap",
        "weights scaled by τ_syn·(du + 1)/(4096·dt) so the rounded decay keeps the trace's mean exact",
        "v integrates u with no leak (dv = 0); spike when v > θ·64, then v = 0 (the twin subtracts the threshold)",
        "a projection delivers its spikes one step later (as Brian2's twin and Lava's Dense do)",
    ]
    if any(net.populations[n].kind == "integrating" for n in order):
        notes.append("an integrating readout has no threshold: its u + bias is summed over the readout window "
                     "(on chip: u probed every step, or v with dv = 0 and no threshold, read at the window's ends)")
    return FixedPointNet(du=du, dv=dv, vth=vth, bias=bias, weights=weights, mantissa=mant, exponent=expo, order=order,
                         edges=[(p.name, p.pre, p.post) for p in net.projections], state_bits=state_bits, notes=notes,
                         rel_weight_error=rel_err, tau_error=tau_err)


def loihi_lif_step(u: np.ndarray, v: np.ndarray, a_in: np.ndarray, *, du: int, dv: int, vth: int, bias: int = 0,
                   state_bits: int = 24) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One integer step of a Loihi CUBA LIF compartment (int64 arrays in, (u, v, spikes) out).

    u ← wrap24(trunc(u·(4096 − du − 1)/4096) + (a_in << 6));  v ← clip24(trunc(v·(4096 − dv)/4096) + u + bias);
    spike = v > vth << 6;  v ← 0 where it spiked. trunc rounds toward zero (sign · (|x| >> 12)).
    """
    lim = 2 ** (state_bits - 1)
    u = np.asarray(u, np.int64)
    v = np.asarray(v, np.int64)
    prod = u * (4096 - (du + 1))
    u = np.sign(prod) * (np.abs(prod) >> 12) + (np.asarray(a_in, np.int64) << 6)
    u = ((u + lim) % (2 * lim)) - lim  # wrap modulo 2**24 into [-2**23, 2**23)
    prod = v * (4096 - dv)
    v = np.sign(prod) * (np.abs(prod) >> 12) + u + bias
    v = np.clip(v, -lim + 1, lim - 1)
    s = v > (int(vth) << 6)
    v = np.where(s, 0, v)
    return u, v, s


def loihi_current_step(u: np.ndarray, a_in: np.ndarray, *, du: int, state_bits: int = 24) -> np.ndarray:
    """The synaptic-current half of :func:`loihi_lif_step` (same integer operations), for a readout
    compartment that has no threshold."""
    lim = 2 ** (state_bits - 1)
    prod = np.asarray(u, np.int64) * (4096 - (du + 1))
    u = np.sign(prod) * (np.abs(prod) >> 12) + (np.asarray(a_in, np.int64) << 6)
    return ((u + lim) % (2 * lim)) - lim


def run_fixed_point(net: PointNet, fp: FixedPointNet, in_spikes: np.ndarray) -> dict[str, np.ndarray]:
    """Simulate the integer network on input spikes (steps, n_trials, n_in); return spikes per population
    as (steps, n_trials, n) boolean arrays (the input population's are ``in_spikes``; an integrating
    readout's are its per-step values u + bias, int64)."""
    # threadpoolctl comes with scikit-learn. One BLAS thread: a step's products are small, and on a busy
    # machine the threads' hand-offs cost more than the arithmetic (4.6 s vs 1.1 s for pHSIC 64-256-256-10,
    # 100 trials x 500 steps, measured under load).
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):
        return _run_fixed_point(net, fp, in_spikes)


def _run_fixed_point(net: PointNet, fp: FixedPointNet, in_spikes: np.ndarray) -> dict[str, np.ndarray]:
    steps, n_trials = in_spikes.shape[:2]
    pops = net.populations
    integ = {n for n in fp.order if pops[n].kind == "integrating"}
    u = {n: np.zeros((n_trials, pops[n].n), np.int64) for n in fp.order}
    v = {n: np.zeros((n_trials, pops[n].n), np.int64) for n in fp.order}
    prev = {n: np.zeros((n_trials, pops[n].n), bool) for n in pops}
    out = {n: np.zeros((steps, n_trials, pops[n].n), np.int64 if n in integ else bool) for n in pops}
    out[net.input_name] = in_spikes
    # float64 products of 0/1 spikes and integer mantissas are exact (sums stay far below 2**53) and use BLAS
    wf = {proj: fp.mantissa[proj].astype(np.float64) for proj, _, _ in fp.edges}
    a_lim = 2 ** 15 - 1  # synaptic input per step is 16-bit signed on Loihi
    stats = {n: {"max_activation": 0, "activation_overflow": 0, "max_abs_u": 0, "max_abs_v": 0} for n in fp.order}
    for k in range(steps):
        a = {n: np.zeros((n_trials, pops[n].n), np.int64) for n in fp.order}
        for proj, pre, post in fp.edges:
            if prev[pre].any():
                acc = np.rint(prev[pre].astype(np.float64) @ wf[proj]).astype(np.int64)
                e = int(fp.exponent[proj])
                a[post] += (acc << e) if e >= 0 else (acc >> -e)  # >> floors, like numpy's right_shift in Lava
        for n in fp.order:
            st = stats[n]
            big = np.abs(a[n])
            st["max_activation"] = max(st["max_activation"], int(big.max()))
            over = big > a_lim
            if over.any():
                st["activation_overflow"] += int(over.sum())
                a[n] = np.clip(a[n], -a_lim - 1, a_lim)  # assumed to saturate (Lava declares a_in int16)
        cur = {net.input_name: in_spikes[k]}
        for n in fp.order:
            if n in integ:  # the current alone; u + bias is the value the readout sums
                u[n] = loihi_current_step(u[n], a[n], du=fp.du[n], state_bits=fp.state_bits)
                out[n][k] = u[n] + fp.bias[n]
                cur[n] = np.zeros((n_trials, pops[n].n), bool)
                stats[n]["max_abs_u"] = max(stats[n]["max_abs_u"], int(np.abs(u[n]).max()))
                continue
            u[n], v[n], s = loihi_lif_step(u[n], v[n], a[n], du=fp.du[n], dv=fp.dv[n], vth=fp.vth[n], bias=fp.bias[n],
                                           state_bits=fp.state_bits)
            cur[n] = s
            out[n][k] = s
            stats[n]["max_abs_u"] = max(stats[n]["max_abs_u"], int(np.abs(u[n]).max()))
            stats[n]["max_abs_v"] = max(stats[n]["max_abs_v"], int(np.abs(v[n]).max()))
        prev = cur
    fp.stats = stats
    return out


def predict_from_counts(spikes: np.ndarray, readout_fraction: float) -> tuple[np.ndarray, np.ndarray]:
    """Argmax (ties → lowest index) of spike counts (or an integrating readout's values) summed over the last
    ``readout_fraction`` of the steps; also the sums."""
    steps = spikes.shape[0]
    window = max(1, int(round(readout_fraction * steps)))
    counts = spikes[steps - window:].sum(axis=0)
    return np.argmax(counts, axis=1), counts


def run_point_float(net: PointNet, in_spikes: np.ndarray, *, tau_mem: float | None = None) -> dict[str, np.ndarray]:
    """The point network in float64, Euler steps of dt (the NIR reading of :mod:`.nirio`, which
    :func:`.nirbrian.nir_to_brian` also uses): per step every trace decays, ``dI/dt = −I/τ_syn``, every membrane
    integrates ``dv/dt = r_max·(g·I + b)`` (minus ``v/tau_mem`` where given: the exported "no leak" is
    τ_mem = 10⁶ s), a membrane above 1 spikes, the step's spikes (input ones included) make the traces jump
    by ``g·w/(r_max_pre·τ_syn)``, and a spiking membrane is lowered by 1. Returns spikes (steps, n_trials, n)
    per spiking population and v per integrating one."""
    steps, n_trials = in_spikes.shape[:2]
    pops = net.populations
    order = [n for n, p in pops.items() if p.kind != "input"]
    if not net.exportable:
        raise ConfigError("the network has populations without a point-neuron form: " + "; ".join(net.reasons()))
    I = {n: np.zeros((n_trials, pops[n].n)) for n in order}
    v = {n: np.zeros((n_trials, pops[n].n)) for n in order}
    out = {n: np.zeros((steps, n_trials, pops[n].n), bool if pops[n].kind == "spiking" else float) for n in order}
    out[net.input_name] = in_spikes
    jumps = [(p.pre, p.post, p.weight * np.asarray(p.gain, float) / (pops[p.pre].r_max * pops[p.post].tau_syn))
             for p in net.projections]
    for k in range(steps):
        spk = {net.input_name: in_spikes[k]}
        for n in order:
            p = pops[n]
            r = p.r_max if p.kind == "spiking" else 1.0
            b = np.asarray(p.bias, float)
            dv = net.dt * r * (I[n] + b)
            if tau_mem:
                dv = dv - net.dt * v[n] / tau_mem
            I[n] = I[n] - net.dt * I[n] / p.tau_syn
            v[n] = v[n] + dv
            if p.kind == "spiking":
                spk[n] = v[n] > 1.0
                out[n][k] = spk[n]
            else:
                out[n][k] = v[n]
        for pre, post, J in jumps:
            if pre in spk and spk[pre].any():
                I[post] = I[post] + spk[pre].astype(float) @ J
        for n in order:
            if pops[n].kind == "spiking":
                v[n] = v[n] - spk[n]
    return out
