"""twocomp's fast trainer: its torch reference, one update window per mini-batch."""

from __future__ import annotations

import numpy as np
import torch

from neuromorph.circuit import Trainer
from neuromorph.errors import ShapeError

from . import reference
from .params import TwoCompParams, initial_weights

__all__ = ["TwoCompTrainer"]


class TwoCompTrainer(Trainer):
    """Mini-batch training of twocomp with its torch form (one update window = one mini-batch)."""

    def __init__(self, circuit, seed: int, dtype=torch.float32):
        self.circuit, self.seed, self.dtype = circuit, seed, dtype
        self.params: TwoCompParams = circuit.params
        self.W = {k: torch.as_tensor(v, dtype=dtype) for k, v in initial_weights(self.params, seed).items()}

    def train_epoch(self, x, y, epoch, progress=None):
        p = self.params
        x = np.asarray(x)
        if x.ndim != 2 or x.shape[1] != p.n_in:
            raise ShapeError(f"twocomp trainer: x has shape {x.shape}, expected (n, {p.n_in})")
        order = np.random.default_rng([self.seed, epoch]).permutation(len(x))
        n_batch = p.batch
        for start in range(0, len(order) - n_batch + 1, n_batch):
            idx = order[start : start + n_batch]
            xb = torch.as_tensor(x[idx], dtype=self.dtype)
            yb = torch.as_tensor(np.eye(p.n_out)[np.asarray(y)[idx]], dtype=self.dtype)
            acc, _ = reference.window(p, self.W, xb, yb)
            reference.apply(p, self.W, acc, n_batch)
            if progress is not None:
                progress(n_batch)
        return {}

    def predict(self, x):
        return reference.predict_rates(self.params, self.weights(), x).argmax(axis=1)

    def weights(self):
        return {k: v.double().numpy().copy() for k, v in self.W.items()}

    def state_dict(self):
        return {"weights": self.weights()}

    def load_state_dict(self, state):
        self.W = {k: torch.as_tensor(v, dtype=self.dtype) for k, v in state["weights"].items()}
