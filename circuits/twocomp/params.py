"""twocomp's parameters, its phase schedule and its one list of weight matrices.

twocomp is neuromorph's own demonstration circuit (no paper): every value below is a choice made so that
the circuit is small enough to check by hand and still exercises every part of the toolkit (two
compartments, interneurons, free and nudged phases, resets, snapshots, mini-batch update windows).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from neuromorph.errors import ConfigError
from neuromorph.phases import Phase, PhaseSchedule

__all__ = ["TwoCompParams", "PLASTIC", "FIXED", "weight_layout", "schedule", "validate", "initial_weights"]

PLASTIC = ("W_xh", "W_ho")  # learned (contrastive Hebbian, one update per window)
FIXED = ("W_fb", "W_hi", "W_ih")  # feedback and inhibition, never updated


@dataclass(frozen=True)
class TwoCompParams:
    n_in: int = 8  # input units X
    n_hidden: int = 12  # two-compartment pyramidal cells H
    n_inh: int = 4  # interneurons I
    n_out: int = 3  # output cells O
    dt_over_tau: float = 0.2  # Euler step in membrane time constants
    g_leak: float = 0.1  # g_L: leak conductance of H
    g_basal: float = 1.0  # g_B: basal (feedforward) compartment -> soma
    g_apical: float = 0.3  # g_A: apical (feedback) compartment -> soma
    beta: float = 0.5  # nudging strength of O toward the label in the nudged phase
    lr_xh: float = 0.2  # learning rate of W_xh (divided by beta and the window size)
    lr_ho: float = 0.2  # learning rate of W_ho
    inhibition: float = 0.2  # scale of W_hi and W_ih (uniform [0, inhibition))
    t_free: int = 20  # steps of the free phase
    t_nudged: int = 10  # steps of the nudged phase
    batch: int = 4  # trials per update window (the mini-batch)


def validate(p: TwoCompParams) -> None:
    """ConfigError for parameters the circuit cannot run with."""
    for key in ("n_in", "n_hidden", "n_inh", "n_out", "t_free", "t_nudged", "batch"):
        if getattr(p, key) < 1:
            raise ConfigError(f"twocomp: {key} must be >= 1, got {getattr(p, key)}")
    if not 0 < p.dt_over_tau <= 1:
        raise ConfigError(f"twocomp: dt_over_tau must be in (0, 1] for stable Euler steps, got {p.dt_over_tau}")
    if p.beta == 0:
        raise ConfigError("twocomp: beta must be non-zero (weight updates are divided by it)")


def weight_layout(p: TwoCompParams) -> dict[str, tuple[int, int]]:
    """Every weight matrix, (n_pre, n_post): the one list the model, the reference and the trainer use."""
    return {
        "W_xh": (p.n_in, p.n_hidden),
        "W_ho": (p.n_hidden, p.n_out),
        "W_fb": (p.n_out, p.n_hidden),
        "W_hi": (p.n_hidden, p.n_inh),
        "W_ih": (p.n_inh, p.n_hidden),
    }


def schedule(p: TwoCompParams) -> PhaseSchedule:
    """free (reset u = 0, snapshot at its end) -> nudged (accumulate at its end); update every ``batch`` trials."""
    return PhaseSchedule(
        (
            Phase("free", p.t_free, nudge=0.0, clamp=("x",), resets=("zero",), gates=("snapshot",)),
            Phase("nudged", p.t_nudged, nudge=1.0, clamp=("x",), gates=("accumulate",)),
        ),
        trials_per_update=p.batch,
    )


def initial_weights(p: TwoCompParams, seed: int) -> dict[str, np.ndarray]:
    """Glorot-uniform W_xh, W_ho, W_fb; non-negative inhibition W_hi, W_ih (seeded, in this draw order)."""
    rng = np.random.default_rng(seed)

    def glorot(n_pre, n_post):
        a = np.sqrt(6.0 / (n_pre + n_post))
        return rng.uniform(-a, a, size=(n_pre, n_post))

    shapes = weight_layout(p)
    return {
        "W_xh": glorot(*shapes["W_xh"]),
        "W_ho": glorot(*shapes["W_ho"]),
        "W_fb": glorot(*shapes["W_fb"]),
        "W_hi": p.inhibition * rng.uniform(0, 1, size=shapes["W_hi"]),
        "W_ih": p.inhibition * rng.uniform(0, 1, size=shapes["W_ih"]),
    }
