"""Usability (issue 14): own circuits by file/module spec, `neuromorph list` without heavy imports, --version,
Brian2 state left alone by verify, honest bench columns, progress lines in logs, figures, compare from a run.

Fast: the twocomp demo circuit at its small verification size, numpy target, scikit-learn's bundled digits."""

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from neuromorph.cli import main

pytestmark = pytest.mark.filterwarnings("ignore:_get_vc_env is private")

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _no_machine_data(monkeypatch, tmp_path_factory):
    monkeypatch.setenv("NEUROMORPH_DATA", str(tmp_path_factory.mktemp("no_data")))


# A circuit of the user's own, in a plain file: a renamed twocomp (the circuit itself is not under test here,
# the loading is). Its verify must give the same figures as the registered twocomp.
OWN = textwrap.dedent(
    """
    from circuits.twocomp import TwoComp

    class MyCircuit(TwoComp):
        name = "mine"
        description = "my own circuit"

    class NotACircuit:
        pass
    """
)


def _own_file(tmp_path):
    path = tmp_path / "my_circuit.py"
    path.write_text(OWN)
    return path


def test_verify_own_circuit_by_file_path(tmp_path, capsys, monkeypatch):
    path = _own_file(tmp_path)
    out_json = tmp_path / "v.json"
    assert main(["verify", f"{path}:MyCircuit", "--samples", "4", "--json", str(out_json)]) == 0
    d = json.loads(out_json.read_text())
    assert d["circuit"] == "mine" and d["passed"] and d["max_rel_error"] <= 1e-9
    # relative to the current directory, as typed in a shell
    monkeypatch.chdir(tmp_path)
    assert main(["verify", "my_circuit.py:MyCircuit", "--samples", "4"]) == 0
    assert "PASSED" in capsys.readouterr().out


def test_own_circuit_package_with_relative_imports(tmp_path, monkeypatch):
    from neuromorph import get_circuit

    pkg = tmp_path / "mypkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("from .circuit import Pkg\n")
    (pkg / "texts.py").write_text("DESC = 'from a sibling module'\n")
    (pkg / "circuit.py").write_text(
        "from circuits.twocomp import TwoComp\nfrom .texts import DESC\n\n"
        "class Pkg(TwoComp):\n    name = 'pkg'\n    description = DESC\n"
    )
    for spec in (f"{pkg}:Pkg", f"{pkg}/circuit.py:Pkg", f"{pkg}/__init__.py:Pkg"):
        c = get_circuit(spec, n_hidden=5)
        assert c.name == "pkg" and c.description == "from a sibling module" and c.params.n_hidden == 5
    # and as a module path, once its folder is importable
    monkeypatch.syspath_prepend(str(tmp_path))
    assert get_circuit("mypkg:Pkg").name == "pkg"


@pytest.mark.parametrize(
    "spec, needle",
    [
        ("{tmp}/nope.py:MyCircuit", "does not exist"),
        ("{tmp}/my_circuit.py:Missing", "has no 'Missing'; Circuit subclasses defined there: ['MyCircuit']"),
        ("{tmp}/my_circuit.py:NotACircuit", "is not a subclass of neuromorph.Circuit"),
        ("{tmp}/my_circuit.py:TwoComp", None),  # an imported Circuit subclass is fine
        ("no_such_module_xyz.sub:X", "no module named 'no_such_module_xyz.sub'"),
        ("json:dumps", "'dumps' in module 'json' is not a subclass of neuromorph.Circuit"),
        ("{tmp}/my_circuit.py:", "must be 'path/to/file.py:ClassName'"),
        ("{tmp}/broken.py:X", "syntax error at line 1"),
    ],
)
def test_spec_errors_are_one_line(tmp_path, capsys, spec, needle):
    _own_file(tmp_path)
    (tmp_path / "broken.py").write_text("def f(:\n")
    code = main(["verify", spec.format(tmp=tmp_path), "--samples", "4"])
    cap = capsys.readouterr()
    if needle is None:
        assert code == 0
        return
    assert code == 2
    assert cap.err.startswith("error: ") and needle in cap.err
    assert len(cap.err.strip().splitlines()) == 1


