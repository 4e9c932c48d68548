"""Runs: config + seed -> a results folder.

A run is a self-contained task: given a :class:`~neuromorph.config.RunConfig` it writes, under its results
folder,

* ``manifest.json``: config, its digest, seed, package versions, backend, git commit, timings, status;
* ``metrics.jsonl``: one line per epoch (test/train accuracy, the trainer's own figures, seconds);
* ``checkpoint.pkl``: the trainer's state after the last finished epoch;
* ``figures/``: learning curves and a phase timeline of one sample's compartments;
* ``verify-<backend>.json`` / ``compare.json`` when the config asks for them.

A folder whose manifest says ``complete`` for the same config digest is skipped, so a sweep can hand many
runs to a process pool or a cluster engine and simply re-submit after failures. A run killed mid-epoch
resumes (``resume=True``) from the checkpoint of the last finished epoch and, because a trainer's epoch is a
deterministic function of (state, data, epoch), reaches the same result as an uninterrupted run.
"""

from __future__ import annotations

import pickle
import platform
import subprocess
import time
from importlib import metadata
from pathlib import Path

import numpy as np

from .circuit import get_circuit
from .config import RunConfig
from .errors import ConfigError
from .io import append_jsonl, atomic_write_bytes, atomic_write_json, atomic_write_text

__all__ = ["run", "package_versions", "git_commit"]


def package_versions() -> dict:
    out = {"python": platform.python_version()}
    for pkg in ("neuromorph", "brian2", "brian2cuda", "numpy", "torch", "torchvision", "scikit-learn", "matplotlib"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = None
    return out


def git_commit() -> str | None:
    try:
        r = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, cwd=Path(__file__).resolve().parent, timeout=5
        )
        return r.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def _progress(total: int, desc: str, enabled: bool):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit="sample", disable=not enabled, leave=False, dynamic_ncols=True)


def _accuracy(pred, y) -> float:
    return float(np.mean(np.asarray(pred) == np.asarray(y)))


def run(config: RunConfig, out_dir=None, *, resume: bool = False, progress: bool = True, log=print) -> Path:
    """Execute ``config``; return the results folder."""
    out = Path(out_dir) if out_dir else Path("results") / config.run_name
    manifest_path = out / "manifest.json"
    digest = config.digest()
    old = {}
    if manifest_path.exists():
        import json

        old = json.loads(manifest_path.read_text())
        if old.get("config_digest") != digest:
            raise ConfigError(
                f"{out} holds results of a different config (digest {old.get('config_digest')} != {digest}); "
                "choose another --out or delete the folder"
            )
        if old.get("status") == "complete":
            log(f"{out}: already complete, skipped")
            return out
        if not resume:
            raise ConfigError(f"{out} holds an unfinished run of this config; pass --resume to continue it or delete the folder")
    out.mkdir(parents=True, exist_ok=True)
    circuit = get_circuit(config.circuit, **config.params)
    manifest = {
        "name": config.run_name,
        "config": config.to_dict(),
        "config_digest": digest,
        "seed": config.seed,
        "circuit": circuit.describe(),
        "versions": package_versions(),
        "git_commit": git_commit(),
        "machine": {"platform": platform.platform(), "processor": platform.processor(), "cpus": __import__("os").cpu_count()},
        "status": "running",
        # a resumed run keeps the time spent before the interruption
        "timings": {"train_s": old.get("timings", {}).get("train_s", 0.0)} if resume and old else {},
    }
    atomic_write_json(manifest_path, manifest)
    t_start = time.perf_counter()
    try:
        _execute(circuit, config, out, manifest, manifest_path, t_start, resume=resume, progress=progress, log=log)
    except BaseException as exc:
        # leave a record of why the run stopped; `--resume` continues from the last checkpoint
        manifest["status"] = "failed" if not isinstance(exc, KeyboardInterrupt) else "interrupted"
        manifest["error"] = f"{type(exc).__name__}: {exc}"
        atomic_write_json(manifest_path, manifest)
        raise
    return out


