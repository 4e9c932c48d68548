"""pHSIC's point-neuron form (LReLU ON/OFF pairs, integrating readout): read off its Brian2 twin, checked against
the circuit's own parameters, then run in integers (Loihi fixed point) and through NIR in Norse, both compared
with the rate model's readout o; grp+div (graded pools) is declared not exportable, per population."""

from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture(scope="module")
def plain_net():
    from neuromorph.circuit import get_circuit
    from neuromorph.deploy.pointnet import extract

    c = get_circuit("phsic", sizes=[6, 8, 3], mode="plain")
    rng = np.random.default_rng(3)
    w = {"W1": rng.normal(0, 0.6, (6, 8)), "W_out": rng.normal(0, 0.6, (8, 3)), "b_out": np.array([0.1, -0.2, 0.05])}
    x = rng.uniform(-1, 1, (4, 6))
    net = extract(c, w, x, t_sample=0.5, r_max=200.0, tau_syn=0.02)  # 0.25 s window: counts of a 16-unit layer
    return c, w, x, net


def test_point_form_of_phsic_plain_matches_its_parameters(plain_net):
    c, w, x, net = plain_net
    assert net.exportable, net.reasons()
    lam = net.info["rate_scales"][0]
    slope = c.params.leaky_slope
    h = net.populations["layer1"]
    # ON unit n: ρ = [a]₊/λ, OFF unit: ρ = slope·[−a]₊/λ with a = I + bias, bias = lo·ΣW1 (lo = −1)
    g = h.gains["I_ff"]
    np.testing.assert_allclose(g, np.r_[np.full(8, 1 / lam), np.full(8, -slope / lam)], rtol=1e-9)
    bias = -w["W1"].sum(axis=0)
    np.testing.assert_allclose(h.bias, np.r_[bias / lam, -slope * bias / lam], rtol=1e-7, atol=1e-12)
    assert h.kind == "spiking" and h.tau_syn == pytest.approx(0.02) and h.tau_u is None and h.fidelity == "approximate"
    r = net.populations["readout"]
    assert r.kind == "integrating" and r.fidelity == "approximate"
    np.testing.assert_allclose(r.gains["I_out"], 1.0)
    np.testing.assert_allclose(r.bias, w["b_out"])


def _o_units(values, fp, net):
    """Fixed-point readout sums → the twin's o (mean over the window): v units are 64·θ·dt per unit of o."""
    window = int(round(net.readout_fraction * net.trial_steps))
    return values / (window * 64 * fp.vth["readout"] * net.dt)


def test_phsic_fixed_point_and_norse_follow_the_rate_readout(plain_net, tmp_path):
    from neuromorph.deploy.pointnet import fixed_point, predict_from_counts, regular_input_spikes, run_fixed_point

    c, w, x, net = plain_net
    o_rate = c.forward(w, x)["o"]
    ip = net.populations[net.input_name]
    spikes = regular_input_spikes(net.input_rates, ip.r_max, net.dt, net.trial_steps, ip.phase0)
    fp = fixed_point(net, bits=8)
    out = run_fixed_point(net, fp, spikes)
    _, sums = predict_from_counts(out["readout"], net.readout_fraction)
    o_fp = _o_units(sums, fp, net)
    # spike-count granularity of a small layer and the OFF units' coarse mantissas (their gain is slope = 1 %
    # of the ON units' within one projection exponent): a few % of o's range. Before the trace-mean and
    # readout-scale corrections in fixed_point this was 20 %.
    scale = np.abs(o_rate).max()
    assert np.abs(o_fp - o_rate).max() < 0.08 * scale, (o_fp, o_rate)
    pytest.importorskip("nir")
    pytest.importorskip("norse")
    from neuromorph.deploy.nirio import norse_round_trip, to_nir, write_nir

    path = tmp_path / "phsic.nir"
    graph = to_nir(net)
    assert type(graph.nodes["readout"]).__name__ == "CubaLI"
    write_nir(path, graph)
    pred, incr, back = norse_round_trip(path, spikes, dt=net.dt, readout_fraction=net.readout_fraction)
    o_norse = incr / (net.readout_fraction * net.t_sample)  # the integrator's increase / window length
    assert np.abs(o_norse - o_rate).max() < 0.08 * scale, (o_norse, o_rate)
    assert np.abs(o_norse - o_fp).max() < 0.08 * scale


def test_phsic_divnorm_is_declared_per_population():
    from neuromorph.circuit import get_circuit
    from neuromorph.deploy.pointnet import extract

    c = get_circuit("phsic", sizes=[6, 8, 3], mode="divnorm", n_groups=2)
    w = {k: np.asarray(v, float) for k, v in c.initial_weights(0).items()}
    net = extract(c, w, np.random.default_rng(0).uniform(-1, 1, (2, 6)), t_sample=0.02, r_max=200.0, tau_syn=0.02)
    assert not net.exportable
    h = net.populations["layer1"]
    assert h.fidelity == "not exportable" and "gain" in h.reason and "zbar" in h.reason and "graded" in h.reason
    assert net.populations["readout"].fidelity == "approximate"  # the readout alone has its point form
    assert any("pool" in r for r in net.reasons())


def test_learning_lint_reads_phsics_event_driven_updates():
    """pHSIC's Brian2 model updates its weights in SynapticPathways (learn/apply events), not in per-step code:
    the lint must read those (it once found no terms and said 'maps'). The rule needs the presynaptic
    activity of another sample (out_a), which no pre trace holds."""
    from neuromorph.circuit import get_circuit
    from neuromorph.deploy.lint import learning_lint
    from neuromorph.deploy.targets import get_target

    c = get_circuit("phsic", sizes=[6, 8, 3], mode="plain", batch=4)
    w = {k: np.asarray(v, float) for k, v in c.initial_weights(0).items()}
    rules = {r["matrix"]: r for r in learning_lint(c, w, get_target("loihi2"))}
    assert set(rules) == {"W1"}
    assert rules["W1"]["terms"] and rules["W1"]["verdict"] == "does not map"
    assert "out_a_pre" in rules["W1"]["reasons"][0]