def test_config_and_sweep_take_a_spec(tmp_path):
    from neuromorph.config import config_from_dict
    from neuromorph.runner import run
    from neuromorph.sweep import expand_seeds

    path = _own_file(tmp_path)
    cfg = config_from_dict(
        {"circuit": f"{path}:MyCircuit", "params": {"n_hidden": 5}, "verify": {"backends": ["numpy"], "samples": 4}}
    )
    assert cfg.run_name == "MyCircuit-seed0"  # the spec's slashes do not become sub-folders
    assert [c.run_name for c in expand_seeds(cfg, [1, 2])] == ["MyCircuit-seed1", "MyCircuit-seed2"]
    out = run(cfg, tmp_path / "runs" / cfg.run_name, progress=False, log=lambda *a: None)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "complete" and manifest["circuit"]["circuit"] == "mine"
    assert manifest["verify"]["numpy"]["passed"] is True


def test_list_is_fast_and_imports_neither_torch_nor_brian2():
    code = (
        "import sys; from neuromorph.cli import main; main(['list']);"
        "heavy = [m for m in ('torch', 'brian2') if m in sys.modules]; print('HEAVY', heavy)"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120,
                       env={**__import__("os").environ, "PYTHONPATH": str(ROOT)})
    assert r.returncode == 0, r.stderr
    assert "HEAVY []" in r.stdout
    lines = {ln.split()[0]: ln for ln in r.stdout.splitlines() if ln.strip() and not ln.startswith(("HEAVY", "your"))}
    # the descriptions read from source are the classes' own
    from neuromorph.circuit import circuit_names, get_circuit

    for name in circuit_names():
        assert lines[name].split(None, 1)[1].strip() == type(get_circuit(name)).description.strip()


def test_version(capsys):
    import neuromorph

    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    assert capsys.readouterr().out.strip() == f"neuromorph {neuromorph.__version__}"


# ---- 4. verify leaves the caller's Brian2 state alone ------------------------------------------------------
def test_verify_restores_brian2_state():
    import importlib

    import brian2
    import numpy as np
    from brian2 import NeuronGroup, defaultclock, ms, prefs, set_device, start_scope
    from brian2.core.base import BrianObject

    from neuromorph import get_circuit, verify

    dev = importlib.import_module("brian2.devices.device")  # the module, not the `device` proxy
    circuit = get_circuit("twocomp")
    dev.reinit_devices()
    try:
        # a user's runtime session: own target, dt, a group in the magic network's current scope
        set_device("runtime")
        prefs.codegen.target = "numpy"
        prefs.devices.cpp_standalone.openmp_threads = 3
        prefs.codegen.cpp.extra_compile_args_gcc = ["-O1", "-w"]
        start_scope()
        start_scope()
        defaultclock.dt = 0.05 * ms
        G = NeuronGroup(2, "dv/dt = 1/(10*ms) : 1", method="euler")
        np.random.seed(123)
        scope, state = BrianObject._scope_current_key, np.random.get_state()
        assert verify(circuit, "numpy", n_trials=4).passed
        assert dev.get_device() is dev.all_devices["runtime"]
        assert prefs.codegen.target == "numpy" and prefs.devices.cpp_standalone.openmp_threads == 3
        assert prefs.codegen.cpp.extra_compile_args_gcc == ["-O1", "-w"]
        assert float(defaultclock.dt_) == pytest.approx(0.05e-3, rel=0, abs=1e-18)
        assert BrianObject._scope_current_key == scope
        assert np.array_equal(np.random.get_state()[1], state[1])
        # the user's network still runs with their dt: 1 ms at dt 0.05 ms -> v = 0.1
        brian2.run(1 * ms)
        assert np.allclose(G.v[:], 0.1)

        # a standalone device with its build options comes back too (verify switched to runtime meanwhile)
        set_device("cpp_standalone", build_on_run=False, directory=None)
        prefs.devices.cpp_standalone.openmp_threads = 2
        assert verify(circuit, "numpy", n_trials=4).passed
        d = dev.get_device()
        assert d is dev.all_devices["cpp_standalone"] and d.build_on_run is False and d.build_options == {"directory": None}
        assert prefs.devices.cpp_standalone.openmp_threads == 2 and prefs.codegen.target == "numpy"
    finally:
        dev.reinit_devices()
        set_device("runtime")
        prefs.reset_to_defaults()


