"""leaky_delta's fast trainer: the torch reference, one update window per mini-batch."""

from __future__ import annotations

import numpy as np
import torch

from neuromorph.circuit import Trainer

from . import reference
from .params import initial_weights


class LeakyDeltaTrainer(Trainer):
    def __init__(self, params, seed: int, dtype=torch.float64):
        self.p, self.seed, self.dtype = params, seed, dtype
        self.W = torch.as_tensor(initial_weights(params, seed)["W"], dtype=dtype)

    def train_epoch(self, x, y, epoch, progress=None):
        p = self.p
        # sample order drawn from (seed, epoch): a resumed run repeats this epoch exactly
        order = np.random.default_rng([self.seed, epoch]).permutation(len(x))
        for s in range(0, len(order) - p.batch + 1, p.batch):
            idx = order[s : s + p.batch]
            xb = torch.as_tensor(np.asarray(x)[idx], dtype=self.dtype)
            yb = torch.as_tensor(np.eye(p.n_out)[np.asarray(y)[idx]], dtype=self.dtype)
            acc, _ = reference.window(p, self.W, xb, yb)
            self.W = self.W + p.lr / (p.beta * p.batch) * acc
            if progress is not None:
                progress(p.batch)
        return {}

    def predict(self, x):
        return reference.free_rates(self.p, self.weights(), x).argmax(axis=1)

    def weights(self):
        return {"W": self.W.double().numpy().copy()}

    def state_dict(self):
        return {"weights": self.weights()}

    def load_state_dict(self, state):
        self.W = torch.as_tensor(state["weights"]["W"], dtype=self.dtype)
