"""Run the CorInfoMax authors' public code (never committed here) for timing and for the dead-output-unit count.

    git clone https://github.com/BariscanBozkurt/Supervised-CorInfoMax /tmp/authors   # outside this repository
    nice -n 10 python experiments/corinfomax/authors_code.py --authors-src /tmp/authors --seeds 0-9 \
        --work /tmp/authors_dead --out experiments/corinfomax/results/dead_output_authors.json

What it runs: the class ``ContrastiveCorInfoMaxHopfield`` of ``src/ContrastiveModels.py`` (CorInfoMax-B∞,+),
driven exactly as the authors' ``Simulations/Classification/CorInfoMax/CorInfoMax_FashionMNIST_Simulation_V1.py``
drives it for their winning FMNIST setting (lr_ff 0.3/0.22, lr_fb 0.07, neural lr 0.07 "divide_by_slow_loop_index"
with stop 0.001 and multiplier 0.01, g 0.3, ε 0.15, λ 0.99999, T 30/10, batch 20, random-sign β = 1, the debug
logs every 500 batches): per seed ``np.random.seed(s); torch.manual_seed(s)``, then the model (its own torch
Xavier draws), then a shuffling ``torch.utils.data.DataLoader`` of batch 20 (the same torch random stream as
their torchvision loader: the sampler draws from torch's default generator, and our arrays are the same
ToTensor() pixels / 255), the β sign from ``np.random.randint(2)`` each batch, multiplied into β as they do.
So these are *their* random streams, independent of ours (``circuits/corinfomax/trainer.py`` draws with numpy).

After ``--epochs`` epochs (default 1) the free phase (β = 0, T_free sweeps from zero, their
``run_neural_dynamics_hopfield``) runs on the first ``--test-samples`` test images, and an output unit whose
rate is 0 on more than ``--silent`` of them is dead (the criterion of ``dead_output_scan.py``). One JSON file per
seed goes into ``--work`` (written atomically; seeds already there are skipped, so two processes can share
the seeds and a stopped scan resumes); ``--out`` collects them into one JSON and prints a markdown table.

``ContrastiveModels.py`` imports pandas at module level without using it in this class; where pandas is not
installed an empty module stands in for it (only for that import).
"""

from __future__ import annotations

import argparse
import importlib.machinery
import json
import sys
import time
import types
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

# the authors' FMNIST setting (their Simulation_V1 script, first grid point), see the module docstring
SETTING = {
    "architecture": [784, 500, 10], "lambda_": 0.99999, "epsilon": 0.15, "hopfield_g": 0.3,
    "lr_ff": [0.3, 0.22], "lr_fb": [float("nan"), 0.07], "lr_decay": 0.95, "neural_lr_start": 0.07,
    "neural_lr_stop": 0.001, "neural_lr_rule": "divide_by_slow_loop_index", "neural_lr_decay_multiplier": 0.01,
    "t_free": 30, "t_nudged": 10, "batch": 20, "beta": 1.0, "random_sign_beta": True,
}


def load_authors(src: Path):
    """The authors' ``ContrastiveModels`` module from a checkout (``src/`` put on sys.path)."""
    from neuromorph.errors import ConfigError

    src = Path(src)
    mod_dir = src / "src"
    if not (mod_dir / "ContrastiveModels.py").is_file():
        raise ConfigError(f"--authors-src {src} has no src/ContrastiveModels.py; give a checkout of "
                          "github.com/BariscanBozkurt/Supervised-CorInfoMax")
    if str(mod_dir) not in sys.path:
        sys.path.insert(0, str(mod_dir))
    import torchvision  # noqa: F401  (theirs imports it; first, so torch's import-time scans never see the stand-in)

    stand_in = None
    try:
        import pandas  # noqa: F401
    except ImportError:  # imported at their module level, unused by ContrastiveCorInfoMaxHopfield
        stand_in = types.ModuleType("pandas")
        stand_in.__spec__ = importlib.machinery.ModuleSpec("pandas", None)
        sys.modules["pandas"] = stand_in
    try:
        import ContrastiveModels  # noqa: E402  (their module)
    finally:
        if stand_in is not None and sys.modules.get("pandas") is stand_in:
            del sys.modules["pandas"]  # visible to their import only
    return ContrastiveModels


