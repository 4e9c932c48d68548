"""Spiking twin of a URFB MLP's inference (circuits/urfb/spiking.py), numpy target, hand-set weights.

The reference is closed form: for the weights below the hidden fields are s·h = (0.5, −0.3, 2.0) and
(0.2, 0.6, −1.5) on the two samples (computed here by hand-written numpy, not by the twin's code), so the
ON/OFF units must fire at r_max·[σ]₊, r_max·[−σ]₊ with σ = clip(s·h, −1, 1), the offset units at
r_max·(1 + σ)/2 and the spiking output at r_max·clip((h_L − a)/(b − a), 0, 1).

Tolerances (regular spikes, r_max 400 Hz, τ_syn 20 ms, 0.3 s per sample, readout = last 0.15 s = 7.5 τ_syn
after the start, so the settling transient is e^-7.5 < 1e-3 of the step): the count resolution is
1/(400·0.15) = 0.017 in normalised rate; each unit's spike-estimated rate must be within 0.03 of the closed
form (resolution plus the regular trains' ripple on the traces), the graded readout within 2 % of |h_L|, the
labels equal, and SynOps equal Σ spikes × fan-out counted from the weights here.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from circuits.urfb import URFB, URFBParams
from circuits.urfb.reference import forward
from circuits.urfb.spiking import rate_forward
from circuits.urfb.trainer import URFBTrainer
from neuromorph.brian.devices import activate
from neuromorph.errors import ConfigError, ShapeError
from neuromorph.spiking import run_spiking

pytestmark = pytest.mark.filterwarnings("ignore:_get_vc_env is private", "ignore::UserWarning")

X = np.array([[0.6, 0.3, 0.8], [0.2, 0.9, 0.4]])
SLOPE = 2.0
# hidden fields h = X @ W1 with s·h = (0.5, −0.3, 2.0) and (0.2, 0.6, −1.5): solve W1 from the targets
SH = np.array([[0.5, -0.3, 2.0], [0.2, 0.6, -1.5]])
W1 = np.linalg.lstsq(X, SH / SLOPE, rcond=None)[0]
W2 = np.array([[1.0, -0.5], [-0.8, 0.4], [-0.3, 0.9]])
SIGMA = np.clip(SH, -1, 1)
H_OUT = SIGMA @ W2  # (0.44, 0.53) and (0.02, −0.76): the labels differ between the samples


def _circuit():
    return URFB(URFBParams(sizes=(3, 3, 2), method="urfb", slope=SLOPE, batch=1))


def _weights():
    c = _circuit()
    w = c.initial_weights(0)
    w.update(W1=W1, W2=W2)  # R2 is carried along and ignored by inference
    return w


@pytest.fixture
def numpy_target():
    activate("numpy")
    yield
    activate("numpy")


def test_hand_set_weights_are_what_the_docstring_says():
    assert np.allclose(X @ W1 * SLOPE, SH, atol=1e-12)  # 2 samples, 3 unknowns per unit: solvable exactly
    assert np.argmax(H_OUT, axis=1).tolist() == [1, 0]


def test_rate_model_equals_reference_and_trainer():
    """rate_forward (numpy, the twin's reference) == reference.forward (torch) == the trainer's predictions."""
    p = URFBParams(sizes=(10, 7, 6, 4), method="urfb", slope=1.5, batch=5)
    rng = np.random.default_rng(2)
    x = rng.uniform(0, 1, (30, 10))
    tr = URFBTrainer(p, seed=1, dtype=torch.float64)
    y = rng.integers(0, 4, 30)
    tr.train_epoch(x, y, 0)
    w = tr.weights()
    hidden, h = rate_forward(p, w, x)
    _, xs = forward({k: torch.as_tensor(v) for k, v in w.items()}, torch.as_tensor(x), p)
    for a, b in zip([*hidden, h], xs[1:]):
        np.testing.assert_allclose(a, b.numpy(), rtol=0, atol=1e-12)
    assert np.array_equal(URFB(p).predict_rate(w, x), tr.predict(x))
    assert any(np.mean(np.abs(a) == 1) > 0 for a in hidden)  # saturation occurs: the clip is exercised


def test_onoff_twin_fires_at_the_closed_form_rates(numpy_target):
    c, w = _circuit(), _weights()
    sm = c.build_spiking_brian(w, X, encoding="regular", t_sample=0.3, r_max=400.0, tau_syn=0.02)
    assert {k: len(G) for k, G in sm.populations.items()} == {"layer0": 3, "layer1": 6, "layer2": 2}
    assert sm.compared == ("layer1", "layer2") and sm.readout_var is None
    # output window: the winners span [0.02, 0.53], widened by 10 % of the span on each side
    a, b = 0.02 - 0.051, 0.53 + 0.051
    assert sm.info["out_range"] == pytest.approx([a, b])
    res = run_spiking(sm, seed=0)
    # input: the regular encoder's count over the whole trial is floor(r_max·x·t) (±1 for rounding of φ)
    assert np.abs(res.counts_total["layer0"] - np.floor(400 * X * 0.3)).max() <= 1
    want1 = np.hstack([np.clip(SIGMA, 0, 1), np.clip(-SIGMA, 0, 1)])
    assert np.abs(res.rates["layer1"] - want1).max() <= 0.03, res.rates["layer1"]
    want2 = np.clip((H_OUT - a) / (b - a), 0, 1)  # sample 2's loser (−0.76) is silent
    assert np.abs(res.rates["layer2"] - want2).max() <= 0.03, res.rates["layer2"]
    assert res.predictions.tolist() == [1, 0]
    # SynOps: every spike of an input unit reaches 6 ON/OFF units (no zero weights), every hidden spike 2
    assert res.stats.synops == {"spk_urfb_W1": int(res.counts_total["layer0"].sum()) * 6,
                                "spk_urfb_W2": int(res.counts_total["layer1"].sum()) * 2}
    assert sm.dense_macs_per_inference() == 3 * 3 + 3 * 2


def test_offset_code_and_graded_readout(numpy_target):
    c, w = _circuit(), _weights()
    sm = c.build_spiking_brian(w, X, encoding="regular", t_sample=0.3, r_max=400.0, tau_syn=0.02, code="offset",
                               readout="graded")
    assert {k: len(G) for k, G in sm.populations.items()} == {"layer0": 3, "layer1": 3, "layer2": 2}
    assert np.allclose(sm.populations["layer2"].bias[:], -W2.sum(axis=0))  # σ = 2ρ − 1
    res = run_spiking(sm, seed=0)
    assert np.abs(res.rates["layer1"] - (1 + SIGMA) / 2).max() <= 0.03, res.rates["layer1"]
    assert np.abs(res.readout - H_OUT).max() <= 0.02 * np.abs(H_OUT).max(), res.readout
    assert res.predictions.tolist() == [1, 0]
    assert res.stats.spikes["layer2"] == 0  # the graded readout does not spike


def test_bad_inputs():
    c, w = _circuit(), _weights()
    with pytest.raises(ConfigError, match="code 'ternary' unknown"):
        c.build_spiking_brian(w, X, code="ternary")
    with pytest.raises(ConfigError, match="readout 'vote' unknown"):
        c.build_spiking_brian(w, X, readout="vote")
    with pytest.raises(ConfigError, match="outside input_range"):
        c.build_spiking_brian(w, X, input_range=(0.0, 0.5))
    with pytest.raises(ConfigError, match="out_range must be finite"):
        c.build_spiking_brian(w, X, out_range=(1.0, 1.0))
    with pytest.raises(ConfigError, match="tau_u must be at least two steps"):
        c.build_spiking_brian(w, X, tau_u=1e-4)
    with pytest.raises(ShapeError, match="expected \\(n_samples >= 1, N_0=3\\)"):
        c.build_spiking_brian(w, X[:, :2])
    with pytest.raises(ShapeError, match="NaN"):
        c.predict_rate(w, np.full((1, 3), np.nan))
    simp = URFB(URFBParams(sizes=(784, 20, 10), arch="simpnet"))
    with pytest.raises(ConfigError, match="arch 'mlp' only"):
        simp.predict_rate({}, np.zeros((1, 784)))


def test_compare_through_the_circuit_contract(numpy_target):
    """neuromorph.compare drives the twin through Circuit.build_spiking_brian/predict_rate, options included."""
    from neuromorph.compare import compare_rate_spiking

    c, w = _circuit(), _weights()
    rep = compare_rate_spiking(c, w, X, np.array([1, 0]), t_samples=(0.15, 0.3), encoding="regular", target="numpy",
                               r_max=400.0, tau_syn=0.02, prefix=True, build_options={"code": "offset"})
    assert rep.rate_accuracy == 1.0 and rep.meta["build_options"] == {"code": "offset"}
    last = rep.rows[-1]
    assert last.t_sample == 0.3 and last.agreement == 1.0 and last.spiking_accuracy == 1.0
    assert last.state_error["layer1"] <= 0.03 and last.dense_macs_per_inference == 15
    assert last.spikes_per_population["layer1"] > 0 and rep.rows[0].spikes_per_inference < last.spikes_per_inference
