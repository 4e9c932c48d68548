"""leaky_delta's Circuit: thin glue from the contract to params, brian_model, reference, spiking, trainer."""

from __future__ import annotations

import numpy as np
import torch

from neuromorph.brian.blocks import check_trial_inputs
from neuromorph.circuit import Circuit
from neuromorph.errors import ShapeError

from . import params as P
from . import reference


class LeakyDelta(Circuit):
    name = "leaky_delta"
    Params = P.LeakyDeltaParams
    description = "guide example: one leaky rate layer, free and nudged phases, windowed contrastive delta rule"
    weight_layout = staticmethod(P.weight_layout)

    def validate(self):
        P.validate(self.params)

    @property
    def schedule(self):
        return P.schedule(self.params)

    def plastic_names(self):
        return P.PLASTIC

    def initial_weights(self, seed):
        return P.initial_weights(self.params, seed)

    def example_data(self, n_trials, seed):
        p = self.params
        rng = np.random.default_rng(seed + 1)
        return {"x": rng.uniform(0, 1, size=(n_trials, p.n_in)), "y": np.eye(p.n_out)[rng.integers(0, p.n_out, n_trials)]}

    def _n_trials(self, data):
        return check_trial_inputs(self.name, data, {"x": (None, self.params.n_in), "y": (None, self.params.n_out)})

    def build_brian(self, weights, data):
        from .brian_model import build

        self.check_weights(weights)
        return build(self.params, self.schedule, weights, data, self.dt, self._n_trials(data))

    def simulate_reference(self, weights, data, dtype=torch.float64):
        self.check_weights(weights)
        return reference.simulate(self.params, weights, data, self._n_trials(data), dtype)

    def predict_rate(self, weights, x):
        return reference.free_rates(self.params, weights, x).argmax(axis=1)

    def build_spiking_brian(self, weights, x, *, encoding="poisson", t_sample=0.2, r_max=None, tau_syn=None):
        from . import spiking

        self.check_weights(weights)
        return spiking.build(self.params, weights, np.asarray(x, float), dt=self.dt, encoding=encoding, t_sample=t_sample,
                             r_max=r_max, tau_syn=tau_syn, reference_rates=reference.free_rates(self.params, weights, x))

    def trainer_options(self):
        return {}

    def make_trainer(self, n_in, n_classes, seed, **options):
        from .trainer import LeakyDeltaTrainer

        self.check_trainer_options(options)
        if (n_in, n_classes) != (self.params.n_in, self.params.n_out):
            raise ShapeError(f"leaky_delta is configured for n_in={self.params.n_in}, n_out={self.params.n_out}; the data "
                             f"has {n_in} features and {n_classes} classes: set params.n_in = {n_in}, params.n_out = {n_classes}")
        return LeakyDeltaTrainer(self.params, seed)
