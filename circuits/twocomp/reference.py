"""twocomp's independent torch reference: the same equations, forward Euler, a window's trials side by side.

Imports neither Brian2 nor brian_model (tests/test_contract.py checks): it is written from the equations in
the package docstring, not from the Brian2 model.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import torch

from neuromorph.circuit import Trace

from .params import PLASTIC, TwoCompParams, schedule

__all__ = ["window", "apply", "simulate", "predict_rates", "free_rates"]


def window(p: TwoCompParams, W, x, y, record=None):
    """One update window: its trials integrated side by side (the weights are constant within it).

    Returns the accumulated contrastive Hebbian terms and the output rates at the snapshot; fills
    ``record[name][:, k]`` if given.
    """
    a = p.dt_over_tau
    n_batch = x.shape[0]
    u_h = x.new_zeros(n_batch, p.n_hidden)
    u_i = x.new_zeros(n_batch, p.n_inh)
    u_o = x.new_zeros(n_batch, p.n_out)
    rf_h, rf_o = torch.zeros_like(u_h), torch.zeros_like(u_o)
    acc = {k: torch.zeros_like(W[k]) for k in PLASTIC}
    for step in schedule(p).steps():
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


def apply(p: TwoCompParams, W, acc, n_trials, lr_scale=1.0) -> None:
    """The window's update, in place: W += lr/(β n_trials) · acc."""
    W["W_xh"] = W["W_xh"] + lr_scale * p.lr_xh / (p.beta * n_trials) * acc["W_xh"]
    W["W_ho"] = W["W_ho"] + lr_scale * p.lr_ho / (p.beta * n_trials) * acc["W_ho"]


def simulate(p: TwoCompParams, weights, data, n_trials: int, dtype=torch.float64) -> Trace:
    """The circuit in torch, a window of ``batch`` trials integrated in parallel.

    Within a window the weights are constant, so running its trials side by side is the same computation
    as Brian2 running them one after another.
    """
    n_batch, T = p.batch, schedule(p).trial_steps
    W = {k: torch.as_tensor(np.asarray(v), dtype=dtype) for k, v in weights.items()}
    x_all = torch.as_tensor(np.asarray(data["x"]), dtype=dtype)
    y_all = torch.as_tensor(np.asarray(data["y"]), dtype=dtype)
    rec = {n: torch.zeros(n_trials, T, m, dtype=dtype) for n, m in (("u_h", p.n_hidden), ("u_i", p.n_inh), ("u_o", p.n_out))}
    history = {k: [] for k in PLASTIC}
    for start in range(0, n_trials, n_batch):
        sl = slice(start, min(start + n_batch, n_trials))
        window_rec = {k: v[sl] for k, v in rec.items()}  # views: window() writes into rec
        acc, _ = window(p, W, x_all[sl], y_all[sl], record=window_rec)
        if sl.stop - sl.start == n_batch:  # a full window: Brian2 applies the update at its last step too
            apply(p, W, acc, n_batch)
            for k in PLASTIC:
                history[k].append(W[k].clone())
    return Trace(
        states={k: v.numpy() for k, v in rec.items()},
        weights={k: (torch.stack(v).numpy() if v else np.zeros((0, *W[k].shape))) for k, v in history.items()},
    )


def predict_rates(p: TwoCompParams, weights, x, dtype=torch.float64) -> np.ndarray:
    """Output rates at the end of the free phase (the circuit's readout), for samples x."""
    W = {k: torch.as_tensor(np.asarray(v), dtype=dtype) for k, v in weights.items()}
    x = torch.as_tensor(np.asarray(x), dtype=dtype)
    _, r_free = window(p, W, x, x.new_zeros(x.shape[0], p.n_out))
    return r_free.numpy()


def free_rates(p: TwoCompParams, weights, x: np.ndarray) -> dict[str, np.ndarray]:
    """The rate model's rates at the end of the free phase: {"H", "Inh", "O"} -> (n, n_units).

    A free-only pass of :func:`simulate` (learning rates 0, one window, a 1-step nudged phase whose states
    are ignored).
    """
    n = x.shape[0]
    free_only = dataclasses.replace(p, lr_xh=0.0, lr_ho=0.0, batch=n, t_nudged=1)
    trace = simulate(free_only, weights, {"x": x, "y": np.zeros((n, p.n_out))}, n)
    k = p.t_free - 1
    return {
        "H": np.clip(trace.states["u_h"][:, k], 0, 1),
        "Inh": np.clip(trace.states["u_i"][:, k], 0, None),
        "O": np.clip(trace.states["u_o"][:, k], 0, 1),
    }
