"""Brian2 cpp_standalone cost of the *streaming* pHSIC circuit: seconds per update, ns per synapse per step.

    python experiments/phsic/bench_phsic_brian.py [--widths 64 128 256 512 1024] [--modes plain divnorm] \
        [--pairs-per-update 10] [--updates 20] [--repeats 2] [--torch-updates 2] \
        [--out experiments/phsic/results/bench_phsic_brian]
    python experiments/phsic/bench_phsic_brian.py --render experiments/phsic/results/bench_phsic_brian.json

For every mode and hidden width w the circuit [784, w, 10] (``--hidden-layers`` hidden layers of width w) is
built and compiled once (:class:`StandaloneSession`; build = code generation + compilation, timed apart),
then *one* run of the binary streams ``--updates`` x ``--pairs-per-update`` Fashion-MNIST pairs (consecutive
training samples, :meth:`PHSIC.trial_data`) through sample_a / sample_b / update: every weight update happens
inside that one compiled run, none needs a rebuild. State monitors and weight monitors are left out (the
circuit is timed, not the recording); the final weights are read back from the synapses and compared with the
vectorised torch twin (``circuits.phsic.streaming``), so every timed run is also checked.

Timed per run (best of ``--repeats``; all repeats are stored):

* ``sim_s``: the binary's own simulation loop (Brian2's ``last_run_info.txt``), what the per-update and
  per-synapse figures use;
* ``wall_s``: ``device.run`` as seen from Python (process start, reading inputs, writing results on top);
* ``cpu_s``: user + system CPU seconds of the child process (``getrusage(RUSAGE_CHILDREN)``); on a shared
  machine ``cpu_s`` < ``wall_s`` means the binary waited for a core;
* load average (1 min) before and after.

ns / synapse / step = sim_s / (synapses x steps), synapses = the weight synapses W^1..W^L and the readout
(N_0 w + (L-1) w² + w C; the O(w) relay synapses to the interneurons and third-factor units are not counted),
steps = trials x steps per trial (3 plain; 2(L+1) + 2 divnorm). Builds of one mode reuse one build directory,
so the first width's build is a cold compile and the later ones recompile only the files that changed
(``build_incremental`` in the JSON).

Torch, same sizes, float64, ``--threads`` threads: ``simulate_reference`` (the step-by-step twin that the
Brian2 model is verified against) on ``--torch-updates`` updates, and the vectorised ``StreamingPHSIC`` on all
``--updates`` updates.

Writes ``<out>.json`` and ``<out>.md`` atomically (neuromorph.io).
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import sys
import tempfile
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from circuits.phsic import PHSIC, PHSICCircuitParams  # noqa: E402
from circuits.phsic.streaming import StreamingPHSIC  # noqa: E402

warnings.filterwarnings("ignore")


def _child_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def make_circuit(mode: str, width: int, hidden_layers: int, pairs_per_update: int, n_in: int = 784,
                 n_classes: int = 10, n_groups: int = 32) -> PHSIC:
    """The benchmarked instance: Gaussian kernel, σ 5, γ 2, paper-like values (they do not change the cost)."""
    sizes = (n_in, *([width] * hidden_layers), n_classes)
    return PHSIC(PHSICCircuitParams(sizes=sizes, mode=mode, kernel="gaussian", sigma=5.0, gamma=2.0,
                                    n_groups=n_groups, lr_local=0.5, pairs_per_update=pairs_per_update))


def strip_monitors(model) -> dict:
    """Record nothing during the run; return {name: (synapses, shape)} to read the final weights from."""
    syns = {name: (syn, shape) for name, (syn, shape, _var) in model.weight_probes.items()}
    model.record_states = False
    model.weight_probes = {}
    return syns


def final_weights(syns: dict) -> dict[str, np.ndarray]:
    """The plastic matrices at the end of the run, (n_pre, n_post), from the synapses (pre-major order)."""
    return {name: np.asarray(syn.w_[:], dtype=float).reshape(shape) for name, (syn, shape) in syns.items()}


def run_runtime(circuit: PHSIC, weights: dict, data: dict, target: str = "numpy") -> dict[str, np.ndarray]:
    """The benchmark's run on a runtime target (numpy/cython): one ``run`` over all trials, no monitors,
    final weights read from the synapses. Used by the tests to check the benchmark's procedure quickly."""
    from brian2 import Network, second

    from neuromorph.brian import activate

    activate(target)
    model = circuit.build_brian(weights, data)
    syns = strip_monitors(model)
    Network(*model.objects).run(model.n_steps * model.dt * second, namespace=model.namespace)
    return final_weights(syns)


