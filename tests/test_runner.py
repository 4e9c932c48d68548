"""Runs: results folder layout, skip of complete runs, resume after a crash, config/folder mismatches, and a
missing dataset offline. Uses scikit-learn's bundled digits (small subsets) and the twocomp demo circuit."""

import json
import os

import numpy as np
import pytest

from circuits.twocomp import TwoCompTrainer
from neuromorph.config import config_from_dict
from neuromorph.errors import ConfigError, DataUnavailableError
from neuromorph.runner import load_checkpoint, run

pytestmark = pytest.mark.filterwarnings("ignore:_get_vc_env is private")

PARAMS = {"n_in": 64, "n_out": 10, "n_hidden": 12, "n_inh": 3, "batch": 8, "t_free": 8, "t_nudged": 4, "lr_ho": 0.3}


@pytest.fixture(autouse=True)
def _no_machine_data(monkeypatch, tmp_path_factory):
    monkeypatch.setenv("NEUROMORPH_DATA", str(tmp_path_factory.mktemp("no_data")))


def config(epochs=2, **train):
    return config_from_dict(
        {
            "circuit": "twocomp",
            "seed": 3,
            "name": "t",
            "params": PARAMS,
            "train": {"dataset": "digits", "epochs": epochs, "n_train": 96, "n_test": 40, "threads": 1, **train},
        }
    )


def metrics(folder):
    return [json.loads(ln) for ln in (folder / "metrics.jsonl").read_text().splitlines() if ln]


def checkpoint_weights(folder):
    state = load_checkpoint(folder)
    return state["epoch"], state["trainer"]["weights"]


def quiet(*_a, **_k):
    pass


def test_results_folder_and_skip(tmp_path, monkeypatch):
    out = tmp_path / "run"
    cfg = config(epochs=2)
    assert run(cfg, out, progress=False, log=quiet) == out

    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "complete"
    assert manifest["config"] == json.loads(json.dumps(cfg.to_dict()))
    assert manifest["config_digest"] == cfg.digest()
    assert manifest["seed"] == 3
    assert "git_commit" in manifest and "git_changes" in manifest
    assert manifest["versions"]["brian2"] and manifest["versions"]["torch"] and manifest["versions"]["python"]
    assert manifest["timings"]["total_s"] > 0 and manifest["timings"]["train_s"] > 0
    assert manifest["data"] == {"dataset": "digits", "source": manifest["data"]["source"], "n_train": 96, "n_test": 40,
                                "n_features": 64, "n_classes": 10}

    rows = metrics(out)
    assert [r["epoch"] for r in rows] == [1, 2]  # numbered as the console prints them (epoch 1/2, 2/2)
    for r in rows:
        assert 0.0 <= r["test_acc"] <= 1.0 and 0.0 <= r["train_acc"] <= 1.0
        # test accuracy is a multiple of 1/40 (40 test samples)
        assert abs(r["test_acc"] * 40 - round(r["test_acc"] * 40)) < 1e-9
    assert manifest["final"] == {"epoch": 2, "test_acc": rows[1]["test_acc"], "train_acc": rows[1]["train_acc"]}
    assert checkpoint_weights(out)[0] == 2
    for fig in ("learning_curve.png", "phase_timeline.png"):
        data = (out / "figures" / fig).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 1000
    report = (out / "report.md").read_text()
    assert "test accuracy" in report and "figures/learning_curve.png" in report

    # a second run of the same config is skipped: nothing retrained, nothing rewritten
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}

    def boom(*a, **k):
        raise AssertionError("a complete run must not train again")

    monkeypatch.setattr(TwoCompTrainer, "train_epoch", boom)
    logs = []
    assert run(cfg, out, progress=False, log=logs.append) == out
    assert any("already complete" in m for m in logs)
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()} == before

    # a different config may not write into this folder
    with pytest.raises(ConfigError, match="different config"):
        run(config(epochs=3), out, progress=False, log=quiet)


