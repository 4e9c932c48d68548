"""Vectorised torch form of the streaming pHSIC circuit's learning (``circuits.phsic``), for data sets.

:meth:`PHSIC.simulate_reference` steps every population through every integration step of every trial, one
trial after another: the reference that the Brian2 model is checked against, but ~1 ms per step in Python, too
slow for tens of thousands of samples. This module computes the *same weight trajectory* directly from the
quantities the circuit's gates read, using two facts the circuit guarantees (docstring of equations.py):

1. When a gate reads a signal, every signal has settled (the minimum phase durations are chosen so), so each
   gate sees the steady-state rates of the clamped sample: the settled forward pass of sample a (memory,
   stored by ``store``), of sample b (read by ``centre`` and ``learn``).
2. Weights change only at the last step of the last trial of an update window (``apply_update``), so all
   ``pairs_per_update`` pairs of a window see the same weights: their forward passes are one batched matmul.

Per window of P pairs (a_i, b_i), i = 0..P-1, in the circuit's order, for every hidden layer k (pre-synaptic
activity h^{k-1}: the input for k = 1, the layer below's forwarded output otherwise; all with the window's W):

    z = LReLU(h W^k), g = f'(a)                         forwards of a_i and b_i               (eq. 1)
    divnorm: S1, S2 per group; u = (S2 − S1 z̄ + δ)/n_α, w = u^(1−p), r = (z − z̄)/u^p          (eqs. 17-18, 21)
    b1_i = Σ_n (z_b − z_a)²   |   divnorm: Σ_α (Δw_α − mean Δw)²                              (eqs. 59, 65)
    kz_i = exp(−b1_i/2σ²),  k_y,i = (C y_b·y_a − 1)/(C − 1),  b2_i = γ k_y,i − 2 kz_i          (eqs. 26, 35, 60)
    b3 ← β b2_i + (1 − β) b3, sequentially over i (a scalar scan, the only sequential part)     (eq. 61)
    M_i = −(b2_i − b3_i) kz_i/σ²   (b3_i: after the i-th centring, as the ``learn`` gate sees it)    (eq. 62)
    plain:    acc = h_bᵀ (M (z_b − z_a) ∘ g_b) − h_aᵀ (M (z_b − z_a) ∘ g_a)     (Σ_i of eq. 41, as GEMMs)
    divnorm:  acc = h_bᵀ (M_α ∘ r_b ∘ g_b) − h_aᵀ (M_α ∘ r_a ∘ g_a),  M_α = M (Δw_α − mean Δw)   (eqs. 48, 66)
    W^k += lr_effective(k) · acc   (η, times 2(1−p)/n_α in divnorm, divided by P)

Nothing is approximated relative to the circuit: tests/test_phsic_streaming.py checks the weights after
several updates against ``simulate_reference`` to ≤ 1e-9 (float64; they agree to rounding). A window split
across two :meth:`StreamingPHSIC.process` calls is handled exactly (the partial sum waits, as in the circuit);
pairs of a trailing incomplete window move b3 but are never applied, again as in the circuit.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np
import torch

from neuromorph.errors import ShapeError

if TYPE_CHECKING:  # pragma: no cover
    from .circuit import PHSIC

__all__ = ["StreamingPHSIC", "stream_pair_indices"]


def stream_pair_indices(order: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sample indices (a, b) of the pairs (s_{t−1}, s_t) of a stream visiting samples in ``order``.

    Cyclic (s_{−1} = s_{n−1}), exactly as :meth:`PHSIC.trial_data` pairs a stream: every sample is once the
    new sample b and once the remembered sample a.
    """
    order = np.asarray(order)
    return np.roll(order, 1), order