def _lr(epoch: int) -> dict:
    """Their learning-rate schedule: 0.95**epoch below 20, 0.9**epoch to 24, 0.8**epoch from 25."""
    f = SETTING["lr_decay"] ** epoch if epoch < 20 else (0.9 ** epoch if epoch < 25 else 0.8 ** epoch)
    return {"ff": np.array(SETTING["lr_ff"]) * f, "fb": np.array(SETTING["lr_fb"]) * f}


def make_model(cm, seed: int):
    """Seed both generators as their script does, then build the model (its torch draws)."""
    import torch

    np.random.seed(seed)
    torch.manual_seed(seed)
    s = SETTING
    return cm.ContrastiveCorInfoMaxHopfield(architecture=s["architecture"], lambda_=s["lambda_"],
                                            epsilon=s["epsilon"], activation=cm.hard_sigmoid,
                                            device=torch.device("cpu"))


def make_loader(x_train: np.ndarray, y_train: np.ndarray):
    """A shuffling loader of batch 20: the same sampler (and torch random stream) as their torchvision loader."""
    import torch

    ds = torch.utils.data.TensorDataset(torch.as_tensor(x_train), torch.as_tensor(y_train, dtype=torch.int64))
    return torch.utils.data.DataLoader(ds, batch_size=SETTING["batch"], shuffle=True, num_workers=0)


def train_epoch(model, loader, epoch: int, beta: float, n_batches: int | None = None) -> float:
    """One epoch (or its first ``n_batches``) of their training loop; returns the running β (sign carried over)."""
    import torch
    import torch.nn.functional as F

    s = SETTING
    lr = _lr(epoch)
    for idx, (x, y) in enumerate(loader):
        if n_batches is not None and idx >= n_batches:
            break
        x = x.view(x.size(0), -1).T
        y1 = F.one_hot(y, 10).T
        if s["random_sign_beta"]:
            beta = (2 * np.random.randint(2) - 1) * beta  # their update: the sign multiplies into beta
        with torch.no_grad():
            model.batch_step_hopfield(x, y1, s["hopfield_g"], lr, s["neural_lr_start"], s["neural_lr_stop"],
                                      s["neural_lr_rule"], s["neural_lr_decay_multiplier"], s["t_free"],
                                      s["t_nudged"], beta, False, idx % 500 == 0)
    return beta


def free_output(model, x: np.ndarray, chunk: int = 1000) -> np.ndarray:
    """Output rates (n, 10) at the end of their free phase (β = 0, T_free sweeps from zero)."""
    import torch

    s = SETTING
    outs = []
    with torch.no_grad():
        for lo in range(0, len(x), chunk):
            xb = torch.as_tensor(x[lo:lo + chunk]).T
            neurons = model.init_neurons(xb.size(1), device=model.device)
            neurons, _, _ = model.run_neural_dynamics_hopfield(
                xb, 0, neurons, s["hopfield_g"], s["neural_lr_start"], s["neural_lr_stop"], s["neural_lr_rule"],
                s["neural_lr_decay_multiplier"], s["t_free"], beta=0)
            outs.append(neurons[-1].T.numpy().copy())
    return np.concatenate(outs)


