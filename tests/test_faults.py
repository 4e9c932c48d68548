"""Fault injection: every way a hostile user or an unlucky machine could break a run, and what must happen.

Each case of issue 13 is reproduced and the new behaviour asserted: data-only checkpoints that refuse foreign
configs and never unpickle; a numerical guard (status ``diverged``) and strict-JSON manifests; whole-config
validation before anything is created; a lock on the results folder; one-line ``error:`` messages (exit 2);
Ctrl-C (exit 130, status ``interrupted``, also while Brian2 compiles); removed temporary build folders; the
umask; ``train_s`` after a resume. The last test is a randomized campaign that kills runs (SIGINT and
SIGKILL, also in the middle of a checkpoint write) and resumes them, asserting bit-identical results.

Run as a script (``python tests/test_faults.py campaign OUT SEED N``) this file is the campaign's driver: it
imports torch and neuromorph once and forks each run from that state, so twenty-odd kills do not pay twenty
interpreter start-ups.
"""

from __future__ import annotations

import json
import os
import pickle
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from neuromorph.brian.devices import OPT_LEVEL_ENV

REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / "experiments" / "demo" / "twocomp_digits.toml"

# the demo circuit, shrunk: 8x8 digits, 96 training samples, an epoch takes a fraction of a second
PARAMS = {"n_in": 64, "n_out": 10, "n_hidden": 12, "n_inh": 3, "batch": 8, "t_free": 8, "t_nudged": 4, "lr_ho": 0.3}


def _config_dict(epochs=2, seed=3, params=None, **sections):
    train = {"dataset": "digits", "epochs": epochs, "n_train": 96, "n_test": 40, "threads": 1}
    train.update(sections.pop("train", {}))
    return {"circuit": "twocomp", "seed": seed, "name": "t", "params": {**PARAMS, **(params or {})}, "train": train, **sections}


