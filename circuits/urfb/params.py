"""URFB parameters (Amit 2019/2021, "Deep learning with asymmetric connections and Hebbian updates").

The facts the code relies on, from the paper (eq. / section numbers of the arXiv v3 text) and from the author's
TensorFlow code (github.com/yaliamit/URFB, HEAD e990d00; "code:" below). Where the two differ the parameter
says which one it follows and the other is one setting away.

Network (§3.1, eq. 1). Layers 0..L, h_l = W_l x_{l-1}, x_l = σ(h_l) for 0 < l < L, linear output
x_L = h_L. No biases (paper and code). Weights are stored here in (n_pre, n_post) orientation:
``W{l}`` has shape (n_{l-1}, n_l) and ``h_l = x_{l-1} @ W{l}``; ``R{l}`` (the feedback from layer l to layer
l-1, the paper's R_l) has shape (n_l, n_{l-1}) so that the feedback is ``δ_l @ R{l}``; "R = Wᵀ" is plain BP.

Non-linearity (§3.1 Remark 2, eq. 3). σ(h) = clip(s·h, −1, 1), σ'(h) = s·1[|s·h| < 1].
Paper: slope s = 1. code: s = ``nonlin_scale`` = 0.5 in every config (σ' = 0.5·1[|h| ≤ 2]). Default here:
the paper's 1 (``slope``). The feedback is zero where |x_l| = 1 (eq. 3), so the mask is strict: the shutdown
units of Appendix 1 fire at x ≥ 1 / x ≤ −1, and this reference agrees with them at the boundary.

Output error (§3.2, eqs. 4–6). Multi-class hinge loss L = max(1 − x_c, 0) + μ Σ_{i≠c} max(1 + x_i, 0);
δ_L,i = −∂L/∂x_L,i = 1 if i = c and x_c ≤ S; −μ if i ≠ c and x_i ≥ −S; 0 otherwise (S = 1, ``margin``).
μ "some balancing factor" in the paper; code: μ = off_class_fac/(C−1) = 1/(C−1) (``mu=None``).
Boundary: the paper's eq. (6) includes equality (x_c ≤ 1 gives 1); code: TF relu'(0) = 0 gives 0 there.
Followed here: the paper (it is also what the control circuit of Appendix 1 computes).
BP baseline: softmax cross-entropy, δ_L = y − softmax(x_L).

Feedback and updates (§3.1 eq. 2 with R, eq. 7). δ_l = σ'(h_l) ⊙ (δ_{l+1} @ R_{l+1}) for URFB/FRFB,
(δ_{l+1} @ W_{l+1}ᵀ) for BP. Hebbian increment g_l = x_{l-1}ᵀ δ_l / B (batch mean, code); W_l += η g_l and
R_l += ε η g_lᵀ: ε = 1 URFB ("R receives W's increment", code force_global_prob[1] = 1), ε = 0 FRFB (Lillicrap
et al.'s fixed random feedback), 0 < ε < 1 the mixtures of eq. (7). Order: Fig. 15 (and code) update
W_l, R_l *before* δ_{l-1} is computed, so the feedback uses the already-updated R_l
(``feedback_after_update=True``, default); ``False`` uses the weights of the start of the step (then BP is
exactly the gradient, which the autograd test checks).

Initialisation (§4, code). W and R drawn independently, Glorot-uniform ±√(6/(fan_in + fan_out)) (code:
TF get_variable default), so W and R are uncorrelated at t = 0. SGD with constant step η = 0.1, no momentum,
no weight decay, no normalisation; batch 500 (§4). Inputs in [0, 1] (code: /255), no preprocessing.

Random 50 % connectivity (§4, code ``zero_out_weights`` + ``update_only_non_zero``): independent Bernoulli
masks for W and R; masked entries start at 0 and stay 0. code: the last dense layer is exempt ("with many
classes the hinge loss does not work") - ``prune_output=False`` follows it.

Linear theory (§5, eqs. 7–9; §5.1): see experiments/urfb/linear_theory.py.

The circuit of Appendix 1 (see circuits/urfb/equations.py for the equations):

* output layer: supervisory s_c = ±1, error unit δ_c = σ_δ(H_c), H_c = h_c + 2M s_c − 2M t_c, control unit
  t_c = σ_t(δ_c); σ_δ = 1+ε' above 2M+S, 1 on (M, 2M+S], 0 on [−M, M], −μ on [−2M−S, −M), −μ−ε' below
  (ε' = ``overshoot``); σ_t = 1 above 1, 0 on [−μ, 1], −1 below −μ. Assumes |h_c| < M (``M``).
  Where the output is already correct beyond the margin δ_c oscillates (1+ε', 0, ...) - the paper leaves the
  update open ("ignoring the oscillation"); our choice: a veto latch z_c remembers that t_c fired during
  the error phase and the error the synapses and the feedback read is e_c = δ_c (1 − z_c) (0 for the
  oscillating cases, δ_c otherwise), which is exactly rule (6).
* hidden layers: shutdown units u = 1[x ≥ 1], v = −1[x ≤ −1]; feedback unit
  δ_l = s · σ_K(fb − 2K u + 2K v), σ_K(z) = z if z ≥ −K else 0, fb = δ_{l+1} @ R_{l+1}. Assumes |fb| ≤ K.
* Fig. 15 timing: forward pass, error phase, then per layer from the top: Hebbian update of W_l, R_l
  ("upd{l}"), shutdown units of layer l−1 ("uv{l-1}"), feedback δ_{l−1} ("fb{l-1}").
"""

