"""`neuromorph verify` of the SMPC circuit for every case (ℓ1 soft / ℓ1 subgradient / simplex × fixed /
dynamic interneuron) on the given backends; writes one JSON row per case and backend and a markdown table.

    PYTHONPATH=$PWD python experiments/smpc/verify_all.py --backends numpy cython cpp
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

warnings.filterwarnings("ignore")
ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

CASES = {
    "l1-fixed": dict(constraint="l1", interneuron="fixed"),
    "l1-dynamic": dict(constraint="l1", interneuron="dynamic"),
    "l1-subgradient-fixed": dict(constraint="l1", interneuron="fixed", l1_form="subgradient"),
    "simplex-fixed": dict(constraint="simplex", interneuron="fixed"),
    "simplex-dynamic": dict(constraint="simplex", interneuron="dynamic"),
}


def main(argv=None) -> int:
    from circuits.smpc import SMPC
    from neuromorph.equivalence import verify
    from neuromorph.io import atomic_write_json

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--backends", nargs="+", default=["numpy", "cython", "cpp"])
    ap.add_argument("--cases", nargs="+", default=list(CASES), choices=list(CASES))
    ap.add_argument("--out", default=str(ROOT / "experiments" / "smpc" / "results" / "verify_all.json"))
    args = ap.parse_args(argv)
    rows = []
    for backend in args.backends:
        for case in args.cases:
            t0 = time.perf_counter()
            rep = verify(SMPC(**CASES[case]).verification_circuit(), backend)
            rows.append({"case": case, "backend": backend, "passed": rep.passed, "max_rel_error": rep.max_rel_error,
                         "n_updates": rep.n_updates, "seconds": time.perf_counter() - t0})
            print(f"{case} {backend}: {'PASSED' if rep.passed else 'FAILED'} max rel error {rep.max_rel_error:.2e} "
                  f"({rep.n_updates} updates, {rows[-1]['seconds']:.0f} s)", flush=True)
    atomic_write_json(args.out, {"command": "python experiments/smpc/verify_all.py --backends " + " ".join(args.backends),
                                 "rows": rows})
    print("| case | backend | max rel error | updates | ok |\n|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['case']} | {r['backend']} | {r['max_rel_error']:.2e} | {r['n_updates']} | {'yes' if r['passed'] else 'NO'} |")
    return 0 if all(r["passed"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
