"""SMPC's spiking twin: the Brian2 network (circuits.smpc.spiking.run_brian) against the independent torch twin
(spiking.run) on a tiny case, spike for spike; the twin's count-read latents against the rate circuit's fixed
point; one-line errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from circuits.smpc import reference, spiking
from circuits.smpc.params import SMPCParams, initial_weights
from neuromorph.errors import ConfigError

pytestmark = pytest.mark.filterwarnings("ignore:_get_vc_env is private")


def _case(**kw):
    p = SMPCParams(n_in=4, n_latent=3, n_y=3, batch=2, lam=0.1, **kw)
    W = {k: torch.as_tensor(v) for k, v in initial_weights(p, 0).items()}
    x = torch.as_tensor(np.random.default_rng(1).standard_normal((3, 4)))
    return p, W, x


@pytest.mark.parametrize("interneuron", ["fixed", "dynamic"])
def test_brian_twin_equals_torch_twin(interneuron):
    # 3 samples x (3 + 3 + 3) signed units, 600 steps at r_max 4 kHz (a few hundred spikes): every spike count
    # must agree exactly (deterministic encoders; a rounding flip would change a count by 1) and the latents
    # to rounding. numpy target: no compiler, < 20 s.
    p, W, x = _case(interneuron=interneuron, eta_y=0.3, eta_z=0.3)
    kw = dict(t_sample=0.06, r_max=4000.0, record_every=300)
    if interneuron == "dynamic":  # a warm start: the traces start at the start state's spiking estimates
        kw["state"] = reference.infer(p, W, x, 5)
    a = spiking.run(p, W, x, **kw)
    b = spiking.run_brian(p, W, x, target="numpy", **kw)
    assert a["spikes"]["z"] > 10 and a["spikes"]["zeta"] > 100  # the case exercises every pathway
    for name in ("y", "z", "zeta"):
        assert torch.equal(a["counts"][name], b["counts"][name]), name
        assert a["spikes"][name] == b["spikes"][name]
    np.testing.assert_allclose(b["t"].numpy(), a["t"].numpy(), rtol=0, atol=1e-12)
    np.testing.assert_allclose(b["z"].numpy(), a["z"].numpy(), rtol=0, atol=1e-12)
    np.testing.assert_allclose(b["z_rate"].numpy(), a["z_rate"].numpy(), rtol=0, atol=1e-12)


def test_torch_twin_reaches_the_rate_fixed_point():
    # The flow's fixed point is the rate circuit's: after 1 s (50 iterations of τ = 20 ms at the stable steps)
    # the twin's latent state is within 3 % of the converged rate latents and the latents read from the last
    # half's spike counts (which average the end of the approach) within 6 % (measured 1.5 % and 4.5 %).
    p, W, x = _case(eta_y=0.3, eta_z=0.3)
    p = reference.stable_steps(p, W)
    _, z_rate, _ = reference.infer(p, W, x, 3000)
    sp = spiking.run(p, W, x, t_sample=1.0, r_max=4000.0, record_every=10000)
    norm = float(torch.linalg.norm(z_rate))
    assert norm > 0.5
    assert float(torch.linalg.norm(sp["z"][-1] - z_rate)) / norm < 0.03
    assert float(torch.linalg.norm(sp["z_rate"] - z_rate)) / norm < 0.06


def test_errors():
    p, W, x = _case(constraint="simplex")
    with pytest.raises(ConfigError, match="ℓ1 latents only"):
        spiking.run_brian(p, W, x, t_sample=0.01)
    p, W, x = _case()
    with pytest.raises(ConfigError, match="dt .* must be below tau"):
        spiking.run(p, W, x, t_sample=0.01, dt=0.05)
    with pytest.raises(ConfigError, match="target must be"):
        spiking.run_brian(p, W, x, t_sample=0.01, target="cpp_standalone")
