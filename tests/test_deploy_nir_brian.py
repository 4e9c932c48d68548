"""The reverse direction: our NIR export read back with nir.read and simulated as a Brian2 model
(:func:`neuromorph.deploy.nirbrian.run_nir_brian`) gives, spike for spike, the point form's own float64
simulation (:func:`neuromorph.deploy.pointnet.run_point_float`), for twocomp (recurrent, three input pathways
per hidden cell) and pHSIC (ON/OFF pairs, per-unit biases, an integrating CubaLI readout)."""

from __future__ import annotations

import numpy as np
import pytest

nir = pytest.importorskip("nir")


def _nets():
    from neuromorph.circuit import get_circuit

    tc = get_circuit("twocomp", n_in=4, n_hidden=5, n_inh=2, n_out=3)
    yield "twocomp", tc, tc.initial_weights(0), np.random.default_rng(1).random((3, 4))
    ph = get_circuit("phsic", sizes=[6, 8, 3], mode="plain")
    rng = np.random.default_rng(3)
    w = {"W1": rng.normal(0, 0.6, (6, 8)), "W_out": rng.normal(0, 0.6, (8, 3)), "b_out": np.array([0.1, -0.2, 0.05])}
    yield "phsic", ph, w, rng.uniform(-1, 1, (3, 6))


@pytest.mark.parametrize("which", ["twocomp", "phsic"])
def test_nir_file_runs_in_brian2_spike_for_spike(which, tmp_path):
    from neuromorph.deploy.nirbrian import run_nir_brian
    from neuromorph.deploy.nirio import TAU_INF, to_nir, write_nir
    from neuromorph.deploy.pointnet import extract, regular_input_spikes, run_point_float

    _, c, w, x = next(n for n in _nets() if n[0] == which)
    net = extract(c, w, x, t_sample=0.2, r_max=200.0, tau_syn=0.02)
    ip = net.populations[net.input_name]
    spikes = regular_input_spikes(net.input_rates, ip.r_max, net.dt, net.trial_steps, ip.phase0)
    write_nir(tmp_path / "m.nir", to_nir(net))
    graph = nir.read(str(tmp_path / "m.nir"))
    got = run_nir_brian(graph, spikes)  # dt and the subtract reset from the file's metadata
    ref = run_point_float(net, spikes, tau_mem=TAU_INF)
    assert set(got) == set(ref) - {net.input_name}
    n_spikes = 0
    for name, arr in got.items():
        if arr.dtype == bool:
            assert np.array_equal(arr, ref[name]), name
            n_spikes += int(arr.sum())
        else:  # the integrating readout's membrane
            np.testing.assert_allclose(arr, ref[name], rtol=1e-9, atol=1e-12)
    assert n_spikes > 50  # the comparison is not between silent networks
    # and the trials are independent: trial 1 alone gives trial 1's spikes
    alone = run_nir_brian(graph, spikes[:, 1:2])
    for name, arr in alone.items():
        if arr.dtype == bool:
            assert np.array_equal(arr[:, 0], got[name][:, 1])


def test_nir_to_brian_errors_are_clear(tmp_path):
    from neuromorph.deploy.nirbrian import run_nir_brian
    from neuromorph.errors import ConfigError

    g = nir.NIRGraph(nodes={"input": nir.Input(input_type=np.array([2])),
                            "pool": nir.SumPool2d(kernel_size=np.array([2, 2]), stride=np.array([1, 1]), padding=np.array([0, 0])),
                            "output": nir.Output(output_type=np.array([2]))},
                     edges=[("input", "pool"), ("pool", "output")])
    with pytest.raises(ConfigError, match="SumPool2d.*not point-neuron nodes"):
        run_nir_brian(g, np.zeros((3, 1, 2), bool), dt=1e-3)
    lif = nir.NIRGraph(nodes={"input": nir.Input(input_type=np.array([2])), "W": nir.Linear(weight=np.ones((2, 2))),
                              "n": nir.LIF(tau=np.ones(2) * 0.01, r=np.ones(2), v_leak=np.zeros(2), v_threshold=np.ones(2)),
                              "output": nir.Output(output_type=np.array([2]))},
                       edges=[("input", "W"), ("W", "n"), ("n", "output")])
    with pytest.raises(ConfigError, match="no 'dt'"):
        run_nir_brian(lif, np.zeros((3, 1, 2), bool))


def test_nir_lif_by_hand():
    """A NIR LIF (v_reset rule) fed by one input spike per step through W = 0.004: every spike adds
    r·W/τ = 0.4 (a delta of unit area), every step the Euler update multiplies v by 1 − dt/τ = 0.9."""
    from neuromorph.deploy.nirbrian import run_nir_brian

    g = nir.NIRGraph(nodes={"input": nir.Input(input_type=np.array([1])), "W": nir.Linear(weight=np.array([[0.004]])),
                            "n": nir.LIF(tau=np.array([0.01]), r=np.array([1.0]), v_leak=np.array([0.0]),
                                         v_threshold=np.array([1.0]), v_reset=np.array([0.0])),
                            "output": nir.Output(output_type=np.array([1]))},
                     edges=[("input", "W"), ("W", "n"), ("n", "output")])
    out = run_nir_brian(g, np.ones((10, 1, 1), bool), dt=1e-3)["n"][:, 0, 0]
    # Brian2's step: update (v = 0.9 v), threshold, synapses (+0.4), reset (v = 0, after the synapses):
    # v before the threshold: 0, 0.36, 0.684, 0.9756, 1.238 (spike), 0, 0.36, ...: spikes at steps 4 and 9
    assert np.flatnonzero(out).tolist() == [4, 9]


def test_cli_simulates_a_nir_file(tmp_path):
    """`neuromorph deploy FILE.nir --inputs X.npy` runs the file in Brian2 and predicts as the point form does."""
    import json
    import subprocess
    import sys

    from neuromorph.deploy.nirio import TAU_INF, to_nir, write_nir
    from neuromorph.deploy.pointnet import extract, predict_from_counts, regular_input_spikes, run_point_float

    _, c, w, x = next(n for n in _nets() if n[0] == "twocomp")
    net = extract(c, w, x, t_sample=0.1, r_max=200.0, tau_syn=0.02)
    write_nir(tmp_path / "m.nir", to_nir(net))
    np.save(tmp_path / "x.npy", x)
    r = subprocess.run([sys.executable, "-m", "neuromorph.cli", "deploy", str(tmp_path / "m.nir"), "--inputs",
                        str(tmp_path / "x.npy"), "--backend", "numpy", "--out", str(tmp_path / "o")],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    rep = json.loads((tmp_path / "o" / "brian_run.json").read_text())
    ip = net.populations[net.input_name]
    ref = run_point_float(net, regular_input_spikes(x, ip.r_max, net.dt, net.trial_steps, ip.phase0), tau_mem=TAU_INF)
    pred, counts = predict_from_counts(ref[net.output], net.readout_fraction)
    assert rep["predictions"] == pred.tolist() and rep["output_score"] == counts.tolist()
    assert np.load(tmp_path / "o" / "brian_run.npz")["O"].shape == (net.trial_steps, 3, 3)
    bad = subprocess.run([sys.executable, "-m", "neuromorph.cli", "deploy", str(tmp_path / "m.nir")],
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "--inputs" in bad.stderr
