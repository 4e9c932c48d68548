"""Brian2 cpp_standalone cost of the URFB circuit: ns per synapse per integration step, one compiled run over
many updates (Fig. 15 order, batch 1: one update per trial).

For each hidden width w the circuit [784, w, w, 10] (two hidden layers, URFB) is built once
(StandaloneSession) and run on ``--trials`` random trials (forward 3 + error 4 + 7 update/shutdown/feedback
steps = 14 steps per trial, plasticity on); only the binary's run is timed (build excluded). Synapses counted:
every W and R. Writes JSON (atomically) and prints a markdown table.

    PYTHONPATH=$PWD python experiments/urfb/bench_brian.py --widths 100 300 --trials 200
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import warnings
from pathlib import Path

warnings.filterwarnings("ignore")
ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))


def main(argv=None) -> int:
    import neuromorph
    from neuromorph.brian import activate
    from neuromorph.brian.speed import synapse_count, time_standalone
    from neuromorph.io import atomic_write_json

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--widths", type=int, nargs="+", default=[100, 300])
    ap.add_argument("--trials", type=int, default=200)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", default=str(ROOT / "experiments" / "urfb" / "results" / "bench_brian.json"))
    args = ap.parse_args(argv)
    if args.trials < 1 or args.repeats < 1 or min(args.widths) < 1:
        print("error: --trials, --repeats and every --widths must be ≥ 1", file=sys.stderr)
        return 2
    neuromorph.register_circuit("urfb", "circuits.urfb:URFB")
    rows = []
    for w in args.widths:
        circuit = neuromorph.get_circuit("urfb", sizes=(784, w, w, 10), batch=1, feedback_after_update=True, M=100.0, K=100.0)
        weights = circuit.initial_weights(0)
        data = circuit.example_data(args.trials, 0)
        activate("cpp")
        model = circuit.build_brian(weights, data)
        r = time_standalone(model, synapse_count(weights), repeats=args.repeats)  # the shared harness, no monitors
        n_syn, steps, build_s = r["synapses"], r["steps"], r["build_s"]
        rows.append({"sizes": [784, w, w, 10], "synapses": n_syn, "steps": steps, "updates": args.trials,
                     "build_s": build_s, "run_s": [x["wall_s"] for x in r["runs"]], "sim_s": [x["sim_s"] for x in r["runs"]],
                     "ns_per_synapse_step": r["ns_per_synapse_step"]})
        best = min(rows[-1]["run_s"])
        print(f"w={w}: {n_syn} synapses, {steps} steps, best run {best:.3f} s -> "
              f"{rows[-1]['ns_per_synapse_step']:.2f} ns/synapse/step (build {build_s:.0f} s)", flush=True)
    atomic_write_json(args.out, {
        "command": "python experiments/urfb/bench_brian.py --widths " + " ".join(map(str, args.widths)) + f" --trials {args.trials}",
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "loadavg": os.getloadavg()},
        "rows": rows, "note": "neuromorph.brian.speed.time_standalone: ns/synapse/step from the binary's simulation loop "
                             "(sim_s), best of repeats; run_s: device.run wall time"})
    print("| sizes | synapses | steps | run s (best) | ns / synapse / step |\n|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['sizes']} | {r['synapses']:,} | {r['steps']} | {min(r['run_s']):.3f} | {r['ns_per_synapse_step']:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
