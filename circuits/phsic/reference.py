"""The independent torch reference of the streaming pHSIC circuit (Pogodin & Latham 2020).

* :func:`simulate_reference`: the circuit of ``equations.py`` stepped population by population, integration step
  by integration step, in the Brian2 model's Gauss-Seidel sweep order (what ``neuromorph verify phsic`` compares
  with Brian2 to 1e-9). Written from the paper's equations, not from the Brian2 code: this module imports neither
  brian2 nor ``brian_model`` (tests/test_phsic_circuit.py checks).
* :func:`forward`: the settled rates of the inference (used by ``predict_rate`` and the spiking twin's checks).

The vectorised form of the same weight trajectory, for data sets, is ``streaming.py``; the batch form of the
gradient (eq. 40) that the paper trains with is the trainer's (``trainer.py``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch

from neuromorph.circuit import Trace
from neuromorph.errors import ShapeError

from .params import state_names, state_size

if TYPE_CHECKING:  # pragma: no cover
    from .circuit import PHSIC

__all__ = ["simulate_reference", "forward", "lrelu", "lrelu_prime"]


def lrelu(a: torch.Tensor, slope: float) -> torch.Tensor:
    """z = f(a) = LeakyReLU(a) (eq. 1)."""
    return a.clamp(min=0) + slope * a.clamp(max=0)


def lrelu_prime(a: torch.Tensor, slope: float) -> torch.Tensor:
    """g = f'(a): 1 for a > 0, the slope otherwise."""
    return (a > 0).to(a.dtype) + slope * (a <= 0).to(a.dtype)


