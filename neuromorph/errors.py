"""The exceptions neuromorph raises for bad input.

Every error names its cause and the fix, so a user can act on the message alone. They all derive from
NeuromorphError, which the CLI catches to print one line instead of a traceback.
"""

__all__ = [
    "NeuromorphError",
    "ConfigError",
    "UnknownCircuitError",
    "ShapeError",
    "DataUnavailableError",
    "BackendUnavailableError",
]


class NeuromorphError(Exception):
    """Base class of every error neuromorph raises on purpose."""


class ConfigError(NeuromorphError, ValueError):
    """A configuration key is unknown, has the wrong type, or an invalid value."""


class UnknownCircuitError(NeuromorphError, KeyError):
    """No circuit is registered under the requested name."""

    def __str__(self):  # KeyError quotes its message; we want it plain
        return str(self.args[0]) if self.args else ""


class ShapeError(NeuromorphError, ValueError):
    """Arrays handed to a circuit do not have the shapes its parameters imply."""


class DataUnavailableError(NeuromorphError, FileNotFoundError):
    """A dataset is neither on disk nor downloadable."""


class BackendUnavailableError(NeuromorphError, RuntimeError):
    """A simulation backend needs a tool that is missing (C++ compiler, nvcc, cuRAND, GPU)."""
