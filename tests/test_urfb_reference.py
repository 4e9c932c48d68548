"""URFB torch reference against a hand-written float64 numpy step, autograd, and the paper's identities."""

from __future__ import annotations

import ast
import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch

from circuits.urfb.params import URFBParams, weight_layout
from circuits.urfb.reference import correlation, hinge_delta, init_weights, masks_of, train_step
from neuromorph.errors import ConfigError

SIZES = (7, 6, 5, 4)  # two hidden layers


def numpy_step(W, x, labels, p: URFBParams, masks=None):
    """An independent numpy transcription of §3 (eqs. 1, 2 with R, 6, 7), written unit by unit."""
    W = {k: v.copy() for k, v in W.items()}
    L = len(p.sizes) - 1
    n_b = x.shape[0]
    C = p.sizes[-1]
    mu = 1.0 / (C - 1) if p.mu is None else p.mu
    act, field = [x], []
    for l in range(1, L + 1):
        hl = act[-1].dot(W[f"W{l}"])
        field.append(hl)
        act.append(hl if l == L else np.minimum(1.0, np.maximum(-1.0, p.slope * hl)))
    out = act[-1]
    delta = np.zeros_like(out)
    for b in range(n_b):
        if p.method == "bp":
            e = np.exp(out[b] - out[b].max())
            delta[b] = -e / e.sum()
            delta[b, labels[b]] += 1.0
        else:
            for i in range(C):
                if i == labels[b]:
                    delta[b, i] = 1.0 if out[b, i] <= p.margin else 0.0
                else:
                    delta[b, i] = -mu if out[b, i] >= -p.margin else 0.0
    eps = 0.0 if p.method == "frfb" else p.eps
    for l in range(L, 0, -1):
        inc = np.zeros_like(W[f"W{l}"])
        for b in range(n_b):
            inc += np.outer(act[l - 1][b], delta[b])
        inc *= p.lr / n_b
        if masks is not None:
            inc_w, inc_r = inc * masks[f"W{l}"], (inc.T * masks[f"R{l}"] if f"R{l}" in masks else None)
        else:
            inc_w, inc_r = inc, inc.T
        W_before = W[f"W{l}"].copy()
        R_before = W[f"R{l}"].copy() if f"R{l}" in W else None
        W[f"W{l}"] += inc_w
        if R_before is not None:
            W[f"R{l}"] += eps * inc_r
        if l == 1:
            break
        if p.method in ("urfb", "frfb"):
            F = W[f"R{l}"] if p.feedback_after_update else R_before
        else:
            F = (W[f"W{l}"] if p.feedback_after_update else W_before).T
        gate = p.slope * (np.abs(p.slope * field[l - 2]) < 1.0)
        delta = gate * delta.dot(F)
    return W


def _data(p, n=9, seed=3):
    rng = np.random.default_rng(seed)
    return rng.uniform(0, 1, size=(n, p.sizes[0])), rng.integers(0, p.sizes[-1], size=n)


@pytest.mark.parametrize(
    "method,eps,after",
    [("bp", 1.0, True), ("bp", 1.0, False), ("bp_hinge", 1.0, True), ("urfb", 1.0, True), ("urfb", 1.0, False),
     ("urfb", 0.25, True), ("urfb", 0.5, False), ("frfb", 1.0, True)],
)
def test_train_step_matches_numpy(method, eps, after):
    # slope 2 and init_scale 3 put many hidden units in saturation, so the σ' mask is exercised
    p = URFBParams(sizes=SIZES, method=method, eps=eps, slope=2.0, init_scale=3.0, lr=0.3, batch=9,
                   feedback_after_update=after)
    W0 = init_weights(p, seed=1)
    x, lab = _data(p)
    ref = W0
    Wt = {k: torch.as_tensor(v, dtype=torch.float64) for k, v in W0.items()}
    for it in range(3):
        ref = numpy_step(ref, x, lab, p)
        train_step(Wt, torch.as_tensor(x), torch.as_tensor(lab), p)
    assert set(Wt) == set(weight_layout(p))
    for k in ref:
        np.testing.assert_allclose(Wt[k].numpy(), ref[k], rtol=0, atol=1e-13, err_msg=k)
    # the step really changed things: every W moved, R moved iff ε > 0
    for k in ref:
        moved = not np.allclose(ref[k], W0[k])
        assert moved == (k.startswith("W") or (method == "urfb" and eps > 0)), k
    h1 = x @ W0["W1"]
    assert np.mean(np.abs(2.0 * h1) >= 1) > 0.2  # saturation present in layer 1