def simulate_reference(circuit: PHSIC, weights, data, dtype=torch.float64) -> Trace:
    """The streaming circuit ``circuit`` (a :class:`~circuits.phsic.PHSIC`) in torch, one trial after another,
    step by step in the sweep order; a :class:`Trace` laid out like the Brian2 model's.

    Per step: (1) the sweep — every population recomputes its summed inputs from what the populations
    before it produced in this step and what those after it held at the end of the previous step;
    (2) the gates (memory, running average, Hebbian accumulation, weight update); (3) the record.
    """
    p, sch = circuit.params, circuit.schedule
    p.check_streaming()
    circuit.check_weights(weights)
    n_trials = circuit.check_data(data)
    N, L, C = p.sizes, p.n_hidden_layers, p.sizes[-1]
    divnorm = p.mode == "divnorm"
    slope, sig2, pw = float(p.leaky_slope), float(p.sigma) ** 2, float(p.power)
    T = sch.trial_steps

    def t(a):
        return torch.as_tensor(np.asarray(a, dtype=float), dtype=dtype)

    W = {k: t(weights[f"W{k}"]) for k in range(1, L + 1)}
    W_out, b_out = t(weights["W_out"]), t(weights["b_out"])
    xa, xb, ya, yb = (t(data[k]) for k in ("x_a", "x_b", "y_a", "y_b"))
    z0 = lambda n: torch.zeros(n, dtype=dtype)  # noqa: E731

    # state: the parameters (summed inputs, memories, b3) of every population
    x_a_mem, y_a_mem = z0(N[0]), z0(C)
    I = {k: z0(N[k]) for k in range(1, L + 1)}
    mod = {k: z0(N[k]) for k in range(1, L + 1)}
    out_a = {k: z0(N[k]) for k in range(1, L + 1)}
    g_a = {k: z0(N[k]) for k in range(1, L + 1)}
    zbar_L = {k: z0(N[k]) for k in range(1, L + 1)}
    u_L = {k: z0(N[k]) for k in range(1, L + 1)}
    S1 = {k: z0(p.n_groups) for k in range(1, L + 1)}
    S2 = {k: z0(p.n_groups) for k in range(1, L + 1)}
    w_a = {k: z0(p.n_groups) for k in range(1, L + 1)}
    Mc = {k: z0(p.n_groups) for k in range(1, L + 1)}
    dmean_N = {k: z0(p.n_groups) for k in range(1, L + 1)}
    b1p = {k: z0(1) for k in range(1, L + 1)}  # plain: b1;  divnorm: (D1, D2)
    D1 = {k: z0(1) for k in range(1, L + 1)}
    D2 = {k: z0(1) for k in range(1, L + 1)}
    ky_in = {k: z0(1) for k in range(1, L + 1)}
    kz_in2 = {k: z0(1) for k in range(1, L + 1)}
    b2_in = {k: z0(1) for k in range(1, L + 1)}
    kz_in3 = {k: z0(1) for k in range(1, L + 1)}
    b3 = {k: torch.full((1,), p.b3_start(k), dtype=dtype) for k in range(1, L + 1)}
    dot = z0(1)
    I_o = z0(C)
    acc = {k: torch.zeros_like(W[k]) for k in W}

    # the populations' rates, as functions of their parameters
    def z_of(k):
        return lrelu(I[k], slope)

    def g_of(k):
        return lrelu_prime(I[k], slope)

    def out_of(k):
        return (z_of(k) - zbar_L[k]) / u_L[k] ** pw if divnorm else z_of(k)

    def n_zbar(k):
        return S1[k] / float(p.group_size(k))

    def n_u(k):
        na = float(p.group_size(k))
        return (S2[k] - S1[k] * n_zbar(k) + float(p.delta)) / na

    def n_w(k):
        return n_u(k) ** (1.0 - pw)

    def n_malpha(k):
        return Mc[k] * (n_w(k) - w_a[k] - dmean_N[k])

    def b1_of(k):
        return D2[k] - D1[k] * D1[k] / float(p.n_groups) if divnorm else b1p[k]

    def kz_of(k):
        return torch.exp(-b1_of(k) / (2 * sig2))

    def b1_dmean(k):
        return D1[k] / float(p.n_groups)

    def b2_of(k):
        return float(p.gamma) * ky_in[k] - 2 * kz_in2[k]

    def M_of(k):
        return -(b2_in[k] - b3[k]) * kz_in3[k] / sig2

    def ky_of():
        return (float(C) * dot - 1) / float(C - 1) if p.center_labels else dot

    def expand(v, k):  # group value -> its neurons
        return v.repeat_interleave(p.group_size(k))

    rec = {name: torch.zeros(n_trials, T, state_size(p, name), dtype=dtype) for name in state_names(p)}
    history = {k: [] for k in W}
    for trial in range(n_trials):
        for step in sch.steps():
            a_phase = step.phase.name == "sample_a"
            x = (xa[trial] if a_phase else xb[trial]) * float(step.clamped("x"))
            y = (ya[trial] if a_phase else yb[trial]) * float(step.clamped("y"))
            # (1) the sweep
            h = x
            for k in range(1, L + 1):
                I[k] = h @ W[k]  # L_k's inputs: from below (this step) ...
                if divnorm:  # ... and from its interneurons (previous step)
                    zbar_L[k], u_L[k], mod[k] = expand(n_zbar(k), k), expand(n_u(k), k), expand(n_malpha(k), k)
                    zk = z_of(k)
                    S1[k] = zk.reshape(p.n_groups, -1).sum(1)
                    S2[k] = (zk * zk).reshape(p.n_groups, -1).sum(1)
                    Mc[k] = M_of(k).expand(p.n_groups).clone()
                    dmean_N[k] = b1_dmean(k).expand(p.n_groups).clone()
                else:
                    mod[k] = M_of(k).expand(N[k]).clone()
                h = out_of(k)
            I_o = h @ W_out
            dot = (y * y_a_mem).sum().reshape(1)
            for k in range(1, L + 1):
                if divnorm:
                    dw = n_w(k) - w_a[k]
                    D1[k], D2[k] = dw.sum().reshape(1), (dw * dw).sum().reshape(1)
                else:
                    d = out_of(k) - out_a[k]
                    b1p[k] = (d * d).sum().reshape(1)
                ky_in[k], kz_in2[k] = ky_of(), kz_of(k)
                b2_in[k], kz_in3[k] = b2_of(k), kz_of(k)
            # (2) the gates
            if "store" in step.gates:
                x_a_mem, y_a_mem = x.clone(), y.clone()
                for k in range(1, L + 1):
                    out_a[k], g_a[k] = out_of(k), g_of(k)
                    if divnorm:
                        w_a[k] = n_w(k)
            if "centre" in step.gates:
                for k in range(1, L + 1):
                    b3[k] = float(p.beta_avg) * b2_in[k] + (1.0 - float(p.beta_avg)) * b3[k]
            if "learn" in step.gates:
                pre, pre_a = x, x_a_mem
                for k in range(1, L + 1):
                    post, post_a = out_of(k), out_a[k]
                    if divnorm:
                        hebb = torch.outer(pre, mod[k] * post * g_of(k)) - torch.outer(pre_a, mod[k] * post_a * g_a[k])
                    else:
                        hebb = (mod[k] * (post - post_a))[None, :] * (
                            pre[:, None] * g_of(k)[None, :] - pre_a[:, None] * g_a[k][None, :]
                        )
                    acc[k] = acc[k] + hebb
                    pre, pre_a = post, post_a
            if step.k == T - 1 and sch.applies_update(trial):
                for k in range(1, L + 1):
                    W[k] = W[k] + p.lr_effective(k) * acc[k]
                    acc[k] = torch.zeros_like(acc[k])
                    history[k].append(W[k].clone())
            # (3) the record
            values = {"ky": ky_of(), "o": I_o + b_out}
            for k in range(1, L + 1):
                values.update(
                    {f"z{k}": z_of(k), f"mod{k}": mod[k], f"b1_{k}": b1_of(k), f"b2_{k}": b2_of(k), f"b3_{k}": b3[k], f"M{k}": M_of(k)}
                )
                if divnorm:
                    values.update({f"r{k}": out_of(k), f"u{k}": n_u(k)})
            for name in rec:
                rec[name][trial, step.k] = values[name]
    return Trace(
        states={k: v.numpy() for k, v in rec.items()},
        weights={f"W{k}": (torch.stack(v).numpy() if v else np.zeros((0, *W[k].shape))) for k, v in history.items()},
    )


