"""CorInfoMax spiking twin (dense variant) against its rate model, on the small verification instance.

Tolerance: regular spikes at r_max 400 Hz, 0.3 s per sample, readout = last 0.15 s (count resolution 1/60 in
normalised rate): mean |ρ_rate − ρ_spike| ≤ 0.015 and max ≤ 0.05 per layer; predictions agree on ≥ 5 of 6.
"""

from __future__ import annotations

import numpy as np
import pytest

from circuits.corinfomax import CorInfoMax
from neuromorph.brian.devices import activate
from neuromorph.spiking import run_spiking

pytestmark = pytest.mark.filterwarnings("ignore:_get_vc_env is private")


def test_corinfomax_twin_matches_rate_model():
    c = CorInfoMax.verification_instance(2)
    w = c.initial_weights(0)
    x = c.example_data(6, 1)["x"]
    activate("numpy")
    sm = c.build_spiking_brian(w, x, encoding="regular", t_sample=0.3, r_max=400.0, tau_syn=0.02)
    assert sm.output == "layer2" and sm.compared == ("layer1", "layer2")
    by_name = {p.name: p for p in sm.projections}
    assert set(by_name) == {"spk_W_ff0", "spk_W_ff1", "spk_W_fb1", "spk_B1", "spk_B2"}
    assert (by_name["spk_W_fb1"].pre, by_name["spk_W_fb1"].post) == ("layer2", "layer1")
    assert (by_name["spk_B1"].pre, by_name["spk_B1"].post) == ("layer1", "layer1")  # lateral, autapses included
    res = run_spiking(sm, seed=0)
    for layer in sm.compared:
        err = np.abs(sm.reference_rates[layer] - res.rates[layer])
        assert err.mean() <= 0.015 and err.max() <= 0.05, (layer, err.mean(), err.max())
    rate_pred = c.predict_rate(w, x)
    assert rate_pred.shape == (6,)
    assert np.sum(res.predictions == rate_pred) >= 5
    for proj in sm.projections:
        assert res.stats.synops[proj.name] == int(res.counts_total[proj.pre].sum(axis=0) @ proj.fan_out)
    assert res.stats.dense_macs_per_inference == (12 * 8 + 8 * 4 + 4 * 8 + 8 * 8 + 4 * 4) * c.params.t_free


def test_corinfomax_sparse_twin_not_implemented():
    c = CorInfoMax.verification_instance(2, variant="sparse")
    with pytest.raises(NotImplementedError, match="dense variant"):
        c.build_spiking_brian(c.initial_weights(0), np.zeros((1, 12)), encoding="poisson", t_sample=0.1, r_max=200.0, tau_syn=0.02)
