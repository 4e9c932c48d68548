"""Spiking twin of the pHSIC batch-form network's inference (circuits/phsic/spiking.py), numpy target.

Tolerances (regular spikes, r_max 400 Hz, τ_syn 20 ms, 0.3 s per sample, readout = last 0.15 s, so the count
resolution is 1/(400·0.15) = 0.017 in normalised rate):

* per hidden layer, mean |ρ_rate − ρ_spike| ≤ 0.015 and max ≤ 0.06 over samples and ON/OFF units;
* readout o: mean |o_rate − o_spike| ≤ 3 % of mean |o_rate|, and the labels agree on every sample;
* the rate model (``PHSIC.predict_rate`` / ``forward``) equals the batch trainer's ``predict`` / ``logits``
  (float64, to 1e-12), the twin's ``reference_readout`` included;
* a trial read off the prefix of a longer one equals a run of that length exactly (regular spikes).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from circuits.phsic import PHSIC, PHSICParams, PHSICTrainer
from circuits.phsic.spiking import activity_scales, rate_activities
from neuromorph.brian.devices import activate
from neuromorph.errors import ConfigError, ShapeError
from neuromorph.spiking import run_spiking

pytestmark = pytest.mark.filterwarnings("ignore:_get_vc_env is private", "ignore::UserWarning")

SIZES = (20, 16, 16, 3)


def _circuit(mode: str) -> PHSIC:
    # groups of 4; slope 0.1 so that LReLU's negative branch (carried by the OFF units) is visible in "plain"
    return PHSIC.from_batch_params(PHSICParams(sizes=SIZES, mode=mode, n_groups=4, leaky_slope=0.1))


def _inputs(n: int, seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).uniform(-1.0, 1.0, size=(n, SIZES[0]))


def _trained(mode: str) -> PHSICTrainer:
    """The batch trainer after 3 epochs on a learnable labelling of uniform inputs (float64)."""
    params = PHSICParams(sizes=SIZES, mode=mode, n_groups=4, leaky_slope=0.1, batch=16, lr_final=0.2, lr_local=0.1)
    trainer = PHSICTrainer(params, SIZES[0], SIZES[-1], seed=3, dtype=torch.float64)
    rng = np.random.default_rng(0)
    xt = rng.uniform(-1, 1, (256, SIZES[0]))
    yt = np.argmax(xt @ rng.normal(size=(SIZES[0], SIZES[-1])), axis=1)
    for epoch in range(3):
        trainer.train_epoch(xt, yt, epoch)
    return trainer


@pytest.fixture
def numpy_target():
    activate("numpy")
    yield
    activate("numpy")


@pytest.mark.parametrize("mode", ["divnorm", "plain"])
def test_twin_rates_approach_rate_model(mode, numpy_target):
    c = _circuit(mode)
    w = _trained(mode).weights()
    x = _inputs(4)
    rate_pred = c.predict_rate(w, x)
    assert len(set(rate_pred)) > 1  # the labels differ between samples: agreement means something
    sm = c.build_spiking_brian(w, x, encoding="regular", t_sample=0.3, r_max=400.0, tau_syn=0.02)
    # structure: ON/OFF pairs, offset-coded input, graded pools only with divisive normalisation
    assert sm.output == "readout" and sm.compared == ("layer1", "layer2") and sm.readout_var == "o"
    assert {k: len(G) for k, G in sm.populations.items()} == {"layer0": 20, "layer1": 32, "layer2": 32, "readout": 3}
    assert np.array_equal(sm.populations["layer1"].sgn[:], np.r_[np.ones(16), -np.ones(16)])
    assert np.allclose(sm.populations["layer1"].bias[:], np.tile(-w["W1"].sum(axis=0), 2))  # input offset lo = -1
    assert [p.shape for p in sm.projections] == [(20, 32), (32, 32), (32, 3)]
    assert sm.dense_macs_per_inference() == 20 * 16 + 16 * 16 + 16 * 3
    pools = {o.name: len(o) for o in sm.brian.objects if o.name in ("spk_phsic_pool1", "spk_phsic_pool2")}
    assert pools == ({"spk_phsic_pool1": 4, "spk_phsic_pool2": 4} if mode == "divnorm" else {})  # one per group
    res = run_spiking(sm, seed=0)
    for layer in sm.compared:
        ref = sm.reference_rates[layer]
        assert ref.shape == (4, 32) and ref[:, :16].sum() > 0 and ref[:, 16:].sum() > 0  # both signs occur
        err = np.abs(ref - res.rates[layer])
        assert err.mean() <= 0.015 and err.max() <= 0.06, (layer, err.mean(), err.max())
    o_err = np.abs(res.readout - sm.reference_readout).mean()
    assert o_err <= 0.03 * np.abs(sm.reference_readout).mean(), o_err
    assert np.array_equal(res.predictions, rate_pred)
    for proj in sm.projections:
        assert res.stats.synops[proj.name] == int(res.counts_total[proj.pre].sum(axis=0) @ proj.fan_out)
    assert res.stats.spikes["readout"] == 0  # the readout integrates, it does not spike


def test_prefix_equals_a_run_of_that_length(numpy_target):
    """Trials are independent of their length (pool values of the previous trial never reach a spike)."""
    c = _circuit("divnorm")
    w, x = c.initial_weights(0), _inputs(3)
    sm = c.build_spiking_brian(w, x, encoding="regular", t_sample=0.05, r_max=400.0, tau_syn=0.01)
    long = run_spiking(sm, prefixes=(0.02,))
    activate("numpy")
    sm2 = c.build_spiking_brian(w, x, encoding="regular", t_sample=0.02, r_max=400.0, tau_syn=0.01)
    short = run_spiking(sm2)
    pre = long.prefixes[0.02]
    for name in sm.populations:
        assert np.array_equal(pre.counts_total[name], short.counts_total[name]), name
        assert np.array_equal(pre.counts[name], short.counts[name]), name
    assert np.array_equal(pre.readout, short.readout)
    assert pre.stats.to_dict() == short.stats.to_dict()
    assert pre.stats.spikes_total < long.stats.spikes_total


@pytest.mark.parametrize("mode", ["plain", "grouped", "divnorm"])
def test_rate_model_equals_batch_trainer(mode):
    """PHSIC.forward/predict_rate (streaming module) against PHSICTrainer.logits/predict (batch module)."""
    trainer = _trained(mode)  # trained weights, not the initial draw
    c = PHSIC.from_batch_params(trainer.state_dict()["params"])
    w = trainer.weights()
    x = _inputs(200, seed=7)
    logits = trainer.logits(torch.as_tensor(x)).numpy()
    np.testing.assert_allclose(c.forward(w, x)["o"], logits, rtol=0, atol=1e-12)
    assert np.array_equal(c.predict_rate(w, x), trainer.predict(x))
    assert len(set(trainer.predict(x))) > 1  # not a constant classifier
    np.testing.assert_allclose(rate_activities(c, w, x)["o"], logits, rtol=0, atol=1e-12)  # the twin's reference


def test_rate_scales_and_bounds(numpy_target):
    c = _circuit("divnorm")
    w, x = c.initial_weights(0), _inputs(6)
    act = c.forward(w, x)
    lam = activity_scales(c, w, x, quantile=1.0)
    assert lam == tuple(float(np.abs(act[f"out{k}"]).max()) for k in (1, 2))
    sm = c.build_spiking_brian(w, x, encoding="regular", t_sample=0.01, r_max=200.0, tau_syn=0.01, rate_scales=lam)
    assert sm.info["rate_bounds"][1:] == pytest.approx([1.0, 1.0])
    for k in (1, 2):  # reference rates are |h|/λ in the ON/OFF layout
        h = act[f"out{k}"]
        np.testing.assert_allclose(sm.reference_rates[f"layer{k}"], np.hstack([h.clip(0), (-h).clip(0)]) / lam[k - 1])
    res = run_spiking(sm)  # ρ ≤ 1: at most r_max·t_sample = 2 spikes per unit in 0.01 s (traces only approach h)
    assert max(res.counts_total[f"layer{k}"].max() for k in (1, 2)) <= 2
    # a scale so small that a unit would need more than one spike per step: refused, the layer named
    with pytest.raises(ConfigError, match=r"hidden layer 1 .*rate_scales\[0\]"):
        c.build_spiking_brian(w, x, encoding="regular", t_sample=0.01, r_max=200.0, tau_syn=0.01,
                              rate_scales=(1e-4, lam[1]))
    with pytest.raises(ConfigError, match="max_p"):  # Poisson's stricter bound
        c.build_spiking_brian(w, x, encoding="poisson", t_sample=0.01, r_max=5000.0, tau_syn=0.01, rate_scales=lam)


def test_bad_inputs():
    c = _circuit("divnorm")
    w, x = c.initial_weights(0), _inputs(2)
    kw = dict(encoding="regular", t_sample=0.01, r_max=200.0, tau_syn=0.01)
    with pytest.raises(ShapeError, match="'W2' has shape"):
        c.build_spiking_brian({**w, "W2": w["W2"].T[:, :8]}, x, **kw)
    with pytest.raises(ShapeError, match="missing"):
        c.build_spiking_brian({k: v for k, v in w.items() if k != "b_out"}, x, **kw)
    with pytest.raises(ShapeError, match=r"expected \(n_samples >= 1, N_0=20\)"):
        c.build_spiking_brian(w, x[:, :19], **kw)
    with pytest.raises(ShapeError, match="expected"):
        c.build_spiking_brian(w, x[0], **kw)
    with pytest.raises(ShapeError, match="NaN"):
        c.build_spiking_brian(w, np.full_like(x, np.nan), **kw)
    with pytest.raises(ConfigError, match="input_range"):
        c.build_spiking_brian(w, x, input_range=(0.0, 1.0), **kw)  # symmetric data under a unit range
    with pytest.raises(ConfigError, match="rate_scales"):
        c.build_spiking_brian(w, x, rate_scales=(1.0,), **kw)
    with pytest.raises(ConfigError, match="positive"):
        c.build_spiking_brian(w, x, rate_scales=(1.0, -2.0), **kw)
    with pytest.raises(ConfigError, match="unknown spike encoding"):
        c.build_spiking_brian(w, x, **{**kw, "encoding": "burst"})
    with pytest.raises(ConfigError, match="mode"):  # a mode the network does not have
        PHSIC.from_batch_params({**c.params.batch_params().__dict__, "mode": "softmax"})
    with pytest.raises(ConfigError, match="unknown key"):
        PHSIC.from_batch_params({"sizes": list(SIZES), "n_group": 4})
