"""Sweeps (seeds × grid on the local and submitit engines) and summaries of their runs.

The runs are a tiny twocomp on 200 digits for 2 epochs (a few seconds each); the statistics are checked
against numbers recomputed here from each run's metrics.jsonl.
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path

import pytest

from neuromorph.cli import main
from neuromorph.config import config_from_dict, load_config
from neuromorph.errors import ConfigError, NeuromorphError
from neuromorph.summarize import headline_metrics, summarize, table
from neuromorph.sweep import expand, parse_grid, parse_seeds, run_sweep

TINY = """
circuit = "twocomp"
name = "tiny"
[params]
n_in = 64
n_hidden = 12
n_inh = 4
n_out = 10
batch = 16
lr_xh = 0.1
lr_ho = 0.3
beta = 1.0
[train]
dataset = "digits"
epochs = 2
n_train = 160
n_test = 80
threads = 1
[paper]
value = 0.5
std = 0.02
n = 10
source = "Table 9"
"""


@pytest.fixture
def tiny_config(tmp_path):
    path = tmp_path / "tiny.toml"
    path.write_text(TINY)
    return path


def _final(run_dir: Path) -> dict:
    return [json.loads(ln) for ln in (run_dir / "metrics.jsonl").read_text().splitlines() if ln][-1]


def test_parse_seeds():
    assert parse_seeds(["0-9"]) == list(range(10))
    assert parse_seeds(["0,3,5", "7"]) == [0, 3, 5, 7]
    assert parse_seeds(["2-4", "3"]) == [2, 3, 4]
    for bad in (["x"], ["5-2"], [""], ["-1"]):
        with pytest.raises(ConfigError, match="--seeds"):
            parse_seeds(bad)


def test_parse_grid_keeps_lists_and_strings_whole():
    grid = parse_grid(["params.lr_xh=0.1,0.2", 'params.name_like="a,b",c', "params.sizes=[64,20,10],[64,40,10]"])
    assert grid == [("params.lr_xh", [0.1, 0.2]), ("params.name_like", ["a,b", "c"]), ("params.sizes", [[64, 20, 10], [64, 40, 10]])]
    for bad, match in ((["params.x"], "KEY=V1,V2"), (["seed=1,2"], "--seeds"), (["params.a=1", "params.a=2"], "twice")):
        with pytest.raises(ConfigError, match=match):
            parse_grid(bad)


def test_expand_names_every_point_and_validates(tiny_config):
    config = load_config(tiny_config)
    runs = expand(config, [0, 1], parse_grid(["params.lr_xh=0.1,0.2"]))
    assert [c.run_name for c in runs] == ["tiny-lr_xh=0.1-seed0", "tiny-lr_xh=0.1-seed1", "tiny-lr_xh=0.2-seed0", "tiny-lr_xh=0.2-seed1"]
    assert [c.params["lr_xh"] for c in runs] == [0.1, 0.1, 0.2, 0.2]
    assert [c.seed for c in runs] == [0, 1, 0, 1]
    # runs that differ by seed only share a group digest; grid points do not
    assert runs[0].group_digest() == runs[1].group_digest() != runs[2].group_digest()
    assert runs[0].digest() != runs[1].digest()
    with pytest.raises(ConfigError, match="train"):
        expand(config, [0], parse_grid(["train.no_such_key=1,2"]))


def test_paper_section_is_not_part_of_the_digest(tiny_config):
    with_paper = load_config(tiny_config)
    raw = with_paper.to_dict()
    raw.pop("paper")
    assert config_from_dict(raw).digest() == with_paper.digest()
    assert with_paper.paper.value == 0.5 and with_paper.paper.source == "Table 9"


def test_local_sweep_skips_complete_runs_and_lists_failures(tiny_config, tmp_path, capsys):
    root = tmp_path / "runs"
    assert main(["sweep", str(tiny_config), "--seeds", "0-1", "--out-root", str(root), "--workers", "1"]) == 0
    out = capsys.readouterr().out
    assert "[tiny-seed0] complete" in out and "[tiny-seed1] complete" in out
    assert "2 complete, 0 skipped" in out
    # again: nothing runs; plus one grid point that fails only once its data load (more samples than the set
    # has; a wrong key or value is refused before the sweep starts: test_sweep_refuses_a_bad_grid_...)
    rc = main(["sweep", str(tiny_config), "--seeds", "0-1", "--out-root", str(root), "--workers", "1",
               "--grid", "train.n_train=160,5000"])
    out = capsys.readouterr().out
    assert rc == 1
    assert "0 complete, 0 skipped" not in out
    assert "[tiny-n_train=160-seed0] complete" in out  # a new name: the grid point is its own run
    failed = [ln for ln in out.splitlines() if ln.startswith("  FAILED")]
    assert len(failed) == 2 and all("n_train=5000 exceeds the 1437 samples available" in ln for ln in failed)
    assert main(["sweep", str(tiny_config), "--seeds", "0-1", "--out-root", str(root), "--workers", "1"]) == 0
    assert "0 complete, 2 skipped" in capsys.readouterr().out


def test_local_engine_keeps_workers_times_threads_within_cores(tiny_config, tmp_path):
    config = load_config(tiny_config, ["train.threads=2"])
    with pytest.raises(ConfigError, match="workers x 2 torch threads"):
        run_sweep(expand(config, [0, 1]), tmp_path, engine="local", workers=2, cores=2)


def test_local_engine_in_worker_processes_matches_serial(tiny_config, tmp_path):
    config = load_config(tiny_config)
    serial = run_sweep(expand(config, [3]), tmp_path / "serial", workers=1)
    pooled = run_sweep(expand(config, [3, 4]), tmp_path / "pool", workers=2, cores=2)
    assert [r.status for r in serial + pooled] == ["complete"] * 3
    assert _final(Path(serial[0].path))["test_acc"] == _final(Path(pooled[0].path))["test_acc"]


def test_submitit_local_executor_runs_the_same_code_path(tiny_config, tmp_path):
    pytest.importorskip("submitit")
    config = load_config(tiny_config)
    results = run_sweep(expand(config, [0, 1]), tmp_path / "sub", engine="submitit", cluster="local")
    assert [r.status for r in results] == ["complete", "complete"], [r.error for r in results]
    serial = run_sweep(expand(config, [0]), tmp_path / "serial", workers=1)
    for key in ("test_acc", "train_acc"):
        assert _final(Path(results[0].path))[key] == _final(Path(serial[0].path))[key]


def test_summarize_groups_by_config_and_matches_hand_statistics(tiny_config, tmp_path, capsys):
    root = tmp_path / "runs"
    config = load_config(tiny_config)
    run_sweep(expand(config, [0, 1, 2], parse_grid(["params.lr_ho=0.3,0.1"])), root, workers=1)
    # an unfinished run of the first group must be listed, not averaged
    unfinished = root / "tiny-lr_ho=0.3-seed0"
    m = json.loads((unfinished / "manifest.json").read_text())
    m["status"] = "interrupted"
    (unfinished / "manifest.json").write_text(json.dumps(m))

    groups = summarize([root])
    assert [g.label for g in groups] == ["tiny-lr_ho=0.1", "tiny-lr_ho=0.3"]
    for g, seeds in zip(groups, ([0, 1, 2], [1, 2])):
        label = g.label
        accs = [_final(root / f"{label}-seed{s}")["test_acc"] for s in seeds]
        s = g.stats["test_acc"]
        assert s["n"] == len(seeds) and [r.seed for r in g.runs] == seeds
        assert s["mean"] == pytest.approx(statistics.mean(accs), abs=1e-15)
        assert s["std"] == pytest.approx(statistics.stdev(accs), abs=1e-15)
        assert (s["min"], s["max"]) == (min(accs), max(accs))
    assert [r.seed for r in groups[1].incomplete] == [0]
    text = table(groups)
    assert "50.00 ± 2.00 (n = 10), Table 9" in text and "s0: interrupted at 2 ep" in text

    assert main(["summarize", str(root), "--out", str(tmp_path / "sum")]) == 0
    assert "tiny-lr_ho=0.1" in capsys.readouterr().out
    written = json.loads((tmp_path / "sum" / "summary.json").read_text())
    assert [g["n_complete"] for g in written["groups"]] == [3, 2]
    assert (tmp_path / "sum" / "learning_curves_test_acc.png").stat().st_size > 10_000


def test_sweep_refuses_a_bad_grid_before_any_run_starts(tiny_config, tmp_path):
    """A wrong grid key or value is one error naming the run, raised before anything is written (not one failure
    per run after the sweep has started)."""
    config = load_config(tiny_config)
    with pytest.raises(ConfigError, match=r"tiny-nope=1-seed0: unknown key\(s\) \['nope'\].*nothing of the sweep was started"):
        run_sweep(expand(config, [0, 1], parse_grid(["params.nope=1,2"])), tmp_path / "bad", workers=1)
    with pytest.raises(ConfigError, match=r"tiny-batch=-4-seed0: .*batch"):
        run_sweep(expand(config, [0], parse_grid(["params.batch=16,-4"])), tmp_path / "bad", workers=1)
    assert not (tmp_path / "bad").exists() or not any((tmp_path / "bad").iterdir())
    assert main(["sweep", str(tiny_config), "--seeds", "0", "--grid", "params.nope=1", "--out-root", str(tmp_path / "cli")]) == 2


def test_summarize_labels_same_name_groups_by_what_differs(tiny_config, tmp_path):
    """Runs of one config given different --set values keep one run name; their groups must not share a label."""
    config = load_config(tiny_config)
    run_sweep(expand(config, [0]), tmp_path / "faithful", workers=1)
    d = config.to_dict()
    d["params"]["lr_ho"] = 0.1
    d["train"]["n_test"] = 40
    run_sweep(expand(config_from_dict(d), [0]), tmp_path / "changed", workers=1)
    d["params"].pop("lr_ho")
    run_sweep(expand(config_from_dict(d), [0]), tmp_path / "unset", workers=1)
    labels = [g.label for g in summarize([tmp_path / "faithful", tmp_path / "changed", tmp_path / "unset"])]
    assert labels == [
        "tiny [params.lr_ho=0.1, train.n_test=40]",
        "tiny [params.lr_ho=0.3, train.n_test=80]",
        "tiny [params.lr_ho=default, train.n_test=40]",
    ]
    assert [g.label for g in summarize([tmp_path / "faithful"])] == ["tiny"]  # alone: the name only


def test_summarize_errors_name_the_file(tmp_path):
    with pytest.raises(ConfigError, match="no run folders"):
        summarize([tmp_path])
    bad = tmp_path / "r"
    bad.mkdir()
    (bad / "manifest.json").write_text("{trunc")
    with pytest.raises(NeuromorphError, match=r"r/manifest.json is truncated or not valid JSON"):
        summarize([tmp_path])
    with pytest.raises(ConfigError, match="does not exist"):
        summarize([tmp_path / "nope"])


# ---- the experiments folder: one run path, data-only files ------------------------------------------------------
EXPERIMENTS = Path(__file__).resolve().parents[1] / "experiments"
_PICKLE_MODULES = {"pickle", "cPickle", "_pickle", "dill", "cloudpickle", "joblib", "shelve"}


def _pickle_uses(source: str) -> list[str]:
    """What in a Python source can unpickle (or pickle): imports of pickle-like modules, ``allow_pickle=True``
    and ``torch.load(..., weights_only=False)``; found on the syntax tree, so a comment or a docstring that
    says 'never unpickled' is not a hit."""
    import ast

    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [f"import {a.name}" for a in node.names if a.name.split(".")[0] in _PICKLE_MODULES]
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in _PICKLE_MODULES:
            found.append(f"from {node.module} import ...")
        elif isinstance(node, ast.keyword) and node.arg in ("allow_pickle", "weights_only"):
            truthy = node.arg == "allow_pickle"
            if not (isinstance(node.value, ast.Constant) and node.value.value is (not truthy)):
                found.append(f"{node.arg}={ast.unparse(node.value)} (line {node.value.lineno})")
    return found


def test_no_experiment_script_pickles():
    """Results folders are read through neuromorph.runner.load_run / weights.load_weights (data only); no script
    under experiments/ may pickle or unpickle, and no pickle file may be committed there."""
    # the detector itself must see each form it is meant to catch, and not a docstring's mention
    assert _pickle_uses("import pickle") == ["import pickle"]
    assert _pickle_uses("from joblib import load") == ["from joblib import ..."]
    assert _pickle_uses("np.load(f, allow_pickle=True)") == ["allow_pickle=True (line 1)"]
    assert _pickle_uses("torch.load(f, weights_only=False)") == ["weights_only=False (line 1)"]
    assert _pickle_uses('"""never unpickled: allow_pickle=True is refused"""\nnp.load(f, allow_pickle=False)') == []
    scripts = sorted(EXPERIMENTS.rglob("*.py"))
    assert len(scripts) > 5, scripts
    hits = {str(p.relative_to(EXPERIMENTS)): u for p in scripts if (u := _pickle_uses(p.read_text()))}
    assert hits == {}
    pickles = [str(p.relative_to(EXPERIMENTS)) for p in EXPERIMENTS.rglob("*") if p.suffix in (".pkl", ".pickle")]
    assert pickles == []


@pytest.mark.parametrize(
    "path", sorted(EXPERIMENTS.rglob("*.toml")), ids=lambda p: str(p.relative_to(EXPERIMENTS))
)
def test_every_experiment_config_validates(path):
    """Each config under experiments/ loads (unknown keys and wrong types are errors) and passes the runner's
    data-free checks: the circuit's parameters, its [trainer] options (circuit.trainer_options()), the Brian2
    targets its sections name. A renamed parameter or trainer option breaks the config here, not in a long run."""
    from neuromorph.runner import validate_run

    config = load_config(path)
    circuit = validate_run(config, check_memory=False)
    assert circuit.name
    if config.trainer:  # validate_run checked them; check again that each name is one the circuit declares
        assert set(config.trainer) <= set(circuit.trainer_options())


CORINFOMAX_TINY = """
circuit = "corinfomax"
name = "cim"
[params]
sizes = [64, 12, 10]
batch = 4
t_free = 6
t_nudged = 3
[trainer]
kernel = "python"
[train]
dataset = "digits"
epochs = 1
n_train = 40
n_test = 20
"""


def test_sweep_share_of_cores_reaches_the_corinfomax_trainer_and_its_manifest(tmp_path):
    """Two workers on 2 cores: each run gets one torch thread, and the CorInfoMax trainer (threads left unset)
    must use one thread too, not min(2, cpus) on top of the other worker; the manifest records what ran
    (threads, lanes, the kernel an "auto" would resolve to), not the unset option."""
    path = tmp_path / "cim.toml"
    path.write_text(CORINFOMAX_TINY)
    results = run_sweep(expand(load_config(path), [0, 1]), tmp_path / "runs", workers=2, cores=2)
    assert [r.status for r in results] == ["complete", "complete"], [r.error for r in results]
    for r in results:
        backend = json.loads((Path(r.path) / "manifest.json").read_text())["backend"]
        assert backend["torch_threads"] == 1
        opts = backend["trainer_options"]
        assert (opts["threads"], opts["lanes"], opts["kernel"], opts["gemm"] in ("onednn", "blas")) == (1, 1, "python", True)


REPO = EXPERIMENTS.parent


def _committed_summaries() -> list[Path]:
    return sorted(p.parent for p in EXPERIMENTS.glob("*/results/**/summary.json"))


@pytest.mark.parametrize("folder", _committed_summaries(), ids=lambda p: str(p.relative_to(EXPERIMENTS)))
def test_committed_summaries_are_reproduced_from_the_committed_runs(folder):
    """A table under experiments/ is audited from the repository alone: summarising again the committed
    manifest.json + metrics.jsonl of the runs its summary.json names gives exactly that summary.json (same groups,
    labels, seeds, statistics). A summary made from runs outside the repository fails here."""
    written = json.loads((folder / "summary.json").read_text())["groups"]
    paths = [Path(r["path"]) for g in written for r in g["runs"]]
    outside = [str(p) for p in paths if p.is_absolute() or not (REPO / p / "manifest.json").is_file()]
    assert not outside, f"{folder}/summary.json names runs that are not committed: {outside[:3]}"
    assert all(not g["incomplete"] for g in written), "a committed table should rest on complete runs only"
    again = summarize([REPO / p for p in paths])
    assert [(g.label, g.group, [r.seed for r in g.runs]) for g in again] == [
        (g["label"], g["group_digest"], [r["seed"] for r in g["runs"]]) for g in written
    ]
    assert [g.stats for g in again] == [g["final"] for g in written]
    # accuracy tables are seed statistics (at least 2 runs a row, as before); the KSM R² table is one seed a setting
    headline = headline_metrics(again)
    assert all(g.stats[m]["n"] == len(g.runs) >= (2 if m == "test_acc" else 1) for g in again for m in headline)


def test_committed_summaries_exist():
    """The smoke sweeps of both papers and the CorInfoMax protocol table are committed (the parametrised test above
    would pass on none)."""
    folders = {str(p.relative_to(EXPERIMENTS)) for p in _committed_summaries()}
    assert folders >= {"corinfomax/results/smoke", "phsic/results/smoke", "corinfomax/results/paper"}
