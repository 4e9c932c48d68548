"""Run configurations: TOML files validated into dataclasses.

A config names a circuit, a seed, the circuit's parameter overrides and what to do with it::

    circuit = "twocomp"
    seed = 0
    [params]            # keys of the circuit's parameter dataclass
    n_in = 64
    [train]             # training on a data set with the circuit's fast trainer
    dataset = "digits"
    epochs = 5
    [verify]            # optional: Brian2 == torch check on the circuit's verification instance
    backends = ["numpy", "cpp"]
    [compare]           # optional: rate vs spiking twin on test samples
    t_samples = [0.05, 0.2]

Unknown keys and values of the wrong type are errors that name the key; ``--set section.key=value``
overrides are parsed as TOML values and validated the same way.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .circuit import _coerce
from .errors import ConfigError

__all__ = ["RunConfig", "TrainConfig", "VerifyConfig", "CompareConfig", "load_config", "parse_overrides"]


@dataclass(frozen=True)
class TrainConfig:
    dataset: str = "digits"
    epochs: int = 5
    n_train: int = 0  # 0 = all
    n_test: int = 0
    scale: str = "unit"
    data_root: str = ""  # "" = $NEUROMORPH_DATA or ~/.neuromorph/data (and known system paths)
    download: bool = False
    eval_train_subset: int = 0  # evaluate train accuracy on this many samples (0 = all)
    threads: int = 0  # torch threads (0 = torch's default)


@dataclass(frozen=True)
class VerifyConfig:
    backends: tuple = ("numpy",)
    samples: int = 0  # trials; 0 = three update windows
    tolerance: float = 1e-9


@dataclass(frozen=True)
class CompareConfig:
    t_samples: tuple = (0.05, 0.1, 0.2)  # simulated seconds per sample
    encoding: str = "poisson"
    n_samples: int = 200
    backend: str = "cpp"
    r_max: float = 200.0
    tau_syn: float = 0.02


@dataclass(frozen=True)
class RunConfig:
    circuit: str
    seed: int = 0
    name: str = ""
    params: dict = field(default_factory=dict)
    train: TrainConfig | None = None
    verify: VerifyConfig | None = None
    compare: CompareConfig | None = None

    @property
    def run_name(self) -> str:
        from .circuit import circuit_label  # a file.py:Class spec must not turn into sub-folders

        return self.name or f"{circuit_label(self.circuit)}-seed{self.seed}"

    def to_dict(self) -> dict:
        d = {"circuit": self.circuit, "seed": self.seed, "name": self.name, "params": dict(self.params)}
        for key in ("train", "verify", "compare"):
            sec = getattr(self, key)
            if sec is not None:
                d[key] = dataclasses.asdict(sec)
        return d

    def digest(self) -> str:
        """A short hash of the config: a results folder belongs to exactly one config."""
        return hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True, default=list).encode()).hexdigest()[:12]


_SECTIONS = {"train": TrainConfig, "verify": VerifyConfig, "compare": CompareConfig}
_TOP = {"circuit", "seed", "name", "params", *_SECTIONS}


def _section(cls, values: Any, where: str):
    if not isinstance(values, dict):
        raise ConfigError(f"[{where}] must be a table of keys, got {type(values).__name__}")
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ConfigError(f"unknown key(s) {unknown} in [{where}]; valid keys are {sorted(known)}")
    defaults = cls()
    return dataclasses.replace(defaults, **{k: _coerce(v, getattr(defaults, k), f"{where}.{k}") for k, v in values.items()})


def config_from_dict(raw: dict, source: str = "config") -> RunConfig:
    unknown = sorted(set(raw) - _TOP)
    if unknown:
        raise ConfigError(f"unknown top-level key(s) {unknown} in {source}; valid keys are {sorted(_TOP)}")
    if "circuit" not in raw:
        raise ConfigError(f"{source} has no `circuit` key; add e.g. circuit = \"twocomp\" (see `neuromorph list`)")
    if not isinstance(raw["circuit"], str):
        raise ConfigError(f"circuit must be a string, got {raw['circuit']!r}")
    seed = raw.get("seed", 0)
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise ConfigError(f"seed must be a non-negative integer, got {seed!r}")
    name = raw.get("name", "")
    if not isinstance(name, str):
        raise ConfigError(f"name must be a string, got {name!r}")
    params = raw.get("params", {})
    if not isinstance(params, dict):
        raise ConfigError(f"[params] must be a table, got {type(params).__name__}")
    sections = {k: _section(cls, raw[k], k) for k, cls in _SECTIONS.items() if k in raw}
    return RunConfig(circuit=raw["circuit"], seed=seed, name=name, params=dict(params), **sections)


def parse_overrides(pairs) -> dict:
    """``["train.epochs=3", "params.lr=0.1", "seed=2"]`` -> nested dict (values parsed as TOML)."""
    out: dict = {}
    for pair in pairs or ():
        if "=" not in pair:
            raise ConfigError(f"--set expects key=value (e.g. train.epochs=3), got {pair!r}")
        key, _, text = pair.partition("=")
        key = key.strip()
        try:
            value = tomllib.loads(f"v = {text}")["v"]
        except tomllib.TOMLDecodeError:
            value = text  # a bare word: take it as a string
        node = out
        parts = key.split(".")
        for p in parts[:-1]:
            node = node.setdefault(p, {})
            if not isinstance(node, dict):
                raise ConfigError(f"--set {key}: {p} is not a table")
        node[parts[-1]] = value
    return out


def _merge(base: dict, over: dict) -> dict:
    out = dict(base)
    for k, v in over.items():
        out[k] = _merge(out.get(k, {}), v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def load_config(path, overrides=()) -> RunConfig:
    """Read a TOML run config, apply ``--set`` overrides, validate."""
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"config file {str(path)!r} does not exist (example configs are under experiments/)")
    try:
        raw = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})") from exc
    raw = _merge(raw, parse_overrides(overrides))
    return config_from_dict(raw, source=str(path))
