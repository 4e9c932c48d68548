"""URFB circuit glue: the Circuit subclass the registry finds (``urfb``)."""

from __future__ import annotations


import numpy as np
import torch

from neuromorph.circuit import Circuit, Trace, TrialData, make_params
from neuromorph.errors import ConfigError, ShapeError
from neuromorph.phases import PhaseSchedule

from .params import URFBParams, phase_schedule, plastic_layout, weight_layout
from .reference import circuit_state_names, init_weights, simulate_circuit

__all__ = ["URFB", "VERIFICATION_OVERRIDES"]

_DTYPES = {"float32": torch.float32, "float64": torch.float64}

# The small instance `neuromorph verify urfb` runs: two hidden layers, Fig. 15's order (batch 1), weights
# and slope large enough that hidden units saturate (shutdown units fire) and output units pass the margins
# (the error circuit oscillates), bounds M, K that hold for these sizes.
VERIFICATION_OVERRIDES = dict(
    sizes=(6, 5, 4, 3), method="urfb", batch=1, lr=0.5, slope=2.0, init_scale=2.5, M=12.0, K=60.0,
    feedback_after_update=True,
)


class URFB(Circuit):
    name = "urfb"
    Params = URFBParams
    description = "URFB (Amit 2019): asymmetric feedback R with Hebbian updates, hinge error from control units"
    weight_layout = staticmethod(weight_layout)

    @property
    def schedule(self) -> PhaseSchedule:
        return phase_schedule(self.params)

    def plastic_names(self):
        return plastic_layout(self.params)

    def compared_states(self):
        return tuple(circuit_state_names(self.params))

    def initial_weights(self, seed: int) -> dict[str, np.ndarray]:
        return init_weights(self.params, seed)

    def example_data(self, n_trials: int, seed: int) -> TrialData:
        p = self.params
        rng = np.random.default_rng([seed, 7])
        labels = rng.integers(0, p.n_classes, size=n_trials)
        return {"x": rng.uniform(0, 1, size=(n_trials, p.sizes[0])), "y": np.eye(p.n_classes)[labels]}

    def _check_data(self, data: TrialData):
        p = self.params
        x, y = np.asarray(data["x"], dtype=float), np.asarray(data["y"], dtype=float)
        if x.ndim != 2 or x.shape[1] != p.sizes[0]:
            raise ShapeError(f"urfb: inputs x have shape {x.shape}, expected (n_trials, n_in={p.sizes[0]})")
        if y.shape != (x.shape[0], p.n_classes):
            raise ShapeError(f"urfb: targets y have shape {y.shape}, expected (n_trials={x.shape[0]}, n_classes={p.n_classes})")
        return x, y

    def build_brian(self, weights, data):
        from .brian_model import build

        self.check_weights(weights)
        self._check_data(data)
        return build(self.params, weights, data, self.dt)

    def simulate_reference(self, weights, data, dtype=torch.float64) -> Trace:
        self.check_weights(weights)
        x, y = self._check_data(data)
        return simulate_circuit(self.params, weights, x, y, dtype=dtype)

    def equations(self):
        """The circuit's equations as Brian2 receives them (`neuromorph equations urfb`).

        The circuit exists for URFB/FRFB; a configuration it cannot run (a BP method, Fig. 15's order with
        batch > 1: trainer-only settings) prints the equations of the nearest one it can (hinge + R, window
        order), read back from a build on 3 hidden units per layer (the text does not depend on sizes). The
        output layer's rule-(6) case table is in circuits/urfb/equations.py's docstring.
        """
        p = self.params
        near = dict(sizes=(p.sizes[0] if p.sizes[0] <= 8 else 3, *(min(n, 3) for n in p.sizes[1:-1]), p.n_classes))
        if not p.uses_R:
            near["method"] = "urfb"
        if p.arch != "mlp":
            near["arch"] = "mlp"
        if p.feedback_after_update and p.batch != 1:
            near["feedback_after_update"] = False
        return Circuit.equations(self.with_params(**near))

    def equation_notes(self) -> str:
        """What the equations alone do not show: the output layer's rule-(6) case table (which error each output
        unit's synapses read, per case of class presented / h_c against the margins) and our choice for the
        oscillating cases, as circuits/urfb/equations.py's docstring states them. For ``neuromorph equations
        urfb`` to print after the listing (the issue asks for the table there)."""
        from . import equations

        doc = equations.__doc__ or ""
        start = doc.find("Output error: the case table")
        end = doc.find("\nProjections\n", start)
        if start < 0 or end < 0:
            raise RuntimeError("circuits/urfb/equations.py's docstring lost its rule-(6) case table section")
        return doc[start:end].strip()

    def verification_circuit(self, **overrides) -> URFB:
        """The small instance (VERIFICATION_OVERRIDES) with this circuit's method/ε/order, plus ``overrides``."""
        p = self.params
        kw = dict(VERIFICATION_OVERRIDES)
        kw.update(method=p.method if p.uses_R else "urfb", eps=p.eps)
        if not p.feedback_after_update:
            kw.update(feedback_after_update=False, batch=2)
        kw.update(overrides)
        return URFB(make_params(URFBParams, kw, where="urfb verification parameters"))

    def trainer_options(self):
        return {"dtype": "float32", "threads": None}

    def make_trainer(self, n_in, n_classes, seed, **options):
        from .trainer import URFBTrainer

        opts = self.check_trainer_options(options)
        dtype = opts["dtype"]
        if isinstance(dtype, str):
            if dtype not in _DTYPES:
                raise ConfigError(f"urfb: trainer option dtype must be one of {sorted(_DTYPES)}, got {dtype!r}")
            dtype = _DTYPES[dtype]
        if opts["threads"] is not None:
            torch.set_num_threads(int(opts["threads"]))
        p = self.params
        if (n_in, n_classes) != (p.sizes[0], p.sizes[-1]):
            raise ShapeError(
                f"urfb is configured for sizes {list(p.sizes)} but the data has {n_in} features and {n_classes} "
                f"classes; set params.sizes = [{n_in}, ..., {n_classes}]"
            )
        if p.arch == "simpnet":
            from .simpnet import SimpnetTrainer

            return SimpnetTrainer(p, seed, dtype)
        return URFBTrainer(p, seed, dtype)

    # ---- spiking twin of the inference ------------------------------------------------------------------------
    def predict_rate(self, weights, x) -> np.ndarray:
        """argmax of the linear output h_L of the rate network (eq. 1; what the trainer predicts)."""
        from .spiking import check_twin_arch, rate_forward

        check_twin_arch(self.params)
        self.check_weights(weights)
        return np.argmax(rate_forward(self.params, weights, x)[1], axis=1)

    def build_spiking_brian(self, weights, x, *, encoding="regular", t_sample=0.2, r_max=None, tau_syn=None,
                            code="onoff", readout="spikes", out_range=None, input_range=None, tau_u=0.002,
                            readout_fraction=0.5):
        """Spiking twin of the trained MLP's inference on ``x`` (ON/OFF pairs or offset code for the signed
        saturated-linear units, spiking or graded readout): :func:`circuits.urfb.spiking.build_spiking_twin`,
        whose docstring states the design and why."""
        from .spiking import build_spiking_twin, check_twin_arch

        check_twin_arch(self.params)
        self.check_weights(weights)
        return build_spiking_twin(
            self.params, self.dt, weights, x, encoding=encoding, t_sample=t_sample, r_max=r_max, tau_syn=tau_syn,
            code=code, readout=readout, out_range=out_range, input_range=input_range, tau_u=tau_u,
            readout_fraction=readout_fraction,
        )

    def describe(self) -> dict:
        d = super().describe()
        d["weights"] = {k: list(v) for k, v in weight_layout(self.params).items()}
        d["plastic"] = list(plastic_layout(self.params))
        return d