def _toml_value(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    return repr(v)


def write_toml(path: Path, d: dict) -> Path:
    lines = [f"{k} = {_toml_value(v)}" for k, v in d.items() if not isinstance(v, dict)]
    for k, v in d.items():
        if isinstance(v, dict):
            lines += [f"[{k}]"] + [f"{kk} = {_toml_value(vv)}" for kk, vv in v.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


def strict_json(path: Path):
    """json.loads that rejects the bare NaN / Infinity tokens Python's json would otherwise accept."""

    def bad(token):
        raise AssertionError(f"{path} holds a bare {token}: not JSON")

    return json.loads(Path(path).read_text(), parse_constant=bad)


def quiet(*_a, **_k):
    pass


def timing_free(rows):
    return [{k: v for k, v in r.items() if k not in ("train_seconds", "eval_seconds")} for r in rows]


def metrics(folder):
    return [json.loads(ln) for ln in (Path(folder) / "metrics.jsonl").read_text().splitlines() if ln]


# --------------------------------------------------------------------------------------------------------------
# The in-process tests
# --------------------------------------------------------------------------------------------------------------
if __name__ != "__main__":
    from neuromorph.cli import main
    from neuromorph.config import config_from_dict
    from neuromorph.errors import ConfigError, CorruptFileError, DivergedError, ResultsFolderError, interrupted_build
    from neuromorph.runner import load_checkpoint, load_run, run

    pytestmark = pytest.mark.filterwarnings("ignore:_get_vc_env is private")


@pytest.fixture(autouse=True)
def _no_machine_data(monkeypatch, tmp_path_factory):
    monkeypatch.setenv("NEUROMORPH_DATA", str(tmp_path_factory.mktemp("no_data")))


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """One complete 2-epoch run (copied by tests that damage it)."""
    out = tmp_path_factory.mktemp("finished") / "run"
    run(config_from_dict(_config_dict()), out, progress=False, log=quiet)
    return out


@pytest.fixture(scope="module")
def unfinished(tmp_path_factory):
    """A run stopped (Ctrl-C) after epoch 1 of 3: manifest 'interrupted', checkpoint after epoch 1 (epochs are numbered from 1)."""
    from circuits.twocomp import TwoCompTrainer

    out = tmp_path_factory.mktemp("unfinished") / "run"
    real = TwoCompTrainer.train_epoch

    def stop_in_second(self, x, y, epoch, progress=None):
        if epoch == 1:
            raise KeyboardInterrupt
        return real(self, x, y, epoch, progress=progress)

    TwoCompTrainer.train_epoch = stop_in_second
    try:
        with pytest.raises(KeyboardInterrupt):
            run(config_from_dict(_config_dict(epochs=3)), out, progress=False, log=quiet)
    finally:
        TwoCompTrainer.train_epoch = real
    return out


def copy_run(src: Path, dst: Path) -> Path:
    import shutil

    shutil.copytree(src, dst)
    return dst


def one_error_line(capsys) -> str:
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in err, err
    return lines[0]


# ---- 1. checkpoints: data only, bound to config and seed -------------------------------------------------------
def test_checkpoint_is_data_only_with_digest_seed_epoch(finished):
    ck = finished / "checkpoint.npz"
    assert not (finished / "checkpoint.pkl").exists()
    with np.load(ck, allow_pickle=False) as f:  # loads without pickle: only plain arrays inside
        assert all(f[k].dtype != object for k in f.files)
    state = load_checkpoint(finished)
    cfg = config_from_dict(_config_dict())
    assert (state["epoch"], state["config_digest"], state["seed"], state["circuit"]) == (2, cfg.digest(), 3, "twocomp")
    assert set(state["trainer"]["weights"]) == {"W_xh", "W_ho", "W_fb", "W_hi", "W_ih"}


def test_state_roundtrip_is_generic_and_bit_exact():
    import torch

    from neuromorph.checkpoint import decode_state, encode_state, read_checkpoint, save_checkpoint

    rng = np.random.default_rng(0)
    state = {
        "weights": {"W": rng.normal(size=(3, 4)), "b": rng.normal(size=4).astype(np.float32)},
        "opt": {"m": torch.randn(2, 3, dtype=torch.float64), "v": None, "steps": [np.int64(7), 3, 2.5]},
        "sizes": (784, 100, 10),
        "flags": {"sparse": True, "mode": "DO"},
        "odd": [float("nan"), float("-inf"), -0.0, np.float32(1.5)],
    }
    tree, arrays = encode_state(state)
    json.dumps(tree, allow_nan=False)  # the structure is strict JSON
    back = decode_state(tree, arrays)
    assert back["weights"]["W"].tobytes() == state["weights"]["W"].tobytes()
    assert back["weights"]["b"].dtype == np.float32
    assert isinstance(back["opt"]["m"], torch.Tensor) and torch.equal(back["opt"]["m"], state["opt"]["m"])
    assert back["opt"]["v"] is None and back["opt"]["steps"] == [7, 3, 2.5] and type(back["opt"]["steps"][0]) is np.int64
    assert back["sizes"] == (784, 100, 10) and back["flags"] == {"sparse": True, "mode": "DO"}
    assert np.isnan(back["odd"][0]) and back["odd"][1] == float("-inf") and str(back["odd"][2]) == "-0.0"
    assert type(back["odd"][3]) is np.float32

    class Opaque:
        pass

    from neuromorph.checkpoint import UnstorableStateError

    with pytest.raises(UnstorableStateError, match=r"state\['opt'\]\['fn'\]"):
        encode_state({"opt": {"fn": Opaque()}})
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        save_checkpoint(Path(d) / "c.npz", state, {"epoch": 4, "config_digest": "abc", "seed": 1})
        st, meta = read_checkpoint(Path(d) / "c.npz")
        assert meta["epoch"] == 4 and st["weights"]["W"].tobytes() == state["weights"]["W"].tobytes()


@pytest.mark.parametrize(
    "name, params",
    [
        ("twocomp", PARAMS),
        ("phsic", {"sizes": [64, 16, 10], "batch": 8, "n_groups": 2}),
        pytest.param("corinfomax", {"sizes": [64, 16, 10], "batch": 8}, marks=pytest.mark.slow),  # builds its C++ kernel
    ],
)
def test_every_trainer_state_survives_the_checkpoint(tmp_path, name, params):
    """No circuit was edited for the data-only format: each trainer's state_dict() goes through it and the
    restored trainer continues bit for bit (optimiser buffers, None entries and all)."""
    from neuromorph.checkpoint import read_checkpoint, save_checkpoint
    from neuromorph.circuit import get_circuit
    from neuromorph.data import load_dataset

    d = load_dataset("digits", n_train=64, n_test=20, seed=0)
    c = get_circuit(name, **params)
    a = c.make_trainer(d.n_features, d.n_classes, 0)
    a.train_epoch(d.x_train, d.y_train, 0)
    save_checkpoint(tmp_path / "c.npz", a.state_dict(), {"epoch": 0})
    state, meta = read_checkpoint(tmp_path / "c.npz")
    b = c.make_trainer(d.n_features, d.n_classes, 0)
    b.load_state_dict(state)
    a.train_epoch(d.x_train, d.y_train, 1)
    b.train_epoch(d.x_train, d.y_train, 1)
    wa, wb = a.weights(), b.weights()
    assert set(wa) == set(wb) and all(wa[k].tobytes() == wb[k].tobytes() for k in wa)


def test_memory_estimate_refuses_what_cannot_fit():
    from neuromorph.circuit import get_circuit
    from neuromorph.runner import estimate_memory

    c = get_circuit("phsic", sizes=[64, 1000, 10], batch=8, n_groups=2)  # overrides weight_shapes: no allocation
    est = estimate_memory(c, available=10**12)
    assert est["weights_bytes"] == 8 * (64 * 1000 + 1000 * 10 + 10) and est["largest"] == "W1"
    with pytest.raises(ConfigError, match=r"weight matrices take 578\.2 KiB \(largest: W1 \(64, 1000\)\).*2\.3 MiB.*1\.0 MiB"):
        estimate_memory(c, available=2**20)


def test_pickle_checkpoint_is_never_unpickled(tmp_path, unfinished):
    out = copy_run(unfinished, tmp_path / "run")
    marker = tmp_path / "code-ran"

    class Evil:
        def __reduce__(self):
            return (os.mkdir, (str(marker),))

    (out / "checkpoint.npz").unlink()
    (out / "checkpoint.pkl").write_bytes(pickle.dumps(Evil()))
    with pytest.raises(CorruptFileError, match="pickle checkpoint of an older neuromorph.*not loaded"):
        run(config_from_dict(_config_dict(epochs=3)), out, resume=True, progress=False, log=quiet)
    with pytest.raises(CorruptFileError, match="pickle"):
        load_checkpoint(out)
    assert not marker.exists()


def test_resume_refuses_checkpoint_of_other_seed(tmp_path, unfinished):
    other = tmp_path / "seed4"
    run(config_from_dict(_config_dict(epochs=3, seed=4, train={"epochs": 3})), other, progress=False, log=quiet)
    out = copy_run(unfinished, tmp_path / "run")
    (out / "checkpoint.npz").write_bytes((other / "checkpoint.npz").read_bytes())
    mine, theirs = config_from_dict(_config_dict(epochs=3)), config_from_dict(_config_dict(epochs=3, seed=4))
    with pytest.raises(ConfigError) as exc:
        run(mine, out, resume=True, progress=False, log=quiet)
    msg = str(exc.value)
    assert theirs.digest() in msg and "seed 4" in msg and mine.digest() in msg and "seed 3" in msg
    assert strict_json(out / "manifest.json")["status"] == "interrupted"  # refused before touching anything


# ---- 2. divergence --------------------------------------------------------------------------------------------
def test_divergence_stops_with_status_diverged(tmp_path, capsys):
    out = tmp_path / "run"
    cfg = write_toml(tmp_path / "c.toml", _config_dict(epochs=3, params={"lr_xh": 1e40}))
    assert main(["run", str(cfg), "--out", str(out), "--no-progress"]) == 2
    line = one_error_line(capsys)
    assert "diverged in epoch 1" in line and "'W_xh'" in line and "learning rate" in line
    m = strict_json(out / "manifest.json")
    assert m["status"] == "diverged" and m["diverged"]["epoch"] == 1 and m["diverged"]["variable"] == "W_xh"
    assert not (out / "checkpoint.npz").exists() and not (out / "metrics.jsonl").exists()  # nothing NaN recorded
    assert main(["run", str(cfg), "--out", str(out), "--no-progress"]) == 2  # the same config again
    assert "diverged" in one_error_line(capsys) and strict_json(out / "manifest.json")["status"] == "diverged"


def test_exploding_weights_mid_epoch(tmp_path, monkeypatch):
    import neuromorph.runner as runner

    monkeypatch.setattr(runner, "WEIGHT_LIMIT", 0.5)  # finite but "exploding" for this test
    monkeypatch.setattr(runner, "GUARD_INTERVAL_S", 0.0)  # check at every progress call
    with pytest.raises(DivergedError, match=r"epoch 1 \(after \d+ training samples\).*reached \|w\|") as exc:
        run(config_from_dict(_config_dict()), tmp_path / "run", progress=False, log=quiet)
    assert exc.value.samples is not None and exc.value.samples < 96


def test_nan_parameter_refused_up_front(tmp_path, capsys):
    cfg = write_toml(tmp_path / "c.toml", _config_dict())
    assert main(["run", str(cfg), "--set", "params.lr_xh=nan", "--out", str(tmp_path / "o")]) == 2
    assert "params.lr_xh" in one_error_line(capsys)
    assert not (tmp_path / "o").exists()


def test_json_is_strict(tmp_path):
    from neuromorph.io import append_jsonl, atomic_write_json

    atomic_write_json(tmp_path / "a.json", {"x": float("nan"), "y": [np.float64("inf"), -np.inf], "z": np.arange(2)})
    assert strict_json(tmp_path / "a.json") == {"x": "NaN", "y": ["Infinity", "-Infinity"], "z": [0, 1]}
    append_jsonl(tmp_path / "m.jsonl", {"loss": float("nan")})
    assert json.loads((tmp_path / "m.jsonl").read_text(), parse_constant=lambda t: 1 / 0) == {"loss": "NaN"}


# ---- 3. training that does nothing ----------------------------------------------------------------------------
def test_batch_larger_than_training_set(tmp_path, capsys):
    cfg = write_toml(tmp_path / "c.toml", _config_dict(params={"batch": 200}))
    assert main(["run", str(cfg), "--out", str(tmp_path / "o")]) == 2
    line = one_error_line(capsys)
    assert "params.batch = 200" in line and "96 samples" in line and "no weight" in line
    assert not (tmp_path / "o").exists()


def test_no_weight_change_is_warned(tmp_path):
    logs = []
    out = run(config_from_dict(_config_dict(epochs=1, params={"lr_xh": 0.0, "lr_ho": 0.0})), tmp_path / "o",
              progress=False, log=logs.append)
    assert any("changed no weight" in m for m in logs)
    assert "changed no weight" in strict_json(out / "manifest.json")["warnings"][0]


# ---- 4. the results folder: lock, foreign files --------------------------------------------------------------
def test_second_run_into_locked_folder_fails(tmp_path, capsys):
    """A second process holds the folder's lock (as a running neuromorph does): this run fails at once."""
    out = tmp_path / "run"
    out.mkdir()
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import fcntl, os, sys, time\n"
         f"fd = os.open({str(out / '.neuromorph.lock')!r}, os.O_RDWR | os.O_CREAT)\n"
         "fcntl.flock(fd, fcntl.LOCK_EX); os.write(fd, b'pid %d on test' % os.getpid())\n"
         "print('locked', flush=True); time.sleep(60)\n"],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        cfg = write_toml(tmp_path / "c.toml", _config_dict())
        for resume in ([], ["--resume"]):
            assert main(["run", str(cfg), "--out", str(out), "--no-progress", *resume]) == 2
            line = one_error_line(capsys)
            assert "another neuromorph run" in line and f"pid {holder.pid}" in line and "--out" in line
        assert sorted(p.name for p in out.iterdir()) == [".neuromorph.lock"]
    finally:
        holder.kill()
        holder.wait()
    # once the other run is gone the folder is usable
    assert main(["run", str(cfg), "--out", str(out), "--no-progress"]) == 0
    assert [r["epoch"] for r in metrics(out)] == [1, 2]


def test_folder_with_foreign_files_is_refused(tmp_path, capsys, unfinished):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "metrics.jsonl").write_text("my own notes\n")
    cfg = write_toml(tmp_path / "c.toml", _config_dict())
    assert main(["run", str(cfg), "--out", str(out)]) == 2
    line = one_error_line(capsys)
    assert "metrics.jsonl" in line and "does not overwrite" in line
    assert (out / "metrics.jsonl").read_text() == "my own notes\n"
    assert sorted(p.name for p in out.iterdir()) == ["metrics.jsonl"]

    # an unfinished neuromorph run plus a user's file: not resumed over it
    run_dir = copy_run(unfinished, tmp_path / "run")
    (run_dir / "notes.txt").write_text("keep")
    with pytest.raises(ResultsFolderError, match="notes.txt"):
        run(config_from_dict(_config_dict(epochs=3)), run_dir, resume=True, progress=False, log=quiet)
    assert (run_dir / "notes.txt").read_text() == "keep"


