"""pHSIC parameters (Pogodin & Latham 2020): the batch form's :class:`PHSICParams`, the streaming circuit's
:class:`PHSICCircuitParams`, and :func:`weight_layout`, the one list of weight names and shapes.

Defaults = the 3x1024 MLP on Fashion-MNIST with the Gaussian kernel, grouping and divisive normalisation
("Gauss grp+div"). Sources: the paper (§2-4, Appendix D, Tables 3-5) and, where the paper is silent or differs,
what the authors' code does (romanpogodin/plausible-kernelized-bottleneck; marked "code:" below).

What the authors' code does (the facts this package relies on)
---------------------------------------------------------------
Layers. Three hidden bias-free linear layers of 1024 units and an output ``nn.Linear(1024, C)`` with bias. Per
hidden layer, in forward order: input (detached output of the layer below) -> linear -> LeakyReLU(0.01) = z ->
local loss on z (backward and an optimiser step of this layer only) -> divisive normalisation (if enabled) ->
dropout(0.01) -> next layer. Every layer owns its optimiser and scheduler, so weights change *during* the forward
pass and the next layer sees activity computed with the pre-update weights. The output layer learns by
cross-entropy on the detached last hidden output. Init: PyTorch's default for ``nn.Linear`` (U(±1/√fan_in)).
Evaluation: dropout off, argmax of the logits.

Kernels. Gaussian k = exp(−‖a_i − a_j‖²/2σ²), σ = 5 (diagonal 1); cosine k = a_iᵀa_j/(‖a_i‖‖a_j‖), a zero norm
replaced by 1e-6. Label kernel: cosine on per-sample centred one-hot labels (y − 1/C), i.e. 1 for the same class
and −1/(C−1) otherwise.

Loss actually optimised. pHSIC(A, B) = (1/m²) Σ_ij (A_ij − mean A) B_ij over all m² pairs (diagonal included),
m = 256; per layer L_k = pHSIC(K_z, K_z) − γ pHSIC(K_y, K_z), γ = 2. Training is autograd of this batch loss;
its gradient is exactly eq. (40), dL/dW = (1/m²) Σ_ij (2 k̊_z − γ k̊_y)_ij dk_ij/dW. The streaming two-point rule
(eqs. 12-16) is not simulated by the authors ("only to make large-scale simulations computationally feasible",
§4.1); this package simulates it as the registered circuit and trains with the batch form.

Grouping and divisive normalisation. Groups are contiguous blocks: z viewed as (m, c, N/c), c ∈ {16, 32};
u_α = (‖ẑ_α‖² + δ)/n_α with ẑ_α = z_α − its group mean, δ = 1. The kernel sees v_α = u_α^(1−p), centred across
the c groups per sample. "grp" (grouping only): exponent 0.5 and the next layer sees z; "grp+div": exponent
0.8 = 1 − p and the next layer sees r_αn = ẑ_αn/u_α^p with p = 0.2; "plain": kernel on z, no centring.

Optimisation. SGD with momentum 0.95 (local and final), weight decay 1e-7 (local) and 1e-6 (final), batch 256,
100 epochs, MultiStepLR x0.25 at epochs 50, 75, 90 for every optimiser, dropout 0.01, LReLU slope 0.01, data
scaled to [−1, 1] (Normalize(0.5, 0.5)); trained on the full training set, test accuracy logged every epoch.

Per-rule learning rates of the 3x1024 MLP (η_f final / η_l local / c groups; code's grid script = Table 3
unless flagged)::

    fMNIST  Gauss grp+div 5e-3/1.0/32 (code; paper Table 3 prints 5e-4)   cos grp+div 5e-4/1.0/32
            Gauss plain 5e-4/0.5   cos plain 5e-3/1.0   last 5e-2 (plain) or 5e-2/32 (grp+div)   backprop 5e-3
    MNIST   Gauss grp+div 1e-3/1.0/32   cos grp+div 5e-3/0.4/16   last 5e-2    backprop 5e-2

"last layer" (rule ``last``): local learning rate 0, the hidden layers stay at their random init (with grp+div
they still normalise); only the output layer learns. "backprop": the whole network by cross-entropy.

Paper vs code, and what is used here
------------------------------------
=====================================  ==============================  =========================================
question                               paper                           code (used here)
=====================================  ==============================  =========================================
LeakyReLU slope                        0.1 (§4.1) / 0.01 (App. D.4)    0.01
dropout                                0.05 (§4.2) / 0.01 (App. D.5)   0.01
fMNIST Gauss grp+div η_f               5e-4 (Table 3)                  5e-3
seeds                                  "5 random seeds"                unseeded; here every run is seeded
reported epoch                         not stated                      accuracy logged per epoch; epoch 100
update                                 streaming two-point, eqs. 12-16 full-batch autograd of eqs. 9/40
where the kernel sees activity         -                               z = f(W h) after the nonlinearity,
                                                                       before divnorm and dropout
δ, p                                   -                               δ = 1; p = 0.2 (divnorm), 0.5 (grp)
group assignment                       -                               contiguous blocks of N/c neurons
=====================================  ==============================  =========================================

Reported accuracies (mean of 5 runs, 3x1024 MLP, 100 epochs; paper Tables 1/4): fMNIST Gauss grp+div 88.8, cos
grp+div 88.1, last-layer floor 83.3 (85.7 grp+div), backprop 90.2; MNIST Gauss grp+div 98.1, backprop 98.6.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from neuromorph.errors import ConfigError, ShapeError

__all__ = [
    "PHSICParams",
    "PHSICCircuitParams",
    "weight_layout",
    "plastic_names",
    "state_names",
    "state_size",
    "verification_overrides",
    "KERNELS",
    "MODES",
    "RULES",
    "GRADIENTS",
    "STREAMING_MODES",
]

KERNELS = ("gaussian", "cosine")  # kernel on the layer activity (eqs. 25, 26; eq. 19 on v when grouped)
MODES = ("plain", "grouped", "divnorm")  # plain: k(z); grouped: k(v), next layer sees z; divnorm: k(v), next sees r
STREAMING_MODES = ("plain", "divnorm")  # the modes with a Hebbian two-point rule (the streaming circuit)
RULES = ("phsic", "last", "backprop")  # layer-local pHSIC | only the output layer learns | end-to-end CE
GRADIENTS = ("analytic", "autograd")  # how the local gradient (eq. 40) is computed; identical up to rounding


@dataclass(frozen=True)
class PHSICParams:
    sizes: tuple[int, ...] = (784, 1024, 1024, 1024, 10)  # input, hidden layers ..., classes (§4.2)
    kernel: str = "gaussian"
    sigma: float = 5.0  # Gaussian kernel width σ (App. D.4)
    gamma: float = 2.0  # balance γ in pHSIC(Z,Z) - γ pHSIC(Y,Z) (eq. 9; App. D.4)
    mode: str = "divnorm"  # "grp+div" (eqs. 17-22)
    n_groups: int = 32  # c^k, contiguous blocks of size/c neurons (code); Table 3
    delta: float = 1.0  # δ in u = (δ + Σ ẑ²)/n_α (eq. 17)
    # p: divisive-normalisation power; the kernel sees v = centred u^(1-p) (eq. 18) and, in "divnorm", the next
    # layer sees r = ẑ/u^p (eq. 21). None = the code's value for the mode: 0.2 (divnorm), 0.5 (grouped).
    p: float | None = None
    lr_local: float = 1.0  # η_l (Table 3)
    lr_final: float = 5e-3  # η_f (code grid for fMNIST Gauss grp+div)
    momentum: float = 0.95  # SGD momentum, local and final (App. D.4)
    wd_local: float = 1e-7  # weight decay of the local optimisers (App. D.4)
    wd_final: float = 1e-6  # weight decay of the output / backprop optimiser (App. D.4)
    batch: int = 256  # m (§4.2)
    epochs: int = 100  # (App. D.5)
    milestones: tuple[int, ...] = (50, 75, 90)  # MultiStepLR epochs (App. D.5)
    lr_factor: float = 0.25  # learning rates x0.25 at each milestone (App. D.4)
    dropout: float = 0.01  # after divnorm (App. D.1, D.5; code: 0.01)
    leaky_slope: float = 0.01  # LeakyReLU negative slope (App. D.4; code: 0.01)
    rule: str = "phsic"
    center_labels: bool = True  # cosine label kernel on y - 1/C: 1 same class, -1/(C-1) otherwise (eq. 35)
    gradient: str = "analytic"  # "analytic": explicit eq. 41/48/54 gradient; "autograd": autograd of the loss

    def __post_init__(self):
        if self.kernel not in KERNELS:
            raise ConfigError(f"kernel: unknown value {self.kernel!r}; allowed values are {list(KERNELS)}")
        if self.mode not in MODES:
            raise ConfigError(f"mode: unknown value {self.mode!r}; allowed values are {list(MODES)}")
        if self.rule not in RULES:
            raise ConfigError(f"rule: unknown value {self.rule!r}; allowed values are {list(RULES)}")
        if self.gradient not in GRADIENTS:
            raise ConfigError(f"gradient: unknown value {self.gradient!r}; allowed values are {list(GRADIENTS)}")
        sizes = tuple(self.sizes)
        if len(sizes) < 3 or any(isinstance(n, bool) or not isinstance(n, int) or n < 1 for n in sizes):
            raise ShapeError(
                f"sizes: must list input, at least one hidden layer and the classes as positive integers, got {sizes}"
            )
        if sizes[-1] < 2:
            raise ShapeError(f"sizes: the last entry is the number of classes and must be >= 2, got {sizes[-1]}")
        if self.mode != "plain":
            if isinstance(self.n_groups, bool) or not isinstance(self.n_groups, int) or self.n_groups < 1:
                raise ConfigError(f"n_groups: must be a positive integer, got {self.n_groups!r}")
            bad = [n for n in sizes[1:-1] if n % self.n_groups]
            if bad:
                raise ShapeError(
                    f"n_groups: {self.n_groups} groups must divide every hidden layer size; {bad} are not multiples"
                )
        if self.p is not None and not (isinstance(self.p, (int, float)) and 0.0 <= self.p < 1.0):
            raise ConfigError(f"p: must be null (mode default) or a number in [0, 1), got {self.p!r}")
        for name in ("sigma", "delta"):
            if not getattr(self, name) > 0:
                raise ConfigError(f"{name}: must be > 0, got {getattr(self, name)!r}")
        for name in ("lr_local", "lr_final", "wd_local", "wd_final", "gamma", "leaky_slope"):
            if not getattr(self, name) >= 0:
                raise ConfigError(f"{name}: must be >= 0, got {getattr(self, name)!r}")
        if not 0.0 <= self.momentum < 1.0:
            raise ConfigError(f"momentum: must lie in [0, 1), got {self.momentum!r}")
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"dropout: must lie in [0, 1), got {self.dropout!r}")
        if not 0.0 < self.lr_factor <= 1.0:
            raise ConfigError(f"lr_factor: must lie in (0, 1], got {self.lr_factor!r}")
        if isinstance(self.batch, bool) or not isinstance(self.batch, int) or self.batch < 2:
            raise ConfigError(f"batch: must be an integer >= 2 (the kernel compares pairs), got {self.batch!r}")
        if isinstance(self.epochs, bool) or not isinstance(self.epochs, int) or self.epochs < 1:
            raise ConfigError(f"epochs: must be a positive integer, got {self.epochs!r}")
        ms = tuple(self.milestones)
        if any(isinstance(e, bool) or not isinstance(e, int) or e < 1 for e in ms) or list(ms) != sorted(set(ms)):
            raise ConfigError(f"milestones: must be strictly increasing positive integers, got {ms}")

    # ---- derived ---------------------------------------------------------------------------------------------
    @property
    def power(self) -> float:
        """The effective p: as given, else 0.2 for "divnorm" and 0.5 for "grouped" (code defaults)."""
        if self.p is not None:
            return float(self.p)
        return 0.5 if self.mode == "grouped" else 0.2

    @property
    def hidden(self) -> tuple[int, ...]:
        return tuple(self.sizes[1:-1])

    @property
    def n_in(self) -> int:
        return self.sizes[0]

    @property
    def n_classes(self) -> int:
        return self.sizes[-1]

    def lr_scale(self, epoch: int) -> float:
        """MultiStepLR factor in (0-based) epoch ``epoch``: lr_factor ** (milestones <= epoch)."""
        return self.lr_factor ** sum(1 for m in self.milestones if m <= epoch)


@dataclass(frozen=True)
class PHSICCircuitParams(PHSICParams):
    """The batch-form hyperparameters (:class:`PHSICParams`, used as they are by the trainer) plus the
    streaming circuit's own. In the streaming circuit ``lr_local`` is η of the two-point update; ``sizes``,
    ``sigma``, ``gamma``, ``mode``, ``n_groups``, ``delta``, ``p``, ``leaky_slope`` and ``center_labels`` mean
    what they mean in the batch form; the optimiser, learning-rate schedule, dropout, ``rule`` and ``gradient``
    fields only concern the trainer (the streaming circuit always runs the pHSIC two-point rule)."""

    beta_avg: float = 0.05  # β of the running average b3 (eq. 61); the paper gives no value
    b3_init: tuple[float, ...] = ()  # b3 of every hidden layer at t = 0 (empty: all 0)
    pairs_per_update: int = 1  # pairs accumulated per weight update (1: every pair, pure streaming)
    t_sample: int = 0  # steps per sample phase (0: the minimum, 1 plain / L+1 divnorm)
    t_update: int = 0  # steps of the update phase (0: the minimum, 1 plain / 2 divnorm)

    def check_streaming(self) -> None:
        """The streaming circuit's limits (the batch-form trainer has none of them: any kernel, any mode)."""
        if self.kernel != "gaussian":
            raise ConfigError(
                f"kernel: the streaming pHSIC circuit implements the Gaussian kernel only, got {self.kernel!r} "
                "(the cosine kernel's two-point rule needs three plasticity pathways, Appendix B.4; train it with "
                "the batch form: `neuromorph run` uses it)"
            )
        if self.mode not in STREAMING_MODES:
            raise ConfigError(
                f"mode: the streaming circuit supports {list(STREAMING_MODES)}, got {self.mode!r} (grouping "
                "without divisive normalisation has no Hebbian two-point rule, §3.4)"
            )

    def __post_init__(self):
        super().__post_init__()
        if not 0.0 <= self.beta_avg <= 1.0:
            raise ConfigError(f"beta_avg: β of eq. 61 must lie in [0, 1], got {self.beta_avg!r}")
        n_hidden = len(self.sizes) - 2
        b3 = tuple(self.b3_init)
        if len(b3) not in (0, n_hidden) or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in b3):
            raise ConfigError(f"b3_init: give no value or one number per hidden layer ({n_hidden}), got {b3!r}")
        object.__setattr__(self, "b3_init", tuple(float(v) for v in b3))
        for name in ("pairs_per_update",):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ConfigError(f"{name}: must be a positive integer, got {v!r}")
        mins = {"t_sample": self.min_t_sample, "t_update": self.min_t_update}
        for name, least in mins.items():
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or (v != 0 and v < least):
                raise ConfigError(
                    f"{name}: must be 0 (the minimum) or an integer >= {least} for mode {self.mode!r} with "
                    f"{n_hidden} hidden layer(s) (signals must settle before a gate reads them), got {v!r}"
                )

    # ---- derived ----------------------------------------------------------------------------------------------
    @property
    def n_hidden_layers(self) -> int:
        return len(self.sizes) - 2

    @property
    def min_t_sample(self) -> int:
        return 1 if self.mode == "plain" else self.n_hidden_layers + 1

    @property
    def min_t_update(self) -> int:
        return 1 if self.mode == "plain" else 2

    @property
    def steps_sample(self) -> int:
        return self.t_sample or self.min_t_sample

    @property
    def steps_update(self) -> int:
        return self.t_update or self.min_t_update

    def b3_start(self, k: int) -> float:
        """Initial b3 of hidden layer k (1-based)."""
        return self.b3_init[k - 1] if self.b3_init else 0.0

    def group_size(self, k: int) -> int:
        return self.sizes[k] // self.n_groups if self.mode == "divnorm" else self.sizes[k]

    def lr_effective(self, k: int) -> float:
        """η, times 2(1−p)/n_α in divnorm (eq. 48), divided by the pairs averaged per update."""
        c = 2.0 * (1.0 - self.power) / self.group_size(k) if self.mode == "divnorm" else 1.0
        return self.lr_local * c / self.pairs_per_update

    def batch_params(self) -> PHSICParams:
        """The fields the batch form shares, as the trainer's :class:`PHSICParams`."""
        return PHSICParams(**{f.name: getattr(self, f.name) for f in dataclasses.fields(PHSICParams)})