class StreamingPHSIC:
    """The streaming circuit's plasticity, window by window (see the module docstring).

    ``weights`` in the circuit's layout ((n_pre, n_post) matrices, ``W_out``/``b_out`` fixed). ``dtype``:
    float64 reproduces ``simulate_reference`` to rounding; float32 is ~2x faster for training runs.
    ``record_history`` keeps every plastic matrix after every update (for tests; memory grows with updates).
    """

    def __init__(self, circuit: PHSIC, weights, *, dtype=torch.float64, record_history: bool = False):
        circuit.params.check_streaming()
        circuit.check_weights(weights)
        self.circuit, self.p, self.dtype = circuit, circuit.params, dtype
        p = self.p
        self.L = circuit.n_layers
        self.C = p.sizes[-1]
        self.divnorm = p.mode == "divnorm"
        self.W = {k: torch.as_tensor(np.array(weights[f"W{k}"], dtype=float), dtype=dtype) for k in range(1, self.L + 1)}
        self.fixed = {k: np.array(weights[k], dtype=float) for k in ("W_out", "b_out")}
        self.acc = {k: torch.zeros_like(w) for k, w in self.W.items()}
        self.b3 = [float(p.b3_start(k)) for k in range(1, self.L + 1)]  # Python floats: the scan below is scalar
        self.pending = 0  # pairs accumulated in the current (incomplete) window
        self.n_pairs = 0
        self.n_updates = 0
        self.record_history = record_history
        self.history: dict[str, list[np.ndarray]] = {f"W{k}": [] for k in range(1, self.L + 1)}
        self.last_window: dict = {}  # per-layer b2, b3, M, kz of the last window processed (diagnostics)

    # ---- public -------------------------------------------------------------------------------------------
    def process(self, x_a, x_b, y_a, y_b) -> None:
        """Feed pairs in the circuit's trial layout: inputs (n, N_0) and one-hot labels (n, C), in order."""
        xa, xb = self._tensor(x_a), self._tensor(x_b)
        ya, yb = np.asarray(y_a, dtype=float), np.asarray(y_b, dtype=float)
        n = xa.shape[0]
        if xa.shape != xb.shape or xa.ndim != 2 or xa.shape[1] != self.p.sizes[0]:
            raise ShapeError(f"phsic streaming: x_a, x_b must both have shape (n, {self.p.sizes[0]}), got {tuple(xa.shape)}, {tuple(xb.shape)}")
        if ya.shape != (n, self.C) or yb.shape != (n, self.C):
            raise ShapeError(f"phsic streaming: y_a, y_b must be one-hot (n, {self.C}), got {ya.shape}, {yb.shape}")
        dot = (ya * yb).sum(1)
        self._process(xa, xb, dot)

    def process_labels(self, x_a, x_b, labels_a, labels_b) -> None:
        """As :meth:`process`, with integer labels (the dot product of one-hot labels is label equality)."""
        xa, xb = self._tensor(x_a), self._tensor(x_b)
        la, lb = np.asarray(labels_a), np.asarray(labels_b)
        if la.shape != (xa.shape[0],) or lb.shape != la.shape:
            raise ShapeError(f"phsic streaming: labels must have shape ({xa.shape[0]},), got {la.shape}, {lb.shape}")
        if la.size and (min(la.min(), lb.min()) < 0 or max(la.max(), lb.max()) >= self.C):
            raise ShapeError(f"phsic streaming: labels must lie in [0, {self.C})")
        self._process(xa, xb, (la == lb).astype(float))

    def process_stream(self, x: np.ndarray, labels: np.ndarray, order: np.ndarray, *, chunk: int = 2048,
                       progress: Callable[[int], None] | None = None) -> None:
        """Stream samples ``x[order]`` through the circuit: pairs (s_{t−1}, s_t), cyclic (:func:`stream_pair_indices`).

        Pairs are built ``chunk`` at a time, so the data set is never duplicated into (x_a, x_b) arrays.
        """
        ia, ib = stream_pair_indices(order)
        for s in range(0, len(ib), chunk):
            a, b = ia[s:s + chunk], ib[s:s + chunk]
            self.process_labels(x[a], x[b], labels[a], labels[b])
            if progress is not None:
                progress(len(b))

    def weights(self) -> dict[str, np.ndarray]:
        """Current weights in the circuit's layout (float64 numpy), the fixed readout included."""
        out = {f"W{k}": w.to(torch.float64).numpy().copy() for k, w in self.W.items()}
        out.update({k: v.copy() for k, v in self.fixed.items()})
        return out

    def history_arrays(self) -> dict[str, np.ndarray]:
        """``Trace.weights`` layout: (n_updates, n_pre, n_post) per plastic matrix (needs ``record_history``)."""
        return {k: (np.stack(v) if v else np.zeros((0, *self.W[int(k[1:])].shape))) for k, v in self.history.items()}

    # ---- internals ------------------------------------------------------------------------------------------
    def _tensor(self, x) -> torch.Tensor:
        t = torch.as_tensor(np.asarray(x), dtype=self.dtype)
        if not torch.isfinite(t).all():
            raise ShapeError("phsic streaming: inputs contain NaN or inf")
        return t

    def _process(self, xa: torch.Tensor, xb: torch.Tensor, dot: np.ndarray) -> None:
        P = self.p.pairs_per_update
        i, n = 0, xa.shape[0]
        while i < n:
            take = min(P - self.pending, n - i)
            self._window(xa[i:i + take], xb[i:i + take], dot[i:i + take])
            self.pending += take
            self.n_pairs += take
            i += take
            if self.pending == P:  # apply_update: last step of the window's last trial
                for k in self.W:
                    self.W[k] = self.W[k] + self.p.lr_effective(k) * self.acc[k]
                    self.acc[k] = torch.zeros_like(self.acc[k])
                    if self.record_history:
                        self.history[f"W{k}"].append(self.W[k].to(torch.float64).numpy().copy())
                self.pending = 0
                self.n_updates += 1

    def _layer(self, h: torch.Tensor, k: int) -> dict:
        """Settled rates of layer k for a batch of samples (the same formulas as the circuit's populations)."""
        p = self.p
        a = h @ self.W[k]
        slope = float(p.leaky_slope)
        z = a.clamp(min=0) + slope * a.clamp(max=0)
        g = (a > 0).to(a.dtype) + slope * (a <= 0).to(a.dtype)
        res = {"z": z, "g": g}
        if self.divnorm:
            m, n = z.shape
            c = p.n_groups
            na = float(p.group_size(k))
            zg = z.reshape(m, c, -1)
            S1 = zg.sum(2)
            S2 = (zg * zg).sum(2)
            zbar = S1 / na
            u = (S2 - S1 * zbar + float(p.delta)) / na  # eq. 17, as the group interneuron computes it
            res["w"] = u ** (1.0 - float(p.power))  # eq. 18 before centring
            res["out"] = ((zg - zbar[:, :, None]) / (u ** float(p.power))[:, :, None]).reshape(m, n)  # eq. 21
        else:
            res["out"] = z
        return res

    def _window(self, xa: torch.Tensor, xb: torch.Tensor, dot: np.ndarray) -> None:
        p = self.p
        sig2, beta, gamma = float(p.sigma) ** 2, float(p.beta_avg), float(p.gamma)
        C = float(self.C)
        ky_np = (C * dot - 1.0) / (C - 1.0) if p.center_labels else dot
        ky = torch.as_tensor(ky_np, dtype=self.dtype)
        ha, hb = xa, xb
        diag = {}
        for k in range(1, self.L + 1):
            A, B = self._layer(ha, k), self._layer(hb, k)
            if self.divnorm:
                dw = B["w"] - A["w"]  # Δw_α, per pair and group
                D1 = dw.sum(1)
                b1 = (dw * dw).sum(1) - D1 * D1 / float(p.n_groups)  # Σ (Δv_α)², eq. 65
            else:
                d = B["out"] - A["out"]
                b1 = (d * d).sum(1)  # eq. 59
            kz = torch.exp(-b1 / (2 * sig2))
            b2 = gamma * ky - 2 * kz  # eq. 60
            # eq. 61: the running mean is updated at the end of every sample_b, before that pair's learn gate
            b3_seq = np.empty(len(dot))
            b3 = self.b3[k - 1]
            for i, v in enumerate(b2.to(torch.float64).tolist()):
                b3 = beta * v + (1.0 - beta) * b3
                b3_seq[i] = b3
            self.b3[k - 1] = b3
            b3_t = torch.as_tensor(b3_seq, dtype=self.dtype)
            M = -(b2 - b3_t) * kz / sig2  # eq. 62, one value per pair
            if self.divnorm:
                m_alpha = M[:, None] * (dw - (D1 / float(p.n_groups))[:, None])  # eq. 66
                mod = m_alpha.repeat_interleave(p.group_size(k), dim=1)
                post_b, post_a = mod * B["out"] * B["g"], mod * A["out"] * A["g"]  # eq. 48
            else:
                md = M[:, None] * (B["out"] - A["out"])  # eq. 41: M (z_b − z_a)
                post_b, post_a = md * B["g"], md * A["g"]
            self.acc[k] = self.acc[k] + (hb.T @ post_b - ha.T @ post_a)
            diag[k] = {"b2": b2, "b3": b3_t, "M": M, "kz": kz}
            ha, hb = A["out"], B["out"]
        self.last_window = diag
