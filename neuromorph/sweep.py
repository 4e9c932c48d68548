"""Sweeps: many self-contained runs (config + seed -> results folder) handed to an executor.

Each run is independent and skipped when its folder is already complete, so a sweep can be re-submitted
after a failure and only the missing runs execute. Engines: ``serial`` (in this process), ``process``
(a local process pool) and ``ray`` (an existing Ray cluster, if the ``distributed`` extra is installed).
"""

from __future__ import annotations

import dataclasses
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from .config import RunConfig
from .errors import BackendUnavailableError, ConfigError

__all__ = ["expand_seeds", "run_sweep", "ENGINES"]

ENGINES = ("serial", "process", "ray")


def expand_seeds(config: RunConfig, seeds) -> list[RunConfig]:
    """One config per seed; names get a ``-seed<N>`` suffix so each run has its own folder."""
    from .circuit import circuit_label

    base = config.name or circuit_label(config.circuit)
    return [dataclasses.replace(config, seed=int(s), name=f"{base}-seed{int(s)}") for s in seeds]


def _run_one(args):
    config, out, resume = args
    from .runner import run

    return str(run(config, out, resume=resume, progress=False))


def run_sweep(configs: list[RunConfig], out_root="results", *, engine: str = "process", workers: int = 2, resume: bool = True) -> list[str]:
    """Run every config into ``out_root/<run name>``; returns the results folders in order."""
    if engine not in ENGINES:
        raise ConfigError(f"unknown sweep engine {engine!r}; choose one of {list(ENGINES)}")
    jobs = [(c, Path(out_root) / c.run_name, resume) for c in configs]
    if engine == "serial":
        return [_run_one(j) for j in jobs]
    if engine == "process":
        with ProcessPoolExecutor(max_workers=workers) as pool:
            return list(pool.map(_run_one, jobs))
    try:
        import ray
    except ImportError as exc:
        raise BackendUnavailableError("the ray engine needs Ray: `pip install neuromorph[distributed]` (or `pip install ray`)") from exc
    if not ray.is_initialized():
        ray.init()
    remote = ray.remote(_run_one)
    return ray.get([remote.remote(j) for j in jobs])
