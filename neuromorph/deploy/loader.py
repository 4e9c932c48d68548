"""The one place deploy reads a run folder (through ``neuromorph.runner.load_run``).

:func:`load_trained` returns the circuit (from the manifest's config), its trained weights (from the
checkpoint, through the circuit's own trainer) and the manifest; :func:`test_samples` the run's test split.
Every failure is one :class:`ConfigError` naming the folder and the fix.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import ConfigError, NeuromorphError

__all__ = ["load_trained", "test_samples", "has_spiking_twin"]


def has_spiking_twin(circuit) -> bool:
    from ..circuit import Circuit

    return type(circuit).build_spiking_brian is not Circuit.build_spiking_brian


def load_trained(run_dir):
    """(circuit, weights, manifest, config, data) of a finished or checkpointed run, read through the runner's
    own :func:`neuromorph.runner.load_run` (manifest, config digest and data-only checkpoint checked there)."""
    from ..data import load_dataset
    from ..io import read_json
    from ..runner import load_run

    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise ConfigError(f"run folder {run_dir} does not exist; give the --out folder of `neuromorph run`")
    config, circuit, trainer = load_run(run_dir)
    if not has_spiking_twin(circuit):
        raise ConfigError(f"circuit {config.circuit!r} of {run_dir} has no spiking twin (build_spiking_brian); "
                          "deploy maps spiking twins only")
    weights = {k: np.asarray(v, dtype=float) for k, v in trainer.weights().items()}
    try:
        circuit.check_weights(weights)
    except NeuromorphError as exc:
        raise ConfigError(f"checkpoint of {run_dir} does not match its manifest ({exc}); re-run the config") from exc
    tc = config.train
    data = load_dataset(tc.dataset, root=tc.data_root or None, download=False, n_train=tc.n_train or None,
                        n_test=tc.n_test or None, seed=config.seed, scale=tc.scale)
    return circuit, weights, read_json(run_dir / "manifest.json"), config, data


def test_samples(data, n: int) -> tuple[np.ndarray, np.ndarray]:
    n = min(int(n), len(data.y_test))
    if n < 1:
        raise ConfigError("--samples must be at least 1")
    return np.asarray(data.x_test[:n], float), np.asarray(data.y_test[:n])
