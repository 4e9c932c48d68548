"""Brian2 cpp_standalone speed of every circuit: ns per synapse per integration step, one table.

    python benchmarks/brian_speed.py --out DIR [--quick] [--width 400] [--cases corinfomax smpc ...]
    python benchmarks/brian_speed.py --out DIR --baseline GIT_REF      # before / after, side by side

Each case is one registered circuit at hidden width ``--width`` (>= 400 for the figures the README quotes;
see CASES), built and compiled once on cpp_standalone at -O3 (unless NEUROMORPH_OPT_LEVEL says otherwise) and
run ``--repeats`` times over enough trials that one run sweeps ``--work`` synapse-steps (many plasticity
updates inside one compiled run). The harness is :func:`neuromorph.brian.speed.time_standalone`: no monitors,
the binary's own simulation-loop time (``sim_s``), best of the repeats.

``--baseline REF`` measures the circuits and toolkit of git revision REF (an export of ``circuits/`` and
``neuromorph/`` in a temporary folder) in the same session, alternating before/after case by case so both see the
same machine load, and checks that both versions end with the same weights (max relative difference).

Every case runs in its own Python process (a fresh Brian2 device and import of the measured code). The cases of
one version share a build folder: Brian2 rewrites only the files whose text changed, so make recompiles the
circuit's code objects and not Brian2's library each time (the build is most of this script's time). Writes
``DIR/brian_speed.json`` and ``DIR/brian_speed.md`` atomically.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# name -> (registered circuit, overrides at width w). Sizes: MNIST-like input of 784 where the circuit has a
# feedforward input, hidden layers of width w; SMPC has no hidden layer: N = K = n_y = w.
CASES = {
    "corinfomax": ("corinfomax", lambda w: {"sizes": (784, w, 10)}),
    "corinfomax-sparse": ("corinfomax-sparse", lambda w: {"sizes": (784, w, 10)}),
    "phsic-plain": ("phsic", lambda w: _phsic(w, "plain")),
    "phsic-divnorm": ("phsic", lambda w: _phsic(w, "divnorm")),
    "smpc": ("smpc", lambda w: {"n_in": w, "n_latent": w, "n_y": w, "batch": 20}),
    "urfb": ("urfb", lambda w: {"sizes": (784, w, w, 10), "batch": 1, "feedback_after_update": True, "M": 100.0, "K": 100.0}),
    "twocomp": ("twocomp", lambda w: {"n_in": 784, "n_hidden": w, "n_inh": max(1, w // 10), "n_out": 10}),
}


def _phsic(w: int, mode: str) -> dict:
    """The pHSIC streaming circuit as experiments/phsic/bench_phsic_brian.py times it (Gaussian kernel; the values
    do not change the cost); divnorm: the largest group count <= 32 that divides w."""
    groups = max(g for g in range(1, 33) if w % g == 0)
    return {"sizes": (784, w, 10), "mode": mode, "kernel": "gaussian", "sigma": 5.0, "gamma": 2.0, "n_groups": groups,
            "lr_local": 0.5, "pairs_per_update": 10}


def _error(msg: str) -> int:
    print(f"error: {msg}", file=sys.stderr)
    return 2


# ---- one case, in its own process ----------------------------------------------------------------------------------
def worker(case: str, width: int, work: float, repeats: int, out: Path, build_dir: Path, profile: bool = False) -> None:
    """Time one case with whatever ``circuits``/``neuromorph`` come first on sys.path; JSON + final weights."""
    import numpy as np

    from neuromorph import get_circuit
    from neuromorph.brian import activate
    from neuromorph.brian.speed import profile_standalone, synapse_count, time_standalone

    name, overrides = CASES[case]
    circuit = get_circuit(name, **overrides(width))
    weights = circuit.initial_weights(0)
    n_syn = synapse_count(weights)
    sch = circuit.schedule
    per_trial = n_syn * sch.trial_steps
    B = sch.trials_per_update
    n_trials = max(B, B * math.ceil(work / (per_trial * B)))  # whole windows: every run ends on an update
    data = circuit.example_data(n_trials, 0)
    activate("cpp")
    model = circuit.build_brian(weights, data)
    if profile:
        out.write_text(json.dumps({"case": case, "synapses": n_syn, "steps": model.n_steps,
                                   "profile": profile_standalone(model, build_dir)}))
        return
    r = time_standalone(model, n_syn, repeats=repeats, build_dir=build_dir)
    np.savez(out.with_suffix(".npz"), **r.pop("final_weights"))
    r.update(case=case, circuit=name, width=width, trials=n_trials, trial_steps=sch.trial_steps, updates=n_trials // B,
             shapes={k: list(np.shape(v)) for k, v in weights.items() if np.ndim(v) == 2})
    out.write_text(json.dumps(r))


def _export(ref: str, dest: Path) -> None:
    """``circuits/`` and ``neuromorph/`` of git revision ``ref`` under ``dest``."""
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", ref, "circuits", "neuromorph"], capture_output=True)
    if archive.returncode:
        raise SystemExit(_error(f"cannot export {ref!r} from {ROOT}: {archive.stderr.decode().strip()}; give a commit or branch"))
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive.stdout, check=True)
    # the same timing harness for both versions (REF may predate it)
    shutil.copy2(ROOT / "neuromorph" / "brian" / "speed.py", dest / "neuromorph" / "brian" / "speed.py")


def _run_case(case, width, work, repeats, code_root: Path, tmp: Path, tag: str, profile: bool = False) -> dict:
    out = tmp / f"{case}-{tag}.json"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(code_root), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)}
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", case, "--width", str(width), "--work", str(work),
           "--repeats", str(repeats), "--out", str(out), "--build-dir", str(tmp / f"build-{tag}")] + (["--profile"] if profile else [])
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=env, cwd=str(tmp), capture_output=True, text=True)
    if proc.returncode:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-5:]
        raise SystemExit(_error(f"{case} ({tag}) failed: {' | '.join(tail)}"))
    row = json.loads(out.read_text())
    row["total_s"] = time.perf_counter() - t0
    return row


def _max_rel(a_npz: Path, b_npz: Path) -> float:
    import numpy as np

    a, b = np.load(a_npz), np.load(b_npz)
    if set(a.files) != set(b.files):
        return float("nan")
    worst = 0.0
    for k in a.files:
        scale = max(float(np.abs(a[k]).max()), 1e-300)
        worst = max(worst, float(np.abs(a[k] - b[k]).max()) / scale)
    return worst


def render(result: dict) -> str:
    rows, base = result["rows"], result.get("baseline")
    lines = [f"Brian2 cpp_standalone, {result['opt']}; {result['machine']['platform']}, {result['machine']['cpus']} CPUs, "
             f"load (1 min) {result['machine']['load_before']:.1f} at the start. Command: `{result['command']}`", ""]
    if base:
        lines += [f"before = {base}, after = the working tree; alternated case by case in one session.", "",
                  "| case | sizes | synapses | steps | updates | before ns/syn/step | after ns/syn/step | before/after "
                  "| after CPU ns | weights before vs after (max rel.) |",
                  "|---|---|---|---|---|---|---|---|---|---|"]
    else:
        lines += ["| case | sizes | synapses | steps | updates | ns / synapse / step | CPU ns / synapse / step | build s |",
                  "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        sizes = " ".join(f"{k} {a}x{b}" for k, (a, b) in r["shapes"].items())
        head = f"| {r['case']} | {sizes} | {r['synapses']:,} | {r['steps']:,} | {r['updates']} |"
        if base:
            b = r["before"]
            lines.append(f"{head} {b['ns_per_synapse_step']:.2f} | {r['ns_per_synapse_step']:.2f} | "
                         f"{b['ns_per_synapse_step'] / r['ns_per_synapse_step']:.2f}x | {r['cpu_ns_per_synapse_step']:.2f} | "
                         f"{r['weights_max_rel_diff']:.1e} |")
        else:
            lines.append(f"{head} {r['ns_per_synapse_step']:.2f} | {r['cpu_ns_per_synapse_step']:.2f} | {r['build_s']:.0f} |")
    lines += ["", "ns / synapse / step: best simulation-loop time of the binary over the repeats / (synapses x steps); "
              "synapses = entries of every weight matrix; CPU: the binary's user + system time (close to a quiet "
              "machine's wall time on a loaded one)."]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True, help="folder for brian_speed.json and brian_speed.md")
    ap.add_argument("--cases", nargs="+", default=list(CASES), help=f"subset of {list(CASES)}")
    ap.add_argument("--width", type=int, default=400, help="hidden width (N = K = width for SMPC)")
    ap.add_argument("--work", type=float, default=None, help="synapse-steps per run (default 1e9; 2e8 with --quick)")
    ap.add_argument("--repeats", type=int, default=None, help="runs of each binary (default 3; 2 with --quick)")
    ap.add_argument("--quick", action="store_true", help="shorter runs (a check, not the figures)")
    ap.add_argument("--baseline", metavar="GIT_REF", help="also time this revision's circuits, alternating case by case")
    ap.add_argument("--profile", action="store_true",
                    help="instead of timing: seconds per code object of one run (Brian2 profile=True), where the time goes")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--build-dir", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    work = args.work or (2e8 if args.quick else 1e9)
    repeats = args.repeats or (2 if args.quick else 3)
    if args.worker:
        warnings.filterwarnings("ignore")
        worker(args.worker, args.width, work, repeats, Path(args.out), Path(args.build_dir), args.profile)
        return 0
    bad = [c for c in args.cases if c not in CASES]
    if bad:
        return _error(f"unknown case(s) {bad}; choose from {list(CASES)}")
    if args.width < 1 or work <= 0 or repeats < 1:
        return _error("--width, --work and --repeats must be positive")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    from neuromorph.io import atomic_write_json, atomic_write_text
    from neuromorph.runner import package_versions

    load = os.getloadavg()[0]
    rows = []
    with tempfile.TemporaryDirectory(prefix="brian-speed-") as tmpdir:
        tmp = Path(tmpdir)
        old = None
        if args.baseline:
            old = tmp / "baseline"
            old.mkdir()
            _export(args.baseline, old)
        if args.profile:
            report = {}
            for case in args.cases:
                for tag, root in (("before", old), ("after", ROOT)):
                    if root is None:
                        continue
                    r = _run_case(case, args.width, work, 1, root, tmp, tag, profile=True)
                    report[f"{case}-{tag}"] = r
                    total = sum(t for _, t in r["profile"]) or 1.0
                    print(f"{case} ({tag}): {r['synapses']:,} synapses x {r['steps']:,} steps, "
                          f"{1e9 * total / (r['synapses'] * r['steps']):.2f} ns/synapse/step in code objects", flush=True)
                    for name, t in r["profile"][:10]:
                        print(f"    {name:<55} {t:8.3f} s  {100 * t / total:5.1f} %  "
                              f"{1e9 * t / (r['synapses'] * r['steps']):6.2f} ns/syn/step", flush=True)
            atomic_write_json(out / "brian_profile.json", report)
            return 0
        for case in args.cases:
            if old is not None:
                before = _run_case(case, args.width, work, repeats, old, tmp, "before")
                print(f"{case} before: {before['ns_per_synapse_step']:.2f} ns/synapse/step", flush=True)
            row = _run_case(case, args.width, work, repeats, ROOT, tmp, "after")
            if old is not None:
                row["before"] = before
                row["weights_max_rel_diff"] = _max_rel(tmp / f"{case}-before.npz", tmp / f"{case}-after.npz")
            print(f"{case}: {row['synapses']:,} synapses x {row['steps']:,} steps: {row['ns_per_synapse_step']:.2f} "
                  f"ns/synapse/step (CPU {row['cpu_ns_per_synapse_step']:.2f}; build {row['build_s']:.0f} s)", flush=True)
            rows.append(row)
    opt = os.environ.get("NEUROMORPH_OPT_LEVEL")
    result = {
        "command": " ".join(["python", "benchmarks/brian_speed.py", *(argv if argv is not None else sys.argv[1:])]),
        "opt": f"-O{opt}" if opt else "-O3 (Brian2's default flags)",
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "load_before": load,
                    "load_after": os.getloadavg()[0]},
        "versions": package_versions(),
        "baseline": args.baseline,
        "width": args.width, "work": work, "repeats": repeats,
        "rows": rows,
    }
    atomic_write_json(out / "brian_speed.json", result)
    table = render(result)
    atomic_write_text(out / "brian_speed.md", table)
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
