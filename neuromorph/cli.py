"""The ``neuromorph`` command: list | info | run | sweep | verify | compare | equations | bench.

Errors neuromorph raises on purpose (bad config, unknown circuit, missing data or compiler, shape mismatch)
print one line, ``error: ...``, and exit with status 2; a failed equivalence check exits with status 1.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings

from .errors import ConfigError, NeuromorphError

__all__ = ["main"]


def _quiet_warnings():
    # setuptools' distutils shim warns on every Brian2 import; it says nothing to a neuromorph user.
    warnings.filterwarnings("ignore", message=".*_get_vc_env is private.*")
    warnings.filterwarnings("ignore", category=DeprecationWarning)


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
    from .sweep import expand_seeds, run_sweep

    config = load_config(args.config, args.set)
    configs = expand_seeds(config, args.seeds)
    for path in run_sweep(configs, args.out_root, engine=args.engine, workers=args.workers):
        print(path)
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

    circuit = _verification_circuit(args.circuit, args.set)
    report = verify(
        circuit,
        args.backend,
        n_trials=args.samples,
        seed=args.seed,
        tolerance=args.tolerance,
        compile_only=args.compile_only,
        build_dir=args.build_dir,
    )
    print(report.table())
    if args.json:
        report.write_json(args.json)
        print(f"wrote {args.json}")
    return 0 if report.passed else 1


def cmd_compare(args) -> int:
    import numpy as np

    from .circuit import get_circuit
    from .compare import compare_rate_spiking
    from .config import parse_overrides
    from .data import load_dataset

    params = parse_overrides(args.set).get("params", {})
    circuit = get_circuit(args.circuit, **params)
    if args.weights:
        with np.load(args.weights) as f:
            weights = {k: f[k] for k in f.files}
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
        report.write_json(args.json)
        print(f"wrote {args.json}")
    return 0


def cmd_bench(args) -> int:
    """Seconds per integration step of a circuit's Brian2 model on each target, and of its torch reference."""
    import torch

    from .brian.devices import activate
    from .brian.model import run_model
    from .io import atomic_write_json

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
        _, timings = run_model(model)
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

    s = sub.add_parser("sweep", help="one run per seed, in parallel (process pool or Ray); complete runs are skipped")
    s.add_argument("config")
    s.add_argument("--seeds", type=int, nargs="+", required=True)
    s.add_argument("--engine", default="process", help="serial | process | ray")
    s.add_argument("--workers", type=int, default=2)
    s.add_argument("--out-root", default="results")
    s.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    s.set_defaults(func=cmd_sweep)

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
    return p


def main(argv=None) -> int:
    _quiet_warnings()
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except NeuromorphError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
