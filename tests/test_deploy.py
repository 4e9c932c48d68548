"""neuromorph.deploy: quantisation, Loihi fixed-point steps checked by hand, point-neuron reading of a twin,
lint verdicts, NIR round trip through Norse, and the `neuromorph deploy` command end to end (small twocomp)."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from neuromorph.deploy.quantize import quantize_weights
from neuromorph.deploy.targets import Target, get_target, register_target
from neuromorph.errors import ConfigError


# ---- quantisation -----------------------------------------------------------------------------------------
def test_mantissa_exponent_quantisation_by_hand():
    w = np.array([[0.5, -0.26], [0.1, 0.0]])
    q = quantize_weights(w, bits=4, fmt="mantissa_exp")
    # q_max = 7; e = ceil(log2(0.5/7)) = ceil(-3.807) = -3, step 1/8: codes rint(4, -2.08, 0.8, 0)
    assert q.exponent == -3 and q.scale == 0.125
    np.testing.assert_array_equal(q.codes, [[4, -2], [1, 0]])
    np.testing.assert_allclose(q.values, [[0.5, -0.25], [0.125, 0.0]])
    assert q.max_abs_error == pytest.approx(0.025)
    assert q.zeroed_fraction == 0.0


def test_symmetric_integer_quantisation_by_hand():
    w = np.array([0.5, -0.26, 0.1, 0.01])
    q = quantize_weights(w, bits=4, fmt="int")  # scale 0.5/7: codes rint(7, -3.64, 1.4, 0.14)
    np.testing.assert_array_equal(q.codes, [7, -4, 1, 0])
    assert q.scale == pytest.approx(0.5 / 7)
    assert q.zeroed_fraction == pytest.approx(0.25)


def test_quantisation_error_shrinks_with_bits():
    w = np.random.default_rng(0).normal(size=(50, 40))
    errs = [quantize_weights(w, bits=b).rel_rms_error for b in (2, 3, 4, 6, 8)]
    assert all(a > b for a, b in zip(errs, errs[1:]))
    assert errs[-1] < 0.02


def test_bad_bits_and_format():
    with pytest.raises(ConfigError, match="weight bits"):
        quantize_weights(np.ones(3), bits=1)
    with pytest.raises(ConfigError, match="format"):
        quantize_weights(np.ones(3), bits=8, fmt="float")


# ---- targets ----------------------------------------------------------------------------------------------
def test_targets_are_data_and_extensible():
    assert get_target("loihi1").neurons_per_core == 1024 and get_target("loihi1").fan_in_per_core == 4096
    assert get_target("xylo").max_inputs == 16 and get_target("xylo").weight_bits == 8
    assert get_target("loihi2", weight_bits=4).weight_bits == 4
    with pytest.raises(ConfigError, match="unknown target 'truenorth'"):
        get_target("truenorth")
    register_target(Target(name="testchip", title="test chip", weight_format="int", weight_bits=5, neurons_per_core=3))
    assert get_target("testchip").neurons_per_core == 3


# ---- Loihi fixed point, by hand -----------------------------------------------------------------------------
def test_loihi_lif_steps_by_hand():
    from neuromorph.deploy.pointnet import loihi_lif_step

    # du = 409 -> effective 410: u decays by 3686/4096, truncated toward zero; input and threshold << 6
    u = v = np.zeros(1, np.int64)
    seq = []
    for a in (5, 5, 0, -20, 0):
        u, v, s = loihi_lif_step(u, v, np.array([a]), du=409, dv=0, vth=10)
        seq.append((int(u[0]), int(v[0]), bool(s[0])))
    # 1: u = 320, v = 320 (not > 640)
    # 2: u = floor(320*3686/4096) + 320 = 287 + 320 = 607; v = 927 > 640: spike, v = 0
    # 3: u = floor(607*3686/4096) = 546; v = 546
    # 4: u = floor(546*3686/4096) - 1280 = 491 - 1280 = -789; v = 546 - 789 = -243
    # 5: u = -floor(789*3686/4096) = -710 (toward zero); v = -953
    assert seq == [(320, 320, False), (607, 0, True), (546, 546, False), (-789, -243, False), (-710, -953, False)]


def test_loihi_state_wraps_and_clips_at_24_bits():
    from neuromorph.deploy.pointnet import loihi_lif_step

    # u = floor(8388000*4095/4096) + 100*64 = 8385952 + 6400 = 8392352 > 2**23 -> wraps to 8392352 - 2**24
    u, v, s = loihi_lif_step(np.array([8388000]), np.array([0]), np.array([100]), du=0, dv=0, vth=1000)
    assert int(u[0]) == 8392352 - 2**24 == -8384864
    assert int(v[0]) == -8384864 and not s[0]
    # v saturates at -(2**23 - 1)
    u, v, s = loihi_lif_step(np.array([-8388000]), np.array([-8000000]), np.array([0]), du=0, dv=0, vth=1000)
    assert int(v[0]) == -(2**23 - 1)


def test_fixed_point_network_delay_and_summation_by_hand():
    from neuromorph.deploy.pointnet import FixedPointNet, PointNet, PointPopulation, PointProjection, run_fixed_point

    pops = {"in": PointPopulation("in", 2, "input", "regular", 200.0), "out": PointPopulation("out", 1, "spiking", "regular", 200.0)}
    net = PointNet(populations=pops, projections=[PointProjection("W", "in", "out", "I", np.zeros((2, 1)), 1.0, 1.0)],
                   output="out", dt=1e-4, t_sample=4e-4, readout_fraction=1.0, input_rates=None, input_name="in")
    # du = 4095: u forgets everything each step (u = a << 6); no leak on v; threshold 2 << 6 = 128
    fp = FixedPointNet(du={"out": 4095}, dv={"out": 0}, vth={"out": 2}, bias={"out": 0},
                       weights={}, mantissa={"W": np.array([[3], [-1]], np.int64)}, exponent={"W": 0}, order=["out"],
                       edges=[("W", "in", "out")])
    spikes_in = np.zeros((4, 1, 2), bool)
    spikes_in[0, 0] = [True, True]  # step 0: both inputs -> a = 3 - 1 = 2 arrives at step 1
    spikes_in[1, 0] = [True, False]  # step 1: input 0 -> a = 3 at step 2
    out = run_fixed_point(net, fp, spikes_in)["out"][:, 0, 0]
    # step 1: u = 128, v = 128 (not > 128); step 2: u = 192, v = 320 > 128: spike; step 3: nothing
    assert out.tolist() == [False, False, True, False]
    # exponent -1: the summed input is shifted right with floor: 2 >> 1 = 1 (u = 64), 3 >> 1 = 1 (u = 64):
    # v = 64, then 128 (not > 128), then 128 + 0: no spike at all
    fp.exponent["W"] = -1
    assert not run_fixed_point(net, fp, spikes_in)["out"].any()
    fp.exponent["W"], fp.vth["out"] = -1, 1  # threshold 64: v = 64 (not > 64), then 128 > 64 at step 2
    assert run_fixed_point(net, fp, spikes_in)["out"][:, 0, 0].tolist() == [False, False, True, False]


# ---- the twin as point neurons ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def small_twocomp():
    from neuromorph.circuit import get_circuit

    c = get_circuit("twocomp", n_in=4, n_hidden=5, n_inh=2, n_out=3)
    return c, c.initial_weights(0)


def test_point_form_of_twocomp_matches_its_parameters(small_twocomp):
    from neuromorph.deploy.pointnet import extract

    c, w = small_twocomp
    p = c.params
    x = np.random.default_rng(1).random((2, 4))
    net = extract(c, w, x, t_sample=0.01, r_max=200.0, tau_syn=0.02)
    H = net.populations["H"]
    g_sum = p.g_leak + p.g_basal + p.g_apical
    assert H.gains == pytest.approx({"I_basal": p.g_basal / g_sum, "I_apical": p.g_apical / g_sum, "I_inh": -1 / g_sum})
    assert H.tau_u == pytest.approx(c.dt / p.dt_over_tau / g_sum)
    assert H.tau_syn == pytest.approx(0.02) and H.n_compartments == 3 and H.clip == (0.0, 1.0)
    assert net.populations["O"].gains == pytest.approx({"I_ff": 1.0})
    assert net.populations["X"].kind == "input" and net.exportable
    np.testing.assert_allclose(net.input_rates, x)
    by_name = {q.name: q for q in net.projections}
    np.testing.assert_allclose(by_name["spk_W_xh"].weight, w["W_xh"])
    assert by_name["spk_W_xh"].increment == pytest.approx(1 / (200.0 * 0.02))


def test_learning_lint_twocomp(small_twocomp):
    from neuromorph.deploy.lint import learning_lint

    c, w = small_twocomp
    rules = {r["matrix"]: r for r in learning_lint(c, w, get_target("loihi2"))}
    # ΔW_xh ∝ r_x (r_h − r_h^free): pre activity × (post activity − post snapshot): traces x1, y1, y2
    assert rules["W_xh"]["verdict"] == "maps with conditions"
    assert rules["W_xh"]["factors"]["r_free_post"] == "post:snapshot"
    # ΔW_ho ∝ r_h r_o − r_h^free r_o^free: needs the presynaptic free-phase value, which no pre trace holds
    assert rules["W_ho"]["verdict"] == "does not map"
    assert rules["W_ho"]["factors"]["r_free_pre"] == "pre:snapshot"
    assert {r["verdict"] for r in learning_lint(c, w, get_target("xylo"))} == {"n/a"}


def test_hardware_lint_xylo_and_loihi1(small_twocomp):
    from neuromorph.deploy.lint import hardware_lint
    from neuromorph.deploy.pointnet import extract
    from neuromorph.deploy.quantize import quantize_all

    c, w = small_twocomp
    net = extract(c, w, np.full((1, 4), 0.5), t_sample=0.01, r_max=200.0, tau_syn=0.02)
    xy = get_target("xylo")
    findings, parts = hardware_lint(net, xy, quantize_all(w, bits=8, fmt="int"))
    kinds = {f.kind for f in findings if f.severity == "violation"}
    assert "multi_compartment" in kinds  # Xylo has point neurons only
    assert "inputs" not in kinds  # 4 inputs <= 16
    tiny = Target(name="tiny", title="tiny", neurons_per_core=2, fan_in_per_core=3, fan_out_per_core=1000)
    findings, parts = hardware_lint(net, tiny, quantize_all(w, bits=8, fmt="mantissa_exp"))
    assert parts["H"]["cores"] == 3  # 5 neurons, 2 per core
    fan_in = [f for f in findings if f.kind == "fan_in" and f.where == "population H"]
    assert fan_in and fan_in[0].value.startswith("9 ")  # X (4) + O (3) + Inh (2) presynaptic neurons > 3


# ---- NIR round trip through Norse ---------------------------------------------------------------------------
def test_nir_round_trip_norse_rate(tmp_path):
    """One input unit at ρ = 1 (200 Hz) → weight 1 → one output unit: the output fires at r_max·W·ρ = 200 Hz
    once its trace has settled (τ_syn = 20 ms), in Norse reading our file."""
    pytest.importorskip("nir")
    pytest.importorskip("norse")
    from neuromorph.deploy.nirio import norse_round_trip, to_nir, write_nir
    from neuromorph.deploy.pointnet import PointNet, PointPopulation, PointProjection, regular_input_spikes

    pops = {"in": PointPopulation("in", 1, "input", "regular", 200.0),
            "out": PointPopulation("out", 1, "spiking", "regular", 200.0, tau_syn=0.02, gains={"I": 1.0})}
    net = PointNet(populations=pops, projections=[PointProjection("W", "in", "out", "I", np.ones((1, 1)), 1.0, 1 / (200 * 0.02))],
                   output="out", dt=1e-4, t_sample=0.5, readout_fraction=0.8, input_rates=np.ones((1, 1)), input_name="in")
    path = tmp_path / "m.nir"
    write_nir(path, to_nir(net))
    spikes = regular_input_spikes(net.input_rates, 200.0, 1e-4, 5000)
    pred, counts, back = norse_round_trip(path, spikes, dt=1e-4, readout_fraction=0.8)
    assert set(back.nodes) == {"input", "W", "out", "output"}
    # last 0.4 s at 200 Hz: 80 spikes (±2 for phase and the trace's ripple)
    assert 78 <= int(counts[0, 0]) <= 82


# ---- end to end -----------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("deploy")
    cfg = root / "tiny.toml"
    cfg.write_text(
        'circuit = "twocomp"\nseed = 0\nname = "tiny"\n[params]\nn_in = 64\nn_hidden = 12\nn_inh = 2\nn_out = 10\n'
        'batch = 16\n[train]\ndataset = "digits"\nepochs = 1\nn_train = 300\nn_test = 30\n'
    )
    out = root / "run"
    r = subprocess.run([sys.executable, "-m", "neuromorph.cli", "run", str(cfg), "--out", str(out), "--no-progress"],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    return out


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "neuromorph.cli", *args], capture_output=True, text=True, timeout=900)


@pytest.mark.slow  # trains a tiny run, then four Brian2 runtime twins, the fixed-point run and Norse (~1-3 min)
def test_deploy_end_to_end(tiny_run, tmp_path):
    pytest.importorskip("nir")
    pytest.importorskip("norse")
    out = tmp_path / "dep"
    r = _cli("deploy", str(tiny_run), "--target", "loihi2", "--out", str(out), "--samples", "6", "--t-samples", "0.02",
             "0.04", "--bits", "8", "2", "--backend", "numpy")
    assert r.returncode == 0, r.stderr[-3000:]
    rep = json.loads((out / "deploy.json").read_text())
    for key in ("target", "weight_bits", "accuracy_float", "accuracy_quantized", "violations", "cores",
                "synops_per_inference", "energy_per_inference_j", "nir_file"):
        assert key in rep
    assert rep["target"] == "loihi2" and rep["weight_bits"] == 8 and rep["nir_file"] == "model.nir"
    assert (out / "model.nir").is_file() and (out / "deploy.md").is_file()
    assert {b["bits"] for b in rep["bits_curve"]} == {8, 2}
    assert rep["fixed_point"]["available"] and 0 <= rep["fixed_point"]["accuracy"] <= 1
    assert "accuracy" in rep["nir"]
    # energy = counts × the table's per-op figures
    c = rep["energy"]["inference"]["counts"]
    assert rep["energy_per_inference_j"]["loihi"] == pytest.approx(c["synops"] * 27.1e-12 + c["neuron_updates"] * 81e-12)
    assert rep["synops_per_inference"] > 0 and rep["cores"] >= 3
    t = rep["timings"]  # every stage timed, wall and CPU; the stages add up to at most the total
    stages = ("load_s", "quantise_s", "twin_s", "rate_s", "extract_s", "fixed_point_s", "lint_s", "nir_export_s", "norse_s")
    assert set(stages) <= set(t) and set(stages) <= set(t["cpu"])
    assert sum(t[k] for k in stages) <= t["total_s"] + 1e-6
    assert "| twin_s |" in (out / "deploy.md").read_text()
    for fig in ("accuracy_vs_bits.png", "energy_vs_accuracy.png", "quantization_error.png"):
        assert (out / "figures" / fig).is_file()


def test_deploy_errors_are_one_line(tmp_path):
    pytest.importorskip("nir")
    r = _cli("deploy", str(tmp_path), "--target", "truenorth", "--out", str(tmp_path / "x"))
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "unknown target 'truenorth'" in r.stderr
    r = _cli("deploy", str(tmp_path), "--target", "loihi2")
    assert r.returncode == 2 and "no manifest.json" in r.stderr and r.stderr.count("\n") == 1
    r = _cli("deploy", str(tmp_path), "--target", "loihi2", "--weight-bits", "1")
    assert r.returncode == 2 and "--weight-bits must be an integer in 2..32" in r.stderr


@pytest.mark.slow
def test_deploy_checkpoint_mismatch_is_one_line(tiny_run, tmp_path):
    pytest.importorskip("nir")
    # a manifest whose parameters do not match the checkpoint
    bad = tmp_path / "bad"
    bad.mkdir()
    man = json.loads((tiny_run / "manifest.json").read_text())
    man["config"]["params"]["n_hidden"] = 13
    (bad / "manifest.json").write_text(json.dumps(man))
    (bad / "checkpoint.npz").write_bytes((tiny_run / "checkpoint.npz").read_bytes())
    r = _cli("deploy", str(bad), "--target", "loihi2")
    # the runner's reader (load_run) finds the edited config: its digest is no longer the manifest's
    assert r.returncode == 2 and "digest" in r.stderr and r.stderr.count("\n") == 1


def test_learning_lint_falls_back_to_the_verification_instance():
    """URFB trained with batch > 1 has no Brian2 training model (the circuit refuses it with a
    NotImplementedError): deploy lints the same rule on the verification instance and says so, instead of
    failing after the twin runs."""
    from circuits.urfb.circuit import URFB
    from neuromorph.deploy.core import lint_learning_rules
    from neuromorph.deploy.lint import learning_lint

    trained = URFB().with_params(sizes=[6, 5, 4, 3], batch=20)
    weights = trained.initial_weights(0)
    with pytest.raises(NotImplementedError):
        learning_lint(trained, weights, get_target("loihi2"))
    entries = lint_learning_rules(trained, weights, get_target("loihi2"))
    # one entry per plastic matrix of the verification instance (W and R of every layer), each with the reason
    small = trained.verification_circuit()
    assert sorted(e["matrix"] for e in entries) == sorted(small.plastic_names())
    assert all("batch = 1" in e["note"] for e in entries)
    assert {e["verdict"] for e in entries} <= {"maps", "maps with conditions", "does not map"}