def test_resume_reproduces_uninterrupted_run(tmp_path, monkeypatch):
    cfg = config(epochs=3)
    a, b = tmp_path / "A", tmp_path / "B"
    run(cfg, a, progress=False, log=quiet)

    real = TwoCompTrainer.train_epoch
    calls = []

    def crash_on_second_epoch(self, x, y, epoch, progress=None):
        calls.append(epoch)
        if epoch == 1:
            raise RuntimeError("simulated crash in epoch 2")
        return real(self, x, y, epoch, progress=progress)

    monkeypatch.setattr(TwoCompTrainer, "train_epoch", crash_on_second_epoch)
    with pytest.raises(RuntimeError, match="simulated crash"):
        run(cfg, b, progress=False, log=quiet)
    assert calls == [0, 1]
    crashed = json.loads((b / "manifest.json").read_text())
    assert crashed["status"] == "failed"
    assert "simulated crash in epoch 2" in crashed["error"]
    assert [r["epoch"] for r in metrics(b)] == [1]
    assert checkpoint_weights(b)[0] == 1

    # an unfinished folder is not silently restarted or continued
    with pytest.raises(ConfigError, match="--resume"):
        run(cfg, b, progress=False, log=quiet)

    monkeypatch.setattr(TwoCompTrainer, "train_epoch", real)
    logs = []
    run(cfg, b, resume=True, progress=False, log=logs.append)
    assert any("resuming from the checkpoint after epoch 1" in m for m in logs)
    assert json.loads((b / "manifest.json").read_text())["status"] == "complete"

    ma, mb = metrics(a), metrics(b)
    assert [r["epoch"] for r in mb] == [1, 2, 3]
    assert [r["test_acc"] for r in mb] == [r["test_acc"] for r in ma]
    assert [r["train_acc"] for r in mb] == [r["train_acc"] for r in ma]
    ea, wa = checkpoint_weights(a)
    eb, wb = checkpoint_weights(b)
    assert ea == eb == 3 and set(wa) == set(wb)
    for k in wa:
        np.testing.assert_array_equal(wb[k], wa[k], err_msg=k)
    # the run trained: the final plastic weights are not the initial ones
    from circuits.twocomp import TwoComp

    w0 = TwoComp(**PARAMS).initial_weights(3)
    assert np.abs(wa["W_xh"] - w0["W_xh"]).max() > 1e-4
    np.testing.assert_array_equal(wa["W_fb"], w0["W_fb"].astype(np.float32).astype(np.float64))


def test_missing_dataset_offline(tmp_path, monkeypatch):
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setenv("NEUROMORPH_DATA", str(empty))
    cfg = config_from_dict(
        {
            "circuit": "twocomp",
            "params": {"n_in": 784, "n_out": 10},
            "train": {"dataset": "mnist", "epochs": 1, "data_root": str(empty)},
        }
    )
    with pytest.raises(DataUnavailableError, match="mnist") as exc:
        run(cfg, tmp_path / "out", progress=False, log=quiet)
    assert str(empty) in str(exc.value)


def test_trainer_options_reach_the_trainer_and_the_manifest(tmp_path):
    """[trainer] is checked against circuit.trainer_options() before anything is created, passed to
    make_trainer, and recorded in the manifest; a float64 run differs from the float32 default."""
    import torch

    from neuromorph.runner import load_run

    raw = {
        "circuit": "twocomp",
        "params": {"n_in": 64, "n_hidden": 12, "n_inh": 4, "n_out": 10, "batch": 16},
        "train": {"dataset": "digits", "epochs": 1, "n_train": 160, "n_test": 80},
    }
    out64 = run(config_from_dict({**raw, "trainer": {"dtype": "float64"}}), tmp_path / "f64", progress=False, log=lambda *a: None)
    out32 = run(config_from_dict(raw), tmp_path / "f32", progress=False, log=lambda *a: None)
    m64 = json.loads((out64 / "manifest.json").read_text())
    assert m64["backend"]["trainer_options"] == {"dtype": "float64"}
    assert json.loads((out32 / "manifest.json").read_text())["backend"]["trainer_options"] == {"dtype": "float32"}
    _, _, trainer = load_run(out64)
    assert trainer.dtype == torch.float64
    w64, w32 = load_run(out64)[2].weights(), load_run(out32)[2].weights()
    assert 0 < max(abs(w64[k] - w32[k]).max() for k in w64) < 1e-4  # same run, other rounding

    with pytest.raises(ConfigError, match=r"unknown trainer option\(s\) \['kernel'\]; valid options are dtype"):
        run(config_from_dict({**raw, "trainer": {"kernel": "cpp"}}), tmp_path / "bad", progress=False)
    assert not (tmp_path / "bad").exists()
    no_train = {k: v for k, v in raw.items() if k != "train"}
    with pytest.raises(ConfigError, match=r"\[trainer\] options need a \[train\] section"):
        run(config_from_dict({**no_train, "trainer": {"dtype": "float64"}}), tmp_path / "bad2", progress=False)


def test_git_changes_lists_modified_tracked_files(tmp_path):
    """The manifest's git_changes: [] on a clean checkout, the modified tracked files otherwise, None outside git."""
    import shutil
    import subprocess

    from neuromorph.runner import git_changes

    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    repo = tmp_path / "repo"
    repo.mkdir()
    env = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t",
           "PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path)}
    for cmd in (["git", "init", "-q"], ["git", "add", "-A"], ["git", "commit", "-qm", "a"]):
        if cmd[1] == "add":
            (repo / "a.py").write_text("x = 1\n")
            (repo / "b.py").write_text("y = 2\n")
        subprocess.run(cmd, cwd=repo, check=True, env=env)
    assert git_changes(repo) == []
    (repo / "b.py").write_text("y = 3\n")
    (repo / "new.py").write_text("")  # untracked: not a change to what the commit says
    assert git_changes(repo) == ["b.py"]
    (tmp_path / "plain").mkdir()
    assert git_changes(tmp_path / "plain") is None


