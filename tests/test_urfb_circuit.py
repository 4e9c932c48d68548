"""The URFB circuit (Appendix 1, Fig. 15): Brian2 == torch twin, twin == the learning rule, rule-(6) case table."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

import neuromorph
from circuits.urfb import URFB, URFBParams
from circuits.urfb.reference import hinge_delta, train_step
from neuromorph.equivalence import verify
from neuromorph.errors import ConfigError

neuromorph.register_circuit("urfb", "circuits.urfb:URFB")


def _small(**kw):
    return URFB().verification_circuit(**kw)


@pytest.mark.parametrize(
    "overrides",
    [{"method": "frfb"}, {"feedback_after_update": False, "batch": 2}, {"eps": 0.5, "connectivity": 0.5, "prune_output": True}],
    ids=["frfb-fig15", "urfb-window", "mixture-pruned"],
)
def test_brian_numpy_equals_torch(overrides):
    """The cases beyond the contract's default instance (tests/test_contract.py verifies URFB, Fig. 15)."""
    c = _small(**overrides)
    rep = verify(c, "numpy")
    assert rep.passed, rep.table()
    assert rep.n_updates >= 3
    assert rep.max_rel_error <= 1e-12
    names = {v.name for v in rep.variables}
    assert {"W1", "W2", "W3"} <= names
    assert ("R2" in names) == (c.params.method == "urfb")


@pytest.mark.standalone
@pytest.mark.extra
def test_brian_cpp_equals_torch_frfb_window(tmp_path):
    """FRFB with window updates compiled (cpp_standalone; the contract test covers the default instance on every
    backend, experiments/urfb/verify_all.py runs every case on every backend)."""
    c = _small(method="frfb", feedback_after_update=False, batch=2)
    rep = verify(c, "cpp", build_dir=tmp_path)
    assert rep.passed, rep.table()
    assert rep.n_updates >= 3 and rep.max_rel_error <= 1e-12


def test_verification_instance_exercises_every_unit():
    """The small instance sees shutdown units fire, the error circuit oscillate and every error value."""
    c = _small()
    tr = c.simulate_reference(c.initial_weights(0), c.example_data(3, 0))
    s, sch = tr.states, c.schedule
    for l in (1, 2):
        assert (s[f"u{l}"] == 1).any() and (s[f"v{l}"] == -1).any()
    e = s["err_out"][:, sch.end("err")]
    mu = c.params.mu_value
    assert {1.0, -mu, 0.0} <= set(np.round(e.ravel(), 12))
    assert (s["z_out"][:, sch.end("err")] == 1).any()


@pytest.mark.parametrize("after,batch", [(True, 1), (False, 3)])
@pytest.mark.parametrize("method", ["urfb", "frfb"])
def test_circuit_weights_equal_the_learning_rule(method, after, batch):
    """The circuit's W and R after 6 trials = train_step (rule 6, eqs. 2 and 7) on the same trials."""
    c = _small(method=method, feedback_after_update=after, batch=batch)
    p = c.params
    W0 = c.initial_weights(0)
    data = c.example_data(6, 0)
    tr = c.simulate_reference(W0, data)
    # the circuit's bounds hold on this run, so the circuit must compute rule (6) and eq. (3) exactly
    assert np.abs(tr.states["h_out"]).max() < p.M
    W = {k: torch.as_tensor(v) for k, v in W0.items()}
    labels = data["y"].argmax(1)
    for u, start in enumerate(range(0, 6, batch)):
        sl = slice(start, start + batch)
        train_step(W, torch.as_tensor(data["x"][sl]), torch.as_tensor(labels[sl]), p)
        for k, hist in tr.weights.items():
            np.testing.assert_allclose(hist[u], W[k].numpy(), rtol=0, atol=1e-12, err_msg=f"{k} update {u}")
    if method == "frfb":
        for k in ("R2", "R3"):
            np.testing.assert_array_equal(W[k].numpy(), W0[k])


# h_c values: below −S, at −S, inside, at +S, above +S (S = 1); one trial per presented class
H_VALUES = np.array([-3.0, -1.0, 0.5, 1.0, 3.0])


def _case_table_circuit():
    p = URFBParams(sizes=(1, 5), method="urfb", batch=5, lr=0.1, feedback_after_update=False, M=8.0, n_err=6)
    return URFB(p)


