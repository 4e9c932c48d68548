"""phsic, the streaming two-point circuit: Brian2 (numpy, cython, cpp_standalone) == torch twin == numpy.

Also: averaged over all ordered pairs of a batch (b3 held at the batch mean of b2), the streaming update is
exactly −η times the batch-form pHSIC gradient (eq. 40), computed here with torch autograd of the loss
written from the paper (not with circuits.phsic.trainer).
"""

import dataclasses

import numpy as np
import pytest
import torch

import neuromorph.equivalence as eq
from circuits.phsic import PHSIC, PHSICCircuitParams, PHSICParams
from neuromorph.brian.devices import check_target
from neuromorph.circuit import get_circuit, make_params
from neuromorph.equivalence import verify
from neuromorph.errors import BackendUnavailableError, ConfigError, ShapeError

pytestmark = pytest.mark.filterwarnings("ignore:_get_vc_env is private")

MODES = ("plain", "divnorm")


def _available(target):
    try:
        check_target(target)
    except BackendUnavailableError as exc:
        pytest.skip(str(exc))


def _verify(circuit, backend, monkeypatch):
    """verify() at 1e-9 over >= 3 updates; plasticity really moved the weights in the Brian2 run."""
    captured = {}
    real_run_model = eq.run_model

    def spy(model, **kw):  # keep the Brian2 trace that verify compares
        trace, timings = real_run_model(model, **kw)
        captured["trace"] = trace
        return trace, timings

    monkeypatch.setattr(eq, "run_model", spy)
    report = verify(circuit, backend)
    assert report.passed, report.table()
    assert report.max_rel_error <= 1e-9
    assert report.n_updates >= 3
    assert {v.name for v in report.variables} == set(circuit.state_names()) | set(circuit.plastic_names())
    by_name = {v.name: v for v in report.variables}
    assert by_name["z1"].compared == report.n_trials * 3 * circuit.params.sizes[1]  # every phase boundary
    w0 = circuit.initial_weights(0)
    brian = captured["trace"]
    for name in circuit.plastic_names():
        hist = brian.weights[name]
        assert hist.shape == (report.n_updates, *w0[name].shape)
        assert np.abs(hist[0] - w0[name]).max() > 1e-4, name
        assert np.abs(hist[2] - hist[1]).max() > 1e-5, name
    # same-class and different-class pairs both occur, and the third factor takes both signs
    ky = brian.states["ky"][:, -1, 0]
    assert np.any(np.isclose(ky, 1.0)) and np.any(np.isclose(ky, -0.5))
    M = brian.states["M1"][:, -1, 0]
    assert M.min() < 0 < M.max()
    return report


@pytest.mark.parametrize("mode", MODES)
def test_verify_numpy(mode, monkeypatch):
    _verify(PHSIC.verification_instance(mode), "numpy", monkeypatch)


@pytest.mark.standalone
@pytest.mark.extra
# the default mode's instance runs on cpp_standalone in tests/test_contract.py already (the same build)
@pytest.mark.parametrize("mode", [m for m in MODES if m != PHSICParams().mode])
def test_verify_cpp(mode, monkeypatch):
    _available("cpp")
    _verify(PHSIC.verification_instance(mode), "cpp", monkeypatch)


# ---- a third implementation: plain numpy, from the module docstring's equations ----------------------------------
def _forward(p, W, x):
    """Settled rates of one sample: per hidden layer z, g = f'(a), forwarded h, and (divnorm) v, r, u."""
    layers, h = [], x
    for k in range(1, len(p.sizes) - 1):
        a = h @ W[f"W{k}"]
        z = np.where(a > 0, a, p.leaky_slope * a)
        g = np.where(a > 0, 1.0, p.leaky_slope)
        layer = {"z": z, "g": g}
        if p.mode == "divnorm":
            c = p.n_groups
            zg = z.reshape(c, -1)
            na = zg.shape[1]
            zhat = zg - zg.mean(axis=1, keepdims=True)
            u = ((zhat**2).sum(axis=1) + p.delta) / na
            w = u ** (1 - p.power)
            layer.update(u=u, v=w - w.mean(), r=(zhat / u[:, None] ** p.power).ravel(), na=na)
            h = layer["r"]
        else:
            h = z
        layer["h"] = h
        layers.append(layer)
    return layers, h @ W["W_out"] + W["b_out"]


