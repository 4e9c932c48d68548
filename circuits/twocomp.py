"""twocomp: neuromorph's own small learning circuit (no paper).

It exists to exercise every part of the toolkit end to end on a circuit small enough to check by hand:
two-compartment rate neurons, an inhibitory interneuron population, phase-gated contrastive Hebbian
plasticity, free and nudged phases, resets, and mini-batch update windows.

Populations (all rates dimensionless, r = σ(u) = clip(u, 0, 1) for pyramidal cells):

* ``X`` input, clamped to the sample during every phase:                        r_x = clamp_x · x
* ``H`` hidden pyramidal cells, basal and apical compartments as input currents:
      τ du_h/dt = −g_L u_h + g_B (W_xhᵀ r_x − u_h) + g_A (W_fbᵀ r_o − u_h) − W_ihᵀ r_i
* ``I`` inhibitory interneurons driven by the hidden layer:   τ du_i/dt = −u_i + W_hiᵀ r_h,  r_i = max(u_i, 0)
* ``O`` output cells, nudged toward the one-hot label y in the nudged phase:
      τ du_o/dt = −u_o + W_hoᵀ r_h + nudge · β (y − r_o)

Every trial starts from u = 0 (reset ``zero``). The free phase ends with a snapshot of the rates (gate
``snapshot``); the nudged phase ends by accumulating the contrastive Hebbian terms (gate ``accumulate``)

      ΔW_xh ∝ r_x (r_h^nud − r_h^free)ᵀ,   ΔW_ho ∝ r_h^nud r_o^nudᵀ − r_h^free r_o^freeᵀ,

which are applied, averaged over the window and scaled by lr/β, after every ``batch`` trials. W_fb, W_hi
and W_ih are fixed. All inputs to a step come from the previous step's rates (Brian2's synchronous update),
and both simulators integrate with forward Euler.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from neuromorph.circuit import Circuit, Trace, Trainer, TrialData
from neuromorph.errors import ConfigError, ShapeError
from neuromorph.phases import Phase, PhaseSchedule

__all__ = ["TwoCompParams", "TwoComp", "TwoCompTrainer"]

PLASTIC = ("W_xh", "W_ho")
FIXED = ("W_fb", "W_hi", "W_ih")


@dataclass(frozen=True)
class TwoCompParams:
    n_in: int = 8
    n_hidden: int = 12
    n_inh: int = 4
    n_out: int = 3
    dt_over_tau: float = 0.2
    g_leak: float = 0.1
    g_basal: float = 1.0
    g_apical: float = 0.3
    beta: float = 0.5
    lr_xh: float = 0.2
    lr_ho: float = 0.2
    inhibition: float = 0.2  # scale of W_hi and W_ih
    t_free: int = 20
    t_nudged: int = 10
    batch: int = 4


class TwoComp(Circuit):
    name = "twocomp"
    Params = TwoCompParams
    description = "neuromorph's demo: two-compartment rate cells, interneurons, phase-gated Hebbian learning"

    def validate(self):
        p = self.params
        for key in ("n_in", "n_hidden", "n_inh", "n_out", "t_free", "t_nudged", "batch"):
            if getattr(p, key) < 1:
                raise ConfigError(f"twocomp: {key} must be >= 1, got {getattr(p, key)}")
        if not 0 < p.dt_over_tau <= 1:
            raise ConfigError(f"twocomp: dt_over_tau must be in (0, 1] for stable Euler steps, got {p.dt_over_tau}")
        if p.beta == 0:
            raise ConfigError("twocomp: beta must be non-zero (weight updates are divided by it)")

    @property
    def schedule(self) -> PhaseSchedule:
        p = self.params
        return PhaseSchedule(
            (
                Phase("free", p.t_free, nudge=0.0, clamp=("x",), resets=("zero",), gates=("snapshot",)),
                Phase("nudged", p.t_nudged, nudge=1.0, clamp=("x",), gates=("accumulate",)),
            ),
            trials_per_update=p.batch,
        )

    def plastic_names(self):
        return PLASTIC

    # ---- weights and data --------------------------------------------------------------------------------
    def initial_weights(self, seed: int) -> dict[str, np.ndarray]:
        p = self.params
        rng = np.random.default_rng(seed)

        def glorot(n_pre, n_post):
            a = np.sqrt(6.0 / (n_pre + n_post))
            return rng.uniform(-a, a, size=(n_pre, n_post))

        return {
            "W_xh": glorot(p.n_in, p.n_hidden),
            "W_ho": glorot(p.n_hidden, p.n_out),
            "W_fb": glorot(p.n_out, p.n_hidden),
            "W_hi": p.inhibition * rng.uniform(0, 1, size=(p.n_hidden, p.n_inh)),
            "W_ih": p.inhibition * rng.uniform(0, 1, size=(p.n_inh, p.n_hidden)),
        }

    def example_data(self, n_trials: int, seed: int) -> TrialData:
        p = self.params
        rng = np.random.default_rng(seed + 1)
        labels = rng.integers(0, p.n_out, size=n_trials)
        return {"x": rng.uniform(0, 1, size=(n_trials, p.n_in)), "y": np.eye(p.n_out)[labels]}

    def _check_data(self, data: TrialData) -> int:
        p = self.params
        x, y = np.asarray(data["x"]), np.asarray(data["y"])
        if x.ndim != 2 or x.shape[1] != p.n_in:
            raise ShapeError(f"twocomp: inputs x have shape {x.shape}, expected (n_trials, n_in={p.n_in})")
        if y.shape != (x.shape[0], p.n_out):
            raise ShapeError(f"twocomp: targets y have shape {y.shape}, expected (n_trials={x.shape[0]}, n_out={p.n_out})")
        return x.shape[0]

    # ---- Brian2 model --------------------------------------------------------------------------------------
    def build_brian(self, weights, data):
        from brian2 import NeuronGroup, Synapses, TimedArray, second

        from neuromorph.brian import BrianModel, set_weight_matrix

        p, sch = self.params, self.schedule
        self.check_weights(weights)
        n_trials = self._check_data(data)
        T, dt = sch.trial_steps, self.dt
        tau = dt / p.dt_over_tau
        # One row per trial: TimedArray with dt = one trial (rows clamp after the end, never read).
        x_in = TimedArray(np.asarray(data["x"], float), dt=T * dt * second, name="x_in")
        y_in = TimedArray(np.asarray(data["y"], float), dt=T * dt * second, name="y_in")
        flags = sch.brian_flags()

        X = NeuronGroup(p.n_in, flags + "\nr = clamp_x*x_in(t, i) : 1", name="X")
        H = NeuronGroup(
            p.n_hidden,
            flags
            + f"""
            du/dt = (-{p.g_leak!r}*u + {p.g_basal!r}*(I_basal - u) + {p.g_apical!r}*(I_apical - u) - I_inh)/tau : 1
            r = clip(u, 0, 1) : 1
            I_basal : 1
            I_apical : 1
            I_inh : 1
            r_free : 1
            """,
            method="euler",
            name="H",
        )
        Inh = NeuronGroup(
            p.n_inh,
            flags + "\ndu/dt = (-u + I_exc)/tau : 1\nr = clip(u, 0, inf) : 1\nI_exc : 1",
            method="euler",
            name="Inh",
        )
        O = NeuronGroup(
            p.n_out,
            flags
            + f"""
            du/dt = (-u + I_ff + nudge*{p.beta!r}*(y_in(t, i) - r))/tau : 1
            r = clip(u, 0, 1) : 1
            I_ff : 1
            r_free : 1
            """,
            method="euler",
            name="O",
        )
        for G in (H, Inh, O):
            # 'start' slot of a trial's first step: state starts from zero before the step's update.
            G.run_regularly("u = u*(1 - reset_zero)", when="start", name=f"{G.name}_reset")
        for G in (H, O):
            G.run_regularly("r_free = gate_snapshot*r + (1 - gate_snapshot)*r_free", when="end", order=0, name=f"{G.name}_snapshot")

        def projection(pre, post, target, name):
            S = Synapses(pre, post, f"w : 1\nacc : 1\n{target}_post = w*r_pre : 1 (summed)", name=name)
            set_weight_matrix(S, weights[name])
            return S

        W_xh = projection(X, H, "I_basal", "W_xh")
        W_ho = projection(H, O, "I_ff", "W_ho")
        W_fb = projection(O, H, "I_apical", "W_fb")
        W_hi = projection(H, Inh, "I_exc", "W_hi")
        W_ih = projection(Inh, H, "I_inh", "W_ih")
        # Contrastive Hebbian terms, accumulated per trial and applied once per window (order: after the
        # snapshot of this step, before nothing else).
        W_xh.run_regularly("acc += gate_accumulate_post*r_pre*(r_post - r_free_post)", when="end", order=1, name="W_xh_acc")
        W_ho.run_regularly(
            "acc += gate_accumulate_post*(r_pre*r_post - r_free_pre*r_free_post)", when="end", order=1, name="W_ho_acc"
        )
        for S, lr in ((W_xh, p.lr_xh), (W_ho, p.lr_ho)):
            S.run_regularly(
                f"w += apply_update_post*{lr / (p.beta * p.batch)!r}*acc\nacc = acc*(1 - apply_update_post)",
                when="end",
                order=2,
                name=f"{S.name}_apply",
            )
        return BrianModel(
            objects=[X, H, Inh, O, W_xh, W_ho, W_fb, W_hi, W_ih],
            schedule=sch,
            n_trials=n_trials,
            dt=dt,
            state_probes={"u_h": (H, "u"), "u_i": (Inh, "u"), "u_o": (O, "u")},
            weight_probes={"W_xh": (W_xh, (p.n_in, p.n_hidden), "w"), "W_ho": (W_ho, (p.n_hidden, p.n_out), "w")},
            inputs={"x": x_in, "y": y_in},
            namespace={"x_in": x_in, "y_in": y_in, "tau": tau * second},
        )

    # ---- torch reference -------------------------------------------------------------------------------------
    def _window(self, W, x, y, record=None):
        """One update window in torch: its trials integrated side by side (weights are constant within it).

        Returns the accumulated contrastive Hebbian terms; fills ``record[name][:, k]`` if given.
        """
        p = self.params
        a = p.dt_over_tau
        nb = x.shape[0]
        u_h = x.new_zeros(nb, p.n_hidden)
        u_i = x.new_zeros(nb, p.n_inh)
        u_o = x.new_zeros(nb, p.n_out)
        rf_h, rf_o = torch.zeros_like(u_h), torch.zeros_like(u_o)
        acc = {k: torch.zeros_like(W[k]) for k in PLASTIC}
        for step in self.schedule.steps():
            if "zero" in step.resets:
                u_h, u_i, u_o = torch.zeros_like(u_h), torch.zeros_like(u_i), torch.zeros_like(u_o)
            r_x = x if step.clamped("x") else torch.zeros_like(x)
            r_h, r_i, r_o = u_h.clamp(0, 1), u_i.clamp(min=0), u_o.clamp(0, 1)
            basal, apical, inh = r_x @ W["W_xh"], r_o @ W["W_fb"], r_i @ W["W_ih"]
            du_h = -p.g_leak * u_h + p.g_basal * (basal - u_h) + p.g_apical * (apical - u_h) - inh
            du_i = -u_i + r_h @ W["W_hi"]
            du_o = -u_o + r_h @ W["W_ho"] + step.nudge * p.beta * (y - r_o)
            u_h, u_i, u_o = u_h + a * du_h, u_i + a * du_i, u_o + a * du_o
            r_h, r_o = u_h.clamp(0, 1), u_o.clamp(0, 1)
            if "snapshot" in step.gates:
                rf_h, rf_o = r_h, r_o
            if "accumulate" in step.gates:
                acc["W_xh"] += r_x.T @ (r_h - rf_h)
                acc["W_ho"] += r_h.T @ r_o - rf_h.T @ rf_o
            if record is not None:
                record["u_h"][:, step.k], record["u_i"][:, step.k], record["u_o"][:, step.k] = u_h, u_i, u_o
        return acc, rf_o

    def _apply(self, W, acc, n_trials, lr_scale=1.0):
        p = self.params
        W["W_xh"] = W["W_xh"] + lr_scale * p.lr_xh / (p.beta * n_trials) * acc["W_xh"]
        W["W_ho"] = W["W_ho"] + lr_scale * p.lr_ho / (p.beta * n_trials) * acc["W_ho"]

    def simulate_reference(self, weights, data, dtype=torch.float64) -> Trace:
        """The same circuit in torch, a window of ``batch`` trials integrated in parallel.

        Within a window the weights are constant, so running its trials side by side is the same computation
        as Brian2 running them one after another.
        """
        p, sch = self.params, self.schedule
        self.check_weights(weights)
        n_trials = self._check_data(data)
        B, T = p.batch, sch.trial_steps
        W = {k: torch.as_tensor(np.asarray(v), dtype=dtype) for k, v in weights.items()}
        x_all = torch.as_tensor(np.asarray(data["x"]), dtype=dtype)
        y_all = torch.as_tensor(np.asarray(data["y"]), dtype=dtype)
        rec = {n: torch.zeros(n_trials, T, m, dtype=dtype) for n, m in (("u_h", p.n_hidden), ("u_i", p.n_inh), ("u_o", p.n_out))}
        history = {k: [] for k in PLASTIC}
        for start in range(0, n_trials, B):
            sl = slice(start, min(start + B, n_trials))
            window_rec = {k: v[sl] for k, v in rec.items()}  # views: _window writes into rec
            acc, _ = self._window(W, x_all[sl], y_all[sl], record=window_rec)
            if sl.stop - sl.start == B:  # a full window: Brian2 applies the update at its last step too
                self._apply(W, acc, B)
                for k in PLASTIC:
                    history[k].append(W[k].clone())
        return Trace(
            states={k: v.numpy() for k, v in rec.items()},
            weights={k: (torch.stack(v).numpy() if v else np.zeros((0, *W[k].shape))) for k, v in history.items()},
        )

    def predict_rates(self, weights, x, dtype=torch.float64) -> np.ndarray:
        """Output rates at the end of the free phase (the circuit's readout), for samples x."""
        p = self.params
        W = {k: torch.as_tensor(np.asarray(v), dtype=dtype) for k, v in weights.items()}
        x = torch.as_tensor(np.asarray(x), dtype=dtype)
        _, r_free = self._window(W, x, x.new_zeros(x.shape[0], p.n_out))
        return r_free.numpy()

    def make_trainer(self, n_in, n_classes, seed, dtype=torch.float32):
        if (n_in, n_classes) != (self.params.n_in, self.params.n_out):
            raise ShapeError(
                f"twocomp is configured for n_in={self.params.n_in}, n_out={self.params.n_out} but the data has "
                f"{n_in} features and {n_classes} classes; set params.n_in = {n_in} and params.n_out = {n_classes}"
            )
        return TwoCompTrainer(self, seed, dtype)


    # ---- spiking twin (inference, free phase only) ------------------------------------------------------------
    def _free_rates(self, weights, x) -> dict[str, np.ndarray]:
        """The rate model's rates at the end of the free phase: {"H", "Inh", "O"} -> (n, n_units).

        A free-only pass of :meth:`simulate_reference` (learning rates 0, one window, a 1-step nudged phase
        whose states are ignored).
        """
        import dataclasses

        p = self.params
        x = self._check_x(x)
        n = x.shape[0]
        free_only = TwoComp(dataclasses.replace(p, lr_xh=0.0, lr_ho=0.0, batch=n, t_nudged=1))
        trace = free_only.simulate_reference(weights, {"x": x, "y": np.zeros((n, p.n_out))})
        k = p.t_free - 1
        return {
            "H": np.clip(trace.states["u_h"][:, k], 0, 1),
            "Inh": np.clip(trace.states["u_i"][:, k], 0, None),
            "O": np.clip(trace.states["u_o"][:, k], 0, 1),
        }

    def _check_x(self, x) -> np.ndarray:
        x = np.asarray(x, dtype=float)
        if x.ndim != 2 or x.shape[1] != self.params.n_in or x.shape[0] < 1:
            raise ShapeError(f"twocomp: inputs x have shape {x.shape}, expected (n_trials, n_in={self.params.n_in})")
        return x

    def predict_rate(self, weights, x) -> np.ndarray:
        """argmax of the output rates at the end of the free phase (ties → lowest index)."""
        self.check_weights(weights)
        return np.argmax(self._free_rates(weights, x)["O"], axis=1)

    def build_spiking_brian(self, weights, x, *, encoding="poisson", t_sample=0.2, r_max=None, tau_syn=None):
        """Spiking twin of the free phase: one trial of ``t_sample`` s per row of ``x``.

        X fires at r_max·x; H, Inh and O integrate the rate model's soma equations (same τ, g_L, g_B, g_A),
        with each summed input replaced by a synaptic trace of time constant ``tau_syn`` (one per pathway:
        I_basal ← X, I_apical ← O, I_inh ← Inh; I_exc ← H; I_ff ← H) and fire at r_max·σ(u) (σ = clip(u, 0, 1);
        interneurons clip(u, 0, ∞)). Every trial starts from u = 0 with empty traces. The prediction is the
        argmax of O's spike count over the last half of the trial (``readout_fraction`` 0.5: the first half
        lets the traces, τ_syn, settle). Reference rates: the rate model at the end of its free phase.
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
        )

        p = self.params
        self.check_weights(weights)
        x = self._check_x(x)
        r_max = DEFAULT_R_MAX if r_max is None else float(r_max)
        tau_syn = DEFAULT_TAU_SYN if tau_syn is None else float(tau_syn)
        dt = self.dt
        tau = dt / p.dt_over_tau
        sch = inference_schedule(t_sample, dt, clamp=("x",))
        T = sch.trial_steps
        enc = make_encoder(encoding, r_max=r_max)
        r_max = enc.r_max  # an encoder instance brings its own
        x_in = TimedArray(x, dt=T * dt * second, name="x_in")
        flags = sch.brian_flags()
        # Interneuron rates are unbounded (clip(u, 0, inf)); with r_h <= 1 they stay below the largest
        # positive column sum of W_hi.
        inh_bound = max(1.0, float(np.clip(np.asarray(weights["W_hi"]), 0, None).sum(axis=0).max()))
        common = dict(dt=dt, r_max=r_max, tau_syn=tau_syn)
        eq = {
            "X": spiking_group_equations("clamp_x*x_in(t, i)", enc, rate_bound=max(1.0, float(x.max())), **common),
            "H": spiking_group_equations(
                "clip(u, 0, 1)",
                enc,
                dynamics=f"du/dt = (-{p.g_leak!r}*u + {p.g_basal!r}*(I_basal - u) + {p.g_apical!r}*(I_apical - u) - I_inh)/({tau!r}*second) : 1",
                inputs=("I_basal", "I_apical", "I_inh"),
                **common,
            ),
            "Inh": spiking_group_equations(
                "clip(u, 0, inf)", enc, dynamics=f"du/dt = (-u + I_exc)/({tau!r}*second) : 1", inputs=("I_exc",),
                rate_bound=inh_bound, **common,
            ),
            "O": spiking_group_equations(
                "clip(u, 0, 1)", enc, dynamics=f"du/dt = (-u + I_ff)/({tau!r}*second) : 1", inputs=("I_ff",), **common
            ),
        }
        sizes = {"X": p.n_in, "H": p.n_hidden, "Inh": p.n_inh, "O": p.n_out}
        groups = {
            k: eq[k].make_group(sizes[k], f"spk_{k}", header=flags, reset_flag="reset_zero", reset_vars=() if k == "X" else ("u",))
            for k in sizes
        }
        syns, projs = [], []
        for name, pre, post, target in (
            ("W_xh", "X", "H", "I_basal"),
            ("W_ho", "H", "O", "I_ff"),
            ("W_fb", "O", "H", "I_apical"),
            ("W_hi", "H", "Inh", "I_exc"),
            ("W_ih", "Inh", "H", "I_inh"),
        ):
            S, proj = spike_projection(
                groups[pre], groups[post], weights[name], target, r_max=r_max, tau_syn=tau_syn,
                name=f"spk_{name}", pre_name=pre, post_name=post,
            )
            syns.append(S)
            projs.append(proj)
        return SpikingModel.assemble(
            populations=groups,
            synapses=syns,
            schedule=sch,
            dt=dt,
            x_in=x_in,
            encoders={k: e.encoder for k, e in eq.items()},
            projections=projs,
            output="O",
            t_sample=float(t_sample),
            compared=("H", "Inh", "O"),
            readout_fraction=0.5,
            reference_rates=self._free_rates(weights, x),
            rate_steps=p.t_free,
            info={"encoding": enc.encoding, "r_max": r_max, "tau_syn": tau_syn},
        )


class TwoCompTrainer(Trainer):
    """Mini-batch training of twocomp with its torch form (one update window = one mini-batch)."""

    def __init__(self, circuit: TwoComp, seed: int, dtype=torch.float32):
        self.circuit, self.seed, self.dtype = circuit, seed, dtype
        self.W = {k: torch.as_tensor(v, dtype=dtype) for k, v in circuit.initial_weights(seed).items()}

    def train_epoch(self, x, y, epoch, progress=None):
        c = self.circuit
        x = np.asarray(x)
        if x.ndim != 2 or x.shape[1] != c.params.n_in:
            raise ShapeError(f"twocomp trainer: x has shape {x.shape}, expected (n, {c.params.n_in})")
        order = np.random.default_rng([self.seed, epoch]).permutation(len(x))
        B = c.params.batch
        n_out = c.params.n_out
        for start in range(0, len(order) - B + 1, B):
            idx = order[start : start + B]
            xb = torch.as_tensor(x[idx], dtype=self.dtype)
            yb = torch.as_tensor(np.eye(n_out)[np.asarray(y)[idx]], dtype=self.dtype)
            acc, _ = c._window(self.W, xb, yb)
            c._apply(self.W, acc, B)
            if progress is not None:
                progress(B)
        return {}

    def predict(self, x):
        return self.circuit.predict_rates(self.weights(), x).argmax(axis=1)

    def weights(self):
        return {k: v.double().numpy().copy() for k, v in self.W.items()}

    def state_dict(self):
        return {"weights": self.weights()}

    def load_state_dict(self, state):
        self.W = {k: torch.as_tensor(v, dtype=self.dtype) for k, v in state["weights"].items()}
