"""pHSIC / kernelized information bottleneck (Pogodin & Latham 2020).

* :class:`PHSIC` (``circuit.py``): the streaming two-point three-factor circuit - Brian2 equation model and
  torch twin - registered as ``phsic``; its trainer is the batch form.
* :class:`PHSICParams` (``params.py``) and :class:`PHSICTrainer` (``batch.py``): the batch form used for
  accuracy runs (eq. 40), as in the paper's experiments.
"""

from .circuit import PHSIC, PHSICCircuitParams
from .params import PHSICParams

__all__ = ["PHSIC", "PHSICCircuitParams", "PHSICParams", "PHSICTrainer"]


def __getattr__(name):  # the trainer (torch-heavy batch code) is imported on first use
    if name == "PHSICTrainer":
        from .batch import PHSICTrainer

        return PHSICTrainer
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
