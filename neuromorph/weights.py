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
import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import ConfigError
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
        raise ConfigError(f"weights file {str(path)!r} does not exist")
    try:
        with np.load(path, allow_pickle=False) as f:
            arrays = {k: f[k] for k in f.files}
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{path} is not a readable .npz weights file ({exc})") from exc
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
    """Trained weights and circuit settings of a results folder (``manifest.json`` + ``weights.npz``, or the
    trainer's weights in ``checkpoint.pkl`` for runs written before weights.npz existed)."""
    folder = Path(run_dir)
    try:  # the runner's own reader (issue 13) checks digests and checkpoints; use it where it exists
        from .runner import load_run
    except ImportError:
        load_run = None
    if load_run is not None:
        config, _circuit, trainer = load_run(folder)
        return RunWeights(folder=folder, circuit=config.circuit, params=dict(config.params), weights=trainer.weights(),
                          config_digest=config.digest(), seed=config.seed, source=f"{folder} (checkpoint)",
                          train=dataclasses.asdict(config.train) if config.train is not None else None)
    manifest_path = folder / "manifest.json"
    if not manifest_path.is_file():
        raise ConfigError(f"{folder} is not a results folder (no manifest.json); give the folder `neuromorph run` wrote")
    manifest = json.loads(manifest_path.read_text())
    config = manifest.get("config", {})
    common = dict(folder=folder, circuit=config.get("circuit"), params=dict(config.get("params", {})),
                  config_digest=manifest.get("config_digest"), seed=int(config.get("seed", 0)), train=config.get("train"))
    wfile = folder / "weights.npz"
    if wfile.is_file():
        weights, meta = load_weights(wfile)
        if meta and meta.get("config_digest") not in (None, common["config_digest"]):
            raise ConfigError(
                f"{wfile} belongs to config {meta.get('config_digest')}, the folder's manifest to "
                f"{common['config_digest']}: the folder mixes two runs; rerun into a fresh folder"
            )
        return RunWeights(weights=weights, source=str(wfile), **common)
    ckpt = folder / "checkpoint.pkl"
    if ckpt.is_file():
        state = pickle.loads(ckpt.read_bytes())
        trainer_state = state.get("trainer", {}) if isinstance(state, dict) else {}
        if isinstance(trainer_state.get("weights"), dict):
            return RunWeights(weights={k: np.asarray(v) for k, v in trainer_state["weights"].items()},
                              source=str(ckpt), **common)
    raise ConfigError(
        f"{folder} has no trained weights (no weights.npz, no checkpoint with weights); the run needs a [train] "
        "section and at least one finished epoch"
    )