from __future__ import annotations

from dataclasses import dataclass

from neuromorph.errors import ConfigError

__all__ = ["URFBParams", "METHODS", "weight_layout", "plastic_layout", "phase_schedule"]

# bp: softmax CE, feedback through W (exact BP) | bp_hinge: hinge loss (eq. 4), feedback through W |
# urfb: hinge, feedback through R, R gets ε × W's increment (ε = 1: URFB, eq. 7 mixtures otherwise) |
# frfb: hinge, feedback through fixed R (ε = 0).
METHODS = ("bp", "bp_hinge", "urfb", "frfb")


@dataclass(frozen=True)
class URFBParams:
    sizes: tuple[int, ...] = (784, 500, 10)  # input, hidden layers ..., classes
    method: str = "urfb"
    eps: float = 1.0  # ε of eq. (7): R's increment is ε × W's (method "urfb" only; "frfb" is ε = 0)
    slope: float = 1.0  # σ(h) = clip(slope·h, −1, 1): paper 1, author's code 0.5
    mu: float | None = None  # off-class weight μ of eq. (4); None: 1/(C − 1) (code)
    margin: float = 1.0  # S, the learning threshold of rule (6) (paper: 1)
    lr: float = 0.1  # η, SGD step (§4)
    batch: int = 500  # mini-batch B; increments are batch means (§4, code)
    connectivity: float = 1.0  # fraction of W and R entries kept (0.5: the paper's 50 % runs)
    prune_output: bool = False  # also prune the output layer's W and R (code exempts it)
    feedback_after_update: bool = True  # Fig. 15 / code order: δ_{l-1} uses the just-updated R_l
    init_scale: float = 1.0  # multiplies the Glorot bound (1: the paper's init)
    # ---- architecture (trainer only): "mlp" (sizes) or "simpnet" (§4: conv 32 5×5, pool, full sizes[1], out)
    arch: str = "mlp"
    n_filters: int = 32  # simpnet: conv filters
    drop_conv: float = 0.0  # simpnet: dropout probability after the pool (paper: .8)
    drop_full: float = 0.0  # simpnet: dropout probability after the full layer (paper: .3)
    # ---- the Brian2 circuit of Appendix 1 ----
    M: float = 8.0  # bound on |h_L| the output control circuit assumes (Appendix 1)
    K: float = 8.0  # bound on |fb| the shutdown circuit assumes (Appendix 1)
    overshoot: float = 0.5  # ε' of σ_δ (Appendix 1): overshoot above 1 and below −μ
    n_err: int = 4  # steps of the output error phase (δ_c, t_c alternate; ≥ 2 shows the oscillation)

    def __post_init__(self):
        sizes = tuple(self.sizes)
        if len(sizes) < 2 or any((not isinstance(n, int)) or n < 1 for n in sizes):
            raise ConfigError(f"sizes must be ≥ 2 positive integers (input, hidden..., classes), got {self.sizes!r}")
        if sizes[-1] < 2:
            raise ConfigError(f"sizes: the output layer needs ≥ 2 classes, got {sizes[-1]}")
        object.__setattr__(self, "sizes", sizes)
        if self.method not in METHODS:
            raise ConfigError(f"method: unknown value {self.method!r}; allowed values are {list(METHODS)}")
        if not 0.0 <= self.eps <= 1.0:
            raise ConfigError(f"eps must lie in [0, 1] (eq. 7: 0 FRFB, 1 URFB), got {self.eps}")
        if self.method == "frfb" and self.eps not in (0.0, 1.0):
            raise ConfigError("eps is ignored by method 'frfb' (it is ε = 0); use method 'urfb' with eps for the mixtures")
        if self.slope <= 0:
            raise ConfigError(f"slope must be > 0, got {self.slope}")
        if self.mu is not None and not 0 < self.mu <= 1:
            raise ConfigError(f"mu must lie in (0, 1] (Appendix 1 needs μ ≤ 1), got {self.mu}")
        if self.margin <= 0:
            raise ConfigError(f"margin (S) must be > 0, got {self.margin}")
        if self.lr <= 0:
            raise ConfigError(f"lr must be > 0, got {self.lr}")
        if not isinstance(self.batch, int) or self.batch < 1:
            raise ConfigError(f"batch must be a positive integer, got {self.batch!r}")
        if not 0 < self.connectivity <= 1:
            raise ConfigError(f"connectivity must lie in (0, 1], got {self.connectivity}")
        if self.init_scale <= 0:
            raise ConfigError(f"init_scale must be > 0, got {self.init_scale}")
        if self.M <= 0 or self.K <= 0 or self.overshoot <= 0:
            raise ConfigError(f"M, K and overshoot must be > 0, got M={self.M}, K={self.K}, overshoot={self.overshoot}")
        if self.arch not in ("mlp", "simpnet"):
            raise ConfigError(f"arch: unknown value {self.arch!r}; allowed values are ['mlp', 'simpnet']")
        if not (0 <= self.drop_conv < 1 and 0 <= self.drop_full < 1) or self.n_filters < 1:
            raise ConfigError(
                f"drop_conv and drop_full must lie in [0, 1) and n_filters ≥ 1, got {self.drop_conv}, {self.drop_full}, {self.n_filters}"
            )
        if not isinstance(self.n_err, int) or self.n_err < 1:
            raise ConfigError(f"n_err must be a positive integer, got {self.n_err!r}")

    # ---- derived ----
    @property
    def n_layers(self) -> int:
        """L: the number of weight layers (hidden layers + output)."""
        return len(self.sizes) - 1

    @property
    def n_classes(self) -> int:
        return self.sizes[-1]

    @property
    def mu_value(self) -> float:
        return 1.0 / (self.n_classes - 1) if self.mu is None else float(self.mu)

    @property
    def loss(self) -> str:
        return "softmax" if self.method == "bp" else "hinge"

    @property
    def uses_R(self) -> bool:
        """Whether feedback runs through separate matrices R (URFB, FRFB and mixtures)."""
        return self.method in ("urfb", "frfb")

    @property
    def r_factor(self) -> float:
        """ε: R's increment as a multiple of W's (transposed)."""
        return 0.0 if self.method == "frfb" else float(self.eps)