def synapse_count(sizes) -> int:
    return int(sum(a * b for a, b in zip(sizes[:-1], sizes[1:])))


def bench_brian(circuit: PHSIC, weights: dict, data: dict, build_dir: Path, repeats: int) -> dict:
    from brian2 import get_device

    from neuromorph.brian import StandaloneSession, activate

    incremental = (build_dir / "main").exists()
    activate("cpp")
    model = circuit.build_brian(weights, data)
    syns = strip_monitors(model)
    c0, t0 = _child_cpu(), time.perf_counter()
    session = StandaloneSession(model, build_dir)
    build = {"build_s": time.perf_counter() - t0, "compile_s": session.build_s, "build_cpu_s": _child_cpu() - c0,
             "build_incremental": incremental}
    runs = []
    for _ in range(repeats):
        load = os.getloadavg()[0]
        c1, t1 = _child_cpu(), time.perf_counter()
        session.run()
        wall = time.perf_counter() - t1
        runs.append({"wall_s": wall, "cpu_s": _child_cpu() - c1, "sim_s": float(get_device()._last_run_time),
                     "load1_before": load, "load1_after": os.getloadavg()[0]})
    return {**build, "runs": runs, "weights": final_weights(syns), "n_steps": model.n_steps}


def bench_torch(circuit: PHSIC, weights: dict, data: dict, n_ref_updates: int) -> dict:
    P = circuit.params.pairs_per_update
    n_ref = n_ref_updates * P
    ref = {k: v[:n_ref] for k, v in data.items()}
    # warm-up (first-call costs of torch kernels and allocations are not part of the per-update cost)
    circuit.simulate_reference(weights, {k: v[:1] for k, v in data.items()}, dtype=torch.float64)
    StreamingPHSIC(circuit, weights, dtype=torch.float64).process(*(data[k][:P] for k in ("x_a", "x_b", "y_a", "y_b")))
    c0, t0 = time.process_time(), time.perf_counter()
    circuit.simulate_reference(weights, ref, dtype=torch.float64)
    ref_wall, ref_cpu = time.perf_counter() - t0, time.process_time() - c0
    twin = StreamingPHSIC(circuit, weights, dtype=torch.float64)
    c1, t1 = time.process_time(), time.perf_counter()
    twin.process(data["x_a"], data["x_b"], data["y_a"], data["y_b"])
    fast_wall, fast_cpu = time.perf_counter() - t1, time.process_time() - c1
    return {"reference_updates": n_ref_updates, "reference_s_per_update": ref_wall / n_ref_updates,
            "reference_cpu_s_per_update": ref_cpu / n_ref_updates,
            "vectorised_updates": twin.n_updates, "vectorised_s_per_update": fast_wall / twin.n_updates,
            "vectorised_cpu_s_per_update": fast_cpu / twin.n_updates, "weights": twin.weights()}


