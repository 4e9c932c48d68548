"""§5 linear theory (circuits/urfb/linear.py): eq. (8)'s identity and the ε-ordering on a small network."""

from __future__ import annotations

import numpy as np

from circuits.urfb import linear
from circuits.urfb.linear import simulate_linear


def test_R_stays_R0_plus_eps_Wt_from_zero_start():
    """W(0) = 0 and Ṙ = ε Ẇᵀ give R(t) = R(0) + ε W(t)ᵀ (eq. 8), for every layer."""
    sizes = (6, 9, 8, 3)
    r = simulate_linear(sizes, eps=0.5, seed=1, iters=200)
    rng = np.random.default_rng([1, 1])
    R_init = [rng.normal(0.0, 0.1 / np.sqrt(sizes[l + 1]), size=(sizes[l + 1], sizes[l])) for l in range(3)]
    for W, R, Ri in zip(r["weights"]["W"], r["weights"]["R"], R_init):
        assert np.abs(W).max() > 0.05  # W has grown
        np.testing.assert_allclose(R, Ri + 0.5 * W.T, rtol=0, atol=1e-12)


def test_larger_eps_converges_faster_and_aligns_more():
    sizes = (12, 30, 30, 4)
    reach, final = {}, {}
    for eps in (0.0, 0.5, 1.0):
        r = simulate_linear(sizes, eps=eps, seed=0, iters=400, dt=0.25)
        below = np.nonzero(r["error"] < 1e-6)[0]
        assert below.size, f"ε={eps} did not converge"
        reach[eps] = below[0]
        final[eps] = {l: c[-1] for l, c in r["corr"].items()}
    assert reach[0.0] > reach[0.5] > reach[1.0], reach
    for eps in (0.0, 0.5, 1.0):
        assert final[eps][3] > 0.85, final  # top layer aligns for every ε
    assert final[0.0][2] < 0.6 < final[1.0][2], final  # the middle layer only for ε > 0


def test_target_has_unit_spectral_norm():
    T = linear.target_matrix((40, 100, 100, 10), seed=0)
    assert T.shape == (40, 10)
    assert abs(np.linalg.norm(T, 2) - 1.0) < 1e-12
