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

from .errors import ConfigError, CorruptFileError, NeuromorphError, interrupted_build

__all__ = ["main"]


def _quiet_warnings():
    # setuptools' distutils shim warns on every Brian2 import; it says nothing to a neuromorph user.
    warnings.filterwarnings("ignore", message=".*_get_vc_env is private.*")
    warnings.filterwarnings("ignore", category=DeprecationWarning)


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
    from .circuit import circuit_names, get_circuit

    for name in circuit_names():
        try:
            desc = type(get_circuit(name)).description
        except NeuromorphError as exc:
            desc = f"(cannot instantiate: {exc})"
        print(f"{name:20s} {desc}")
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
        address=args.ray_address, on_result=line,
    )
    print(describe(results))
    return 1 if any(r.status == "failed" for r in results) else 0


def cmd_summarize(args) -> int:
    from pathlib import Path

    from .summarize import summarize, table, write_summary

    groups = summarize(args.dirs)
    metrics = tuple(args.metric)
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
        )
    if not args.build_dir:
        report.timings.pop("build_dir", None)  # removed: do not point at it
    print(report.table())
    if args.json:
        from .io import atomic_write_json

        atomic_write_json(args.json, report.to_dict())  # strict JSON: a NaN error is written "NaN", not NaN
        print(f"wrote {args.json}")
    return 0 if report.passed else 1


def cmd_compare(args) -> int:
    import numpy as np

    from .circuit import get_circuit
    from .compare import compare_rate_spiking
    from .config import parse_overrides
    from .data import load_dataset

    _positive(args.samples, "--samples", allow_none=False)
    _positive_floats(args.t_samples, "--t-samples")
    _positive_floats(args.r_max, "--r-max")
    _positive_floats(args.tau_syn, "--tau-syn")
    _seed(args.seed)
    _check_backend(args.backend, run=True)
    params = parse_overrides(args.set).get("params", {})
    circuit = get_circuit(args.circuit, **params)
    if args.weights:
        weights = _load_weights(args.weights)
        circuit.check_weights(weights)
    else:
        weights = circuit.initial_weights(args.seed)
    if args.dataset:
        data = load_dataset(args.dataset, n_test=args.samples, seed=args.seed)
        x, y = data.x_test, data.y_test
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
    )
    print(report.table())
    if args.json:
        from .io import atomic_write_json

        atomic_write_json(args.json, report.to_dict())  # strict JSON: a NaN error is written "NaN", not NaN
        print(f"wrote {args.json}")
    return 0


def _load_weights(path) -> dict:
    """An .npz of weight matrices (arrays only: never unpickled); a missing or damaged file is one clear error."""
    import zipfile
    from pathlib import Path

    import numpy as np

    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"--weights {path}: no such file; give the .npz of trained weights (e.g. a run's weights.npz)")
    try:
        with np.load(p, allow_pickle=False) as f:
            if not hasattr(f, "files"):
                raise ValueError("a single .npy array, not an .npz of named matrices")
            return {k: f[k] for k in f.files}
    except (zipfile.BadZipFile, EOFError, OSError, ValueError, KeyError) as exc:
        raise CorruptFileError(f"--weights {path} is empty, truncated or not an .npz of weight matrices ({exc})") from exc