def verification_overrides(mode: str) -> dict:
    """The small instance that `neuromorph verify phsic` checks (mode ``mode``): sizes (6, 8, 6, 3), 2 groups per
    layer, σ = 1 (plain) or 0.05 (divnorm), β = 0.3, 2 pairs per update. Small sizes, kernel widths that spread k(z_a, z_b) over (0.5, 1), learning rates that move the weights
    by ~1e-2 per update, a fast running average."""
    kw = dict(
        sizes=(6, 8, 6, 3),
        mode=mode,
        n_groups=2,  # groups of 4 and 3 neurons
        gamma=2.0,
        leaky_slope=0.1,
        beta_avg=0.3,
        b3_init=(-2.0, -2.5),
        pairs_per_update=2,
    )
    if mode == "divnorm":  # v = centred u^(1-p) changes little between samples: a narrow kernel, small δ
        kw.update(sigma=0.05, delta=0.1, lr_local=0.02)
    else:
        kw.update(sigma=1.0, lr_local=0.5)
    return kw


def weight_layout(params: PHSICParams) -> dict[str, tuple[int, ...]]:
    """Every weight of the network, in order: ``W1..WL`` (n_pre, n_post) of the hidden layers, the readout
    ``W_out`` (N_L, C) and its bias ``b_out`` (C,). The batch trainer (draw order of the initial weights), the
    streaming circuit (plastic matrices, weight checks) and the spiking twin all read names and shapes here."""
    N = tuple(params.sizes)
    L = len(N) - 2
    layout: dict[str, tuple[int, ...]] = {f"W{k}": (N[k - 1], N[k]) for k in range(1, L + 1)}
    layout["W_out"] = (N[L], N[L + 1])
    layout["b_out"] = (N[L + 1],)
    return layout


