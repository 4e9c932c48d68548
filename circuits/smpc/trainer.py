"""SMPC's trainers for `neuromorph run` (``task = "reconstruction"``, scored by R² of x̂).

``[trainer] solver = "circuit"`` (default): :class:`SMPCTrainer`, the circuit itself in torch (reference.py's
neural step and synaptic update), as the paper ran it (App. E.1): every training sample keeps its own
(y, z, ζ) between synaptic updates; one paper iteration = ``n_neural`` neural iterations on the batch, then
the synaptic update; full batch when ``params.batch`` equals the training-set size (the paper), mini-batches of
``batch`` samples (a permutation seeded by (seed, epoch, iteration)) otherwise. A runner epoch is
``iters_per_epoch`` paper iterations.

``solver = "ksm-admm"``: circuits.ksm's offline ADMM solver of the KSM objective the circuit approximates
(:class:`circuits.ksm.KSMTrainer`, ``[trainer.ksm]`` its parameters; K, constraint and batch must agree with
``[params]``).

Initialisation (App. E.1): W ~ N(0, 1), M = I; Z cold: N(0, 1) (ℓ1, the 2-D set) or N(0, 1) projected on the
simplex; warm from K-Deep Simplex (``warm_start = "kds"``, simplex only, the paper's moons run): the latents of
Tasissa et al.'s alternating minimisation of eq. 8 on the training samples (circuits/ksm/kds.py; ω =
``warm_start_omega``, ``warm_start_iters`` iterations) plus N(0, σ²) noise, projected on the simplex;
warm (``warm_start = "<data set>"``, the paper's N = 30 run): the set's true codes plus
N(0, σ²) noise (σ = ``warm_start_noise``), both scaled by the factor the data were scaled by (variance
normalisation: codes and samples stay consistent, x = Z Aᵀ); Ω from the Cholesky factor of H = ZZᵀ/T + ωI (ωD) or N(0, 1)
(``params.omega_init``); Y = ΩZ; ζ at its fixed point ρ(ΩZ − Y) = 0.

``x_scale`` multiplies every sample the trainer sees (training and evaluation; R² does not depend on it): the
circuit's fixed points depend on the data's scale (λ against the similarity term, the y loop's stability), and
the paper's N = 30 set has unit-norm atoms where neuromorph.data's ``ksm_sparse`` has ‖a_k‖ ≈ √30.

``evaluate(x)``: latents of x inferred from a cold start with the synapses fixed (``n_infer`` neural
iterations, steps clipped to the learned circuit's stability bounds: reference.stable_steps), x̂ = Â z with Â = X Zᵀ(ΩᵀΩ)/T from the training samples and their latents (§7); R² (variance-
normalised, circuits.ksm.metrics), mean 1-sparsity, modal ‖z‖₀. ``train_epoch`` returns the paper's own figure,
``fit_r2`` (R² of Â z_i with the training latents), and with a warm start the latent error of Fig. 8c.
"""

from __future__ import annotations

import hashlib

import numpy as np
import torch

from neuromorph.circuit import Trainer
from neuromorph.errors import ConfigError, DivergedError, ShapeError

from . import reference
from .params import SMPCParams, initial_weights

__all__ = ["SMPCTrainer", "make_trainer", "latent_error", "load_circuit_run"]

SOLVERS = ("circuit", "ksm-admm")


