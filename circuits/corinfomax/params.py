"""CorInfoMax parameters, defaults = the FMNIST 2-layer B∞,+ setting (paper Table 3), and the weight layout.

Where the paper is silent or differs from the authors' code, the default follows the code; each such choice
is marked "code:" on its field. The facts about the authors' code (BariscanBozkurt/Supervised-CorInfoMax,
snapshot e5fb839 of 2023-10-17, ``src/ContrastiveModels.py`` classes ``ContrastiveCorInfoMaxHopfield`` (B∞,+)
and ``ContrastiveCorInfoMaxHopfieldSparse`` (B1,+)) that this package relies on:

Neural dynamics (Algorithm 1, ``run_neural_dynamics_hopfield``)
  * one ε for all layers, g_A = g_B = 1/ε (paper: ε_k per layer, g_A = 1/ε_{k−1}, g_B = 1/ε_k);
  * hidden layer k < P: Δu = μ[−g u + g r + 2γ B r + (1/ε)(W_ff r^(k−1) − u) + (1/ε)(W_fb r^(k+1) − u)],
    i.e. eq. 15/19 with M = ε(2γB + gI) (eq. 18);
  * output layer P: Δu = μ[−g u + g r + γ B r + (1/ε)(W_ff r^(P−1) − u) − u − β(r − y)]: the apical leak
    has conductance 1, not β as in eq. 21 (g_A,P = β, M^(P) = β⁻¹(γB + gI), degenerate at β = 0); the free
    phase keeps the −u term and only the teaching term −β(r − y) is switched by β; γB (not 2γB) at the output;
  * layers are updated in place, bottom-up, inside each iteration (Gauss-Seidel: layer k sees r^(k−1) of this
    sweep and r^(k+1) of the previous one); u is kept apart from r = σ₊(u) = clip(u, 0, 1);
  * μ_u[s] = max(μ0/(0.01 s + 1), 10⁻³) ("divide_by_slow_loop_index") or constant, s = 0.. in each phase;
  * the free phase starts from u = r = 0; the nudged phase re-initialises u to the *clipped* free rates.
Learning (Algorithm 3, ``batch_step_hopfield``)
  * minibatches of 20, batch-mean Hebbian terms, one update per batch, all from the pre-update weights;
  * random-sign β: each batch is nudged with β·(±1) (fresh sign) and its update divided by the signed β
    (Laborieux et al.'s bias reduction; not in the paper);
  * e→ = r^(k+1) − W_ff^(k) r^(k), e← = r^(k) − W_fb^(k) r^(k+1) (W_fb for k ≥ 1 only; W_fb^(0) is unused);
  * B ← λ⁻¹(B − γ⟨z zᵀ⟩), z = B r_nud (eq. 28) directly: the code never forms D and O (eqs. 29-30);
  * ``weight_decay`` (off in every reported run): the εW part of eqs. 23/25 as the code applies it, after the
    Hebbian step and on the updated matrix: W ← W − lr·ε·W with the epoch's (scheduled) lr of that matrix,
    not divided by β (the factor 2 of 2εW goes with the factor 2 of the Hebbian term that the code's rate
    absorbs). In the EP contrast of eqs. 26-27 the 2εW terms of the two phases cancel, which is why
    Algorithm 3 omits them.
Initialisation: W_ff, W_fb Xavier-uniform; B = AAᵀ with A Xavier-uniform (the paper gives no init);
no biases. Schedule: 50 epochs, lr_e = lr_0·d^e with an absolute exponent (a discontinuous drop where d
changes; the paper's "lr decay 0.95 (ep < 15), 0.9 (O/W)" does not say this).
Sparse B1,+ (Appendix I, Algorithm 2): ReLU rates; one interneuron per layer and sample,
a ← a + μ_a(−a + Σ_j r_j − 1 + q), q = ReLU(a), inhibiting the layer's somata by −q (hidden apical −εq),
updated right after the layer's rate step (new r, old q); the nudged phase starts from a := q_free;
μ_a = [hidden, output] = [1e−6, 0.01].

Weights are (n_pre, n_post) matrices named as :func:`weight_layout` lists them; every other file of the
package takes names and shapes from there.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from neuromorph.errors import ConfigError, ShapeError
from neuromorph.phases import Phase, PhaseSchedule

__all__ = [
    "CorInfoMaxParams",
    "VARIANTS",
    "DYNAMIC_PHASES",
    "weight_layout",
    "plastic_layout",
    "lateral_coefficients",
    "phase_schedule",
]

VARIANTS = ("dense", "sparse")  # B∞,+ (clipped ReLU, eqs. 15-21) / B1,+ (ReLU + ℓ1 interneuron, App. I)
DYNAMIC_PHASES = ("free", "nudged")  # phases with neural dynamics; free_end / nudged_end are frozen


@dataclass(frozen=True)
class CorInfoMaxParams:
    variant: str = "dense"
    sizes: tuple[int, ...] = (784, 500, 10)  # N_0 (input) ... N_P (output)
    epsilon: float = 0.15  # ε: g_A = g_B = 1/ε (code: one ε for all layers)
    lam: float = 1.0 - 1e-5  # λ_r forgetting factor; γ = (1-λ)/λ
    g_lk: float = 0.3  # leak conductance (code: hopfield_g)
    beta: float = 1.0  # nudging strength β'
    random_sign_beta: bool = True  # code: β = ±β per batch (fresh random sign), update divided by signed β
    t_free: int = 30
    t_nudged: int = 10
    mu_u: float = 0.07  # neural-dynamics step μ_u
    mu_u_rule: str = "decay"  # "constant" | "decay": μ_u[s] = max(μ_u/(0.01 s + 1), 1e-3), s restarts per phase
    lr_ff: tuple[float, ...] = (0.3, 0.22)  # one per W_ff^(k), k = 0..P-1
    lr_fb: tuple[float, ...] = (0.07,)  # one per W_fb^(k), k = 1..P-1 (code: W_fb^(0) unused)
    # lr at epoch e = lr_0 * base^e with base from the last (start_epoch, base) entry with start <= e
    # (code: absolute exponent, so the rate drops discontinuously at each switch).
    lr_schedule: tuple[float, ...] = (0.0, 0.95, 20.0, 0.9, 25.0, 0.8)  # flat (start, base) pairs
    mu_a: tuple[float, ...] = (1e-6, 0.01)  # sparse only: interneuron step [hidden layers, output layer]
    lateral_update: str = "B"  # "B": eq. 28 on B (code) | "DO": eqs. 29-30 on autapses D and lateral O
    batch: int = 20
    # code: off in every reported run; on: W ← W − lr·f·ε·W after each Hebbian step (module docstring)
    weight_decay: bool = False
    # not in the paper or the authors' code (0 = off, the faithful default): an opt-in remedy for a dead output
    # unit (free-phase rate 0 on every sample, so neither phase gives it a learning signal). N > 0: an output unit
    # silent on every sample of N consecutive training batches gets its incoming feedforward weights
    # W_ff{P-1}[:, j] re-drawn (Xavier-uniform, :func:`revive_column`). Fast trainers only (trainer.py,
    # seedbatch.py): the Brian2 model and simulate_reference ignore it (they simulate trials and single updates
    # of the paper's equations; a revival is an intervention between batches). See experiments/corinfomax/README.md
    revive_silent_output: int = 0

    def __post_init__(self):
        if self.variant not in VARIANTS:
            raise ConfigError(f"unknown CorInfoMax variant {self.variant!r}; choose one of {list(VARIANTS)}")
        if self.mu_u_rule not in ("constant", "decay"):
            raise ConfigError(f"mu_u_rule must be 'constant' or 'decay', got {self.mu_u_rule!r}")
        if self.lateral_update not in ("B", "DO"):
            raise ConfigError(f"lateral_update must be 'B' or 'DO', got {self.lateral_update!r}")
        if len(self.sizes) < 3 or any((not isinstance(n, int)) or n < 1 for n in self.sizes):
            raise ShapeError(
                f"sizes must list at least input, one hidden and output layer as positive integers, got {self.sizes}"
            )
        n_layers = len(self.sizes) - 1
        if len(self.lr_ff) != n_layers:
            raise ShapeError(f"lr_ff needs one rate per feedforward matrix ({n_layers} for sizes {list(self.sizes)}), got {len(self.lr_ff)}")
        if len(self.lr_fb) != n_layers - 1:
            raise ShapeError(
                f"lr_fb needs one rate per feedback matrix W_fb^(1..P-1) ({n_layers - 1} for sizes {list(self.sizes)}), got {len(self.lr_fb)}"
            )
        if len(self.lr_schedule) % 2 or len(self.lr_schedule) < 2:
            raise ConfigError("lr_schedule must be flat (start_epoch, base) pairs, e.g. [0, 0.95, 20, 0.9]")
        if len(self.mu_a) != 2:
            raise ConfigError("mu_a must be [hidden-layer step, output-layer step]")
        if self.beta <= 0 or self.t_free < 1 or self.t_nudged < 1 or self.batch < 1:
            raise ConfigError("beta must be > 0 and t_free, t_nudged, batch >= 1")
        if not isinstance(self.weight_decay, bool):
            raise ConfigError(f"weight_decay must be true or false, got {self.weight_decay!r}")
        if isinstance(self.revive_silent_output, bool) or not isinstance(self.revive_silent_output, int) \
                or self.revive_silent_output < 0:
            raise ConfigError(f"revive_silent_output must be an integer >= 0 (0: off; N: re-draw an output unit's "
                              f"feedforward weights after N silent batches), got {self.revive_silent_output!r}")

    @property
    def gamma(self) -> float:
        return (1.0 - self.lam) / self.lam

    @property
    def n_layers(self) -> int:
        """P: number of weight layers (= non-input layers)."""
        return len(self.sizes) - 1

    def lr_factor(self, epoch: int) -> float:
        """Multiplier of the synaptic learning rates at (0-based) ``epoch``."""
        pairs = list(zip(self.lr_schedule[0::2], self.lr_schedule[1::2]))
        base = pairs[0][1]
        for start, b in pairs:
            if epoch >= start:
                base = b
        return base**epoch

    def mu_at(self, s: int) -> float:
        """Neural-dynamics step at iteration ``s`` (0-based, restarting in each phase)."""
        if self.mu_u_rule == "constant":
            return self.mu_u
        return max(self.mu_u / (0.01 * s + 1.0), 1e-3)


def weight_layout(params: CorInfoMaxParams) -> dict[str, tuple[int, int]]:
    """The stored weights, in order, with their (n_pre, n_post) shapes (what ``initial_weights`` returns).

    ``W_ff{k}`` (N_k, N_{k+1}) k = 0..P−1 (basal drive of layer k+1: r^(k) @ W_ff{k});
    ``W_fb{k}`` (N_{k+1}, N_k) k = 1..P−1 (apical drive of layer k: r^(k+1) @ W_fb{k});
    ``B{k}`` (N_k, N_k) k = 1..P (symmetric lateral matrix).
    """
    N, P = params.sizes, params.n_layers
    layout = {f"W_ff{k}": (N[k], N[k + 1]) for k in range(P)}
    layout.update({f"W_fb{k}": (N[k + 1], N[k]) for k in range(1, P)})
    layout.update({f"B{k}": (N[k], N[k]) for k in range(1, P + 1)})
    return layout


def plastic_layout(params: CorInfoMaxParams) -> dict[str, tuple[int, int]]:
    """The matrices a trace reports after every update, with their (n_pre, n_post) shapes.

    ``lateral_update = "B"``: the stored weights. ``"DO"``: ``B{k}`` is replaced by ``D{k}`` (1, N_k) (the
    autapses, M's diagonal) and ``O{k}`` (N_k, N_k − 1) (the off-diagonal entries of each pre row, posts
    ascending: the synapse order of ``connect(condition='i != j')``), with M = D − O.
    """
    layout = weight_layout(params)
    if params.lateral_update == "B":
        return layout
    N, P = params.sizes, params.n_layers
    out = {k: v for k, v in layout.items() if not k.startswith("B")}
    for k in range(1, P + 1):
        out[f"D{k}"] = (1, N[k])
        out[f"O{k}"] = (N[k], N[k] - 1)
    return out


def lateral_coefficients(params: CorInfoMaxParams, k: int) -> tuple[float, float]:
    """(c, h) with M^(k) = c·B^(k) + h·I: hidden ε(2γB + gI) (eq. 18), output γB + gI (eq. 21, code's g_A = 1)."""
    if k < params.n_layers:
        return 2.0 * params.epsilon * params.gamma, params.epsilon * params.g_lk
    return params.gamma, params.g_lk


def phase_schedule(params: CorInfoMaxParams) -> PhaseSchedule:
    """free (T_free, from zero) → free_end (1 frozen step, gate learn_free) → nudged (T_nudged, signed β,
    u := σ(u)) → nudged_end (1 frozen step, gate learn_nudged); one update every ``batch`` trials."""
    return PhaseSchedule(
        (
            Phase("free", params.t_free, nudge=0.0, clamp=("x",), resets=("zero",)),
            Phase("free_end", 1, nudge=0.0, clamp=("x",), gates=("learn_free",)),
            Phase("nudged", params.t_nudged, nudge=1.0, clamp=("x",), resets=("from_free",)),
            Phase("nudged_end", 1, nudge=0.0, clamp=("x",), gates=("learn_nudged",)),
        ),
        trials_per_update=params.batch,
    )


def revive_column(params: CorInfoMaxParams, seed: int, epoch: int, batch: int, unit: int) -> np.ndarray:
    """The fresh incoming feedforward weights W_ff{P-1}[:, unit] of a revived output unit (``revive_silent_output``):
    Xavier-uniform like :func:`.trainer.initial_weights`, drawn from ``np.random.default_rng([seed, epoch, batch,
    unit, 1])`` so every implementation (single seed, seed batch) revives with the same numbers."""
    n = params.sizes
    P = params.n_layers
    lim = math.sqrt(6.0 / (n[P - 1] + n[P]))
    return np.random.default_rng([int(seed), int(epoch), int(batch), int(unit), 1]).uniform(-lim, lim, size=n[P - 1])