# ---- 5. one-line errors ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "overrides, needle",
    [
        (["train.epochs=0"], "train.epochs = 0"),
        (["train.epochs=-2"], "train.epochs = -2"),
        (["train.threads=-1"], "train.threads = -1"),
        (["train.n_train=-5"], "train.n_train = -5"),
        (['compare.encoding="bogus"'], "compare.encoding"),
        (["compare.n_samples=0"], "compare.n_samples"),
        (["verify.samples=-1"], "verify.samples"),
        (['verify.backends=["nope"]'], "verify.backends"),
        (["params.n_hidden=100000000"], "GiB"),
    ],
)
def test_bad_values_one_line_no_folder(tmp_path, capsys, overrides, needle):
    cfg = write_toml(tmp_path / "c.toml", _config_dict())
    args = ["run", str(cfg), "--out", str(tmp_path / "o")]
    for o in overrides:
        args += ["--set", o]
    t0 = time.perf_counter()
    assert main(args) == 2
    assert needle in one_error_line(capsys)
    assert not (tmp_path / "o").exists()
    assert time.perf_counter() - t0 < 30  # refused, not attempted


def test_compare_and_verify_checked_before_training(tmp_path, capsys, monkeypatch):
    from circuits.twocomp import TwoCompTrainer

    def boom(*a, **k):
        raise AssertionError("trained although the config is invalid")

    monkeypatch.setattr(TwoCompTrainer, "train_epoch", boom)
    d = _config_dict()
    del d["train"]
    cfg = write_toml(tmp_path / "c.toml", {**d, "compare": {"t_samples": [0.1]}})
    assert main(["run", str(cfg), "--out", str(tmp_path / "o")]) == 2
    assert "[compare] needs trained weights" in one_error_line(capsys)
    cfg = write_toml(tmp_path / "c.toml", _config_dict(compare={"t_samples": [0.1, -1.0]}))
    assert main(["run", str(cfg), "--out", str(tmp_path / "o")]) == 2
    assert "compare.t_samples" in one_error_line(capsys)
    assert not (tmp_path / "o").exists()


