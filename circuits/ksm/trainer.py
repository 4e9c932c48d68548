"""KSMTrainer: the ADMM solver of admm.py behind neuromorph's Trainer interface (``task = "reconstruction"``).

The KSM latents are per-sample primal variables (Algorithm 2 keeps z_i, P_i, M_i for every training sample
across iterations), so the trainer keeps them for the training set it first sees; ``train_epoch`` must then be
given the same training set every epoch (checked by shape and a checksum).

* Initialisation (§6.1, §6.3), seeded by ``seed``: W from ``params.init`` (rows unit norm if
  ``normalize_rows``); Z by ``init_code_steps`` steps of sparse coding with W (ℓ1), or standard-normal draws
  projected on the simplex (simplex, §6.3); P_i = z_i z_iᵀ + ωD(z_i), M_i = WWᵀ/2.
* One epoch = ``params.sweeps`` passes; each pass visits the samples in a permutation seeded by
  (seed, epoch, pass) in mini-batches of B (a last partial batch included) and applies one ADMM iteration
  (admm.py) to each: a deterministic function of (state, data, epoch), as the runner's resume needs.
* ``evaluate(x)`` infers codes for x with the current W (the Schedule-1 Z-step run ``infer_steps`` times) and
  scores x̂ = Â z with the implicit generative map Â = c X Zᵀ H⁻¹/T of the *training* latents: R² (variance-
  normalised data), mean 1-sparsity S₁, modal ‖z‖₀.
* ``train_epoch`` returns the paper's own figures on the training set with its learned latents:
  ``fit_r2`` (R² of Â z_i, Table 1's number), ``fit_sparsity_1``, ``fit_l0_mode``, and for the synthetic set
  the dictionary error against the true atoms.
"""

from __future__ import annotations

import dataclasses
import hashlib

import numpy as np
import torch

from neuromorph.circuit import Trainer
from neuromorph.errors import ConfigError, DivergedError, ShapeError

from . import metrics
from .admm import admm_batch, admm_batch_implicit, infer_codes, lipschitz, outer_d
from .params import STATE_BYTES_LIMIT, KSMParams
from .prox import project_simplex

__all__ = ["KSMTrainer", "make_ksm_trainer"]


def make_ksm_trainer(n_in: int, seed: int, options: dict | None = None) -> "KSMTrainer":
    """A KSMTrainer from a config table of KSM parameters (``[trainer.ksm]``; see params.params_from_dict)."""
    from .params import params_from_dict

    return KSMTrainer(n_in, params_from_dict(options), seed)


def _checksum(x: np.ndarray) -> str:
    return hashlib.sha1(np.ascontiguousarray(x, dtype=np.float64).tobytes()).hexdigest()[:16]