def check_options(p: SMPCParams, opts: dict) -> dict:
    """``opts`` (SMPC.trainer_options names) with the solver and, for "ksm-admm", the whole [trainer.ksm] table
    checked, so that a bad table is refused before a run creates anything; K, constraint and batch default to
    the circuit's [params] and must agree with them."""
    solver = opts["solver"]
    if solver not in SOLVERS:
        raise ConfigError(f"smpc: [trainer] solver must be one of {list(SOLVERS)}, got {solver!r}")
    if solver != "ksm-admm":
        if opts["ksm"]:
            raise ConfigError("smpc: [trainer.ksm] options apply to solver = \"ksm-admm\" only; remove them or change the solver")
        return opts
    if not isinstance(opts["ksm"], dict):
        raise ConfigError("[trainer.ksm] must be a table of KSM parameters (circuits/ksm/params.py)")
    from circuits.ksm.params import params_from_dict

    ksm = {"K": p.n_latent, "constraint": p.constraint, "batch": p.batch, **opts["ksm"]}
    params_from_dict(ksm)  # unknown names and bad values first: one ConfigError naming them
    if (ksm["K"], ksm["constraint"], ksm["batch"]) != (p.n_latent, p.constraint, p.batch):
        raise ConfigError(
            f"[trainer.ksm] K/constraint/batch ({ksm['K']}, {ksm['constraint']!r}, {ksm['batch']}) differ from "
            f"[params] n_latent/constraint/batch ({p.n_latent}, {p.constraint!r}, {p.batch}); make them agree"
        )
    return {**opts, "ksm": ksm}


def make_trainer(circuit, seed: int, opts: dict):
    """The trainer ``opts["solver"]`` names (options as SMPC.check_trainer_options returns them)."""
    p: SMPCParams = circuit.params
    if opts["solver"] == "ksm-admm":
        from circuits.ksm.trainer import make_ksm_trainer

        return make_ksm_trainer(p.n_in, seed, opts["ksm"])
    return SMPCTrainer(circuit, seed, opts)


def latent_error(z_true: np.ndarray, z_est: np.ndarray, match: bool = False) -> float:
    """Fig. 8c: (1/T) Σ_i [1 − cos²(z_i^true, z_i^est)] (a zero estimate counts as error 1).

    ``match``: first reorder the estimated latents by the assignment that maximises |correlation| with the
    true ones (a cold start learns the latents in any order)."""
    if match:
        from scipy.optimize import linear_sum_assignment

        c = np.abs(np.corrcoef(z_true.T, z_est.T)[: z_true.shape[1], z_true.shape[1]:])
        _, cols = linear_sum_assignment(np.nan_to_num(c), maximize=True)
        z_est = z_est[:, cols]
    num = np.sum(z_true * z_est, axis=1) ** 2
    den = np.sum(z_true**2, axis=1) * np.sum(z_est**2, axis=1)
    cos2 = np.divide(num, den, out=np.zeros_like(num), where=den > 0)
    return float(np.mean(1.0 - cos2))


def load_circuit_run(run_dir) -> tuple[dict, dict]:
    """(trainer state, manifest) of a `neuromorph run` of the smpc circuit with ``solver = "circuit"``, for the
    scripts that read one (experiments/smpc/figures.py, spiking_smpc.py). Raises a NeuromorphError whose message
    names the folder and the cause: no checkpoint, an unreadable manifest, or a run of another solver."""
    import json
    from pathlib import Path

    from neuromorph.errors import CorruptFileError
    from neuromorph.runner import load_checkpoint

    run = Path(run_dir)
    ck = load_checkpoint(run)  # CorruptFileError naming the folder when there is no (readable) checkpoint
    try:
        manifest = json.loads((run / "manifest.json").read_text())
    except (OSError, ValueError) as exc:
        raise CorruptFileError(f"{run}: manifest.json cannot be read ({exc}); rerun the config") from None
    st = ck["trainer"]
    if "z" not in st or "A_hat" not in st:
        raise ConfigError(f"{run} holds no SMPC circuit state (solver 'circuit' runs only)")
    return st, manifest


def _r2_own_scale(X: np.ndarray, Xhat: np.ndarray) -> float:
    """R² with x and x̂ each variance-normalised by its own scale (§7.1: "normalized input and prediction,
    normalized by data variance, to make sure any scaling effects in reconstruction are minimized"); the
    relaxed SMPC objective fixes x̂ only up to a scale. ``r2`` (circuits.ksm.metrics) uses X's scale for both."""
    from circuits.ksm import metrics

    s = np.sqrt(np.mean(np.sum(Xhat**2, axis=1)))
    if s == 0:  # x̂ ≡ 0 (every latent off): no scale to remove; its R² is the plain one
        return metrics.r2_score(X, Xhat)
    return metrics.r2_score(metrics.variance_normalise(X), Xhat / s)


