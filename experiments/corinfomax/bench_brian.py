"""Brian2 cpp_standalone cost of the CorInfoMax circuit: ns per synapse per integration step vs layer width.

For each hidden width w the 2-layer circuit [784, w, 10] is built once (StandaloneSession), then run on
``--trials`` FMNIST-sized random trials (free 30 + gate 1 + nudged 10 + gate 1 steps each, plasticity on);
only the binary's run is timed (build excluded). Writes JSON (atomically) and prints a markdown table.

    python experiments/corinfomax/bench_brian.py --widths 50 100 200 --trials 20 --out experiments/corinfomax/results/bench_brian.json
"""

import argparse
import os
import platform
import time
import warnings

warnings.filterwarnings("ignore")


def _children_cpu() -> float:
    """User + system CPU seconds of finished child processes (the standalone binary runs as one): on a shared
    machine this is close to what the run takes on a quiet one, where the wall time is not."""
    import resource

    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def main():
    from neuromorph.brian import StandaloneSession, activate
    from neuromorph.circuit import get_circuit
    from neuromorph.io import atomic_write_json
    from neuromorph.runner import package_versions

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--widths", type=int, nargs="+", default=[50, 100, 200])
    ap.add_argument("--trials", type=int, default=20)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    rows = []
    for w in args.widths:
        circuit = get_circuit("corinfomax", sizes=(784, w, 10))
        weights = circuit.initial_weights(0)
        data = circuit.example_data(args.trials, 0)
        activate("cpp")
        model = circuit.build_brian(weights, data)
        model.record_states = False  # time the circuit, not the monitors
        t0 = time.perf_counter()
        session = StandaloneSession(model)
        build_s = time.perf_counter() - t0
        times, cpu = [], []
        for _ in range(args.repeats):
            c1 = _children_cpu()
            t1 = time.perf_counter()
            session.run()
            times.append(time.perf_counter() - t1)
            cpu.append(_children_cpu() - c1)
        n_syn = sum(a.size for a in weights.values())
        steps = model.n_steps
        best = min(times)
        rows.append({"sizes": [784, w, 10], "synapses": int(n_syn), "steps": steps, "build_s": build_s, "run_s": times,
                     "run_cpu_s": cpu, "ns_per_synapse_step": 1e9 * best / (n_syn * steps),
                     "cpu_ns_per_synapse_step": 1e9 * min(cpu) / (n_syn * steps)})
        print(f"w={w}: {n_syn} synapses, {steps} steps, best run {best:.3f} s -> {rows[-1]['ns_per_synapse_step']:.2f} ns/synapse/step "
              f"(CPU time of the binary {min(cpu):.3f} s -> {rows[-1]['cpu_ns_per_synapse_step']:.2f} ns; build {build_s:.0f} s)", flush=True)
    result = {"command": "python experiments/corinfomax/bench_brian.py " + " ".join(f"--widths {' '.join(map(str, args.widths))} --trials {args.trials}".split()),
              "machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "loadavg": os.getloadavg()},
              "versions": package_versions(), "rows": rows,
              "note": "best of repeats; includes process start and result I/O of device.run (~10-20 ms); cpu: the binary's user+sys time"}
    atomic_write_json(args.out, result)
    print("| sizes | synapses | steps | run s (best) | ns / synapse / step | CPU ns / synapse / step |\n|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['sizes']} | {r['synapses']:,} | {r['steps']} | {min(r['run_s']):.3f} | {r['ns_per_synapse_step']:.2f} "
              f"| {r['cpu_ns_per_synapse_step']:.2f} |")


if __name__ == "__main__":
    main()
