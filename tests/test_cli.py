"""The `neuromorph` command, in-process through neuromorph.cli.main (exit codes, stdout/stderr), plus the
installed console script once in a subprocess."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from neuromorph.cli import main

pytestmark = pytest.mark.filterwarnings("ignore:_get_vc_env is private")


@pytest.fixture(autouse=True)
def _no_machine_data(monkeypatch, tmp_path_factory):
    monkeypatch.setenv("NEUROMORPH_DATA", str(tmp_path_factory.mktemp("no_data")))


def test_list(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    line = next(ln for ln in out.splitlines() if ln.startswith("twocomp "))
    assert "two-compartment" in line


def test_verify_json(tmp_path, capsys):
    path = tmp_path / "v.json"
    assert main(["verify", "twocomp", "--json", str(path)]) == 0
    out = capsys.readouterr().out
    assert "PASSED" in out and f"wrote {path}" in out
    d = json.loads(path.read_text())
    assert d["passed"] is True and d["backend"] == "numpy" and d["circuit"] == "twocomp"
    assert d["max_rel_error"] <= 1e-9 and d["n_updates"] == 3


def test_verify_failure_exits_1(capsys):
    # no error can be <= -1: the check fails and the exit status says so
    assert main(["verify", "twocomp", "--samples", "4", "--tolerance=-1"]) == 1
    assert "FAILED" in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv, needle",
    [
        (["verify", "twocomp", "--backend", "nope"], "unknown Brian2 backend 'nope'"),
        (["verify", "nonexistent"], "unknown circuit 'nonexistent'"),
        (["verify", "twocomp", "--set", "params.n_hidden=-1"], "n_hidden must be >= 1"),
        (["verify", "twocomp", "--set", "params.n_hiden=4"], "n_hiden"),
    ],
)
def test_verify_errors(capsys, argv, needle):
    assert main(argv) == 2
    cap = capsys.readouterr()
    assert cap.err.startswith("error: ") and needle in cap.err
    assert len(cap.err.strip().splitlines()) == 1  # one line, no traceback
    assert "Traceback" not in cap.err


def test_run_missing_config(tmp_path, capsys):
    missing = tmp_path / "missing.toml"
    assert main(["run", str(missing)]) == 2
    err = capsys.readouterr().err
    assert "missing.toml" in err and "does not exist" in err


def test_run_unknown_key(tmp_path, capsys):
    path = tmp_path / "bad.toml"
    path.write_text('circuit = "twocomp"\n[train]\nepochs = 1\nlearning_rate = 0.1\n')
    assert main(["run", str(path), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "learning_rate" in err and "[train]" in err
    assert not (tmp_path / "out").exists()  # rejected before anything is written


def test_run_set_override_validated(tmp_path, capsys):
    path = tmp_path / "ok.toml"
    path.write_text('circuit = "twocomp"\n[train]\nepochs = 1\n')
    assert main(["run", str(path), "--set", 'train.epochs="ten"', "--out", str(tmp_path / "out")]) == 2
    assert "train.epochs" in capsys.readouterr().err


def test_info_json(capsys):
    assert main(["info", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert set(info["targets"]) == {"numpy", "cython", "cpp", "cuda"}
    assert info["targets"]["numpy"] == "available"
    assert info["versions"]["brian2"] and "gpu" in info and "nvcc" in info


def test_console_script():
    exe = Path(sys.executable).parent / "neuromorph"
    if not exe.exists():
        found = shutil.which("neuromorph")
        if found is None:
            pytest.skip("the neuromorph console script is not installed (pip install -e .)")
        exe = Path(found)
    r = subprocess.run([str(exe), "--help"], capture_output=True, text=True, timeout=120, env={**os.environ})
    assert r.returncode == 0, r.stderr
    for cmd in ("list", "info", "run", "verify", "compare", "bench"):
        assert cmd in r.stdout


def test_compare_phsic_without_dataset(tmp_path, capsys):
    """pHSIC's example trials hold sample pairs: `compare` infers on its example_inputs (samples b)."""
    path = tmp_path / "c.json"
    args = ["compare", "phsic", "--samples", "3", "--t-samples", "0.1", "--backend", "numpy", "--encoding", "regular",
            "--set", "params.sizes=[12,8,8,3]", "--set", "params.n_groups=2", "--json", str(path)]
    assert main(args) == 0
    d = json.loads(path.read_text())
    from circuits.phsic.circuit import PHSIC
    from neuromorph.circuit import get_circuit

    circuit = get_circuit("phsic", sizes=[12, 8, 8, 3], n_groups=2)
    x, y = circuit.example_inputs(3, 0)
    assert isinstance(circuit, PHSIC) and x.shape == (3, 12) and np.all(np.abs(x) <= 1)
    # the reported rate accuracy is the rate model's on exactly these inputs and labels
    rate_acc = float(np.mean(circuit.predict_rate(circuit.initial_weights(0), x) == y))
    assert d["n_samples"] == 3 and d["rate_accuracy"] == pytest.approx(rate_acc)
    assert d["rows"][0]["agreement"] >= 2 / 3 and d["rows"][0]["spikes_per_inference"] > 0
