"""leaky_delta's parameters, its phase schedule and its one list of weight matrices."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from neuromorph.errors import ConfigError
from neuromorph.phases import Phase, PhaseSchedule

PLASTIC = ("W",)


@dataclass(frozen=True)
class LeakyDeltaParams:
    n_in: int = 6  # input units X
    n_out: int = 3  # output units O (one per class)
    dt_over_tau: float = 0.25  # Euler step in membrane time constants
    beta: float = 1.0  # nudging strength toward the label in the nudged phase
    lr: float = 0.5  # learning rate (divided by β and the window size)
    t_free: int = 12  # steps of the free phase
    t_nudged: int = 8  # steps of the nudged phase
    batch: int = 2  # trials per update window


def validate(p: LeakyDeltaParams) -> None:
    for key in ("n_in", "n_out", "t_free", "t_nudged", "batch"):
        if getattr(p, key) < 1:
            raise ConfigError(f"leaky_delta: {key} must be >= 1, got {getattr(p, key)}")
    if not 0 < p.dt_over_tau <= 1:
        raise ConfigError(f"leaky_delta: dt_over_tau must be in (0, 1], got {p.dt_over_tau}")
    if p.beta == 0:
        raise ConfigError("leaky_delta: beta must be non-zero (the update is divided by it)")


def weight_layout(p: LeakyDeltaParams) -> dict[str, tuple[int, int]]:
    """Every weight matrix as (n_pre, n_post): the one list model, reference and trainer use."""
    return {"W": (p.n_in, p.n_out)}


def schedule(p: LeakyDeltaParams) -> PhaseSchedule:
    """free (reset u = 0 first, snapshot at its end) -> nudged (learn at its end); update every ``batch`` trials."""
    return PhaseSchedule(
        (
            Phase("free", p.t_free, nudge=0.0, clamp=("x",), resets=("zero",), gates=("snapshot",)),
            Phase("nudged", p.t_nudged, nudge=1.0, clamp=("x",), gates=("learn",)),
        ),
        trials_per_update=p.batch,
    )


def initial_weights(p: LeakyDeltaParams, seed: int) -> dict[str, np.ndarray]:
    """Small uniform weights (seeded): the same matrix goes into Brian2 and torch."""
    rng = np.random.default_rng(seed)
    return {"W": rng.uniform(-0.5, 0.5, size=weight_layout(p)["W"]) / np.sqrt(p.n_in)}
