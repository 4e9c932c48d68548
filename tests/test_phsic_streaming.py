"""The vectorised streaming twin (circuits.phsic.streaming) == the step-by-step torch twin (simulate_reference),
and the pieces of the streaming benchmarks/experiment that compute numbers (Brian2 run without monitors,
linear readout)."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch

from circuits.phsic import PHSIC
from circuits.phsic.streaming import StreamingPHSIC, stream_pair_indices
from neuromorph.errors import ShapeError

pytestmark = pytest.mark.filterwarnings("ignore:_get_vc_env is private")

ROOT = Path(__file__).resolve().parents[1]


def _script(name):
    spec = importlib.util.spec_from_file_location(name, ROOT / "experiments" / "phsic" / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _rel(got, ref):
    got, ref = np.asarray(got, dtype=float), np.asarray(ref, dtype=float)
    assert got.shape == ref.shape
    return np.abs(got - ref).max() / np.abs(ref).max()


def _chunks(n, sizes):
    """Split range(n) into consecutive chunks of the given sizes (cycled): windows cut at odd places."""
    out, s, i = [], 0, 0
    while s < n:
        e = min(n, s + sizes[i % len(sizes)])
        out.append((s, e))
        s, i = e, i + 1
    return out


@pytest.mark.parametrize("mode", ["plain", "divnorm"])
@pytest.mark.parametrize("pairs", [1, 3])
def test_vectorised_equals_simulate_reference(mode, pairs):
    """Weights after every update (≥ 3), b3 and the pending tail, fed in chunks that cut update windows."""
    circuit = PHSIC.verification_instance(mode, pairs_per_update=pairs)
    n_trials = 3 * pairs + 2 if pairs > 1 else 7  # P > 1: a trailing incomplete window that must not be applied
    weights, data = circuit.initial_weights(4), circuit.example_data(n_trials, 4)
    ref = circuit.simulate_reference(weights, data, dtype=torch.float64)
    twin = StreamingPHSIC(circuit, weights, dtype=torch.float64, record_history=True)
    for s, e in _chunks(n_trials, [2, 1, 4]):
        twin.process(*(data[k][s:e] for k in ("x_a", "x_b", "y_a", "y_b")))
    hist = twin.history_arrays()
    n_updates = n_trials // pairs
    assert twin.n_updates == n_updates >= 3 and twin.n_pairs == n_trials
    assert twin.pending == n_trials % pairs
    for name in circuit.plastic_names():
        assert ref.weights[name].shape == hist[name].shape == (n_updates, *weights[name].shape)
        assert np.abs(ref.weights[name][-1] - weights[name]).max() > 1e-3  # plasticity really acted
        assert np.abs(ref.weights[name][-1] - ref.weights[name][-2]).max() > 1e-5
        assert _rel(hist[name], ref.weights[name]) <= 1e-9, name
        np.testing.assert_array_equal(twin.weights()[name], hist[name][-1])  # the tail was not applied
    for k in range(1, circuit.n_layers + 1):  # running mean of eq. 61 after the last pair
        assert abs(twin.b3[k - 1] - ref.states[f"b3_{k}"][-1, -1, 0]) <= 1e-12 * max(1.0, abs(twin.b3[k - 1]))
    # the third factor of the last pair (the learn gate's M) as the circuit showed it
    M_ref = ref.states["M1"][-1, circuit.schedule.end("sample_b"), 0]
    assert abs(float(twin.last_window[1]["M"][-1]) - M_ref) <= 1e-12 * max(1.0, abs(M_ref))
    for name in ("W_out", "b_out"):  # the readout is fixed in the streaming circuit
        np.testing.assert_array_equal(twin.weights()[name], weights[name])


@pytest.mark.parametrize("mode", ["plain", "divnorm"])
def test_process_stream_pairs_like_trial_data(mode):
    """process_stream(x, labels, order) == simulate_reference on trial_data(x[order]): pairing, order, chunking."""
    circuit = PHSIC.verification_instance(mode, pairs_per_update=2)
    rng = np.random.default_rng(7)
    n = 9
    x = rng.uniform(-1, 1, size=(n, circuit.params.sizes[0]))
    labels = rng.integers(0, circuit.params.sizes[-1], size=n)
    labels[3] = labels[2]  # at least one same-class pair
    order = rng.permutation(n)
    weights = circuit.initial_weights(0)
    ref = circuit.simulate_reference(weights, circuit.trial_data(x[order], labels[order]))
    twin = StreamingPHSIC(circuit, weights, record_history=True)
    twin.process_stream(x, labels, order, chunk=3)
    for name in circuit.plastic_names():
        assert _rel(twin.history_arrays()[name], ref.weights[name]) <= 1e-9
    a, b = stream_pair_indices(order)
    assert a[0] == order[-1] and np.array_equal(a[1:], order[:-1]) and np.array_equal(b, order)


def test_float32_follows_float64():
    circuit = PHSIC.verification_instance("divnorm", pairs_per_update=1)
    weights, data = circuit.initial_weights(1), circuit.example_data(6, 1)
    runs = {}
    for dt in (torch.float32, torch.float64):
        twin = StreamingPHSIC(circuit, weights, dtype=dt)
        twin.process(data["x_a"], data["x_b"], data["y_a"], data["y_b"])
        runs[dt] = twin.weights()
    for name in circuit.plastic_names():
        assert _rel(runs[torch.float32][name], runs[torch.float64][name]) <= 1e-4
        assert runs[torch.float32][name].dtype == np.float64


def test_bad_inputs():
    circuit = PHSIC.verification_instance("plain")
    weights, data = circuit.initial_weights(0), circuit.example_data(3, 0)
    twin = StreamingPHSIC(circuit, weights)
    with pytest.raises(ShapeError, match="x_a"):
        twin.process(data["x_a"][:, :5], data["x_b"], data["y_a"], data["y_b"])
    with pytest.raises(ShapeError, match="one-hot"):
        twin.process(data["x_a"], data["x_b"], data["y_a"][:2], data["y_b"])
    with pytest.raises(ShapeError, match="labels"):
        twin.process_labels(data["x_a"], data["x_b"], np.array([0, 1, 5]), np.array([0, 1, 2]))
    with pytest.raises(ShapeError, match="NaN"):
        twin.process(np.full_like(data["x_a"], np.nan), data["x_b"], data["y_a"], data["y_b"])
    assert twin.n_pairs == 0


def test_brian_run_without_monitors_reads_final_weights():
    """The benchmark's procedure (one run over several updates, no monitors, final weights from the synapses),
    on the numpy target: equal to the vectorised twin and to simulate_reference's last update."""
    bench = _script("bench_phsic_brian")
    circuit = PHSIC.verification_instance("divnorm", sizes=(6, 8, 3), b3_init=(-2.0,), pairs_per_update=2)
    weights, data = circuit.initial_weights(2), circuit.example_data(6, 2)
    got = bench.run_runtime(circuit, weights, data, "numpy")
    ref = circuit.simulate_reference(weights, data)
    twin = StreamingPHSIC(circuit, weights)
    twin.process(data["x_a"], data["x_b"], data["y_a"], data["y_b"])
    for name in circuit.plastic_names():
        assert ref.weights[name].shape[0] == 3
        assert np.abs(got[name] - weights[name]).max() > 1e-4
        assert _rel(got[name], ref.weights[name][-1]) <= 1e-9
        assert _rel(got[name], twin.weights()[name]) <= 1e-9
    assert bench.synapse_count((784, 64, 10)) == 784 * 64 + 64 * 10
    assert bench.make_circuit("divnorm", 64, 1, 10).schedule.trial_steps == 6  # 2 x (L+1) + 2
    assert bench.make_circuit("plain", 64, 2, 10).schedule.trial_steps == 3


