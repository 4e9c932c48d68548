"""The SMPC circuit (circuits/smpc): the torch reference against a hand-written numpy step of eqs. 39–42, the
interneuron's fixed point against its dynamics, Brian2 (numpy) == torch for the cases beyond the contract's
default instance, the trainer, and one-line errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import neuromorph
from circuits.smpc import SMPC
from circuits.smpc import reference as R
from neuromorph.cli import main
from neuromorph.equivalence import verify
from neuromorph.errors import ConfigError, ShapeError

neuromorph.register_circuit("smpc", "circuits.smpc:SMPC")
pytestmark = pytest.mark.filterwarnings("ignore:_get_vc_env is private")

CASES = [
    dict(constraint="l1", interneuron="fixed"),
    dict(constraint="l1", interneuron="dynamic"),
    dict(constraint="l1", interneuron="fixed", l1_form="subgradient"),
    dict(constraint="simplex", interneuron="fixed"),
    dict(constraint="simplex", interneuron="dynamic"),
]
IDS = ["l1-fixed", "l1-dynamic", "l1sub-fixed", "simplex-fixed", "simplex-dynamic"]


# ---- a hand-written numpy step, in the paper's orientation (samples are columns, W is n_y × N) --------------
def _simplex_bisect(v: np.ndarray) -> np.ndarray:
    """Projection onto the simplex by bisection on θ in Σ max(0, v − θ) = 1 (not the reference's sort)."""
    lo, hi = v.min() - 1.0, v.max()
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if np.maximum(v - mid, 0).sum() > 1:
            lo = mid
        else:
            hi = mid
    return np.maximum(v - 0.5 * (lo + hi), 0)


def _numpy_trial(p, Wp, Mp, Op, x, y, z, zeta):
    """One trial of one sample (vectors): n_neural iterations of eqs. 39–41, then the synaptic-phase ζ."""
    for _ in range(p.n_neural):
        zeta = p.rho * (Op @ z - y) if p.interneuron == "fixed" else zeta + p.eta_zeta * (Op @ z - y - zeta / p.rho)
        y_new = y + p.eta_y * (Wp @ x - Mp @ y + zeta)
        v = z - p.eta_z * Op.T @ zeta
        if p.constraint == "simplex":
            z_new = _simplex_bisect(v)
        elif p.l1_form == "soft":
            z_new = np.sign(v) * np.maximum(np.abs(v) - p.eta_z * p.lam, 0)
        else:
            z_new = v - p.eta_z * p.lam * np.sign(z)
        y, z = y_new, z_new
    zeta = p.rho * (Op @ z - y) if p.interneuron == "fixed" else zeta + p.eta_zeta * (Op @ z - y - zeta / p.rho)
    return y, z, zeta


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_reference_matches_numpy_equations(case):
    """Three windows: neural phases and eq. 42 (five steps each) by hand in numpy == reference.simulate."""
    c = SMPC(**case).verification_circuit()
    p = c.params
    w0, data = c.initial_weights(3), c.example_data(3 * p.batch, 5)
    trace = c.simulate_reference(w0, data)
    Wp, Mp, Op = w0["W"].T.copy(), w0["M"].T.copy(), w0["Omega"].T.copy()
    for u in range(3):
        idx = range(u * p.batch, (u + 1) * p.batch)
        ends = [_numpy_trial(p, Wp, Mp, Op, data["x"][i], data["y0"][i], data["z0"][i], data["zeta0"][i]) for i in idx]
        for i, (y, z, zeta) in zip(idx, ends):
            np.testing.assert_allclose(trace.states["y"][i, -1], y, rtol=0, atol=1e-12)
            np.testing.assert_allclose(trace.states["z"][i, -1], z, rtol=0, atol=1e-12)
            np.testing.assert_allclose(trace.states["zeta"][i, -1], zeta, rtol=0, atol=1e-12)
        X = np.stack([data["x"][i] for i in idx], axis=1)
        Y, Z, ZE = (np.stack([e[k] for e in ends], axis=1) for k in range(3))
        B = p.batch
        for _ in range(p.n_synaptic):
            Wp = Wp + p.eta_w * (Y @ X.T / B - Wp)
            Mp = Mp + p.eta_m * (Y @ Y.T / B - Mp)
            Op = Op - p.eta_omega * (ZE @ Z.T / B)
        np.testing.assert_allclose(trace.weights["W"][u], Wp.T, rtol=0, atol=1e-12)
        np.testing.assert_allclose(trace.weights["M"][u], Mp.T, rtol=0, atol=1e-12)
        np.testing.assert_allclose(trace.weights["Omega"][u], Op.T, rtol=0, atol=1e-12)
    if p.constraint == "simplex":
        z = trace.states["z"][:, -1]
        np.testing.assert_allclose(z.sum(axis=1), 1.0, atol=1e-12)
        assert (z >= 0).all() and (z == 0).any()  # on the simplex, some units off
    elif p.l1_form == "soft":
        assert (trace.states["z"][:, -1] == 0).any()  # the soft threshold zeroes some latents


@pytest.mark.parametrize("constraint", ["l1", "simplex"])
def test_fixed_point_interneuron_equals_dynamic_at_convergence(constraint):
    """Run long enough, the circuit with the dynamic interneuron (eq. 41) settles where the one with ζ held at
    its fixed point does: same y, z, and ζ = ρ(Ωz − y). (Simplex: a smaller η_Z, so that the projected
    iteration converges rather than cycles between supports with the Cholesky-initialised Ω.)"""
    out = {}
    eta_z = 0.1 if constraint == "l1" else 0.01
    for form in ("fixed", "dynamic"):
        c = SMPC(constraint=constraint, interneuron=form).verification_circuit(eta_z=eta_z)
        W = {k: torch.as_tensor(v) for k, v in c.initial_weights(1).items()}
        x = torch.as_tensor(c.example_data(4, 2)["x"])
        y, z, zeta = R.infer(c.params, W, x, 3000)
        out[form] = (y.numpy(), z.numpy(), zeta.numpy(), W)
    for k in range(3):
        np.testing.assert_allclose(out["dynamic"][k], out["fixed"][k], atol=1e-9)
    y, z, zeta, W = out["fixed"]
    np.testing.assert_allclose(zeta, 5.0 * (z @ W["Omega"].numpy() - y), atol=1e-9)
    assert np.abs(z).max() > 0.05  # a non-trivial fixed point


@pytest.mark.parametrize("case", CASES[1:] + [dict(constraint="l1", interneuron="fixed", batch_sum=True)],
                         ids=IDS[1:] + ["l1-fixed-batch-sum"])
def test_brian_numpy_equals_torch(case):
    """The cases beyond the contract's default instance (tests/test_contract.py verifies l1/fixed)."""
    rep = verify(SMPC(**case).verification_circuit(), "numpy")
    assert rep.passed, rep.table()
    assert rep.n_updates >= 3 and rep.max_rel_error <= 1e-12
    assert {v.name for v in rep.variables} == {"y", "v", "z", "zeta", "W", "M", "Omega"}


def test_sort_free_support_equals_sorting():
    """The support rule Brian2 uses (v_j |S_j| > Σ_{S_j} v − 1) gives the sorting projection's threshold."""
    rng = np.random.default_rng(0)
    for _ in range(200):
        v = rng.normal(0, rng.uniform(0.1, 3), size=rng.integers(2, 9))
        n_ge = (v[None, :] >= v[:, None]).sum(axis=1)
        s_ge = ((v[None, :] >= v[:, None]) * v[None, :]).sum(axis=1)
        supp = v * n_ge > s_ge - 1
        theta = (v[supp].sum() - 1) / supp.sum()
        np.testing.assert_allclose(np.maximum(v - theta, 0), R.project_simplex(torch.as_tensor(v)[None]).numpy()[0], atol=1e-12)


def test_trainer_improves_r2_on_synthetic_set():
    """A few paper iterations on the 2-D set (§7.1) raise the R² of x̂ on held-out samples."""
    from neuromorph.data import load_dataset

    ds = load_dataset("ksm_two_atoms", seed=0, scale="variance", n_train=128, n_test=64)
    c = SMPC(n_in=2, n_latent=2, n_y=2, batch=128, lam=0.05)
    tr = c.make_trainer(2, 2, 0, iters_per_epoch=50, n_infer=200)
    tr.train_epoch(ds.x_train, ds.y_train, 0)
    first = tr.evaluate(ds.x_test)["r2"]
    for e in range(1, 4):
        fit = tr.train_epoch(ds.x_train, ds.y_train, e)
    last = tr.evaluate(ds.x_test)["r2"]
    assert last > first + 0.05 and last > 0.5, (first, last, fit)
    state = tr.state_dict()
    tr2 = c.make_trainer(2, 2, 0, iters_per_epoch=50, n_infer=200)
    tr2.load_state_dict(state)
    assert tr2.evaluate(ds.x_test)["r2"] == pytest.approx(last, abs=1e-12)


def test_r2_readings_of_normalised_prediction():
    """The two readings of §7.1's "normalized by data variance": own scale (uncentred) and centred, against
    scikit-learn's variance-weighted R² on hand-normalised arrays and against closed forms."""
    from sklearn.metrics import r2_score as sk_r2

    from circuits.smpc.trainer import _r2_centred, _r2_own_scale

    rng = np.random.default_rng(3)
    X = rng.normal(size=(200, 5)) + np.array([3.0, 0, 1, 0, 0])  # non-zero mean, as codes >= 0 give
    Xh = 0.7 * X + rng.normal(scale=0.2, size=X.shape) + 2.0  # scale, offset and noise
    rms = lambda a: np.sqrt(np.mean(np.sum(a**2, axis=1)))  # noqa: E731
    Xc, Hc = X - X.mean(0), Xh - Xh.mean(0)
    assert _r2_centred(X, Xh) == pytest.approx(
        sk_r2(Xc / rms(Xc), Hc / rms(Hc), multioutput="variance_weighted"), abs=1e-12)
    assert _r2_own_scale(X, Xh) == pytest.approx(
        sk_r2(X / rms(X), Xh / rms(Xh), multioutput="variance_weighted"), abs=1e-12)
    # An affine x̂ = a x + b (scalar a > 0, offset b) is exact under the centred reading, not under own scale.
    Xa = 2.5 * X - 4.0
    assert _r2_centred(X, Xa) == pytest.approx(1.0, abs=1e-12)
    assert _r2_own_scale(X, Xa) < 0.9
    assert _r2_centred(X, np.ones_like(X)) == pytest.approx(0.0, abs=1e-12)  # a constant explains nothing


def test_minibatch_trainer_visits_every_sample_and_is_deterministic():
    """batch < n: each paper iteration is a seeded permutation in mini-batches; every sample's latents move and
    the same (seed, epoch) repeats the epoch exactly (the runner's resume contract)."""
    x = np.random.default_rng(3).normal(size=(48, 2))
    c = SMPC(n_in=2, n_latent=2, n_y=2, batch=16, lam=0.05)
    runs = []
    for _ in range(2):
        tr = c.make_trainer(2, 2, 7, iters_per_epoch=3)
        tr._init_latents(tr._check_x(x, "x"))
        z0 = tr.lat[1].clone()
        tr2 = c.make_trainer(2, 2, 7, iters_per_epoch=3)
        tr2.train_epoch(x, np.zeros(48, int), 0)
        runs.append(tr2.weights())
        assert (tr2.lat[1] - z0).abs().sum(dim=1).min() > 0  # every sample took part
    for k in runs[0]:
        np.testing.assert_array_equal(runs[0][k], runs[1][k])


def test_bad_inputs_are_one_line_errors(capsys):
    for argv, needle in [
        (["verify", "smpc", "--set", "params.constraint=l2"], "constraint must be one of ['l1', 'simplex']"),
        (["verify", "smpc", "--set", "params.interneuron=slow"], "interneuron must be one of"),
        (["verify", "smpc", "--set", "params.eta_z=-1"], "eta_z must be a positive number"),
    ]:
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: ") and needle in err and len(err.strip().splitlines()) == 1, err
    c = SMPC(n_in=2, n_latent=2, n_y=2, batch=8)
    with pytest.raises(ConfigError, match="solver must be one of"):
        c.make_trainer(2, 2, 0, solver="lbfgs")
    with pytest.raises(ConfigError, match="unknown trainer option"):
        c.make_trainer(2, 2, 0, bogus=1)
    with pytest.raises(ShapeError, match="set params.n_in = 3"):
        c.make_trainer(3, 2, 0)
    tr = c.make_trainer(2, 2, 0, iters_per_epoch=1)
    with pytest.raises(ShapeError, match=r"expected \(n, 2\)"):
        tr.train_epoch(np.zeros((8, 3)), np.zeros(8, int), 0)
    with pytest.raises(ShapeError, match="NaN"):
        tr.train_epoch(np.full((8, 2), np.nan), np.zeros(8, int), 0)
    tr.train_epoch(np.random.default_rng(0).normal(size=(8, 2)), np.zeros(8, int), 0)
    with pytest.raises(ShapeError, match="same samples"):
        tr.train_epoch(np.random.default_rng(1).normal(size=(8, 2)), np.zeros(8, int), 1)


def test_kds_warm_start():
    """warm_start = "kds" (App. E.1, moons): Z_true are the K-Deep Simplex latents of the training samples
    (circuits/ksm/kds.py, same ω, iterations and seed), the start Z is Z_true + σ·noise projected on the simplex,
    Y = ΩZ with ΩᵀΩ = H⁻¹; the latent error is measured against Z_true. ℓ1 circuits refuse it."""
    from circuits.ksm.kds import kds_alternating_minimisation
    from neuromorph.data import load_dataset

    x = load_dataset("moons_ksm", scale="raw", n_train=200, n_test=10, seed=0).x_train.astype(np.float64)
    c = SMPC(n_in=2, n_latent=4, n_y=4, batch=200, constraint="simplex", batch_sum=True)
    tr = c.make_trainer(2, 2, 0, iters_per_epoch=2, warm_start="kds", warm_start_noise=0.05, warm_start_iters=20)
    out = tr.train_epoch(x, np.zeros(200, int), 0)
    _, z_kds, _ = kds_alternating_minimisation(x, 4, omega=0.1, iters=20, seed=0)
    np.testing.assert_array_equal(tr.z_true, z_kds)
    np.testing.assert_allclose(tr.z_init.sum(axis=1), 1, atol=1e-12)
    assert tr.z_init.min() >= 0 and 0 < np.abs(tr.z_init - z_kds).max() < 0.2  # small noise, projected
    assert out["latent_error"] < 0.2  # still near the KDS latents after 2 iterations
    with pytest.raises(ConfigError, match="needs constraint = \"simplex\""):
        SMPC(n_in=2, n_latent=2, n_y=2, batch=8).make_trainer(2, 2, 0, warm_start="kds")
    with pytest.raises(ConfigError, match="warm_start_iters must be a positive integer"):
        c.make_trainer(2, 2, 0, warm_start="kds", warm_start_iters=0)
