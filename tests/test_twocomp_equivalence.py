"""twocomp: Brian2 == torch reference == an independent numpy implementation.

Every registered circuit, twocomp included, is verified on numpy, cython and cpp_standalone by
tests/test_contract.py (the ``backend`` fixture of tests/conftest.py); this file checks what is
particular to twocomp on the numpy target (what is compared, counts, timings). The third implementation
below is written from the equations in the ``circuits.twocomp`` docstring, trial by trial and step by step
in plain numpy, without the circuit's torch code or its phase schedule object.
"""

import dataclasses
import json

import numpy as np
import pytest

from circuits.twocomp import TwoComp
from neuromorph.brian.devices import activate
from neuromorph.brian.model import run_model
from neuromorph.equivalence import EquivalenceReport, compare_traces, verify


def test_verify(verify_spy):
    """verify() passes at 1e-9 over >= 3 updates, and plasticity really changed the weights."""
    circuit = TwoComp()
    backend = "numpy"
    report = verify(circuit, backend)
    assert report.backend == backend
    assert report.n_updates >= 3 and report.n_trials == 3 * circuit.params.batch
    assert {v.name for v in report.variables} == {"u_h", "u_i", "u_o", "W_xh", "W_ho"}
    assert report.passed, report.table()
    assert report.max_rel_error <= 1e-9
    # a runtime target: run in-process, no build directory
    assert "run_s" in report.timings and "build_dir" not in report.timings
    # every boundary of every trial compared, every update of both plastic matrices
    p = circuit.params
    by_name = {v.name: v for v in report.variables}
    assert by_name["u_h"].compared == report.n_trials * 2 * p.n_hidden
    assert by_name["W_ho"].compared == report.n_updates * p.n_hidden * p.n_out

    # Plasticity is on in Brian2: the first update moved the weights, and later updates moved them again.
    w0 = circuit.initial_weights(0)
    brian = verify_spy.trace
    for name in ("W_xh", "W_ho"):
        hist = brian.weights[name]
        assert hist.shape == (report.n_updates, *w0[name].shape)
        assert np.abs(hist[0] - w0[name]).max() > 1e-6, name
        assert np.abs(hist[2] - hist[1]).max() > 1e-6, name
    # the states are not trivially zero either
    assert np.abs(brian.states["u_o"]).max() > 1e-2


# ---- a third implementation: plain numpy, from the docstring's equations --------------------------------
def numpy_twocomp(p, W, x, y):
    """Forward-Euler twocomp, one trial after another. Returns (states, weight history)."""
    W = {k: np.array(v, dtype=float) for k, v in W.items()}
    n_trials = len(x)
    T = p.t_free + p.t_nudged
    a = p.dt_over_tau
    states = {"u_h": np.zeros((n_trials, T, p.n_hidden)), "u_i": np.zeros((n_trials, T, p.n_inh)),
              "u_o": np.zeros((n_trials, T, p.n_out))}
    history = {"W_xh": [], "W_ho": []}
    acc_xh, acc_ho = np.zeros_like(W["W_xh"]), np.zeros_like(W["W_ho"])
    for n in range(n_trials):
        u_h, u_i, u_o = np.zeros(p.n_hidden), np.zeros(p.n_inh), np.zeros(p.n_out)  # reset "zero"
        for k in range(T):
            nudge = 1.0 if k >= p.t_free else 0.0
            r_x = x[n]  # clamped in both phases
            r_h, r_i, r_o = np.clip(u_h, 0, 1), np.maximum(u_i, 0), np.clip(u_o, 0, 1)
            du_h = (-p.g_leak * u_h + p.g_basal * (W["W_xh"].T @ r_x - u_h)
                    + p.g_apical * (W["W_fb"].T @ r_o - u_h) - W["W_ih"].T @ r_i)
            du_i = -u_i + W["W_hi"].T @ r_h
            du_o = -u_o + W["W_ho"].T @ r_h + nudge * p.beta * (y[n] - r_o)
            u_h, u_i, u_o = u_h + a * du_h, u_i + a * du_i, u_o + a * du_o
            states["u_h"][n, k], states["u_i"][n, k], states["u_o"][n, k] = u_h, u_i, u_o
            if k == p.t_free - 1:  # gate "snapshot": end of the free phase
                rf_h, rf_o = np.clip(u_h, 0, 1), np.clip(u_o, 0, 1)
            if k == T - 1:  # gate "accumulate": end of the nudged phase
                rn_h, rn_o = np.clip(u_h, 0, 1), np.clip(u_o, 0, 1)
                acc_xh += np.outer(r_x, rn_h - rf_h)
                acc_ho += np.outer(rn_h, rn_o) - np.outer(rf_h, rf_o)
        if (n + 1) % p.batch == 0:  # end of an update window
            W["W_xh"] = W["W_xh"] + p.lr_xh / (p.beta * p.batch) * acc_xh
            W["W_ho"] = W["W_ho"] + p.lr_ho / (p.beta * p.batch) * acc_ho
            acc_xh, acc_ho = np.zeros_like(acc_xh), np.zeros_like(acc_ho)
            history["W_xh"].append(W["W_xh"].copy())
            history["W_ho"].append(W["W_ho"].copy())
    return states, {k: np.array(v) for k, v in history.items()}


