"""Regression test of the installed Brian2/numpy set (issue 16): recorded values must outlive their monitor.

The finding. From Brian2 2.10 on, runtime mode (the ``numpy`` and ``cython`` targets) keeps every dynamic
array - StateMonitor and SpikeMonitor data, synapse variables - in a C++ ``DynamicArray``
(``brian2/memory/cythondynamicarray.pyx``). Its ``data`` property wraps the C++ buffer in a numpy array
made with ``PyArray_NewFromDescr(..., data_ptr, flags, NULL)`` (2-D) or ``PyArray_SimpleNewFromData`` (1-D)
and never calls ``PyArray_SetBaseObject``: the view does not reference its owner. ``StateMonitor.v_``
returns ``variables["v"].get_value().T`` without a copy (only ``.v``, with units, copies). So an array taken
from ``M.v_`` - or anything reshaped from it without a copy - dangles as soon as the monitor is freed (or
its buffer grows in a later ``run``): reading it later reads freed heap memory. Brian2 2.8 kept the data in
numpy arrays, and its views keep their owner alive through ``.base``.

neuromorph's ``run_model`` read states as ``np.asarray(M.u_).T.reshape(...)`` - a view - and returned it after
the monitors went out of scope. Whether the freed blocks were reused before the comparison depended on
the allocation pattern: with numpy 2.4/2.5 they were (u_o off by 1e265 on the numpy target), with numpy
2.3 they happened not to be, and the weights (copied by ``np.stack``) were always right. numpy is not at
fault: the minimal script below reads garbage with numpy 2.3.5 as well as 2.5.5, never with Brian2 2.8.0.
neuromorph now copies in ``_collect``.

Run this file directly for the Brian2-only reproduction (no neuromorph import)::

    python tests/test_brian_numpy_regression.py numpy
"""

from __future__ import annotations

import gc
import sys

import numpy as np

N_STEPS, N_CELLS = 200, 3


def _record(target: str):
    """Brian2 only: v_i(step) = (step + 1) * (i + 1), recorded every step; returns (view, copy) of M.v_."""
    from brian2 import Network, NeuronGroup, StateMonitor, defaultclock, ms, prefs
    from brian2.devices.device import reinit_and_delete

    reinit_and_delete()
    prefs.codegen.target = target
    defaultclock.dt = 0.1 * ms
    G = NeuronGroup(N_CELLS, "v : 1")
    G.run_regularly("v = v + (i + 1)")
    M = StateMonitor(G, "v", record=True, when="end")
    Network(G, M).run(N_STEPS * defaultclock.dt)
    view = M.v_  # (N_CELLS, N_STEPS): Brian2 hands out a view of the monitor's buffer
    return view, np.array(view, copy=True)


def _expected() -> np.ndarray:
    return np.outer(np.arange(1, N_CELLS + 1), np.arange(1, N_STEPS + 1)).astype(float)


