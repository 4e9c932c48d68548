"""KSM hyper-parameters (Choudhary, Masset & Ba, "Implicit generative modeling by kernel similarity matching").

Equation numbers below are those of the paper's text in shared/papers/ksm-smpc-choudhary-masset-ba.md.

What the solver optimises (the separable augmented Lagrangian, eqs. 13-14 for the sparse form, eq. 31 for the
simplex form), per sample i with latent z_i (K), kernel copy P_i (K x K) and dual M_i (K x K), W (K x N):

    L_i = -c x_iᵀWᵀz_i + ½Tr(WᵀP_iW) + λ‖z_i‖₁ + (ρ/2)‖z_i z_iᵀ + ωD(z_i) - P_i + M_i/ρ‖²_F,
    P_i = z_i z_iᵀ + ωD(z_i)   (the constraint)

with c = 1, D = I for ``constraint = "l1"`` (eq. 13) and c = 1 + ω, D = diag(z_i), no λ term and z_i on the
probability simplex for ``constraint = "simplex"`` (eq. 31, the scaled form of eq. 19 the paper ran).

Table 1 of the paper (the four presets of :data:`TABLE1`):

    setting     K    λ    ω      ρ    η_W       T_z  B    epochs  R² (paper)
    synthetic   16   0.5  1e-4   1.0  0.01      15   128  3500    1.0
    mnist       500  0.1  1e-4   1.0  1e-4      15   128  8000    0.78
    patches     192  0.9  1e-4   1.0  1e-4      15   128  5000    0.86
    moons       12   -    0.1    1.0  1.5e-3    15   128  5500    0.98

Choices the paper leaves open, and what is done here (each one parameter away from the alternative):

* Eq. 14 prints the penalty as ρ‖·‖²_F; the gradients the paper derives from it (eqs. 23, 32) and its P-step
  fixed point (after eq. 24) are those of (ρ/2)‖·‖²_F, the usual scaled-dual ADMM form. Followed: ρ/2.

* η_Z, the Z-step size, is not in Table 1. §5.1.2: proximal gradient with η_Z = 1/L, L = λ_max(WWᵀ), for
  Schedules 1 and 2; "~1/100" of that for Schedule 3. Here η_Z = ``lr_z_factor`` / L, with L re-estimated
  each mini-batch by a warm-started power iteration (``lr_z_factor`` 1.0 by default; use 0.01 for Schedule 3).
* The soft threshold of eq. 23 is printed S_{λ/η}; the proximal operator of η‖·‖₁ is S_{λη}, which is what
  the paper's own ISTA equivalence (Theorem 1, eq. 29) needs. Followed: S_{λη}.
* The M-step of Algorithm 2 carries a stray 1/T (z zᵀ/T); eq. 25 has none. Followed: eq. 25.
* The W-step (eq. 26) sums over a mini-batch of N_b samples but divides by T; the step here is the batch mean
  (1/B) Σ_b, the mini-batch estimate of the full-data gradient (1/T) Σ_T.
* "we normalize W to have unit norm rows" (§5.1.3, §6.1): ``normalize_rows`` (True for the sparse form). For
  the simplex form W's rows are the anchor points on the data manifold (§6.3) and are not normalised.
* The W-step uses P_i of the current iteration (Algorithm 2: P_i^{k+1}; eq. 26 prints P_i^k).
* The paper reports R² on the training set with its learned latents (``fit_r2`` here). Codes of unseen samples
  (``test_r2``, ``train_r2``: the runner's evaluation) are the Z-step's minimiser under the learned W, reached
  by ``infer_steps`` FISTA iterations (``infer_method``; "ista" runs the Z-step exactly as in training).
* One runner epoch is ``sweeps`` passes over the data (the paper's epochs = runner epochs x sweeps), so a
  3500-epoch run writes a few dozen checkpoints, not 3500.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from neuromorph.errors import ConfigError

__all__ = ["KSMParams", "TABLE1", "CONSTRAINTS", "SCHEDULES", "INITS", "table1", "params_from_dict"]

CONSTRAINTS = ("l1", "simplex")
SCHEDULES = (1, 2, 3)
# "truth": W from the data set's true dictionary plus N(0, init_noise²) (the paper's warm start, §6.1; only
# for data sets that have one, see neuromorph.data.true_dictionary); "data": W's rows are random training
# samples (§6.3, "random points on the input manifold"); "random": W ~ N(0, 1).
INITS = ("truth", "data", "random")
DTYPES = ("float64", "float32")
# Per-sample P_i and M_i of Schedules 2 and 3 take 2·T·K² numbers; above this many bytes the trainer refuses
# (Schedule 1 keeps them implicit, see admm.py).
STATE_BYTES_LIMIT = 2 * 1024**3


@dataclass(frozen=True)
class KSMParams:
    K: int = 16
    constraint: str = "l1"
    lam: float = 0.5  # λ, the ℓ1 weight (unused by the simplex form)
    omega: float = 1e-4  # ω
    rho: float = 1.0  # ρ
    lr_W: float = 0.01  # η_W
    T_z: int = 15  # proximal-gradient steps of one Z-step
    batch: int = 128  # B
    schedule: int = 1  # §5.1.2: 1 (ISTA + alternate minimisation), 2, 3 (Algorithm 2 as written)
    lr_z_factor: float = 1.0  # η_Z = lr_z_factor / λ_max(WWᵀ)
    normalize_rows: bool = True
    init: str = "data"
    init_noise: float = 0.3  # std of the noise added to the true dictionary (init = "truth")
    init_code_steps: int = 100  # sparse-coding steps that initialise Z from the initial W (§6.1)
    infer_steps: int = 200  # Z-step iterations that infer codes for unseen samples (evaluate)
    infer_method: str = "fista"  # "fista" (accelerated, same fixed point) or "ista" (the Z-step as trained)
    sweeps: int = 1  # passes over the data per runner epoch
    dtype: str = "float64"
    device: str = "cpu"
    # a data set with a true dictionary (neuromorph.data.true_dictionary: "ksm_sparse", "ksm_two_atoms") for
    # init = "truth" and the dictionary-recovery figure; "" for none
    truth: str = ""

    def validate(self, n_in: int | None = None) -> None:
        """ConfigError naming the bad value and the fix."""
        def pos_int(name):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ConfigError(f"ksm: {name} must be a positive integer, got {v!r}")

        for name in ("K", "T_z", "batch", "sweeps", "init_code_steps", "infer_steps"):
            pos_int(name)
        if self.constraint not in CONSTRAINTS:
            raise ConfigError(f"ksm: unknown constraint {self.constraint!r}; use one of {list(CONSTRAINTS)}")
        if self.schedule not in SCHEDULES:
            raise ConfigError(f"ksm: schedule must be one of {list(SCHEDULES)} (paper §5.1.2), got {self.schedule!r}")
        if self.init not in INITS:
            raise ConfigError(f"ksm: unknown init {self.init!r}; use one of {list(INITS)}")
        if self.infer_method not in ("fista", "ista"):
            raise ConfigError(f"ksm: infer_method must be 'fista' or 'ista', got {self.infer_method!r}")
        if self.dtype not in DTYPES:
            raise ConfigError(f"ksm: dtype must be one of {list(DTYPES)}, got {self.dtype!r}")
        for name in ("omega", "rho", "lr_W", "lr_z_factor"):
            v = getattr(self, name)
            if not v > 0:
                raise ConfigError(f"ksm: {name} must be > 0, got {v!r}")
        if self.lam < 0 or self.init_noise < 0:
            raise ConfigError(f"ksm: lam and init_noise must be >= 0, got lam={self.lam!r}, init_noise={self.init_noise!r}")
        if self.constraint == "simplex" and self.K < 2:
            raise ConfigError(f"ksm: the simplex constraint needs K >= 2 latents, got K={self.K}")
        if not (self.device == "cpu" or self.device.startswith("cuda")):
            raise ConfigError(f"ksm: device must be 'cpu' or 'cuda[:n]', got {self.device!r}")
        if self.init == "truth" and not self.truth:
            raise ConfigError('ksm: init = "truth" needs truth = "<data set with a true dictionary>" (e.g. "ksm_sparse"); '
                              'use init = "data" otherwise')
        if n_in is not None and (isinstance(n_in, bool) or not isinstance(n_in, int) or n_in < 1):
            raise ConfigError(f"ksm: the input dimension must be a positive integer, got {n_in!r}")

    def state_bytes(self, n_samples: int) -> int:
        """Bytes of the per-sample P_i and M_i Schedules 2 and 3 hold (0 for Schedule 1)."""
        item = 8 if self.dtype == "float64" else 4
        return 0 if self.schedule == 1 else 2 * n_samples * self.K * self.K * item


TABLE1 = {
    "synthetic": KSMParams(K=16, lam=0.5, omega=1e-4, rho=1.0, lr_W=0.01, T_z=15, batch=128),
    "mnist": KSMParams(K=500, lam=0.1, omega=1e-4, rho=1.0, lr_W=1e-4, T_z=15, batch=128),
    "patches": KSMParams(K=192, lam=0.9, omega=1e-4, rho=1.0, lr_W=1e-4, T_z=15, batch=128),
    "moons": KSMParams(K=12, constraint="simplex", lam=0.0, omega=0.1, rho=1.0, lr_W=1.5e-3, T_z=15, batch=128,
                       normalize_rows=False),
}
# Table 1's epochs and R² per setting (what a config reproducing it is compared with).
TABLE1_EPOCHS = {"synthetic": 3500, "mnist": 8000, "patches": 5000, "moons": 5500}
TABLE1_R2 = {"synthetic": 1.0, "mnist": 0.78, "patches": 0.86, "moons": 0.98}


def table1(setting: str, **overrides) -> KSMParams:
    """Table 1's parameters for ``setting`` with ``overrides`` applied."""
    if setting not in TABLE1:
        raise ConfigError(f"ksm: unknown Table 1 setting {setting!r}; use one of {sorted(TABLE1)}")
    return dataclasses.replace(TABLE1[setting], **overrides)


def params_from_dict(options: dict | None, *, where: str = "[trainer.ksm]") -> KSMParams:
    """KSMParams from a config table (e.g. ``[trainer.ksm]``), keys and types checked (ConfigError naming the
    key and the valid ones), then validated. ``setting = "synthetic" | "mnist" | "patches" | "moons"`` starts
    from that column of Table 1 instead of the defaults."""
    from neuromorph.circuit import replace_params

    options = dict(options or {})
    if not isinstance(options, dict):
        raise ConfigError(f"{where} must be a table of KSM parameters")
    base = table1(options.pop("setting")) if "setting" in options else KSMParams()
    params = replace_params(base, options, where=where)
    params.validate()
    return params
