"""leaky_delta's independent torch reference, written from the equations in the package docstring
(no Brian2, no brian_model import). Brian2's order within a step is mirrored: resets (start), the Euler
update from the rates at the step's start, then snapshot, accumulate and apply (end slot, in that order)."""

from __future__ import annotations

import numpy as np
import torch

from neuromorph.circuit import Trace

from .params import LeakyDeltaParams, schedule


def window(p: LeakyDeltaParams, W, x, y, record=None):
    """One update window, its trials side by side (W is constant within it): (accumulated term, free rates)."""
    a = p.dt_over_tau
    u = x.new_zeros(x.shape[0], p.n_out)
    r_free = torch.zeros_like(u)
    acc = torch.zeros_like(W)
    for step in schedule(p).steps():
        if "zero" in step.resets:
            u = torch.zeros_like(u)
        r_x = x if step.clamped("x") else torch.zeros_like(x)
        r = u.clamp(0, 1)
        u = u + a * (-u + r_x @ W + step.nudge * p.beta * (y - r))
        r = u.clamp(0, 1)
        if "snapshot" in step.gates:
            r_free = r
        if "learn" in step.gates:
            acc = acc + r_x.T @ (r - r_free)
        if record is not None:
            record[:, step.k] = u
    return acc, r_free


def simulate(p: LeakyDeltaParams, weights, data, n_trials: int, dtype=torch.float64) -> Trace:
    T = schedule(p).trial_steps
    W = torch.as_tensor(np.asarray(weights["W"]), dtype=dtype)
    x = torch.as_tensor(np.asarray(data["x"]), dtype=dtype)
    y = torch.as_tensor(np.asarray(data["y"]), dtype=dtype)
    rec = torch.zeros(n_trials, T, p.n_out, dtype=dtype)
    history = []
    for s in range(0, n_trials, p.batch):
        sl = slice(s, min(s + p.batch, n_trials))
        acc, _ = window(p, W, x[sl], y[sl], record=rec[sl])
        if sl.stop - sl.start == p.batch:  # Brian2 applies the update on the window's last step
            W = W + p.lr / (p.beta * p.batch) * acc
            history.append(W.clone())
    weights_hist = torch.stack(history).numpy() if history else np.zeros((0, *W.shape))
    return Trace(states={"u_o": rec.numpy()}, weights={"W": weights_hist})


def free_rates(p: LeakyDeltaParams, weights, x, dtype=torch.float64) -> np.ndarray:
    """Output rates at the end of the free phase: the circuit's prediction (argmax) and the twin's reference."""
    W = torch.as_tensor(np.asarray(weights["W"]), dtype=dtype)
    x = torch.as_tensor(np.asarray(x, dtype=float), dtype=dtype)
    _, r_free = window(p, W, x, x.new_zeros(x.shape[0], p.n_out))
    return r_free.numpy()
