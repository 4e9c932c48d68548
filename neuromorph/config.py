"""Run configurations: TOML files validated into dataclasses.

A config names a circuit, a seed, the circuit's parameter overrides and what to do with it::

    circuit = "twocomp"
    seed = 0
    [params]            # keys of the circuit's parameter dataclass
    [trainer]           # options of the circuit's fast trainer (circuit.trainer_options(): threads, kernel, ...)
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
import math
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .circuit import _coerce
from .errors import ConfigError

__all__ = ["RunConfig", "TrainConfig", "VerifyConfig", "CompareConfig", "PaperConfig", "load_config", "parse_overrides", "config_from_dict", "check_values"]


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
    # evaluate every this many epochs, and always after the last (Keras' validation_freq, Lightning's
    # check_val_every_n_epoch): scoring the test set and the training subset can be a sizeable share of an
    # epoch's time, and training does not depend on it
    eval_every: int = 1
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
class PaperConfig:
    """The paper's figure this config reproduces: shown beside ours by ``neuromorph summarize``.

    It describes the run, it does not change it, so it is left out of the config digest.
    """

    metric: str = "test_acc"  # a key of metrics.jsonl
    value: float = 0.0  # in the metric's own unit (accuracy as a fraction, like metrics.jsonl)
    std: float = 0.0
    n: int = 0  # how many seeds/runs the paper averaged
    protocol: str = ""  # e.g. "10 seeds, final epoch of 50"
    source: str = ""  # e.g. "Table 1"


@dataclass(frozen=True)
class RunConfig:
    circuit: str
    seed: int = 0
    name: str = ""
    params: dict = field(default_factory=dict)
    trainer: dict = field(default_factory=dict)  # circuit.trainer_options() keys, checked by the circuit
    train: TrainConfig | None = None
    verify: VerifyConfig | None = None
    compare: CompareConfig | None = None
    paper: PaperConfig | None = None

    @property
    def run_name(self) -> str:
        from .circuit import circuit_label  # a file.py:Class spec must not turn into sub-folders

        return self.name or f"{circuit_label(self.circuit)}-seed{self.seed}"

    def to_dict(self) -> dict:
        d = {"circuit": self.circuit, "seed": self.seed, "name": self.name, "params": dict(self.params)}
        if self.trainer:  # only when given, so configs without it keep their digest
            d["trainer"] = dict(self.trainer)
        for key in ("train", "verify", "compare", "paper"):
            sec = getattr(self, key)
            if sec is not None:
                d[key] = dataclasses.asdict(sec)
        return d

    def digest(self) -> str:
        """A short hash of the config: a results folder belongs to exactly one config ([paper] is left out:
        it describes the run, it does not change it)."""
        return _hash(self._digested(("paper",)))

    def group_digest(self) -> str:
        """The digest without seed and name: runs that differ only by seed share it (``neuromorph summarize``)."""
        return _hash(self._digested(("paper", "seed", "name")))

    def _digested(self, leave_out: tuple) -> dict:
        d = self.to_dict()
        for key in leave_out:
            d.pop(key, None)
        for section, neutral in DIGEST_NEUTRAL.items():
            for key, value in neutral.items():
                if key in d.get(section, {}) and d[section][key] == value:
                    del d[section][key]
        return d


# Section keys added after results had been written, each with the value that does what configs without the key
# did. At that value a key is left out of the digests, so a results folder of an earlier version still resumes
# and committed summaries keep their groups (tests/test_config.py checks every committed manifest). A new key
# goes here; a changed default must not (it changes what runs, so the digest must change).
DIGEST_NEUTRAL = {"train": {"eval_every": 1}}


def _hash(d: dict) -> str:
    return hashlib.sha256(json.dumps(d, sort_keys=True, default=list).encode()).hexdigest()[:12]


_SECTIONS = {"train": TrainConfig, "verify": VerifyConfig, "compare": CompareConfig, "paper": PaperConfig}
_TOP = {"circuit", "seed", "name", "params", "trainer", *_SECTIONS}


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
    for key, value in params.items():
        if isinstance(value, float) and not math.isfinite(value):
            raise ConfigError(f"params.{key} = {value} is not a finite number; give a finite value (e.g. --set params.{key}=0.1)")
    sections = {k: _section(cls, raw[k], k) for k, cls in _SECTIONS.items() if k in raw}
    trainer = raw.get("trainer", {})
    if not isinstance(trainer, dict):
        raise ConfigError(f"[trainer] must be a table of the circuit's trainer options, got {type(trainer).__name__}")
    config = RunConfig(circuit=raw["circuit"], seed=seed, name=name, params=dict(params), trainer=dict(trainer), **sections)
    check_values(config)
    return config


def _require(ok: bool, message: str) -> None:
    if not ok:
        raise ConfigError(message)


def _named(key: str, check, value) -> None:
    try:
        check(value)
    except ConfigError as exc:
        raise ConfigError(f"{key}: {exc}") from exc


def _finite_positive(value) -> bool:
    return math.isfinite(value) and value > 0


def check_values(config: RunConfig) -> None:
    """Value checks of the [train], [verify] and [compare] sections (types were checked on loading).

    Everything here is decidable from the config alone; what depends on the machine (compilers, GPU,
    memory) or the data set (batch vs training-set size) is checked by the runner before it creates
    anything.
    """
    tc = config.train
    if tc is not None:
        from .data import SCALES, _canonical_name

        _canonical_name(tc.dataset)  # raises ConfigError listing the known datasets
        _require(tc.scale in SCALES, f"train.scale = {tc.scale!r} is unknown; choose one of {list(SCALES)}")
        _require(tc.epochs >= 1, f"train.epochs = {tc.epochs}: a run needs at least one epoch (e.g. --set train.epochs=5)")
        _require(tc.threads >= 0, f"train.threads = {tc.threads} is negative; give a thread count >= 1, or 0 for torch's default")
        _require(tc.eval_every >= 1, f"train.eval_every = {tc.eval_every}; give 1 to evaluate after every epoch, or k >= 2 for "
                 "every k-th epoch (the last epoch is always evaluated)")
        for key in ("n_train", "n_test", "eval_train_subset"):
            value = getattr(tc, key)
            _require(value >= 0, f"train.{key} = {value} is negative; give a sample count >= 1, or 0 for all samples")
    vc = config.verify
    if vc is not None:
        from .brian.devices import normalise_target

        _require(len(vc.backends) > 0, 'verify.backends is empty; name at least one Brian2 target, e.g. ["numpy"]')
        for b in vc.backends:
            _named("verify.backends", normalise_target, b)
        _require(vc.samples >= 0, f"verify.samples = {vc.samples} is negative; give a trial count >= 1, or 0 for three update windows")
        _require(math.isfinite(vc.tolerance) and vc.tolerance >= 0,
                 f"verify.tolerance = {vc.tolerance} must be a finite number >= 0 (relative error), e.g. 1e-9")
    cc = config.compare
    if cc is not None:
        from .brian.devices import normalise_target
        from .spiking import ENCODINGS

        _require(len(cc.t_samples) > 0 and all(_finite_positive(t) for t in cc.t_samples),
                 f"compare.t_samples = {list(cc.t_samples)}: give positive durations in seconds, e.g. [0.05, 0.2]")
        _require(cc.encoding in ENCODINGS, f"compare.encoding = {cc.encoding!r} is unknown; choose one of {list(ENCODINGS)}")
        _require(cc.n_samples >= 1, f"compare.n_samples = {cc.n_samples}; give a test-sample count >= 1")
        _named("compare.backend", normalise_target, cc.backend)
        _require(_finite_positive(cc.r_max), f"compare.r_max = {cc.r_max} must be a positive rate in Hz, e.g. 200")
        _require(_finite_positive(cc.tau_syn), f"compare.tau_syn = {cc.tau_syn} must be a positive time in seconds, e.g. 0.02")


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
