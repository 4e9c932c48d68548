"""CorInfoMax (Bozkurt, Pehlevan, Erdogan 2023) as a Brian2 equation model and an independent torch reference.

Variants (``params.variant``):

* ``"dense"``  - CorInfoMax-B∞,+: clipped-ReLU rates r = σ₊(u) = clip(u, 0, 1) (eqs. 15-21, Algorithm 1);
* ``"sparse"`` - CorInfoMax-B1,+: ReLU rates plus one inhibitory interneuron per layer (a, q = ReLU(a))
  enforcing the ℓ1 bound (Appendix I, eqs. A.49-A.51, Algorithm 2).

Lateral plasticity (``params.lateral_update``):

* ``"B"``  - eq. (28) on the inverse-correlation matrix B directly (what the authors' code does);
* ``"DO"`` - eqs. (29)-(30): autapses D (diagonal, ``condition='i == j'``) and lateral-inhibition synapses O
  (off-diagonal, ``condition='i != j'``) with M = D − O. The same numbers as "B" up to rounding.

The math follows the authors' code where the paper is ambiguous (../shared/notes/reference-code.md §1.3-1.5).
For layer k with rates r^(k), iteration step μ_u[s], ε, g = g_lk, γ = (1−λ)/λ:

  hidden (k < P): Δu = μ[−g u + g r + 2γ B r + (1/ε)(W_ff r^(k−1) − u) + (1/ε)(W_fb r^(k+1) − u)  (− q)]
  output (k = P): Δu = μ[−g u + g r +  γ B r + (1/ε)(W_ff r^(P−1) − u) − u − β (r − y)             (− q)]

i.e. eq. (19) with g_A = g_B = 1/ε, apical v_A = M r + W_fb r^(k+1) (eq. 18, M = ε(2γB + gI)) for hidden
layers, and for the output eq. (21) with the code's apical conductance 1 (not β) and M^(P) = γB + gI.
Sparse: the interneuron of layer k integrates Δa = μ_a(−a + Σ_j r_j − 1 + q) (eq. A.51) from the rates
updated in the same sweep, and inhibits its layer's somata by −q.

Each iteration is a bottom-up Gauss-Seidel sweep: layer k sees r^(k−1) of this sweep and r^(k+1) of the
previous one. A trial is the phase schedule

  free (T_free steps, β = 0, reset u = a = 0) → free_end (1 frozen step, gate ``learn_free``)
  → nudged (T_nudged steps, signed β, reset u := σ(u), a := ReLU(a)) → nudged_end (1 frozen step,
  gate ``learn_nudged``)

where μ_u[s] restarts at s = 0 in each dynamic phase and is 0 in the two frozen phases. The frozen steps
are the circuit's learning gates: there every summed input equals W·r of the phase's final rates, so the
Hebbian terms are local products of synaptic inputs and rates. Every ``batch`` trials (a window with one
signed β) the weights are updated from pre-update values (Algorithm 3, as coded):

  ΔW_ff^(k) = lr_ff[k]·f/B Σ_t (1/β_t)(e→_nud r^(k)_nudᵀ − e→_free r^(k)_freeᵀ),  e→ = r^(k+1) − W_ff^(k) r^(k)  (eq. 26)
  ΔW_fb^(k) = lr_fb[k−1]·f/B Σ_t (1/β_t)(e←_nud r^(k+1)_nudᵀ − e←_free r^(k+1)_freeᵀ), e← = r^(k) − W_fb^(k) r^(k+1) (27)
  B ← λ⁻¹(B − γ⟨z zᵀ⟩), z = B r_nud                                                                         (28)

with f the epoch learning-rate factor (``lr_factor``, 1 in verification).

Weights are (n_pre, n_post) matrices: ``W_ff{k}`` (N_k, N_{k+1}) k = 0..P−1, ``W_fb{k}`` (N_{k+1}, N_k)
k = 1..P−1, ``B{k}`` (N_k, N_k) k = 1..P. With ``lateral_update="DO"`` a trace reports ``D{k}`` as (1, N_k)
(the diagonal) and ``O{k}`` as (N_k, N_k − 1) (the off-diagonal entries of each pre row, posts ascending;
the synapse order of ``connect(condition='i != j')``) instead of ``B{k}``; :meth:`CorInfoMax.lateral_do`
converts B matrices into that layout.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch

from neuromorph.circuit import Circuit, Trace, TrialData, make_params
from neuromorph.errors import ConfigError, ShapeError
from neuromorph.phases import Phase, PhaseSchedule

from .params import VARIANTS, CorInfoMaxParams

__all__ = ["CorInfoMax", "CorInfoMaxSparse", "verification_instance", "DYNAMIC_PHASES"]

DYNAMIC_PHASES = ("free", "nudged")  # phases with neural dynamics; free_end / nudged_end are frozen
_NAMES = {"corinfomax": "dense", "corinfomax-sparse": "sparse", "dense": "dense", "sparse": "sparse"}


def _verification_overrides(variant: str, layers: int, lateral_update: str) -> dict:
    """Small sizes, a forgetting factor far from 1 (so γB matters numerically) and a few windows' worth of steps."""
    if layers not in (2, 3):
        raise ConfigError(f"verification instances have 2 or 3 layers, got {layers!r}")
    if layers == 2:
        sizes, lr_ff, lr_fb = (12, 8, 4), (0.3, 0.22), (0.07,)
    else:
        sizes, lr_ff, lr_fb = (12, 8, 6, 4), (0.3, 0.22, 0.15), (0.07, 0.05)
    return dict(
        variant=variant,
        lateral_update=lateral_update,
        sizes=sizes,
        lr_ff=lr_ff,
        lr_fb=lr_fb,
        lam=0.99,  # γ ≈ 0.0101 instead of 1e-5
        t_free=20,
        t_nudged=8,
        mu_u=0.07,
        mu_u_rule="decay",
        mu_a=(0.05, 0.05),  # interneurons visibly active (the paper's hidden 1e-6 would be inert here)
        batch=3,
    )