def _r2_centred(X: np.ndarray, Xhat: np.ndarray) -> float:
    """:func:`_r2_own_scale` of x and x̂ each centred on its own mean: the other reading of §7.1's "normalized by
    data variance" (a variance is taken about the mean; scikit-learn's StandardScaler centres too). It removes a
    common offset and one scale from x̂, nothing per feature. On data with non-negative codes (the N = 30 set) the
    relaxed objective's x̂ ≈ (XXᵀ/T) x over-weights the mean direction; centring takes that out."""
    return _r2_own_scale(X - X.mean(axis=0), Xhat - Xhat.mean(axis=0))


def _checksum(x: np.ndarray) -> str:
    return hashlib.sha1(np.ascontiguousarray(x, dtype=np.float64).tobytes()).hexdigest()[:16]


class SMPCTrainer(Trainer):
    """The SMPC circuit trained as in the paper (full batch, per-sample latents kept between updates)."""

    task = "reconstruction"

    def __init__(self, circuit, seed: int, opts: dict):
        self.circuit, self.params, self.seed = circuit, circuit.params, int(seed)
        if opts["dtype"] not in ("float32", "float64"):
            raise ConfigError(f"smpc: trainer option dtype must be 'float32' or 'float64', got {opts['dtype']!r}")
        if not isinstance(opts["x_scale"], (int, float)) or not opts["x_scale"] > 0:
            raise ConfigError(f"smpc: trainer option x_scale must be a positive number, got {opts['x_scale']!r}")
        for key in ("iters_per_epoch", "n_infer"):
            if not isinstance(opts[key], int) or isinstance(opts[key], bool) or opts[key] < 1:
                raise ConfigError(f"smpc: trainer option {key} must be a positive integer, got {opts[key]!r}")
        if not isinstance(opts["warm_start_iters"], int) or isinstance(opts["warm_start_iters"], bool) or opts["warm_start_iters"] < 1:
            raise ConfigError(f"smpc: trainer option warm_start_iters must be a positive integer, got {opts['warm_start_iters']!r}")
        if not isinstance(opts["warm_start_omega"], (int, float)) or not opts["warm_start_omega"] >= 0:
            raise ConfigError(f"smpc: trainer option warm_start_omega must be a number >= 0, got {opts['warm_start_omega']!r}")
        if opts["warm_start"] == "kds" and self.params.constraint != "simplex":
            raise ConfigError("smpc: warm_start = \"kds\" (K-Deep Simplex latents) needs constraint = \"simplex\"; "
                              "give a data set with true codes for an ℓ1 warm start")
        if not isinstance(opts["warm_start_noise"], (int, float)) or opts["warm_start_noise"] < 0:
            raise ConfigError(f"smpc: trainer option warm_start_noise must be >= 0, got {opts['warm_start_noise']!r}")
        self.opts = dict(opts)
        self.dtype = torch.float64 if opts["dtype"] == "float64" else torch.float32
        self.W = {k: torch.as_tensor(v, dtype=self.dtype) for k, v in initial_weights(self.params, seed).items()}
        self.lat = None  # (y, z, ζ) of every training sample, set on the first train_epoch
        self.z_true = self.z_init = None
        self.x_sum = ""
        self._X = None
        self.A_hat = None  # (N, K) numpy

    # ---- initialisation ------------------------------------------------------------------------------------
    def _init_latents(self, x: np.ndarray) -> None:
        p, rng = self.params, np.random.default_rng([self.seed, 7])
        n = len(x)
        warm = self.opts["warm_start"]
        if warm == "kds":
            # App. E.1 (moons): Z_true from Tasissa et al.'s alternating minimisation of eq. 8 on these samples;
            # simplex codes carry no scale, so the noise is added as given (σ = 5 in the paper).
            from circuits.ksm.kds import kds_alternating_minimisation

            _, z_true, _ = kds_alternating_minimisation(x, p.n_latent, omega=float(self.opts["warm_start_omega"]),
                                                        iters=self.opts["warm_start_iters"],
                                                        seed=self.opts["warm_start_seed"])
            self.z_true = z_true
            z = z_true + self.opts["warm_start_noise"] * rng.standard_normal(z_true.shape)
        elif warm:
            from neuromorph.data import true_codes

            z_true = np.asarray(true_codes(warm, n_train=n, seed=self.opts["warm_start_seed"])[0], dtype=float)
            if z_true.shape != (n, p.n_latent):
                raise ShapeError(f"smpc: warm start codes of {warm!r} have shape {z_true.shape}, expected ({n}, {p.n_latent}); "
                                 "set params.n_latent to the set's number of latents")
            # The codes must be the ones that generated these samples (same set, seed, size, order): x is a
            # linear function of them, so a least-squares fit leaves (almost) nothing.
            coef, *_ = np.linalg.lstsq(z_true, x, rcond=None)
            resid = np.sum((x - z_true @ coef) ** 2) / max(np.sum((x - x.mean(0)) ** 2), 1e-300)
            if resid > 0.01:
                raise ConfigError(
                    f"smpc: warm_start = {warm!r} (seed {self.opts['warm_start_seed']}) codes do not generate the training "
                    f"samples (unexplained fraction {resid:.3f}); give the run's data set, seed and n_train"
                )
            # The runner may have variance-normalised x (scale = "variance"); the codes are brought to the same
            # scale (x = c·Z_true Aᵀ with the set's own dictionary A), noise included: Z = c (Z_true + σ ε).
            from neuromorph.data import true_dictionary

            c = float(np.sqrt(np.sum(x**2) / np.sum((z_true @ true_dictionary(warm).T) ** 2)))
            z_true = c * z_true
            self.z_true = z_true
            z = z_true + c * self.opts["warm_start_noise"] * rng.standard_normal(z_true.shape)
        else:
            z = rng.standard_normal((n, p.n_latent))
        if p.constraint == "simplex":
            z = reference.project_simplex(torch.as_tensor(z)).numpy()
        W0 = initial_weights(p, self.seed, z=z)
        self.W = {k: torch.as_tensor(v, dtype=self.dtype) for k, v in W0.items()}
        zt = torch.as_tensor(z, dtype=self.dtype)
        y = zt @ self.W["Omega"]  # Y = ΩZ (App. E.1)
        self.lat = [y, zt, torch.zeros_like(y)]  # ζ = ρ(ΩZ − Y) = 0
        self.z_init = z.copy()

    def _check_x(self, x, what: str) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64) * float(self.opts["x_scale"])
        if x.ndim != 2 or x.shape[1] != self.params.n_in:
            raise ShapeError(f"smpc trainer: {what} has shape {x.shape}, expected (n, {self.params.n_in})")
        if not np.all(np.isfinite(x)):
            raise ShapeError(f"smpc trainer: {what} contains NaN or inf; clean the data first")
        return x

    # ---- training ------------------------------------------------------------------------------------------
    def train_epoch(self, x, y, epoch, progress=None):
        p = self.params
        x = self._check_x(x, "x")
        if self.lat is None:
            self._init_latents(x)
            self.x_sum, self._X = _checksum(x), x
        elif len(x) != len(self._X) or _checksum(x) != self.x_sum:
            raise ShapeError("smpc trainer: train_epoch was given another training set; the circuit keeps a latent "
                             "state per training sample, so every epoch must see the same samples")
        xt = torch.as_tensor(x, dtype=self.dtype)
        n = len(x)
        for it in range(self.opts["iters_per_epoch"]):
            if p.batch >= n:
                groups = [np.arange(n)]
            else:
                order = np.random.default_rng([self.seed, epoch, it]).permutation(n)
                groups = [order[s:s + p.batch] for s in range(0, n - p.batch + 1, p.batch)]
            for idx in groups:
                ti = torch.as_tensor(idx)
                yb, zb, zetab = (t[ti] for t in self.lat)
                yb, _, zb, zetab = reference.run_trials(p, self.W, xt[ti], yb, zb, zetab)
                self.W = reference.synaptic_update(p, self.W, xt[ti], yb, zb, zetab)
                for t, new in zip(self.lat, (yb, zb, zetab)):
                    t[ti] = new
        if not all(torch.isfinite(v).all() for v in (*self.W.values(), *self.lat)):
            raise DivergedError(f"smpc: the circuit diverged in epoch {epoch} (non-finite weights or activity); "
                                "lower eta_z or eta_y, or check the data scale (use scale = \"variance\")")
        if progress is not None:
            progress(n)  # every sample took part in every iteration of the epoch
        self._update_map()
        return self.fit_metrics()

    def _update_map(self):
        Z = self.lat[1].double().numpy()
        Om = self.W["Omega"].double().numpy()
        self.A_hat = self._X.T @ Z @ (Om @ Om.T) / len(Z)  # Â = X Zᵀ(ΩᵀΩ)/T (§7)

    def fit_metrics(self) -> dict:
        """The paper's figures on the training set with its learned latents."""
        from circuits.ksm import metrics

        Z = self.lat[1].double().numpy()
        Xhat = metrics.predict(self.A_hat, Z)
        out = {"fit_r2": metrics.r2_score(self._X, Xhat), "fit_r2_own_scale": _r2_own_scale(self._X, Xhat),
               "fit_r2_centred": _r2_centred(self._X, Xhat),
               "fit_sparsity_1": metrics.sparsity_1(Z), "fit_l0_mode": float(metrics.l0_mode(Z))}
        if self.z_true is not None:
            out["latent_error"] = latent_error(self.z_true, Z)
            out["latent_error_matched"] = latent_error(self.z_true, Z, match=True)
        return out

    def latents(self, x=None) -> np.ndarray:
        """The training latents (x None) or those inferred for x from a cold start, (n, K)."""
        if x is None:
            return self.lat[1].double().numpy().copy()
        xt = torch.as_tensor(self._check_x(x, "x"), dtype=self.dtype)
        # Step sizes clipped to the learned circuit's stability bounds (reference.stable_steps).
        p = reference.stable_steps(self.params, self.W)
        _, z, _ = reference.infer(p, self.W, xt, self.opts["n_infer"])
        return z.double().numpy()

    def evaluate(self, x) -> dict:
        from circuits.ksm import metrics

        if self.A_hat is None:
            raise ConfigError("smpc trainer: evaluate needs a trained circuit (run train_epoch first)")
        x = self._check_x(x, "x")
        Z = self.latents(x)
        Xhat = metrics.predict(self.A_hat, Z)
        return {"r2": metrics.r2_score(x, Xhat), "r2_own_scale": _r2_own_scale(x, Xhat),
                "r2_centred": _r2_centred(x, Xhat), "sparsity_1": metrics.sparsity_1(Z),
                "l0_mode": float(metrics.l0_mode(Z))}

    def predict(self, x):
        raise NotImplementedError("smpc learns a representation (task 'reconstruction'): use evaluate(x)")

    def weights(self):
        return {k: v.double().numpy().copy() for k, v in self.W.items()}

    def options(self):
        return dict(self.opts)

    def state_dict(self):
        state = {"weights": self.weights(), "x_sum": self.x_sum}
        if self.lat is not None:
            state.update(y=self.lat[0].double().numpy(), z=self.lat[1].double().numpy(),
                         zeta=self.lat[2].double().numpy(), X=self._X, A_hat=self.A_hat)
            state["z_init"] = self.z_init
            if self.z_true is not None:
                state["z_true"] = self.z_true
        return state

    def load_state_dict(self, state):
        self.W = {k: torch.as_tensor(np.asarray(v), dtype=self.dtype) for k, v in state["weights"].items()}
        self.x_sum = str(state.get("x_sum", ""))
        if "z" in state:
            self.lat = [torch.as_tensor(np.asarray(state[k]), dtype=self.dtype) for k in ("y", "z", "zeta")]
            self._X, self.A_hat = np.asarray(state["X"]), np.asarray(state["A_hat"])
            self.z_true = np.asarray(state["z_true"]) if "z_true" in state else None
            self.z_init = np.asarray(state["z_init"]) if "z_init" in state else None
