"""The registry's twocomp: thin glue from the Circuit contract to params, brian_model, reference, spiking
and trainer."""

from __future__ import annotations

import numpy as np
import torch

from neuromorph.brian.blocks import check_trial_inputs
from neuromorph.circuit import Circuit, Trace, TrialData
from neuromorph.errors import ConfigError, ShapeError
from neuromorph.phases import PhaseSchedule

from . import params as P
from . import reference
from .params import TwoCompParams

__all__ = ["TwoComp"]

_DTYPES = {"float32": torch.float32, "float64": torch.float64}


class TwoComp(Circuit):
    name = "twocomp"
    Params = TwoCompParams
    description = "neuromorph's demo: two-compartment rate cells, interneurons, phase-gated Hebbian learning"
    weight_layout = staticmethod(P.weight_layout)

    def validate(self):
        P.validate(self.params)

    @property
    def schedule(self) -> PhaseSchedule:
        return P.schedule(self.params)

    def plastic_names(self) -> tuple[str, ...]:
        return P.PLASTIC

    # ---- weights and data --------------------------------------------------------------------------------
    def initial_weights(self, seed: int) -> dict[str, np.ndarray]:
        return P.initial_weights(self.params, seed)

    def example_data(self, n_trials: int, seed: int) -> TrialData:
        p = self.params
        rng = np.random.default_rng(seed + 1)
        labels = rng.integers(0, p.n_out, size=n_trials)
        return {"x": rng.uniform(0, 1, size=(n_trials, p.n_in)), "y": np.eye(p.n_out)[labels]}

    def _check_data(self, data: TrialData) -> int:
        p = self.params
        return check_trial_inputs(self.name, data, {"x": (None, p.n_in), "y": (None, p.n_out)})

    def _check_x(self, x) -> np.ndarray:
        x = np.asarray(x, dtype=float)
        check_trial_inputs(self.name, {"x": x}, {"x": (None, self.params.n_in)})
        return x

    # ---- the two simulators --------------------------------------------------------------------------------
    def build_brian(self, weights, data):
        from .brian_model import build

        self.check_weights(weights)
        n_trials = self._check_data(data)
        return build(self.params, self.schedule, weights, data, self.dt, n_trials)

    def simulate_reference(self, weights, data, dtype=torch.float64) -> Trace:
        self.check_weights(weights)
        n_trials = self._check_data(data)
        return reference.simulate(self.params, weights, data, n_trials, dtype)

    def predict_rates(self, weights, x, dtype=torch.float64) -> np.ndarray:
        """Output rates at the end of the free phase (the circuit's readout), for samples x."""
        return reference.predict_rates(self.params, weights, x, dtype)

    def predict_rate(self, weights, x) -> np.ndarray:
        """argmax of the output rates at the end of the free phase (ties → lowest index)."""
        self.check_weights(weights)
        return np.argmax(reference.free_rates(self.params, weights, self._check_x(x))["O"], axis=1)

    def build_spiking_brian(self, weights, x, *, encoding="poisson", t_sample=0.2, r_max=None, tau_syn=None):
        """The spiking twin of the free phase (circuits/twocomp/spiking.py)."""
        from . import spiking

        self.check_weights(weights)
        x = self._check_x(x)
        return spiking.build(
            self.params, weights, x, dt=self.dt, encoding=encoding, t_sample=t_sample, r_max=r_max, tau_syn=tau_syn,
            reference_rates=reference.free_rates(self.params, weights, x),
        )

    # ---- training ---------------------------------------------------------------------------------------------
    def trainer_options(self) -> dict:
        return {"dtype": "float32"}

    def make_trainer(self, n_in, n_classes, seed, **options):
        from .trainer import TwoCompTrainer

        opts = self.check_trainer_options(options)
        dtype = opts["dtype"]
        if isinstance(dtype, str):
            if dtype not in _DTYPES:
                raise ConfigError(f"twocomp: trainer option dtype must be one of {sorted(_DTYPES)}, got {dtype!r}")
            dtype = _DTYPES[dtype]
        if (n_in, n_classes) != (self.params.n_in, self.params.n_out):
            raise ShapeError(
                f"twocomp is configured for n_in={self.params.n_in}, n_out={self.params.n_out} but the data has "
                f"{n_in} features and {n_classes} classes; set params.n_in = {n_in} and params.n_out = {n_classes}"
            )
        return TwoCompTrainer(self, seed, dtype)
