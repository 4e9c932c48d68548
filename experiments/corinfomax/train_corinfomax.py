"""Standalone CorInfoMax accuracy run (the generic runner is `neuromorph run CONFIG.toml`; this thin script
exists to start long runs with the fast trainer directly and to resume them).

    python experiments/corinfomax/train_corinfomax.py experiments/corinfomax/fmnist_dense.toml --seed 0

Writes, under experiments/corinfomax/results/ (or --results-dir), per (config name, seed):

* ``<name>_seed<s>.jsonl``: one JSON line per finished epoch (epoch, test_acc, train_acc on a seeded
  ``eval_train_subset`` sample of the training set, angle_k between W_ff^(k) and W_fb^(k)^T in degrees,
  train/eval seconds, threads), rewritten atomically (tmp file + os.replace) after every epoch;
* ``<name>_seed<s>.ckpt.npz``: the trainer's state after the last finished epoch (atomic too). A rerun of
  the same command resumes from it and reproduces the uninterrupted run exactly.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
import tomllib
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def _atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def save_state(path: Path, state: dict) -> None:
    import io

    flat = {"seed": np.asarray(state["seed"]), "epochs_done": np.asarray(state["epochs_done"])}
    flat.update({f"w/{k}": v for k, v in state["weights"].items()})
    flat.update({f"DO/{k}": v for k, v in state.get("DO", {}).items()})
    buf = io.BytesIO()
    np.savez(buf, **flat)
    _atomic_write(path, buf.getvalue())


def load_state(path: Path) -> dict:
    with np.load(path) as z:
        st = {"seed": int(z["seed"]), "epochs_done": int(z["epochs_done"]),
              "weights": {k[2:]: z[k] for k in z.files if k.startswith("w/")}}
        do = {k[3:]: z[k] for k in z.files if k.startswith("DO/")}
        if do:
            st["DO"] = do
    return st


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("config", type=Path)
    ap.add_argument("--seed", type=int, default=None, help="default: the config's seed")
    ap.add_argument("--epochs", type=int, default=None, help="default: [train] epochs")
    ap.add_argument("--threads", type=int, default=1, help="torch threads for this run (default 1)")
    ap.add_argument("--kernel", default="auto", choices=["auto", "cpp", "torchscript", "python"],
                    help="sweep kernel of the fast trainer (same arithmetic, different float rounding)")
    ap.add_argument("--results-dir", type=Path, default=ROOT / "experiments" / "corinfomax" / "results")
    ap.add_argument("--name", default=None, help="default: the config file's stem")
    args = ap.parse_args(argv)

    import torch

    from circuits.corinfomax.trainer import CorInfoMaxTrainer
    from circuits.corinfomax.params import CorInfoMaxParams
    from neuromorph.circuit import make_params
    from neuromorph.data import load_dataset

    cfg = tomllib.loads(args.config.read_text())
    if cfg.get("circuit", "corinfomax") != "corinfomax":
        raise SystemExit(f"{args.config}: circuit must be 'corinfomax'")
    params = make_params(CorInfoMaxParams, cfg.get("params", {}), where=f"{args.config} [params]")
    train = cfg.get("train", {})
    seed = args.seed if args.seed is not None else int(cfg.get("seed", 0))
    epochs = args.epochs if args.epochs is not None else int(train.get("epochs", 50))
    name = args.name or args.config.stem
    torch.set_num_threads(args.threads)

    data = load_dataset(train.get("dataset", "fashion_mnist"), seed=seed, scale=train.get("scale", "unit"))
    n_sub = int(train.get("eval_train_subset", 10000))
    rng = np.random.default_rng(seed)
    sub = (rng.choice(len(data.y_train), size=n_sub, replace=False)
           if 0 < n_sub < len(data.y_train) else np.arange(len(data.y_train)))

    out = args.results_dir
    out.mkdir(parents=True, exist_ok=True)
    log_path = out / f"{name}_seed{seed}.jsonl"
    ckpt_path = out / f"{name}_seed{seed}.ckpt.npz"
    trainer = CorInfoMaxTrainer(params, seed=seed, threads=args.threads, kernel=args.kernel)
    records: list[dict] = []
    start = 0
    if ckpt_path.exists():
        state = load_state(ckpt_path)
        trainer.load_state_dict(state)
        start = state["epochs_done"]
        if log_path.exists():
            records = [json.loads(ln) for ln in log_path.read_text().splitlines() if ln.strip()]
            records = [r for r in records if r["epoch"] < start]
        print(f"[{name} seed {seed}] resuming after epoch {start - 1}", flush=True)
    meta = {"torch": torch.__version__, "threads": args.threads, "kernel": trainer.kernel, "host": platform.node(), "config": str(args.config)}
    for epoch in range(start, epochs):
        t0 = time.perf_counter()
        trainer.train_epoch(data.x_train, data.y_train, epoch)
        t1 = time.perf_counter()
        test_acc = float(np.mean(trainer.predict(data.x_test) == data.y_test))
        train_acc = float(np.mean(trainer.predict(data.x_train[sub]) == data.y_train[sub]))
        t2 = time.perf_counter()
        rec = {"epoch": epoch, "test_acc": test_acc, "train_acc": train_acc, **trainer.epoch_metrics(),
               "train_seconds": round(t1 - t0, 3), "eval_seconds": round(t2 - t1, 3),
               "lr_factor": params.lr_factor(epoch), **({"meta": meta} if epoch == start else {})}
        records.append(rec)
        # log first, then checkpoint: a resume drops log lines at or after the checkpoint's epoch
        _atomic_write(log_path, "".join(json.dumps(r) + "\n" for r in records).encode())
        save_state(ckpt_path, trainer.state_dict())
        print(f"[{name} seed {seed}] epoch {epoch + 1}/{epochs}: test {test_acc:.4f} train {train_acc:.4f} "
              f"({t1 - t0:.1f} s + eval {t2 - t1:.1f} s)", flush=True)
    trainer.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
