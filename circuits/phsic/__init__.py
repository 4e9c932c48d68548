"""pHSIC / kernelized information bottleneck.

Paper: Roman Pogodin and Peter E. Latham, "Kernelized information bottleneck leads to biologically plausible
3-factor Hebbian learning in deep networks", Advances in Neural Information Processing Systems 33 (NeurIPS 2020);
arXiv:2006.07123. Authors' code: github.com/romanpogodin/plausible-kernelized-bottleneck.

What is reproduced:

* the streaming two-point three-factor Hebbian rule (§3.2-3.4, Appendix C) as a circuit, registered as ``phsic``
  (:class:`PHSIC`): a Brian2 equation model and an independent torch reference that agree to 1e-9, plain and with
  grouping + divisive normalisation, Gaussian kernel;
* the batch form of the gradient (eq. 40) that the paper trains with (:class:`PHSICTrainer`), for accuracy runs
  (3x1024 MLP, Fashion-MNIST / MNIST, Tables 1/3/4);
* a spiking twin of a trained network's inference (``spiking.py``).

Files, one concern each: ``params.py`` (parameters, paper-vs-code choices, ``weight_layout``), ``equations.py`` (the
model as symbolic equations with the paper's equation numbers), ``brian_model.py`` (Brian2 groups and synapses built
from them), ``reference.py`` (torch reference; no Brian2), ``streaming.py`` (the reference's vectorised form for
data sets), ``spiking.py`` (spiking twin), ``trainer.py`` (batch-form trainer), ``circuit.py`` (the glue).
"""

from .circuit import PHSIC, PHSICCircuitParams
from .params import PHSICParams

__all__ = ["PHSIC", "PHSICCircuitParams", "PHSICParams", "PHSICTrainer"]


def __getattr__(name):  # the trainer (torch-heavy batch code) is imported on first use
    if name == "PHSICTrainer":
        from .trainer import PHSICTrainer

        return PHSICTrainer
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