def test_verify_cuda_in_config_refused_up_front_without_gpu(tmp_path, capsys, monkeypatch):
    import neuromorph.brian.devices as devices

    monkeypatch.setattr(devices, "gpu_available", lambda: (False, "no GPU in this test"))
    cfg = write_toml(tmp_path / "c.toml", _config_dict(verify={"backends": ["cuda"]}))
    assert main(["run", str(cfg), "--out", str(tmp_path / "o")]) == 2
    line = one_error_line(capsys)
    assert "verify.backends" in line and ("GPU" in line or "nvcc" in line)
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize(
    "damage, needle",
    [
        (lambda d: (d / "manifest.json").write_text(""), "manifest.json is empty"),
        (lambda d: (d / "manifest.json").write_text((d / "manifest.json").read_text()[:100]), "manifest.json is truncated"),
        (lambda d: (d / "metrics.jsonl").write_text((d / "metrics.jsonl").read_text()[:30]), "metrics.jsonl line 1 is truncated"),
        (lambda d: (d / "metrics.jsonl").unlink(), "metrics.jsonl lacks epochs"),
        (lambda d: (d / "checkpoint.npz").write_bytes(b""), "checkpoint.npz is empty"),
        (lambda d: (d / "checkpoint.npz").write_bytes((d / "checkpoint.npz").read_bytes()[:700]), "checkpoint.npz is truncated"),
    ],
)
def test_damaged_files_named(tmp_path, capsys, unfinished, damage, needle):
    out = copy_run(unfinished, tmp_path / "run")
    damage(out)
    cfg = write_toml(tmp_path / "c.toml", _config_dict(epochs=3))
    assert main(["run", str(cfg), "--out", str(out), "--resume", "--no-progress"]) == 2
    line = one_error_line(capsys)
    assert needle in line and str(out) in line


