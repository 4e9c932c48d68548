"""Brian2 cpp_standalone cost of the CorInfoMax circuit: ns per synapse per integration step vs layer width.

For each hidden width w the 2-layer circuit [784, w, 10] is built once (StandaloneSession), then run on
``--trials`` FMNIST-sized random trials (free 30 + gate 1 + nudged 10 + gate 1 steps each, plasticity on);
only the binary's run is timed (build excluded; the harness of neuromorph.brian.speed, which
benchmarks/brian_speed.py uses for every circuit). Writes JSON (atomically) and prints a markdown table.

    python experiments/corinfomax/bench_brian.py --widths 50 100 200 --trials 20 --out experiments/corinfomax/results/bench_brian.json
"""

import argparse
import os
import platform
import warnings

warnings.filterwarnings("ignore")


def main():
    from neuromorph.brian import activate
    from neuromorph.brian.speed import synapse_count, time_standalone
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
        r = time_standalone(model, synapse_count(weights), repeats=args.repeats)  # the shared harness
        n_syn, steps, build_s = r["synapses"], r["steps"], r["build_s"]
        times, cpu = [x["wall_s"] for x in r["runs"]], [x["cpu_s"] for x in r["runs"]]
        best = min(times)
        rows.append({"sizes": [784, w, 10], "synapses": int(n_syn), "steps": steps, "build_s": build_s, "run_s": times,
                     "run_cpu_s": cpu, "sim_s": [x["sim_s"] for x in r["runs"]],
                     "ns_per_synapse_step": r["ns_per_synapse_step"], "cpu_ns_per_synapse_step": r["cpu_ns_per_synapse_step"]})
        print(f"w={w}: {n_syn} synapses, {steps} steps, best run {best:.3f} s -> {rows[-1]['ns_per_synapse_step']:.2f} ns/synapse/step "
              f"(CPU time of the binary {min(cpu):.3f} s -> {rows[-1]['cpu_ns_per_synapse_step']:.2f} ns; build {build_s:.0f} s)", flush=True)
    result = {"command": "python experiments/corinfomax/bench_brian.py " + " ".join(f"--widths {' '.join(map(str, args.widths))} --trials {args.trials}".split()),
              "machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "loadavg": os.getloadavg()},
              "versions": package_versions(), "rows": rows,
              "note": "neuromorph.brian.speed.time_standalone: ns/synapse/step from the binary's simulation loop (sim_s), best of "
                      "repeats; run_s: device.run wall time (process start and result I/O included); cpu: the binary's user+sys time"}
    atomic_write_json(args.out, result)
    print("| sizes | synapses | steps | run s (best) | ns / synapse / step (sim) | CPU ns / synapse / step |\n|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['sizes']} | {r['synapses']:,} | {r['steps']} | {min(r['run_s']):.3f} | {r['ns_per_synapse_step']:.2f} "
              f"| {r['cpu_ns_per_synapse_step']:.2f} |")


if __name__ == "__main__":
    main()
