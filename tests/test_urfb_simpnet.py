"""simpnet (§4) in the torch reference: BP equals autograd (dropout and pooling included), URFB with a
symmetric start equals BP-hinge, FRFB leaves R alone."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from circuits.urfb import URFB, URFBParams
from circuits.urfb import simpnet
from circuits.urfb.simpnet import conv_fields, dropout_masks, init_simpnet, simpnet_forward, simpnet_layout, simpnet_step

P = URFBParams(sizes=(784, 20, 10), arch="simpnet", n_filters=4, lr=0.3, batch=6, slope=2.0, init_scale=2.0,
               drop_conv=0.5, drop_full=0.3, feedback_after_update=False)


def _data(n=6, seed=0):
    rng = np.random.default_rng(seed)
    return torch.as_tensor(rng.uniform(0, 1, (n, 784))), torch.as_tensor(rng.integers(0, 10, n))


def _masks(p, n):
    n_pool = simpnet_layout(p)["W2"][0]
    return dropout_masks(p, n, n_pool, torch.Generator().manual_seed(3), torch.float64)


@pytest.mark.parametrize("conv_chunk", [4, 50])  # 4: two uneven sub-batches of the 6 images; 50: one
@pytest.mark.parametrize("method", ["bp", "bp_hinge"])
def test_simpnet_bp_is_the_autograd_gradient(method, conv_chunk, monkeypatch):
    monkeypatch.setattr(simpnet, "CONV_CHUNK", conv_chunk)
    p = dataclasses.replace(P, method=method)
    W0 = {k: torch.as_tensor(v) for k, v in init_simpnet(p, 1).items()}
    x, lab = _data()
    masks = _masks(p, 6)
    W = dict(W0)
    simpnet_step(W, x, lab, p, masks)
    Wg = {k: v.clone().requires_grad_(True) for k, v in W0.items()}
    f = simpnet_forward(Wg, x, p, masks)
    out = f["h3"]
    if method == "bp":
        loss = torch.nn.functional.cross_entropy(out, lab)
    else:
        onehot = torch.nn.functional.one_hot(lab, 10).bool()
        loss = torch.where(onehot, torch.relu(1 - out), torch.relu(1 + out) / 9).sum(1).mean()
    loss.backward()
    assert (conv_fields(W0, x, p).abs() * p.slope >= 1).float().mean() > 0.05  # σ' masks something
    for k in W0:
        np.testing.assert_allclose(W[k].numpy(), (W0[k] - p.lr * Wg[k].grad).detach().numpy(), rtol=0, atol=1e-13, err_msg=k)
        assert not torch.equal(W[k], W0[k]), k


def test_simpnet_urfb_symmetric_start_is_bp_hinge_and_frfb_keeps_R():
    pu = dataclasses.replace(P, method="urfb", feedback_after_update=True)
    W0 = {k: torch.as_tensor(v) for k, v in init_simpnet(pu, 2).items()}
    W0["R2"], W0["R3"] = W0["W2"].T.clone(), W0["W3"].T.clone()
    Wu = dict(W0)
    Wb = {k: v for k, v in W0.items() if not k.startswith("R")}
    x, lab = _data(seed=5)
    for _ in range(3):
        masks = _masks(pu, 6)
        simpnet_step(Wu, x, lab, pu, masks)
        simpnet_step(Wb, x, lab, dataclasses.replace(pu, method="bp_hinge"), masks)
    for k in Wb:
        np.testing.assert_allclose(Wu[k].numpy(), Wb[k].numpy(), rtol=0, atol=1e-13)
    pf = dataclasses.replace(pu, method="frfb")
    Wf = dict(W0)
    simpnet_step(Wf, x, lab, pf, _masks(pf, 6))
    assert torch.equal(Wf["R2"], W0["R2"]) and not torch.equal(Wf["W2"], W0["W2"])


def test_simpnet_trainer_through_the_circuit():
    c = URFB(dataclasses.replace(P, feedback_after_update=True, method="urfb", batch=4))
    tr = c.make_trainer(784, 10, seed=0, dtype="float64")
    rng = np.random.default_rng(1)
    x, y = rng.uniform(0, 1, (12, 784)), rng.integers(0, 10, 12)
    w0 = tr.weights()
    tr.train_epoch(x, y, 0)
    w1 = tr.weights()
    assert all(not np.allclose(w0[k], w1[k]) for k in w0)
    assert set(tr.epoch_metrics()) == {"corr_W2_R2", "corr_W3_R3"}
    assert tr.predict(x).shape == (12,)