def forward(circuit: PHSIC, weights, x, dtype=torch.float64) -> dict[str, np.ndarray]:
    """Settled rates of the inference for samples x (n, N_0): ``out{k}`` (the forwarded activity of every hidden
    layer: z, or r in divnorm, eqs. 1, 17, 21) and the readout ``o`` = W_outᵀ h^L + b_out."""
    p = circuit.params
    circuit.check_weights(weights)
    x = np.asarray(x, dtype=float)
    if x.ndim != 2 or x.shape[1] != p.sizes[0]:
        raise ShapeError(f"{circuit.name}: inputs have shape {x.shape}, expected (n, {p.sizes[0]})")
    h = torch.as_tensor(x, dtype=dtype)
    res = {}
    for k in range(1, p.n_hidden_layers + 1):
        z = lrelu(h @ torch.as_tensor(np.asarray(weights[f"W{k}"]), dtype=dtype), float(p.leaky_slope))
        if p.mode == "divnorm":
            m, n = z.shape
            zg = z.reshape(m, p.n_groups, -1)
            S1 = zg.sum(2, keepdim=True)
            zbar = S1 / float(p.group_size(k))
            u = ((zg * zg).sum(2, keepdim=True) - S1 * zbar + float(p.delta)) / float(p.group_size(k))
            z = ((zg - zbar) / u ** float(p.power)).reshape(m, n)
        h = z
        res[f"out{k}"] = h.numpy()
    o = h @ torch.as_tensor(np.asarray(weights["W_out"]), dtype=dtype) + torch.as_tensor(np.asarray(weights["b_out"]), dtype=dtype)
    res["o"] = o.numpy()
    return res
