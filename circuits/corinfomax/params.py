"""CorInfoMax parameters (Bozkurt, Pehlevan, Erdogan 2023), defaults = the FMNIST 2-layer B∞,+ setting.

Where the paper is silent or differs from the authors' code, the default follows the code
(../shared/notes/reference-code.md §1); each such choice is marked "code:" below.
"""

from __future__ import annotations

from dataclasses import dataclass

from neuromorph.errors import ConfigError, ShapeError

__all__ = ["CorInfoMaxParams", "VARIANTS"]

VARIANTS = ("dense", "sparse")  # B∞,+ (clipped ReLU, eqs. 15-21) / B1,+ (ReLU + ℓ1 interneuron, App. I)


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
    weight_decay: bool = False  # code: the 2εW terms of eqs. 23/25 are not applied

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