def test_pruned_masks_match_numpy_and_keep_zeros():
    p = URFBParams(sizes=SIZES, method="urfb", connectivity=0.5, lr=0.5, batch=9)
    W0 = init_weights(p, seed=4)
    masks = masks_of(p, W0)
    for k, m in masks.items():
        frac = m.mean()
        if int(k[1:]) == p.n_layers:
            assert frac == 1.0, k  # output layer exempt (code)
        else:
            assert 0.2 < frac < 0.8, (k, frac)
    x, lab = _data(p)
    Wt = {k: torch.as_tensor(v) for k, v in W0.items()}
    train_step(Wt, torch.as_tensor(x), torch.as_tensor(lab), p, {k: torch.as_tensor(v) for k, v in masks.items()})
    ref = numpy_step(W0, x, lab, p, masks)
    for k in ref:
        np.testing.assert_allclose(Wt[k].numpy(), ref[k], rtol=0, atol=1e-13)
        assert np.all(Wt[k].numpy()[masks[k] == 0] == 0.0)


@pytest.mark.parametrize("method", ["bp", "bp_hinge"])
def test_bp_is_the_autograd_gradient(method):
    p = URFBParams(sizes=SIZES, method=method, slope=1.5, init_scale=2.0, lr=0.2, batch=9, feedback_after_update=False)
    W0 = init_weights(p, seed=2)
    x, lab = _data(p)
    Wt = {k: torch.as_tensor(v) for k, v in W0.items()}
    train_step(Wt, torch.as_tensor(x), torch.as_tensor(lab), p)
    Wg = [torch.tensor(W0[f"W{l}"], requires_grad=True) for l in range(1, p.n_layers + 1)]
    a = torch.as_tensor(x)
    for l, w in enumerate(Wg, start=1):
        a = a @ w
        if l < p.n_layers:
            a = (p.slope * a).clamp(-1, 1)
    labels = torch.as_tensor(lab)
    if method == "bp":
        loss = torch.nn.functional.cross_entropy(a, labels)
    else:  # eq. (4), batch mean
        mu = 1.0 / (p.sizes[-1] - 1)
        onehot = torch.nn.functional.one_hot(labels, p.sizes[-1]).bool()
        loss = torch.where(onehot, torch.relu(1 - a), mu * torch.relu(1 + a)).sum(1).mean()
    loss.backward()
    for l, w in enumerate(Wg, start=1):
        np.testing.assert_allclose(Wt[f"W{l}"].numpy(), W0[f"W{l}"] - p.lr * w.grad.numpy(), rtol=0, atol=1e-14)


def test_urfb_with_symmetric_start_is_bp_hinge():
    """§3.1: R_l(0) = W_lᵀ(0) and the same increments keep R = Wᵀ, i.e. exact BP (Zipser & Rumelhart)."""
    pu = URFBParams(sizes=SIZES, method="urfb", lr=0.4, batch=9, slope=1.5, init_scale=2.0)
    pb = dataclasses.replace(pu, method="bp_hinge")
    W0 = init_weights(pu, 5)
    for l in range(2, pu.n_layers + 1):
        W0[f"R{l}"] = W0[f"W{l}"].T.copy()
    Wu = {k: torch.as_tensor(v) for k, v in W0.items()}
    Wb = {k: torch.as_tensor(v) for k, v in W0.items() if k.startswith("W")}
    x, lab = _data(pu, n=9)
    for _ in range(4):
        train_step(Wu, torch.as_tensor(x), torch.as_tensor(lab), pu)
        train_step(Wb, torch.as_tensor(x), torch.as_tensor(lab), pb)
    for k in Wb:
        np.testing.assert_allclose(Wu[k].numpy(), Wb[k].numpy(), rtol=0, atol=1e-14)
    assert correlation(Wu["W3"], Wu["R3"].T) == pytest.approx(1.0, abs=1e-12)


def test_rule6_case_table():
    """δ_L of eq. (6) for the presented / other class with the output below, inside and above the margins."""
    mu = 1 / 3
    out = torch.tensor([[-2.0, 0.3, 1.0, 2.5], [-1.0, 0.3, -2.0, 2.5]], dtype=torch.float64)
    got = hinge_delta(out, torch.tensor([0, 3]), mu)
    # row 0, class 0 presented: x=-2 ≤ 1 -> 1; others: 0.3 ≥ -1 -> -μ; 1.0 -> -μ; 2.5 -> -μ
    # row 1, class 3 presented: x=2.5 > 1 -> 0; others: -1.0 ≥ -1 -> -μ (boundary); 0.3 -> -μ; -2 -> 0
    want = np.array([[1, -mu, -mu, -mu], [-mu, -mu, 0, 0]])
    np.testing.assert_array_equal(got.numpy(), want)


def test_bad_parameters_are_one_line_errors():
    with pytest.raises(ConfigError, match="method"):
        URFBParams(method="fa")
    with pytest.raises(ConfigError, match="eps"):
        URFBParams(eps=1.5)
    with pytest.raises(ConfigError, match="sizes"):
        URFBParams(sizes=(5,))


def test_reference_does_not_import_brian2():
    src = Path(__file__).resolve().parents[1] / "circuits" / "urfb" / "reference.py"
    mods = set()
    for node in ast.walk(ast.parse(src.read_text())):
        if isinstance(node, ast.Import):
            mods.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            mods.add(node.module or "")
    assert not any(m.startswith("brian2") or "brian_model" in m or m.startswith("neuromorph.brian") for m in mods), mods