def cmd_bench(args) -> int:
    """Seconds per integration step of a circuit's Brian2 model on each target, and of its torch reference."""
    import torch

    from .brian.devices import activate
    from .brian.model import run_model
    from .io import atomic_write_json

    _positive(args.samples, "--samples")
    _seed(args.seed)
    for backend in args.backends:
        _check_backend(backend, run=True)
    circuit = _verification_circuit(args.circuit, args.set)
    weights = circuit.initial_weights(args.seed)
    n_trials = args.samples or 4 * circuit.schedule.trials_per_update
    data = circuit.example_data(n_trials, args.seed)
    steps = n_trials * circuit.schedule.trial_steps
    rows = []
    t0 = time.perf_counter()
    circuit.simulate_reference(weights, data, dtype=torch.float64)
    rows.append({"target": "torch-float64", "seconds": time.perf_counter() - t0, "us_per_step": 1e6 * (time.perf_counter() - t0) / steps})
    for backend in args.backends:
        activate(backend)
        model = circuit.build_brian(weights, data)
        model.record_states = False
        t0 = time.perf_counter()
        with _BuildDir(None) as build_dir:
            _, timings = run_model(model, build_dir=build_dir)
        timings.pop("build_dir", None)
        total = time.perf_counter() - t0
        rows.append({"target": backend, "seconds": total, "us_per_step": 1e6 * total / steps, **timings})
    print(f"{circuit.name}: {n_trials} trials x {circuit.schedule.trial_steps} steps (build time included for compiled targets)")
    print("| target | seconds | µs per step |\n|---|---|---|")
    for r in rows:
        print(f"| {r['target']} | {r['seconds']:.2f} | {r['us_per_step']:.1f} |")
    if args.json:
        atomic_write_json(args.json, {"circuit": circuit.name, "n_trials": n_trials, "steps": steps, "rows": rows})
    return 0


def cmd_equations(args) -> int:
    """Each Brian2 object's equations as Brian2 holds them, with namespace values and the paper's references."""
    from .brian.blocks import flag_names
    from .brian.devices import activate
    from .brian.equations import format_equations
    from .circuit import get_circuit

    circuit = get_circuit(args.circuit, **_params_overrides(args.set))
    activate("numpy")  # runtime device: building the objects compiles nothing
    groups = circuit.equations()
    print(f"{circuit.name}: {type(circuit).description}")
    print(format_equations(groups, flag_names(circuit.schedule)))
    return 0


def cmd_deploy(args) -> int:
    """Quantise, emulate, lint, price and export a trained run's spiking twin for a neuromorphic target."""
    try:
        import nir  # noqa: F401
    except ImportError:
        raise ConfigError("`neuromorph deploy` needs the deploy extra (nir, norse): pip install 'neuromorph[deploy]'") from None
    from .deploy import deploy

    rep = deploy(args.run_dir, args.target, weight_bits=args.weight_bits, out=args.out, samples=args.samples,
                 t_samples=tuple(args.t_samples), bits_sweep=tuple(args.bits), backend=args.backend)
    print(f"{rep['circuit']} on {rep['target_title']}: accuracy float {rep['accuracy_float']:.3f}, quantised "
          f"({rep['weight_bits']}-bit) {rep['accuracy_quantized']:.3f}; {len(rep['violations'])} violation(s), "
          f"{rep['cores']} core(s); {rep['synops_per_inference']:,.0f} SynOps/inference")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="neuromorph", description="Brian2 + torch learning circuits: run, verify, compare")
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
    s.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    s.set_defaults(func=cmd_sweep)

    s = sub.add_parser("summarize", help="final-epoch mean ± std over seeds per config, beside the paper; learning curves")
    s.add_argument("dirs", nargs="+", help="run folders or folders holding them (e.g. a sweep's --out-root)")
    s.add_argument("--metric", nargs="+", default=["test_acc"], help="metrics.jsonl keys to tabulate (default test_acc)")
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
    s.set_defaults(func=cmd_verify)

    s = sub.add_parser("compare", help="rate model vs spiking twin: accuracy, state error, spike counts")
    s.add_argument("circuit")
    s.add_argument("--weights", help=".npz of trained weights (default: the circuit's initial weights)")
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

    s = sub.add_parser("bench", help="seconds per step of a circuit on Brian2 targets and torch")
    s.add_argument("circuit")
    s.add_argument("--backends", nargs="+", default=["numpy", "cpp"])
    s.add_argument("--samples", type=int, default=None)
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--json")
    s.add_argument("--set", action="append", default=[], metavar="params.KEY=VALUE")
    s.set_defaults(func=cmd_bench)

    s = sub.add_parser("deploy", help="quantise, fixed-point emulate, lint, price and NIR-export a trained run's spiking twin")
    s.add_argument("run_dir", help="results folder of `neuromorph run`")
    s.add_argument("--target", required=True, help="loihi2 | loihi1 | spinnaker2 | xylo | generic")
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
