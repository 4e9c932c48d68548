"""Spiking twins: encoders, LIF rate curve, synaptic filtering, spike/SynOp counts, the twocomp twin, compare.

Tolerances (stated where they are checked):

* LIF: measured count over 1 s vs :func:`lif_rate` within 1 spike/s + 2 % (Nengo's ``test_lif``).
* regular: count == floor(Σ r_max·ρ·dt) exactly; Poisson: total count within 4 σ of its binomial mean.
* synaptic trace: time-averaged trace == Wᵀρ within 1 % (regular input; Poisson: within 4 σ of the mean).
* twocomp twin (regular spikes, 1 s per sample, readout = last 0.5 s, r_max 200 Hz → resolution 0.01 in ρ):
  mean |ρ_rate − ρ_spike| ≤ 0.015 and max ≤ 0.06 per population, prediction agreement ≥ 90 % on 30 samples.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from circuits.twocomp import TwoComp
from neuromorph.brian import BrianModel
from neuromorph.brian.devices import activate, check_target
from neuromorph.circuit import Circuit
from neuromorph.compare import compare_rate_spiking
from neuromorph.errors import BackendUnavailableError, ConfigError
from neuromorph.spiking import (
    ENCODINGS,
    LIF,
    RateToSpikes,
    SpikingModel,
    count_synops,
    inference_schedule,
    lif_current,
    lif_equations,
    lif_rate,
    make_encoder,
    run_spiking,
    spike_projection,
    spiking_group_equations,
    trial_counts,
)

pytestmark = pytest.mark.filterwarnings("ignore:_get_vc_env is private")

DT = 1e-4


@pytest.fixture
def numpy_target():
    activate("numpy")
    yield
    activate("numpy")


def _run(objects, duration, namespace=None):
    from brian2 import Network, second

    net = Network(*objects)
    net.run(duration * second, namespace=namespace or {})


# ---- rate curves (no Brian2) ------------------------------------------------------------------------------------
def test_lif_rate_closed_form_and_inverse():
    j = np.array([-1.0, 0.5, 1.0, 1.5, 3.0, 10.0])
    r = lif_rate(j, 0.02, 0.002)
    assert np.all(r[:3] == 0)
    assert r[3] == pytest.approx(1 / (0.002 + 0.02 * math.log1p(1 / 0.5)))
    assert np.all(np.diff(r[2:]) > 0)
    rates = np.array([0.0, 2.0, 50.0, 200.0, 450.0])
    assert np.allclose(lif_rate(lif_current(rates)), rates, rtol=1e-6, atol=0)
    assert lif_current(1.0) == 1.0  # below ~1/(tau_ref + 37 tau_rc) j - 1 underflows double precision
    with pytest.raises(ConfigError, match="cannot fire"):
        lif_current(600.0)  # above 1/tau_ref = 500 Hz


def test_encoder_rate_curves_are_shared():
    rho = np.array([-0.5, 0.0, 0.25, 1.0])
    for enc in ("poisson", "regular", "lif"):
        assert np.allclose(make_encoder(enc, r_max=100.0).rates(rho), [0, 0, 25, 100])


# ---- errors ------------------------------------------------------------------------------------------------------
def test_bad_encoding_names_allowed_values():
    with pytest.raises(ConfigError) as exc:
        make_encoder("bursty")
    for name in ENCODINGS:
        assert repr(name) in str(exc.value)
    with pytest.raises(ConfigError, match="allowed"):
        spiking_group_equations("clip(u, 0, 1)", "bursty", dt=DT)
    with pytest.raises(ConfigError, match="allowed"):
        RateToSpikes("lif_rate")
    c = TwoComp()
    with pytest.raises(ConfigError, match="'poisson', 'regular', 'lif'"):
        compare_rate_spiking(c, c.initial_weights(0), np.zeros((2, 8)), np.zeros(2), encoding="bursty", target="numpy")


def test_invalid_rates_per_step():
    with pytest.raises(ConfigError, match="poisson"):
        spiking_group_equations("clip(u, 0, 1)", "poisson", dt=DT, r_max=1.0 / DT)  # p = 1
    with pytest.raises(ConfigError, match="max_p"):
        spiking_group_equations("clip(u, 0, 1)", "poisson", dt=DT, r_max=3000.0)  # p = 0.3 > 0.25
    spiking_group_equations("clip(u, 0, 1)", "poisson", dt=DT, r_max=3000.0, max_p=0.5)  # explicitly allowed
    with pytest.raises(ConfigError, match="once per step"):
        spiking_group_equations("clip(u, 0, 1)", "regular", dt=DT, r_max=2e4)
    with pytest.raises(ConfigError, match="tau_ref"):
        spiking_group_equations("clip(u, 0, 1)", "lif", dt=DT, r_max=600.0)
    with pytest.raises(ConfigError, match="rate_bound"):
        spiking_group_equations("clip(u, 0, inf)", "poisson", dt=DT, r_max=500.0, rate_bound=10.0)


def test_circuit_contract_defaults_name_the_circuit():
    class Bare(Circuit):
        name = "bare"
        Params = type("P", (), {})

        def __init__(self):
            self.params = None

        schedule = None
        initial_weights = example_data = build_brian = simulate_reference = lambda *a, **k: None

    with pytest.raises(NotImplementedError, match="'bare'.*spiking"):
        Bare().build_spiking_brian({}, np.zeros((1, 1)), encoding="poisson", t_sample=0.1, r_max=200.0, tau_syn=0.01)
    with pytest.raises(NotImplementedError, match="'bare'"):
        Bare().predict_rate({}, np.zeros((1, 1)))


# ---- Brian2 groups (numpy target) ------------------------------------------------------------------------------------
def test_lif_group_matches_closed_form(numpy_target):
    from brian2 import SpikeMonitor

    n = 40
    j = np.linspace(0.5, 12.0, n)
    eqs = lif_equations("j", tau_rc=0.02, tau_ref=0.002, dynamics="j : 1")
    G = eqs.make_group(n, "lif_direct")
    G.j = j
    # LIF encoder: firing at r_max·ρ by inverting its own rate curve
    enc = LIF(r_max=300.0)
    rho = np.linspace(0.0, 1.0, 21)
    E = spiking_group_equations("rho_in", enc, dt=DT, dynamics="rho_in : 1").make_group(len(rho), "lif_enc")
    E.rho_in = rho
    m1, m2 = SpikeMonitor(G), SpikeMonitor(E)
    _run([G, E, m1, m2], 1.0)
    measured = np.asarray(m1.count[:], float)
    assert np.allclose(measured, lif_rate(j, 0.02, 0.002), atol=1, rtol=0.02), np.c_[measured, lif_rate(j)]
    assert np.allclose(np.asarray(m2.count[:], float), enc.rates(rho), atol=1, rtol=0.02)


def test_regular_count_is_floor_of_integrated_rate(numpy_target):
    from brian2 import SpikeMonitor

    r_max, n_steps = 200.0, 1500
    rho = np.array([0.0, 0.013, 0.1, 0.37, 0.5, 0.731, 0.99, 1.0])
    eqs = spiking_group_equations("rho_c*clip(t/(0.1*second), 0, 1)", "regular", dt=DT, r_max=r_max, dynamics="rho_c : 1")
    G = eqs.make_group(len(rho), "reg")
    G.rho_c = rho
    mon = SpikeMonitor(G)
    _run([G, mon], n_steps * DT)
    # Euler: φ after n steps = Σ_k r_max·ρ(t_k)·dt with the left-point ramp ρ(t_k) = ρ_c·min(k·dt/0.1 s, 1)
    ramp = np.clip(np.arange(n_steps) * DT / 0.1, 0, 1)
    integral = r_max * DT * np.outer(rho, ramp).sum(axis=1)
    frac = integral - np.floor(integral)
    assert np.all(((frac > 1e-6) & (frac < 1 - 1e-6)) | (rho == 0))  # no near-ties at integers
    assert np.array_equal(np.asarray(mon.count[:]), np.floor(integral).astype(int))


def test_poisson_count_within_four_sigma(numpy_target):
    from brian2 import SpikeMonitor

    n, r_max, rho, n_steps = 400, 200.0, 0.6, 2500
    G = spiking_group_equations("rho_c", "poisson", dt=DT, r_max=r_max, dynamics="rho_c : 1").make_group(n, "poi")
    G.rho_c = rho
    mon = SpikeMonitor(G)
    import brian2

    brian2.seed(3)
    _run([G, mon], n_steps * DT)
    p = r_max * rho * DT
    mean, sigma = n * n_steps * p, math.sqrt(n * n_steps * p * (1 - p))
    total = int(np.sum(mon.count[:]))
    assert abs(total - mean) <= 4 * sigma, (total, mean, sigma)


@pytest.mark.parametrize("encoding", ["regular", "poisson"])
def test_filtered_trace_mean_equals_weighted_rate(numpy_target, encoding):
    """E[s] = Σ_i w_i ρ_i: regular input within 1 %, Poisson input within 4 σ of the time average."""
    import brian2
    from brian2 import StateMonitor

    r_max, tau_syn, n_steps, skip = 200.0, 0.02, 12000, 2000
    rho = np.array([0.3, 0.55, 0.8, 0.12])
    W = np.array([[0.7, -0.2], [0.4, 0.9], [-0.5, 0.3], [1.2, 0.0]])
    pre = spiking_group_equations("rho_c", encoding, dt=DT, r_max=r_max, dynamics="rho_c : 1").make_group(4, "pre")
    pre.rho_c = rho
    # the postsynaptic twin never fires (ρ = 0): only its trace matters here
    post = spiking_group_equations("0*I_in", encoding, dt=DT, r_max=r_max, inputs=("I_in",), tau_syn=tau_syn).make_group(2, "post")
    S, proj = spike_projection(pre, post, W, "I_in", r_max=r_max, tau_syn=tau_syn, name="S_pre_post")
    assert proj.increment == pytest.approx(1 / (r_max * tau_syn))
    assert list(proj.fan_out) == [2, 2, 2, 1]
    mon = StateMonitor(post, "I_in", record=True)
    brian2.seed(1)
    _run([pre, post, S, mon], n_steps * DT)
    measured = np.asarray(mon.I_in_)[:, skip:].mean(axis=1)
    expected = W.T @ rho
    if encoding == "regular":
        assert np.allclose(measured, expected, rtol=0.01, atol=2e-3), (measured, expected)
    else:
        # trace variance Σ w²ρ/(2 r_max τ); the time average over T has ~T/(2τ) independent samples
        var = (W**2).T @ rho / (2 * r_max * tau_syn)
        sem = np.sqrt(var * 2 * tau_syn / ((n_steps - skip) * DT))
        assert np.all(np.abs(measured - expected) <= 4 * sem), (measured, expected, sem)


def _tiny_model(W1, W2, rows, t_sample, encoding="regular", r_max=200.0):
    """3 input units (per-trial rates from a TimedArray) into two 2-unit populations that never fire."""
    from brian2 import TimedArray, second

    sch = inference_schedule(t_sample, DT)
    T = sch.trial_steps
    x_in = TimedArray(np.asarray(rows, float), dt=T * DT * second, name="x_tiny")
    flags = sch.brian_flags()
    X = spiking_group_equations("clamp_x*x_tiny(t, i)", encoding, dt=DT, r_max=r_max).make_group(
        3, "tinyX", header=flags, reset_flag="reset_zero"
    )
    outs, syns, projs = {}, [], []
    for name, W in (("A", W1), ("B", W2)):
        G = spiking_group_equations("0*I_x", encoding, dt=DT, r_max=r_max, inputs=("I_x",)).make_group(
            2, f"tiny{name}", header=flags, reset_flag="reset_zero"
        )
        S, P = spike_projection(X, G, W, "I_x", r_max=r_max, tau_syn=0.01, name=f"tinyW{name}", pre_name="X", post_name=name)
        outs[name] = G
        syns.append(S)
        projs.append(P)
    bm = BrianModel(objects=[X, *outs.values(), *syns], schedule=sch, n_trials=len(rows), dt=DT, namespace={"x_tiny": x_in})
    enc = make_encoder(encoding, r_max=r_max)
    return SpikingModel(
        brian=bm,
        populations={"X": X, **outs},
        encoders={"X": enc, "A": enc},
        projections=projs,
        output="X",
        t_sample=t_sample,
        readout_fraction=1.0,
        rate_steps=7,
    )


def test_synops_hand_count(numpy_target):
    rows = [[0.21, 0.53, 0.93], [0.87, 0.0, 0.33]]  # r_max·x·t_sample: 2.1 5.3 9.3 / 8.7 0 3.3 (no ties)
    W_dense = np.array([[0.5, -0.3], [0.2, 0.1], [1.0, 0.7]])
    W_sparse = np.array([[0.5, 0.0], [0.2, 0.1], [0.0, 0.0]])
    sm = _tiny_model(W_dense, W_sparse, rows, t_sample=0.05)
    res = run_spiking(sm)
    # regular spikes, phase reset per trial: exactly floor(r_max·x·t_sample) spikes per unit and trial
    expected = np.floor(200.0 * np.asarray(rows) * 0.05).astype(int)
    assert np.array_equal(res.counts_total["X"], expected)
    assert np.array_equal(res.counts["X"], expected)  # readout_fraction = 1: the whole trial
    per_unit = expected.sum(axis=0)
    st = res.stats
    assert st.spikes == {"X": int(per_unit.sum()), "A": 0, "B": 0}
    assert st.synops["tinyWA"] == 2 * per_unit.sum()  # every input spike reaches both outputs
    assert st.synops["tinyWB"] == 1 * per_unit[0] + 2 * per_unit[1]  # fan-out 1, 2, 0
    assert st.synops_per_inference == pytest.approx((st.synops["tinyWA"] + st.synops["tinyWB"]) / 2)
    assert st.spikes_per_sample["X"] == pytest.approx(per_unit.sum() / 2)
    assert st.dense_macs_per_inference == (6 + 6) * 7
    assert np.array_equal(res.predictions, np.argmax(expected, axis=1))
    assert res.rates["X"] == pytest.approx(expected / (200.0 * 0.05))
    # pure-numpy helpers agree with the run
    assert count_synops({"X": np.repeat([0, 1, 2], per_unit)}, sm.projections) == st.synops
    steps = np.array([0, 499, 500, 999, 1000])
    assert trial_counts(np.array([0, 1, 1, 0, 0]), steps, 2, 2, 500, window_steps=250).tolist() == [[0, 1], [1, 0]]


# ---- twocomp twin ---------------------------------------------------------------------------------------------------
def test_twocomp_twin_poisson_runs_numpy(numpy_target):
    """Short Poisson run on the numpy target: structure, counts and SynOps bookkeeping."""
    c = TwoComp(t_free=100)
    w = c.initial_weights(0)
    x = c.example_data(3, 1)["x"]
    sm = c.build_spiking_brian(w, x, encoding="poisson", t_sample=0.03, r_max=200.0, tau_syn=0.01)
    assert sm.rate_steps == 100 and sm.output == "O" and set(sm.reference_rates) == {"H", "Inh", "O"}
    res = run_spiking(sm, seed=0)
    assert res.counts["O"].shape == (3, 3) and res.counts_total["H"].shape == (3, 12)
    by_pre = {p.name: p for p in sm.projections}
    for name, proj in by_pre.items():
        assert res.stats.synops[name] == int(res.counts_total[proj.pre].sum(axis=0) @ proj.fan_out)
    assert res.stats.spikes["X"] > 0
    assert np.array_equal(c.predict_rate(w, x), np.argmax(sm.reference_rates["O"], axis=1))


@pytest.mark.standalone
def test_twocomp_twin_agrees_with_rate_model(tmp_path):
    """Regular spikes, 1 s per sample, 30 samples, one cpp_standalone build."""
    try:
        check_target("cpp")
    except BackendUnavailableError as exc:
        pytest.skip(str(exc))
    c = TwoComp(t_free=100)  # a settled rate model: the twin runs for 1 s
    w = c.initial_weights(0)
    x = c.example_data(30, 1)["x"]
    activate("cpp")
    try:
        sm = c.build_spiking_brian(w, x, encoding="regular", t_sample=1.0, r_max=200.0, tau_syn=0.02)
        res = run_spiking(sm, build_dir=tmp_path / "build", seed=0)
    finally:
        activate("numpy")
    for pop in ("H", "Inh", "O"):
        err = np.abs(sm.reference_rates[pop] - res.rates[pop])
        assert err.mean() <= 0.015 and err.max() <= 0.06, (pop, err.mean(), err.max())
    agreement = np.mean(res.predictions == c.predict_rate(w, x))
    assert agreement >= 0.9, agreement
    for proj in sm.projections:
        assert res.stats.synops[proj.name] == int(res.counts_total[proj.pre].sum(axis=0) @ proj.fan_out)


def test_compare_report_numpy(tmp_path, numpy_target):
    c = TwoComp(t_free=100)
    w = c.initial_weights(0)
    d = c.example_data(3, 1)
    rep = compare_rate_spiking(c, w, d["x"], d["y"], t_samples=(0.01, 0.02), encoding="regular", target="numpy", seed=1)
    assert [r.t_sample for r in rep.rows] == [0.01, 0.02]
    row = rep.rows[-1]
    assert set(row.state_error) == {"H", "Inh", "O"}
    assert row.dense_macs_per_inference == 264 * 100
    assert 0 <= row.agreement <= 1 and row.synops_per_inference > 0
    table = rep.table()
    assert "| t_sample (s) | spiking acc | rate acc | agreement |" in table and table.count("\n| 0.0") == 2
    path = tmp_path / "out" / "compare.json"
    rep.write_json(path)
    data = json.loads(path.read_text())
    assert data["encoding"] == "regular" and len(data["rows"]) == 2
    assert [p.name for p in path.parent.iterdir()] == ["compare.json"]  # no temporary file left


def test_compare_accepts_encoder_instance(numpy_target):
    c = TwoComp(t_free=100)
    d = c.example_data(2, 1)
    rep = compare_rate_spiking(
        c, c.initial_weights(0), d["x"], d["y"], t_samples=(0.01,), encoding=RateToSpikes("regular", 150.0), target="numpy"
    )
    assert rep.r_max == 150.0 and rep.encoding.startswith("regular (") and "max_p" in rep.encoding
    assert rep.rows[0].mean_rate_hz["X"] <= 150.0


def test_regular_phase0_half_threshold(numpy_target):
    """phase0 = φ₀: count == floor(φ₀ + Σ r_max·ρ·dt) from every trial start; Poisson has no phase."""
    rho = np.array([0.13, 0.37, 0.5, 0.91])
    T = 400  # 40 ms per trial, two trials
    sch = inference_schedule(T * DT, DT)
    eqs = spiking_group_equations("rate_in", RateToSpikes("regular", 200.0, phase0=0.5), dt=DT,
                                  dynamics="rate_in : 1 (constant)")
    assert eqs.initial == {"phi": 0.5}
    G = eqs.make_group(4, "phase0_grp", header=sch.brian_flags(), reset_flag="reset_zero")
    G.rate_in = rho
    from brian2 import SpikeMonitor

    mon = SpikeMonitor(G)
    _run([G, mon], 2 * T * DT)
    steps = np.rint(np.asarray(mon.t_[:]) / DT).astype(int)
    counts = trial_counts(np.asarray(mon.i[:]), steps, 4, 2, T)
    expected = np.floor(0.5 + 200.0 * rho * T * DT + 1e-9).astype(int)
    assert np.array_equal(counts, np.vstack([expected, expected]))  # the second trial restarts at φ₀
    first = np.array([steps[np.asarray(mon.i[:]) == n].min() for n in range(4)])
    assert np.array_equal(first, np.ceil(0.5 / (200.0 * rho * DT) - 1e-9).astype(int) - 1)  # half the latency
    with pytest.raises(ConfigError, match="no phase"):
        RateToSpikes("poisson", 200.0, phase0=0.5)
    with pytest.raises(ConfigError, match=r"\[0, 1\)"):
        RateToSpikes("regular", 200.0, phase0=1.0)
