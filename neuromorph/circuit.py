"""The circuit contract, the trace format both simulators return, and the circuit registry.

A circuit (one per paper, under ``circuits/``) describes *what* is simulated: parameters, a phase schedule,
its Brian2 equation model and an independent torch reference. neuromorph decides *how*: which Brian2 device
runs the model, how runs are chunked, how the two sides are compared, how training is driven.

The toolkit never imports a circuit module directly: circuits are found through the registry, which reads the
``neuromorph.circuits`` entry-point group (see setup.cfg) and anything registered at run time with
:func:`register_circuit`.
"""

from __future__ import annotations

import dataclasses
import importlib
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from .errors import ConfigError, NeuromorphError, ShapeError, UnknownCircuitError
from .phases import PhaseSchedule

if TYPE_CHECKING:  # pragma: no cover
    from .brian.model import BrianModel
    from .spiking import SpikingModel

__all__ = [
    "Circuit",
    "Trace",
    "Trainer",
    "TrialData",
    "register_circuit",
    "get_circuit",
    "circuit_names",
    "circuit_label",
    "circuit_descriptions",
    "make_params",
    "replace_params",
]

# Per-trial data: name -> array whose first axis is the trial index (inputs, targets, per-trial signs...).
TrialData = dict[str, np.ndarray]


@dataclass
class Trace:
    """What a simulation recorded, in one layout for Brian2 and torch.

    ``states[name]`` has shape (n_trials, trial_steps, n_units): the value *after* each integration step
    (Brian2's ``end`` slot). ``weights[name]`` has shape (n_updates, n_pre, n_post): each plastic matrix after
    each weight update, in (pre, post) orientation.
    """

    states: dict[str, np.ndarray] = field(default_factory=dict)
    weights: dict[str, np.ndarray] = field(default_factory=dict)

    def state_at(self, name: str, step: int) -> np.ndarray:
        """State ``name`` after within-trial step ``step``, for every trial: (n_trials, n_units)."""
        return self.states[name][:, step, :]


def make_params(cls: type, overrides: Mapping[str, Any] | None = None, *, where: str = "parameters"):
    """Build the parameter dataclass ``cls`` from defaults plus ``overrides``, checking keys and types.

    An unknown key or a value of the wrong type raises :class:`ConfigError` naming the key and the fix.
    """
    return replace_params(cls(), overrides, where=where)


def replace_params(params, overrides: Mapping[str, Any] | None = None, *, where: str = "parameters"):
    """``params`` (a dataclass instance) with ``overrides`` applied, checked like :func:`make_params`:
    types are judged against the values being replaced."""
    overrides = dict(overrides or {})
    known = {f.name: f for f in dataclasses.fields(params)}
    unknown = sorted(set(overrides) - set(known))
    if unknown:
        raise ConfigError(f"unknown key(s) {unknown} in {where}; valid keys are {sorted(known)}")
    checked = {}
    for key, value in overrides.items():
        checked[key] = _coerce(value, getattr(params, key), f"{where}.{key}")
    return dataclasses.replace(params, **checked)


def _coerce(value, default, where):
    """Accept ``value`` if it matches the default's type (ints for floats, lists for tuples)."""
    if isinstance(default, bool):
        if isinstance(value, bool):
            return value
    elif isinstance(default, int):
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif isinstance(default, float):
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    elif isinstance(default, str):
        if isinstance(value, str):
            return value
    elif isinstance(default, tuple):
        if isinstance(value, (list, tuple)):
            items = tuple(value)
            if default and all(isinstance(d, (int, float)) and not isinstance(d, bool) for d in default):
                if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in items):
                    raise ConfigError(f"{where} must be a list of numbers, got {value!r}")
                if all(isinstance(d, int) for d in default):
                    if not all(isinstance(v, int) for v in items):
                        raise ConfigError(f"{where} must be a list of integers, got {value!r}")
                else:
                    items = tuple(float(v) for v in items)
            elif default and all(isinstance(d, str) for d in default):
                if not all(isinstance(v, str) for v in items):
                    raise ConfigError(f"{where} must be a list of strings, got {value!r}")
            return items
    elif default is None:
        return value
    else:
        return value
    raise ConfigError(
        f"{where} must be of type {type(default).__name__} (like the default {default!r}), "
        f"got {type(value).__name__} {value!r}"
    )


