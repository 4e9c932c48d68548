"""KSM (circuits/ksm): prox and simplex projection against closed forms / brute force, one ADMM iteration against a
hand-written numpy step of the paper's equations, the metrics against hand computations, and bad inputs."""

import itertools

import numpy as np
import pytest
import torch

from circuits.ksm import KSMParams, KSMTrainer, params_from_dict, table1
from circuits.ksm import admm, metrics
from circuits.ksm.prox import project_simplex, soft_threshold
from neuromorph.errors import ConfigError, ShapeError


# ---- prox ---------------------------------------------------------------------------------------------------
def test_soft_threshold_is_the_prox_of_l1():
    v = torch.tensor([[-3.0, -0.5, 0.0, 0.2, 1.5]], dtype=torch.float64)
    assert soft_threshold(v, 1.0).tolist() == [[-2.0, 0.0, 0.0, 0.0, 0.5]]
    # prox definition: argmin_z ½(z - v)² + t|z|, by a dense grid search per entry
    grid = np.linspace(-4, 4, 80001)
    for vi in v[0].tolist():
        best = grid[np.argmin(0.5 * (grid - vi) ** 2 + 0.7 * np.abs(grid))]
        assert abs(best - soft_threshold(torch.tensor([[vi]]), 0.7).item()) < 1e-4


def _brute_simplex(y):
    """Exact QP min ½‖x - y‖² on the simplex by enumerating supports: on support S the KKT point is
    x_S = y_S - (Σ y_S - 1)/|S|; the feasible one closest to y is the projection."""
    best, best_d = None, np.inf
    K = len(y)
    for r in range(1, K + 1):
        for S in itertools.combinations(range(K), r):
            x = np.zeros(K)
            x[list(S)] = y[list(S)] - (y[list(S)].sum() - 1) / r
            if (x >= -1e-15).all():
                d = np.sum((x - y) ** 2)
                if d < best_d:
                    best, best_d = x, d
    return best


def test_simplex_projection_equals_brute_force_qp_and_kkt():
    rng = np.random.default_rng(0)
    Y = np.concatenate([rng.normal(0, 1, (40, 5)), 3 * rng.normal(0, 1, (20, 5)), np.full((1, 5), 0.2),
                        np.array([[5.0, 5.0, -1.0, 0.0, 0.1]])])
    Z = project_simplex(torch.as_tensor(Y)).numpy()
    for y, z in zip(Y, Z):
        np.testing.assert_allclose(z, _brute_simplex(y), atol=1e-12)
        # KKT: z ≥ 0, Σz = 1, and y - z = τ 1 - μ with μ ≥ 0, μ_k z_k = 0: y_k - z_k = τ on the support,
        # ≤ τ off it
        assert z.min() >= 0 and abs(z.sum() - 1) < 1e-12
        tau = (y - z)[z > 0]
        assert np.ptp(tau) < 1e-12
        assert ((y - z)[z == 0] <= tau[0] + 1e-12).all()


# ---- one ADMM iteration against the paper's equations in numpy -------------------------------------------------
def _numpy_admm(W, X, Z, P, M, eta, p):
    """Algorithm 2 / Appendix C written out per sample with loops: eqs. 23 (32), P fixed point, 25 (34), 26 (35)."""
    W, Z, P, M = W.copy(), Z.copy(), P.copy(), M.copy()
    simplex = p.constraint == "simplex"
    c = 1 + p.omega if simplex else 1.0
    D = (lambda z: np.diag(z)) if simplex else (lambda z: np.eye(len(z)))
    G = W @ W.T
    for i in range(len(X)):
        x, z = X[i], Z[i]
        for _ in range(p.T_z):
            Q = np.outer(z, z) + p.omega * D(z) - P[i] + M[i] / p.rho
            g = -c * W @ x + 2 * p.rho * Q @ z
            if simplex:
                g = g + p.rho * p.omega * np.diag(Q)
                z = _brute_simplex(z - eta * g)
            else:
                v = z - eta * g
                z = np.sign(v) * np.maximum(np.abs(v) - eta * p.lam, 0)
            if p.schedule in (1, 2):
                P[i] = (M[i] - G / 2) / p.rho + np.outer(z, z) + p.omega * D(z)
        if p.schedule == 3:
            P[i] = (M[i] - G / 2) / p.rho + np.outer(z, z) + p.omega * D(z)
        if p.schedule in (2, 3):
            M[i] = M[i] + p.rho * (np.outer(z, z) + p.omega * D(z) - P[i])
        Z[i] = z
    grad = sum(c * np.outer(Z[i], X[i]) - P[i] @ W for i in range(len(X))) / len(X)
    W = W + p.lr_W * grad
    if p.normalize_rows:
        W = W / np.linalg.norm(W, axis=1, keepdims=True)
    if p.schedule == 1:
        M[:] = W @ W.T / 2
    return W, Z, P, M


