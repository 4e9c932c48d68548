"""SMPC parameters (Choudhary, Masset & Ba, "Implicit generative modeling by kernel similarity matching",
§7 and Appendix E; ../shared/papers/ksm-smpc-choudhary-masset-ba.md), and every reading this code makes.

The circuit (eqs. 39–42; notation of the paper, sample index i dropped):

    ζ = ρ(Ω z − y)                                                         interneuron at its fixed point
    Δζ = η_ζ (Ω z − y − ζ/ρ)                                               eq. 41, the dynamic interneuron
    Δy = η_Y (W x − M y + ζ)                                               eq. 39
    v  = z − η_Z Ωᵀ ζ,      z ← f(v, z)                                    eq. 40 (two-cell latent unit)
    ΔW = η_W (⟨y xᵀ⟩ − W),  ΔM = η_M (⟨y yᵀ⟩ − M),  ΔΩ = −η_Ω ⟨ζ zᵀ⟩          eq. 42 (⟨·⟩: mean over the batch)

Storage: every matrix is kept in (n_pre, n_post) orientation (the toolkit's convention):
``W`` (n_in, n_y) = W_paperᵀ (X → Y), ``M`` (n_y, n_y) = M_paperᵀ (Y → Y; symmetric from its init I and its
symmetric update, so equal), ``Omega`` (n_latent, n_y) = Ω_paperᵀ (Z → ζ; the same synapses carry Ωᵀζ back to
Z). The population sizes: x ∈ R^N (``n_in``), y and ζ ∈ R^{n_y} (``n_y``; the paper's Ω is square, n_y = K),
z and v ∈ R^K (``n_latent``).

Readings of the paper (each ambiguity, and what is done here):

1. eq. 40 ``Δv = −Ωᵀζ + (z − v)/η_Z`` with a unit step would be unstable for η_Z = 0.1 (it multiplies the
   leak by 10). Read as a fast dendrite that reaches its fixed point every iteration: η_Z Δv = −η_Z Ωᵀζ +
   (z − v) with v taking its new value, v = z − η_Z Ωᵀζ: a gradient step of (ρ/2)‖y − Ωz‖² in z (∇_z =
   Ωᵀζ). z ← f(v, z) then applies the constraint.
2. f for ℓ1: the paper writes the subgradient v − η_Z λ sign(z_prev) (``l1_form = "subgradient"``, literal);
   the default is the proximal form (soft threshold S_{η_Z λ}(v), ``l1_form = "soft"``), the form of the
   KSM Z-step (eq. 23) and the only one that yields exact zeros. f for the simplex: the Euclidean projection
   of Appendix B. The torch reference projects by sorting (Appendix B, eq. 21). Brian2 cannot sort; it uses
   a sort-free form with the same value: for every unit j, S_j = {i : v_i ≥ v_j}, θ_j = (Σ_{S_j} v − 1)/|S_j|;
   unit j is in the support iff v_j > θ_j (exactly the first ρ of the sorted order, Appendix B), and
   θ = (Σ_support v − 1)/|support|, z = max(0, v − θ). The two agree to rounding (the sums run in another
   order), which the equivalence check confirms; ties give the same z either way.
3. Order within one neural iteration (k → k+1): ζ from (y^k, z^k) [fixed point] or ζ^{k+1} = ζ^k + η_ζ(Ωz^k −
   y^k − ζ^k/ρ) [eq. 41 with its indices shifted by one so that every iteration starts with the interneuron],
   then eqs. 39–40 from that ζ. After the last neural iteration one more interneuron step (the
   ``synaptic`` phase, y and z frozen) brings ζ to the final (y, z): eq. 42 reads ζ^{k+1}, z^{k+1}, y^{k+1}.
4. η_ζ (dynamic interneuron): eq. 41 has a unit step (η_ζ = 1); with ρ = 5 it contracts as 0.8^k toward the
   fixed point ρ(Ωz − y). The paper ran the fixed point (``interneuron = "fixed"``, default).
5. η_Ω is not given in the paper; η_Ω = η_M = 0.1 here (``eta_omega``). The 1/T placement in eq. 42 is read
   as the batch mean ⟨·⟩ (the Pehlevan/Luther convention; reference-code.md §4.1).
6. "η_W = 0.05 ≪ η_M = 0.1 ... run for 5 iterations": each synaptic phase applies eq. 42 ``n_synaptic`` = 5
   times with the activities held at their end-of-phase values (a synapse sees only its two cells' activity
   at the moment of plasticity). For W and M five steps toward the same target are
   W ← W + (1 − (1 − η_W)^5)(⟨y xᵀ⟩ − W); for Ω, with ζ held, Ω ← Ω − 5 η_Ω ⟨ζ zᵀ⟩. The torch reference loops
   the five steps literally; Brian2 applies the closed form (namespace ``eta_w_eff`` etc.). The paper's
   autograd version would recompute ζ = ρ(Ωz − y) after each Ω step (an O(η_Ω² ρ) difference).
7. The latents of each sample persist between synaptic updates (the paper optimises Y, Z per sample, full
   batch, 6000–10000 iterations): a trial starts from the sample's (y, z, ζ) of the previous update
   (Brian2: per-trial ``y0``, ``z0``, ``zeta0`` loaded by the ``init`` reset). Inference on unseen samples
   starts cold (y = 0, ζ = 0; z = 0 for ℓ1, z = 1/K for the simplex).
8. Initialisation (App. E.1): W ~ N(0, 1), M = I; Ω from the Cholesky factor L of H = ZZᵀ/T + ωI
   (simplex: ωD, D = diag(Z1/T)). The paper "inverted and transposed" L, with the intent "ΩᵀΩ should
   resemble H⁻¹": with H = LLᵀ, H⁻¹ = L⁻ᵀL⁻¹, so Ω = L⁻¹ gives ΩᵀΩ = H⁻¹ exactly while Ω = L⁻ᵀ gives
   ΩΩᵀ = H⁻¹. Ω = L⁻¹ (the stated intent) is used. Y = ΩZ. For the N = 30 set Ω ~ N(0, 1) (``omega_init =
   "normal"``).
9. Implicit generative map (§7): Â = X Zᵀ(ΩᵀΩ)/T, x̂ = Â z; R² on variance-normalised data
   x ← x / sqrt(mean_i ‖x_i‖²) (§7.1).
10. The 1/T factors (``batch_sum``). Eqs. 39–42 as printed take unit-weight steps per sample; the paper
   computed its updates with PyTorch autograd on the batch objective eq. 38, whose per-sample terms carry
   1/T: the gradient steps on y_i, z_i are then η/T (as in the unattributed code of reference-code.md §4), and
   eq. 42 printed literally, ΔW = η_W/T (Σ_i y_i x_iᵀ − W), has the batch *sum* as its target. Default:
   the equations as printed with batch means (``batch_sum = False``); ``batch_sum = True`` is the other
   reading (neural steps η/B, synaptic targets Σ over the batch at rate η/B). Under the default reading
   λ = 0.8 zeroes every latent on unit-scale data, and raw-scale data (‖x‖ ≈ 7–40) make the y loop
   unstable (η_Y λ_max(M + ρI) > 2 once M ≈ ⟨y yᵀ⟩ has grown); under ``batch_sum`` both are avoided.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from neuromorph.errors import ConfigError
from neuromorph.phases import Phase, PhaseSchedule

__all__ = ["SMPCParams", "PLASTIC", "CONSTRAINTS", "INTERNEURONS", "L1_FORMS", "weight_layout", "schedule",
           "validate", "initial_weights", "omega_from_latents", "VERIFICATION_OVERRIDES"]

PLASTIC = ("W", "M", "Omega")
CONSTRAINTS = ("l1", "simplex")
INTERNEURONS = ("fixed", "dynamic")
L1_FORMS = ("soft", "subgradient")
OMEGA_INITS = ("cholesky", "normal")

# The tiny instance `neuromorph verify smpc` and the contract tests check (cython compile time scales with
# the number of code objects, not with the sizes; a few units keep the run itself negligible).
VERIFICATION_OVERRIDES = dict(n_in=3, n_latent=3, n_y=3, n_neural=4, batch=2)


@dataclass(frozen=True)
class SMPCParams:
    n_in: int = 2  # N: input dimension (2-D dataset of §7.1)
    n_latent: int = 2  # K: latent units z (and dendrites v)
    n_y: int = 2  # intermediate units y and interneurons ζ (the paper's Ω is K×K: n_y = K)
    constraint: str = "l1"  # "l1" (sparse) or "simplex" (probability simplex, Appendix B)
    l1_form: str = "soft"  # "soft" (proximal) or "subgradient" (eq. 40 literally); see reading 2
    interneuron: str = "fixed"  # "fixed" (the paper's runs) or "dynamic" (eq. 41)
    eta_y: float = 0.1  # η_Y (§7.1)
    eta_z: float = 0.1  # η_Z (§7.1)
    eta_zeta: float = 1.0  # η_ζ of the dynamic interneuron (eq. 41: unit step)
    rho: float = 5.0  # ρ (§7.1)
    lam: float = 0.8  # λ (§7.1)
    eta_w: float = 0.05  # η_W (§7.1)
    eta_m: float = 0.1  # η_M (§7.1)
    eta_omega: float = 0.1  # η_Ω: not given in the paper (reading 5)
    n_neural: int = 10  # neural iterations per synaptic update (§7.1)
    n_synaptic: int = 5  # synaptic iterations per update (§7.1, reading 6)
    batch: int = 512  # trials per synaptic update (§7.1: the whole data set)
    omega: float = 0.1  # ω of H = ZZᵀ/T + ωI used to initialise Ω (App. E.1)
    omega_init: str = "cholesky"  # "cholesky" (2-D, moons) or "normal" (N = 30 set)
    batch_sum: bool = False  # reading 10: steps of the batch-averaged objective (η/B) and eq. 42's sums

    @property
    def neural_rates(self) -> tuple[float, float]:
        """(η_Y, η_Z) applied per neural iteration: η, or η/B with ``batch_sum`` (reading 10)."""
        d = float(self.batch) if self.batch_sum else 1.0
        return self.eta_y / d, self.eta_z / d

    @property
    def synaptic_form(self) -> tuple[float, float, float]:
        """(gain, η_W, η_M) of one synaptic step W ← W + η_W (gain·Σ_batch y xᵀ − W): gain 1/B and η (the batch
        mean, default) or gain 1 and η/B (eq. 42 literally, ``batch_sum``). ΔΩ = −η_Ω Σ ζzᵀ/B either way."""
        if self.batch_sum:
            return 1.0, self.eta_w / self.batch, self.eta_m / self.batch
        return 1.0 / self.batch, self.eta_w, self.eta_m

    @property
    def n_steps(self) -> int:
        return self.n_neural + 1


def validate(p: SMPCParams) -> None:
    """ConfigError for parameters the circuit cannot run with."""
    for key in ("n_in", "n_latent", "n_y", "n_neural", "n_synaptic", "batch"):
        if getattr(p, key) < 1:
            raise ConfigError(f"smpc: {key} must be >= 1, got {getattr(p, key)}")
    for key, allowed in (("constraint", CONSTRAINTS), ("interneuron", INTERNEURONS), ("l1_form", L1_FORMS),
                         ("omega_init", OMEGA_INITS)):
        if getattr(p, key) not in allowed:
            raise ConfigError(f"smpc: {key} must be one of {list(allowed)}, got {getattr(p, key)!r}")
    for key in ("eta_y", "eta_z", "eta_zeta", "rho", "eta_w", "eta_m", "eta_omega", "omega"):
        v = getattr(p, key)
        if not np.isfinite(v) or v <= 0:
            raise ConfigError(f"smpc: {key} must be a positive number, got {v}")
    if not np.isfinite(p.lam) or p.lam < 0:
        raise ConfigError(f"smpc: lam must be >= 0, got {p.lam}")
    for key in ("eta_w", "eta_m"):
        if getattr(p, key) > 1 and not p.batch_sum:
            raise ConfigError(f"smpc: {key} must be <= 1 (a step toward a running mean), got {getattr(p, key)}")
    if p.constraint == "simplex" and p.n_latent < 2:
        raise ConfigError("smpc: the simplex constraint needs n_latent >= 2 (one unit would always be 1)")


def weight_layout(p: SMPCParams) -> dict[str, tuple[int, int]]:
    """Every matrix, (n_pre, n_post): W (X → Y), M (Y → Y), Omega (Z → ζ)."""
    return {"W": (p.n_in, p.n_y), "M": (p.n_y, p.n_y), "Omega": (p.n_latent, p.n_y)}


def schedule(p: SMPCParams) -> PhaseSchedule:
    """``neural`` (n_neural iterations of eqs. 39–41 from the sample's stored state: reset ``init``), then
    ``synaptic`` (one step: ζ settles on the final y, z; y, z frozen; eq. 42 accumulated at its end, applied
    every ``batch`` trials)."""
    return PhaseSchedule(
        (
            Phase("neural", p.n_neural, clamp=("x",), resets=("init",)),
            Phase("synaptic", 1, clamp=("x",), gates=("learn",)),
        ),
        trials_per_update=p.batch,
    )


def omega_from_latents(p: SMPCParams, z: np.ndarray) -> np.ndarray:
    """Ω (paper orientation, n_y × K with n_y = K) with ΩᵀΩ = H⁻¹, H = ZᵀZ/T + ωI (ℓ1) or + ωD (simplex):
    Ω = L⁻¹ for the Cholesky factor H = LLᵀ (reading 8). ``z``: (T, K)."""
    z = np.asarray(z, dtype=float)
    T = len(z)
    H = z.T @ z / T
    if p.constraint == "simplex":
        H = H + p.omega * np.diag(z.mean(axis=0))
    else:
        H = H + p.omega * np.eye(z.shape[1])
    L = np.linalg.cholesky(H)
    return np.linalg.inv(L)


def initial_weights(p: SMPCParams, seed: int, z: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """W ~ N(0, 1), M = I, Ω from the latents ``z`` (T, K) by Cholesky (or N(0, 1)); stored (pre, post).

    Without ``z`` (the verification instance; a trainer before it sees data) the latents are drawn as for the
    2-D set of App. E.1: 256 samples of N(0, 1) (ℓ1) or of a flat Dirichlet (simplex), so that ΩᵀΩ = H⁻¹ keeps
    the latent step η_Z ρ ‖Ω‖² in the stable range as in the paper.
    """
    rng = np.random.default_rng(seed)
    W = rng.standard_normal((p.n_y, p.n_in))
    M = np.eye(p.n_y)
    if z is None and p.omega_init == "cholesky" and p.n_y == p.n_latent:
        if p.constraint == "simplex":
            z = rng.dirichlet(np.ones(p.n_latent), size=256)
        else:
            z = rng.standard_normal((256, p.n_latent))
    if z is not None and p.omega_init == "cholesky":
        if p.n_y != p.n_latent:
            raise ConfigError(f"smpc: omega_init = 'cholesky' needs n_y == n_latent (Ω square), got {p.n_y}, {p.n_latent}")
        Om = omega_from_latents(p, z)
    else:
        Om = rng.standard_normal((p.n_y, p.n_latent))
    return {"W": W.T.copy(), "M": M.T.copy(), "Omega": Om.T.copy()}
