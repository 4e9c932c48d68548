"""The independent torch reference of CorInfoMax: the trials of a Brian2 run, integrated in torch.

Written from the equations (the docstrings of ``circuit.py`` and ``equations.py``), not from the Brian2
builder; it imports neither brian2 nor ``brian_model`` (a test enforces this). Weights are constant within a
window of ``batch`` trials, so the window's trials are integrated side by side: the computation Brian2 does
one trial after the other.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import torch

from neuromorph.circuit import Trace, TrialData

from .params import DYNAMIC_PHASES, CorInfoMaxParams, lateral_coefficients, phase_schedule, plastic_layout

__all__ = ["simulate", "free_rates"]


def simulate(params: CorInfoMaxParams, weights, data: TrialData, dtype=torch.float64, lr_factor: float = 1.0) -> Trace:
    """The trials of ``data`` (checked by the caller) from ``weights``: states ``u{k}`` (and, sparse, ``a{k}``)
    after every step, every plastic matrix (:func:`.params.plastic_layout`) after every window's update.

    A window is ``batch`` trials with one signed β; all updates come from the pre-update weights
    (Algorithm 3), an incomplete last window accumulates but never updates (as in Brian2). ``lr_factor`` is
    the epoch's learning-rate factor f.
    """
    p, sch = params, phase_schedule(params)
    n_trials = len(data["x"])
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
        c, h = lateral_coefficients(p, k)
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
    shapes = plastic_layout(p)
    history = {name: [] for name in shapes}
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
            if p.weight_decay:  # the code's εW term, on the updated matrix (params.py)
                Wff[k] = Wff[k] - (p.lr_ff[k] * lr_factor * eps) * Wff[k]
        for k in range(1, P):  # eq. 27
            e_n = rn[k] - rn[k + 1] @ Wfb[k]
            e_f = rf[k] - rf[k + 1] @ Wfb[k]
            hebb = (inv_beta * rn[k + 1]).T @ e_n - (inv_beta * rf[k + 1]).T @ e_f
            Wfb[k] = Wfb[k] + (p.lr_fb[k - 1] * lr_factor / nb) * hebb
            if p.weight_decay:
                Wfb[k] = Wfb[k] - (p.lr_fb[k - 1] * lr_factor * eps) * Wfb[k]
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

    return Trace(
        states={k: v.numpy() for k, v in rec.items()},
        weights={
            name: (torch.stack(v).numpy() if v else np.zeros((0, *shapes[name]))) for name, v in history.items()
        },
    )


def free_rates(params: CorInfoMaxParams, weights, x: np.ndarray) -> dict[str, np.ndarray]:
    """The rate model's rates at the end of the free phase, ``{"layer1": ..., "layerP": ...}`` (n, N_k).

    The free phase of :func:`simulate` for all rows at once (one window, so no weight update precedes any
    trial; the nudged phase that follows is ignored).
    """
    n = x.shape[0]
    one_window = dataclasses.replace(params, batch=n, t_nudged=1)
    data = {"x": x, "y": np.zeros((n, params.sizes[-1])), "beta": np.ones(n)}
    trace = simulate(one_window, weights, data)
    k_end = phase_schedule(one_window).end("free")
    lo, hi = 0.0, (None if params.variant == "sparse" else 1.0)
    return {f"layer{k}": np.clip(trace.states[f"u{k}"][:, k_end], lo, hi) for k in range(1, params.n_layers + 1)}