class Circuit(ABC):
    """A learning circuit: parameters + schedule + Brian2 model + torch reference.

    Subclasses set ``name``, ``Params`` (a dataclass with the paper's defaults) and implement the abstract
    methods. Weights are dicts of numpy arrays in (n_pre, n_post) orientation, generated once and loaded
    into both simulators.
    """

    name: ClassVar[str]
    Params: ClassVar[type]
    description: ClassVar[str] = ""
    # The params module's ``weight_layout(params) -> {name: (n_pre, n_post)}``, set as
    # ``weight_layout = staticmethod(params.weight_layout)``: the one list of matrices every file uses.
    weight_layout: ClassVar[Callable[[Any], dict] | None] = None

    def __init__(self, params=None, **overrides):
        if params is None:
            params = make_params(self.Params, overrides, where=f"{self.name} parameters")
        elif overrides:
            params = dataclasses.replace(params, **overrides)
        if not isinstance(params, self.Params):
            raise ConfigError(f"{self.name} expects parameters of type {self.Params.__name__}, got {type(params).__name__}")
        self.params = params
        self.validate()

    def validate(self) -> None:
        """Raise ConfigError/ShapeError for inconsistent parameters (override to add checks)."""

    # ---- what every circuit provides -------------------------------------------------------------------
    @property
    @abstractmethod
    def schedule(self) -> PhaseSchedule:
        """The phase schedule of one trial and the update window."""

    @property
    def dt(self) -> float:
        """Integration step in seconds (Brian2 needs units; the torch reference uses dt/tau ratios)."""
        return 1e-4

    @abstractmethod
    def initial_weights(self, seed: int) -> dict[str, np.ndarray]:
        """Initial weights, generated once (seeded) and loaded into both simulators."""

    @abstractmethod
    def example_data(self, n_trials: int, seed: int) -> TrialData:
        """A small seeded set of trials for equivalence checks (inputs, targets, per-trial values)."""

    @abstractmethod
    def build_brian(self, weights: Mapping[str, np.ndarray], data: TrialData) -> BrianModel:
        """The Brian2 objects for ``data``'s trials, with their probes (see neuromorph.brian.model)."""

    @abstractmethod
    def simulate_reference(self, weights: Mapping[str, np.ndarray], data: TrialData, dtype=None) -> Trace:
        """Run the torch reference on the same trials; return a Trace laid out like Brian2's."""

    # ---- optional capabilities ----------------------------------------------------------------------------
    def trial_data(self, x: np.ndarray, labels: np.ndarray) -> TrialData:
        """Trials for real samples: ``x`` (n, n_in) and integer ``labels`` -> the circuit's TrialData.

        The default takes the layout of :meth:`example_data` and puts ``x`` and the one-hot labels in place
        of its ``x`` and ``y``; per-trial values of other names keep the example's (seeded) values.
        """
        x = np.asarray(x, dtype=float)
        template = self.example_data(len(x), 0)
        if template["x"].shape[1:] != x.shape[1:]:
            raise ShapeError(f"{self.name}: samples have {x.shape[1:]} features, the circuit expects {template['x'].shape[1:]}")
        n_out = template["y"].shape[1]
        labels = np.asarray(labels)
        if labels.min() < 0 or labels.max() >= n_out:
            raise ShapeError(f"{self.name}: labels must lie in [0, {n_out}), got range [{labels.min()}, {labels.max()}]")
        return {**template, "x": x, "y": np.eye(n_out)[labels]}

    def trainer_options(self) -> dict[str, Any]:
        """Options :meth:`make_trainer` accepts, with their defaults (e.g. threads, kernel, dtype).

        Default: none. The runner and CLI pass only these names; :meth:`check_trainer_options` rejects others.
        """
        return {}

    def check_trainer_options(self, options: Mapping[str, Any]) -> dict[str, Any]:
        """The defaults of :meth:`trainer_options` updated with ``options``; an unknown name is a ConfigError."""
        known = self.trainer_options()
        unknown = sorted(set(options) - set(known))
        if unknown:
            raise ConfigError(
                f"circuit {self.name!r}: unknown trainer option(s) {unknown}; valid options are "
                + (", ".join(f"{k} (default {v!r})" for k, v in known.items()) or "none")
            )
        return {**known, **options}

    def make_trainer(self, n_in: int, n_classes: int, seed: int, **options) -> Trainer:
        """A fast trainer for real data (see :class:`Trainer`) with :meth:`trainer_options` ``options``.

        Circuits that can learn override this; the default says the circuit cannot be trained.
        """
        raise ConfigError(f"circuit {self.name!r} has no trainer; it can be verified but not trained")

    def build_spiking_brian(
        self, weights: Mapping[str, np.ndarray], x: np.ndarray, *, encoding: str, t_sample: float, r_max: float, tau_syn: float
    ) -> SpikingModel:
        """The spiking twin for inference on inputs ``x`` (one trial of ``t_sample`` seconds per row; see
        neuromorph.spiking). Circuits with a spiking twin override this."""
        raise NotImplementedError(f"circuit {self.name!r} has no spiking twin (build_spiking_brian)")

    def predict_rate(self, weights: Mapping[str, np.ndarray], x: np.ndarray) -> np.ndarray:
        """The rate model's predicted integer labels for ``x`` (compared with the spiking twin's)."""
        raise NotImplementedError(f"circuit {self.name!r} has no rate-model prediction (predict_rate)")

    def example_inputs(self, n_samples: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
        """Seeded inputs (n, n_in) and integer labels for inference without a data set (``neuromorph compare``).

        Default: the ``x`` and one-hot ``y`` of :meth:`example_data`; circuits whose trials hold something
        else (e.g. pairs of samples) override this.
        """
        ex = self.example_data(n_samples, seed)
        if "x" not in ex or "y" not in ex:
            raise ConfigError(
                f"circuit {self.name!r}: example_data has no 'x'/'y' entries to infer on; give a data set "
                "(--dataset) or override Circuit.example_inputs"
            )
        return np.asarray(ex["x"]), np.asarray(ex["y"]).argmax(axis=1)

    def compared_states(self) -> tuple[str, ...] | None:
        """State names the equivalence harness compares (None: every state both sides record; then both
        sides must record the same names)."""
        return None

    def plastic_names(self) -> tuple[str, ...]:
        """Names of the matrices a trace reports after every update (both simulators must report exactly
        these). Default: every matrix of :meth:`weight_shapes`."""
        return tuple(self.weight_shapes())

    def weight_shapes(self) -> dict[str, tuple[int, ...]]:
        """(n_pre, n_post) of every weight matrix: the class's ``weight_layout(params)`` when it declares one,
        else read off :meth:`initial_weights` (costly for big networks: declare a layout)."""
        layout = type(self).weight_layout
        if layout is not None:
            return {k: tuple(v) for k, v in layout(self.params).items()}
        return {k: tuple(np.shape(v)) for k, v in self.initial_weights(0).items()}

    def with_params(self, **overrides) -> Circuit:
        """A circuit of the same class with ``overrides`` applied on top of this one's parameters (checked)."""
        if not overrides:
            return self
        return type(self)(replace_params(self.params, overrides, where=f"{self.name} parameters"))

    def verification_circuit(self, **overrides) -> Circuit:
        """The instance `neuromorph verify` and the runner's verify step check, with ``overrides``
        (``--set params.K=V``) applied on top of it.

        Default: this circuit with the overrides. Circuits whose default network is too big to verify quickly
        override this to return their small instance (structural choices such as a variant taken from
        ``overrides`` first, then from this circuit's parameters).
        """
        return self.with_params(**overrides)

    def equation_notes(self) -> str:
        """Text `neuromorph equations` prints after the equations: what the equations alone do not show a reader
        (e.g. URFB's case table of rule (6)). Default: nothing."""
        return ""

    def compile_check_circuit(self) -> Circuit:
        """The instance compiled to check code generation for a target without running it (the nvcc build of
        `make test`): the smallest one that still contains every construct of the model. nvcc costs seconds
        per code object, so a circuit whose verification instance is large returns a smaller one here.
        Default: :meth:`verification_circuit`."""
        return self.verification_circuit()

    def equations(self) -> list:
        """The Brian2 model's equations as Brian2 receives them: one
        :class:`~neuromorph.brian.equations.GroupEquations` per object and per code block, with the namespace
        values they use and the paper's references (what `neuromorph equations` prints).

        Default: build the model for one update window of example data on the active Brian2 device (runtime
        devices only build Python objects: nothing is compiled) and read its objects back.
        """
        n = self.schedule.trials_per_update
        model = self.build_brian(self.initial_weights(0), self.example_data(n, 0))
        groups = model.equations()
        for obj in model.objects:
            # Built to be read, never run: without a network id Brian2 warns on deletion that the object was
            # "never included in a network".
            object.__setattr__(obj, "_network", "read back by Circuit.equations")
        return groups

    def check_weights(self, weights: Mapping[str, np.ndarray]) -> None:
        """Raise ShapeError unless ``weights`` has exactly the circuit's matrices with their shapes."""
        expected = self.weight_shapes()
        missing = sorted(set(expected) - set(weights))
        extra = sorted(set(weights) - set(expected))
        if missing or extra:
            raise ShapeError(
                f"{self.name}: weights missing {missing}, unexpected {extra}; expected "
                + ", ".join(f"{k} {v}" for k, v in expected.items())
            )
        sizes = getattr(self.params, "sizes", None)
        for key, shape in expected.items():
            got = tuple(np.shape(weights[key]))
            if got != tuple(shape):
                raise ShapeError(
                    f"{self.name}: weight matrix {key!r} has shape {got}, expected {tuple(shape)} (n_pre, n_post)"
                    + (f" for layer sizes {list(sizes)}" if sizes is not None else " for the configured sizes")
                )

    def describe(self) -> dict:
        return {
            "circuit": self.name,
            "params": dataclasses.asdict(self.params),
            "schedule": self.schedule.describe(),
            "trials_per_update": self.schedule.trials_per_update,
        }


class Trainer(ABC):
    """Trains a circuit on data: the fast (batched torch) form used for accuracy runs.

    Contract, relied on by the runner for checkpoint/resume: ``train_epoch`` is a deterministic function of
    (the trainer's state, the data, ``epoch``) - any randomness (sample order, random β signs) is drawn
    from a generator seeded with (seed, epoch) - so a run resumed from the checkpoint written after epoch
    e-1 reproduces epoch e exactly.

    ``task`` says how the runner scores it: ``"classification"`` (``predict`` -> test/train accuracy) or
    ``"reconstruction"`` (unsupervised: ``evaluate(x)`` -> ``{"r2": ..., ...}``, recorded as ``test_<key>`` /
    ``train_<key>``, headline ``test_r2``; labels are carried but unused, ``predict`` may raise
    NotImplementedError).
    """

    task: ClassVar[str] = "classification"

    @abstractmethod
    def train_epoch(self, x: np.ndarray, y: np.ndarray, epoch: int, progress=None) -> dict:
        """One pass over (x, y) (y integer labels); ``progress(n)`` is called with samples done. Returns metrics."""

    @abstractmethod
    def predict(self, x: np.ndarray) -> np.ndarray:
        """Predicted integer labels for x (the paper's evaluation protocol)."""

    def evaluate(self, x: np.ndarray) -> dict[str, float]:
        """Reconstruction trainers: scalar figures of the representation of ``x``, at least ``{"r2": R²}`` (R² of
        x̂ on variance-normalised data)."""
        raise NotImplementedError(f"{type(self).__name__} is a {self.task} trainer; it has no evaluate()")

    @abstractmethod
    def weights(self) -> dict[str, np.ndarray]:
        """Current weights as numpy arrays in (n_pre, n_post) orientation, as initial_weights returns them."""

    @abstractmethod
    def state_dict(self) -> dict:
        """Everything needed to resume (weights, optimiser state, ...), as numpy arrays and plain values."""

    @abstractmethod
    def load_state_dict(self, state: dict) -> None:
        """Restore what state_dict returned."""

    def options(self) -> dict:
        """The options this trainer actually runs with (e.g. the kernel an ``"auto"`` choice resolved to),
        recorded in the run's manifest. Default: none beyond what was asked for."""
        return {}

    def epoch_metrics(self) -> dict:
        """Extra per-epoch figures to log (e.g. angles between matrices). Default: none."""
        return {}

    def figures(self, data, folder) -> list:
        """Figures of the trained state written into ``folder`` (PNG) after training; their paths. Default: none."""
        return []


# ---- registry -----------------------------------------------------------------------------------------------
_REGISTRY: dict[str, Any] = {}
_ENTRY_POINT_GROUP = "neuromorph.circuits"


def register_circuit(name: str, factory) -> None:
    """Make ``factory`` (a Circuit subclass or a callable returning a Circuit) available as ``name``.

    ``factory`` may also be a string ``"module:attribute"``, imported on first use.
    """
    if not isinstance(name, str) or not name:
        raise ConfigError("a circuit name must be a non-empty string")
    _REGISTRY[name] = factory


def _load_entry_points() -> None:
    for ep in entry_points(group=_ENTRY_POINT_GROUP):
        _REGISTRY.setdefault(ep.name, ep.value)


def circuit_names() -> list[str]:
    """Names of every registered circuit (specs loaded from files or modules are not listed)."""
    _load_entry_points()
    return sorted(k for k in _REGISTRY if not _is_spec(k))


def circuit_descriptions() -> dict[str, str]:
    """``{name: description}`` of every registered circuit, read without importing the circuits if possible.

    Circuit modules import torch and Brian2 (seconds); ``neuromorph list`` should answer at once. So the
    ``description = "..."`` line is read from the source (following ``from .x import Name`` re-exports and
    base classes); only a circuit whose description is not a plain string literal is imported.
    """
    _load_entry_points()
    out = {}
    for name in circuit_names():
        factory = _REGISTRY[name]
        desc = None
        if isinstance(factory, str):
            module, _, attr = factory.partition(":")
            try:
                desc = _static_description(module, attr, 0)
            except (OSError, SyntaxError, ValueError, ImportError):
                desc = None
        else:
            desc = getattr(factory, "description", "")
        if desc is None:
            try:
                desc = getattr(type(get_circuit(name)), "description", "")
            except NeuromorphError as exc:
                desc = f"(cannot load: {exc})"
        out[name] = desc
    return out


def _module_file(modname: str):
    """The source file of module ``modname`` (and whether it is a package), without importing any of it.

    ``importlib.util.find_spec("a.b")`` would import package ``a``; only the top level is looked up here, the
    rest is walked on disk.
    """
    import importlib.util
    from pathlib import Path

    parts = modname.split(".")
    spec = importlib.util.find_spec(parts[0])
    if spec is None or not spec.origin:
        return None, False
    path = Path(spec.origin)
    is_pkg = spec.submodule_search_locations is not None
    for part in parts[1:]:
        if not is_pkg:
            return None, False
        base = path.parent
        if (base / part / "__init__.py").is_file():
            path, is_pkg = base / part / "__init__.py", True
        elif (base / f"{part}.py").is_file():
            path, is_pkg = base / f"{part}.py", False
        else:
            return None, False
    return (path, is_pkg) if path.suffix == ".py" else (None, False)


def _static_description(modname: str, clsname: str, depth: int):
    """The string literal assigned to ``description`` in class ``clsname`` of ``modname`` (None: not found)."""
    import ast
    import importlib.util

    if depth > 6:
        return None
    path, is_pkg = _module_file(modname)
    if path is None:
        return None
    package = modname if is_pkg else modname.rpartition(".")[0]
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.ClassDef) and node.name == clsname:
            for st in node.body:
                targets = st.targets if isinstance(st, ast.Assign) else [st.target] if isinstance(st, ast.AnnAssign) else []
                if any(isinstance(t, ast.Name) and t.id == "description" for t in targets):
                    v = st.value
                    return v.value if isinstance(v, ast.Constant) and isinstance(v.value, str) else None
            for base in node.bases:  # inherited description
                if isinstance(base, ast.Name) and base.id != "Circuit":
                    found = _static_description(modname, base.id, depth + 1)
                    if found is not None:
                        return found
            return "" if all(isinstance(b, ast.Name) and b.id == "Circuit" for b in node.bases) else None
        if isinstance(node, ast.ImportFrom):
            for alias in node.names:
                if (alias.asname or alias.name) == clsname:
                    source = importlib.util.resolve_name("." * node.level + (node.module or ""), package) if node.level else node.module
                    return _static_description(source, alias.name, depth + 1)
    return None