def numpy_streaming(p, weights, data):
    """Pair after pair: memory of sample a, b1-b3, M, the Hebbian products, mean over each update window."""
    W = {k: np.array(v, dtype=float) for k, v in weights.items()}
    L, C = len(p.sizes) - 2, p.sizes[-1]
    b3 = [p.b3_init[k] if p.b3_init else 0.0 for k in range(L)]
    acc = {k: np.zeros_like(W[f"W{k + 1}"]) for k in range(L)}
    records, history = [], {f"W{k + 1}": [] for k in range(L)}
    for t in range(len(data["x_a"])):
        A, o_a = _forward(p, W, data["x_a"][t])
        Bs, o_b = _forward(p, W, data["x_b"][t])
        yc_a, yc_b = data["y_a"][t] - 1.0 / C, data["y_b"][t] - 1.0 / C
        ky = yc_a @ yc_b / np.sqrt((yc_a @ yc_a) * (yc_b @ yc_b))  # centred cosine (eq. 35)
        rec = {"ky": ky, "o_a": o_a}
        pre_a, pre_b = data["x_a"][t], data["x_b"][t]
        for k in range(L):
            a, b = A[k], Bs[k]
            d = b["v"] - a["v"] if p.mode == "divnorm" else b["z"] - a["z"]
            b1 = d @ d
            kz = np.exp(-b1 / (2 * p.sigma**2))
            b2 = p.gamma * ky - 2 * kz
            b3[k] = p.beta_avg * b2 + (1 - p.beta_avg) * b3[k]
            M = -(b2 - b3[k]) * kz / p.sigma**2
            if p.mode == "divnorm":
                mod = np.repeat(M * d, a["na"])
                coef = 2 * (1 - p.power) / a["na"]
                dW = coef * mod * (np.outer(pre_b, b["r"] * b["g"]) - np.outer(pre_a, a["r"] * a["g"]))
            else:
                mod = np.full(len(a["z"]), M)
                dW = M * (b["z"] - a["z"]) * (np.outer(pre_b, b["g"]) - np.outer(pre_a, a["g"]))
            acc[k] += p.lr_local * dW
            rec[k] = {"a": a, "b": b, "b1": b1, "b2": b2, "b3": b3[k], "M": M, "mod": mod}
            pre_a, pre_b = a["h"], b["h"]
        records.append(rec)
        if (t + 1) % p.pairs_per_update == 0:
            for k in range(L):
                W[f"W{k + 1}"] = W[f"W{k + 1}"] + acc[k] / p.pairs_per_update
                acc[k] = np.zeros_like(acc[k])
                history[f"W{k + 1}"].append(W[f"W{k + 1}"].copy())
    return records, {k: np.array(v) for k, v in history.items()}


def _rel(got, ref):
    got, ref = np.asarray(got, dtype=float), np.asarray(ref, dtype=float)
    assert got.shape == ref.shape
    return np.abs(got - ref).max() / max(np.abs(ref).max(), 1e-300)


@pytest.mark.parametrize("mode", MODES)
def test_independent_numpy_matches_torch(mode):
    circuit = PHSIC.verification_instance(mode)
    p, sch = circuit.params, circuit.schedule
    weights, data = circuit.initial_weights(1), circuit.example_data(4, 1)
    trace = circuit.simulate_reference(weights, data, dtype=torch.float64)
    records, history = numpy_streaming(p, weights, data)
    ea, eb, eu = sch.end("sample_a"), sch.end("sample_b"), sch.end("update")
    S = trace.states
    errs = {}
    for t, rec in enumerate(records):
        errs[f"ky {t}"] = _rel(S["ky"][t, eb, 0], rec["ky"])
        errs[f"o {t}"] = _rel(S["o"][t, ea], rec["o_a"])
        for k in range(circuit.n_layers):
            q, r = rec[k], f"{k + 1}"
            errs[f"z_a{r} {t}"] = _rel(S["z" + r][t, ea], q["a"]["z"])
            errs[f"z_b{r} {t}"] = _rel(S["z" + r][t, eb], q["b"]["z"])
            for name in ("b1", "b2", "b3", "M"):
                errs[f"{name}{r} {t}"] = _rel(S[f"{name}_{r}" if name != "M" else "M" + r][t, eb, 0], q[name])
            errs[f"mod{r} {t}"] = _rel(S["mod" + r][t, eu], q["mod"])
            if mode == "divnorm":
                errs[f"r_a{r} {t}"] = _rel(S["r" + r][t, ea], q["a"]["r"])
                errs[f"u_b{r} {t}"] = _rel(S["u" + r][t, eb], q["b"]["u"])
    for name, hist in history.items():
        assert hist.shape == trace.weights[name].shape == (2, *weights[name].shape)
        errs[name] = _rel(trace.weights[name], hist)
        assert np.abs(hist[0] - weights[name]).max() > 1e-4
    # the settled readout (predict_rate's forward pass) is what the circuit showed at the end of sample a
    errs["forward o"] = _rel(S["o"][0, ea], circuit.forward(weights, data["x_a"][:1])["o"][0])
    worst = max(errs, key=errs.get)
    assert errs[worst] <= 1e-12, (worst, errs[worst])
    assert circuit.predict_rate(weights, data["x_a"]).shape == (4,)