def test_a_config_the_circuit_cannot_simulate_still_completes(tmp_path):
    """pHSIC's batch trainer trains the cosine kernel, its streaming circuit cannot simulate it: the run's optional
    phase-timeline figure is skipped with a note, and the run completes (it used to end 'failed' after training)."""
    cfg = config_from_dict({
        "circuit": "phsic", "seed": 0, "name": "cos",
        "params": {"sizes": [64, 16, 10], "kernel": "cosine", "mode": "divnorm", "n_groups": 4, "batch": 32,
                   "epochs": 1, "milestones": []},
        "train": {"dataset": "digits", "epochs": 1, "n_train": 96, "n_test": 40, "threads": 1},
    })
    lines = []
    out = run(cfg, tmp_path / "cos", log=lambda *a, **k: lines.append(" ".join(map(str, a))))
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "complete", manifest.get("error")
    assert not (out / "figures" / "phase_timeline.png").exists()
    assert any("no phase timeline" in ln and "Gaussian kernel only" in ln for ln in lines)


def test_eval_every_scores_every_kth_and_the_last_epoch_and_leaves_training_alone(tmp_path, monkeypatch):
    """train.eval_every = 2 over 5 epochs scores epochs 2, 4 and 5 with exactly the figures of an every-epoch run
    (evaluation draws no random number training uses), the weights match bit for bit, and a run resumed after
    an unscored epoch goes on the same way; the summary's final figures and curves come from the scored rows."""
    every, sparse, resumed = tmp_path / "every", tmp_path / "sparse", tmp_path / "resumed"
    run(config(epochs=5), every, progress=False, log=quiet)
    logs = []
    run(config(epochs=5, eval_every=2), sparse, progress=False, log=logs.append)
    full, part = metrics(every), metrics(sparse)
    assert [r["epoch"] for r in part] == [1, 2, 3, 4, 5]  # every epoch has its line (train seconds, checkpoint)
    scored = [r["epoch"] for r in part if "test_acc" in r]
    assert scored == [2, 4, 5]
    for r in part:
        if r["epoch"] in scored:
            ref = full[r["epoch"] - 1]
            assert (r["test_acc"], r["train_acc"]) == (ref["test_acc"], ref["train_acc"])
            assert r["eval_seconds"] >= 0
        else:
            assert "train_acc" not in r and "eval_seconds" not in r
    assert any("epoch 3/5:" in m and "evaluated every 2 epochs" in m for m in logs)
    we, ws = checkpoint_weights(every)[1], checkpoint_weights(sparse)[1]
    for k in we:
        np.testing.assert_array_equal(ws[k], we[k], err_msg=k)
    manifest = json.loads((sparse / "manifest.json").read_text())
    assert manifest["final"] == {"epoch": 5, "test_acc": full[4]["test_acc"], "train_acc": full[4]["train_acc"]}
    assert (sparse / "figures" / "learning_curve.png").read_bytes()[:4] == b"\x89PNG"

    real = TwoCompTrainer.train_epoch

    def crash_in_epoch_4(self, x, y, epoch, progress=None):
        if epoch == 3:
            raise RuntimeError("simulated crash in epoch 4")
        return real(self, x, y, epoch, progress=progress)

    monkeypatch.setattr(TwoCompTrainer, "train_epoch", crash_in_epoch_4)
    with pytest.raises(RuntimeError, match="epoch 4"):
        run(config(epochs=5, eval_every=2), resumed, progress=False, log=quiet)
    monkeypatch.setattr(TwoCompTrainer, "train_epoch", real)
    run(config(epochs=5, eval_every=2), resumed, resume=True, progress=False, log=quiet)
    strip = lambda rows: [{k: v for k, v in r.items() if not k.endswith("_seconds")} for r in rows]  # noqa: E731
    assert strip(metrics(resumed)) == strip(part)

    from neuromorph.summarize import learning_curves, summarize

    (group,) = summarize([sparse])
    assert group.stats["test_acc"]["mean"] == full[4]["test_acc"] and group.stats["test_acc"]["n"] == 1
    learning_curves([group], tmp_path / "curve.png")
    assert (tmp_path / "curve.png").read_bytes()[:4] == b"\x89PNG"


def test_eval_every_must_be_positive():
    with pytest.raises(ConfigError, match=r"train.eval_every = 0.*every k-th epoch"):
        from neuromorph.config import check_values

        check_values(config(eval_every=0))
