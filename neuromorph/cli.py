"""The ``neuromorph`` command: list | info | run | sweep | summarize | verify | compare | equations | bench.

Errors neuromorph raises on purpose (bad config, unknown circuit, missing data or compiler, shape mismatch,
a damaged results file, a diverged run) print one line, ``error: ...``, and exit with status 2; a failed
equivalence check exits with status 1; Ctrl-C (also while Brian2 compiles) prints one line and exits 130.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings

from .errors import ConfigError, NeuromorphError, interrupted_build

__all__ = ["main"]


def _quiet_warnings():
    # setuptools' distutils shim warns on every Brian2 import; it says nothing to a neuromorph user.
    warnings.filterwarnings("ignore", message=".*_get_vc_env is private.*")
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    # Brian2 warnings that neuromorph's own models trigger by design and a user cannot act on. Brian2 logs
    # each under "brian2.<module>.<name>"; raising that one logger's level silences it without importing
    # Brian2 here (`neuromorph list` stays fast). Warnings about the user's own circuits are kept.
    import logging

    for name in HARMLESS_BRIAN2_WARNINGS:
        logging.getLogger(name).setLevel(logging.ERROR)


HARMLESS_BRIAN2_WARNINGS = (
    # weight monitors record explicit synapse indices (standalone cannot count synapses before the run)
    "brian2.monitors.statemonitor.cannot_check_statemonitor_indices",
)


def _positive(value, flag: str, *, allow_none: bool = True) -> None:
    """A count given on the command line must be >= 1 (None: the command's default)."""
    if value is None and allow_none:
        return
    if value is None or value < 1:
        raise ConfigError(f"{flag} {value} must be at least 1; give a positive count (e.g. {flag} 10)")


def _positive_floats(values, flag: str) -> None:
    import math

    for v in values if isinstance(values, (list, tuple)) else [values]:
        if not (math.isfinite(v) and v > 0):
            raise ConfigError(f"{flag} {v} must be a positive finite number")


def _seed(value) -> None:
    if value < 0:
        raise ConfigError(f"--seed {value} must be a non-negative integer")


def _check_backend(backend: str, *, run: bool) -> str:
    """Refuse at once what cannot work here (cuda without a GPU when the binary would run, no compiler)."""
    from .brian.devices import check_target

    return check_target(backend, need_gpu=run)


class _BuildDir:
    """--build-dir if given (kept), else a temporary folder removed after use (also on errors and Ctrl-C)."""

    def __init__(self, given):
        self.given = given
        self._tmp = None

    def __enter__(self):
        if self.given:
            return self.given
        import tempfile

        self._tmp = tempfile.TemporaryDirectory(prefix="neuromorph-build-")
        return self._tmp.name

    def __exit__(self, *exc):
        if self._tmp is not None:
            self._tmp.cleanup()
        return False


def cmd_list(args) -> int:
    # reads the descriptions from source: no torch/Brian2 import, so it answers in well under a second
    from .circuit import circuit_descriptions

    for name, desc in circuit_descriptions().items():
        print(f"{name:20s} {desc}")
    print("\nyour own circuit, without packaging: path/to/file.py:ClassName or module.path:ClassName, wherever a name goes")
    return 0


def cmd_info(args) -> int:
    from .brian.devices import cuda_toolchain, gpu_available, target_status
    from .errors import BackendUnavailableError
    from .runner import git_commit, package_versions

    info = {"versions": package_versions(), "git_commit": git_commit(), "targets": target_status()}
    try:
        tc = cuda_toolchain()
        info["nvcc"] = {"path": tc.nvcc, "cuda_version": tc.runtime_version, "curand_include": tc.curand_include}
    except BackendUnavailableError as exc:
        info["nvcc"] = f"unavailable: {exc}"
    ok, why = gpu_available()
    info["gpu"] = why if ok else f"none ({why})"
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    print("neuromorph", info["versions"].get("neuromorph"), "git", (info["git_commit"] or "?")[:10])
    for k, v in info["versions"].items():
        print(f"  {k:14s} {v}")
    print("Brian2 targets:")
    for k, v in info["targets"].items():
        print(f"  {k:8s} {v}")
    print("nvcc:", info["nvcc"] if isinstance(info["nvcc"], str) else f"{info['nvcc']['path']} (CUDA {info['nvcc']['cuda_version']})")
    print("GPU:", info["gpu"])
    return 0


def cmd_run(args) -> int:
    from .config import load_config
    from .runner import run

    config = load_config(args.config, args.set)
    run(config, args.out, resume=args.resume, progress=not args.no_progress)
    return 0


def cmd_sweep(args) -> int:
    from .config import load_config
    from .sweep import describe, expand, parse_grid, parse_seeds, run_sweep

    config = load_config(args.config, args.set)
    _positive(args.workers, "--workers")
    configs = expand(config, parse_seeds(args.seeds), parse_grid(args.grid))
    print(f"sweep: {len(configs)} runs on the {args.engine} engine into {args.out_root}/", flush=True)

    def line(res):
        extra = f" ({res.seconds:.1f} s)" if res.status != "skipped" else " (already complete)"
        print(f"[{res.name}] {res.status}{extra} -> {res.path}" + (f": {res.error}" if res.error else ""), flush=True)

    results = run_sweep(
        configs, args.out_root, engine=args.engine, workers=args.workers, cluster=args.submitit_cluster,
        address=args.ray_address, on_result=line, seed_batch=args.seed_batch,
    )
    print(describe(results))
    return 1 if any(r.status == "failed" for r in results) else 0


def cmd_summarize(args) -> int:
    from pathlib import Path

    from .summarize import headline_metrics, summarize, table, write_summary

    groups = summarize(args.dirs)
    metrics = tuple(args.metric) if args.metric else headline_metrics(groups)
    print(table(groups, metrics))
    out = Path(args.out) if args.out else Path(args.dirs[0])
    paths = write_summary(groups, out, metrics)
    print("wrote " + ", ".join(str(p) for p in paths.values()))
    return 0


def _verification_circuit(name, overrides):
    """The circuit's small verification instance with ``--set params.K=V`` applied on top of it."""
    from .circuit import get_circuit

    return get_circuit(name).verification_circuit(**_params_overrides(overrides))


def _params_overrides(overrides) -> dict:
    from .config import parse_overrides

    parsed = parse_overrides(overrides) if overrides else {}
    unknown = sorted(set(parsed) - {"params"})
    if unknown:
        raise ConfigError(f"--set here takes params.KEY=VALUE only; got {unknown} (e.g. --set params.n_hidden=5)")
    params = parsed.get("params", {})
    if not isinstance(params, dict):
        raise ConfigError("--set here takes params.KEY=VALUE (e.g. --set params.n_hidden=5), not params=VALUE")
    return params


def cmd_verify(args) -> int:
    from .equivalence import verify

    _positive(args.samples, "--samples")
    _seed(args.seed)
    _check_backend(args.backend, run=not args.compile_only)
    circuit = _verification_circuit(args.circuit, args.set)
    with _BuildDir(args.build_dir) as build_dir:
        report = verify(
            circuit,
            args.backend,
            n_trials=args.samples,
            seed=args.seed,
            tolerance=args.tolerance,
            compile_only=args.compile_only,
            build_dir=build_dir,
            progress=not args.no_progress,
        )
    if not args.build_dir:
        report.timings.pop("build_dir", None)  # removed: do not point at it
    print(report.table())
    if args.json:
        from .io import atomic_write_json

        atomic_write_json(args.json, report.to_dict())  # strict JSON: a NaN error is written "NaN", not NaN
        print(f"wrote {args.json}")
    if args.plot and not args.compile_only:
        from .plots import verify_figures

        for path in verify_figures(circuit, report, args.plot):
            print(f"wrote {path}")
    return 0 if report.passed else 1


def cmd_compare(args) -> int:
    from .circuit import get_circuit
    from .compare import compare_rate_spiking
    from .config import parse_overrides
    from .data import load_dataset
    from .weights import check_meta, load_weights, read_run

    _positive(args.samples, "--samples", allow_none=False)
    _positive_floats(args.t_samples, "--t-samples")
    _positive_floats(args.r_max, "--r-max")
    _positive_floats(args.tau_syn, "--tau-syn")
    _seed(args.seed)
    _check_backend(args.backend, run=True)
    params = parse_overrides(args.set).get("params", {})
    circuit_name = args.circuit
    if args.run:
        if args.weights:
            raise ConfigError("give either --run RUN_DIR (weights and parameters from the run) or --weights FILE, not both")
        run = read_run(args.run)
        if circuit_name not in (None, run.circuit):
            raise ConfigError(f"{args.run} trained circuit {run.circuit!r}, not {circuit_name!r}; leave out the circuit name with --run")
        if params:
            raise ConfigError("--run takes the circuit parameters from the run; drop the --set params.* overrides")
        circuit_name, params = run.circuit, run.params
    if circuit_name is None:
        raise ConfigError("name a circuit (neuromorph compare twocomp) or a results folder (--run RUN_DIR)")
    circuit = get_circuit(circuit_name, **params)
    if args.run:
        weights, source = run.weights, f"trained weights of {run.folder} ({run.source})"
    elif args.weights:
        weights, meta = load_weights(args.weights)
        check_meta(meta, circuit, args.weights)
        source = f"weights from {args.weights}" + ("" if meta else " (a plain .npz: circuit and parameters not checked)")
    else:
        weights = circuit.initial_weights(args.seed)
        source = (f"UNTRAINED weights (the circuit's initial weights, seed {args.seed}): accuracies are chance-level; "
                  "give --run RUN_DIR or --weights FILE for a trained network")
    circuit.check_weights(weights)
    print(f"{circuit.name}: {source}", file=sys.stderr)
    if args.dataset:
        data = load_dataset(args.dataset, n_test=args.samples, seed=args.seed)
        x, y = data.x_test, data.y_test
    elif args.run and run.train:
        # the run's own test data, prepared as in training (same scale)
        tr = run.train
        data = load_dataset(tr.get("dataset"), root=tr.get("data_root") or None, n_test=args.samples, seed=run.seed,
                            scale=tr.get("scale", "unit"))
        x, y = data.x_test, data.y_test
        print(f"{circuit.name}: {len(y)} test samples of {data.name} (the run's data set)", file=sys.stderr)
    else:
        x, y = circuit.example_inputs(args.samples, args.seed)
    report = compare_rate_spiking(
        circuit,
        weights,
        x,
        y,
        t_samples=tuple(args.t_samples),
        encoding=args.encoding,
        target=args.backend,
        r_max=args.r_max,
        tau_syn=args.tau_syn,
        seed=args.seed,
        progress=not args.no_progress,
    )
    report.meta["weights"] = source
    print(report.table())  # ends with the explanation of its columns
    if args.json:
        from .io import atomic_write_json

        atomic_write_json(args.json, report.to_dict())  # strict JSON: a NaN error is written "NaN", not NaN
        print(f"wrote {args.json}")
    if args.plot:
        from .plots import compare_figures

        for path in compare_figures(report, args.plot):
            print(f"wrote {path}")
    return 0


BENCH_COLUMNS = """\
columns:
  build (s)      one-off cost before the first step. cpp/cuda: Brian2 generating the code + compiling the binary.
                 numpy/cython: none separately - code is generated (and, for cython, compiled) inside the first run.
  first run (s)  the first simulation of the trials. numpy/cython: Network.run, code generation included; cython
                 also compiles its extensions unless an earlier process left them in its on-disk cache.
                 cpp/cuda: running the binary once (start-up and array I/O included). torch: first call (lazy init).
  warm run (s)   the same trials again in the same process: cython's compiled code cached, the binary run again.
  µs/step        warm run / integration steps: the cost of simulating, without the one-off build."""


def cmd_bench(args) -> int:
    """Build and run times of a circuit's Brian2 model on each target, and of its torch reference, kept apart."""
    import torch
    from brian2 import get_device

    from .brian.devices import activate, gpu_available, normalise_target
    from .brian.model import run_model
    from .io import atomic_write_json
    from .progress import task

    _positive(args.samples, "--samples")
    _seed(args.seed)
    for backend in args.backends:
        _check_backend(backend, run=True)
    circuit = _verification_circuit(args.circuit, args.set)
    weights = circuit.initial_weights(args.seed)
    n_trials = args.samples or 4 * circuit.schedule.trials_per_update
    data = circuit.example_data(n_trials, args.seed)
    steps = n_trials * circuit.schedule.trial_steps
    progress = not args.no_progress
    rows = []
    runs = []
    for i in range(2):
        with task(f"bench {circuit.name} [torch-float64]: {'first' if i == 0 else 'warm'} run", enabled=progress):
            t0 = time.perf_counter()
            circuit.simulate_reference(weights, data, dtype=torch.float64)
            runs.append(time.perf_counter() - t0)
    rows.append({"target": "torch-float64", "build_s": None, "first_run_s": runs[0], "warm_run_s": runs[1]})
    for backend in args.backends:
        backend = normalise_target(backend)
        label = f"bench {circuit.name} [{backend}]"
        row = {"target": backend, "build_s": None, "first_run_s": None, "warm_run_s": None}
        if backend in ("numpy", "cython"):
            for key in ("first_run_s", "warm_run_s"):
                activate(backend)  # a fresh network each time; cython's compiled code stays cached
                model = circuit.build_brian(weights, data)
                model.record_states = False
                _, timings = run_model(model, label=f"{label} {key[:-6]} run" if progress else None)
                row[key] = timings["run_s"]
        else:
            activate(backend)
            model = circuit.build_brian(weights, data)
            model.record_states = False
            no_gpu = backend == "cuda" and not gpu_available()[0]
            with _BuildDir(None) as build_dir:  # removed after the warm run
                _, timings = run_model(model, build_dir=build_dir, compile_only=no_gpu, label=label if progress else None)
                row["build_s"] = timings["setup_s"] + timings["build_s"]
                if no_gpu:
                    row["note"] = "compiled only: no GPU here"
                else:
                    row["first_run_s"] = timings["run_s"]
                    row["binary_sim_s"] = timings.get("sim_s")
                    with task(f"{label}: running the binary again", enabled=progress):
                        t0 = time.perf_counter()
                        get_device().run(directory=build_dir, with_output=False)
                        row["warm_run_s"] = time.perf_counter() - t0
        rows.append(row)
    for r in rows:
        r["us_per_step"] = None if r["warm_run_s"] is None else 1e6 * r["warm_run_s"] / steps

    def cell(v, fmt):
        return "—" if v is None else format(v, fmt)

    print(f"{circuit.name}: {n_trials} trials x {circuit.schedule.trial_steps} steps = {steps} integration steps")
    print("| target | build (s) | first run (s) | warm run (s) | µs/step (warm) |\n|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['target']} | {cell(r['build_s'], '.2f')} | {cell(r['first_run_s'], '.3f')} | "
              f"{cell(r['warm_run_s'], '.3f')} | {cell(r['us_per_step'], '.1f')} |" + (f" {r['note']}" if r.get("note") else ""))
    print(BENCH_COLUMNS)
    if args.json:
        atomic_write_json(args.json, {"circuit": circuit.name, "n_trials": n_trials, "steps": steps, "rows": rows,
                                      "columns": BENCH_COLUMNS})
    return 0


def cmd_equations(args) -> int:
    """Each Brian2 object's equations as Brian2 holds them, with namespace values and the paper's references."""
    from .brian.blocks import schedule_flags
    from .brian.devices import activate
    from .brian.equations import format_equations
    from .circuit import get_circuit

    circuit = get_circuit(args.circuit, **_params_overrides(args.set))
    activate("numpy")  # runtime device: building the objects compiles nothing
    groups = circuit.equations()
    print(f"{circuit.name}: {type(circuit).description}")
    print(format_equations(groups, schedule_flags(circuit.schedule)))
    notes = circuit.equation_notes()
    if notes:
        print("\n" + notes)
    return 0


def _deploy_nir_brian(args) -> int:
    """`neuromorph deploy FILE.nir --inputs X.npy`: simulate a NIR graph of point neurons as a Brian2 model."""
    from .deploy.nirbrian import simulate_nir_file

    if not args.inputs:
        raise ConfigError("simulating a .nir file needs --inputs X.npy (one row of input rates in [0, 1] per trial)")
    rep = simulate_nir_file(args.run_dir, args.inputs, out=args.out, steps=args.steps, backend=args.backend)
    print(f"{rep['file']}: {rep['n_trials']} trial(s) x {rep['steps']} steps in Brian2 ({rep['backend']}); output "
          f"{rep['output']}: predictions {rep['predictions'][:20]}{' ...' if rep['n_trials'] > 20 else ''}; wrote {rep['written']}")
    return 0


def cmd_deploy(args) -> int:
    """Quantise, emulate, lint, price and export a trained run's spiking twin for a neuromorphic target."""
    try:
        import nir  # noqa: F401
    except ImportError:
        raise ConfigError("`neuromorph deploy` needs the deploy extra (nir, norse): pip install 'neuromorph[deploy]'") from None
    if str(args.run_dir).endswith(".nir"):
        return _deploy_nir_brian(args)
    if not args.target:
        raise ConfigError("`neuromorph deploy RUN_DIR` needs --target (loihi2 | loihi1 | spinnaker2 | xylo | generic)")
    from .deploy import deploy

    rep = deploy(args.run_dir, args.target, weight_bits=args.weight_bits, out=args.out, samples=args.samples,
                 t_samples=tuple(args.t_samples), bits_sweep=tuple(args.bits), backend=args.backend)
    print(f"{rep['circuit']} on {rep['target_title']}: accuracy float {rep['accuracy_float']:.3f}, quantised "
          f"({rep['weight_bits']}-bit) {rep['accuracy_quantized']:.3f}; {len(rep['violations'])} violation(s), "
          f"{rep['cores']} core(s); {rep['synops_per_inference']:,.0f} SynOps/inference")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="neuromorph", description="Brian2 + torch learning circuits: run, verify, compare")
    from . import __version__

    p.add_argument("--version", action="version", version=f"neuromorph {__version__}")
    sub = p.add_subparsers(dest="command", required=True)

    sub.add_parser("list", help="registered circuits").set_defaults(func=cmd_list)

    s = sub.add_parser("info", help="versions, Brian2 targets, nvcc and GPU status")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_info)

    s = sub.add_parser("run", help="run a TOML config into a results folder")
    s.add_argument("config")
    s.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override, e.g. train.epochs=3")
    s.add_argument("--out", help="results folder (default results/<name>)")
    s.add_argument("--resume", action="store_true", help="continue an unfinished run from its checkpoint")
    s.add_argument("--no-progress", action="store_true")
    s.set_defaults(func=cmd_run)

    s = sub.add_parser("sweep", help="one run per seed and grid point on an engine (local, submitit, ray); complete runs are skipped")
    s.add_argument("config")
    s.add_argument("--seeds", nargs="+", required=True, help="seeds: 0-9, 0,3,5 or 1 4 7")
    s.add_argument("--grid", action="append", default=[], metavar="KEY=V1,V2", help="a swept key, e.g. params.lr_xh=0.1,0.2 (repeatable)")
    s.add_argument("--engine", default="local", help="local (default) | submitit | ray")
    s.add_argument("--workers", type=int, default=None, help="local engine: parallel runs (default: cores // train.threads)")
    s.add_argument("--out-root", default="results")
    s.add_argument("--submitit-cluster", default="slurm", help="submitit engine: slurm (default) | local | debug")
    s.add_argument("--ray-address", default="auto", help="ray engine: address of an existing cluster")
    s.add_argument("--seed-batch", type=int, default=1, metavar="N",
                   help="train up to N seeds of one config stacked in one task (CorInfoMax; default 1: one seed per task)")
    s.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    s.set_defaults(func=cmd_sweep)

    s = sub.add_parser("summarize", help="final-epoch mean ± std over seeds per config, beside the paper; learning curves")
    s.add_argument("dirs", nargs="+", help="run folders or folders holding them (e.g. a sweep's --out-root)")
    s.add_argument("--metric", nargs="+", default=None,
                   help="metrics.jsonl keys to tabulate (default: test_acc, or test_r2 for reconstruction runs)")
    s.add_argument("--out", help="folder for summary.json/.md and the figure (default: the first DIR)")
    s.set_defaults(func=cmd_summarize)

    s = sub.add_parser("verify", help="Brian2 model == torch reference, per phase and update")
    s.add_argument("circuit")
    s.add_argument("--backend", default="numpy", help="numpy | cython | cpp | cuda")
    s.add_argument("--samples", type=int, default=None, help="trials (default: three update windows)")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--tolerance", type=float, default=1e-9)
    s.add_argument("--json", help="write the report here")
    s.add_argument("--compile-only", action="store_true", help="standalone targets: build, do not run")
    s.add_argument("--build-dir", help="standalone build directory (default: a temporary one)")
    s.add_argument("--set", action="append", default=[], metavar="params.KEY=VALUE")
    s.add_argument("--no-progress", action="store_true", help="no step-by-step progress on stderr")
    s.add_argument("--plot", metavar="DIR", help="write figures here: phase timeline (Brian2 over torch), errors per phase/update")
    s.set_defaults(func=cmd_verify)

    s = sub.add_parser("compare", help="rate model vs spiking twin: accuracy, state error, spike counts")
    s.add_argument("circuit", nargs="?", help="circuit name or spec (optional with --run)")
    s.add_argument("--run", metavar="RUN_DIR", help="a results folder: its trained weights and circuit parameters")
    s.add_argument("--weights", help=".npz of trained weights (default: the circuit's initial, untrained weights)")
    s.add_argument("--plot", metavar="DIR", help="write figures here: accuracy vs simulated time, spike raster")
    s.add_argument("--no-progress", action="store_true", help="no progress lines on stderr")
    s.add_argument("--dataset", help="test samples from this data set (default: the circuit's example data)")
    s.add_argument("--samples", type=int, default=100)
    s.add_argument("--t-samples", type=float, nargs="+", default=[0.05, 0.1, 0.2], help="simulated seconds per sample")
    s.add_argument("--encoding", default="poisson", help="poisson | regular | lif")
    s.add_argument("--backend", default="cpp")
    s.add_argument("--r-max", type=float, default=200.0, help="firing rate (Hz) of a unit at rate 1")
    s.add_argument("--tau-syn", type=float, default=0.02, help="synaptic filter time constant (s)")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--json")
    s.add_argument("--set", action="append", default=[], metavar="params.KEY=VALUE")
    s.set_defaults(func=cmd_compare)

    s = sub.add_parser("equations", help="each group's equations as Brian2 receives them, values and paper eq. numbers")
    s.add_argument("circuit")
    s.add_argument("--set", action="append", default=[], metavar="params.KEY=VALUE")
    s.set_defaults(func=cmd_equations)

    s = sub.add_parser("bench", help="build and run times of a circuit on Brian2 targets and torch, kept apart")
    s.add_argument("circuit")
    s.add_argument("--backends", nargs="+", default=["numpy", "cpp"])
    s.add_argument("--samples", type=int, default=None)
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--json")
    s.add_argument("--set", action="append", default=[], metavar="params.KEY=VALUE")
    s.add_argument("--no-progress", action="store_true", help="no step-by-step progress on stderr")
    s.set_defaults(func=cmd_bench)

    s = sub.add_parser("deploy", help="quantise, fixed-point emulate, lint, price and NIR-export a trained run's spiking twin")
    s.add_argument("run_dir", help="results folder of `neuromorph run`, or a .nir file to simulate in Brian2 (--inputs)")
    s.add_argument("--target", help="loihi2 | loihi1 | spinnaker2 | xylo | generic (required for a run folder)")
    s.add_argument("--inputs", help="with a .nir file: .npy of input rates in [0, 1], one row per trial (regular spikes)")
    s.add_argument("--steps", type=int, default=None, help="with a .nir file: steps per trial (default: its t_sample/dt)")
    s.add_argument("--weight-bits", type=int, default=None, help="override the target's weight bits")
    s.add_argument("--out", help="output folder (default RUN_DIR/deploy-TARGET)")
    s.add_argument("--samples", type=int, default=100, help="test samples")
    s.add_argument("--t-samples", type=float, nargs="+", default=[0.02, 0.05, 0.1, 0.2], help="simulated seconds per sample (one run at the longest)")
    s.add_argument("--bits", type=int, nargs="+", default=[8, 6, 4, 3, 2], help="weight bits of the accuracy curve")
    s.add_argument("--backend", default="cpp", help="cpp (one compilation) | numpy")
    s.set_defaults(func=cmd_deploy)
    return p


def main(argv=None) -> int:
    _quiet_warnings()
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except NeuromorphError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return _interrupted(args)
    except RuntimeError as exc:
        if interrupted_build(exc):  # Ctrl-C while Brian2's make ran: not a compiler failure
            return _interrupted(args)
        raise


def _interrupted(args) -> int:
    if args.command == "run":
        print("interrupted — rerun the same command with --resume to continue", file=sys.stderr)
    elif args.command == "sweep":
        print("interrupted — rerun the same command to continue (complete runs are skipped, the others resume)", file=sys.stderr)
    else:
        print("interrupted", file=sys.stderr)
    return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
