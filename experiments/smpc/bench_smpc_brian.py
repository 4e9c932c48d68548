"""Brian2 cpp_standalone cost of the SMPC circuit: ns per synapse per integration step, one compiled run over
many synaptic updates.

For each size (N inputs, K latents, n_y = K) the circuit (ℓ1, fixed interneuron, the paper's 10 neural
iterations + 1 synaptic step per trial, one update every ``--batch`` trials) is built once (StandaloneSession)
and run on ``--trials`` seeded trials; only the binary's run is timed (build excluded; best of ``--repeats``,
including the process start and result I/O of device.run). Synapses counted: W (N·K), M (K²), Ω (K²); with
``--constraint simplex`` also the projection's rank (K²) and support (K) synapses. Writes JSON (atomically)
and prints a markdown table.

    PYTHONPATH=$PWD python experiments/smpc/bench_smpc_brian.py --sizes 30x16 100x64 --trials 400
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
    from circuits.smpc import SMPC
    from neuromorph.brian import activate
    from neuromorph.brian.speed import time_standalone
    from neuromorph.io import atomic_write_json

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", nargs="+", default=["30x16", "100x64"])
    ap.add_argument("--trials", type=int, default=400)
    ap.add_argument("--batch", type=int, default=20)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--constraint", default="l1", choices=["l1", "simplex"])
    ap.add_argument("--out", default=str(ROOT / "experiments" / "smpc" / "results" / "bench_smpc_brian.json"))
    args = ap.parse_args(argv)
    try:
        sizes = [tuple(int(v) for v in s.lower().split("x")) for s in args.sizes]
        assert all(len(s) == 2 and min(s) >= 1 for s in sizes)
    except (ValueError, AssertionError):
        print(f"error: --sizes takes NxK pairs of positive integers (e.g. 30x16), got {args.sizes}", file=sys.stderr)
        return 2
    if args.trials < args.batch or args.batch < 1 or args.repeats < 1:
        print("error: --batch, --repeats must be >= 1 and --trials >= --batch", file=sys.stderr)
        return 2
    rows = []
    for n, k in sizes:
        circuit = SMPC(n_in=n, n_latent=k, n_y=k, batch=args.batch, constraint=args.constraint)
        weights = circuit.initial_weights(0)
        data = circuit.example_data(args.trials, 0)
        activate("cpp")
        model = circuit.build_brian(weights, data)
        n_syn = n * k + 2 * k * k + ((k * k + k) if args.constraint == "simplex" else 0)
        r = time_standalone(model, n_syn, repeats=args.repeats)  # the shared harness, no monitors
        steps, build_s = r["steps"], r["build_s"]
        rows.append({"N": n, "K": k, "constraint": args.constraint, "synapses": n_syn, "steps": steps,
                     "updates": args.trials // args.batch, "build_s": build_s, "run_s": [x["wall_s"] for x in r["runs"]],
                     "sim_s": [x["sim_s"] for x in r["runs"]], "ns_per_synapse_step": r["ns_per_synapse_step"]})
        best = min(rows[-1]["run_s"])
        print(f"N={n} K={k}: {n_syn} synapses, {steps} steps, best run {best:.3f} s -> "
              f"{rows[-1]['ns_per_synapse_step']:.2f} ns/synapse/step (build {build_s:.0f} s)", flush=True)
    atomic_write_json(args.out, {
        "command": "python experiments/smpc/bench_smpc_brian.py --sizes " + " ".join(args.sizes)
                   + f" --trials {args.trials} --batch {args.batch} --constraint {args.constraint}",
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "loadavg": os.getloadavg()},
        "rows": rows, "note": "neuromorph.brian.speed.time_standalone: ns/synapse/step from the binary's simulation "
                              "loop (sim_s), best of repeats; run_s: device.run wall time; "
                              "2 shared cores under load from other jobs"})
    print("| N | K | synapses | steps | updates | run s (best) | ns / synapse / step |\n|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['N']} | {r['K']} | {r['synapses']:,} | {r['steps']} | {r['updates']} | {min(r['run_s']):.3f} | "
              f"{r['ns_per_synapse_step']:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
