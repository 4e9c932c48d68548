"""pHSIC / kernelized-bottleneck parameters (Pogodin & Latham 2020), defaults = the 3x1024 MLP on
Fashion-MNIST with the Gaussian kernel, grouping and divisive normalisation ("Gauss grp+div").

Sources: paper §2-4 and Appendix D (Tables 3-5), and what the authors' code does where the paper is silent
or differs (../shared/notes/reference-code.md §2, marked "code:" below).

Per-rule learning rates of the 3x1024 MLP (η_f final / η_l local / c groups; notes §2.5)::

    fMNIST  Gauss grp+div 5e-3/1.0/32 (code grid; paper Table 3 prints 5e-4)   cos grp+div 5e-4/1.0/32
            last 5e-2 (plain) or 5e-2/32 (grp+div)                             backprop 5e-3
    MNIST   Gauss grp+div 1e-3/1.0/32   cos grp+div 5e-3/0.4/16   last 5e-2    backprop 5e-2
"""

from __future__ import annotations

from dataclasses import dataclass

from neuromorph.errors import ConfigError, ShapeError

__all__ = ["PHSICParams", "KERNELS", "MODES", "RULES", "GRADIENTS"]

KERNELS = ("gaussian", "cosine")  # kernel on the layer activity (eqs. 25, 26; eq. 19 on v when grouped)
MODES = ("plain", "grouped", "divnorm")  # plain: k(z); grouped: k(v), next layer sees z; divnorm: k(v), next sees r
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
