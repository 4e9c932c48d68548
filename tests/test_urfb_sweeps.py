"""experiments/urfb/corr_figure.py and accuracy_table.py on real (tiny) runs: the bands and table cells equal
mean/std recomputed here from each run's metrics.jsonl; which runs count; mixed configurations refused."""

from __future__ import annotations

import importlib.util
import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

from neuromorph.config import config_from_dict
from neuromorph.runner import run

pytestmark = pytest.mark.filterwarnings("ignore:_get_vc_env is private")

HERE = Path(__file__).resolve().parents[1] / "experiments" / "urfb"


def _load(name):
    sys.path.insert(0, str(HERE))
    spec = importlib.util.spec_from_file_location(name, HERE / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod  # dataclasses look their module up there
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    root = tmp_path_factory.mktemp("sweeps")
    for method in ("bp", "urfb", "frfb"):
        for seed in (0, 1):
            cfg = config_from_dict({
                "circuit": "urfb", "seed": seed, "name": f"d-{method}-seed{seed}",
                "params": {"sizes": [64, 10, 8, 10], "method": method, "batch": 20},
                "train": {"dataset": "digits", "epochs": 3, "n_train": 200, "n_test": 60, "threads": 1},
            })
            run(cfg, root / method / f"seed{seed}", progress=False, log=lambda *a: None)
    return root


def _rows(folder):
    return [json.loads(ln) for ln in (folder / "metrics.jsonl").read_text().splitlines() if ln]


def test_corr_bands_and_table_equal_the_metrics(sweep, tmp_path, capsys):
    corr, table = _load("corr_figure"), _load("accuracy_table")
    assert corr.main([str(sweep), "--out", str(tmp_path / "c")]) == 0
    assert table.main([str(sweep), "--out", str(tmp_path / "a")]) == 0
    assert (tmp_path / "c" / "corr.png").stat().st_size > 1000
    got = json.loads((tmp_path / "c" / "corr.json").read_text())
    arch = "digits mlp2 (64-10-8-10), 3 ep"
    assert set(got["curves"]) == {arch} and list(got["curves"][arch]) == ["urfb", "frfb"]  # BP has no R
    for method in ("urfb", "frfb"):
        for layer in ("layer2", "layer3"):
            curves = np.array([[r[f"corr_W{layer[5:]}_R{layer[5:]}"] for r in _rows(sweep / method / f"seed{s}")]
                               for s in (0, 1)])
            band = got["curves"][arch][method][layer]
            np.testing.assert_allclose(band["mean"], curves.mean(0), rtol=0, atol=1e-12)
            np.testing.assert_allclose(band["std"], curves.std(0, ddof=1), rtol=0, atol=1e-12)
            assert band["n"] == 2 and band["epochs"] == [1, 2, 3]
    acc = json.loads((tmp_path / "a" / "accuracy.json").read_text())
    assert acc["methods"] == ["bp", "urfb", "frfb"] and acc["rows"] == [arch]
    for method in ("bp", "urfb", "frfb"):
        finals = [_rows(sweep / method / f"seed{s}")[-1]["test_acc"] for s in (0, 1)]
        cell = acc["cells"][arch][method]
        assert cell["mean"] == pytest.approx(np.mean(finals), abs=1e-12)
        assert cell["std"] == pytest.approx(np.std(finals, ddof=1), abs=1e-12)
    md = (tmp_path / "a" / "accuracy.md").read_text()
    assert f"{100 * acc['cells'][arch]['bp']['mean']:.2f}" in md


def test_which_runs_count_and_mixed_configs(sweep, tmp_path, capsys):
    corr = _load("corr_figure")
    root = tmp_path / "r"
    shutil.copytree(sweep / "urfb", root / "urfb")
    # a run that failed after logging every epoch counts (unless --complete-only); one cut short never does
    m = root / "urfb" / "seed1" / "manifest.json"
    man = json.loads(m.read_text())
    m.write_text(json.dumps({**man, "status": "failed"}))
    assert [r.seed for r in corr.load_runs([root], log=lambda s: None)] == [0, 1]
    assert [r.seed for r in corr.load_runs([root], complete_only=True, log=lambda s: None)] == [0]
    metrics = root / "urfb" / "seed1" / "metrics.jsonl"
    metrics.write_text(metrics.read_text().splitlines()[0] + "\n")
    assert [r.seed for r in corr.load_runs([root], log=lambda s: None)] == [0]
    # a run of another configuration (lr) in the same cell is refused with one error line
    m0 = root / "urfb" / "seed0"
    other = root / "urfb" / "lr"
    shutil.copytree(m0, other)
    man = json.loads((other / "manifest.json").read_text())
    man["config"]["params"]["lr"] = 0.05
    (other / "manifest.json").write_text(json.dumps(man))
    assert corr.main([str(root), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("error: runs of digits / mlp2 (64-10-8-10), 3 ep / urfb come from 2 different configurations")