class KSMTrainer(Trainer):
    task = "reconstruction"

    def __init__(self, n_in: int, params: KSMParams, seed: int):
        """``params.truth``: a data set with a true dictionary (neuromorph.data.true_dictionary) for ``init =
        "truth"`` and the dictionary-error metric; "" for none."""
        if not isinstance(params, KSMParams):
            raise ConfigError(f"ksm: params must be a KSMParams, got {type(params).__name__}")
        params.validate(n_in)
        if params.device.startswith("cuda") and not torch.cuda.is_available():
            raise ConfigError(f"ksm: device {params.device!r} asked for but torch sees no CUDA GPU; use device = \"cpu\"")
        truth = params.truth
        self.params, self.n_in, self.seed = params, n_in, seed
        self.dtype = torch.float64 if params.dtype == "float64" else torch.float32
        self.device = torch.device(params.device)
        self.A_true = None
        if truth:
            from neuromorph.data import true_dictionary

            self.A_true = true_dictionary(truth)
            if self.A_true.shape != (n_in, params.K):
                raise ShapeError(
                    f"ksm: the true dictionary of {truth} is {self.A_true.shape} (N, K) but the trainer has N = {n_in}, "
                    f"K = {params.K}; set params.K = {self.A_true.shape[1]}"
                )
        self.W = None  # (K, N), set on the first train_epoch (init = "data" needs the samples)
        self.Z = self.P = self.M = None
        self.v = None  # power-iteration vector for λ_max(WWᵀ)
        self.x_sum = ""
        self._A = None  # cached generative map, (N, K) numpy
        self._X = None  # the training set, float64 numpy (for Â)

    # ---- helpers ---------------------------------------------------------------------------------------------
    def _t(self, a) -> torch.Tensor:
        return torch.as_tensor(np.asarray(a), dtype=self.dtype, device=self.device)

    def _check_x(self, x) -> np.ndarray:
        x = np.asarray(x)
        if x.ndim != 2 or x.shape[1] != self.n_in:
            raise ShapeError(f"ksm: x has shape {x.shape}, expected (n, {self.n_in}) (the trainer was built for N = {self.n_in})")
        if not np.isfinite(x).all():
            raise ShapeError("ksm: x holds NaN or inf; clean the data set")
        return x

    def _init(self, x: np.ndarray) -> None:
        p = self.params
        T = len(x)
        if p.state_bytes(T) > STATE_BYTES_LIMIT:
            raise ConfigError(
                f"ksm: schedule {p.schedule} keeps P_i and M_i for each of the {T} samples ({p.state_bytes(T) / 2**30:.1f} GiB "
                f"for K = {p.K}); use schedule = 1 (they are implicit there) or fewer samples"
            )
        if T < p.batch:
            raise ConfigError(f"ksm: batch = {p.batch} is larger than the training set ({T} samples); lower params.batch")
        rng = np.random.default_rng([self.seed, 0x6B736D])  # "ksm"
        if p.init == "truth":
            W = self.A_true.T + p.init_noise * rng.standard_normal(self.A_true.T.shape)
        elif p.init == "data":
            W = x[rng.choice(T, size=p.K, replace=T < p.K)].astype(np.float64)
            W = W + 1e-3 * rng.standard_normal(W.shape)  # distinct rows even if samples repeat
        else:
            W = rng.standard_normal((p.K, self.n_in))
        if p.normalize_rows:
            W = W / np.maximum(np.linalg.norm(W, axis=1, keepdims=True), 1e-12)
        self.W = self._t(W)
        self.v = self._t(rng.standard_normal(p.K))
        X = self._t(x)
        if p.constraint == "l1":
            self.Z = infer_codes(self.W, X, p, p.init_code_steps)
        else:
            self.Z = project_simplex(self._t(rng.standard_normal((T, p.K))))
        if p.schedule != 1:
            self.P = outer_d(self.Z, p)
            self.M = (self.W @ self.W.T / 2).expand(T, p.K, p.K).clone()
        self.x_sum = _checksum(x)

    def _X_of(self, x):
        if self._X is None or len(self._X) != len(x):
            self._X = np.asarray(x, dtype=np.float64)
        return self._X

    # ---- Trainer ---------------------------------------------------------------------------------------------
    def train_epoch(self, x, y, epoch, progress=None):
        x = self._check_x(x)
        p = self.params
        if self.W is None:
            self._init(x)
        elif len(x) != len(self.Z) or _checksum(x) != self.x_sum:
            raise ShapeError(
                f"ksm: train_epoch got a different training set ({len(x)} samples) from the one the latents belong to "
                f"({len(self.Z)} samples); KSM keeps one latent per training sample, so give the same set every epoch"
            )
        X = self._t(x)
        T = len(x)
        for sweep in range(p.sweeps):
            order = np.random.default_rng([self.seed, epoch, sweep]).permutation(T)
            self.solver_pass(X, order, progress if sweep == p.sweeps - 1 else None)
        self._A = None
        return self.fit_metrics(x)

    def solver_pass(self, X: torch.Tensor, order: np.ndarray, progress=None) -> None:
        """One pass of Algorithm 2 over the samples in ``order``, mini-batch by mini-batch (train_epoch runs
        ``sweeps`` of them; experiments/ksm/bench_ksm.py times one)."""
        p = self.params
        for start in range(0, len(order), p.batch):
            idx = torch.as_tensor(order[start : start + p.batch], device=self.device)
            L, self.v = lipschitz(self.W, self.v)
            eta = p.lr_z_factor / L
            if p.schedule == 1:
                self.W, self.Z[idx] = admm_batch_implicit(self.W, X[idx], self.Z[idx], eta, p)
            else:
                self.W, self.Z[idx], self.P[idx], self.M[idx] = admm_batch(
                    self.W, X[idx], self.Z[idx], self.P[idx], self.M[idx], eta, p)
            if progress is not None:
                progress(len(idx))

    def generative_map(self, x_train=None) -> np.ndarray:
        """Â (N, K) from the training latents (cached until the next epoch)."""
        if self.Z is None:
            raise ConfigError("ksm: no latents yet: train at least one epoch before asking for the generative map")
        if self._A is None:
            X = self._X_of(x_train) if x_train is not None else self._X
            if X is None:
                raise ConfigError("ksm: the generative map needs the training set; call train_epoch first")
            self._A = metrics.generative_map(X, self.Z.double().cpu().numpy(), self.params.omega, self.params.constraint)
        return self._A

    def fit_metrics(self, x) -> dict:
        """The paper's figures on the training set with its learned latents (Table 1's R²)."""
        X = self._X_of(x)
        Z = self.Z.double().cpu().numpy()
        if not (np.isfinite(Z).all() and torch.isfinite(self.W).all()):
            raise DivergedError(
                "ksm: the latents or W became non-finite (the Z-step is unstable at this step size); lower "
                "lr_z_factor (Schedule 3 needs ~0.01 or less for data of large norm) or lr_W",
                epoch=None, variable="Z", samples=None)
        A = self.generative_map(x)
        out = {
            "fit_r2": metrics.r2_score(X, metrics.predict(A, Z)),
            "fit_sparsity_1": metrics.sparsity_1(Z),
            "fit_l0_mode": metrics.l0_mode(Z),
        }
        if self.P is not None:  # how far the per-sample kernels are from their constraint
            C = self.P - outer_d(self.Z, self.params)
            out["constraint_violation"] = float(C.norm(dim=(1, 2)).mean())
        if self.A_true is not None:
            out["dictionary_error"] = metrics.dictionary_error(self.A_true, A)
            out["W_dictionary_error"] = metrics.dictionary_error(self.A_true, self.W.double().cpu().numpy().T)
        return out

    def codes(self, x) -> np.ndarray:
        """Inferred latents (n, K) of x under the current W."""
        x = self._check_x(x)
        if self.W is None:
            raise ConfigError("ksm: the trainer has not been trained; run train_epoch first")
        p = self.params
        return infer_codes(self.W, self._t(x), p, p.infer_steps, method=p.infer_method).double().cpu().numpy()

    def evaluate(self, x) -> dict:
        Z = self.codes(x)
        Xhat = metrics.predict(self.generative_map(), Z)
        return {"r2": metrics.r2_score(np.asarray(x, dtype=np.float64), Xhat), "sparsity_1": metrics.sparsity_1(Z),
                "l0_mode": metrics.l0_mode(Z)}

    def figures(self, data, folder):
        from .figures import trainer_figures

        return trainer_figures(self, data, folder)

    def predict(self, x):
        raise NotImplementedError("ksm learns a representation, not a classifier: use evaluate(x) (R² of x̂)")

    def weights(self):
        """W as (N, K) (input -> latent, (n_pre, n_post)) and the generative map A = Âᵀ (K, N) (latent -> input)."""
        if self.W is None:
            return {"W": np.zeros((self.n_in, self.params.K)), "A": np.zeros((self.params.K, self.n_in))}
        out = {"W": self.W.double().cpu().numpy().T.copy()}
        have = self._X is not None or self._A is not None
        out["A"] = self.generative_map().T.copy() if have else np.zeros((self.params.K, self.n_in))
        return out

    def state_dict(self):
        if self.W is None:
            return {"initialized": False}
        # copies: a float64 CPU tensor's .numpy() shares its memory, and Z is updated in place by the next epoch
        st = {"initialized": True, "W": self.W.double().cpu().numpy().copy(), "Z": self.Z.double().cpu().numpy().copy(),
              "v": self.v.double().cpu().numpy().copy(), "x_sum": self.x_sum}
        if self._A is not None or self._X is not None:
            st["A"] = self.generative_map()  # Â needs the training set, which a checkpoint does not hold
        if self.P is not None:
            st["P"] = self.P.double().cpu().numpy().copy()
            st["M"] = self.M.double().cpu().numpy().copy()
        return st

    def load_state_dict(self, state):
        if not bool(state.get("initialized", False)):
            self.W = self.Z = self.P = self.M = self.v = None
            return
        p = self.params
        W, Z = np.asarray(state["W"]), np.asarray(state["Z"])
        if W.shape != (p.K, self.n_in) or Z.ndim != 2 or Z.shape[1] != p.K:
            raise ShapeError(f"ksm: checkpoint holds W {W.shape} and Z {Z.shape}, the trainer expects W ({p.K}, {self.n_in}) "
                             f"and Z (T, {p.K}); it was written by another config")
        if (p.schedule != 1) != ("P" in state):
            raise ShapeError("ksm: the checkpoint's per-sample P_i/M_i do not match params.schedule; it was written by another config")
        self.W, self.Z, self.v = self._t(W).clone(), self._t(Z).clone(), self._t(state["v"]).clone()
        self.x_sum = str(state["x_sum"])
        if "P" in state:
            self.P, self.M = self._t(state["P"]).clone(), self._t(state["M"]).clone()
        else:
            self.P = self.M = None
        self._A = np.asarray(state["A"], dtype=np.float64) if "A" in state else None
        self._X = None  # set again by the next train_epoch

    def options(self):
        return {"solver": "ksm-admm", "ksm": dataclasses.asdict(self.params)}