@pytest.mark.parametrize("mode", MODES)
def test_longer_phases_give_the_same_numbers(mode):
    """Every signal has settled when a gate reads it: adding steps to every phase changes nothing."""
    short = PHSIC.verification_instance(mode)
    p = short.params
    long = PHSIC.verification_instance(mode, t_sample=p.steps_sample + 2, t_update=p.steps_update + 1)
    weights, data = short.initial_weights(2), short.example_data(6, 2)
    a, b = short.simulate_reference(weights, data), long.simulate_reference(weights, data)
    for name in short.plastic_names():
        assert _rel(b.weights[name], a.weights[name]) <= 1e-14
    for phase in ("sample_a", "sample_b", "update"):
        for name in ("z1", "z2", "b3_1", "b3_2"):
            got = b.states[name][:, long.schedule.end(phase)]
            assert _rel(got, a.states[name][:, short.schedule.end(phase)]) <= 1e-14, (phase, name)
    with pytest.raises(ConfigError, match="t_sample"):
        PHSIC.verification_instance(mode, t_sample=p.min_t_sample - 1 or -1)


# ---- streaming average == batch gradient (eq. 12 / 41 / 48 vs eq. 40) ----------------------------------------------
def _kernel_input(z, p):
    """s = z (plain) or v = u^(1-p) centred across groups, u = (Σ ẑ² + δ)/n_α (eqs. 17-18)."""
    if p.mode == "plain":
        return z
    m = z.shape[0]
    zg = z.reshape(m, p.n_groups, -1)
    zhat = zg - zg.mean(dim=2, keepdim=True)
    u = ((zhat**2).sum(dim=2) + p.delta) / zg.shape[2]
    w = u ** (1 - p.power)
    return w - w.mean(dim=1, keepdim=True)


def _forward_out(z, p):
    if p.mode == "plain":
        return z
    m = z.shape[0]
    zg = z.reshape(m, p.n_groups, -1)
    zhat = zg - zg.mean(dim=2, keepdim=True)
    u = ((zhat**2).sum(dim=2, keepdim=True) + p.delta) / zg.shape[2]
    return (zhat / u**p.power).reshape(m, -1)


def _phsic(A, B):
    """Empirical pHSIC (eq. 34): (1/m²) Σ_ij (A_ij − mean A) B_ij."""
    return ((A - A.mean()) * B).mean()