# ---- 5. honest benchmarks --------------------------------------------------------------------------------
def test_bench_separates_build_from_run(tmp_path, capsys):
    path = tmp_path / "bench.json"
    assert main(["bench", "twocomp", "--backends", "numpy", "--samples", "8", "--json", str(path)]) == 0
    out = capsys.readouterr().out
    assert "| target | build (s) | first run (s) | warm run (s) | µs/step (warm) |" in out
    assert "columns:" in out and "warm run / integration steps" in out
    d = json.loads(path.read_text())
    assert d["steps"] == 8 * 30
    rows = {r["target"]: r for r in d["rows"]}
    assert set(rows) == {"torch-float64", "numpy"}
    for r in rows.values():
        assert r["build_s"] is None and r["first_run_s"] > 0 and r["warm_run_s"] > 0
        assert r["us_per_step"] == pytest.approx(1e6 * r["warm_run_s"] / d["steps"])


@pytest.mark.standalone
def test_bench_cpp_build_is_not_in_the_per_step_cost(tmp_path, capsys):
    path = tmp_path / "bench.json"
    assert main(["bench", "twocomp", "--backends", "cpp", "--samples", "8", "--json", str(path), "--no-progress"]) == 0
    row = next(r for r in json.loads(path.read_text())["rows"] if r["target"] == "cpp")
    # the compile (seconds) is reported apart; the run of 240 steps of a 27-unit circuit takes milliseconds
    assert row["build_s"] > 1.0 and row["warm_run_s"] < row["build_s"] / 10
    assert 0 <= row["binary_sim_s"] <= row["first_run_s"]
    assert row["us_per_step"] == pytest.approx(1e6 * row["warm_run_s"] / 240)


# ---- 6. progress: tqdm on a terminal, plain periodic lines in a log ---------------------------------------
class _Stream:
    def __init__(self, tty):
        self.tty, self.parts = tty, []

    def isatty(self):
        return self.tty

    def write(self, s):
        self.parts.append(s)

    def flush(self):
        pass

    @property
    def text(self):
        return "".join(self.parts)


def test_progress_bar_in_a_log_writes_lines_not_frames():
    from neuromorph.progress import PlainProgress, progress_bar

    log = _Stream(tty=False)
    bar = progress_bar(100, "epoch 1/2", stream=log, interval=0.0)
    assert isinstance(bar, PlainProgress)
    for _ in range(4):
        bar.update(25)
    bar.close()
    lines = log.text.splitlines()
    assert "\r" not in log.text and len(lines) == 5  # one per update (interval 0) + the final one
    assert lines[0].startswith("epoch 1/2: 25/100 samples (25 %)") and "left" in lines[0]
    assert lines[-1].startswith("epoch 1/2: 100/100 samples (100 %)") and lines[-1].endswith("- done")
    # a long interval: only the closing line
    log = _Stream(tty=False)
    bar = progress_bar(1000, "x", stream=log, interval=3600)
    for _ in range(1000):
        bar.update(1)
    bar.close()
    assert len(log.text.splitlines()) == 1
    # on a terminal: tqdm
    tty = _Stream(tty=True)
    bar = progress_bar(10, "x", stream=tty)
    from tqdm import tqdm

    assert isinstance(bar, tqdm)
    bar.close()


def test_task_reports_start_heartbeat_and_duration():
    import time

    from neuromorph.progress import task

    log = _Stream(tty=False)
    with task("cpp: compiling", stream=log, interval=0.05) as info:
        time.sleep(0.3)
        info["note"] = "3 files"
    lines = log.text.splitlines()
    assert lines[0] == "cpp: compiling ..."
    assert sum("still running" in ln for ln in lines) >= 2
    assert lines[-1].startswith("cpp: compiling ... done in ") and lines[-1].endswith("(3 files)")
    assert "\r" not in log.text
    log = _Stream(tty=False)
    with pytest.raises(RuntimeError):
        with task("boom", stream=log, interval=3600):
            raise RuntimeError("x")
    assert "boom ... FAILED after" in log.text
    tty = _Stream(tty=True)
    with task("t", stream=tty, interval=0.05):
        time.sleep(0.6)
    assert "\r" in tty.text and tty.text.rstrip().endswith("\033[K")


def test_verify_cli_shows_its_steps(capsys):
    assert main(["verify", "twocomp", "--samples", "4"]) == 0
    err = capsys.readouterr().err
    for step in ("torch float64 reference, 4 trials", "building the Brian2 model", "Brian2 run, 4 trials x 30 steps"):
        assert f"verify twocomp [numpy]: {step}" in err
    assert err.count("done in") == 3 and "\r" not in err