def _execute(circuit, config, out, manifest, manifest_path, t_start, *, resume, progress, log) -> None:

    if config.verify is not None:
        from .equivalence import verify

        vc = config.verify
        vcirc = circuit.verification_circuit()
        results = {}
        for backend in vc.backends:
            rep = verify(vcirc, backend, n_trials=vc.samples or None, seed=config.seed, tolerance=vc.tolerance)
            rep.write_json(out / f"verify-{rep.backend}.json")
            log(rep.table())
            results[rep.backend] = {"passed": rep.passed, "max_rel_error": rep.max_rel_error, "seconds": rep.timings.get("brian_total_s")}
        manifest["verify"] = results
        manifest["timings"]["verify_s"] = time.perf_counter() - t_start
        atomic_write_json(manifest_path, manifest)

    trainer = None
    if config.train is not None:
        trainer, data = _train(circuit, config, out, resume=resume, progress=progress, log=log, manifest=manifest)
        atomic_write_json(manifest_path, manifest)
        _figures(circuit, trainer, data, out, log)

    if config.compare is not None:
        if trainer is None:
            raise ConfigError("[compare] needs trained weights: add a [train] section")
        from .compare import compare_rate_spiking

        cc = config.compare
        n = min(cc.n_samples, len(data.y_test))
        t0 = time.perf_counter()
        rep = compare_rate_spiking(
            circuit,
            trainer.weights(),
            data.x_test[:n],
            data.y_test[:n],
            t_samples=cc.t_samples,
            encoding=cc.encoding,
            target=cc.backend,
            r_max=cc.r_max,
            tau_syn=cc.tau_syn,
            seed=config.seed,
        )
        rep.write_json(out / "compare.json")
        atomic_write_text(out / "compare.md", rep.table() + "\n")
        log(rep.table())
        manifest["timings"]["compare_s"] = time.perf_counter() - t0

    manifest["status"] = "complete"
    manifest["timings"]["total_s"] = time.perf_counter() - t_start
    atomic_write_json(manifest_path, manifest)
    _report(out, manifest)
    log(f"results in {out} (summary: {out / 'report.md'})")


def _report(out: Path, manifest: dict) -> None:
    """report.md: what ran, the figures, and where each file is."""
    import json

    lines = [f"# {manifest['name']}", "", f"circuit `{manifest['config']['circuit']}`, seed {manifest['seed']}, "
             f"git {(manifest.get('git_commit') or '?')[:10]}, config digest {manifest['config_digest']}", ""]
    for path in sorted(out.glob("verify-*.json")):
        rep = json.loads(path.read_text())
        lines += [f"## Brian2 ({rep['backend']}) vs torch float64",
                  f"{'PASSED' if rep['passed'] else 'FAILED'}: max relative error {rep['max_rel_error']:.2e} "
                  f"(tolerance {rep['tolerance']:g}) over {rep['n_trials']} trials and {rep['n_updates']} weight updates "
                  f"-> `{path.name}`", ""]
    if "final" in manifest:
        f = manifest["final"]
        lines += ["## Training", f"after {f['epoch'] + 1} epochs on {manifest['data']['dataset']}: test accuracy "
                  f"{100 * f['test_acc']:.2f} %, train accuracy {100 * f['train_acc']:.2f} % "
                  f"({manifest['timings'].get('train_s', 0):.1f} s of training) -> `metrics.jsonl`", ""]
    cmp_path = out / "compare.md"
    if cmp_path.exists():
        lines += ["## Rate model vs spiking twin (`compare.json`)", "", cmp_path.read_text(), ""]
    figs = sorted((out / "figures").glob("*.png")) if (out / "figures").exists() else []
    if figs:
        lines += ["## Figures"] + [f"- `figures/{p.name}`" for p in figs] + [""]
    lines += [f"timings: {json.dumps({k: round(v, 2) if isinstance(v, float) else v for k, v in manifest['timings'].items()})}", ""]

    atomic_write_text(out / "report.md", "\n".join(lines))


def _train(circuit, config: RunConfig, out: Path, *, resume, progress, log, manifest):
    import torch

    from .data import load_dataset

    tc = config.train
    if tc.threads:
        torch.set_num_threads(tc.threads)
    data = load_dataset(
        tc.dataset,
        root=tc.data_root or None,
        download=tc.download,
        n_train=tc.n_train or None,
        n_test=tc.n_test or None,
        seed=config.seed,
        scale=tc.scale,
    )
    manifest["data"] = {"dataset": data.name, "source": data.source, "n_train": len(data.y_train), "n_test": len(data.y_test)}
    manifest["backend"] = {"training": "torch", "torch_threads": torch.get_num_threads()}
    trainer = circuit.make_trainer(data.n_features, data.n_classes, config.seed)
    ckpt = out / "checkpoint.pkl"
    metrics_path = out / "metrics.jsonl"
    start_epoch = 0
    if resume and ckpt.exists():
        state = pickle.loads(ckpt.read_bytes())
        trainer.load_state_dict(state["trainer"])
        start_epoch = state["epoch"] + 1
        # metrics lines of epochs after the checkpoint were not confirmed by it: drop them
        if metrics_path.exists():
            import json

            lines = [ln for ln in metrics_path.read_text().splitlines() if ln and json.loads(ln)["epoch"] < start_epoch]
            atomic_write_bytes(metrics_path, ("\n".join(lines) + "\n" if lines else "").encode())
        log(f"resuming from the checkpoint after epoch {state['epoch']}")
    elif metrics_path.exists():
        metrics_path.unlink()
    rng = np.random.default_rng(config.seed)
    train_eval_idx = (
        rng.choice(len(data.y_train), size=tc.eval_train_subset, replace=False)
        if 0 < tc.eval_train_subset < len(data.y_train)
        else np.arange(len(data.y_train))
    )
    train_seconds = manifest["timings"].get("train_s", 0.0)
    for epoch in range(start_epoch, tc.epochs):
        t0 = time.perf_counter()
        bar = _progress(len(data.y_train), f"epoch {epoch + 1}/{tc.epochs}", progress)
        extra = trainer.train_epoch(data.x_train, data.y_train, epoch, progress=bar.update) or {}
        bar.close()
        t_epoch = time.perf_counter() - t0
        t1 = time.perf_counter()
        test_acc = _accuracy(trainer.predict(data.x_test), data.y_test)
        train_acc = _accuracy(trainer.predict(data.x_train[train_eval_idx]), data.y_train[train_eval_idx])
        t_eval = time.perf_counter() - t1
        record = {
            "epoch": epoch,
            "test_acc": test_acc,
            "train_acc": train_acc,
            "train_seconds": t_epoch,
            "eval_seconds": t_eval,
            **extra,
            **trainer.epoch_metrics(),
        }
        append_jsonl(metrics_path, record)
        atomic_write_bytes(ckpt, pickle.dumps({"epoch": epoch, "trainer": trainer.state_dict()}))
        train_seconds += t_epoch
        log(f"epoch {epoch + 1}/{tc.epochs}: test {test_acc:.4f} train {train_acc:.4f} ({t_epoch:.1f} s + eval {t_eval:.1f} s)")
    manifest["timings"]["train_s"] = train_seconds
    import json

    final = [json.loads(ln) for ln in metrics_path.read_text().splitlines() if ln]
    if final:
        manifest["final"] = {"epoch": final[-1]["epoch"], "test_acc": final[-1]["test_acc"], "train_acc": final[-1]["train_acc"]}
    return trainer, data


