"""Weights files that say what they belong to, and reading a run folder's trained weights.

A weights file (``.npz``) holds one array per matrix, in (n_pre, n_post) orientation, plus ``__neuromorph__``:
a JSON string with the circuit's name, its parameters and the digest of the config that produced it. Loading
it for a circuit whose name or parameters differ is an error naming the differing keys (a network trained
with ``g_apical = 0.3`` simulated with 0.5 gives numbers that mean nothing).

:func:`read_run` is the one place that reads a results folder (``neuromorph compare --run RUN_DIR``); when
the runner offers its own reader (``neuromorph.runner.load_run``) this function is where to switch to it.
"""

from __future__ import annotations

import dataclasses
import io
import json
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import ConfigError, CorruptFileError
from .io import atomic_write_bytes

__all__ = ["save_weights", "load_weights", "check_meta", "RunWeights", "read_run"]

META_KEY = "__neuromorph__"


def _jsonable(params) -> dict:
    d = dataclasses.asdict(params) if dataclasses.is_dataclass(params) else dict(params)
    return json.loads(json.dumps(d, default=list))  # tuples -> lists, as JSON/TOML give them back


def save_weights(path, weights, circuit, *, config_digest: str | None = None) -> Path:
    """Write ``weights`` with the circuit's name, parameters and the config digest (atomically)."""
    meta = {"circuit": circuit.name, "params": _jsonable(circuit.params), "config_digest": config_digest}
    buf = io.BytesIO()
    np.savez(buf, **{k: np.asarray(v) for k, v in weights.items()}, **{META_KEY: np.array(json.dumps(meta))})
    atomic_write_bytes(path, buf.getvalue())
    return Path(path)


def load_weights(path) -> tuple[dict[str, np.ndarray], dict | None]:
    """(weights, metadata or None for a plain .npz without it)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"weights file {path}: no such file; give the .npz of trained weights (e.g. a run's weights.npz)")
    try:
        with np.load(path, allow_pickle=False) as f:  # arrays only: never unpickled
            if not hasattr(f, "files"):
                raise ValueError("a single .npy array, not an .npz of named matrices")
            arrays = {k: f[k] for k in f.files}
    except (zipfile.BadZipFile, EOFError, OSError, ValueError, KeyError) as exc:
        raise CorruptFileError(f"{path} is empty, truncated or not an .npz of weight matrices ({exc})") from exc
    meta = arrays.pop(META_KEY, None)
    return arrays, (json.loads(str(meta)) if meta is not None else None)


def check_meta(meta: dict | None, circuit, source: str) -> None:
    """Raise ConfigError unless ``meta`` names ``circuit`` with exactly its parameters."""
    if meta is None:
        return
    if meta.get("circuit") != circuit.name:
        raise ConfigError(
            f"{source} holds weights of circuit {meta.get('circuit')!r}, not {circuit.name!r}; "
            f"use --circuit {meta.get('circuit')} (or the run's own settings with --run)"
        )
    mine, theirs = _jsonable(circuit.params), meta.get("params", {})
    diff = sorted(k for k in set(mine) | set(theirs) if mine.get(k) != theirs.get(k))
    if diff:
        shown = ", ".join(f"{k}: weights {theirs.get(k)!r} vs now {mine.get(k)!r}" for k in diff[:6])
        raise ConfigError(
            f"{source} was trained with other circuit parameters ({shown}); drop the --set overrides, pass the "
            "same ones, or use --run RUN_DIR to take them from the run"
        )


@dataclass
class RunWeights:
    """What ``compare --run`` needs from a results folder."""

    folder: Path
    circuit: str  # the config's circuit name or spec
    params: dict  # the config's parameter overrides
    weights: dict[str, np.ndarray]
    config_digest: str | None
    seed: int
    source: str  # the file the weights came from
    train: dict | None = None  # the config's [train] section (data set, scale, data_root), if any


def read_run(run_dir) -> RunWeights:
    """Trained weights and circuit settings of a results folder, through the runner's own reader
    (:func:`neuromorph.runner.load_run`: it checks the manifest, the config digest and the data-only checkpoint)."""
    from .runner import load_run

    folder = Path(run_dir)
    config, _circuit, trainer = load_run(folder)
    return RunWeights(folder=folder, circuit=config.circuit, params=dict(config.params), weights=trainer.weights(),
                      config_digest=config.digest(), seed=config.seed, source=f"{folder} (checkpoint)",
                      train=dataclasses.asdict(config.train) if config.train is not None else None)
