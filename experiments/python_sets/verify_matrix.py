"""Brian2 == torch for every registered circuit on every CPU backend, under the Python that runs this script.

Issue 16's table: run it once with each declared Python set (``.venv`` = 3.11, ``.venv312`` = 3.12):

    .venv/bin/python experiments/python_sets/verify_matrix.py --out experiments/python_sets/results
    .venv312/bin/python experiments/python_sets/verify_matrix.py --out experiments/python_sets/results

Each run writes ``verify-py<major><minor>.json`` (versions, per circuit × backend: passed, max relative error,
updates compared, seconds) and prints a markdown table; ``--table`` prints the table of every JSON in --out.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path


def run_matrix(backends: list[str]) -> dict:
    from neuromorph.circuit import circuit_names, get_circuit
    from neuromorph.equivalence import verify
    from neuromorph.runner import package_versions

    rows = []
    for name in circuit_names():
        for backend in backends:
            t0 = time.perf_counter()
            rep = verify(get_circuit(name).verification_circuit(), backend)
            rows.append({"circuit": name, "backend": backend, "passed": bool(rep.passed),
                         "max_rel_error": float(rep.max_rel_error), "n_updates": int(rep.n_updates),
                         "seconds": round(time.perf_counter() - t0, 1)})
            print(f"{name:18s} {backend:6s} {'PASS' if rep.passed else 'FAIL'} {rep.max_rel_error:.2e}", flush=True)
    return {"python": platform.python_version(), "versions": package_versions(), "rows": rows}


def table(results: list[dict]) -> str:
    pys = [r["python"] for r in results]
    lines = ["| circuit | backend | " + " | ".join(f"Python {p}" for p in pys) + " |",
             "|---|---|" + "---|" * len(pys)]
    keys = sorted({(row["circuit"], row["backend"]) for r in results for row in r["rows"]},
                  key=lambda k: (k[0], ["numpy", "cython", "cpp"].index(k[1]) if k[1] in ("numpy", "cython", "cpp") else 9))
    for c, b in keys:
        cells = []
        for r in results:
            row = next((x for x in r["rows"] if (x["circuit"], x["backend"]) == (c, b)), None)
            cells.append("–" if row is None else f"{'pass' if row['passed'] else 'FAIL'} {row['max_rel_error']:.1e}")
        lines.append(f"| {c} | {b} | " + " | ".join(cells) + " |")
    lines.append("")
    lines += [f"Python {r['python']}: brian2 {r['versions'].get('brian2')}, numpy {r['versions'].get('numpy')}, "
              f"torch {r['versions'].get('torch')}" for r in results]
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--backends", nargs="+", default=["numpy", "cython", "cpp"])
    ap.add_argument("--table", action="store_true", help="only print the table of the JSON files in --out")
    args = ap.parse_args(argv)
    from neuromorph.io import atomic_write_text

    if not args.table:
        res = run_matrix(args.backends)
        args.out.mkdir(parents=True, exist_ok=True)
        tag = "".join(res["python"].split(".")[:2])
        atomic_write_text(args.out / f"verify-py{tag}.json", json.dumps(res, indent=1) + "\n")
    results = [json.loads(p.read_text()) for p in sorted(args.out.glob("verify-py*.json"))]
    text = table(results)
    print(text)
    atomic_write_text(args.out / "verify-matrix.md", text + "\n")
    return 0 if all(row["passed"] for r in results for row in r["rows"]) else 1


if __name__ == "__main__":
    sys.exit(main())