@pytest.mark.parametrize("schedule", [1, 2, 3])
@pytest.mark.parametrize("constraint", ["l1", "simplex"])
def test_admm_iteration_matches_numpy(schedule, constraint):
    rng = np.random.default_rng(schedule)
    K, N, B = 4, 5, 6
    p = KSMParams(K=K, constraint=constraint, lam=0.3, omega=0.1, rho=1.5, lr_W=0.05, T_z=4, batch=B,
                  schedule=schedule, normalize_rows=constraint == "l1")
    W = rng.normal(size=(K, N))
    X = rng.normal(size=(B, N))
    Z = rng.normal(size=(B, K)) if constraint == "l1" else project_simplex(torch.as_tensor(rng.normal(size=(B, K)))).numpy()
    # perturbed duals and kernels: every term of the equations is exercised
    Dz = (lambda z: np.diag(z)) if constraint == "simplex" else (lambda z: np.eye(K))
    P = np.stack([np.outer(z, z) + p.omega * Dz(z) for z in Z]) + 0.1 * rng.normal(size=(B, K, K))
    M = np.stack([W @ W.T / 2] * B) + 0.1 * rng.normal(size=(B, K, K))
    eta = 0.05
    want = _numpy_admm(W, X, Z, P, M, eta, p)
    got = admm.admm_batch(*(torch.as_tensor(a) for a in (W, X, Z, P, M)), eta, p)
    for w, g in zip(want, got):
        np.testing.assert_allclose(g.numpy(), w, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("constraint", ["l1", "simplex"])
def test_schedule1_implicit_equals_explicit(constraint):
    """Schedule 1 without stored P_i, M_i (ISTA form, Theorem 1) is the same step as with them."""
    rng = np.random.default_rng(7)
    K, N, B = 5, 7, 9
    p = KSMParams(K=K, constraint=constraint, lam=0.2, omega=0.1, lr_W=0.03, T_z=6, batch=B, schedule=1,
                  normalize_rows=constraint == "l1")
    W = torch.as_tensor(rng.normal(size=(K, N)))
    X = torch.as_tensor(rng.normal(size=(B, N)))
    Z = torch.as_tensor(rng.normal(size=(B, K)))
    if constraint == "simplex":
        Z = project_simplex(Z)
    P = admm.outer_d(Z, p)
    M = (W @ W.T / 2).expand(B, K, K).clone()
    We, Ze, _, _ = admm.admm_batch(W, X, Z, P, M, 0.04, p)
    Wi, Zi = admm.admm_batch_implicit(W, X, Z, 0.04, p)
    torch.testing.assert_close(Wi, We, rtol=1e-11, atol=1e-12)
    torch.testing.assert_close(Zi, Ze, rtol=1e-11, atol=1e-12)


# ---- metrics against hand computations ---------------------------------------------------------------------------
def test_r2_and_sparsity_by_hand():
    X = np.array([[1.0, 2.0], [3.0, 0.0], [2.0, 4.0]])
    Xh = np.array([[1.5, 2.0], [3.0, 1.0], [2.0, 3.0]])
    # SS_res = 0.25 + 1 + 1 = 2.25; mean (2, 2): SS_tot = 1 + 0 + 1 + 4 + 0 + 4 = 10
    assert metrics.r2_score(X, Xh) == pytest.approx(1 - 2.25 / 10, abs=1e-14)
    assert metrics.r2_score(5 * X, 5 * Xh) == pytest.approx(0.775, abs=1e-14)  # scale-free
    # S1 (eq. 43, p = 1): 1-sparse -> 1; constant -> 0; [1, 2, 0, 0]: n = 4, Σ|z - z̄| = 3, Σ|z| = 3 -> 4·3/(2·3·3)
    assert metrics.sparsity_1([[0, 0, 7.0, 0]]) == pytest.approx(1.0)
    assert metrics.sparsity_1([[2.0, 2.0, 2.0]]) == pytest.approx(0.0)
    assert metrics.sparsity_1([[1.0, 2.0, 0, 0]]) == pytest.approx(2 / 3)
    assert metrics.sparsity_p([[0, 3.0, 0, 0, 0]], 2.0) == pytest.approx(1.0)
    assert metrics.l0_mode([[1, 0, 0], [1, 1, 0], [0, 2, 3], [0, 0, 0]]) == 2
    Z = np.array([[1.0, 0], [0, 2.0], [1.0, 1.0]])
    A = metrics.generative_map(X, Z, 0.1)
    # Â solves the ridge normal equations Â (ZᵀZ/T + ωI) = XᵀZ/T (Appendix A.1)
    np.testing.assert_allclose(A @ (Z.T @ Z / 3 + 0.1 * np.eye(2)), X.T @ Z / 3, atol=1e-12)
    As = metrics.generative_map(X, Z, 0.1, "simplex")
    np.testing.assert_allclose(As @ (Z.T @ Z / 3 + 0.1 * np.diag(Z.mean(0))), 1.1 * X.T @ Z / 3, atol=1e-12)
    assert metrics.dictionary_error(A, -3 * A[:, ::-1]) == pytest.approx(0.0, abs=1e-12)


# ---- the trainer on the paper's synthetic set ---------------------------------------------------------------
def test_trainer_recovers_synthetic_dictionary_and_resumes():
    from neuromorph.data import load_dataset

    d = load_dataset("ksm_sparse", scale="raw", n_train=256, n_test=64)
    p = table1("synthetic", init="truth", truth="ksm_sparse", sweeps=3, batch=64)
    tr = KSMTrainer(30, p, 0)
    m0 = tr.train_epoch(d.x_train, d.y_train, 0)
    state = tr.state_dict()
    m1 = tr.train_epoch(d.x_train, d.y_train, 1)
    assert m1["fit_r2"] > 0.999 and m1["dictionary_error"] < 1e-3 and m0["fit_l0_mode"] == 2
    assert tr.evaluate(d.x_test)["r2"] > 0.99
    tr2 = KSMTrainer(30, p, 0)
    tr2.load_state_dict(state)
    assert tr2.train_epoch(d.x_train, d.y_train, 1) == m1  # resume reproduces the epoch bit for bit
    np.testing.assert_array_equal(tr2.weights()["W"], tr.weights()["W"])


# ---- bad inputs ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("kwargs, needle", [
    ({"K": 0}, "K must be a positive integer"),
    ({"constraint": "l2"}, "unknown constraint 'l2'"),
    ({"schedule": 4}, "schedule must be one of"),
    ({"init": "truth"}, "init = \"truth\" needs truth"),
    ({"omega": 0.0}, "omega must be > 0"),
])
def test_bad_params(kwargs, needle):
    with pytest.raises(ConfigError, match=needle.replace("(", r"\(")):
        KSMParams(**kwargs).validate()