def scan_seed(cm, data, seed: int, epochs: int, test_samples: int, silent_above: float) -> dict:
    import torch

    t0 = time.perf_counter()
    model = make_model(cm, seed)
    loader = make_loader(data.x_train, data.y_train)
    beta = SETTING["beta"]
    epoch_s = []
    for ep in range(epochs):
        te = time.perf_counter()
        beta = train_epoch(model, loader, ep, beta)
        epoch_s.append(time.perf_counter() - te)
    out = free_output(model, data.x_test[:test_samples])
    silent = (out <= 0).mean(axis=0)
    return {
        "seed": seed, "epochs_trained": epochs, "torch_threads": torch.get_num_threads(),
        "test_acc": float((out.argmax(axis=1) == data.y_test[:test_samples]).mean()),
        "dead_output_units": [int(j) for j in np.where(silent > silent_above)[0]],
        "fraction_silent_per_unit": [round(float(v), 4) for v in silent],
        "epoch_seconds": epoch_s, "seconds": time.perf_counter() - t0,
    }


def collect(work: Path) -> list[dict]:
    rows = []
    for f in sorted(work.glob("seed*.json")):
        rows.append(json.loads(f.read_text()))
    return sorted(rows, key=lambda r: r["seed"])


def main(argv=None) -> int:
    from neuromorph.data import load_dataset
    from neuromorph.io import atomic_write_json
    from neuromorph.sweep import parse_seeds

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--authors-src", type=Path, required=True, help="checkout of BariscanBozkurt/Supervised-CorInfoMax")
    ap.add_argument("--seeds", nargs="+", default=["0-9"], help="seeds, e.g. 0-9 or 0 10 20")
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--threads", type=int, default=1, help="torch threads of this process (default 1)")
    ap.add_argument("--test-samples", type=int, default=2000)
    ap.add_argument("--silent", type=float, default=0.99)
    ap.add_argument("--work", type=Path, required=True, help="folder for one JSON per seed (resumable)")
    ap.add_argument("--out", type=Path, help="collect every seed in --work into this JSON (and print a table)")
    ap.add_argument("--collect-only", action="store_true", help="only collect --work into --out")
    args = ap.parse_args(argv)
    if args.epochs < 1 or args.threads < 1 or args.test_samples < 1 or not 0.0 < args.silent < 1.0:
        raise SystemExit("error: --epochs, --threads and --test-samples must be >= 1 and --silent lie in (0, 1)")
    import torch

    torch.set_num_threads(args.threads)
    args.work.mkdir(parents=True, exist_ok=True)
    if not args.collect_only:
        cm = load_authors(args.authors_src)
        data = load_dataset("fashion_mnist")
        for seed in parse_seeds(args.seeds):
            f = args.work / f"seed{seed}.json"
            if f.exists():
                continue
            row = scan_seed(cm, data, seed, args.epochs, args.test_samples, args.silent)
            atomic_write_json(f, row)
            print(f"seed {seed}: test {row['test_acc']:.4f} on {args.test_samples}, dead output units "
                  f"{row['dead_output_units']}, {row['epoch_seconds'][0]:.0f} s/epoch", flush=True)
    if args.out:
        rows = collect(args.work)
        n_dead = sum(bool(r["dead_output_units"]) for r in rows)
        atomic_write_json(args.out, {
            "command": " ".join([Path(sys.executable).name, *sys.argv]),
            "code": "authors' ContrastiveCorInfoMaxHopfield (their random streams: torch init, DataLoader shuffle, np beta signs)",
            "setting": SETTING | {"lr_fb": [None, SETTING["lr_fb"][1]]}, "epochs": args.epochs,
            "test_samples": args.test_samples, "silent_above": args.silent,
            "rows": rows, "runs_with_a_dead_unit": n_dead, "runs": len(rows)})
        print("| seed | test acc (first %d) | dead output units |\n|---|---|---|" % args.test_samples)
        for r in rows:
            print(f"| {r['seed']} | {r['test_acc']:.4f} | {r['dead_output_units'] or '-'} |")
        print(f"{n_dead} of {len(rows)} seeds have a dead output unit; wrote {args.out}")
    return 0


if __name__ == "__main__":
    from neuromorph.errors import NeuromorphError

    try:
        raise SystemExit(main())
    except NeuromorphError as exc:
        raise SystemExit(f"error: {exc}") from None