def test_training_progress_in_a_log_is_lines(tmp_path, capsys, monkeypatch):
    from neuromorph.config import config_from_dict
    from neuromorph.runner import run

    monkeypatch.setenv("NEUROMORPH_PROGRESS_INTERVAL", "0")
    cfg = config_from_dict({"circuit": "twocomp", "params": TRAIN_PARAMS,
                            "train": {"dataset": "digits", "epochs": 2, "n_train": 64, "n_test": 32, "threads": 1}})
    run(cfg, tmp_path / "r", progress=True, log=lambda *a: None)
    err = capsys.readouterr().err
    assert "\r" not in err
    assert "epoch 1/2: 64/64 samples (100 %)" in err and "epoch 2/2: 64/64 samples (100 %)" in err


TRAIN_PARAMS = {"n_in": 64, "n_out": 10, "n_hidden": 12, "n_inh": 3, "batch": 8, "t_free": 8, "t_nudged": 4, "lr_ho": 0.3}


# ---- 7. figures ----------------------------------------------------------------------------------------------
def _png(path):
    data = Path(path).read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000, path  # a real image, not an empty canvas
    from matplotlib.image import imread

    img = imread(path)
    assert img.shape[0] > 300 and img.shape[1] > 500
    return img


def test_verify_plot_writes_timeline_and_errors(tmp_path, capsys):
    assert main(["verify", "twocomp", "--samples", "8", "--plot", str(tmp_path), "--no-progress"]) == 0
    out = capsys.readouterr().out
    for name in ("verify-numpy-timeline.png", "verify-numpy-errors.png"):
        assert f"wrote {tmp_path / name}" in out
        _png(tmp_path / name)


def test_compare_plots_raster_from_spike_times_and_says_untrained(tmp_path, capsys):
    from neuromorph import get_circuit
    from neuromorph.compare import compare_rate_spiking

    assert main(["compare", "twocomp", "--backend", "numpy", "--samples", "4", "--t-samples", "0.01", "0.02",
                 "--plot", str(tmp_path), "--no-progress"]) == 0
    cap = capsys.readouterr()
    assert "UNTRAINED weights" in cap.err and "columns:" in cap.out and "agreement      fraction" in cap.out
    _png(tmp_path / "compare-accuracy.png")
    _png(tmp_path / "compare-raster.png")
    # the raster's spikes are the run's spikes: per population they add up to the reported counts
    c = get_circuit("twocomp")
    x, y = c.example_inputs(4, 0)
    rep = compare_rate_spiking(c, c.initial_weights(0), x, y, t_samples=(0.02,), encoding="regular", target="numpy")
    idx_steps = rep.raster["spikes"]
    per_sample = rep.rows[0].spikes_per_population
    for pop, (idx, steps) in idx_steps.items():
        assert len(idx) == len(steps) == round(per_sample[pop] * 4)
        assert steps.max(initial=0) < 4 * rep.raster["trial_steps"]