def test_rule6_case_table_in_brian2():
    """Presented / not presented × h below / at / inside / above the thresholds: e_c = rule (6), the weight
    change is η/B Σ x e, and δ_c oscillates exactly where the output is already correct beyond the margin."""
    from neuromorph.brian import activate, run_model

    c = _case_table_circuit()
    p, sch = c.params, c.schedule
    W0 = {"W1": H_VALUES[None, :].copy()}
    data = {"x": np.ones((5, 1)), "y": np.eye(5)}  # trial k presents class k
    activate("numpy")
    trace, _ = run_model(c.build_brian(W0, data))
    ref = c.simulate_reference(W0, data)
    mu = p.mu_value
    e = trace.states["err_out"][:, sch.end("err")]
    want = hinge_delta(torch.as_tensor(np.tile(H_VALUES, (5, 1))), torch.arange(5), mu).numpy()
    np.testing.assert_array_equal(e, want)
    np.testing.assert_array_equal(ref.states["err_out"][:, sch.end("err")], want)
    # explicit table: rows = presented class k (h_k = H_VALUES[k]), columns = unit c
    table = np.where(np.eye(5, dtype=bool), 1.0, -mu)
    table[4, 4] = 0.0  # presented, h = 3 > S: already correct
    table[np.arange(5) != 0, 0] = 0.0  # not presented, h = −3 < −S: already correct
    np.testing.assert_array_equal(e, table)
    # the oscillation: in the "already correct" cases δ_c alternates 1+ε' (or −μ−ε') and 0, elsewhere constant
    d = trace.states["d_out"][:, sch.start("err") : sch.end("err") + 1]
    eps_ = p.overshoot
    # d: (trial, step of the error phase, unit)
    np.testing.assert_array_equal(d[4, :, 4], np.tile([1 + eps_, 0.0], 3))
    np.testing.assert_array_equal(d[1, :, 0], np.tile([-mu - eps_, 0.0], 3))
    np.testing.assert_array_equal(d[0, :, 2], np.full(6, -mu))
    np.testing.assert_array_equal(d[3, :, 3], np.full(6, 1.0))
    tc = trace.states["tc_out"][:, sch.start("err") : sch.end("err") + 1]
    np.testing.assert_array_equal(tc[4, :, 4], np.tile([1.0, 0.0], 3))  # the control unit fires, z vetoes
    assert not tc[3, :, 3].any() and not tc[0, :, 2].any()
    # the weight change of the window is η/B Σ_trials x e (x = 1)
    np.testing.assert_allclose(trace.weights["W1"][0] - W0["W1"], p.lr / 5 * want.sum(0)[None, :], rtol=0, atol=1e-15)


def test_circuit_rejects_what_it_cannot_run():
    c = _small()
    W0 = c.initial_weights(0)
    data = c.example_data(2, 0)
    bad = URFB(dataclasses.replace(c.params, batch=2))
    with pytest.raises(ConfigError, match="batch = 1"):
        bad.simulate_reference(W0, data)
    with pytest.raises(ConfigError, match="batch = 1"):
        bad.build_brian(W0, data)
    bp = URFB(dataclasses.replace(c.params, method="bp"))
    with pytest.raises(ConfigError, match="trainer-only"):
        bp.simulate_reference({k: v for k, v in W0.items() if k.startswith("W")}, data)
    # also a NotImplementedError: the runner's post-training phase timeline skips what the circuit cannot run
    with pytest.raises(NotImplementedError, match="trainer-only"):
        bp.simulate_reference({k: v for k, v in W0.items() if k.startswith("W")}, data)


@pytest.mark.parametrize("method", ["urfb", "bp"])
def test_trainer_only_run_completes(tmp_path, method):
    """A training run in a configuration the circuit cannot simulate (batch 20 with Fig. 15's order; BP) ends
    'complete' with its metrics: the phase timeline is skipped, not the run failed."""
    import json

    from neuromorph.config import config_from_dict
    from neuromorph.runner import run

    cfg = config_from_dict({
        "circuit": "urfb", "seed": 0, "name": "t",
        "params": {"sizes": [64, 8, 10], "method": method, "batch": 20},
        "train": {"dataset": "digits", "epochs": 1, "n_train": 100, "n_test": 40, "threads": 1},
    })
    out = run(cfg, tmp_path / method, progress=False, log=lambda *a: None)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "complete", manifest.get("error")
    rows = [json.loads(ln) for ln in (out / "metrics.jsonl").read_text().splitlines() if ln]
    assert len(rows) == 1 and ("corr_W2_R2" in rows[0]) == (method == "urfb")


def test_registered_and_default_trainer_runs():
    c = neuromorph.get_circuit("urfb", sizes=[6, 5, 3], batch=4)
    rng = np.random.default_rng(0)
    x, y = rng.uniform(0, 1, (40, 6)), rng.integers(0, 3, 40)
    tr = c.make_trainer(6, 3, seed=0)
    w0 = tr.weights()
    tr.train_epoch(x, y, 0)
    assert not np.allclose(tr.weights()["W1"], w0["W1"])
    assert set(tr.epoch_metrics()) == {"corr_W2_R2"}
    assert tr.predict(x).shape == (40,)


def test_equation_notes_hold_the_rule6_case_table():
    """The six cases of rule (6) with the error each synapse reads (for `neuromorph equations urfb`)."""
    notes = URFB().equation_notes()
    assert notes.startswith("Output error: the case table (rule 6")
    rows = [ln.split() for ln in notes.splitlines() if ln.startswith(("yes", "no"))]
    assert len(rows) == 6
    # last column: e_c = rule 6 (1 for the presented class at or below S, −μ for the others at or above −S, else 0)
    assert [r[-1] for r in rows] == ["1", "1", "0", "0", "−μ", "−μ"]
    assert "veto latch" in notes