def weight_layout(params: URFBParams) -> dict[str, tuple[int, int]]:
    """Every weight matrix, name -> (n_pre, n_post): ``W{l}`` (n_{l-1}, n_l) for l = 1..L and, for the
    R methods, ``R{l}`` (n_l, n_{l-1}) for l = 2..L (R_1 would feed back into the input: it carries nothing)."""
    N = params.sizes
    shapes = {f"W{l}": (N[l - 1], N[l]) for l in range(1, params.n_layers + 1)}
    if params.uses_R:
        shapes.update({f"R{l}": (N[l], N[l - 1]) for l in range(2, params.n_layers + 1)})
    return shapes


def plastic_layout(params: URFBParams) -> tuple[str, ...]:
    """Names of the matrices that learn: every W; R too unless FRFB (ε = 0)."""
    names = [k for k in weight_layout(params) if k.startswith("W")]
    if params.uses_R and params.r_factor != 0.0:
        names += [k for k in weight_layout(params) if k.startswith("R")]
    return tuple(names)


def phase_schedule(params: URFBParams):
    """The Fig. 15 timing of one trial, as a neuromorph PhaseSchedule (one compiled Brian2 run).

    ``forward`` (L steps: layer l has its feedforward value after step l; every state is zeroed at the
    trial's first step), ``err`` (n_err steps of the output error circuit), then for l = L..1:
    ``upd{l}`` (Hebbian update of W_l, R_l from x_{l-1} and δ_l), and for l > 1 ``uv{l-1}`` (shutdown units
    of layer l−1 read x_{l-1}) and ``fb{l-1}`` (δ_{l-1} from δ_l through R_l, zeroed by u, v).
    Weight increments are applied in ``upd{l}`` when ``feedback_after_update`` (Fig. 15; needs batch 1, the
    circuit runs its trials one after another) and at the end of each window of ``batch`` trials otherwise.
    """
    from neuromorph.phases import Phase, PhaseSchedule

    L = params.n_layers
    phases = [Phase("forward", L, resets=("zero",)), Phase("err", params.n_err)]
    for l in range(L, 0, -1):
        phases.append(Phase(f"upd{l}", 1))
        if l > 1:
            phases.append(Phase(f"uv{l - 1}", 1))
            phases.append(Phase(f"fb{l - 1}", 1))
    return PhaseSchedule(tuple(phases), trials_per_update=params.batch)
