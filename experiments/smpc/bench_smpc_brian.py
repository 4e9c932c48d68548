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
import time
import warnings
from pathlib import Path

warnings.filterwarnings("ignore")
ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))


def main(argv=None) -> int:
    from circuits.smpc import SMPC
    from neuromorph.brian import StandaloneSession, activate
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
        model.record_states = False  # time the circuit, not the monitors
        model.weight_probes = {}
        t0 = time.perf_counter()
        session = StandaloneSession(model)
        build_s = time.perf_counter() - t0
        times = []
        for _ in range(args.repeats):
            t1 = time.perf_counter()
            session.run()
            times.append(time.perf_counter() - t1)
        n_syn = n * k + 2 * k * k + ((k * k + k) if args.constraint == "simplex" else 0)
        steps = model.n_steps
        best = min(times)
        rows.append({"N": n, "K": k, "constraint": args.constraint, "synapses": n_syn, "steps": steps,
                     "updates": args.trials // args.batch, "build_s": build_s, "run_s": times,
                     "ns_per_synapse_step": 1e9 * best / (n_syn * steps)})
        print(f"N={n} K={k}: {n_syn} synapses, {steps} steps, best run {best:.3f} s -> "
              f"{rows[-1]['ns_per_synapse_step']:.2f} ns/synapse/step (build {build_s:.0f} s)", flush=True)
    atomic_write_json(args.out, {
        "command": "python experiments/smpc/bench_smpc_brian.py --sizes " + " ".join(args.sizes)
                   + f" --trials {args.trials} --batch {args.batch} --constraint {args.constraint}",
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "loadavg": os.getloadavg()},
        "rows": rows, "note": "best of repeats; includes process start and result I/O of device.run; "
                              "2 shared cores under load from other jobs"})
    print("| N | K | synapses | steps | updates | run s (best) | ns / synapse / step |\n|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['N']} | {r['K']} | {r['synapses']:,} | {r['steps']} | {r['updates']} | {min(r['run_s']):.3f} | "
              f"{r['ns_per_synapse_step']:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
