"""The runner's reconstruction path end to end: a tiny KSM config through `neuromorph run` (the smpc circuit's
ksm-admm solver), its metrics/report/summary, and bad configs -> one `error:` line."""

import json

import pytest

from neuromorph.cli import main

TINY = """
circuit = "smpc"
seed = 3
name = "ksm-tiny"

[params]
n_in = 30
n_latent = 16
batch = 64

[trainer]
solver = "ksm-admm"

[trainer.ksm]
setting = "synthetic"
K = 16
batch = 64
init = "truth"
truth = "ksm_sparse"
sweeps = 2

[train]
dataset = "ksm_sparse"
scale = "raw"
n_train = 256
n_test = 64
epochs = 2
threads = 1

[paper]
metric = "test_r2"
value = 1.0
"""


def test_reconstruction_run_end_to_end(tmp_path, capsys):
    cfg = tmp_path / "tiny.toml"
    cfg.write_text(TINY)
    out = tmp_path / "run"
    assert main(["run", str(cfg), "--out", str(out), "--no-progress"]) == 0
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [1, 2]
    last = rows[-1]
    assert "test_acc" not in last and {"test_r2", "train_r2", "test_sparsity_1", "train_l0_mode", "fit_r2"} <= set(last)
    assert last["test_r2"] > 0.99 and last["fit_r2"] > 0.99 and last["train_l0_mode"] == 2
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "complete" and manifest["task"] == "reconstruction"
    assert manifest["final"]["test_r2"] == last["test_r2"]
    report = (out / "report.md").read_text()
    assert f"test R² (test_r2) {last['test_r2']:.4f}" in report
    assert (out / "figures" / "ksm_dictionary.png").stat().st_size > 1000
    assert "test_r2" in capsys.readouterr().out
    # summarize picks the reconstruction headline by itself and puts the paper's figure beside it
    assert main(["summarize", str(out), "--out", str(tmp_path / "sum")]) == 0
    table = capsys.readouterr().out
    row = next(line for line in table.splitlines() if "| test_r2 |" in line)
    assert f"**{last['test_r2']:.4g}**" in row and "| 1 |" in row
    assert "test_acc" not in table




@pytest.mark.parametrize("old, new, needle", [
    ('K = 16\nbatch = 64', 'K = 12\nbatch = 64', "differ from [params] n_latent"),  # wrong K
    ('setting = "synthetic"', 'setting = "synthetic"\nconstraint = "l2"', "unknown constraint 'l2'"),
    ("n_in = 30", "n_in = 31", "set params.n_in = 30"),  # shape mismatch with the data
    ('truth = "ksm_sparse"', 'truth = "ksm_sparse"\nlamda = 0.5', "unknown key(s) ['lamda']"),
])
def test_bad_config_one_error_line(tmp_path, capsys, old, new, needle):
    cfg = tmp_path / "bad.toml"
    assert old in TINY
    cfg.write_text(TINY.replace(old, new, 1))
    code = main(["run", str(cfg), "--out", str(tmp_path / "out"), "--no-progress"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and err[0].startswith("error: ") and needle in err[0], err
    if "n_in" not in old:  # a bad [trainer] table is refused before anything is created
        assert not (tmp_path / "out").exists()