def plastic_names(params: PHSICParams) -> tuple[str, ...]:
    """The matrices the streaming circuit's two-point rule changes: the hidden layers' (the readout is fixed)."""
    return tuple(name for name, shape in weight_layout(params).items() if name.startswith("W") and name != "W_out")


def state_names(params: PHSICCircuitParams) -> tuple[str, ...]:
    """The states both simulators record, per hidden layer k: z{k} (and r{k}, u{k} in divnorm), the third factor
    at the neurons mod{k}, the third-factor units b1_k, b2_k, b3_k and M{k}; then the label kernel ky and the
    readout o."""
    names: list[str] = []
    for k in range(1, params.n_hidden_layers + 1):
        names += [f"z{k}"] + ([f"r{k}", f"u{k}"] if params.mode == "divnorm" else [])
        names += [f"mod{k}", f"b1_{k}", f"b2_{k}", f"b3_{k}", f"M{k}"]
    return tuple(names + ["ky", "o"])


def state_size(params: PHSICCircuitParams, name: str) -> int:
    """Units of the recorded state ``name`` (one of :func:`state_names`)."""
    N = params.sizes
    if name == "ky" or name[:2] in ("b1", "b2", "b3") or name.startswith("M"):
        return 1
    if name == "o":
        return N[-1]
    if name.startswith("u"):
        return params.n_groups
    return N[int(name.lstrip("zrmod"))]
