"""Brian2 == torch for the URFB circuit on every CPU backend, for URFB and FRFB, both update orders.

    PYTHONPATH=$PWD python experiments/urfb/verify_all.py [--backends numpy cython cpp] [--cuda-compile]

Each case is ``neuromorph verify urfb`` on the small instance (sizes 6-5-4-3: two hidden layers) with the
listed overrides, 3 trials per update window × 3 windows (≥ 3 updates of every W and R). Writes
experiments/urfb/results/equivalence.json and prints one table row per case and backend.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import neuromorph  # noqa: E402
from neuromorph.equivalence import verify  # noqa: E402
from neuromorph.io import atomic_write_text  # noqa: E402

CASES = {
    "URFB, Fig. 15 order (batch 1)": {},
    "FRFB, Fig. 15 order (batch 1)": {"method": "frfb"},
    "URFB, window order (batch 2)": {"feedback_after_update": False, "batch": 2},
    "FRFB, window order (batch 2)": {"method": "frfb", "feedback_after_update": False, "batch": 2},
    "ε = 0.5 mixture, 50 % connectivity": {"eps": 0.5, "connectivity": 0.5, "prune_output": True},
}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--backends", nargs="+", default=["numpy", "cython", "cpp"])
    ap.add_argument("--cuda-compile", action="store_true", help="also build (not run) on cuda_standalone")
    ap.add_argument("--run-cuda", action="store_true", help="also run on cuda_standalone (needs a GPU)")
    ap.add_argument("--out", default=str(ROOT / "experiments" / "urfb" / "results" / "equivalence.json"))
    args = ap.parse_args(argv)
    neuromorph.register_circuit("urfb", "circuits.urfb:URFB")
    base = neuromorph.get_circuit("urfb")
    rows, ok = [], True
    backends = list(args.backends) + (["cuda"] if args.cuda_compile or args.run_cuda else [])
    for label, overrides in CASES.items():
        c = base.verification_circuit(**overrides)
        for backend in backends:
            compile_only = backend == "cuda" and not args.run_cuda
            with tempfile.TemporaryDirectory(prefix="urfb-verify-") as d:
                rep = verify(c, backend, build_dir=d if backend in ("cpp", "cuda") else None, compile_only=compile_only)
            row = {"case": label, "overrides": overrides, "backend": rep.backend, "passed": rep.passed,
                   "compile_only": compile_only, "max_rel_error": rep.max_rel_error, "max_abs_error": rep.max_abs_error,
                   "n_updates": rep.n_updates, "variables": len(rep.variables), "timings": rep.timings}
            rows.append(row)
            ok &= rep.passed
            err = "compiled" if compile_only else f"{rep.max_rel_error:.2e}"
            print(f"| {label} | {rep.backend} | {rep.n_updates} | {err} | {'yes' if rep.passed else 'NO'} |", flush=True)
    atomic_write_text(args.out, json.dumps({"rows": rows}, indent=1, default=str))
    print(f"wrote {args.out}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
