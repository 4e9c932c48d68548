"""Before/after, side by side: CPU seconds per epoch of the CorInfoMax trainer at two git commits, interleaved.

    PYTHONPATH=$PWD python experiments/corinfomax/bench_ab.py a348984 HEAD --reps 6 --batches 300 \
        --out experiments/corinfomax/results/bench_ab.json

Why this and not two runs of bench_corinfomax.py: on a shared machine the CPU seconds of the same code drift by
10-20 % within minutes (other processes share the cores' caches), more than the change being measured. Here
each commit's package (``circuits/``, ``neuromorph/``, from ``git archive``) is loaded by its own long-lived
worker process (1 torch thread, FMNIST [784, 500, 10], the single-seed trainer as ``neuromorph sweep`` runs it:
whole batch, C++ kernel, ``gemm="auto"``), and the workers take turns (ABBA order): each turn trains
``--batches`` batches of 20 (continuing through the training set) and predicts ``--eval-samples`` test images,
both in the process's CPU seconds and scaled to a 60,000-sample epoch and to 10k images. The GEMM floor of the
epoch (bench_corinfomax.gemm_floor, this working tree's) is timed by the first worker after the first and the
last round. Reported: medians (and minima) per commit, the floor, floor / ours, and train + 2 x eval (what the
runner does each epoch: 10k test + the 10k train subset). Writes JSON atomically.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def worker() -> None:
    """Serve "train N", "eval N", "floor 0" lines on stdin with one JSON line each (runs in a commit's tree)."""
    import torch

    torch.set_num_threads(1)
    from circuits.corinfomax.params import CorInfoMaxParams
    from circuits.corinfomax.trainer import CorInfoMaxTrainer
    from neuromorph.data import load_dataset

    data = load_dataset("fashion_mnist")
    tr = CorInfoMaxTrainer(CorInfoMaxParams(), seed=0, threads=1, split=False, kernel="cpp")
    x, y = data.x_train, data.y_train
    tr.train_epoch(x[:400], y[:400], 0)  # warm-up (kernel compiled, buffers allocated)
    pos = 400
    print(json.dumps({"ready": True, "gemm": tr.gemm, "kernel": tr.kernel}), flush=True)
    for line in sys.stdin:
        cmd, n = line.split()
        n = int(n)
        if cmd == "train":
            if pos + 20 * n > len(x):
                pos = 0
            c0 = time.process_time()
            tr.train_epoch(x[pos:pos + 20 * n], y[pos:pos + 20 * n], 0)
            out = {"train_cpu_epoch_s": (time.process_time() - c0) * 3000 / n}
            pos += 20 * n
        elif cmd == "eval":
            c0 = time.process_time()
            tr.predict(data.x_test[:n])
            out = {"eval_cpu_10k_s": (time.process_time() - c0) * 10000 / n}
        else:
            sys.path.insert(0, os.environ["NEUROMORPH_BENCH_DIR"])
            from bench_corinfomax import gemm_floor

            out = {"floor_cpu_epoch_s": gemm_floor((784, 500, 10), 1)["cpu_epoch_s"]}
        print(json.dumps(out), flush=True)


def _tree(commit: str, dest: Path) -> str:
    """Write commit's circuits/ and neuromorph/ under dest; returns the full hash. The C++ sweep kernel is
    renamed per tree so the two builds do not overwrite each other in torch's extension cache."""
    full = subprocess.run(["git", "rev-parse", commit], cwd=ROOT, capture_output=True, text=True)
    if full.returncode != 0:
        raise SystemExit(f"error: {commit!r} is not a commit of {ROOT} ({full.stderr.strip()}); give a hash or ref")
    h = full.stdout.strip()
    arch = subprocess.run(["git", "archive", h, "circuits", "neuromorph"], cwd=ROOT, capture_output=True, check=True)
    subprocess.run(["tar", "-x", "-C", str(dest)], input=arch.stdout, check=True)
    k = dest / "circuits" / "corinfomax" / "kernels.py"
    k.write_text(k.read_text().replace('load("neuromorph_corinfomax_sweeps"', f'load("neuromorph_corinfomax_sweeps_{h[:8]}"'))
    return h


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("before", nargs="?", help="commit (hash or ref) measured first")
    ap.add_argument("after", nargs="?", help="commit (hash or ref) compared with it")
    ap.add_argument("--reps", type=int, default=6, help="turns per commit")
    ap.add_argument("--batches", type=int, default=300, help="batches of 20 per training turn")
    ap.add_argument("--eval-samples", type=int, default=2000)
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        worker()
        return 0
    if args.before is None or args.after is None:
        raise SystemExit("error: give two commits, e.g. bench_ab.py a348984 HEAD")
    if args.reps < 1 or args.batches < 1 or args.eval_samples < 1:
        raise SystemExit("error: --reps, --batches and --eval-samples must be >= 1")
    with tempfile.TemporaryDirectory(prefix="bench_ab_") as tmp:
        names, procs, hashes = [], {}, {}
        for i, c in enumerate((args.before, args.after)):
            d = Path(tmp) / f"t{i}"
            d.mkdir()
            hashes[c] = _tree(c, d)
            env = dict(os.environ, PYTHONPATH=str(d), NEUROMORPH_BENCH_DIR=str(ROOT / "experiments" / "corinfomax"))
            procs[c] = subprocess.Popen([sys.executable, __file__, "--worker"], cwd=tmp, env=env,
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
            names.append(c)
        info = {}
        for c, p in procs.items():
            line = p.stdout.readline()
            if not line:
                raise SystemExit(f"error: the worker for {c} died while starting (run it by hand to see why)")
            info[c] = json.loads(line)

        def ask(c, cmd):
            procs[c].stdin.write(cmd + "\n")
            procs[c].stdin.flush()
            return json.loads(procs[c].stdout.readline())

        runs = {c: [] for c in names}
        floors = []
        load0 = os.getloadavg()[0]
        for i in range(args.reps):
            for c in (names if i % 2 == 0 else names[::-1]):
                r = ask(c, f"train {args.batches}")
                r.update(ask(c, f"eval {args.eval_samples}"))
                runs[c].append(r)
                print(f"{c}: train {r['train_cpu_epoch_s']:.2f} CPU s/epoch, eval {r['eval_cpu_10k_s']:.2f} CPU s/10k", flush=True)
            if i in (0, args.reps - 1):
                floors.append(ask(names[0], "floor 0")["floor_cpu_epoch_s"])
                print(f"GEMM floor {floors[-1]:.2f} CPU s/epoch", flush=True)
        for p in procs.values():
            p.stdin.close()
            p.wait()
    floor = statistics.mean(floors)
    summary = {}
    for c in names:
        med = {k: statistics.median(r[k] for r in runs[c]) for k in runs[c][0]}
        summary[c] = {"commit": hashes[c], **info[c], "median": med,
                      "min": {k: min(r[k] for r in runs[c]) for k in runs[c][0]},
                      "floor_over_ours_cpu": floor / med["train_cpu_epoch_s"],
                      "train_plus_2_eval_cpu_s": med["train_cpu_epoch_s"] + 2 * med["eval_cpu_10k_s"],
                      "runs": runs[c]}
    b, a = summary[names[0]], summary[names[1]]
    result = {
        "command": " ".join([Path(sys.executable).name] + sys.argv),
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
        "setting": "FMNIST [784, 500, 10], batch 20, T 30/10, float32, 1 thread, whole batch, C++ kernel, gemm auto",
        "loadavg": [load0, os.getloadavg()[0]],
        "floor_cpu_epoch_s": floors,
        "before": b, "after": a,
        "after_over_before": {"train": a["median"]["train_cpu_epoch_s"] / b["median"]["train_cpu_epoch_s"],
                              "eval": a["median"]["eval_cpu_10k_s"] / b["median"]["eval_cpu_10k_s"],
                              "train_plus_2_eval": a["train_plus_2_eval_cpu_s"] / b["train_plus_2_eval_cpu_s"]},
    }
    print()
    for tag, s in (("before", b), ("after", a)):
        print(f"{tag} {s['commit'][:8]}: train {s['median']['train_cpu_epoch_s']:.2f} CPU s/epoch (median of {args.reps}), "
              f"eval {s['median']['eval_cpu_10k_s']:.2f} CPU s/10k, train + 2 eval {s['train_plus_2_eval_cpu_s']:.2f}; "
              f"floor / ours {100 * s['floor_over_ours_cpu']:.0f} %")
    r = result["after_over_before"]
    print(f"after / before: train {r['train']:.3f}, eval {r['eval']:.3f}, train + 2 eval {r['train_plus_2_eval']:.3f}; "
          f"floor {', '.join(f'{f:.2f}' for f in floors)} CPU s/epoch; load {load0:.1f}")
    if args.out is not None:
        tmp_out = args.out.with_name(args.out.name + ".tmp")
        tmp_out.write_text(json.dumps(result, indent=2) + "\n")
        os.replace(tmp_out, args.out)
        print(f"written {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
