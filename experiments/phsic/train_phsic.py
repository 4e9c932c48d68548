"""Accuracy runs of the pHSIC batch form from a TOML config (the `neuromorph run` layout).

    python experiments/phsic/train_phsic.py experiments/phsic/fmnist_gauss_divnorm.toml \
        --out experiments/phsic/results/fmnist_gauss_divnorm [--epochs 50] [--threads 1]

``--epochs E`` compresses the schedule: the milestones of [params] are scaled by E / params.epochs (rounded),
e.g. 100 epochs with 50/75/90 -> 50 epochs with 25/38/45. Output folder:

    metrics.jsonl     one JSON object per epoch (epoch, test_acc, train_acc, seconds, eval_seconds, lr_*...),
                      rewritten atomically (tmp file + os.replace) after every epoch
    checkpoint.pkl    trainer state after the last finished epoch (atomic); rerunning resumes from it
    run.json          config, effective parameters, versions, status ("running" | "done"), final accuracies

Randomness is a function of (seed, epoch), so a resumed run reproduces the uninterrupted one exactly.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import pickle
import platform
import sys
import time
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from circuits.phsic.trainer import PHSICTrainer  # noqa: E402
from circuits.phsic.params import PHSICParams  # noqa: E402
from neuromorph.circuit import make_params  # noqa: E402
from neuromorph.data import load_dataset  # noqa: E402


def atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def compressed(params: PHSICParams, epochs: int) -> PHSICParams:
    if epochs == params.epochs:
        return params
    ms = tuple(sorted({max(1, int(round(m * epochs / params.epochs + 1e-9))) for m in params.milestones}))
    return dataclasses.replace(params, epochs=epochs, milestones=ms)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("config")
    ap.add_argument("--out", required=True)
    ap.add_argument("--epochs", type=int, default=0, help="compress the schedule to this many epochs")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (default: [train].threads or 1)")
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--n-train", type=int, default=0)
    ap.add_argument("--note", default="", help="free text stored in run.json")
    args = ap.parse_args(argv)

    raw = tomllib.loads(Path(args.config).read_text())
    seed = raw.get("seed", 0) if args.seed is None else args.seed
    tc = raw.get("train", {})
    params = make_params(PHSICParams, raw.get("params", {}), where="phsic parameters")
    epochs = args.epochs or int(tc.get("epochs", params.epochs))
    params = compressed(params, epochs)
    threads = args.threads or int(tc.get("threads", 1)) or 1
    torch.set_num_threads(threads)

    data = load_dataset(tc.get("dataset", "fashion_mnist"), scale=tc.get("scale", "symmetric"), seed=seed,
                        n_train=(args.n_train or tc.get("n_train") or None))
    trainer = PHSICTrainer(params, data.n_features, data.n_classes, seed)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    metrics_path, ckpt, info_path = out / "metrics.jsonl", out / "checkpoint.pkl", out / "run.json"

    rows: list[dict] = []
    start = 0
    if ckpt.exists():
        state = pickle.loads(ckpt.read_bytes())
        trainer.load_state_dict(state["trainer"])
        start = state["epoch"] + 1
        if metrics_path.exists():
            rows = [json.loads(ln) for ln in metrics_path.read_text().splitlines() if ln.strip()]
            rows = [r for r in rows if r["epoch"] < start]
        # a checkpoint may come from a run with another (compressed) schedule: accept it only if every finished
        # epoch ran with the learning rates this schedule prescribes (then the runs are identical so far)
        for r in rows:
            want = params.lr_final * params.lr_scale(r["epoch"])
            if not np.isclose(r["lr_final"], want, rtol=1e-12):
                raise SystemExit(f"checkpoint epoch {r['epoch']} ran with lr_final {r['lr_final']}, this schedule "
                                 f"prescribes {want}: start a fresh --out folder")
        print(f"resuming after epoch {state['epoch']}", flush=True)

    n_sub = int(tc.get("eval_train_subset", 10000) or 0)
    rng = np.random.default_rng(seed)
    sub = (rng.choice(len(data.y_train), n_sub, replace=False) if 0 < n_sub < len(data.y_train)
           else np.arange(len(data.y_train)))
    info = {
        "config": args.config, "config_raw": raw, "seed": seed, "epochs": epochs,
        "params": dataclasses.asdict(params), "effective_p": params.power,
        "data": {"name": data.name, "source": str(data.source), "n_train": len(data.y_train),
                 "n_test": len(data.y_test), "scale": tc.get("scale", "symmetric")},
        "train_acc_on": f"{len(sub)} fixed training samples (eval mode)",
        "torch_threads": torch.get_num_threads(), "torch": torch.__version__, "numpy": np.__version__,
        "python": platform.python_version(), "host": platform.node(),
        "command": " ".join([sys.executable, *sys.argv]), "status": "running", "note": args.note,
        "resumed_at_epoch": start,
    }
    atomic_write(info_path, json.dumps(info, indent=1, default=str).encode())

    for epoch in range(start, epochs):
        t0 = time.perf_counter()
        extra = trainer.train_epoch(data.x_train, data.y_train, epoch)
        t_train = time.perf_counter() - t0
        t1 = time.perf_counter()
        test_acc = float((trainer.predict(data.x_test) == data.y_test).mean())
        train_acc = float((trainer.predict(data.x_train[sub]) == data.y_train[sub]).mean())
        t_eval = time.perf_counter() - t1
        row = {"epoch": epoch, "test_acc": test_acc, "train_acc": train_acc, "seconds": t_train,
               "eval_seconds": t_eval, "lr": extra["lr_local"] if params.rule == "phsic" else extra["lr_final"],
               **extra, "time": time.time()}
        rows.append(row)
        atomic_write(ckpt, pickle.dumps({"epoch": epoch, "trainer": trainer.state_dict()}))
        atomic_write(metrics_path, "".join(json.dumps(r) + "\n" for r in rows).encode())
        print(f"epoch {epoch + 1}/{epochs}: test {test_acc:.4f} train {train_acc:.4f} "
              f"({t_train:.1f} s + eval {t_eval:.1f} s)", flush=True)

    info["status"] = "done"
    if rows:
        info["final"] = {k: rows[-1][k] for k in ("epoch", "test_acc", "train_acc")}
        info["best_test_acc"] = max(r["test_acc"] for r in rows)
        info["mean_seconds_per_epoch"] = float(np.mean([r["seconds"] for r in rows]))
    atomic_write(info_path, json.dumps(info, indent=1, default=str).encode())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