class CorInfoMax(Circuit):
    """CorInfoMax-B∞,+ (``variant="dense"``) or -B1,+ (``variant="sparse"``): Brian2 model + torch reference."""

    name = "corinfomax"
    Params = CorInfoMaxParams
    description = "CorInfoMax (Bozkurt et al. 2023): three-compartment rate network, contrastive Hebbian learning"

    # ---- structure ----------------------------------------------------------------------------------------
    @property
    def schedule(self) -> PhaseSchedule:
        p = self.params
        return PhaseSchedule(
            (
                Phase("free", p.t_free, nudge=0.0, clamp=("x",), resets=("zero",)),
                Phase("free_end", 1, nudge=0.0, clamp=("x",), gates=("learn_free",)),
                Phase("nudged", p.t_nudged, nudge=1.0, clamp=("x",), resets=("from_free",)),
                Phase("nudged_end", 1, nudge=0.0, clamp=("x",), gates=("learn_nudged",)),
            ),
            trials_per_update=p.batch,
        )

    def lateral_coefficients(self, k: int) -> tuple[float, float]:
        """(c, h) with M^(k) = c·B^(k) + h·I: hidden ε(2γB + gI) (eq. 18), output γB + gI (eq. 21, code's g_A = 1)."""
        p = self.params
        if k < p.n_layers:
            return 2.0 * p.epsilon * p.gamma, p.epsilon * p.g_lk
        return p.gamma, p.g_lk

    def weight_shapes(self) -> dict[str, tuple[int, int]]:
        """Every weight matrix initial_weights returns, with its (n_pre, n_post) shape."""
        N, P = self.params.sizes, self.params.n_layers
        shapes = {f"W_ff{k}": (N[k], N[k + 1]) for k in range(P)}
        shapes.update({f"W_fb{k}": (N[k + 1], N[k]) for k in range(1, P)})
        shapes.update({f"B{k}": (N[k], N[k]) for k in range(1, P + 1)})
        return shapes

    def plastic_names(self) -> tuple[str, ...]:
        """Names of the matrices a trace reports after every update."""
        P = self.params.n_layers
        names = [f"W_ff{k}" for k in range(P)] + [f"W_fb{k}" for k in range(1, P)]
        if self.params.lateral_update == "B":
            names += [f"B{k}" for k in range(1, P + 1)]
        else:
            names += [f"{m}{k}" for k in range(1, P + 1) for m in ("D", "O")]
        return tuple(names)

    def lateral_do(self, weights: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """``B{k}`` matrices (or stacks of them) → ``D{k}`` (..., 1, N) and ``O{k}`` (..., N, N−1) with M = D − O."""
        out = {}
        for k in range(1, self.params.n_layers + 1):
            B = np.asarray(weights[f"B{k}"], dtype=float)
            c, h = self.lateral_coefficients(k)
            n = B.shape[-1]
            M = c * B + h * np.eye(n)
            out[f"D{k}"] = np.diagonal(M, axis1=-2, axis2=-1)[..., None, :].copy()
            off = ~np.eye(n, dtype=bool)
            out[f"O{k}"] = (-M[..., off]).reshape(*B.shape[:-2], n, n - 1)
        return out

    # ---- checks ---------------------------------------------------------------------------------------------
    def _check_data(self, data: TrialData) -> int:
        N = self.params.sizes
        for key in ("x", "y", "beta"):
            if key not in data:
                raise ShapeError(f"{self.name}: data needs 'x' (n_trials, N_0), 'y' (n_trials, N_P), 'beta' (n_trials,); missing {key!r}")
        x, y, beta = (np.asarray(data[k]) for k in ("x", "y", "beta"))
        if x.ndim != 2 or x.shape[1] != N[0]:
            raise ShapeError(f"{self.name}: inputs 'x' have shape {x.shape}, expected (n_trials, N_0={N[0]})")
        n = x.shape[0]
        if y.shape != (n, N[-1]):
            raise ShapeError(f"{self.name}: targets 'y' have shape {y.shape}, expected (n_trials={n}, N_P={N[-1]})")
        if beta.shape != (n,):
            raise ShapeError(f"{self.name}: 'beta' has shape {beta.shape}, expected (n_trials={n},)")
        if np.any(beta == 0):
            raise ConfigError(f"{self.name}: every trial's signed beta must be non-zero (updates are divided by it)")
        return n

    # ---- weights and data ------------------------------------------------------------------------------------
    def initial_weights(self, seed: int) -> dict[str, np.ndarray]:
        """The fast trainer's initialisation (Xavier W_ff/W_fb, B = AAᵀ), so both paths start identically."""
        from . import fast

        weights = fast.initial_weights(self.params, seed)
        weights = {k: np.asarray(v, dtype=float) for k, v in weights.items()}
        self.check_weights(weights)
        return weights

    def example_data(self, n_trials: int, seed: int) -> TrialData:
        """Inputs uniform in [0, 1], one-hot labels, one random-sign β per window of ``batch`` trials."""
        p = self.params
        rng = np.random.default_rng(seed + 12345)
        x = rng.uniform(0.0, 1.0, size=(n_trials, p.sizes[0]))
        labels = rng.integers(0, p.sizes[-1], size=n_trials)
        n_windows = -(-n_trials // p.batch)
        signs = rng.choice([-1.0, 1.0], size=n_windows) if p.random_sign_beta else np.ones(n_windows)
        beta = np.repeat(signs * p.beta, p.batch)[:n_trials]
        return {"x": x, "y": np.eye(p.sizes[-1])[labels], "beta": beta}

    def make_trainer(self, n_in: int, n_classes: int, seed: int, dtype=torch.float32):
        """The fast batched trainer (circuits/corinfomax/fast.py) with this circuit's parameters."""
        from .fast import CorInfoMaxTrainer

        p = self.params
        if (n_in, n_classes) != (p.sizes[0], p.sizes[-1]):
            raise ShapeError(
                f"{self.name} has sizes {list(p.sizes)} but the data has {n_in} features and {n_classes} classes; "
                f"set params.sizes = [{n_in}, ..., {n_classes}]"
            )
        return CorInfoMaxTrainer(p, seed, dtype=dtype)

    # ---- verification instances --------------------------------------------------------------------------------
    @classmethod
    def verification_instance(cls, layers: int = 2, variant: str | None = None, lateral_update: str = "B", **overrides):
        """A small instance (sizes (12, 8, 4) or (12, 8, 6, 4), λ = 0.99, batch 3) for equivalence checks."""
        if variant is None:
            variant = "sparse" if issubclass(cls, CorInfoMaxSparse) else "dense"
        kw = _verification_overrides(variant, layers, lateral_update)
        kw.update(overrides)
        return cls(make_params(CorInfoMaxParams, kw, where=f"{cls.name} verification parameters"))

    def verification_circuit(self) -> CorInfoMax:
        """The small instance of this circuit's variant and lateral form (the CLI's `neuromorph verify`)."""
        layers = 3 if self.params.n_layers >= 3 else 2
        return type(self).verification_instance(layers, self.params.variant, self.params.lateral_update)

    # ---- Brian2 model ------------------------------------------------------------------------------------------
    def build_brian(self, weights, data, lr_factor: float = 1.0):
        """One NeuronGroup per layer (compartments as state variables), synapses with summed inputs.

        Gauss-Seidel within a time step comes from Brian2's schedule: a summed variable is computed in the
        'groups' slot at order (target.order − 1). Layer k has order 4k, so its inputs are summed at 4k − 1:
        after layer k−1's state update (order 4k − 4) and before layer k+1's (order 4k + 4). The sparse
        variant's interneuron of layer k has order 4k + 2: it sums the rates layer k produced in this sweep
        (at 4k + 1) and updates before layer k's next sweep reads its q.
        """
        from brian2 import NeuronGroup, Synapses, TimedArray, second

        from neuromorph.brian import BrianModel, set_weight_matrix

        p, sch = self.params, self.schedule
        self.check_weights(weights)
        n_trials = self._check_data(data)
        P, N = p.n_layers, p.sizes
        T, dt = sch.trial_steps, self.dt
        sparse, DO = p.variant == "sparse", p.lateral_update == "DO"
        eps, g, gam, lam, B = p.epsilon, p.g_lk, p.gamma, p.lam, p.batch

        # Per-trial rows (TimedArray dt = one trial); β is one value per trial.
        x_in = TimedArray(np.asarray(data["x"], float), dt=T * dt * second, name="x_in")
        y_in = TimedArray(np.asarray(data["y"], float), dt=T * dt * second, name="y_in")
        beta_in = TimedArray(np.asarray(data["beta"], float), dt=T * dt * second, name="beta_in")
        flags = sch.brian_flags()
        s_nud = sch.start("nudged")
        # Iteration index s within the current dynamic phase (restarts at 0 in each; 0 in frozen phases).
        s_iter = f"s_iter = in_free*k + in_nudged*(k - {s_nud}) : 1 (constant over dt)"
        dynamic = "(in_free + in_nudged)"
        if p.mu_u_rule == "constant":
            mu = f"mu = {dynamic}*{p.mu_u!r} : 1 (constant over dt)"
        else:  # μ_u[s] = max(μ0/(0.01 s + 1), 1e-3) (App. J, code's divide_by_slow_loop_index)
            mu = f"mu = {dynamic}*clip({p.mu_u!r}/(0.01*s_iter + 1), 0.001, inf) : 1 (constant over dt)"
        sigma = "clip(u, 0, inf)" if sparse else "clip(u, 0, 1)"  # eq. A.50 ReLU / eq. 20 σ₊

        layers = [NeuronGroup(N[0], flags + "\nr = clamp_x*x_in(t, i) : 1", name="layer0", order=0)]
        for k in range(1, P + 1):
            c, h = self.lateral_coefficients(k)
            if DO:
                lateral, z = "(I_D - I_O)", f"z = (I_D - I_O - {h!r}*r)/{c!r} : 1"  # App. F: z = B r from M r
                lateral_inputs = "I_D : 1\nI_O : 1"
            else:
                lateral, z = f"({c!r}*I_lat + {h!r}*r)", "z = I_lat : 1"  # z = B r (eq. 28)
                lateral_inputs = "I_lat : 1"
            inhibition = "I_q" if sparse else "0"
            if k < P:
                # eq. 18: v_A = M r + W_fb r^(k+1) (− ε q, App. I); eq. 19 with g_A = g_B = 1/ε.
                v_A = f"v_A = {lateral} + I_fb - {eps!r}*{inhibition} : 1"
                g_A, extra = 1.0 / eps, "I_fb : 1"
            else:
                # eq. 21 as coded: apical conductance 1, v_A = M^(P) r − β(r − y) (− q).
                v_A = f"v_A = {lateral} - nudge*beta_in(t)*(r - y_in(t, i)) - {inhibition} : 1"
                g_A, extra = 1.0, ""
            eqs = "\n".join(
                [
                    flags,
                    s_iter,
                    mu,
                    # eq. 19; one Euler step = one iteration of Algorithm 1: u += μ_u[s]·(τ du/ds).
                    f"du/dt = mu*(-{g!r}*u + {g_A!r}*(v_A - u) + {1.0 / eps!r}*(v_B - u))/dt : 1",
                    f"r = {sigma} : 1",
                    v_A,
                    z,
                    "v_B : 1  # basal: W_ff r^(k-1), eq. 18",
                    lateral_inputs,
                    extra,
                    "I_q : 1" if sparse else "",
                ]
            )
            G = NeuronGroup(N[k], eqs, method="euler", name=f"layer{k}", order=4 * k)
            # 'start' slot of a phase's first step: the free phase starts from zero, the nudged phase from the
            # free phase's rates (u := σ(u), code: neurons_intermediate = copy of the clipped rates).
            G.run_regularly(
                f"u = u*(1 - reset_zero)\nu = reset_from_free*{sigma} + (1 - reset_from_free)*u",
                when="start",
                name=f"layer{k}_reset",
            )
            layers.append(G)

        inter = {}
        if sparse:
            for k in range(1, P + 1):
                mu_a = p.mu_a[1] if k == P else p.mu_a[0]
                I = NeuronGroup(
                    1,
                    "\n".join(
                        [
                            flags,
                            f"mu_a = {dynamic}*{mu_a!r} : 1 (constant over dt)",
                            "da/dt = mu_a*(-a + S_r - 1 + q)/dt : 1  # eq. A.51",
                            "q = clip(a, 0, inf) : 1",
                            "S_r : 1  # sum of layer k's rates",
                        ]
                    ),
                    method="euler",
                    name=f"inter{k}",
                    order=4 * k + 2,
                )
                I.run_regularly(
                    "a = a*(1 - reset_zero)\na = reset_from_free*clip(a, 0, inf) + (1 - reset_from_free)*a",
                    when="start",
                    name=f"inter{k}_reset",
                )
                inter[k] = I

        objects = list(layers) + list(inter.values())
        weight_probes = {}
        contrast = "(gate_learn_nudged_post - gate_learn_free_post)"

        def hebbian(name, pre, post, target, error, lr):
            # Contrastive Hebbian term (eqs. 26/27): −free product at free_end, +nudged at nudged_end, each
            # divided by the trial's signed β; applied as the window mean on apply_update.
            S = Synapses(
                pre,
                post,
                f"w : 1\nacc : 1\nlr_scale : 1 (shared, constant)\n{target}_post = w*r_pre : 1 (summed)",
                name=name,
            )
            set_weight_matrix(S, np.asarray(weights[name], float))
            S.lr_scale = float(lr_factor)
            S.run_regularly(f"acc += {contrast}*r_pre*({error})/beta_in(t)", when="end", order=1, name=f"{name}_acc")
            S.run_regularly(
                f"w += apply_update_post*lr_scale*{lr / B!r}*acc\nacc = acc*(1 - apply_update_post)",
                when="end",
                order=2,
                name=f"{name}_apply",
            )
            weight_probes[name] = (S, (len(pre), len(post)), "w")
            objects.append(S)

        for k in range(P):  # feedforward W_ff^(k): layer k → basal of layer k+1; e→ = r^(k+1) − W_ff r^(k)
            hebbian(f"W_ff{k}", layers[k], layers[k + 1], "v_B", "r_post - v_B_post", p.lr_ff[k])
        for k in range(1, P):  # feedback W_fb^(k): layer k+1 → apical of layer k; e← = r^(k) − W_fb r^(k+1)
            hebbian(f"W_fb{k}", layers[k + 1], layers[k], "I_fb", "r_post - I_fb_post", p.lr_fb[k - 1])

        apply = "apply_update_post"
        for k in range(1, P + 1):
            G, n = layers[k], N[k]
            Bk = np.asarray(weights[f"B{k}"], float)
            if not DO:
                S = Synapses(G, G, "w : 1\nacc : 1\nI_lat_post = w*r_pre : 1 (summed)", name=f"B{k}")
                set_weight_matrix(S, Bk)
                S.run_regularly("acc += gate_learn_nudged_post*z_pre*z_post", when="end", order=1, name=f"B{k}_acc")
                # eq. 28: B ← λ⁻¹(B − γ⟨z zᵀ⟩)
                S.run_regularly(
                    f"w = {apply}*((w - {gam!r}*acc/{B})/{lam!r}) + (1 - {apply})*w\nacc = acc*(1 - {apply})",
                    when="end",
                    order=2,
                    name=f"B{k}_apply",
                )
                weight_probes[f"B{k}"] = (S, (n, n), "w")
                objects.append(S)
                continue
            c, h = self.lateral_coefficients(k)
            M = c * Bk + h * np.eye(n)
            # Autapses D (eq. 29) and lateral inhibition O (eq. 30), M = D − O.
            D = Synapses(G, G, "w : 1\nacc : 1\nI_D_post = w*r_pre : 1 (summed)", name=f"D{k}")
            D.connect(condition="i == j")
            D.w = np.diagonal(M).copy()
            O = Synapses(G, G, "w : 1\nacc : 1\nI_O_post = w*r_pre : 1 (summed)", name=f"O{k}")
            O.connect(condition="i != j")
            O.w = -M[~np.eye(n, dtype=bool)]  # pre-major, posts ascending (the connect order)
            for S in (D, O):
                S.run_regularly("acc += gate_learn_nudged_post*z_pre*z_post", when="end", order=1, name=f"{S.name}_acc")
            rate = c * gam / lam
            D.run_regularly(
                f"w = {apply}*(w/{lam!r} - {rate!r}*acc/{B} + {h * (1.0 - 1.0 / lam)!r}) + (1 - {apply})*w\n"
                f"acc = acc*(1 - {apply})",
                when="end",
                order=2,
                name=f"D{k}_apply",
            )
            O.run_regularly(
                f"w = {apply}*(w/{lam!r} + {rate!r}*acc/{B}) + (1 - {apply})*w\nacc = acc*(1 - {apply})",
                when="end",
                order=2,
                name=f"O{k}_apply",
            )
            weight_probes[f"D{k}"] = (D, (1, n), "w")
            weight_probes[f"O{k}"] = (O, (n, n - 1), "w")
            objects += [D, O]

        if sparse:
            for k in range(1, P + 1):
                # The interneuron sums its layer's rates and inhibits every soma of the layer by q.
                Sr = Synapses(layers[k], inter[k], "S_r_post = r_pre : 1 (summed)", name=f"to_inter{k}")
                Sr.connect()
                Sq = Synapses(inter[k], layers[k], "I_q_post = q_pre : 1 (summed)", name=f"from_inter{k}")
                Sq.connect()
                objects += [Sr, Sq]

        state_probes = {f"u{k}": (layers[k], "u") for k in range(1, P + 1)}
        state_probes.update({f"a{k}": (inter[k], "a") for k in inter})
        return BrianModel(
            objects=objects,
            schedule=sch,
            n_trials=n_trials,
            dt=dt,
            state_probes=state_probes,
            weight_probes=weight_probes,
            inputs={"x": x_in, "y": y_in, "beta": beta_in},
            namespace={"x_in": x_in, "y_in": y_in, "beta_in": beta_in},
        )

    # ---- torch reference ----------------------------------------------------------------------------------------
    def simulate_reference(self, weights, data, dtype=torch.float64, lr_factor: float = 1.0) -> Trace:
        """The same trials in torch, one window of ``batch`` trials integrated side by side.

        Weights are constant within a window, so running its trials in parallel is the computation Brian2
        does one trial after the other. Written from the equations (module docstring), not from the builder.
        """
        p, sch = self.params, self.schedule
        self.check_weights(weights)
        n_trials = self._check_data(data)
        P, N, nb_full = p.n_layers, p.sizes, p.batch
        T = sch.trial_steps
        eps, g, gam, lam = p.epsilon, p.g_lk, p.gamma, p.lam
        sparse, DO = p.variant == "sparse", p.lateral_update == "DO"

        def tt(a):
            return torch.as_tensor(np.asarray(a, dtype=float), dtype=dtype)

        def act(u):
            return u.clamp(min=0) if sparse else u.clamp(0, 1)

        Wff = [tt(weights[f"W_ff{k}"]) for k in range(P)]  # (N_k, N_k+1)
        Wfb = {k: tt(weights[f"W_fb{k}"]) for k in range(1, P)}  # (N_k+1, N_k)
        Bm, Dv, Om = {}, {}, {}
        coef = {}
        for k in range(1, P + 1):
            c, h = (2 * eps * gam, eps * g) if k < P else (gam, g)
            coef[k] = (c, h)
            Bk = tt(weights[f"B{k}"])
            if DO:
                M = c * Bk + h * torch.eye(N[k], dtype=dtype)
                Dv[k] = torch.diagonal(M).clone()
                Om[k] = -(M - torch.diag(Dv[k]))
            else:
                Bm[k] = Bk

        def lateral(k, r):
            """The lateral drive of layer k's soma: g r + 2γ B r (hidden) or g r + γ B r (output)."""
            if DO:
                Mr = Dv[k] * r - r @ Om[k]
                return Mr / eps if k < P else Mr
            return g * r + (2 * gam if k < P else gam) * (r @ Bm[k])

        x_all, y_all, b_all = tt(data["x"]), tt(data["y"]), tt(data["beta"])
        rec = {f"u{k}": torch.zeros(n_trials, T, N[k], dtype=dtype) for k in range(1, P + 1)}
        if sparse:
            rec.update({f"a{k}": torch.zeros(n_trials, T, 1, dtype=dtype) for k in range(1, P + 1)})
        history = {name: [] for name in self.plastic_names()}
        off = {k: ~torch.eye(N[k], dtype=torch.bool) for k in range(1, P + 1)}

        for start in range(0, n_trials, nb_full):
            sl = slice(start, min(start + nb_full, n_trials))
            x, y, beta = x_all[sl], y_all[sl], b_all[sl]
            nb = x.shape[0]
            u = {k: torch.zeros(nb, N[k], dtype=dtype) for k in range(1, P + 1)}
            a = {k: torch.zeros(nb, 1, dtype=dtype) for k in range(1, P + 1)}
            rates = {}
            for step in sch.steps():
                if "zero" in step.resets:
                    for k in u:
                        u[k] = torch.zeros_like(u[k])
                        a[k] = torch.zeros_like(a[k])
                if "from_free" in step.resets:
                    for k in u:
                        u[k] = act(u[k])
                        a[k] = a[k].clamp(min=0)
                if step.phase.name in DYNAMIC_PHASES:
                    mu = p.mu_at(step.k - sch.start(step.phase.name))
                    teach = step.nudge * beta[:, None]
                    r = {0: x}
                    r.update({k: act(u[k]) for k in u})
                    for k in range(1, P + 1):  # bottom-up Gauss-Seidel sweep
                        q = a[k].clamp(min=0)
                        du = -g * u[k] + lateral(k, r[k]) + (r[k - 1] @ Wff[k - 1] - u[k]) / eps
                        if k < P:
                            du = du + (r[k + 1] @ Wfb[k] - u[k]) / eps
                        else:
                            du = du - u[k] - teach * (r[k] - y)
                        if sparse:
                            du = du - q
                        u[k] = u[k] + mu * du
                        r[k] = act(u[k])
                        if sparse:
                            mu_a = p.mu_a[1] if k == P else p.mu_a[0]
                            a[k] = a[k] + mu_a * (-a[k] + r[k].sum(dim=1, keepdim=True) - 1 + q)
                for gate in step.gates:  # learn_free / learn_nudged: the phase's final rates
                    rates[gate] = {0: x, **{k: act(u[k]) for k in u}}
                for k in u:
                    rec[f"u{k}"][sl, step.k] = u[k]
                    if sparse:
                        rec[f"a{k}"][sl, step.k] = a[k]
            if nb != nb_full:  # an incomplete last window accumulates but never updates (as in Brian2)
                continue
            rf, rn = rates["learn_free"], rates["learn_nudged"]
            inv_beta = (1.0 / beta)[:, None]
            # All updates from the pre-update weights (Algorithm 3).
            for k in range(P):  # eq. 26
                e_n = rn[k + 1] - rn[k] @ Wff[k]
                e_f = rf[k + 1] - rf[k] @ Wff[k]
                hebb = (inv_beta * rn[k]).T @ e_n - (inv_beta * rf[k]).T @ e_f
                Wff[k] = Wff[k] + (p.lr_ff[k] * lr_factor / nb) * hebb
            for k in range(1, P):  # eq. 27
                e_n = rn[k] - rn[k + 1] @ Wfb[k]
                e_f = rf[k] - rf[k + 1] @ Wfb[k]
                hebb = (inv_beta * rn[k + 1]).T @ e_n - (inv_beta * rf[k + 1]).T @ e_f
                Wfb[k] = Wfb[k] + (p.lr_fb[k - 1] * lr_factor / nb) * hebb
            for k in range(1, P + 1):
                if DO:  # eqs. 29-30, z = B r_nud recovered from M r = D r − O r
                    c, h = coef[k]
                    z = (Dv[k] * rn[k] - rn[k] @ Om[k] - h * rn[k]) / c
                    zz = z.T @ z / nb
                    Dv[k] = Dv[k] / lam - (c * gam / lam) * torch.diagonal(zz) + h * (1 - 1 / lam)
                    Om[k] = torch.where(off[k], Om[k] / lam + (c * gam / lam) * zz, torch.zeros_like(zz))
                else:  # eq. 28
                    z = rn[k] @ Bm[k]
                    Bm[k] = (Bm[k] - gam * (z.T @ z) / nb) / lam
            for k in range(P):
                history[f"W_ff{k}"].append(Wff[k].clone())
            for k in range(1, P):
                history[f"W_fb{k}"].append(Wfb[k].clone())
            for k in range(1, P + 1):
                if DO:
                    history[f"D{k}"].append(Dv[k][None, :].clone())
                    history[f"O{k}"].append(Om[k][off[k]].reshape(N[k], N[k] - 1))
                else:
                    history[f"B{k}"].append(Bm[k].clone())

        shapes = {**self.weight_shapes(), **{f"D{k}": (1, N[k]) for k in range(1, P + 1)}}
        shapes.update({f"O{k}": (N[k], N[k] - 1) for k in range(1, P + 1)})
        return Trace(
            states={k: v.numpy() for k, v in rec.items()},
            weights={
                name: (torch.stack(v).numpy() if v else np.zeros((0, *shapes[name]))) for name, v in history.items()
            },
        )


    # ---- spiking twin (inference, free phase; dense variant) -----------------------------------------------------
    def _free_rates(self, weights, x) -> dict[str, np.ndarray]:
        """The rate model's rates at the end of the free phase, ``{"layer1": ..., "layerP": ...}`` (n, N_k).

        The free phase of :meth:`simulate_reference` for all rows at once (one window, so no weight update
        precedes any trial; the nudged phase that follows is ignored).
        """
        import dataclasses

        p = self.params
        x = self._check_spiking_x(x)
        n = x.shape[0]
        one_window = type(self)(dataclasses.replace(p, batch=n, t_nudged=1))
        data = {"x": x, "y": np.zeros((n, p.sizes[-1])), "beta": np.ones(n)}
        trace = one_window.simulate_reference(weights, data)
        k_end = one_window.schedule.end("free")
        lo, hi = 0.0, (None if p.variant == "sparse" else 1.0)
        return {f"layer{k}": np.clip(trace.states[f"u{k}"][:, k_end], lo, hi) for k in range(1, p.n_layers + 1)}

    def _check_spiking_x(self, x) -> np.ndarray:
        x = np.asarray(x, dtype=float)
        if x.ndim != 2 or x.shape[1] != self.params.sizes[0] or x.shape[0] < 1:
            raise ShapeError(f"{self.name}: inputs x have shape {x.shape}, expected (n_samples, N_0={self.params.sizes[0]})")
        return x

    def predict_rate(self, weights, x) -> np.ndarray:
        """argmax of the output layer's rates at the end of the free phase (ties → lowest index)."""
        self.check_weights(weights)
        return np.argmax(self._free_rates(weights, x)[f"layer{self.params.n_layers}"], axis=1)

    def build_spiking_brian(self, weights, x, *, encoding="poisson", t_sample=0.2, r_max=None, tau_syn=None):
        """Spiking twin of the free phase (dense variant, B∞,+): one trial of ``t_sample`` s per row of ``x``.

        Layer 0 fires at r_max·x. Layer k integrates eq. 19 at the constant step μ_u per Brian2 step
        (du/dt = μ_u·F(u)/dt, i.e. one step = one iteration of Algorithm 1 without the μ decay, which changes
        the speed of convergence but not the fixed point) with every summed input replaced by a synaptic trace
        (τ_syn): I_ff ← spikes of layer k−1 through W_ff^(k−1), I_fb ← layer k+1 through W_fb^(k), I_lat ← layer
        k itself through c·B^(k) (autapses included; c = 2εγ hidden, γ output); the g·r self term reads the
        unit's own rate ρ locally. Units fire at r_max·σ₊(u). Every trial starts from u = 0 with empty traces;
        the prediction is the argmax of the output layer's spike count over the last half of the trial.
        Reference rates: the rate model at the end of its free phase.
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
        if p.variant != "dense":
            raise NotImplementedError(
                f"{self.name}: the spiking twin exists for the dense variant (clipped-ReLU rates) only; the sparse "
                "variant's unbounded ReLU rates and ℓ1 interneuron have no spiking form yet"
            )
        self.check_weights(weights)
        x = self._check_spiking_x(x)
        r_max = DEFAULT_R_MAX if r_max is None else float(r_max)
        tau_syn = DEFAULT_TAU_SYN if tau_syn is None else float(tau_syn)
        P, N, dt = p.n_layers, p.sizes, self.dt
        eps, g = p.epsilon, p.g_lk
        sch = inference_schedule(t_sample, dt, clamp=("x",))
        T = sch.trial_steps
        enc = make_encoder(encoding, r_max=r_max)
        r_max = enc.r_max  # an encoder instance brings its own
        x_in = TimedArray(x, dt=T * dt * second, name="x_in")
        flags = sch.brian_flags()
        rate = {0: spiking_group_equations("clamp_x*x_in(t, i)", enc, dt=dt, r_max=r_max, rate_bound=max(1.0, float(x.max())))}
        for k in range(1, P + 1):
            if k < P:  # hidden: −g u + g r + 2γ B r + (1/ε)(W_ff r − u) + (1/ε)(W_fb r − u)
                F = f"-{g!r}*u + {g!r}*rho + I_lat + {1 / eps!r}*(I_ff - u) + {1 / eps!r}*(I_fb - u)"
                inputs = ("I_ff", "I_fb", "I_lat")
            else:  # output, β = 0: −g u + g r + γ B r + (1/ε)(W_ff r − u) − u
                F = f"-{g!r}*u + {g!r}*rho + I_lat + {1 / eps!r}*(I_ff - u) - u"
                inputs = ("I_ff", "I_lat")
            rate[k] = spiking_group_equations(
                "clip(u, 0, 1)", enc, dt=dt, r_max=r_max, tau_syn=tau_syn, inputs=inputs,
                dynamics=f"du/dt = {p.mu_u!r}*({F})/({dt!r}*second) : 1",
            )
        groups = {
            f"layer{k}": rate[k].make_group(
                N[k], f"spk_layer{k}", header=flags, reset_flag="reset_zero", reset_vars=() if k == 0 else ("u",)
            )
            for k in range(P + 1)
        }
        pathways = [(f"W_ff{k}", k, k + 1, "I_ff", 1.0) for k in range(P)]
        pathways += [(f"W_fb{k}", k + 1, k, "I_fb", 1.0) for k in range(1, P)]
        pathways += [(f"B{k}", k, k, "I_lat", self.lateral_coefficients(k)[0] / (eps if k < P else 1.0)) for k in range(1, P + 1)]
        syns, projs = [], []
        for name, pre, post, target, scale in pathways:
            S, proj = spike_projection(
                groups[f"layer{pre}"], groups[f"layer{post}"], scale * np.asarray(weights[name], float), target,
                r_max=r_max, tau_syn=tau_syn, name=f"spk_{name}", pre_name=f"layer{pre}", post_name=f"layer{post}",
            )
            syns.append(S)
            projs.append(proj)
        return SpikingModel.assemble(
            populations=groups,
            synapses=syns,
            schedule=sch,
            dt=dt,
            x_in=x_in,
            encoders={k: rate[int(k[5:])].encoder for k in groups},
            projections=projs,
            output=f"layer{P}",
            t_sample=float(t_sample),
            compared=tuple(f"layer{k}" for k in range(1, P + 1)),
            readout_fraction=0.5,
            reference_rates=self._free_rates(weights, x),
            rate_steps=p.t_free,
            info={"encoding": enc.encoding, "r_max": r_max, "tau_syn": tau_syn, "mu_u": p.mu_u},
        )

class CorInfoMaxSparse(CorInfoMax):
    """CorInfoMax-B1,+: the same circuit with ``variant="sparse"`` as the default."""

    name = "corinfomax-sparse"
    description = "CorInfoMax-B1,+ (Bozkurt et al. 2023, App. I): ReLU rates with an ℓ1 interneuron per layer"

    def __init__(self, params=None, **overrides):
        if params is None:
            overrides.setdefault("variant", "sparse")
        super().__init__(params, **overrides)


def verification_instance(name: str = "corinfomax", layers: int = 2, lateral_update: str = "B", **overrides) -> CorInfoMax:
    """Small instance of ``name`` ("corinfomax"/"dense" or "corinfomax-sparse"/"sparse") for `neuromorph verify`."""
    if name not in _NAMES:
        raise ConfigError(f"unknown CorInfoMax variant {name!r}; choose one of {list(VARIANTS)} (or {sorted(_NAMES)})")
    variant = _NAMES[name]
    cls = CorInfoMaxSparse if variant == "sparse" else CorInfoMax
    return cls.verification_instance(layers, variant, lateral_update, **overrides)
