"""pHSIC batch form: estimator, kernels, grouping/divnorm, three-factor rule == autograd, learning, resume."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from circuits.phsic import trainer as B
from circuits.phsic.trainer import PHSICTrainer
from circuits.phsic.params import PHSICParams
from neuromorph.circuit import make_params
from neuromorph.errors import ConfigError, ShapeError


@pytest.fixture(autouse=True)
def _one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def _batch(m=14, n_in=9, n_out=12, n_classes=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    h = torch.randn(m, n_in, generator=g, dtype=torch.float64)
    W = torch.randn(n_out, n_in, generator=g, dtype=torch.float64) * 0.6
    y = torch.randint(0, n_classes, (m,), generator=g)
    return h, W, y


def _rel(a, b):
    return float((a - b).norm() / b.norm())


# ---- three-factor rule == autograd of the batch loss -----------------------------------------------------
CASES = [
    ("gaussian", "plain", 1.0),
    ("gaussian", "divnorm", 0.3),
    ("gaussian", "grouped", 0.3),
    ("cosine", "plain", 5.0),
    ("cosine", "divnorm", 5.0),
    ("cosine", "grouped", 5.0),
]


@pytest.mark.parametrize("kernel,mode,sigma", CASES)
def test_three_factor_equals_autograd(kernel, mode, sigma):
    # sigma is chosen so the kernel is far from saturated (a strict test); the paper's σ = 5 is also checked
    for sig in (sigma, 5.0):
        P = PHSICParams(sizes=(9, 12, 3), kernel=kernel, mode=mode, n_groups=4, sigma=sig)
        h, W, y = _batch()
        ky = B.label_kernel(y, 3, dtype=torch.float64)
        Wg = W.clone().requires_grad_(True)
        (grad,) = torch.autograd.grad(B.local_loss(h, Wg, ky, P), Wg)
        assert float(grad.norm()) > 0
        pairwise = B.three_factor_delta_w(h, W, y, P, 3)  # literal Σ_ij M_ij (...) form, ΔW = -dL/dW
        fast, loss, _ = B.local_grad(h, W, ky, P)
        assert _rel(-pairwise, grad) < 1e-10
        assert _rel(fast, grad) < 1e-10
        assert abs(float(loss) - float(B.local_loss(h, W, ky, P))) < 1e-12


def test_gaussian_plain_linear_is_eq12():
    """Linear layer (slope 1): ΔW = (1/m²) Σ_ij M_ij (z_i - z_j)(x_i - x_j)ᵀ, M = (2K̊_z - γK̊_y) k / σ²."""
    P = PHSICParams(sizes=(9, 12, 3), kernel="gaussian", mode="plain", sigma=2.0, leaky_slope=1.0)
    h, W, y = _batch()
    z = h @ W.T
    ky = B.label_kernel(y, 3, dtype=torch.float64)
    kz = B.gaussian_kernel(z, 2.0)
    M = B.third_factor(kz, ky, 2.0) * kz / 4.0
    dz = z[:, None] - z[None, :]
    dx = h[:, None] - h[None, :]
    expected = torch.einsum("ij,ijn,ijk->nk", M, dz, dx) / len(h) ** 2
    assert _rel(B.three_factor_delta_w(h, W, y, P, 3), expected) < 1e-12


# ---- estimator and kernels -------------------------------------------------------------------------------
def test_phsic_estimator_matches_double_loop():
    rng = np.random.default_rng(1)
    m = 7
    a, b = rng.normal(size=(m, 3)), rng.normal(size=(m, 3))
    ka = np.exp(-((a[:, None] - a[None]) ** 2).sum(-1) / 2)
    kb = np.exp(-((b[:, None] - b[None]) ** 2).sum(-1) / 8)
    first = sum(ka[i, j] * kb[i, j] for i in range(m) for j in range(m)) / m**2
    second = (sum(ka[i, j] for i in range(m) for j in range(m)) / m**2) * (
        sum(kb[q, l] for q in range(m) for l in range(m)) / m**2)
    expected = first - second  # eq. (34)
    got = float(B.phsic(torch.as_tensor(ka), torch.as_tensor(kb)))
    assert got == pytest.approx(expected, rel=1e-12, abs=1e-15)
    # and the Gaussian kernel helper reproduces ka
    assert np.allclose(B.gaussian_kernel(torch.as_tensor(a), 1.0).numpy(), ka, rtol=1e-12, atol=1e-14)
    # pHSIC(A, A) = variance of k over pairs (eq. 31)
    assert float(B.phsic(torch.as_tensor(ka), torch.as_tensor(ka))) == pytest.approx(ka.var(), rel=1e-12)


def test_label_kernel_values():
    y = torch.tensor([0, 1, 2, 3, 1, 0, 9])
    C = 10
    K = B.label_kernel(y, C, center=True, dtype=torch.float64).numpy()
    same = y.numpy()[:, None] == y.numpy()[None, :]
    assert np.allclose(K[same], 1.0, atol=1e-14)
    assert np.allclose(K[~same], -1.0 / (C - 1), atol=1e-14)
    K0 = B.label_kernel(y, C, center=False, dtype=torch.float64).numpy()
    assert np.array_equal(K0, same.astype(float))


def test_cosine_kernel():
    s = torch.tensor([[1.0, 0.0], [1.0, 1.0], [0.0, 2.0]], dtype=torch.float64)
    K = B.cosine_kernel(s).numpy()
    r = 1 / np.sqrt(2)
    assert np.allclose(K, [[1, r, 0], [r, 1, r], [0, r, 1]], atol=1e-14)


def test_grouping_and_divnorm_forward_by_hand():
    rng = np.random.default_rng(2)
    m, n, c, delta, p = 3, 8, 2, 1.0, 0.2
    a = rng.normal(size=(m, n))
    z = np.where(a > 0, a, 0.01 * a)
    g = n // c
    u = np.zeros((m, c))
    r = np.zeros((m, n))
    for i in range(m):
        for al in range(c):
            block = z[i, al * g:(al + 1) * g]
            zh = block - block.mean()
            u[i, al] = delta / g + (zh**2).sum() / g  # eq. 17
            r[i, al * g:(al + 1) * g] = zh / u[i, al] ** p  # eq. 21
    w = u ** (1 - p)
    v = w - w.mean(axis=1, keepdims=True)  # eq. 18
    W = torch.eye(n, dtype=torch.float64)
    for mode in ("divnorm", "grouped"):
        P = PHSICParams(sizes=(n, n, 2), mode=mode, n_groups=c, delta=delta, p=p)
        f = B.layer_forward(torch.as_tensor(a), W, P)
        assert np.allclose(f["z"].numpy(), z, atol=1e-14)
        assert np.allclose(f["u"].numpy(), u, atol=1e-14)
        assert np.allclose(f["s"].numpy(), v, atol=1e-14)
        assert np.allclose(f["r"].numpy(), r, atol=1e-14)
        assert np.allclose(f["out"].numpy(), r if mode == "divnorm" else z, atol=1e-14)
    P = PHSICParams(sizes=(n, n, 2), mode="plain")
    f = B.layer_forward(torch.as_tensor(a), W, P)
    assert np.allclose(f["s"].numpy(), z) and np.allclose(f["out"].numpy(), z)
    # mode defaults of p: 0.2 (divnorm), 0.5 (grouped), as in the code
    assert PHSICParams(mode="divnorm").power == 0.2 and PHSICParams(mode="grouped").power == 0.5


# ---- trainer ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def digits():
    from neuromorph.data import load_dataset

    return load_dataset("digits", scale="symmetric")


def _small(**kw):
    base = dict(sizes=(64, 128, 128, 10), n_groups=16, batch=64, lr_final=5e-3)
    base.update(kw)
    return PHSICParams(**base)


def _test_acc(tr, d):
    return float((tr.predict(d.x_test) == d.y_test).mean())


def test_local_rule_beats_last_layer_on_digits(digits):
    d = digits
    accs = {}
    for name, kw in {"phsic": dict(rule="phsic", mode="plain"), "last": dict(rule="last", mode="plain")}.items():
        tr = PHSICTrainer(_small(**kw), 64, 10, seed=0)
        for e in range(5):
            tr.train_epoch(d.x_train, d.y_train, e)
        accs[name] = _test_acc(tr, d)
    assert accs["phsic"] > 0.85, accs
    assert accs["phsic"] > accs["last"] + 0.08, accs


def test_last_rule_keeps_hidden_weights(digits):
    tr = PHSICTrainer(_small(rule="last"), 64, 10, seed=3)
    w0 = tr.weights()
    tr.train_epoch(digits.x_train, digits.y_train, 0)
    w1 = tr.weights()
    for k in ("W1", "W2"):
        assert np.array_equal(w0[k], w1[k])
    assert not np.array_equal(w0["W_out"], w1["W_out"])


def test_weights_orientation_and_autograd_option(digits):
    tr = PHSICTrainer(_small(), 64, 10, seed=0)
    w = tr.weights()
    assert list(w) == ["W1", "W2", "W_out", "b_out"]
    assert w["W1"].shape == (64, 128) and w["W2"].shape == (128, 128) and w["W_out"].shape == (128, 10)
    assert w["b_out"].shape == (10,)
    # PyTorch default Linear init bound 1/sqrt(fan_in)
    assert np.abs(w["W1"]).max() <= 1 / 8 and np.abs(w["W2"]).max() <= 1 / np.sqrt(128)
    # the analytic training step equals the autograd one (float64)
    x, y = digits.x_train[:256], digits.y_train[:256]
    t1 = PHSICTrainer(_small(gradient="analytic"), 64, 10, seed=0, dtype=torch.float64)
    t2 = PHSICTrainer(_small(gradient="autograd"), 64, 10, seed=0, dtype=torch.float64)
    t1.train_epoch(x, y, 0)
    t2.train_epoch(x, y, 0)
    for k, v in t1.weights().items():
        assert np.allclose(v, t2.weights()[k], rtol=1e-9, atol=1e-12), k


def test_backprop_rule_runs(digits):
    tr = PHSICTrainer(_small(rule="backprop", lr_final=5e-2), 64, 10, seed=0)
    for e in range(3):
        tr.train_epoch(digits.x_train, digits.y_train, e)
    assert _test_acc(tr, digits) > 0.8


def test_determinism_and_resume(digits):
    d = digits
    P = _small(kernel="cosine", mode="divnorm")
    a = PHSICTrainer(P, 64, 10, seed=5)
    for e in range(2):
        a.train_epoch(d.x_train, d.y_train, e)
    b = PHSICTrainer(P, 64, 10, seed=5)
    b.train_epoch(d.x_train, d.y_train, 0)
    state = b.state_dict()
    c = PHSICTrainer(P, 64, 10, seed=5)
    c.load_state_dict(state)
    c.train_epoch(d.x_train, d.y_train, 1)
    for k, v in a.weights().items():
        assert np.array_equal(v, c.weights()[k]), k
    assert np.array_equal(a.predict(d.x_test), c.predict(d.x_test))
    # another seed gives other weights
    other = PHSICTrainer(P, 64, 10, seed=6)
    assert not np.array_equal(other.weights()["W1"], PHSICTrainer(P, 64, 10, seed=5).weights()["W1"])


def test_shape_errors(digits):
    tr = PHSICTrainer(_small(), 64, 10, seed=0)
    with pytest.raises(ShapeError, match="64"):
        tr.predict(np.zeros((3, 63), np.float32))
    with pytest.raises(ShapeError):
        tr.train_epoch(np.zeros((5, 65), np.float32), np.zeros(5, np.int64), 0)
    with pytest.raises(ShapeError, match="labels"):
        tr.train_epoch(np.zeros((5, 64), np.float32), np.full(5, 10), 0)
    with pytest.raises(ShapeError):
        tr.load_state_dict(PHSICTrainer(_small(sizes=(64, 64, 128, 10)), 64, 10, 0).state_dict())


@pytest.mark.parametrize(
    "kw,field",
    [
        (dict(kernel="laplace"), "kernel"),
        (dict(mode="grp"), "mode"),
        (dict(rule="feedback"), "rule"),
        (dict(gradient="numeric"), "gradient"),
        (dict(dropout=1.5), "dropout"),
        (dict(batch=1), "batch"),
        (dict(milestones=(75, 50)), "milestones"),
    ],
)
def test_config_errors(kw, field):
    with pytest.raises(ConfigError, match=field) as info:
        PHSICParams(**kw)
    if field in ("kernel", "mode", "rule"):
        assert "allowed values" in str(info.value)


def test_params_from_toml_overrides():
    P = make_params(PHSICParams, {"kernel": "cosine", "sizes": [784, 256, 10], "milestones": [5, 8]})
    assert P.kernel == "cosine" and P.sizes == (784, 256, 10) and P.milestones == (5, 8)
    with pytest.raises(ConfigError, match="kernal"):
        make_params(PHSICParams, {"kernal": "cosine"})
    with pytest.raises(ShapeError, match="n_groups"):
        PHSICParams(sizes=(10, 100, 3), n_groups=32)
    assert PHSICParams().lr_scale(0) == 1 and PHSICParams().lr_scale(50) == 0.25
    assert PHSICParams().lr_scale(90) == pytest.approx(0.25**3)
    assert dataclasses.asdict(PHSICParams())["mode"] == "divnorm"