def _churn(nbytes: int, fill: float = -7.0) -> list:
    """Allocate many blocks of the freed buffer's size so the allocator hands that memory out again."""
    return [np.full(nbytes // 8, fill) for _ in range(200)]


def _owns_memory(a: np.ndarray) -> bool:
    """True if ``a`` (following .base) ends in an array that owns its data - i.e. cannot dangle."""
    while isinstance(a, np.ndarray) and a.base is not None:
        a = a.base
    return isinstance(a, np.ndarray) and a.flags.owndata or not isinstance(a, np.ndarray)


def _main(target: str) -> int:  # the Brian2-only reproduction, for Brian2's tracker
    import brian2

    view, copy = _record(target)
    owner_kept = _owns_memory(view)
    nbytes = view.nbytes
    gc.collect()
    junk = _churn(nbytes)  # noqa: F841 - keeps the reused blocks allocated while the view is read
    # Reading a dangling view is what the bug does; small blocks stay in the heap, so this reads garbage,
    # not a segfault.
    err_view = float(np.max(np.abs(view - _expected())))
    err_copy = float(np.max(np.abs(copy - _expected())))
    print(f"brian2 {brian2.__version__}, numpy {np.__version__}, target {target}: view owns/references its "
          f"memory: {owner_kept}; max error of M.v_ kept past the run: {err_view:.3g}; of a copy: {err_copy:.3g}")
    return 0 if err_view == 0 else 1


if __name__ == "__main__":  # the reproduction needs Brian2 and numpy only, so it runs before pytest is imported
    sys.exit(_main(sys.argv[1] if len(sys.argv) > 1 else "numpy"))

import pytest  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore:_get_vc_env is private")


def _runtime_targets():
    """numpy always; cython where a compiler is. Not check_target: its guard refusing would become a skip."""
    from neuromorph.brian import devices

    return ["numpy"] + (["cython"] if devices._cxx() else [])


@pytest.mark.parametrize("target", ["numpy", "cython"])
def test_brian2_monitor_copy_is_exact_after_release(target):
    """The reading neuromorph relies on: a copy taken while the monitor lives stays exact after it is gone."""
    if target not in _runtime_targets():
        pytest.skip(f"{target} target unavailable here")
    view, copy = _record(target)
    nbytes = view.nbytes
    del view
    gc.collect()
    junk = _churn(nbytes)  # noqa: F841 - hold the reused blocks while the copy is checked
    np.testing.assert_array_equal(copy, _expected())
    assert copy.flags.owndata


def test_brian2_view_ownership_matches_version():
    """Pins the cause: Brian2 >= 2.10 hands out monitor views that do not own (or reference) their memory.

    If this fails on a newer Brian2, upstream now keeps the owner alive: the copy in
    ``neuromorph.brian.model._collect`` stays harmless, and this test's version bound should be updated.
    """
    import brian2
    from packaging.version import Version

    view, _ = _record("numpy")
    dangling_kind = not _owns_memory(view)
    assert dangling_kind == (Version(brian2.__version__) >= Version("2.10")), (
        f"brian2 {brian2.__version__}: monitor view owns its memory = {not dangling_kind}"
    )


# cython: in the Python 3.12 set (where the bug was) and `make test-extra`; numpy everywhere
@pytest.mark.parametrize("target", ["numpy", pytest.param("cython", marks=pytest.mark.extra)])
def test_run_model_trace_outlives_monitors(target):
    """neuromorph's reader: every recorded array owns its memory, and equals torch after heavy heap reuse.

    With the old ``np.asarray(M.u_)`` reader and Brian2 2.10.1 + numpy 2.5.5 this failed (u_o off by 1e265).
    """
    from circuits.twocomp import TwoComp
    from neuromorph.brian.devices import activate
    from neuromorph.brian.model import run_model

    if target not in _runtime_targets():
        pytest.skip(f"{target} target unavailable here")
    circuit = TwoComp()
    weights, data = circuit.initial_weights(0), circuit.example_data(8, 0)
    activate(target)
    trace, _ = run_model(circuit.build_brian(weights, data))
    activate("numpy")  # frees the previous run's Brian2 objects, monitors included
    gc.collect()
    junk = [_churn(a.nbytes, np.nan) for a in trace.states.values()]  # noqa: F841 - reuse the freed blocks
    for name, a in {**trace.states, **trace.weights}.items():
        assert _owns_memory(a), f"{name} is a view of memory the trace does not own"
    ref = circuit.simulate_reference(weights, data)
    # every step of every trial, not only the phase boundaries verify() compares
    for name in ("u_h", "u_i", "u_o"):
        np.testing.assert_allclose(trace.states[name], ref.states[name], rtol=0, atol=1e-12, err_msg=name)
    for name in ("W_xh", "W_ho"):
        assert trace.weights[name].shape[0] == 2  # 8 trials, batch 4: two updates
        np.testing.assert_allclose(trace.weights[name], ref.weights[name], rtol=0, atol=1e-12, err_msg=name)


# ---- the guard: neuromorph.brian.devices refuses a runtime target where recorded data would be wrong ----------


@pytest.fixture
def guard(monkeypatch):
    """devices with an empty probe cache and installed versions reported as the issue's broken set."""
    import neuromorph.brian.devices as devices

    monkeypatch.setattr(devices, "_READS_CHECKED", {})
    monkeypatch.setattr(devices, "_installed_versions", lambda: ("2.10.1", "2.5.5"))
    return devices


def test_guard_accepts_the_installed_set():
    import neuromorph.brian.devices as devices

    for t in ("numpy", "cython", "cpp", "cuda"):
        assert devices.version_problem(t) is None, t


def test_guard_refuses_a_reader_of_dangling_views(guard, monkeypatch):
    """The pre-fix reader (np.asarray: a view) is refused exactly where views dangle (Brian2 >= 2.10)."""
    import brian2
    import neuromorph.brian.model as model
    from packaging.version import Version

    from neuromorph.errors import BackendUnavailableError

    monkeypatch.setattr(model, "monitor_values", np.asarray)
    if Version(brian2.__version__) < Version("2.10"):  # numpy-backed DynamicArrays: the view keeps its owner
        assert guard.version_problem("numpy") is None
        return
    with pytest.raises(BackendUnavailableError) as exc:
        guard.check_target("numpy")
    msg = str(exc.value)
    assert "\n" not in msg
    assert msg.startswith("the numpy backend gives wrong numbers with brian2 2.10.1 + numpy 2.5.5: ")
    assert "freed with their monitor" in msg and "fix: use --backend cpp" in msg
    assert guard.version_problem("cpp") is None and guard.version_problem("cuda") is None


def test_guard_refuses_wrong_values_and_the_cli_says_one_line(guard, monkeypatch, capsys):
    """A reader returning reused-heap garbage is refused on numpy and cython; the CLI prints one error line."""
    import neuromorph.brian.model as model
    from neuromorph.cli import main

    monkeypatch.setattr(model, "monitor_values", lambda v: np.full(np.shape(v), 6.9e-310))
    for t in ("numpy", "cython"):
        problem = guard.version_problem(t)
        assert problem and "brian2 2.10.1 + numpy 2.5.5" in problem and "differ from what was recorded" in problem
    if guard._cxx():  # standalone targets read results from files: not probed, not refused
        assert guard.check_target("cpp") == "cpp"
    rc = main(["verify", "twocomp", "--backend", "numpy"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1
    assert err[0].startswith("error: the numpy backend gives wrong numbers with brian2 2.10.1 + numpy 2.5.5")


def test_guard_probes_once_per_installed_pair(guard, monkeypatch):
    calls = []
    real = guard._probe_runtime_reads
    monkeypatch.setattr(guard, "_probe_runtime_reads", lambda: calls.append(1) or real())
    for _ in range(3):
        assert guard.version_problem("numpy") is None and guard.version_problem("cython") is None
    assert len(calls) == 1