def test_load_run_and_damaged_checkpoint(tmp_path, finished):
    config, circuit, trainer = load_run(finished)
    assert config.digest() == strict_json(finished / "manifest.json")["config_digest"]
    ck = load_checkpoint(finished)["trainer"]["weights"]
    for k, w in trainer.weights().items():
        np.testing.assert_array_equal(w, ck[k])
    from neuromorph.data import load_dataset

    data = load_dataset("digits", n_train=96, n_test=40, seed=3)
    acc = float(np.mean(trainer.predict(data.x_test) == data.y_test))
    assert acc == pytest.approx(metrics(finished)[-1]["test_acc"])
    bad = copy_run(finished, tmp_path / "bad")
    (bad / "checkpoint.npz").write_bytes(b"PK\x03\x04 garbage")
    with pytest.raises(CorruptFileError, match="checkpoint.npz is truncated"):
        load_run(bad)


def test_out_is_file_or_unwritable(tmp_path, capsys):
    cfg = write_toml(tmp_path / "c.toml", _config_dict())
    f = tmp_path / "afile"
    f.write_text("x")
    assert main(["run", str(cfg), "--out", str(f)]) == 2
    assert "is a file, not a folder" in one_error_line(capsys)
    assert main(["run", str(cfg), "--out", str(f / "sub")]) == 2
    assert "is a file" in one_error_line(capsys)
    if os.geteuid() == 0:  # root may write anywhere a permission bit says no; /proc refuses even root
        target = "/proc/neuromorph-results"
    else:
        ro = tmp_path / "ro"
        ro.mkdir(mode=0o555)
        target = str(ro / "out")
    assert main(["run", str(cfg), "--out", target]) == 2
    line = one_error_line(capsys)
    assert "writable --out" in line and not Path(target).exists()


@pytest.mark.parametrize(
    "argv, needle",
    [
        (["verify", "twocomp", "--samples", "0"], "--samples 0"),
        (["verify", "twocomp", "--samples", "-2"], "--samples -2"),
        (["compare", "twocomp", "--samples", "0"], "--samples 0"),
        (["compare", "twocomp", "--samples", "-1", "--backend", "numpy"], "--samples -1"),
        (["bench", "twocomp", "--samples", "0"], "--samples 0"),
        (["compare", "twocomp", "--weights", "/nonexistent/w.npz", "--backend", "numpy"], "/nonexistent/w.npz: no such file"),
        (["compare", "twocomp", "--t-samples", "0", "--backend", "numpy"], "--t-samples 0"),
        (["sweep", str(DEMO), "--seeds", "1", "--workers", "0"], "--workers 0"),
    ],
)
def test_cli_argument_errors(capsys, argv, needle):
    assert main(argv) == 2
    assert needle in one_error_line(capsys)


def test_compare_truncated_weights_named(tmp_path, capsys):
    w = tmp_path / "w.npz"
    np.savez(w, W_xh=np.zeros((8, 12)))
    w.write_bytes(w.read_bytes()[:50])
    assert main(["compare", "twocomp", "--weights", str(w), "--backend", "numpy"]) == 2
    assert str(w) in one_error_line(capsys)


def test_verify_cuda_without_gpu_refuses_at_once(capsys, monkeypatch, tmp_path):
    import neuromorph.brian.devices as devices
    import neuromorph.equivalence as equivalence

    monkeypatch.setattr(devices, "gpu_available", lambda: (False, "no GPU in this test"))
    monkeypatch.setattr(equivalence, "verify", lambda *a, **k: (_ for _ in ()).throw(AssertionError("must not build")))
    t0 = time.perf_counter()
    assert main(["verify", "twocomp", "--backend", "cuda"]) == 2
    line = one_error_line(capsys)
    assert time.perf_counter() - t0 < 10
    # without nvcc the toolchain message comes first; with it, the GPU one names --compile-only
    assert "--compile-only" in line or "nvcc" in line


