"""Compile time vs run time of a deploy twin per compiler optimisation level (what `neuromorph deploy` spends
on the Brian2 twin): for each level, one cpp_standalone build + compile of the trained run's twin on N test
samples, then one run per weight variant (float, 8-bit). Prints and writes JSON.

    python experiments/deploy/bench_twin_opt.py RUN_DIR --samples 200 --levels 3 1 0 --out /tmp/opt.json
"""

from __future__ import annotations

import argparse
import json
import os
import time


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("run_dir")
    ap.add_argument("--samples", type=int, default=200)
    ap.add_argument("--levels", nargs="+", default=["3", "1", "0"])
    ap.add_argument("--t-sample", type=float, default=0.2)
    ap.add_argument("--out")
    a = ap.parse_args(argv)
    import torch
    from threadpoolctl import threadpool_limits

    from neuromorph.deploy.loader import load_trained, test_samples
    from neuromorph.deploy.quantize import quantize_all
    from neuromorph.deploy.twin import run_variants
    from neuromorph.io import atomic_write_json

    torch.set_num_threads(1)
    circuit, weights, _m, config, data = load_trained(a.run_dir)
    x, y = test_samples(data, a.samples)
    q8 = {k: q.values for k, q in quantize_all(weights, bits=8, fmt="mantissa_exp").items()}
    rows = []
    for level in a.levels:
        os.environ["NEUROMORPH_OPT_LEVEL"] = str(level)
        timings = {}
        t0 = time.perf_counter()
        with threadpool_limits(limits=1, user_api="blas"):
            res = run_variants(circuit, {"float": weights, "q8": q8}, x, t_samples=(a.t_sample,), encoding="regular",
                               r_max=200.0, tau_syn=0.02, backend="cpp", seed=config.seed, timings=timings)
        row = {"level": level, "total_s": time.perf_counter() - t0, **timings,
               "accuracy": {k: float((r.predictions == y).mean()) for k, r in res.items()}}
        rows.append(row)
        print(json.dumps(row))
    if a.out:
        atomic_write_json(a.out, {"run_dir": a.run_dir, "samples": a.samples, "rows": rows})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
