"""The one place deploy reads a run folder (so the integrator can switch it to ``neuromorph.runner.load_run``).

:func:`load_trained` returns the circuit (from the manifest's config), its trained weights (from the
checkpoint, through the circuit's own trainer) and the manifest; :func:`test_samples` the run's test split.
Every failure is one :class:`ConfigError` naming the folder and the fix.
"""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np

from ..errors import ConfigError, NeuromorphError

__all__ = ["load_trained", "test_samples", "has_spiking_twin"]


def has_spiking_twin(circuit) -> bool:
    from ..circuit import Circuit

    return type(circuit).build_spiking_brian is not Circuit.build_spiking_brian


def _config(run_dir: Path):
    from ..config import config_from_dict

    path = run_dir / "manifest.json"
    if not path.is_file():
        raise ConfigError(f"{run_dir} is not a results folder of `neuromorph run` (no manifest.json); give a run folder")
    try:
        manifest = json.loads(path.read_text())
        config = config_from_dict(manifest["config"], source=str(path))
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise ConfigError(f"{path} is unreadable or has no config ({type(exc).__name__}: {exc}); re-run the config") from exc
    return manifest, config


def load_trained(run_dir):
    """(circuit, weights, manifest, config, data) of a finished or checkpointed run.

    Uses ``neuromorph.runner.load_run(run_dir) -> (config, circuit, trainer)`` where the runner provides it
    (data-only checkpoints); otherwise reads ``checkpoint.pkl`` through the circuit's own trainer.
    """
    from ..circuit import get_circuit
    from ..data import load_dataset

    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise ConfigError(f"run folder {run_dir} does not exist; give the --out folder of `neuromorph run`")
    manifest, config = _config(run_dir)
    circuit = get_circuit(config.circuit, **config.params)
    if not has_spiking_twin(circuit):
        raise ConfigError(f"circuit {config.circuit!r} of {run_dir} has no spiking twin (build_spiking_brian); "
                          "deploy maps spiking twins only")
    if config.train is None:
        raise ConfigError(f"{run_dir} has no [train] section, so no trained weights; deploy a trained run")
    from .. import runner

    if hasattr(runner, "load_run"):
        try:
            _cfg, _circ, trainer = runner.load_run(run_dir)
            weights = {k: np.asarray(v, dtype=float) for k, v in trainer.weights().items()}
            circuit.check_weights(weights)
        except NeuromorphError as exc:
            raise ConfigError(f"checkpoint of {run_dir} does not match its manifest ({exc}); re-run the config") from exc
        data = load_dataset(config.train.dataset, root=config.train.data_root or None, download=False,
                            n_train=config.train.n_train or None, n_test=config.train.n_test or None,
                            seed=config.seed, scale=config.train.scale)
        return circuit, weights, manifest, config, data
    ckpt = run_dir / "checkpoint.pkl"
    if not ckpt.is_file():
        raise ConfigError(f"{run_dir} has no checkpoint.pkl (the run did not finish an epoch); resume or re-run it")
    data = load_dataset(config.train.dataset, root=config.train.data_root or None, download=False,
                        n_train=config.train.n_train or None, n_test=config.train.n_test or None, seed=config.seed,
                        scale=config.train.scale)
    try:
        state = pickle.loads(ckpt.read_bytes())
        trainer = circuit.make_trainer(data.n_features, data.n_classes, config.seed)
        trainer.load_state_dict(state["trainer"])
        weights = {k: np.asarray(v, dtype=float) for k, v in trainer.weights().items()}
        circuit.check_weights(weights)
    except NeuromorphError as exc:
        raise ConfigError(f"checkpoint of {run_dir} does not match its manifest ({exc}); re-run the config") from exc
    except (pickle.UnpicklingError, KeyError, ValueError, RuntimeError, TypeError, EOFError) as exc:
        raise ConfigError(f"checkpoint of {run_dir} does not match its manifest or is damaged "
                          f"({type(exc).__name__}: {str(exc).splitlines()[0][:200]}); re-run the config") from exc
    return circuit, weights, manifest, config, data


def test_samples(data, n: int) -> tuple[np.ndarray, np.ndarray]:
    n = min(int(n), len(data.y_test))
    if n < 1:
        raise ConfigError("--samples must be at least 1")
    return np.asarray(data.x_test[:n], float), np.asarray(data.y_test[:n])