# ---- Ctrl-C -------------------------------------------------------------------------------------------------
def test_ctrl_c_exit_130_then_resume(tmp_path, capsys, monkeypatch):
    from circuits.twocomp import TwoCompTrainer

    real = TwoCompTrainer.train_epoch

    def ctrl_c_in_second(self, x, y, epoch, progress=None):
        if epoch == 1:
            raise KeyboardInterrupt
        return real(self, x, y, epoch, progress=progress)

    cfg = write_toml(tmp_path / "c.toml", _config_dict(epochs=3))
    out = tmp_path / "run"
    monkeypatch.setattr(TwoCompTrainer, "train_epoch", ctrl_c_in_second)
    assert main(["run", str(cfg), "--out", str(out), "--no-progress"]) == 130
    err = capsys.readouterr().err
    assert err.strip() == "interrupted — rerun the same command with --resume to continue"
    assert strict_json(out / "manifest.json")["status"] == "interrupted"
    monkeypatch.setattr(TwoCompTrainer, "train_epoch", real)
    assert main(["run", str(cfg), "--out", str(out), "--no-progress", "--resume"]) == 0
    m = strict_json(out / "manifest.json")
    assert m["status"] == "complete"
    # 9. timings: train_s of a resumed run is the sum over its metrics lines
    assert m["timings"]["train_s"] == pytest.approx(sum(r["train_seconds"] for r in metrics(out)), rel=1e-12)


def test_ctrl_c_during_brian_compile_is_interrupted(tmp_path, capsys, monkeypatch):
    """Brian2 runs make through os.system: Ctrl-C reaches Python only as 'compilation failed (error code: 2)'."""
    import neuromorph.equivalence as equivalence

    assert interrupted_build(RuntimeError("Project compilation failed (error code: 2)."))
    assert not interrupted_build(RuntimeError("Project compilation failed (error code: 512)."))

    def sigint_make(*a, **k):
        raise RuntimeError("Project compilation failed (error code: 2).")

    monkeypatch.setattr(equivalence, "verify", sigint_make)
    cfg = write_toml(tmp_path / "c.toml", _config_dict(verify={"backends": ["numpy"]}))
    out = tmp_path / "run"
    assert main(["run", str(cfg), "--out", str(out), "--no-progress"]) == 130
    assert "interrupted" in capsys.readouterr().err
    m = strict_json(out / "manifest.json")
    assert m["status"] == "interrupted" and "compilation failed" not in m["error"]
    assert main(["verify", "twocomp"]) == 130


