"""A stand-in for the ``smpc`` circuit's ``solver = "ksm-admm"`` path, for trees where the smpc circuit is absent.

The KSM configs under experiments/ksm name ``circuit = "smpc"`` with ``[trainer] solver = "ksm-admm"`` and the
KSM parameters in ``[trainer.ksm]`` (the smpc circuit wraps :class:`~circuits.ksm.KSMTrainer`). Where that
circuit is not installed, the same configs run with
``--set 'circuit="circuits/ksm/standin.py:KSMStandIn"'``: this class takes the same ``[params]`` names the smpc
circuit uses for its size (n_in, n_latent, constraint, batch) and the same ``[trainer]`` options, and trains
nothing but the KSM solver. It has no Brian2 model (it is not registered, and it is not a circuit of the paper).
"""

from __future__ import annotations

from dataclasses import dataclass

from neuromorph.circuit import Circuit
from neuromorph.errors import ConfigError, ShapeError
from neuromorph.phases import Phase, PhaseSchedule

__all__ = ["KSMStandIn", "StandInParams"]


@dataclass(frozen=True)
class StandInParams:
    n_in: int = 2
    n_latent: int = 2
    constraint: str = "l1"
    batch: int = 128


class KSMStandIn(Circuit):
    name = "ksm-standin"
    Params = StandInParams
    description = "stand-in that runs only the offline KSM solver (circuits/ksm); not a circuit of the paper"

    def validate(self):
        if self.params.constraint not in ("l1", "simplex"):
            raise ConfigError(f"ksm-standin: unknown constraint {self.params.constraint!r}; use 'l1' or 'simplex'")

    @property
    def schedule(self):
        return PhaseSchedule((Phase("none", 1),))

    def weight_shapes(self):
        return {"W": (self.params.n_in, self.params.n_latent), "A": (self.params.n_latent, self.params.n_in)}

    def initial_weights(self, seed):
        raise NotImplementedError("ksm-standin has no circuit weights: it only runs the KSM solver")

    def example_data(self, n_trials, seed):
        raise NotImplementedError("ksm-standin has no example data")

    def build_brian(self, weights, data):
        raise NotImplementedError("ksm-standin has no Brian2 model")

    def simulate_reference(self, weights, data, dtype=None):
        raise NotImplementedError("ksm-standin has no reference simulation")

    def trainer_options(self):
        return {"solver": "ksm-admm", "ksm": {}}

    def check_trainer_options(self, options):
        """The [trainer] options, with [trainer.ksm] checked here, so a bad table is refused before the run starts."""
        from .params import params_from_dict

        opts = super().check_trainer_options(options)
        if opts["solver"] != "ksm-admm":
            raise ConfigError(f"ksm-standin runs only solver = \"ksm-admm\", got {opts['solver']!r}")
        if not isinstance(opts["ksm"], dict):
            raise ConfigError("[trainer.ksm] must be a table of KSM parameters (circuits/ksm/params.py)")
        ksm = {"K": self.params.n_latent, "constraint": self.params.constraint, "batch": self.params.batch, **opts["ksm"]}
        kp = params_from_dict(ksm)
        if (kp.K, kp.constraint, kp.batch) != (self.params.n_latent, self.params.constraint, self.params.batch):
            raise ConfigError(
                f"[trainer.ksm] K/constraint/batch ({kp.K}, {kp.constraint!r}, {kp.batch}) differ from "
                f"[params] n_latent/constraint/batch ({self.params.n_latent}, {self.params.constraint!r}, {self.params.batch}); "
                "make them agree"
            )
        return {**opts, "ksm": ksm}

    def make_trainer(self, n_in, n_classes, seed, **options):
        from .trainer import make_ksm_trainer

        opts = self.check_trainer_options(options)
        if n_in != self.params.n_in:
            raise ShapeError(f"ksm-standin is configured for n_in={self.params.n_in} but the data has {n_in} features; "
                             f"set params.n_in = {n_in}")
        return make_ksm_trainer(n_in, seed, opts["ksm"])