@pytest.mark.parametrize("mode", MODES)
def test_streaming_average_equals_batch_gradient(mode):
    """mean over all m² ordered pairs (i, j) of the two-point update = −η dL/dW, L = pHSIC(Z,Z) − γ pHSIC(Y,Z).

    The known constant: eq. 40 carries 1/m² over ordered pairs (i = j pairs contribute nothing), so the sum
    over the m(m−1)/2 unordered pairs of two-point updates is −η (m²/2) dL/dW. The centring of eq. 11 is
    the batch mean: b3 is started at the batch mean of b2 = γ k_y − 2 k_z and frozen (β = 0).
    """
    m = 5
    base = PHSIC.verification_instance(mode)
    p0 = base.params
    weights = base.initial_weights(3)
    rng = np.random.default_rng(11)
    X = rng.uniform(-1, 1, size=(m, p0.sizes[0]))
    labels = np.array([0, 0, 1, 2, 1])
    C = p0.sizes[-1]
    Y = np.eye(C)[labels]
    yc = torch.as_tensor(Y - 1.0 / C)
    Ky = (yc @ yc.T) / (yc.norm(dim=1)[:, None] * yc.norm(dim=1)[None, :])  # eq. 35

    # batch form: per layer, autograd of the layer-local loss with the layer's input detached
    grads, mean_b2 = [], []
    h = torch.as_tensor(X)
    for k in range(1, len(p0.sizes) - 1):
        Wk = torch.as_tensor(weights[f"W{k}"]).clone().requires_grad_(True)
        z = torch.nn.functional.leaky_relu(h @ Wk, p0.leaky_slope)
        s = _kernel_input(z, p0)
        d2 = ((s[:, None, :] - s[None, :, :]) ** 2).sum(-1)
        Kz = torch.exp(-d2 / (2 * p0.sigma**2))
        loss = _phsic(Kz, Kz) - p0.gamma * _phsic(Ky, Kz)
        (g,) = torch.autograd.grad(loss, Wk)
        grads.append(g.numpy())
        mean_b2.append(float(p0.gamma * Ky.mean() - 2 * Kz.detach().mean()))
        h = _forward_out(z, p0).detach()

    circuit = PHSIC(dataclasses.replace(p0, pairs_per_update=m * m, beta_avg=0.0, b3_init=tuple(mean_b2)))
    i, j = np.meshgrid(np.arange(m), np.arange(m), indexing="ij")
    a, b = j.ravel(), i.ravel()  # every ordered pair: sample a = j, sample b = i
    data = {"x_a": X[a], "x_b": X[b], "y_a": Y[a], "y_b": Y[b]}
    trace = circuit.simulate_reference(weights, data, dtype=torch.float64)
    assert {k: v.shape[0] for k, v in trace.weights.items()} == {"W1": 1, "W2": 1}
    eta = p0.lr_local
    for k, g in enumerate(grads, start=1):
        dW = trace.weights[f"W{k}"][0] - weights[f"W{k}"]
        assert np.abs(g).max() > 1e-5
        err = _rel(dW, -eta * g)
        assert err <= 1e-10, (k, err)


# ---- consistency with the batch form's parameters and trainer ---------------------------------------------------------
def test_params_and_trainer():
    circuit = PHSIC.verification_instance("divnorm")
    bp = circuit.params.batch_params()
    assert type(bp) is PHSICParams and bp.sizes == circuit.params.sizes and bp.mode == "divnorm"
    trainer = circuit.make_trainer(6, 3, seed=5, dtype=torch.float64)
    assert type(trainer).__name__ == "PHSICTrainer"
    assert trainer.params == bp
    w = trainer.weights()
    w0 = circuit.initial_weights(5)
    assert set(w) == set(w0)
    for k in w0:
        np.testing.assert_allclose(w[k], w0[k], rtol=0, atol=1e-15)
    # the runner draws a phase timeline with the trainer's weights: the circuit accepts them
    trace = circuit.simulate_reference(w, circuit.trial_data(np.zeros((1, 6)), np.array([2])))
    assert trace.states["z1"].shape == (1, circuit.schedule.trial_steps, 8)
    with pytest.raises(ShapeError, match="sizes"):
        circuit.make_trainer(7, 3, seed=0)


def test_registry_and_defaults():
    c = get_circuit("phsic")
    assert isinstance(c, PHSIC) and c.params.sizes == PHSICParams().sizes and c.params.mode == "divnorm"
    v = c.verification_circuit()
    assert v.params.sizes == (6, 8, 6, 3) and v.params.mode == "divnorm"
    assert get_circuit("phsic", mode="plain").verification_circuit().params.mode == "plain"
    assert isinstance(make_params(PHSICCircuitParams, {"sigma": 2, "b3_init": [1, 2, 3]}), PHSICCircuitParams)


def test_verification_circuit_applies_overrides_on_the_small_instance():
    """`neuromorph verify phsic --set ...`: the overrides land on the small instance, not on the 784-1024 network."""
    c = get_circuit("phsic")
    v = c.verification_circuit(sigma=0.07, pairs_per_update=3)
    assert v.params.sizes == (6, 8, 6, 3) and v.params.sigma == 0.07 and v.params.pairs_per_update == 3
    assert v.params.mode == "divnorm" and v.params.delta == 0.1  # the rest of the small divnorm instance
    plain = c.verification_circuit(mode="plain")
    assert plain.params.mode == "plain" and plain.params.sigma == 1.0 and plain.params.sizes == (6, 8, 6, 3)
    assert get_circuit("phsic", mode="plain").verification_circuit(lr_local=0.1).params.lr_local == 0.1
    with pytest.raises(ConfigError, match="unknown key"):
        c.verification_circuit(not_a_key=1)
    assert c.compared_states() == c.state_names() and set(c.plastic_names()) == {"W1", "W2", "W3"}