def test_readout_matches_sklearn():
    """The experiment's L-BFGS logistic regression reaches scikit-learn's optimum of the same objective."""
    from sklearn.linear_model import LogisticRegression

    svb = _script("streaming_vs_batch")
    rng = np.random.default_rng(3)
    n, d, C = 300, 6, 3
    centres = rng.normal(size=(C, d)) * 1.5
    y = rng.integers(0, C, size=n)
    f = centres[y] + rng.normal(size=(n, d)) * np.array([1, 2, 0.5, 3, 1, 1])
    f[:, 2] = 0.7  # a constant feature: left at 0 by the standardisation
    yt = rng.integers(0, C, size=100)
    ft = centres[yt] + rng.normal(size=(100, d))
    l2 = 1e-2
    r = svb.fit_readout(f, y, ft, yt, C, l2=l2, max_iter=500)
    mu, sd = f.mean(0), f.std(0, ddof=1)
    sd[sd < 1e-12] = 1.0
    sk = LogisticRegression(C=1.0 / (n * l2), tol=1e-12, max_iter=10000).fit((f - mu) / sd, y)
    W = r["W"].numpy()
    # softmax weights are defined up to a per-feature shift across classes; both fits are centred by the
    # penalty, so they agree directly
    np.testing.assert_allclose(W.T, sk.coef_, atol=1e-5)
    np.testing.assert_allclose(r["test_acc"], sk.score((ft - mu) / sd, yt))
    assert 0.5 < r["test_acc"] < 1.0 and r["iterations"] > 1


def test_phsic_objective_from_the_paper():
    """The experiment's per-layer objective equals pHSIC(Z,Z) − γ pHSIC(Y,Z) written out from eqs. 26, 34, 35."""
    svb = _script("streaming_vs_batch")
    circuit = PHSIC.verification_instance("plain", sizes=(6, 8, 5, 3))
    p = circuit.params
    weights = circuit.initial_weights(5)
    rng = np.random.default_rng(2)
    x = rng.uniform(-1, 1, size=(40, 6))
    labels = rng.integers(0, 3, size=40)
    got = svb.phsic_losses(circuit, weights, x, labels, n_batches=1, seed=9, batch=16)
    rows = np.random.default_rng(np.random.SeedSequence([9, 0x105])).permutation(40)[:16]
    yc = np.eye(3)[labels[rows]] - 1.0 / 3
    yc /= np.linalg.norm(yc, axis=1, keepdims=True)
    Ky = yc @ yc.T
    h = x[rows]
    for k in (1, 2):
        a = h @ weights[f"W{k}"]
        z = np.where(a > 0, a, p.leaky_slope * a)
        Kz = np.exp(-((z[:, None] - z[None]) ** 2).sum(-1) / (2 * p.sigma**2))
        want = ((Kz - Kz.mean()) * Kz).mean() - p.gamma * ((Ky - Ky.mean()) * Kz).mean()
        assert abs(got[k - 1] - want) <= 1e-12 * max(1.0, abs(want)), k
        h = z