def circuit_label(name: str) -> str:
    """A folder-safe label for a circuit name: the class name of a ``file.py:Class`` spec, else the name.

    Run folders are named after it (``results/<label>-seed0``), so a spec's slashes never become folders.
    """
    return name.rpartition(":")[2] if _is_spec(name) else name


def _is_spec(name: str) -> bool:
    """Whether ``name`` is a ``file.py:Class`` / ``module:Class`` spec rather than a registered name."""
    return ":" in name


def _load_spec(spec: str):
    """The Circuit subclass named by ``path/to/file.py:ClassName``, ``path/to/package:ClassName`` or
    ``module.path:ClassName``.

    A file is imported under a module name derived from its absolute path (so two files called
    ``circuit.py`` do not collide) and put into ``sys.modules`` first: dataclasses, pickle and
    ``typing.get_type_hints`` look the module up there.
    """
    from pathlib import Path

    target, _, attr = spec.rpartition(":")
    if not target or not attr.isidentifier():
        raise UnknownCircuitError(
            f"circuit spec {spec!r} must be 'path/to/file.py:ClassName' or 'module.path:ClassName'"
        )
    is_file = target.endswith(".py") or "/" in target or "\\" in target
    if is_file:
        path = Path(target).expanduser()
        if not path.exists():
            raise UnknownCircuitError(
                f"circuit file {str(path)!r} (from {spec!r}) does not exist; paths are relative to the current "
                f"directory ({Path.cwd()})"
            )
        if path.is_dir() and not (path / "__init__.py").is_file():
            raise UnknownCircuitError(
                f"{str(path)!r} (from {spec!r}) is a folder without __init__.py; name the .py file that defines "
                "the class (path/to/file.py:ClassName) or add an __init__.py exporting it"
            )
        module = _import_path(path.resolve())
        where = f"file {str(path)!r}"
    else:
        try:
            module = importlib.import_module(target)
        except ModuleNotFoundError as exc:
            if exc.name and target.startswith(exc.name):
                raise UnknownCircuitError(
                    f"no module named {target!r} (from {spec!r}); put its folder on PYTHONPATH, install its "
                    "package, or give a file path instead (path/to/file.py:ClassName)"
                ) from exc
            raise
        where = f"module {target!r}"
    if not hasattr(module, attr):
        found = sorted(  # defined there, not imported (a subclass of an imported circuit is what users mean)
            k
            for k, v in vars(module).items()
            if isinstance(v, type) and issubclass(v, Circuit) and v is not Circuit and v.__module__ == module.__name__
        )
        raise UnknownCircuitError(
            f"{where} has no {attr!r}; Circuit subclasses defined there: {found or 'none'}"
        )
    cls = getattr(module, attr)
    if not (isinstance(cls, type) and issubclass(cls, Circuit)):
        what = "a class that does not derive from it" if isinstance(cls, type) else f"a {type(cls).__name__}"
        raise UnknownCircuitError(
            f"{attr!r} in {where} is not a subclass of neuromorph.Circuit ({what}); circuit classes derive "
            "from neuromorph.Circuit"
        )
    if getattr(cls, "__abstractmethods__", None):
        raise UnknownCircuitError(
            f"circuit class {attr!r} in {where} does not implement {sorted(cls.__abstractmethods__)}"
        )
    return cls


