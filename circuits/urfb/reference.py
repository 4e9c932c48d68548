"""The independent torch reference of URFB: the MLP learning rules and the Appendix-1 circuit, step by step.

Two levels, both plain torch (this module must not import brian2 nor brian_model; a test enforces it):

* the algorithm (§3, eqs. 1–7): :func:`forward`, :func:`output_delta` (rule 6 or softmax), :func:`train_step`
  (BP, BP-hinge, URFB, FRFB, ε-mixtures; optional pruning masks) - what the trainer runs;
* the circuit (Appendix 1, Fig. 15): :func:`simulate_circuit` steps the same discrete-time units as the
  Brian2 model (supervisory, error, control and veto units at the output, shutdown and feedback units in
  the hidden layers, Hebbian accumulate-and-apply synapses) through the phase schedule and records every
  state after every step, laid out like Brian2's trace.

Step semantics shared with the Brian2 model: at each integration step the summed inputs (h_l = x_{l-1} W_l,
fb_{l-1} = δ_l R_l) are computed from the states stored at the end of the previous step (Brian2's 'groups'
slot), then the phase's gated latches run (the 'end' slot: order 0 states, order 1 Hebbian accumulation,
order 2 weight application).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch

from neuromorph.circuit import Trace
from neuromorph.errors import ConfigError

from .params import URFBParams, phase_schedule, plastic_layout, weight_layout

__all__ = [
    "init_weights",
    "masks_of",
    "sigma",
    "sigma_prime",
    "hinge_delta",
    "softmax_delta",
    "output_delta",
    "forward",
    "train_step",
    "correlation",
    "sigma_delta",
    "sigma_t",
    "sigma_k",
    "simulate_circuit",
    "CircuitCannotRun",
    "check_circuit_params",
    "circuit_state_names",
]


# ---- weights -------------------------------------------------------------------------------------------------
def init_weights(params: URFBParams, seed: int) -> dict[str, np.ndarray]:
    """Independent Glorot-uniform draws for every W and R (code: TF default init), pruned if connectivity < 1.

    Draw order is fixed (W1..WL, then R2..RL, then the masks in the same order) so a seed names one network.
    """
    rng = np.random.default_rng(seed)
    layout = weight_layout(params)
    out = {}
    for name, (n_pre, n_post) in layout.items():
        a = params.init_scale * np.sqrt(6.0 / (n_pre + n_post))
        out[name] = rng.uniform(-a, a, size=(n_pre, n_post))
    if params.connectivity < 1.0:
        for name in layout:
            if _pruned(params, name):
                keep = rng.random(out[name].shape) < params.connectivity
                out[name] = np.where(keep, out[name], 0.0)
    return out


def _pruned(params: URFBParams, name: str) -> bool:
    """Whether matrix ``name`` is pruned: all of them when connectivity < 1, except the output layer's
    unless ``prune_output`` (code exempts the last dense layer)."""
    if params.connectivity >= 1.0:
        return False
    return params.prune_output or int(name[1:]) != params.n_layers


def masks_of(params: URFBParams, weights: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Per-matrix update masks: the pruned entries (exact zeros of the initial weights) never change
    (code ``update_only_non_zero``); unpruned matrices get a mask of ones."""
    return {
        k: (np.asarray(v) != 0.0).astype(float) if _pruned(params, k) else np.ones(np.shape(v))
        for k, v in weights.items()
    }


# ---- the algorithm -----------------------------------------------------------------------------------------------
def sigma(h: torch.Tensor, slope: float) -> torch.Tensor:
    """Saturated linearity σ(h) = clip(slope·h, −1, 1) (§3.1 Remark 2)."""
    return (slope * h).clamp(-1.0, 1.0)


def sigma_prime(h: torch.Tensor, slope: float) -> torch.Tensor:
    """σ'(h) = slope·1[|slope·h| < 1]: zero where the unit saturates, |x| = 1 included (eq. 3)."""
    return slope * ((slope * h).abs() < 1.0).to(h.dtype)


