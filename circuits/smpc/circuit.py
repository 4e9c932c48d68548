"""The registry's smpc: thin glue from the Circuit contract to params, brian_model, reference, spiking and
trainer."""

from __future__ import annotations

import numpy as np
import torch

from neuromorph.brian.blocks import check_trial_inputs
from neuromorph.circuit import Circuit, Trace, TrialData, make_params
from neuromorph.errors import ShapeError
from neuromorph.phases import PhaseSchedule

from . import params as P
from . import reference
from .params import SMPCParams

__all__ = ["SMPC"]


class SMPC(Circuit):
    name = "smpc"
    Params = SMPCParams
    description = "KSM's SMPC circuit (Choudhary et al.): two-cell latent units, interneurons, Hebbian/anti-Hebbian synapses"
    weight_layout = staticmethod(P.weight_layout)

    def validate(self):
        P.validate(self.params)

    @property
    def schedule(self) -> PhaseSchedule:
        return P.schedule(self.params)

    def plastic_names(self) -> tuple[str, ...]:
        return P.PLASTIC

    def verification_circuit(self, **overrides) -> SMPC:
        """The tiny instance (params.VERIFICATION_OVERRIDES) with this circuit's constraint, ℓ1 form and
        interneuron, plus ``overrides``."""
        p = self.params
        kw = dict(P.VERIFICATION_OVERRIDES, constraint=p.constraint, l1_form=p.l1_form, interneuron=p.interneuron)
        kw.update(overrides)
        return SMPC(make_params(SMPCParams, kw, where="smpc verification parameters"))

    # ---- weights and data --------------------------------------------------------------------------------
    def initial_weights(self, seed: int) -> dict[str, np.ndarray]:
        return P.initial_weights(self.params, seed)

    def example_data(self, n_trials: int, seed: int) -> TrialData:
        """Seeded samples and start states: x ~ N(0, 1); z0 ~ N(0, 1) (ℓ1) or a point of the simplex;
        y0 ~ N(0, 1); ζ0 ~ N(0, 1) (read by the dynamic interneuron only)."""
        p = self.params
        rng = np.random.default_rng(seed + 1)
        x = rng.standard_normal((n_trials, p.n_in))
        if p.constraint == "simplex":
            z0 = rng.dirichlet(np.ones(p.n_latent), size=n_trials)
        else:
            z0 = rng.standard_normal((n_trials, p.n_latent))
        return {"x": x, "y0": rng.standard_normal((n_trials, p.n_y)), "z0": z0,
                "zeta0": rng.standard_normal((n_trials, p.n_y))}

    def trial_data(self, x, labels=None) -> TrialData:
        """Trials for samples ``x`` from a cold start (params.py, reading 7); labels are not used."""
        x = self._check_x(x)
        y0, z0, zeta0 = (t.numpy() for t in reference.cold_state(self.params, len(x)))
        return {"x": x, "y0": y0, "z0": z0, "zeta0": zeta0}

    def _check_data(self, data: TrialData) -> int:
        p = self.params
        return check_trial_inputs(self.name, data, {"x": (None, p.n_in), "y0": (None, p.n_y),
                                                    "z0": (None, p.n_latent), "zeta0": (None, p.n_y)})

    def _check_x(self, x) -> np.ndarray:
        x = np.asarray(x, dtype=float)
        check_trial_inputs(self.name, {"x": x}, {"x": (None, self.params.n_in)})
        if not np.all(np.isfinite(x)):
            raise ShapeError(f"{self.name}: samples contain NaN or inf; clean the data before running the circuit")
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

    def build_spiking_brian(self, weights, x, *, encoding="poisson", t_sample=0.2, r_max=None, tau_syn=None):
        raise NotImplementedError(
            "smpc's spiking twin infers latents, it predicts no labels: use circuits.smpc.spiking.run "
            "(experiments/smpc/spiking_smpc.py)"
        )

    # ---- training ---------------------------------------------------------------------------------------------
    def trainer_options(self) -> dict:
        """solver: "circuit" | "ksm-admm"; the rest: see circuits/smpc/trainer.py."""
        return {"solver": "circuit", "dtype": "float64", "iters_per_epoch": 100, "n_infer": 300,
                "warm_start": "", "warm_start_noise": 1.0, "warm_start_seed": 0, "warm_start_omega": 0.1,
                "warm_start_iters": 500, "x_scale": 1.0, "ksm": {}}

    def check_trainer_options(self, options):
        from .trainer import check_options

        return check_options(self.params, super().check_trainer_options(options))

    def make_trainer(self, n_in, n_classes, seed, **options):
        from .trainer import make_trainer

        opts = self.check_trainer_options(options)
        if n_in != self.params.n_in:
            raise ShapeError(
                f"smpc is configured for n_in={self.params.n_in} but the data has {n_in} features; "
                f"set params.n_in = {n_in}"
            )
        return make_trainer(self, seed, opts)
