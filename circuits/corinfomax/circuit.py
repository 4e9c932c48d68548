"""CorInfoMax as a neuromorph circuit: the glue the registry finds (``corinfomax``, ``corinfomax-sparse``).

Variants (``params.variant``):

* ``"dense"``  - CorInfoMax-B∞,+: clipped-ReLU rates r = σ₊(u) = clip(u, 0, 1) (eqs. 15-21, Algorithm 1);
* ``"sparse"`` - CorInfoMax-B1,+: ReLU rates plus one inhibitory interneuron per layer (a, q = ReLU(a))
  enforcing the ℓ1 bound (Appendix I, eqs. A.49-A.51, Algorithm 2).

Lateral plasticity (``params.lateral_update``):

* ``"B"``  - eq. (28) on the inverse-correlation matrix B directly (what the authors' code does);
* ``"DO"`` - eqs. (29)-(30): autapses D (diagonal, ``condition='i == j'``) and lateral-inhibition synapses O
  (off-diagonal, ``condition='i != j'``) with M = D − O. The same numbers as "B" up to rounding.

The math follows the authors' code where the paper is ambiguous (params.py lists those choices).
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

  ΔW_ff^(k) = lr_ff[k]·f/n Σ_t (1/β_t)(e→_nud r^(k)_nudᵀ − e→_free r^(k)_freeᵀ),  e→ = r^(k+1) − W_ff^(k) r^(k)  (eq. 26)
  ΔW_fb^(k) = lr_fb[k−1]·f/n Σ_t (1/β_t)(e←_nud r^(k+1)_nudᵀ − e←_free r^(k+1)_freeᵀ), e← = r^(k) − W_fb^(k) r^(k+1) (27)
  B ← λ⁻¹(B − γ⟨z zᵀ⟩), z = B r_nud                                                                         (28)

with f the epoch learning-rate factor (``lr_factor``, 1 in verification) and n = ``batch``. With
``weight_decay`` each W_ff/W_fb is then shrunk as the authors' code does: W ← W − lr·f·ε·W.

Weights are (n_pre, n_post) matrices (:func:`.params.weight_layout`); with ``lateral_update="DO"`` a trace
reports ``D{k}`` and ``O{k}`` instead of ``B{k}`` (:func:`.params.plastic_layout`); :meth:`CorInfoMax.lateral_do`
converts B matrices into that layout.

Files: params.py (parameters, the authors'-code facts, the weight layout), equations.py (the model as
symbolic equations), brian_model.py (the Brian2 builder), reference.py (the torch reference), spiking.py (the
spiking twin), trainer.py with kernels.py and lanes.py (the fast trainer).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch

from neuromorph.brian.blocks import check_trial_inputs
from neuromorph.circuit import Circuit, Trace, TrialData, make_params
from neuromorph.errors import ConfigError, ShapeError
from neuromorph.phases import PhaseSchedule

from . import params as _params
from .params import DYNAMIC_PHASES, VARIANTS, CorInfoMaxParams, lateral_coefficients, phase_schedule, plastic_layout

__all__ = ["CorInfoMax", "CorInfoMaxSparse", "verification_instance", "DYNAMIC_PHASES"]

_NAMES = {"corinfomax": "dense", "corinfomax-sparse": "sparse", "dense": "dense", "sparse": "sparse"}
_DTYPES = {"float32": torch.float32, "float64": torch.float64}


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
    weight_layout = staticmethod(_params.weight_layout)

    # ---- structure ----------------------------------------------------------------------------------------
    @property
    def schedule(self) -> PhaseSchedule:
        return phase_schedule(self.params)

    def lateral_coefficients(self, k: int) -> tuple[float, float]:
        """(c, h) with M^(k) = c·B^(k) + h·I: hidden ε(2γB + gI) (eq. 18), output γB + gI (eq. 21, code's g_A = 1)."""
        return lateral_coefficients(self.params, k)

    def plastic_names(self) -> tuple[str, ...]:
        """Names of the matrices a trace reports after every update."""
        return tuple(plastic_layout(self.params))

    def compared_states(self) -> tuple[str, ...]:
        """Somatic potentials u{k} of every layer, and (sparse) the interneurons' a{k}."""
        P = self.params.n_layers
        names = [f"u{k}" for k in range(1, P + 1)]
        if self.params.variant == "sparse":
            names += [f"a{k}" for k in range(1, P + 1)]
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
        n = check_trial_inputs(self.name, data, {"x": (None, N[0]), "y": (None, N[-1]), "beta": (None,)})
        if np.any(np.asarray(data["beta"]) == 0):
            raise ConfigError(f"{self.name}: every trial's signed beta must be non-zero (updates are divided by it)")
        return n

    def _check_spiking_x(self, x) -> np.ndarray:
        x = np.asarray(x, dtype=float)
        if x.ndim != 2 or x.shape[1] != self.params.sizes[0] or x.shape[0] < 1:
            raise ShapeError(f"{self.name}: inputs x have shape {x.shape}, expected (n_samples, N_0={self.params.sizes[0]})")
        return x

    # ---- weights and data ------------------------------------------------------------------------------------
    def initial_weights(self, seed: int) -> dict[str, np.ndarray]:
        """The fast trainer's initialisation (Xavier W_ff/W_fb, B = AAᵀ), so both paths start identically."""
        from .trainer import initial_weights

        weights = {k: np.asarray(v, dtype=float) for k, v in initial_weights(self.params, seed).items()}
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

    # ---- the fast trainer ------------------------------------------------------------------------------------
    def trainer_options(self) -> dict:
        """threads (None: min(2, cpus)), kernel (auto/cpp/torchscript/python), gemm (auto/onednn/blas),
        dtype ("float32"/"float64"), eval_batch (rows per prediction chunk)."""
        from .trainer import TRAINER_OPTIONS

        return dict(TRAINER_OPTIONS)

    def make_trainer(self, n_in: int, n_classes: int, seed: int, **options):
        """The fast batched trainer (circuits/corinfomax/trainer.py) with this circuit's parameters."""
        from .seedbatch import claim
        from .trainer import CorInfoMaxTrainer

        opts = self.check_trainer_options(options)
        member = claim(self.params, seed, opts)  # inside a seed-batched sweep group: this seed's slice
        if member is not None:
            return member
        dtype = opts.pop("dtype")
        if isinstance(dtype, str):
            if dtype not in _DTYPES:
                raise ConfigError(f"{self.name}: trainer dtype must be one of {sorted(_DTYPES)}, got {dtype!r}")
            dtype = _DTYPES[dtype]
        p = self.params
        if (n_in, n_classes) != (p.sizes[0], p.sizes[-1]):
            raise ShapeError(
                f"{self.name} has sizes {list(p.sizes)} but the data has {n_in} features and {n_classes} classes; "
                f"set params.sizes = [{n_in}, ..., {n_classes}]"
            )
        return CorInfoMaxTrainer(p, seed, dtype=dtype, **opts)

    def supports_seed_batch(self, options) -> bool:
        """Whether :meth:`make_seed_batch` can train seeds of this circuit stacked (``lateral_update = "B"``)."""
        from .seedbatch import supports

        return supports(self.params)

    def make_seed_batch(self, seeds, **options):
        """Several seeds trained with their matrices stacked (circuits/corinfomax/seedbatch.py); the sweep's
        ``--seed-batch``. ``dtype``, ``threads`` and ``eval_batch`` apply; ``kernel``/``gemm`` choose the single-seed
        path and are not used here (the members record kernel "seed-batched", gemm "bmm" in the manifest)."""
        from .seedbatch import SeedBatch

        opts = self.check_trainer_options(options)
        dtype = opts["dtype"]
        if isinstance(dtype, str):
            if dtype not in _DTYPES:
                raise ConfigError(f"{self.name}: trainer dtype must be one of {sorted(_DTYPES)}, got {dtype!r}")
            dtype = _DTYPES[dtype]
        return SeedBatch(self.params, seeds, dtype=dtype, threads=opts.get("threads"), eval_batch=opts["eval_batch"])

    # ---- verification instances --------------------------------------------------------------------------------
    @classmethod
    def verification_instance(cls, layers: int = 2, variant: str | None = None, lateral_update: str = "B", **overrides):
        """A small instance (sizes (12, 8, 4) or (12, 8, 6, 4), λ = 0.99, batch 3) for equivalence checks."""
        if variant is None:
            variant = "sparse" if issubclass(cls, CorInfoMaxSparse) else "dense"
        kw = _verification_overrides(variant, layers, lateral_update)
        kw.update(overrides)
        return cls(make_params(CorInfoMaxParams, kw, where=f"{cls.name} verification parameters"))

    def verification_circuit(self, **overrides) -> CorInfoMax:
        """The small instance of this circuit's variant and lateral form (`neuromorph verify`), with
        ``overrides`` applied on top (``variant``/``lateral_update`` taken from them first, then from this
        circuit; 3 layers when this circuit or a ``sizes`` override has them)."""
        p = self.params
        variant = overrides.pop("variant", p.variant)
        lateral = overrides.pop("lateral_update", p.lateral_update)
        n_layers = len(overrides["sizes"]) - 1 if "sizes" in overrides else p.n_layers
        layers = 3 if n_layers >= 3 else 2
        return type(self).verification_instance(layers, variant, lateral, **overrides)

    # ---- Brian2 model ------------------------------------------------------------------------------------------
    def build_brian(self, weights, data, lr_factor: float = 1.0):
        """The Brian2 model of ``data``'s trials (circuits/corinfomax/brian_model.py)."""
        from .brian_model import build

        self.check_weights(weights)
        n_trials = self._check_data(data)
        return build(self.params, self.dt, weights, data, n_trials, lr_factor)

    def equations(self) -> list:
        """The Brian2 model's equations for one update window of example data, as Brian2 holds them, with
        the learning code (event-driven pathways) after each synapse object (brian_model.equations)."""
        from .brian_model import equations

        n = self.schedule.trials_per_update
        return equations(self.build_brian(self.initial_weights(0), self.example_data(n, 0)))

    # ---- torch reference ----------------------------------------------------------------------------------------
    def simulate_reference(self, weights, data, dtype=torch.float64, lr_factor: float = 1.0) -> Trace:
        """The same trials in torch (circuits/corinfomax/reference.py)."""
        from .reference import simulate

        self.check_weights(weights)
        self._check_data(data)
        return simulate(self.params, weights, data, dtype=dtype, lr_factor=lr_factor)

    # ---- spiking twin (inference, free phase; dense variant) -----------------------------------------------------
    def _free_rates(self, weights, x) -> dict[str, np.ndarray]:
        """The rate model's rates at the end of the free phase, ``{"layer1": ..., "layerP": ...}`` (n, N_k)."""
        from .reference import free_rates

        return free_rates(self.params, weights, self._check_spiking_x(x))

    def predict_rate(self, weights, x) -> np.ndarray:
        """argmax of the output layer's rates at the end of the free phase (ties → lowest index)."""
        self.check_weights(weights)
        return np.argmax(self._free_rates(weights, x)[f"layer{self.params.n_layers}"], axis=1)

    def build_spiking_brian(self, weights, x, *, encoding="poisson", t_sample=0.2, r_max=None, tau_syn=None):
        """Spiking twin of the free phase (dense variant): see circuits/corinfomax/spiking.py."""
        from .spiking import build_spiking

        if self.params.variant != "dense":
            raise NotImplementedError(
                f"{self.name}: the spiking twin exists for the dense variant (clipped-ReLU rates) only; the sparse "
                "variant's unbounded ReLU rates and ℓ1 interneuron have no spiking form yet"
            )
        self.check_weights(weights)
        x = self._check_spiking_x(x)
        return build_spiking(self.params, self.dt, weights, x, name=self.name, encoding=encoding, t_sample=t_sample,
                             r_max=r_max, tau_syn=tau_syn)


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
