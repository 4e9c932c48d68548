"""The exceptions neuromorph raises for bad input.

Every error names its cause and the fix, so a user can act on the message alone. They all derive from
NeuromorphError, which the CLI catches to print one line instead of a traceback.
"""

import os
import re
import signal

__all__ = [
    "NeuromorphError",
    "ConfigError",
    "UnknownCircuitError",
    "ShapeError",
    "DataUnavailableError",
    "BackendUnavailableError",
    "CorruptFileError",
    "ResultsFolderError",
    "DivergedError",
    "interrupted_build",
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


class CorruptFileError(NeuromorphError, ValueError):
    """A file neuromorph reads (manifest, metrics, checkpoint, weights) is empty, truncated or not ours."""


class ResultsFolderError(ConfigError):
    """A results folder cannot be used: it is a file, not writable, locked by another run, or holds foreign files."""


class DivergedError(NeuromorphError, FloatingPointError):
    """Training produced non-finite or exploding weights/metrics; the run stops with status ``diverged``."""

    def __init__(self, message: str, *, epoch: int | None = None, variable: str | None = None, samples: int | None = None):
        super().__init__(message)
        self.epoch, self.variable, self.samples = epoch, variable, samples


_BUILD_FAILED = re.compile(r"compilation failed \(error code: (\d+)\)")


def interrupted_build(exc: BaseException) -> bool:
    """True if ``exc`` is Brian2's "Project compilation failed" caused by Ctrl-C, not by the compiler.

    Brian2 runs ``make`` through ``os.system``, which ignores SIGINT in the calling process while it waits:
    Python never sees a KeyboardInterrupt, only the wait status in the error text. A make killed by SIGINT
    reports a raw status whose signal number is SIGINT (or exit code 130 through a shell); a real compile
    error exits normally with a non-zero code (status 512 for make's exit code 2).
    """
    if not isinstance(exc, RuntimeError):
        return False
    m = _BUILD_FAILED.search(str(exc))
    if not m:
        return False
    status = int(m.group(1))
    if os.WIFSIGNALED(status):
        return os.WTERMSIG(status) == signal.SIGINT
    return os.WIFEXITED(status) and os.WEXITSTATUS(status) == 128 + signal.SIGINT