def _figures(circuit, trainer, data, out: Path, log) -> None:
    """Learning curves and a phase timeline of one training sample's compartments."""
    import json

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .io import atomic_write_bytes as _write

    figdir = out / "figures"
    figdir.mkdir(exist_ok=True)
    rows = [json.loads(ln) for ln in (out / "metrics.jsonl").read_text().splitlines() if ln]
    if rows:
        fig, ax = plt.subplots(figsize=(5, 3.2))
        ep = [r["epoch"] + 1 for r in rows]
        ax.plot(ep, [100 * r["test_acc"] for r in rows], "o-", label="test")
        ax.plot(ep, [100 * r["train_acc"] for r in rows], "s--", label="train")
        ax.set_xlabel("epoch")
        ax.set_ylabel("accuracy (%)")
        ax.set_title(f"{circuit.name}: learning curve")
        ax.legend()
        fig.tight_layout()
        _savefig(fig, figdir / "learning_curve.png")
        plt.close(fig)
        angle_keys = sorted(k for k in rows[0] if k.startswith("angle"))
        if angle_keys:
            fig, ax = plt.subplots(figsize=(5, 3.2))
            for k in angle_keys:
                ax.plot(ep, [r[k] for r in rows], "o-", label=k)
            ax.set_xlabel("epoch")
            ax.set_ylabel("degrees")
            ax.set_title("angle between forward and backward weights")
            ax.legend()
            fig.tight_layout()
            _savefig(fig, figdir / "angles.png")
            plt.close(fig)
    try:
        trial = circuit.trial_data(data.x_train[: circuit.schedule.trials_per_update], data.y_train[: circuit.schedule.trials_per_update])
        trace = circuit.simulate_reference(trainer.weights(), trial)
    except NotImplementedError as exc:
        log(f"no phase timeline: {exc}")
        return
    _phase_timeline(circuit, trace, figdir / "phase_timeline.png")
    _ = _write  # written through _savefig


def _savefig(fig, path: Path) -> None:
    import io

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    atomic_write_bytes(path, buf.getvalue())


def _phase_timeline(circuit, trace, path: Path) -> None:
    import matplotlib.pyplot as plt

    names = list(trace.states)
    fig, axes = plt.subplots(len(names), 1, figsize=(6, 1.6 * len(names) + 0.6), sharex=True, squeeze=False)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for ax, name in zip(axes[:, 0], names):
        values = trace.states[name][0]  # first trial: (steps, units)
        ax.plot(np.arange(values.shape[0]), values[:, : min(8, values.shape[1])], lw=1)
        ax.set_ylabel(name)
        for i, ph in enumerate(circuit.schedule.describe()):
            ax.axvspan(ph["start"] - 0.5, ph["start"] + ph["steps"] - 0.5, color=colors[i % len(colors)], alpha=0.08)
    for ph in circuit.schedule.describe():
        axes[0, 0].text(ph["start"], axes[0, 0].get_ylim()[1], ph["name"], va="bottom", fontsize=8)
    axes[-1, 0].set_xlabel("integration step within the trial")
    fig.suptitle(f"{circuit.name}: one sample's compartments through the phases", fontsize=9)
    fig.tight_layout()
    _savefig(fig, path)
    plt.close(fig)
