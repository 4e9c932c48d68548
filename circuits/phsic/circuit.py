"""The registered circuit ``phsic`` (:class:`PHSIC`): thin glue between the parameters (``params.py``), the
Brian2 model (``brian_model.py``, built from ``equations.py``), the torch reference (``reference.py``), the spiking
twin (``spiking.py``) and the batch-form trainer (``trainer.py``). What is simulated, and why, is written in
``equations.py``; the paper-vs-code choices in ``params.py``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

import numpy as np
import torch

from neuromorph.brian.blocks import check_trial_inputs
from neuromorph.circuit import Circuit, Trace, TrialData, make_params
from neuromorph.errors import ConfigError, ShapeError
from neuromorph.phases import Phase, PhaseSchedule

from . import reference
from .params import (
    STREAMING_MODES,
    PHSICCircuitParams,
    PHSICParams,
    plastic_names,
    state_names,
    verification_overrides,
    weight_layout,
)

__all__ = ["PHSIC", "PHSICCircuitParams", "STREAMING_MODES"]


class PHSIC(Circuit):
    """Streaming pHSIC: rate layers, memory, third-factor neurons b1-b3, divisive-normalisation interneurons."""

    name = "phsic"
    Params = PHSICCircuitParams
    description = "pHSIC (Pogodin & Latham 2020): two-point three-factor Hebbian rule, Gaussian kernel, divisive normalisation"

    # ---- structure -------------------------------------------------------------------------------------------
    @property
    def schedule(self) -> PhaseSchedule:
        """sample_a (store the memory) -> sample_b (centre b3) -> update (learn); one pair per trial."""
        p = self.params
        inputs = ("x", "y")
        return PhaseSchedule(
            (
                Phase("sample_a", p.steps_sample, clamp=inputs, gates=("store",)),
                Phase("sample_b", p.steps_sample, clamp=inputs, gates=("centre",)),
                Phase("update", p.steps_update, clamp=inputs, gates=("learn",)),
            ),
            trials_per_update=p.pairs_per_update,
        )

    @property
    def n_layers(self) -> int:
        return self.params.n_hidden_layers

    # the one list of weight names and shapes (Circuit.weight_shapes reads it)
    weight_layout = staticmethod(weight_layout)

    def plastic_names(self) -> tuple[str, ...]:
        return plastic_names(self.params)

    def state_names(self) -> tuple[str, ...]:
        return state_names(self.params)

    def compared_states(self) -> tuple[str, ...]:
        """Every recorded state: rates, third factors, label kernel, readout (both simulators record them all)."""
        return state_names(self.params)

    # ---- checks ------------------------------------------------------------------------------------------------
    def check_data(self, data: TrialData) -> int:
        """The number of trials in ``data``; ShapeError naming the entry and the expected shape otherwise."""
        N = self.params.sizes
        n_in, C = N[0], N[-1]
        n = check_trial_inputs(self.name, data, {"x_a": (None, n_in), "x_b": (None, n_in), "y_a": (None, C), "y_b": (None, C)})
        for key in ("y_a", "y_b"):
            y = np.asarray(data[key], dtype=float)
            if not (np.all((y == 0) | (y == 1)) and np.all(y.sum(axis=1) == 1)):
                raise ShapeError(f"{self.name}: labels {key!r} must be one-hot rows (the label kernel is eq. 35)")
        if not (np.all(np.isfinite(np.asarray(data["x_a"], dtype=float))) and np.all(np.isfinite(np.asarray(data["x_b"], dtype=float)))):
            raise ShapeError(f"{self.name}: inputs contain NaN or inf")
        return n

    # ---- weights and data --------------------------------------------------------------------------------------
    def initial_weights(self, seed: int) -> dict[str, np.ndarray]:
        """The batch trainer's initialisation (PyTorch's nn.Linear law), so both forms start identically."""
        from .trainer import initial_weights

        w = initial_weights(self.params.batch_params(), seed, dtype=torch.float64)
        out = {k: (v.T if v.ndim == 2 else v).numpy().astype(float).copy() for k, v in w.items()}
        self.check_weights(out)
        return out

    def trial_data(self, x: np.ndarray, labels: np.ndarray) -> TrialData:
        """A stream of samples → pairs (s_{t-1}, s_t), t = 0..n-1 (s_{-1} = s_{n-1}): one trial per sample."""
        N = self.params.sizes
        x = np.asarray(x, dtype=float)
        if x.ndim != 2 or x.shape[1] != N[0] or len(x) < 1:
            raise ShapeError(f"{self.name}: samples have shape {x.shape}, the circuit expects (n >= 1, {N[0]})")
        labels = np.asarray(labels)
        if labels.shape != (len(x),):
            raise ShapeError(f"{self.name}: labels have shape {labels.shape}, expected ({len(x)},)")
        if labels.min() < 0 or labels.max() >= N[-1]:
            raise ShapeError(f"{self.name}: labels must lie in [0, {N[-1]}), got [{labels.min()}, {labels.max()}]")
        y = np.eye(N[-1])[labels.astype(int)]
        prev = np.roll(np.arange(len(x)), 1)
        return {"x_a": x[prev], "x_b": x, "y_a": y[prev], "y_b": y}

    def example_data(self, n_trials: int, seed: int) -> TrialData:
        """A seeded stream of inputs uniform in [−1, 1] (the paper's data range), paired as in :meth:`trial_data`.

        Labels are temporally correlated (each repeats the previous one with probability 1/2, else is drawn
        anew), so that pairs of the same class (k_y = 1) and of different classes (k_y = −1/(C−1)) both occur.
        """
        self.params.check_streaming()
        N = self.params.sizes
        rng = np.random.default_rng(seed + 4242)
        x = rng.uniform(-1.0, 1.0, size=(n_trials, N[0]))
        labels = rng.integers(0, N[-1], size=n_trials)
        repeat = rng.random(n_trials) < 0.5
        for t in range(1, n_trials):
            if repeat[t]:
                labels[t] = labels[t - 1]
        return self.trial_data(x, labels)

    def example_inputs(self, n_samples: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
        """Inputs uniform in [−1, 1] and labels for inference: the stream of :meth:`example_data` (its samples b)."""
        ex = self.example_data(n_samples, seed)
        return ex["x_b"], ex["y_b"].argmax(axis=1)

    # ---- verification instance -----------------------------------------------------------------------------------
    @classmethod
    def verification_instance(cls, mode: str = "divnorm", **overrides) -> PHSIC:
        """Sizes (6, 8, 6, 3), 2 groups per layer, σ = 1, η = 0.5, β = 0.3, 2 pairs per update."""
        kw = verification_overrides(mode)
        kw.update(overrides)
        return cls(make_params(PHSICCircuitParams, kw, where=f"{cls.name} verification parameters"))

    def verification_circuit(self, **overrides) -> PHSIC:
        """The small instance (`neuromorph verify phsic`) of the mode in ``overrides``, else of this circuit's
        mode, with ``overrides`` (``--set params.K=V``) applied on top of it."""
        overrides = dict(overrides)
        mode = overrides.pop("mode", self.params.mode)
        return type(self).verification_instance(mode, **overrides)

    def compile_check_circuit(self) -> PHSIC:
        """One hidden layer of the divnorm instance: every population type and construct of the circuit
        (TimedArrays, schedule flags, summed relays, pow, the learn/apply events, monitors) in about half the code
        objects of the 2-layer instance; nvcc costs seconds per code object."""
        return type(self).verification_instance("divnorm", sizes=(6, 8, 3), b3_init=(-2.0,))

    # ---- trainer -----------------------------------------------------------------------------------------------
    def trainer_options(self) -> dict:
        """``dtype``: "float32" (training runs) or "float64" (bit-reproducible checks)."""
        return {"dtype": "float32"}

    def make_trainer(self, n_in: int, n_classes: int, seed: int, **options):
        """The batch-form trainer (``circuits.phsic.trainer.PHSICTrainer``) with this circuit's parameters;
        ``options`` from :meth:`trainer_options` (``dtype`` also as a torch dtype)."""
        dtype = self.check_trainer_options(options)["dtype"]
        dtypes = {"float32": torch.float32, "float64": torch.float64}
        if isinstance(dtype, str):
            if dtype not in dtypes:
                raise ConfigError(f"{self.name}: trainer option dtype must be one of {sorted(dtypes)}, got {dtype!r}")
            dtype = dtypes[dtype]
        elif dtype not in dtypes.values():
            raise ConfigError(f"{self.name}: trainer option dtype must be one of {sorted(dtypes)}, got {dtype!r}")
        N = self.params.sizes
        if (n_in, n_classes) != (N[0], N[-1]):
            raise ShapeError(
                f"{self.name} is configured for sizes {list(N)} but the data has {n_in} features and {n_classes} "
                f"classes; set params.sizes = {[n_in, *N[1:-1], n_classes]}"
            )
        from .trainer import PHSICTrainer

        return PHSICTrainer(self.params.batch_params(), n_in, n_classes, seed, dtype=dtype)

    # ---- the two simulators ----------------------------------------------------------------------------------
    def build_brian(self, weights, data):
        """The Brian2 model (``brian_model.build_brian``)."""
        from .brian_model import build_brian

        return build_brian(self, weights, data)

    def simulate_reference(self, weights, data, dtype=torch.float64) -> Trace:
        """The torch reference (``reference.simulate_reference``)."""
        return reference.simulate_reference(self, weights, data, dtype=dtype)

    def equations(self) -> list:
        """The model's equations as Brian2 holds them (:meth:`Circuit.equations`), each projection followed by its
        event-driven learning code: Brian2 keeps that on the synapses as a pathway, which the generic read-back
        does not list, so its template (the exact text and namespace Brian2 received) is added here."""
        n = self.schedule.trials_per_update
        model = self.build_brian(self.initial_weights(0), self.example_data(n, 0))
        read = model.equations()
        listed = {g.name for g in read}
        by_name = {obj.name: obj for obj in model.objects}
        out = []
        for g in read:
            out.append(g)
            for pathway in getattr(by_name.get(g.name), "_pathways", ()):
                template = getattr(pathway, "_nm_template", None)
                if template is not None and template.name not in listed:
                    out.append(template)
        return out

    # ---- readout -------------------------------------------------------------------------------------------------
    def forward(self, weights, x, dtype=torch.float64) -> dict[str, np.ndarray]:
        """Settled rates for samples x: ``out{k}`` (forwarded activity of every hidden layer) and ``o``."""
        return reference.forward(self, weights, x, dtype=dtype)

    def predict_rate(self, weights, x) -> np.ndarray:
        """argmax of the readout o = W_outᵀ h^L + b_out."""
        return np.argmax(self.forward(weights, x)["o"], axis=1)

    # ---- spiking twin of the inference ------------------------------------------------------------------------
    @classmethod
    def from_batch_params(cls, params) -> PHSIC:
        """The circuit for a batch-form network: ``params`` is a :class:`PHSICParams` (``trainer.params``) or
        the ``params`` mapping of a trainer checkpoint (``state_dict()["params"]``), validated key by key.

        Inference (``forward``, ``predict_rate``, ``build_spiking_brian``) uses sizes, mode, groups, δ, p and
        the LReLU slope; every kernel and mode of the batch form is accepted.
        """
        if isinstance(params, PHSICParams):
            params = dataclasses.asdict(params)
        if not isinstance(params, Mapping):
            raise ConfigError(f"{cls.name}: expected PHSICParams or a mapping of its fields, got {type(params).__name__}")
        return cls(make_params(PHSICCircuitParams, dict(params), where=f"{cls.name} batch-form parameters"))

    def build_spiking_brian(self, weights, x, *, encoding="regular", t_sample=0.2, r_max=None, tau_syn=None,
                            rate_scales=None, scale_quantile=0.999, input_range=(-1.0, 1.0), readout_fraction=0.5):
        """Spiking twin of the feedforward inference on ``x`` (ON/OFF pairs, graded divisive-normalisation pools,
        trace-argmax readout): :func:`circuits.phsic.spiking.build_spiking_twin`, whose docstring states the
        design."""
        from .spiking import build_spiking_twin

        return build_spiking_twin(
            self, weights, x, encoding=encoding, t_sample=t_sample, r_max=r_max, tau_syn=tau_syn,
            rate_scales=rate_scales, scale_quantile=scale_quantile, input_range=input_range,
            readout_fraction=readout_fraction,
        )
