"""Shared fixtures: Brian2 backends (each test starts and ends on a clean device), every registered circuit,
one nvcc build per circuit for the whole session, the verify spy, and the warning filters.

Tiers (markers, see setup.cfg and the README): ``standalone`` builds a cpp_standalone binary, ``cuda_compile``
runs nvcc (no GPU needed; `make test-cuda`), ``gpu`` needs a GPU, ``slow`` is a long run.
"""

from __future__ import annotations

import os
import sys
import time

import pytest

from neuromorph.brian.devices import OPT_LEVEL_ENV
from neuromorph.errors import BackendUnavailableError

# Compiles take most of the suite's time and -O3 buys nothing on models of a few units: the tests build at -O0
# (set before any Brian2 device exists; CLI subprocesses inherit it). An explicit NEUROMORPH_OPT_LEVEL wins.
os.environ.setdefault(OPT_LEVEL_ENV, "0")

def pytest_configure(config):
    # setuptools' distutils shim warns on every Brian2 import (DeprecationWarnings are ignored in setup.cfg):
    # one filter here instead of a pytestmark in every test file.
    config.addinivalue_line("filterwarnings", "ignore:_get_vc_env is private")


def _start_first(item) -> int:
    """Scheduling rank: the cold compiles first (pHSIC's cython build, 120 code objects, about 140 s; then every
    other circuit's cython build), then standalone and slow tests, then the rest in file order, so the workers
    finish together instead of one compile running alone at the end."""
    nodeid = item.nodeid
    if "phsic-cython" in nodeid:
        return 0
    if "test_verify_small_instance" in nodeid and "-cython]" in nodeid:
        return 1
    if item.get_closest_marker("standalone") or item.get_closest_marker("slow"):
        return 2
    return 3


def pytest_collection_modifyitems(config, items):
    # `make test` runs on every core with pytest-xdist (--dist loadgroup): every test that uses the session's
    # CUDA builds goes to one worker, so no circuit is generated or nvcc-compiled twice.
    for item in items:
        if "cuda_builds" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.xdist_group("cuda-builds"))
    items.sort(key=_start_first)  # stable: the same order on every worker, as xdist requires


def _reset_brian():
    """Back to the runtime numpy device with default prefs (only if Brian2 was imported at all)."""
    if "brian2" not in sys.modules:
        return
    from neuromorph.brian.devices import activate

    activate("numpy")


@pytest.fixture(autouse=True)
def _clean_brian_device():
    """Every test ends on Brian2's runtime numpy device, whatever target it switched to."""
    yield
    if "brian2" not in sys.modules:
        return
    from brian2 import get_device, prefs
    from brian2.devices.device import RuntimeDevice

    if not (isinstance(get_device(), RuntimeDevice) and prefs.codegen.target == "numpy"):
        _reset_brian()


def _available(target: str) -> None:
    from neuromorph.brian.devices import check_target, cuda_toolchain

    try:
        if target == "cuda":
            cuda_toolchain()
        else:
            check_target(target)
    except BackendUnavailableError as exc:
        pytest.skip(f"{target} unavailable here: {exc}")


@pytest.fixture(
    params=[
        "numpy",
        # every circuit on cython: in the Python 3.12 set (CI), and under 3.11 in `make test-extra` (by hand: time budgets)
        pytest.param("cython", marks=pytest.mark.extra),
        pytest.param("cpp", marks=pytest.mark.standalone),
        pytest.param("cuda", marks=[pytest.mark.cuda_compile, pytest.mark.slow]),
    ]
)
def backend(request):
    """A Brian2 target, reset before and after the test; ``cuda`` means compile-only (no GPU needed).

    Skips when the target's toolchain is missing (a C++ compiler for cython/cpp, nvcc for cuda).
    """
    _available(request.param)
    _reset_brian()
    yield request.param
    _reset_brian()


def _registered():
    from neuromorph.circuit import circuit_names

    return circuit_names()


@pytest.fixture(params=_registered())
def circuit_name(request):
    """Every registered circuit (entry points of the installed package plus run-time registrations)."""
    return request.param


# nvcc costs minutes per circuit on 2 cores (6.5 min for twocomp, the smallest): `make test` has brian2cuda
# generate every circuit's whole CUDA project (every .cu file and the makefile) without compiling it; the
# circuits named in NEUROMORPH_NVCC (comma-separated, or "all") are built with nvcc as well: `make test-nvcc`
# (twocomp; CI runs it after `make test`, .ci/run) and `make test-cuda` (all).
NVCC_CIRCUITS = os.environ.get("NEUROMORPH_NVCC", "")


def nvcc_wanted(name: str) -> bool:
    return NVCC_CIRCUITS == "all" or name in NVCC_CIRCUITS.split(",")


class CudaBuilds:
    """One cuda_standalone build of each circuit's compile-check instance per test session: an nvcc build for
    the circuits :func:`nvcc_wanted` names, code generation only for the others."""

    def __init__(self, root):
        self.root = root
        self.done = {}

    def get(self, name: str):
        """(EquivalenceReport or None, build directory, seconds, compiled) of the cuda build of ``name``."""
        if name not in self.done:
            from neuromorph.circuit import get_circuit
            from neuromorph.equivalence import verify

            _available("cuda")
            build_dir = self.root / name
            t0 = time.perf_counter()
            compiled = nvcc_wanted(name)
            try:
                circuit = get_circuit(name).compile_check_circuit()
                if compiled:
                    report = verify(circuit, "cuda", compile_only=True, build_dir=build_dir)
                else:
                    report = None
                    _generate_cuda(circuit, build_dir)
            finally:
                _reset_brian()
            self.done[name] = (report, build_dir, time.perf_counter() - t0, compiled)
        return self.done[name]


def _generate_cuda(circuit, build_dir) -> None:
    """brian2cuda writes the circuit's CUDA project (code objects, makefile) without running nvcc."""
    from brian2 import Network, get_device, second

    from neuromorph.brian.devices import activate

    activate("cuda")
    weights = circuit.initial_weights(0)
    data = circuit.example_data(3 * circuit.schedule.trials_per_update, 0)
    model = circuit.build_brian(weights, data)
    Network(*model.objects).run(model.n_steps * model.dt * second, namespace=model.namespace)
    get_device().build(directory=str(build_dir), compile=False, run=False, with_output=False)


@pytest.fixture(scope="session")
def cuda_builds(tmp_path_factory):
    return CudaBuilds(tmp_path_factory.mktemp("cuda-builds"))


@pytest.fixture
def verify_spy(monkeypatch):
    """``verify`` with the Brian2 trace it compared kept in ``spy.traces`` (the last one is ``spy.trace``)."""
    import neuromorph.equivalence as eq

    class Spy:
        traces: list = []

        @property
        def trace(self):
            return self.traces[-1]

    spy = Spy()
    spy.traces = []
    real = eq.run_model

    def run_model(model, **kw):
        trace, timings = real(model, **kw)
        spy.traces.append(trace)
        return trace, timings

    monkeypatch.setattr(eq, "run_model", run_model)
    return spy