def hinge_delta(out: torch.Tensor, labels: torch.Tensor, mu: float, margin: float = 1.0) -> torch.Tensor:
    """Rule (6): 1 for the presented class if x_c ≤ S, −μ for the others if x_i ≥ −S, 0 otherwise."""
    onehot = torch.nn.functional.one_hot(labels.long(), out.shape[1]).to(torch.bool)
    pos = (out <= margin).to(out.dtype)
    neg = -mu * (out >= -margin).to(out.dtype)
    return torch.where(onehot, pos, neg)


def softmax_delta(out: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """−∂L/∂x_L of softmax cross-entropy: y − softmax(x_L) (§3.2)."""
    onehot = torch.nn.functional.one_hot(labels.long(), out.shape[1]).to(out.dtype)
    return onehot - torch.softmax(out, dim=1)


def output_delta(out: torch.Tensor, labels: torch.Tensor, params: URFBParams) -> torch.Tensor:
    if params.loss == "softmax":
        return softmax_delta(out, labels)
    return hinge_delta(out, labels, params.mu_value, params.margin)


def forward(W: Mapping[str, torch.Tensor], x: torch.Tensor, params: URFBParams):
    """Fields h_1..h_L and activities x_0..x_L (x_L = h_L, linear output; eq. 1)."""
    xs, hs = [x], []
    L = params.n_layers
    for l in range(1, L + 1):
        h = xs[-1] @ W[f"W{l}"]
        hs.append(h)
        xs.append(sigma(h, params.slope) if l < L else h)
    return hs, xs


def train_step(
    W: dict[str, torch.Tensor],
    x: torch.Tensor,
    labels: torch.Tensor,
    params: URFBParams,
    masks: Mapping[str, torch.Tensor] | None = None,
) -> dict[int, torch.Tensor]:
    """One SGD step on the mini-batch (x, labels); updates ``W`` (dict of W{l}, R{l}) in place.

    Top-down (Fig. 15): δ_l, then ΔW_l = η x_{l-1}ᵀ δ_l / B and ΔR_l = ε ΔW_lᵀ (masked), then
    δ_{l-1} = σ'(h_{l-1}) ⊙ (δ_l F_l) with F_l = R_l (URFB/FRFB) or W_lᵀ (BP), taken after the update if
    ``feedback_after_update`` else before. Returns the per-sample δ_l of every layer (l = 1..L).
    """
    p = params
    L = p.n_layers
    hs, xs = forward(W, x, p)
    delta = output_delta(xs[-1], labels, p)
    deltas = {L: delta}
    scale = p.lr / x.shape[0]
    eps = p.r_factor
    for l in range(L, 0, -1):
        wn, rn = f"W{l}", f"R{l}"
        g = scale * (xs[l - 1].T @ delta)
        W_old = W[wn]
        W[wn] = W_old + (g * masks[wn] if masks is not None else g)
        R_old = W.get(rn)
        if p.uses_R and R_old is not None and eps != 0.0:
            gr = eps * g.T
            W[rn] = R_old + (gr * masks[rn] if masks is not None else gr)
        if l > 1:
            if p.uses_R:
                F = W[rn] if p.feedback_after_update else R_old
            else:
                F = (W[wn] if p.feedback_after_update else W_old).T
            delta = sigma_prime(hs[l - 2], p.slope) * (delta @ F)
            deltas[l - 1] = delta
    return deltas


def correlation(a, b) -> float:
    """Pearson correlation of two matrices' entries (the paper's corr(W_l, R_l), Figs. 10–12)."""
    a = torch.as_tensor(a, dtype=torch.float64).reshape(-1)
    b = torch.as_tensor(b, dtype=torch.float64).reshape(-1)
    a, b = a - a.mean(), b - b.mean()
    den = float(a.norm() * b.norm())
    return float(a @ b) / den if den > 0 else 0.0


# ---- the circuit of Appendix 1 ---------------------------------------------------------------------------------------
def sigma_delta(H: torch.Tensor, M: float, S: float, mu: float, overshoot: float) -> torch.Tensor:
    """σ_δ of Appendix 1: 1+ε' above 2M+S, 1 on (M, 2M+S], 0 on [−M, M], −μ on [−2M−S, −M), −μ−ε' below."""
    f = lambda c: c.to(H.dtype)  # noqa: E731
    return (
        (1.0 + overshoot) * f(H > 2 * M + S)
        + f(H > M) * f(H <= 2 * M + S)
        - mu * f(H < -M) * f(H >= -2 * M - S)
        - (mu + overshoot) * f(H < -2 * M - S)
    )


def sigma_t(d: torch.Tensor, mu: float) -> torch.Tensor:
    """σ_t of Appendix 1: 1 above 1, 0 on [−μ, 1], −1 below −μ."""
    return (d > 1.0).to(d.dtype) - (d < -mu).to(d.dtype)


def sigma_k(z: torch.Tensor, K: float) -> torch.Tensor:
    """σ_δ of the shutdown circuit (Appendix 1): z if z ≥ −K else 0."""
    return z * (z >= -K).to(z.dtype)


def circuit_state_names(params: URFBParams) -> dict[str, int]:
    """Recorded state name -> number of units: x, u, v, d per hidden layer; h, d, t, z, e at the output."""
    N, L = params.sizes, params.n_layers
    names = {}
    for l in range(1, L):
        for s in ("x", "u", "v", "d"):
            names[f"{s}{l}"] = N[l]
    for s in ("h", "d", "tc", "z", "err"):
        names[f"{s}_out"] = N[L]
    return names


class CircuitCannotRun(ConfigError, NotImplementedError):
    """A configuration the Appendix-1 circuit cannot run (BP methods, simpnet, Fig. 15's order with batch > 1).

    A ConfigError (``neuromorph verify`` prints it as one ``error:`` line) that is also a NotImplementedError:
    the runner then skips the phase timeline of a trainer-only configuration after training instead of
    failing a finished run (it catches NotImplementedError there)."""


def check_circuit_params(params: URFBParams) -> None:
    """The circuit runs URFB/FRFB (hinge error, R feedback); Fig. 15's order needs one trial per update."""
    ConfigError = CircuitCannotRun  # noqa: N806 - every refusal below is a CircuitCannotRun

    if params.arch != "mlp":
        raise ConfigError(f"the urfb circuit is an MLP; arch {params.arch!r} is trainer-only: set params.arch = 'mlp'")
    if not params.uses_R:
        raise ConfigError(
            f"the urfb circuit implements methods 'urfb' and 'frfb' (feedback through R), not {params.method!r}; "
            "set params.method = 'urfb' or 'frfb' (BP variants are trainer-only)"
        )
    if params.feedback_after_update and params.batch != 1:
        raise ConfigError(
            f"the circuit runs its trials one after another, so Fig. 15's order (feedback_after_update = true) "
            f"needs params.batch = 1, got {params.batch}; set params.batch = 1 or params.feedback_after_update = false"
        )


def simulate_circuit(
    params: URFBParams, weights: Mapping[str, np.ndarray], x: np.ndarray, y: np.ndarray, dtype=torch.float64
) -> Trace:
    """Run the Appendix-1 circuit on trials (x, one-hot y), one after another; a Trace like Brian2's.

    ``weights``: the W{l} and R{l} of :func:`weight_layout`. States: after every step of every trial.
    Weights: every plastic matrix after every update (one per ``batch`` trials; ``feedback_after_update``
    needs batch 1 and applies each layer's increment in its ``upd`` phase, Fig. 15).
    """
    p = params
    check_circuit_params(p)
    L = p.n_layers
    sch = phase_schedule(p)
    T = sch.trial_steps
    n_trials = x.shape[0]
    mu, M, S, K, s_ = p.mu_value, p.M, p.margin, p.K, p.slope
    W = {k: torch.as_tensor(np.asarray(v), dtype=dtype).clone() for k, v in weights.items()}
    mask = {k: torch.as_tensor(v, dtype=dtype) for k, v in masks_of(p, weights).items()}
    plastic = plastic_layout(p)
    X = torch.as_tensor(np.asarray(x), dtype=dtype)
    sup = 2.0 * torch.as_tensor(np.asarray(y), dtype=dtype) - 1.0  # s_c = +1 presented class, −1 otherwise
    names = circuit_state_names(p)
    rec = {k: torch.zeros(n_trials, T, n, dtype=dtype) for k, n in names.items()}
    history = {k: [] for k in plastic}
    st = {k: torch.zeros(n, dtype=dtype) for k, n in names.items() if not k.startswith("h")}
    acc = {k: torch.zeros_like(W[k]) for k in plastic}

    def apply(keys, n_batch):
        for k in keys:
            # the same expressions as the Brian2 namespace's eta_w, eta_r (identical rounding)
            rate = p.r_factor * p.lr / n_batch if k.startswith("R") else p.lr / n_batch
            W[k] = W[k] + rate * mask[k] * acc[k]
            acc[k] = torch.zeros_like(acc[k])

    for trial in range(n_trials):
        x0 = X[trial]
        for step in sch.steps():
            if "zero" in step.resets:  # 'start' slot of the trial's first step
                for k in st:
                    st[k] = torch.zeros_like(st[k])
            # 'groups' slot: summed inputs from the stored states
            xs = [x0] + [st[f"x{l}"] for l in range(1, L)]
            h = {l: xs[l - 1] @ W[f"W{l}"] for l in range(1, L + 1)}
            d_of = {l: st[f"d{l}"] for l in range(1, L)}
            d_of[L] = st["err_out"]
            fb = {l - 1: d_of[l] @ W[f"R{l}"] for l in range(2, L + 1)}
            ph = step.phase.name
            # 'end' slot, order 0: the phase's latches
            if ph == "forward":
                for l in range(1, L):
                    st[f"x{l}"] = sigma(h[l], s_)
            elif ph == "err":
                d = sigma_delta(h[L] + 2 * M * sup[trial] - 2 * M * st["tc_out"], M, S, mu, p.overshoot)
                t = sigma_t(d, mu)
                st["d_out"], st["tc_out"] = d, t
                st["z_out"] = st["z_out"] + (1.0 - st["z_out"]) * (t != 0).to(dtype)
                st["err_out"] = d * (1.0 - st["z_out"])
            elif ph.startswith("uv"):
                l = int(ph[2:])
                st[f"u{l}"] = (st[f"x{l}"] >= 1.0).to(dtype)
                st[f"v{l}"] = -(st[f"x{l}"] <= -1.0).to(dtype)
                # (x is latched, not recomputed: the shutdown units read the stored feedforward activity)
            elif ph.startswith("fb"):
                l = int(ph[2:])
                st[f"d{l}"] = s_ * sigma_k(fb[l] - 2 * K * st[f"u{l}"] + 2 * K * st[f"v{l}"], K)
            # order 1: Hebbian accumulation (pre × post of the units each synapse connects)
            if ph.startswith("upd"):
                l = int(ph[3:])
                xpre = x0 if l == 1 else st[f"x{l - 1}"]
                dl = st["err_out"] if l == L else st[f"d{l}"]
                if f"W{l}" in acc:
                    acc[f"W{l}"] = acc[f"W{l}"] + torch.outer(xpre, dl)
                if f"R{l}" in acc:
                    acc[f"R{l}"] = acc[f"R{l}"] + torch.outer(dl, xpre)
                # order 2: Fig. 15 applies the layer's increment right away (batch 1)
                if p.feedback_after_update:
                    apply([k for k in (f"W{l}", f"R{l}") if k in acc], 1)
            if (
                not p.feedback_after_update
                and step.k == T - 1
                and sch.applies_update(trial)
            ):
                apply(list(acc), p.batch)
            # record (Brian2's monitors at the end of the step); h is the summed input of this step
            rec["h_out"][trial, step.k] = h[L]
            for k in st:
                rec[k][trial, step.k] = st[k]
        if sch.applies_update(trial):
            for k in plastic:
                history[k].append(W[k].clone())
    return Trace(
        states={k: v.numpy() for k, v in rec.items()},
        weights={k: (torch.stack(v).numpy() if v else np.zeros((0, *W[k].shape))) for k, v in history.items()},
    )