def markdown(result: dict) -> str:
    """The table of ``result`` (also re-rendered from a stored JSON with ``--render``)."""
    lines = ["# pHSIC streaming circuit on Brian2 cpp_standalone\n", result["setup"] + ".", "",
             "| mode | sizes | synapses | steps | build s | Brian2 ms/update (sim) | wall | child CPU | ns/syn/step | "
             "torch reference ms/update | torch vectorised ms/update | Brian2 vs torch (vs change) | load |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in result["rows"]:
        best = min(r["brian_runs"], key=lambda q: q["sim_s"])
        lines.append(
            f"| {r['mode']} | {r['sizes']} | {r['synapses']:,} | {r['steps']} | {r['build_s']:.0f}"
            f"{'' if r['build_incremental'] else ' (cold)'} | {1e3 * r['brian_s_per_update']:.1f} | "
            f"{1e3 * r['brian_wall_s_per_update']:.1f} | {1e3 * best['cpu_s'] / r['updates']:.1f} | "
            f"{r['ns_per_synapse_step']:.2f} | "
            f"{1e3 * r['torch_reference_s_per_update']:.0f} | {1e3 * r['torch_vectorised_s_per_update']:.2f} | "
            f"{r['brian_vs_torch_max_rel_error']:.1e} ({r.get('brian_vs_torch_error_over_change', float('nan')):.1e}) | "
            f"{best['load1_before']:.1f} |")
    lines += ["", "ms/update: per update of the pairs shown in the setup; sim = the binary's simulation loop, wall = "
              "device.run from Python (adds process start, file I/O and Brian2's post-run NaN check, which reads every "
              "state array back into Python), child CPU = the binary's user + system CPU (whole process, per update; "
              "≈ sim means the loop was not starved of a core). Brian2 vs torch: max |W_brian − W_torch| of the final "
              "weights over max |W_torch| (in brackets: over max |W_torch − W_0|, how far the updates moved them). "
              "Build: code generation + compilation (cold: empty build directory; else only changed files).", "",
              f"Command: `{result['command']}`. {result['note']}", ""]
    return "\n".join(lines)


def write_outputs(out: Path, result: dict) -> None:
    from neuromorph.io import atomic_write_json, atomic_write_text

    atomic_write_json(out.with_suffix(".json"), result)
    text = markdown(result)
    atomic_write_text(out.with_suffix(".md"), text)
    print(text)


def main(argv=None) -> int:
    from neuromorph.data import load_dataset
    from neuromorph.runner import git_commit, package_versions

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--widths", type=int, nargs="+", default=[64, 128, 256, 512, 1024])
    ap.add_argument("--modes", nargs="+", default=["plain", "divnorm"], choices=["plain", "divnorm"])
    ap.add_argument("--hidden-layers", type=int, default=1)
    ap.add_argument("--pairs-per-update", type=int, default=10)
    ap.add_argument("--updates", type=int, default=20)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--torch-updates", type=int, default=2, help="updates timed with simulate_reference")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (the cpp binary is single-threaded)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--data", choices=["fashion_mnist", "uniform"], default="fashion_mnist",
                    help="inputs: Fashion-MNIST training samples, or seeded uniform [-1, 1] samples with "
                         "temporally correlated labels (PHSIC.example_data; the cost does not depend on the data)")
    ap.add_argument("--build-root", default=None, help="where the build directories go (default: a temporary one)")
    ap.add_argument("--out", default=str(ROOT / "experiments/phsic/results/bench_phsic_brian"))
    ap.add_argument("--render", metavar="JSON", help="only rewrite <out>.md from a stored result JSON")
    args = ap.parse_args(argv)
    if args.render:
        import json

        atomic_md = markdown(json.loads(Path(args.render).read_text()))
        from neuromorph.io import atomic_write_text

        atomic_write_text(Path(args.out).with_suffix(".md"), atomic_md)
        print(atomic_md)
        return 0
    torch.set_num_threads(args.threads)

    n_trials = args.updates * args.pairs_per_update
    if args.data == "fashion_mnist":
        data_set = load_dataset("fashion_mnist", scale="symmetric")
        rng = np.random.default_rng(args.seed)
        idx = rng.choice(len(data_set.y_train), n_trials, replace=False)
        x, labels = data_set.x_train[idx].astype(float), data_set.y_train[idx]
    else:  # the samples b of the small instance's seeded stream, at the benchmarked input size
        x, labels = make_circuit("plain", 8, 1, args.pairs_per_update).example_inputs(n_trials, args.seed)

    tmp = tempfile.TemporaryDirectory(prefix="phsic-bench-") if args.build_root is None else None
    build_root = Path(args.build_root or tmp.name)
    rows = []
    t_start = time.perf_counter()
    load_start = os.getloadavg()
    try:
        for mode in args.modes:
            build_dir = build_root / mode
            build_dir.mkdir(parents=True, exist_ok=True)
            for w in args.widths:
                circuit = make_circuit(mode, w, args.hidden_layers, args.pairs_per_update)
                sizes = circuit.params.sizes
                weights = circuit.initial_weights(args.seed)
                data = circuit.trial_data(x, labels)
                b = bench_brian(circuit, weights, data, build_dir, args.repeats)
                t = bench_torch(circuit, weights, data, args.torch_updates)
                err = max(float(np.abs(b["weights"][k] - t["weights"][k]).max() / np.abs(t["weights"][k]).max())
                          for k in circuit.plastic_names())
                moved = max(float(np.abs(t["weights"][k] - weights[k]).max()) for k in circuit.plastic_names())
                # the same difference against how far the weights moved: the check that the updates agree
                err_change = max(float(np.abs(b["weights"][k] - t["weights"][k]).max()) for k in circuit.plastic_names()) / moved
                best = min(b["runs"], key=lambda r: r["sim_s"])
                n_syn = synapse_count(sizes)
                row = {"mode": mode, "sizes": list(sizes), "synapses": n_syn, "pairs_per_update": args.pairs_per_update,
                       "updates": args.updates, "steps_per_trial": circuit.schedule.trial_steps, "steps": b["n_steps"],
                       "build_s": b["build_s"], "compile_s": b["compile_s"], "build_cpu_s": b["build_cpu_s"],
                       "build_incremental": b["build_incremental"], "brian_runs": b["runs"],
                       "brian_s_per_update": best["sim_s"] / args.updates,
                       "brian_wall_s_per_update": best["wall_s"] / args.updates,
                       "ns_per_synapse_step": 1e9 * best["sim_s"] / (n_syn * b["n_steps"]),
                       "ns_per_synapse_step_wall": 1e9 * best["wall_s"] / (n_syn * b["n_steps"]),
                       "brian_vs_torch_max_rel_error": err, "max_weight_change": moved,
                       "brian_vs_torch_error_over_change": err_change,
                       **{f"torch_{k}": v for k, v in t.items() if k != "weights"}}
                rows.append(row)
                print(f"{mode} {list(sizes)}: build {b['build_s']:.0f} s ({'incremental' if b['build_incremental'] else 'cold'}), "
                      f"Brian2 {row['brian_s_per_update'] * 1e3:.1f} ms/update (wall {row['brian_wall_s_per_update'] * 1e3:.1f}), "
                      f"{row['ns_per_synapse_step']:.2f} ns/syn/step, cpu/wall {best['cpu_s'] / best['wall_s']:.2f}; "
                      f"torch ref {t['reference_s_per_update'] * 1e3:.0f} ms/update, vectorised "
                      f"{t['vectorised_s_per_update'] * 1e3:.2f} ms/update; Brian vs torch {err:.1e} ({err_change:.1e} of the change); load "
                      f"{best['load1_before']:.1f}", flush=True)
    finally:
        if tmp is not None:
            tmp.cleanup()
    result = {
        "command": " ".join(["python", "experiments/phsic/bench_phsic_brian.py", *sys.argv[1:]]),
        "setup": (f"streaming pHSIC, cpp_standalone (single-threaded binary), {args.hidden_layers} hidden layer(s), "
                  f"{args.pairs_per_update} pairs per update, {args.updates} updates in one compiled run, "
                  f"{'Fashion-MNIST' if args.data == 'fashion_mnist' else 'uniform [-1, 1]'} inputs; torch float64 with {args.threads} thread(s)"),
        "machine": {"host": platform.node(), "platform": platform.platform(), "cpus": os.cpu_count(),
                    "loadavg_start": load_start, "loadavg_end": os.getloadavg()},
        "versions": package_versions(), "git_commit": git_commit(), "total_wall_s": time.perf_counter() - t_start,
        "rows": rows, "time": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "note": ("per-update and ns figures from the best repeat's in-binary simulation time (sim_s); wall adds "
                 "process start, file I/O and Brian2's post-run check for invalid values, which reads every state "
                 "array back into Python. Shared machine: read with the load averages."),
    }
    write_outputs(Path(args.out), result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
