"""leaky_delta: the example circuit of docs/writing-a-circuit.md.

One layer of leaky rate units O driven by clamped inputs X through a plastic matrix W. Each trial has a free
phase (O settles on the input alone; its rates are snapshotted at the end) and a nudged phase (O is pulled
toward the one-hot label y with strength β). At the end of the nudged phase every synapse accumulates the
contrastive term r_x (r_o^nudged − r_o^free); every ``batch`` trials W moves by lr/(β·batch) times the sum —
a delta rule computed from local activity in two phases:

    τ du/dt = −u + Wᵀr_x + nudge·β·(y − r),     r = clip(u, 0, 1)
    ΔW = lr/(β·batch) · Σ_window r_x (r^nudged − r^free)ᵀ

Load it without installing anything: ``neuromorph verify examples/leaky_delta:LeakyDelta``.
"""

from .circuit import LeakyDelta

__all__ = ["LeakyDelta"]