def test_bad_table_and_shapes():
    with pytest.raises(ConfigError, match=r"unknown key\(s\) \['lamda'\]"):
        params_from_dict({"lamda": 0.1})
    with pytest.raises(ConfigError, match="must be of type int"):
        params_from_dict({"K": "16"})
    with pytest.raises(ShapeError, match="set params.K = 16"):  # wrong K for the true dictionary
        KSMTrainer(30, KSMParams(K=12, truth="ksm_sparse"), 0)
    tr = KSMTrainer(30, KSMParams(K=4, batch=8), 0)
    with pytest.raises(ShapeError, match=r"expected \(n, 30\)"):
        tr.train_epoch(np.zeros((16, 29)), np.zeros(16, int), 0)
    x = np.random.default_rng(0).normal(size=(16, 30))
    tr.train_epoch(x, np.zeros(16, int), 0)
    with pytest.raises(ShapeError, match="give the same set every epoch"):
        tr.train_epoch(x[:12], np.zeros(12, int), 1)
    with pytest.raises(ConfigError, match="larger than the training set"):
        KSMTrainer(30, KSMParams(K=4, batch=128), 0).train_epoch(x, np.zeros(16, int), 0)


# ---- the data sets -----------------------------------------------------------------------------------------------
def test_ksm_data_sets():
    from neuromorph.data import load_dataset, true_codes, true_dictionary

    d = load_dataset("ksm_sparse", scale="raw", seed=4)
    A = true_dictionary("ksm_sparse")
    Ztr, Zte = true_codes("ksm_sparse", seed=4)
    assert d.x_train.shape == (1500, 30) and d.x_test.shape == (500, 30) and A.shape == (30, 16)
    np.testing.assert_allclose(d.x_train, Ztr @ A.T, rtol=1e-6, atol=1e-5)  # x = A z (float32)
    assert ((Ztr > 0).sum(axis=1) == 2).all() and Ztr[Ztr > 0].min() >= 4 and Ztr.max() <= 6  # 12.5 %, U[4, 6]
    v = load_dataset("ksm_sparse", scale="variance", seed=4)
    assert np.mean(np.sum(v.x_train.astype(np.float64) ** 2, axis=1)) == pytest.approx(1.0, rel=1e-5)
    s = np.sqrt(np.mean(np.sum(d.x_train.astype(np.float64) ** 2, axis=1)))  # one global scale (§7.1)
    np.testing.assert_allclose(v.x_train * s, d.x_train, rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(v.x_test * s, d.x_test, rtol=1e-5, atol=1e-4)  # the training split's scale
    pt = load_dataset("patches", scale="raw", n_train=500, n_test=100)
    assert pt.x_train.shape == (500, 256) and pt.image_shape == (16, 16) and np.isfinite(pt.x_train).all()
    assert 0.3 < pt.x_train.std() < 3  # whitened photographs of unit pixel variance
    t = load_dataset("ksm_two_atoms", scale="raw")
    A2 = true_dictionary("ksm_two_atoms")
    assert len(t.x_train) == 512 and A2[:, 0] @ A2[:, 1] == pytest.approx(0.14) and np.linalg.norm(A2, axis=0) == pytest.approx(1)
    m = load_dataset("moons_ksm", scale="raw")
    assert m.x_train.shape == (2500, 2) and m.x_train[:, 0].min() < -0.9  # make_moons' own coordinates
    with pytest.raises(ConfigError, match="takes only scale 'raw' or 'variance'"):
        load_dataset("ksm_sparse")
    with pytest.raises(ConfigError, match="scale 'raw' is for the synthetic sets"):
        load_dataset("digits", scale="raw")
    with pytest.raises(ConfigError, match="has no true dictionary"):
        true_dictionary("moons")


def test_smpc_sparse_data_set():
    # SMPC §7.1's N = 30 set: a Gram-Schmidt orthonormal dictionary (mutual coherence 0 instead of ksm_sparse's
    # ~0.2 to 0.7), 2 of 16 latents active, N(5, 1) amplitudes; x = A z exactly; the same codes for a seed.
    from neuromorph.data import _gram_schmidt, load_dataset, true_codes, true_dictionary

    A = true_dictionary("smpc_sparse")
    assert A.shape == (30, 16)
    np.testing.assert_allclose(A.T @ A, np.eye(16), rtol=0, atol=1e-12)
    G = np.random.default_rng(20241130).standard_normal((30, 16))  # Gram-Schmidt keeps the order: a_1 ∝ g_1,
    np.testing.assert_allclose(A[:, 0], G[:, 0] / np.linalg.norm(G[:, 0]), rtol=0, atol=1e-12)
    np.testing.assert_allclose(np.tril(A.T @ G, -1), 0, atol=1e-12)  # and a_k ⊥ g_j for j < k
    Q = _gram_schmidt(np.vander(np.linspace(1, 2, 12), 8))  # ill-conditioned (cond ~ 1e9): re-orthogonalised
    np.testing.assert_allclose(Q.T @ Q, np.eye(8), rtol=0, atol=1e-9)
    d = load_dataset("smpc_sparse", scale="raw", seed=3)
    Ztr, Zte = true_codes("smpc-n30", seed=3)
    assert d.x_train.shape == (1500, 30) and d.x_test.shape == (500, 30) and Zte.shape == (500, 16)
    np.testing.assert_allclose(d.x_train, Ztr @ A.T, rtol=1e-6, atol=1e-5)
    assert ((Ztr != 0).sum(axis=1) == 2).all()
    amp = Ztr[Ztr != 0]
    assert abs(amp.mean() - 5) < 0.1 and abs(amp.std() - 1) < 0.1  # N(5, 1): 3000 draws
    assert not np.array_equal(Ztr, true_codes("smpc_sparse", seed=4)[0])
    with pytest.raises(ConfigError, match="takes only scale 'raw' or 'variance'"):
        load_dataset("smpc_sparse")


def test_fista_and_ista_inference_reach_the_same_codes():
    """Inference (evaluate) solves the Z-step under fixed W; FISTA and a long ISTA reach the same minimiser,
    which satisfies the lasso optimality conditions (ℓ1) / is a fixed point of the projected step (simplex)."""
    rng = np.random.default_rng(5)
    W = torch.as_tensor(rng.normal(size=(6, 8)))
    X = torch.as_tensor(rng.normal(size=(10, 8)))
    for constraint in ("l1", "simplex"):
        p = KSMParams(K=6, constraint=constraint, lam=0.3, omega=0.1)
        zf = admm.infer_codes(W, X, p, 2000, method="fista")
        zi = admm.infer_codes(W, X, p, 20000, method="ista")
        torch.testing.assert_close(zf, zi, rtol=1e-6, atol=1e-7)
        g = admm.ista_grad(zf, X @ W.T, W @ W.T, p)
        if constraint == "l1":  # 0 ∈ g + λ∂‖z‖₁
            on = zf != 0
            torch.testing.assert_close(g[on], -p.lam * torch.sign(zf[on]), rtol=0, atol=1e-8)
            assert (g[~on].abs() <= p.lam + 1e-8).all()
        else:
            torch.testing.assert_close(project_simplex(zf - 0.1 * g), zf, rtol=0, atol=1e-9)


# ---- K-Deep Simplex (Tasissa et al. 2023; the SMPC moons warm start) -------------------------------------------------
def test_kds_alternating_minimisation():
    # Each Z-step (projected gradient at 1/L on convex per-sample problems) and A-step (the exact minimiser of a
    # convex quadratic) can only lower eq. 8: the objective never rises. The A-step's closed form is checked
    # against finite differences of the objective itself (an independent reading of eq. 8), and on two moons the
    # codes tile the curve: modal ‖z‖₀ = 2 (the paper's Fig. 5c) and A Z reconstructs X.
    from circuits.ksm import metrics
    from circuits.ksm.kds import kds_alternating_minimisation, kds_objective
    from neuromorph.data import load_dataset

    X = load_dataset("moons_ksm", scale="raw", n_train=400, n_test=10, seed=1).x_train.astype(np.float64)
    A, Z, hist = kds_alternating_minimisation(X, 8, omega=0.1, iters=60, seed=2)
    assert np.all(np.diff(hist) <= 1e-12 * abs(hist[0]))
    assert hist[-1] < 0.5 * hist[0]
    np.testing.assert_allclose(Z.sum(axis=1), 1, atol=1e-12)
    assert Z.min() >= 0
    assert metrics.l0_mode((Z > 1e-9).astype(float)) == 2
    assert metrics.r2_score(X, Z @ A.T) > 0.95
    g = np.zeros_like(A)
    for idx in np.ndindex(*A.shape):  # ∂(eq. 8)/∂A at the A-step's output: zero
        e = np.zeros_like(A)
        e[idx] = 1e-6
        g[idx] = (kds_objective(X, A + e, Z, 0.1) - kds_objective(X, A - e, Z, 0.1)) / 2e-6
    assert np.abs(g).max() < 1e-6
    with pytest.raises(ConfigError, match="K must be an integer"):
        kds_alternating_minimisation(X, 1)
    with pytest.raises(ConfigError, match="iters must be a positive integer"):
        kds_alternating_minimisation(X, 4, iters=0)