def test_trainer_options():
    c = PHSIC.verification_instance("divnorm")
    assert c.trainer_options() == {"dtype": "float32"}
    assert c.make_trainer(6, 3, seed=0).dtype == torch.float32
    assert c.make_trainer(6, 3, seed=0, dtype="float64").dtype == torch.float64
    with pytest.raises(ConfigError, match="dtype"):
        c.make_trainer(6, 3, seed=0, dtype="float16")
    with pytest.raises(ConfigError, match="unknown trainer option"):
        c.make_trainer(6, 3, seed=0, threads=2)


# ---- bad inputs -------------------------------------------------------------------------------------------------------
def test_bad_inputs():
    circuit = PHSIC.verification_instance("plain")
    w, data = circuit.initial_weights(0), circuit.example_data(3, 0)
    wide = {**data, "x_b": np.zeros((3, 7))}
    with pytest.raises(ShapeError, match="x_b"):
        circuit.simulate_reference(w, wide)
    with pytest.raises(ShapeError, match="x_b"):
        circuit.build_brian(w, wide)
    with pytest.raises(ShapeError, match="expects"):
        circuit.trial_data(np.zeros((4, 5)), np.zeros(4, dtype=int))
    with pytest.raises(ShapeError, match="one-hot"):
        circuit.simulate_reference(w, {**data, "y_a": np.full((3, 3), 1 / 3)})
    with pytest.raises(ShapeError, match="missing"):
        circuit.simulate_reference(w, {k: v for k, v in data.items() if k != "y_b"})
    with pytest.raises(ShapeError, match="W2"):
        circuit.simulate_reference({**w, "W2": np.zeros((8, 5))}, data)


@pytest.mark.parametrize(
    "overrides, match",
    [
        ({"kernel": "laplace"}, "kernel"),  # unknown to the batch form too
        ({"mode": "bogus"}, "mode"),
        ({"beta_avg": 1.5}, "beta_avg"),
        ({"b3_init": [0.0]}, "b3_init"),
        ({"pairs_per_update": 0}, "pairs_per_update"),
        ({"not_a_key": 1}, "unknown key"),
    ],
)
def test_bad_config(overrides, match):
    with pytest.raises(ConfigError, match=match):
        get_circuit("phsic", **overrides)


@pytest.mark.parametrize("overrides, match", [({"kernel": "cosine"}, "Gaussian kernel only"), ({"mode": "grouped"}, "mode")])
def test_batch_only_settings(overrides, match):
    """Cosine kernel and grouping without divnorm train through the batch form but have no streaming circuit."""
    circuit = get_circuit("phsic", sizes=[6, 8, 3], n_groups=2, **overrides)
    trainer = circuit.make_trainer(6, 3, seed=0)
    assert set(trainer.weights()) == {"W1", "W_out", "b_out"}
    with pytest.raises(ConfigError, match=match):
        circuit.example_data(4, 0)
    with pytest.raises(ConfigError, match=match):
        circuit.build_brian(circuit.initial_weights(0), {})


# ---- layout -----------------------------------------------------------------------------------------------------------
def test_reference_side_imports_no_brian2():
    """The torch reference, its vectorised form and the trainer are independent of the Brian2 model: importing them
    (in a fresh interpreter) loads neither brian2 nor brian_model."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "import circuits.phsic, circuits.phsic.reference, circuits.phsic.streaming, circuits.phsic.trainer\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'brian2' or m.endswith('brian_model')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout


def test_weight_layout_is_the_one_list():
    """Circuit, trainer and initial weights all use params.weight_layout (names, order and shapes)."""
    from circuits.phsic.params import weight_layout
    from circuits.phsic.trainer import initial_weights, weight_names

    circuit = PHSIC.verification_instance("divnorm")
    layout = weight_layout(circuit.params)
    assert list(layout) == ["W1", "W2", "W_out", "b_out"] and layout["W2"] == (8, 6) and layout["b_out"] == (3,)
    assert circuit.weight_shapes() == layout and weight_names(circuit.params) == list(layout)
    w = initial_weights(circuit.params.batch_params(), 0)
    assert list(w) == list(layout)
    assert {k: tuple(v.shape)[::-1] for k, v in w.items()} == layout  # trainer stores (n_post, n_pre)
    assert circuit.plastic_names() == ("W1", "W2")