@pytest.mark.parametrize(
    "overrides, n_trials",
    [
        ({}, 12),  # the verification instance: 3 windows of 4 trials
        ({"n_in": 5, "n_hidden": 7, "n_inh": 3, "n_out": 4, "t_free": 6, "t_nudged": 3, "batch": 3, "beta": -0.7,
          "g_apical": 0.8, "inhibition": 0.9}, 7),  # odd sizes, negative beta, a last window left incomplete
    ],
)
def test_independent_numpy_matches_reference(overrides, n_trials):
    circuit = TwoComp(**overrides)
    p = circuit.params
    W = circuit.initial_weights(3)
    data = circuit.example_data(n_trials, 3)
    ref = circuit.simulate_reference(W, data)
    states, weights = numpy_twocomp(p, W, data["x"], data["y"])
    n_updates = n_trials // p.batch
    for name, mine in states.items():
        theirs = ref.states[name]
        assert theirs.shape == mine.shape
        scale = np.abs(theirs).max()
        assert scale > 1e-2  # not a comparison of zeros
        np.testing.assert_allclose(mine, theirs, rtol=0, atol=1e-12 * scale, err_msg=name)
    for name, mine in weights.items():
        assert mine.shape == (n_updates, *W[name].shape) == ref.weights[name].shape
        np.testing.assert_allclose(mine, ref.weights[name], rtol=0, atol=1e-12 * np.abs(mine).max(), err_msg=name)
        assert np.abs(mine[0] - W[name]).max() > 1e-6  # the comparison includes real learning
    # the nudged phase really pulls the output towards the target (sign of beta included)
    T = p.t_free + p.t_nudged
    r_free = np.clip(states["u_o"][:, p.t_free - 1], 0, 1)
    r_nud = np.clip(states["u_o"][:, T - 1], 0, 1)
    toward = np.sign(p.beta) * ((data["y"] - r_free) * (r_nud - r_free)).sum(axis=1)
    assert (toward > 0).mean() > 0.5


# ---- the harness fails when Brian2 and torch disagree ----------------------------------------------------
@pytest.fixture(scope="module")
def numpy_traces():
    circuit = TwoComp()
    W = circuit.initial_weights(0)
    data = circuit.example_data(12, 0)
    activate("numpy")
    brian, _ = run_model(circuit.build_brian(W, data))
    return circuit, brian, circuit.simulate_reference(W, data)


def _report(circuit, variables):
    sch = circuit.schedule
    return EquivalenceReport(circuit.name, "numpy", 1e-9, 12, 12 // sch.trials_per_update, sch.describe(), variables)


def _copy(trace):
    return dataclasses.replace(trace, states={k: v.copy() for k, v in trace.states.items()},
                               weights={k: v.copy() for k, v in trace.weights.items()})


def test_unperturbed_passes(numpy_traces):
    circuit, brian, ref = numpy_traces
    rep = _report(circuit, compare_traces(circuit, brian, ref))
    assert rep.passed and rep.max_rel_error < 1e-12


@pytest.mark.parametrize("kind, name", [("state", "u_i"), ("state", "u_o"), ("weight", "W_xh")])
def test_perturbed_trace_fails(numpy_traces, kind, name):
    circuit, brian, ref = numpy_traces
    bad = _copy(brian)
    if kind == "state":
        step = circuit.schedule.end("free")  # a compared step
        bad.states[name][5, step, 1] += 1e-6
        where = ("trial 5", "end of free", "unit 1")
    else:
        bad.weights[name][1, 2, 3] += 1e-6
        where = ("after update 2", "2", "3")
    errors = {v.name: v for v in compare_traces(circuit, bad, ref)}
    v = errors[name]
    assert v.max_abs == pytest.approx(1e-6, rel=1e-6)
    assert v.max_rel == pytest.approx(1e-6 / v.scale, rel=1e-6) and v.max_rel > 1e-9
    assert all(w in v.worst_at for w in where), v.worst_at
    rep = _report(circuit, list(errors.values()))
    assert not rep.passed
    assert "FAILED" in rep.table() and "| NO |" in rep.table()
    # the other variables stay clean
    assert all(e.max_rel < 1e-12 for n, e in errors.items() if n != name)


def test_missing_variable_is_an_error(numpy_traces):
    from neuromorph.errors import ShapeError

    circuit, brian, ref = numpy_traces
    bad = _copy(brian)
    del bad.states["u_o"]
    with pytest.raises(ShapeError, match="u_o"):
        compare_traces(circuit, bad, ref)


def test_report_json(tmp_path):
    report = verify(TwoComp(), "numpy")
    path = tmp_path / "sub" / "verify.json"
    report.write_json(path)
    d = json.loads(path.read_text())
    assert {"circuit", "backend", "passed", "tolerance", "max_abs_error", "max_rel_error", "variables"} <= set(d)
    assert d["circuit"] == "twocomp" and d["backend"] == "numpy" and d["passed"] is True
    assert d["tolerance"] == 1e-9 and d["n_updates"] == 3
    assert set(d["variables"]) == {"u_h", "u_i", "u_o", "W_xh", "W_ho"}
    assert d["max_rel_error"] == max(v["max_rel"] for v in d["variables"].values()) <= 1e-9
    assert d["max_abs_error"] == max(v["max_abs"] for v in d["variables"].values())