# ---- 3. compare from a run; weights files carry circuit, params, digest ------------------------------------
def test_run_writes_figures_and_weights_and_compare_takes_them(tmp_path, capsys):
    import numpy as np

    from neuromorph import get_circuit
    from neuromorph.config import config_from_dict
    from neuromorph.runner import run
    from neuromorph.weights import load_weights

    cfg = config_from_dict({"circuit": "twocomp", "params": TRAIN_PARAMS, "verify": {"backends": ["numpy"], "samples": 8},
                            "train": {"dataset": "digits", "epochs": 2, "n_train": 96, "n_test": 40, "threads": 1}})
    out = run(cfg, tmp_path / "r", progress=False, log=lambda *a: None)
    figs = {p.name for p in (out / "figures").glob("*.png")}
    assert {"verify-numpy-timeline.png", "verify-numpy-errors.png", "phase_timeline.png", "learning_curve.png"} <= figs
    for f in figs:
        _png(out / "figures" / f)
    weights, meta = load_weights(out / "weights.npz")
    assert meta["circuit"] == "twocomp" and meta["config_digest"] == cfg.digest() and meta["params"]["n_hidden"] == 12
    circuit = get_circuit("twocomp", **TRAIN_PARAMS)
    assert set(weights) == set(circuit.weight_shapes())
    assert not np.allclose(weights["W_ho"], circuit.initial_weights(cfg.seed)["W_ho"])  # trained, not initial

    js = tmp_path / "c.json"
    assert main(["compare", "--run", str(out), "--backend", "numpy", "--samples", "6", "--t-samples", "0.01",
                 "--no-progress", "--json", str(js)]) == 0
    cap = capsys.readouterr()
    assert f"trained weights of {out}" in cap.err and "6 test samples of digits (the run's data set)" in cap.err
    rep = json.loads(js.read_text())
    from neuromorph.data import load_dataset

    data = load_dataset("digits", n_test=6, seed=cfg.seed)
    x, y = data.x_test, data.y_test
    assert rep["rate_accuracy"] == pytest.approx(float(np.mean(circuit.predict_rate(weights, x) == y)))

    # the same weights with another β: an error naming the key, not silent nonsense
    assert main(["compare", "twocomp", "--weights", str(out / "weights.npz"), "--backend", "numpy",
                 *sum((["--set", f"params.{k}={v}"] for k, v in {**TRAIN_PARAMS, "beta": 0.7}.items()), [])]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "beta: weights 0.5 vs now 0.7" in err and len(err.strip().splitlines()) == 1
    assert main(["compare", "phsic", "--weights", str(out / "weights.npz")]) == 2
    assert "holds weights of circuit 'twocomp', not 'phsic'" in capsys.readouterr().err
    assert main(["compare", "--run", str(tmp_path)]) == 2
    assert "results folder" in capsys.readouterr().err  # (i13's load_run words it its own way)


# ---- 8. small things -------------------------------------------------------------------------------------
def test_missing_mnist_names_the_config_keys():
    from neuromorph.data import load_dataset
    from neuromorph.errors import DataUnavailableError

    with pytest.raises(DataUnavailableError) as exc:
        load_dataset("mnist")
    assert "`train.data_root`" in str(exc.value) and "`train.download = true`" in str(exc.value)


# ---- 2. the guide's example circuit: verified, trained and compared by the commands docs/ shows ----------------
def test_guide_example_verifies_by_path(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(ROOT)  # the guide's commands run from the repository root
    js = tmp_path / "v.json"
    assert main(["verify", "examples/leaky_delta:LeakyDelta", "--json", str(js), "--no-progress"]) == 0
    d = json.loads(js.read_text())
    assert d["circuit"] == "leaky_delta" and d["passed"] and d["n_updates"] == 3 and d["max_rel_error"] <= 1e-9
    assert set(d["variables"]) == {"u_o", "W"}
    assert main(["equations", "examples/leaky_delta:LeakyDelta"]) == 0
    assert "acc += gate_learn_post*(r_pre*(r_post - r_free_post))" in capsys.readouterr().out


def test_guide_example_trains_and_compares_from_its_run(tmp_path, capsys, monkeypatch):
    from neuromorph.config import load_config
    from neuromorph.runner import run

    monkeypatch.chdir(ROOT)
    cfg = load_config("examples/leaky_delta/digits.toml",
                      ["train.epochs=2", "compare.n_samples=10", "compare.t_samples=[0.05]"])
    out = run(cfg, tmp_path / "ld", progress=False, log=lambda *a: None)
    metrics = [json.loads(ln) for ln in (out / "metrics.jsonl").read_text().splitlines() if ln]
    # a delta rule on 8x8 digits: far above the 10 % of chance after two epochs (measured 0.906 test)
    assert len(metrics) == 2 and metrics[-1]["test_acc"] > 0.8
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["verify"]["numpy"]["passed"] and manifest["status"] == "complete"
    assert {"compare-accuracy.png", "compare-raster.png", "verify-numpy-timeline.png"} <= {p.name for p in (out / "figures").iterdir()}
    js = tmp_path / "c.json"
    assert main(["compare", "--run", str(out), "--backend", "numpy", "--samples", "10", "--t-samples", "0.1",
                 "--no-progress", "--json", str(js)]) == 0
    rep = json.loads(js.read_text())
    assert rep["circuit"] == "leaky_delta" and rep["rate_accuracy"] >= 0.8  # trained weights, the run's digits
    assert "the run's data set" in capsys.readouterr().err
