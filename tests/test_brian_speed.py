"""What the Brian2 speed work relies on, checked cheaply (numpy runtime, nothing compiled): SMPC's transposed copy
of Omega stays equal to Omegaᵀ bit for bit, and benchmarks/brian_speed.py refuses bad arguments in one line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def test_smpc_transposed_omega_copy_stays_exact():
    """OmegaT (Zeta -> Z, carries Ωᵀζ back to the latent units) learns by the same rule as Omega with the
    product's factors swapped: after several updates it equals Omegaᵀ exactly, and Omega moved."""
    from brian2 import Network, second

    from neuromorph.brian import activate
    from neuromorph.circuit import get_circuit

    activate("numpy")
    c = get_circuit("smpc").verification_circuit()
    weights = c.initial_weights(0)
    data = c.example_data(3 * c.schedule.trials_per_update, 0)
    model = c.build_brian(weights, data)
    Om, _shape, _ = model.weight_probes["Omega"]
    OmT, var = model.transposed_copies["Omega"]
    Network(*model.objects).run(model.n_steps * model.dt * second, namespace=model.namespace)
    n_pre, n_post = np.shape(weights["Omega"])
    omega = np.asarray(Om.w_[:]).reshape(n_pre, n_post)
    copy = np.asarray(getattr(OmT, var + "_")[:]).reshape(n_post, n_pre)
    assert np.abs(omega - weights["Omega"]).max() > 1e-6, "Omega did not learn: the check would be empty"
    assert np.array_equal(copy, omega.T)


def test_benchmark_refuses_unknown_case(tmp_path):
    out = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "brian_speed.py"), "--out", str(tmp_path), "--cases", "nope"],
                         capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: unknown case(s) ['nope']; choose from ['corinfomax'")