def _import_path(path):
    """Import the file or package folder ``path`` (absolute) under a name derived from its path.

    A file inside a package folder (one with ``__init__.py``) is imported as a submodule of that package, so
    the relative imports of a circuit package (``from .params import ...``) work without installing it.
    """
    import hashlib
    import importlib.util
    import sys

    package = path.is_dir()
    folder = path if package else path.parent
    if not package and path.name == "__init__.py":
        return _import_path(folder)
    if (folder.parent / "__init__.py").is_file() if package else (folder / "__init__.py").is_file():
        parent = _import_path(folder.parent if package else folder)
        return importlib.import_module(f"{parent.__name__}.{path.stem if not package else path.name}")
    modname = f"neuromorph_user_{path.stem}_{hashlib.sha1(str(path).encode()).hexdigest()[:10]}"
    if modname in sys.modules:
        return sys.modules[modname]
    init = path / "__init__.py" if package else path
    mspec = importlib.util.spec_from_file_location(
        modname, init, submodule_search_locations=[str(path)] if package else None
    )
    module = importlib.util.module_from_spec(mspec)
    sys.modules[modname] = module
    try:
        mspec.loader.exec_module(module)
    except SyntaxError as exc:
        del sys.modules[modname]
        raise UnknownCircuitError(f"circuit file {exc.filename!r} has a syntax error at line {exc.lineno}: {exc.msg}") from exc
    except BaseException:
        del sys.modules[modname]  # the user's own error: its traceback is the useful message
        raise
    return module


