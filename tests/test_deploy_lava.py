"""The fixed-point emulation against Intel's Lava (lava-nc 0.10, bit-accurate LIF and Dense), spike for spike.

Lava needs Python 3.10 and numpy < 2, so it lives in its own environment: set NEUROMORPH_LAVA_PYTHON to that
interpreter (e.g. a venv made with pyenv's 3.10 and `pip install lava-nc==0.10.0`). Skipped otherwise.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

LAVA_PY = os.environ.get("NEUROMORPH_LAVA_PYTHON", "")
SCRIPT = Path(__file__).resolve().parents[1] / "experiments" / "deploy" / "lava_crosscheck.py"


def _check_lava() -> None:
    """Named but broken is a failure, not a skip (`make test-lava` names the venv it just built)."""
    if not Path(LAVA_PY).exists():
        pytest.fail(f"NEUROMORPH_LAVA_PYTHON={LAVA_PY} does not exist; run `make test-lava`, which builds .venv-lava")
    r = subprocess.run([LAVA_PY, "-c", "import lava.proc.lif.process"], capture_output=True, text=True, timeout=120)
    if r.returncode != 0:
        pytest.fail(f"{LAVA_PY} cannot import lava-nc: {r.stderr.strip().splitlines()[-1:]}; "
                    "install it there with `pip install lava-nc==0.10.0`")


@pytest.mark.skipif(not LAVA_PY, reason="set NEUROMORPH_LAVA_PYTHON to a Python 3.10 with lava-nc 0.10 installed "
                    "(`make test-lava` does it)")
def test_fixed_point_matches_lava_spike_for_spike(tmp_path):
    _check_lava()
    from neuromorph.circuit import get_circuit
    from neuromorph.deploy.pointnet import extract, fixed_point, regular_input_spikes, run_fixed_point

    c = get_circuit("twocomp", n_in=6, n_hidden=8, n_inh=3, n_out=4)
    w = c.initial_weights(1)
    w = {k: 3.0 * v for k, v in w.items()}  # stronger drive: every population spikes within the run
    w["W_hi"] = 10.0 * w["W_hi"]  # (H 3, Inh 14, O 2 spikes; exponents 2..5 exercise the weight shifts)
    x = np.random.default_rng(2).random((1, 6))
    net = extract(c, w, x, t_sample=0.04, r_max=200.0, tau_syn=0.02)
    fp = fixed_point(net, bits=8)
    assert all(b == 0 for b in fp.bias.values())
    spikes_in = regular_input_spikes(net.input_rates, 200.0, net.dt, net.trial_steps)
    ours = run_fixed_point(net, fp, spikes_in)
    spec = {
        "steps": net.trial_steps, "input": net.input_name, "in_spikes": spikes_in[:, 0, :].astype(int).tolist(),
        "populations": {n: {"n": net.populations[n].n, "du": fp.du[n], "dv": fp.dv[n], "vth": fp.vth[n], "bias": 0}
                        for n in fp.order},
        "edges": [[p, pre, post, fp.mantissa[p].tolist(), fp.exponent[p]] for p, pre, post in fp.edges],
    }
    path = tmp_path / "net.json"
    path.write_text(json.dumps(spec))
    r = subprocess.run([LAVA_PY, str(SCRIPT), str(path)], capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stderr[-3000:]
    lava = json.loads(r.stdout.strip().splitlines()[-1])
    for n in fp.order:
        mine = ours[n][:, 0, :].astype(int)
        theirs = np.asarray(lava[n], int)
        assert mine.sum() > 0, f"population {n} never spiked: the check would be empty"
        np.testing.assert_array_equal(mine, theirs, err_msg=f"population {n}")