def _sigint_as_at_a_terminal():
    """preexec_fn: SIGINT back to its default in the child. pytest-xdist workers ignore SIGINT, an ignored signal
    stays ignored across exec, and Python then installs no KeyboardInterrupt handler: the child would never see
    the Ctrl-C these tests send."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.mark.slow
@pytest.mark.standalone
def test_real_ctrl_c_during_cpp_compile(tmp_path):
    """Ctrl-C at the terminal (SIGINT to the process group) while make compiles the cpp_standalone model:
    exit 130, status 'interrupted' (not 'failed: compilation failed'), the temporary build folder removed."""
    import shutil

    if shutil.which("g++") is None and shutil.which("c++") is None:
        pytest.skip("no C++ compiler")
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    cfg = write_toml(tmp_path / "c.toml", _config_dict(verify={"backends": ["cpp"], "samples": 16}))
    out = tmp_path / "run"
    env = {**os.environ, "TMPDIR": str(tmpdir), "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
           OPT_LEVEL_ENV: "3"}  # the users' -O3: a compile long enough for the signal to land inside it
    p = subprocess.Popen([sys.executable, "-m", "neuromorph.cli", "run", str(cfg), "--out", str(out), "--no-progress"],
                         env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
                         preexec_fn=_sigint_as_at_a_terminal)
    try:
        t0 = time.time()
        while time.time() - t0 < 300 and not list(tmpdir.glob("neuromorph-build-*/makefile")):
            assert p.poll() is None, p.communicate()
            time.sleep(0.05)
        time.sleep(1.0)  # make is running now
        builds = list(tmpdir.glob("neuromorph-build-*"))
        assert builds and not (builds[0] / "main").exists(), "the compile finished before the signal could land"
        os.killpg(p.pid, signal.SIGINT)
        _, err = p.communicate(timeout=120)
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
    assert p.returncode == 130, err[-2000:]
    assert "interrupted — rerun the same command with --resume" in err and "Traceback" not in err
    m = strict_json(out / "manifest.json")
    assert m["status"] == "interrupted" and "compilation failed" not in m["error"]
    assert not list(tmpdir.glob("neuromorph-build-*"))


# ---- 7. debris, umask --------------------------------------------------------------------------------------
def test_temporary_build_folder_removed(tmp_path, monkeypatch):
    import neuromorph.equivalence as equivalence

    seen = []
    real = equivalence.verify

    def spy(*a, build_dir=None, **k):
        seen.append(build_dir)
        Path(build_dir).mkdir(parents=True, exist_ok=True)
        (Path(build_dir) / "main.o").write_bytes(b"x")  # what a standalone build leaves
        return real(*a, build_dir=build_dir, **k)

    monkeypatch.setattr(equivalence, "verify", spy)
    assert main(["verify", "twocomp", "--samples", "16"]) == 0
    assert seen and seen[0] and not Path(seen[0]).exists()
    keep = tmp_path / "keep"
    assert main(["verify", "twocomp", "--samples", "16", "--build-dir", str(keep)]) == 0
    assert seen[1] == str(keep) and (keep / "main.o").exists()


@pytest.mark.parametrize("umask", [0o022, 0o027, 0o002])
def test_files_honour_umask(tmp_path, umask):
    from neuromorph.io import atomic_write_json

    old = os.umask(umask)
    try:
        atomic_write_json(tmp_path / "a.json", {"a": 1})
        plain = tmp_path / "plain"
        plain.write_text("x")
    finally:
        os.umask(old)
    assert (tmp_path / "a.json").stat().st_mode & 0o777 == 0o666 & ~umask == plain.stat().st_mode & 0o777


def test_run_files_honour_umask(tmp_path):
    old = os.umask(0o002)
    try:
        out = run(config_from_dict(_config_dict(epochs=1)), tmp_path / "o", progress=False, log=quiet)
    finally:
        os.umask(old)
    for p in [out / "manifest.json", out / "metrics.jsonl", out / "checkpoint.npz", out / "figures" / "learning_curve.png"]:
        assert p.stat().st_mode & 0o777 == 0o664, p


def test_rejected_run_leaves_no_folder(tmp_path):
    from neuromorph.errors import DataUnavailableError

    empty = tmp_path / "empty"
    empty.mkdir()
    cfg = config_from_dict({"circuit": "twocomp", "params": {"n_in": 784, "n_out": 10},
                            "train": {"dataset": "mnist", "epochs": 1, "data_root": str(empty)}})
    with pytest.raises(DataUnavailableError):
        run(cfg, tmp_path / "a" / "b" / "out", progress=False, log=quiet)
    assert not (tmp_path / "a").exists()


# --------------------------------------------------------------------------------------------------------------
# The randomized kill/resume campaign
# --------------------------------------------------------------------------------------------------------------
CAMPAIGN_PARAMS = {"n_hidden": 24, "n_inh": 4, "batch": 16, "t_free": 10, "t_nudged": 5}
CAMPAIGN_TRAIN = {"dataset": "digits", "epochs": 6, "n_train": 320, "n_test": 80, "threads": 1}


def campaign_config(path: Path) -> Path:
    """The demo config (experiments/demo/twocomp_digits.toml), training only, shrunk to seconds."""
    import tomllib

    d = tomllib.loads(DEMO.read_text())
    d = {"circuit": d["circuit"], "seed": d["seed"], "name": "campaign", "params": {**d["params"], **CAMPAIGN_PARAMS},
         "train": {**d["train"], **CAMPAIGN_TRAIN}}
    return write_toml(path, d)


def _driver(root: Path, seed: int, n_kills: int) -> dict:
    """Fork runs of the campaign config, kill them at random points, resume until complete; compare. Then
    start pairs of runs into one folder at the same moment: the lock lets exactly one of them train."""
    import random
    import warnings

    warnings.filterwarnings("ignore")
    import torch  # noqa: F401  (imported once, before forking: children start at once)

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot  # noqa: F401  (the figures every completed run draws)
    import sklearn.datasets  # noqa: F401  (the digits loader)
    import tqdm.auto  # noqa: F401

    import circuits.twocomp  # noqa: F401
    import neuromorph.runner  # noqa: F401
    from neuromorph.cli import main as cli_main
    from neuromorph.runner import load_checkpoint

    rnd = random.Random(seed)
    t_start = time.perf_counter()
    cfg = campaign_config(root / "c.toml")

    def start(out: Path, log: Path, env: dict | None = None):
        pid = os.fork()
        if pid == 0:  # child: one `neuromorph run --resume` (a fresh folder is simply started)
            code = 1
            try:
                fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
                os.dup2(fd, 1)
                os.dup2(fd, 2)
                os.environ.update(env or {})
                code = cli_main(["run", str(cfg), "--out", str(out), "--resume", "--no-progress"])
            except KeyboardInterrupt:
                code = 130
            except BaseException:
                import traceback

                traceback.print_exc()
                code = 3
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(code)
        return pid

    def wait(pid):
        _, status = os.waitpid(pid, 0)
        return os.waitstatus_to_exitcode(status)

    def poll(pid):
        done, status = os.waitpid(pid, os.WNOHANG)
        return os.waitstatus_to_exitcode(status) if done else None

    ref = root / "reference"
    assert wait(start(ref, root / "reference.log")) == 0
    ref_w = load_checkpoint(ref)["trainer"]["weights"]
    ref_m = timing_free(metrics(ref))

    kills = {"SIGINT": 0, "SIGKILL": 0}
    during_write = 0
    resumes = identical = folders = runs_after_kill = 0
    unexpected = []
    while sum(kills.values()) < n_kills:
        folders += 1
        out = root / f"run{folders}"
        log = root / f"run{folders}.log"
        killed_here = False
        for _ in range(rnd.randint(2, 4)):  # kills in this folder, then run to completion
            sig = rnd.choice([signal.SIGINT, signal.SIGKILL])
            mode = rnd.choice(["epoch", "epoch", "write"])
            env = {"NEUROMORPH_FAULT_WRITE_DELAY": "checkpoint.npz:0.4"} if mode == "write" else {}
            done_before = len(metrics(out)) if (out / "metrics.jsonl").exists() else 0
            runs_after_kill += killed_here
            pid = start(out, log, env)
            t0 = time.time()
            landed = code = None
            if mode == "write":  # wait for a half-written checkpoint, then kill inside the atomic write
                while time.time() - t0 < 60:
                    if list(out.glob(".checkpoint.npz.*.tmp")):
                        landed = "write"
                        break
                    code = poll(pid)
                    if code is not None:
                        break
                    time.sleep(0.005)
            else:  # after a random number of further epochs (perhaps none), at a random moment
                target = min(done_before + rnd.randint(0, 3), CAMPAIGN_TRAIN["epochs"])
                while time.time() - t0 < 60:
                    n = len(metrics(out)) if (out / "metrics.jsonl").exists() else 0
                    code = poll(pid)
                    if n >= target or code is not None:
                        break
                    time.sleep(0.01)
                if code is None:
                    time.sleep(rnd.uniform(0.0, 0.3))
                    landed = "epoch"
            if code is None:
                try:
                    os.kill(pid, sig)
                except ProcessLookupError:
                    pass
                code = wait(pid)
            if code == 0:  # finished before the signal landed
                continue
            kills[signal.Signals(sig).name] += 1
            killed_here = True
            during_write += landed == "write"
            if code not in (130, -9):
                unexpected.append((folders, code))
        # resume until complete
        for _ in range(3):
            code = wait(start(out, log))
            resumes += 1
            runs_after_kill += killed_here
            if code == 0:
                break
        text = log.read_text()
        m = strict_json(out / "manifest.json")
        w = load_checkpoint(out)["trainer"]["weights"]
        same = (m["status"] == "complete"
                and set(w) == set(ref_w) and all(w[k].tobytes() == ref_w[k].tobytes() for k in ref_w)
                and timing_free(metrics(out)) == ref_m
                and abs(m["timings"]["train_s"] - sum(r["train_seconds"] for r in metrics(out))) < 1e-9
                and not list(out.glob(".*.tmp")))
        identical += bool(same)
        if not same:
            unexpected.append((folders, "not identical", text[-2000:]))
    # two runs started together into one folder: one trains, the other fails at once or finds it complete
    concurrent = []
    for i in range(3):
        out = root / f"twin{i}"
        logs = [root / f"twin{i}a.log", root / f"twin{i}b.log"]
        pids = [start(out, logs[0]), start(out, logs[1])]
        codes = [wait(p) for p in pids]
        texts = [lg.read_text() for lg in logs]
        rows = metrics(out)
        ok = (sorted(codes) in ([0, 0], [0, 2]) and [r["epoch"] for r in rows] == list(range(1, CAMPAIGN_TRAIN["epochs"] + 1))
              and all(c == 0 or "another neuromorph run" in t for c, t in zip(codes, texts))
              and strict_json(out / "manifest.json")["status"] == "complete")
        concurrent.append(codes)
        if not ok:
            unexpected.append(("twin", i, codes, texts))
    # runs that continued from a checkpoint (every run after a kill that found one, not only the final ones)
    from_checkpoint = sum(p.read_text().count("resuming from the checkpoint") for p in root.glob("run*.log"))
    return {"kills": kills, "kills_total": sum(kills.values()), "kills_during_checkpoint_write": during_write,
            "runs_after_a_kill": runs_after_kill, "resumed_from_checkpoint": from_checkpoint, "final_resumes": resumes,
            "folders": folders, "identical": identical, "concurrent_exit_codes": concurrent, "unexpected": unexpected,
            "seconds": round(time.perf_counter() - t_start, 1)}


@pytest.mark.slow
def test_kill_resume_campaign(tmp_path):
    """>= 20 kills (SIGINT and SIGKILL, some inside the atomic checkpoint write), each folder resumed to the end:
    final weights, metrics (timings aside) and train_s bit-identical to an uninterrupted run."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    seed = int(os.environ.get("NEUROMORPH_CAMPAIGN_SEED", "13"))
    t0 = time.perf_counter()
    r = subprocess.run([sys.executable, __file__, "campaign", str(tmp_path), str(seed), "20"], env=env,
                       capture_output=True, text=True, timeout=1800, preexec_fn=_sigint_as_at_a_terminal)
    assert r.returncode == 0, r.stderr[-3000:]
    res = json.loads(r.stdout.strip().splitlines()[-1])
    print(f"campaign (seed {seed}, {time.perf_counter() - t0:.0f} s): {json.dumps(res)}")
    assert res["kills_total"] >= 20 and res["kills"]["SIGINT"] > 0 and res["kills"]["SIGKILL"] > 0
    assert res["kills_during_checkpoint_write"] > 0
    assert res["identical"] == res["folders"] and not res["unexpected"], res["unexpected"]
    assert any(sorted(c) == [0, 2] for c in res["concurrent_exit_codes"])  # the lock was contended at least once


if __name__ == "__main__" and len(sys.argv) == 5 and sys.argv[1] == "campaign":
    result = _driver(Path(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]))
    print(json.dumps(result))
