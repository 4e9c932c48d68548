"""Spiking twin of SMPC inference (circuits/smpc/spiking.py) against the rate circuit, on a trained run.

    python experiments/smpc/spiking_smpc.py RUN_DIR [--t-sample 6] [--n 32] [--r-max 250 1000 4000]
        [--twin brian2|torch] [--target cython|numpy] [--compare-torch] [--out DIR]

Takes the synapses of a `neuromorph run` of the smpc circuit (checkpoint), the run's held-out samples, and
infers their latents (i) with the rate circuit run to convergence (2000 iterations; steps clipped to the
learned circuit's stability bounds, reference.stable_steps) and (ii) with the spiking twin (one iteration per
τ = 20 ms, signed integrate-and-fire communication, r_max, τ_syn = 2 ms): the Brian2 network
(spiking.run_brian, default; ℓ1 runs) or the torch twin (spiking.run; also the simplex). ``--compare-torch``
runs the torch twin beside the Brian2 one and records how many spike counts differ and the largest latent
difference. Writes spiking-smpc.json (latent error
‖z_spk(t) − z_rate‖/‖z_rate‖ and R² of x̂ = Âz against simulated time, the count-read latents of the last half,
spike counts and rates) and spiking-smpc.png. An encoder emits at most one spike per dt = 0.1 ms, so a unit
represents values up to 1/(r_max dt) (2.5 at r_max = 4000): r_max beyond that saturates the larger units.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run_dir")
    ap.add_argument("--t-sample", type=float, default=6.0)
    ap.add_argument("--n", type=int, default=32)
    ap.add_argument("--r-max", type=float, nargs="+", default=[250.0, 1000.0, 4000.0])
    ap.add_argument("--twin", choices=("brian2", "torch"), default="brian2")
    ap.add_argument("--target", choices=("cython", "numpy"), default="cython", help="Brian2 runtime target")
    ap.add_argument("--compare-torch", action="store_true", help="also run the torch twin and compare (Brian2 twin only)")
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from circuits.ksm import metrics
    from circuits.smpc import SMPC, reference, spiking
    from circuits.smpc.trainer import _r2_own_scale, load_circuit_run
    from neuromorph.data import load_dataset
    from neuromorph.errors import NeuromorphError

    run = Path(args.run_dir)
    out = Path(args.out) if args.out else run / "figures"
    try:
        st, manifest = load_circuit_run(run)
    except NeuromorphError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    params = manifest["circuit"]["params"] if "circuit" in manifest and "params" in manifest["circuit"] else manifest["params"]
    c = SMPC(**params)
    if args.twin == "brian2" and c.params.constraint != "l1":
        print("error: the Brian2 spiking twin infers ℓ1 latents only; give --twin torch for a simplex run", file=sys.stderr)
        return 2
    ds = load_dataset(manifest["data"]["dataset"], seed=manifest.get("seed", 0), scale=manifest["config"]["train"]["scale"]
                      if "config" in manifest else "variance")
    # The trainer saw every sample times its x_scale (circuits/smpc/trainer.py): so must the twin.
    x_scale = float((manifest.get("config", {}).get("trainer") or {}).get("x_scale", 1.0))
    x = torch.as_tensor(np.asarray(ds.x_test[: args.n], dtype=np.float64) * x_scale)
    W = {k: torch.as_tensor(np.asarray(v)) for k, v in st["weights"].items()}
    A = np.asarray(st["A_hat"])
    p = reference.stable_steps(c.params, W)
    _, z_rate, _ = reference.infer(p, W, x, 2000)
    r2_rate = metrics.r2_score(x.numpy(), metrics.predict(A, z_rate.numpy()))
    # R² with x̂ on its own variance scale: the paper's figure for the N = 30 set (trainer._r2_own_scale).
    r2_own_rate = _r2_own_scale(x.numpy(), metrics.predict(A, z_rate.numpy()))
    res = {"run": str(run), "twin": args.twin, "target": args.target if args.twin == "brian2" else None,
           "n_samples": int(len(x)), "t_sample": args.t_sample, "tau": 2e-2, "tau_syn": 2e-3,
           "eta_y": p.eta_y, "eta_z": p.eta_z, "r2_rate": r2_rate, "r2_own_scale_rate": r2_own_rate, "twins": []}
    fig, ax = plt.subplots(1, 2, figsize=(11, 4))
    norm = float(torch.linalg.norm(z_rate))
    for r_max in args.r_max:
        t0 = time.perf_counter()
        kw = dict(t_sample=args.t_sample, r_max=r_max, record_every=200)
        if args.twin == "brian2":
            sp = spiking.run_brian(p, W, x, target=args.target, **kw)
        else:
            sp = spiking.run(p, W, x, **kw)
        wall = time.perf_counter() - t0
        versus = None
        if args.compare_torch and args.twin == "brian2":
            ref = spiking.run(p, W, x, **kw)
            versus = {
                "units_with_other_count": {k: int((ref["counts"][k] != sp["counts"][k]).sum()) for k in ref["counts"]},
                "units": {k: int(ref["counts"][k].numel()) for k in ref["counts"]},
                "max_latent_difference": float((ref["z"] - sp["z"]).abs().max()),
            }
        err = [float(torch.linalg.norm(zt - z_rate)) / norm for zt in sp["z"]]
        r2 = [metrics.r2_score(x.numpy(), metrics.predict(A, zt.numpy())) for zt in sp["z"]]
        z_count = sp["z_rate"].numpy()
        res["twins"].append({
            "r_max": r_max, "t": sp["t"].tolist(), "latent_error": err, "r2": r2,
            "final_latent_error": err[-1], "final_r2": r2[-1],
            "count_latent_error": float(np.linalg.norm(z_count - z_rate.numpy())) / norm,
            "count_r2": metrics.r2_score(x.numpy(), metrics.predict(A, z_count)),
            "r2_own_scale": [_r2_own_scale(x.numpy(), metrics.predict(A, zt.numpy())) for zt in sp["z"]],
            "count_r2_own_scale": _r2_own_scale(x.numpy(), metrics.predict(A, z_count)),
            "spikes": sp["spikes"], "rate_hz": sp["rate_hz"], "wall_s": wall, "versus_torch": versus,
        })
        ax[0].semilogy(sp["t"], err, label=f"r_max {r_max:g} Hz")
        ax[1].plot(sp["t"], res["twins"][-1]["r2_own_scale"], label=f"r_max {r_max:g} Hz")
        print(f"r_max {r_max:g}: latent error {err[-1]:.4f} (count-read {res['twins'][-1]['count_latent_error']:.4f}), "
              f"R² {r2[-1]:.4f} (rate {r2_rate:.4f}), own-scale R² {res['twins'][-1]['r2_own_scale'][-1]:.4f} "
              f"(rate {r2_own_rate:.4f}), "
              f"spikes {sp['spikes']}, {wall:.1f} s" + (f", vs torch {versus}" if versus else ""), flush=True)
    ax[0].set_xlabel("simulated time (s)")
    ax[0].set_ylabel("‖z_spk − z_rate‖ / ‖z_rate‖")
    ax[1].axhline(r2_own_rate, c="k", ls="--", label="rate circuit")
    ax[1].set_xlabel("simulated time (s)")
    ax[1].set_ylabel("R² of x̂ = Âz (own scale)")
    ax[1].legend(fontsize=7)
    fig.suptitle(f"SMPC spiking twin ({args.twin}) vs rate inference ({manifest['data']['dataset']}, {len(x)} held-out samples)")
    fig.tight_layout()
    out.mkdir(parents=True, exist_ok=True)
    fig.savefig(out / "spiking-smpc.png", dpi=110)
    tmp = out / "spiking-smpc.json.tmp"
    tmp.write_text(json.dumps(res, indent=1))
    os.replace(tmp, out / "spiking-smpc.json")
    print(f"wrote {out / 'spiking-smpc.png'} and {out / 'spiking-smpc.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
