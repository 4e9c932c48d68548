"""neuromorph: Brian2 equation models and torch rate references of biologically plausible learning circuits."""

from .circuit import Circuit, Trace, Trainer, circuit_names, get_circuit, register_circuit
from .errors import (
    BackendUnavailableError,
    ConfigError,
    DataUnavailableError,
    NeuromorphError,
    ShapeError,
    UnknownCircuitError,
)
from .phases import Phase, PhaseSchedule


def verify(circuit, backend="numpy", **kwargs):
    """Brian2 model vs torch reference (see :func:`neuromorph.equivalence.verify`)."""
    from .equivalence import verify as _verify

    return _verify(circuit, backend, **kwargs)


__version__ = "0.1.0"

__all__ = [
    "Circuit",
    "Trace",
    "Trainer",
    "Phase",
    "PhaseSchedule",
    "circuit_names",
    "get_circuit",
    "register_circuit",
    "verify",
    "NeuromorphError",
    "ConfigError",
    "UnknownCircuitError",
    "ShapeError",
    "DataUnavailableError",
    "BackendUnavailableError",
]
