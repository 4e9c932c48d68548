"""Mini-batch trainer of the URFB MLP (BP, BP-hinge, URFB, FRFB, ε-mixtures) on real data.

One epoch: a seeded permutation (seed, epoch), consecutive mini-batches of ``batch`` samples (a last partial
batch is used too, with its own size as the batch mean), :func:`reference.train_step` on each. Per epoch it
reports corr(W_l, R_lᵀ) for every layer with feedback matrices (the paper's Figs. 10–11).
"""

from __future__ import annotations

import numpy as np
import torch

from neuromorph.circuit import Trainer
from neuromorph.errors import ShapeError

from .params import URFBParams
from .reference import correlation, forward, init_weights, masks_of, train_step

__all__ = ["URFBTrainer"]


class URFBTrainer(Trainer):
    def __init__(self, params: URFBParams, seed: int, dtype=torch.float32, weights=None):
        self.params, self.seed, self.dtype = params, seed, dtype
        w0 = init_weights(params, seed) if weights is None else weights
        self.W = {k: torch.as_tensor(np.asarray(v), dtype=dtype).clone() for k, v in w0.items()}
        m = masks_of(params, w0)
        # no mask at all when nothing is pruned: the update is then the plain Hebbian increment
        self.masks = {k: torch.as_tensor(v, dtype=dtype) for k, v in m.items()} if params.connectivity < 1 else None

    def _check(self, x):
        x = np.asarray(x)
        if x.ndim != 2 or x.shape[1] != self.params.sizes[0]:
            raise ShapeError(f"urfb trainer: x has shape {x.shape}, expected (n, {self.params.sizes[0]})")
        return x

    def train_epoch(self, x, y, epoch, progress=None):
        x = self._check(x)
        y = np.asarray(y)
        order = np.random.default_rng([self.seed, epoch]).permutation(len(x))
        B = self.params.batch
        for start in range(0, len(order), B):
            idx = order[start : start + B]
            xb = torch.as_tensor(x[idx], dtype=self.dtype)
            yb = torch.as_tensor(y[idx])
            train_step(self.W, xb, yb, self.params, self.masks)
            if progress is not None:
                progress(len(idx))
        return {}

    def outputs(self, x, chunk: int = 4096) -> np.ndarray:
        x = self._check(x)
        out = []
        with torch.no_grad():
            for s in range(0, len(x), chunk):
                _, xs = forward(self.W, torch.as_tensor(x[s : s + chunk], dtype=self.dtype), self.params)
                out.append(xs[-1].double().numpy())
        return np.concatenate(out) if out else np.zeros((0, self.params.n_classes))

    def predict(self, x):
        return self.outputs(x).argmax(axis=1)

    def weights(self):
        return {k: v.double().numpy().copy() for k, v in self.W.items()}

    def state_dict(self):
        return {"weights": self.weights()}

    def load_state_dict(self, state):
        self.W = {k: torch.as_tensor(v, dtype=self.dtype) for k, v in state["weights"].items()}

    def epoch_metrics(self):
        """corr(W_l, R_lᵀ) per layer with a feedback matrix (Figs. 10–11)."""
        return {
            f"corr_W{l}_R{l}": correlation(self.W[f"W{l}"], self.W[f"R{l}"].T)
            for l in range(2, self.params.n_layers + 1)
            if f"R{l}" in self.W
        }