def get_circuit(name: str, params=None, **overrides) -> Circuit:
    """Instantiate the circuit ``name`` with parameter overrides.

    ``name`` is a registered name (``neuromorph list``), or a circuit of your own without any packaging:
    ``path/to/file.py:ClassName`` (relative to the current directory) or ``module.path:ClassName``.
    """
    _load_entry_points()
    if not isinstance(name, str) or not name:
        raise UnknownCircuitError(f"a circuit name must be a non-empty string, got {name!r}")
    if name not in _REGISTRY and _is_spec(name):
        # not cached in _REGISTRY: a relative path means another file after a chdir (modules are cached)
        return _load_spec(name)(params, **overrides)
    if name not in _REGISTRY:
        raise UnknownCircuitError(
            f"unknown circuit {name!r}; registered circuits are {circuit_names()} "
            "(see `neuromorph list`; your own: path/to/file.py:ClassName or module.path:ClassName)"
        )
    factory = _REGISTRY[name]
    if isinstance(factory, str):
        module, _, attr = factory.partition(":")
        try:
            factory = getattr(importlib.import_module(module), attr)
        except (ImportError, AttributeError) as exc:
            raise UnknownCircuitError(
                f"circuit {name!r} is registered as {module}:{attr} but cannot be loaded ({exc}); "
                "reinstall neuromorph (`pip install -e .`) or check that module"
            ) from exc
        _REGISTRY[name] = factory
    return factory(params, **overrides)
