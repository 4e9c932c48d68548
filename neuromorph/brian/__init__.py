"""Brian2 side of neuromorph: target selection, model container, runs."""

from .devices import TARGETS, activate, check_target, cuda_toolchain, gpu_available, target_status
from .equations import Eq, GroupEquations, WindowedRule
from .model import BrianModel, StandaloneSession, run_model, set_weight_matrix, weight_matrix

__all__ = [
    "TARGETS",
    "activate",
    "check_target",
    "cuda_toolchain",
    "gpu_available",
    "target_status",
    "BrianModel",
    "StandaloneSession",
    "run_model",
    "set_weight_matrix",
    "weight_matrix",
    "Eq",
    "GroupEquations",
    "WindowedRule",
]
