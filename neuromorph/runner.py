"""Runs: config + seed -> a results folder.

A run is a self-contained task: given a :class:`~neuromorph.config.RunConfig` it writes, under its results
folder,

* ``manifest.json``: config, its digest, seed, package versions, backend, git commit, timings, status
  (``running``, ``complete``, ``failed``, ``interrupted`` or ``diverged``);
* ``metrics.jsonl``: one line per epoch (test/train accuracy, the trainer's own figures, seconds);
* ``checkpoint.npz``: the trainer's state after the last finished epoch, data only (see
  :mod:`neuromorph.checkpoint`) with the config digest, seed and epoch that wrote it;
* ``figures/``: learning curves and a phase timeline of one sample's compartments;
* ``verify-<backend>.json`` / ``compare.json`` when the config asks for them.

Before anything is created the whole config is checked against the circuit, the machine (compilers, GPU,
memory) and the data set (batch size vs training-set size), so a rejected config leaves nothing behind.
The folder is then locked (``.neuromorph.lock``, an ``flock``), so a second run into the same folder fails
at once instead of interleaving its epochs with the first; a folder holding files neuromorph did not write
is refused, never overwritten.

A folder whose manifest says ``complete`` for the same config digest is skipped, so a sweep can hand many
runs to a process pool or a cluster engine and simply re-submit after failures. A run killed at any point
resumes (``resume=True``) from the checkpoint of the last finished epoch and, because a trainer's epoch is a
deterministic function of (state, data, epoch), reaches bit for bit the result of an uninterrupted run.
After every epoch (and every few seconds inside one) the weights are checked: a non-finite or exploding
value stops the run with status ``diverged`` instead of letting it finish "complete" with NaN weights.
"""

from __future__ import annotations

import fnmatch
import math
import os
import platform
import socket
import subprocess
import time
from importlib import metadata
from pathlib import Path

import numpy as np

from .brian.devices import OPT_LEVEL_ENV
from .checkpoint import UnstorableStateError, read_checkpoint, save_checkpoint
from .circuit import Circuit, get_circuit
from .config import RunConfig, check_values, config_from_dict
from .errors import (ConfigError, CorruptFileError, DivergedError, NeuromorphError, ResultsFolderError, ShapeError,
                     interrupted_build)
from .io import append_jsonl, atomic_write_bytes, atomic_write_json, atomic_write_text, json_safe, read_json, read_jsonl

try:  # POSIX; elsewhere runs are not locked
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None

__all__ = [
    "run",
    "validate_run",
    "load_checkpoint",
    "load_run",
    "package_versions",
    "git_commit",
    "git_changes",
    "estimate_memory",
    "headline_metric",
    "WEIGHT_LIMIT",
    "CHECKPOINT",
    "LOCK_NAME",
]

CHECKPOINT = "checkpoint.npz"
LEGACY_CHECKPOINT = "checkpoint.pkl"
LOCK_NAME = ".neuromorph.lock"
# Files neuromorph writes into a results folder; anything else there is the user's and is never touched.
OWN_FILES = ("manifest.json", "metrics.jsonl", CHECKPOINT, LEGACY_CHECKPOINT, "report.md", "compare.json", "compare.md",
             "verify-*.json", "weights.npz", "figures", LOCK_NAME)
# |w| above this is "exploding": the circuits' weights are O(1)-O(100) for inputs in [0, 1] or [-1, 1].
WEIGHT_LIMIT = 1e8
# Seconds between the cheap weight checks inside an epoch (through the trainer's progress callback).
GUARD_INTERVAL_S = 2.0
# A trainer holds its float64 weights, their updates and optimiser state: about this many copies.
MEMORY_COPIES = 4
# What a trainer's ``task`` may be (neuromorph.circuit.Trainer): scored by accuracy or by R² of x̂.
TASKS = ("classification", "reconstruction")


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


def git_changes(where: Path | None = None) -> list[str] | None:
    """Tracked files that differ from ``git_commit()`` in the checkout neuromorph runs from (``git status
    --porcelain``, untracked files left out; ``where`` another checkout): a manifest whose commit does not say what
    ran lists them. None when git or the repository is not there (an installed package)."""
    try:
        r = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], capture_output=True, text=True,
                           cwd=where or Path(__file__).resolve().parent, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    if r.returncode != 0:
        return None
    return [line[3:] for line in r.stdout.splitlines() if line.strip()]


def _progress(total: int, desc: str, enabled: bool):
    from .progress import progress_bar  # tqdm on a terminal, a plain line every few seconds in a log

    return progress_bar(total, desc, unit="sample", enabled=enabled)


def _accuracy(pred, y) -> float:
    return float(np.mean(np.asarray(pred) == np.asarray(y)))


# ---- validation before anything is created ----------------------------------------------------------------
def _fmt_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if n < 1024 or unit == "PiB":
            return f"{n:.1f} {unit}" if unit != "B" else f"{int(n)} B"
        n /= 1024
    return f"{n:.1f} PiB"  # pragma: no cover


def available_memory() -> int | None:
    """Bytes of memory available to a new allocation (Linux MemAvailable), or None if unknown."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):  # pragma: no cover
        return None


def _vm_size() -> int | None:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmSize:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    return None


def _weight_shapes(circuit: Circuit, budget: int | None) -> dict:
    """circuit.weight_shapes(), without letting the default (which builds the initial weights) exhaust memory.

    Circuits that override weight_shapes compute it from their parameters. The default materialises
    initial_weights(0); for that call the address space is capped at what is in use plus ``budget``, so an
    absurd size fails at once with numpy's MemoryError (which states the size) instead of swapping.
    """
    if type(circuit).weight_shapes is not Circuit.weight_shapes or budget is None:
        return circuit.weight_shapes()
    try:
        import resource
    except ImportError:  # pragma: no cover
        return circuit.weight_shapes()
    vm = _vm_size()
    if vm is None:
        return circuit.weight_shapes()
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    cap = vm + budget
    if hard != resource.RLIM_INFINITY:
        cap = min(cap, hard)
    if soft != resource.RLIM_INFINITY:
        cap = min(cap, soft)
    resource.setrlimit(resource.RLIMIT_AS, (cap, hard))
    try:
        return circuit.weight_shapes()
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


def estimate_memory(circuit: Circuit, available: int | None = None) -> dict:
    """Estimated memory of training ``circuit``; raises ConfigError if it cannot fit in ``available`` bytes.

    Returns ``{"weights_bytes", "estimate_bytes", "available_bytes", "largest"}``: the float64 weight
    matrices (from circuit.weight_shapes()) and MEMORY_COPIES times that for a trainer's working state.
    """
    available = available_memory() if available is None else available
    sizes_hint = _size_params(circuit)
    try:
        shapes = _weight_shapes(circuit, None if available is None else available // MEMORY_COPIES)
    except MemoryError as exc:
        raise ConfigError(
            f"{circuit.name}: the weight matrices alone do not fit in memory ({exc}; "
            f"{_fmt_bytes(available)} available); lower the layer sizes{sizes_hint}"
        ) from exc
    counts = {k: int(np.prod(s, dtype=np.float64)) for k, s in shapes.items()}
    weights = 8.0 * sum(counts.values())
    estimate = MEMORY_COPIES * weights
    largest = max(counts, key=counts.get) if counts else None
    if available is not None and estimate > available:
        raise ConfigError(
            f"{circuit.name}: the weight matrices take {_fmt_bytes(weights)} (largest: {largest} {tuple(shapes[largest])}); "
            f"training needs about {_fmt_bytes(estimate)} but {_fmt_bytes(available)} of memory is available; "
            f"lower the layer sizes{sizes_hint}"
        )
    return {"weights_bytes": weights, "estimate_bytes": estimate, "available_bytes": available, "largest": largest}


def _size_params(circuit: Circuit) -> str:
    """' (params.n_hidden = 100000000)': the largest size-like parameter, to name in a memory error."""
    import dataclasses

    best = None
    for f in dataclasses.fields(circuit.params):
        v = getattr(circuit.params, f.name)
        vals = [v] if isinstance(v, int) and not isinstance(v, bool) else (list(v) if isinstance(v, (list, tuple)) else [])
        vals = [x for x in vals if isinstance(x, int) and not isinstance(x, bool)]
        if vals and (best is None or max(vals) > best[1]):
            best = (f.name, max(vals), v)
    return f" (params.{best[0]} = {best[2]!r})" if best else ""


def validate_run(config: RunConfig, *, check_memory: bool = True) -> Circuit:
    """Check everything about ``config`` that can be checked without data or files; return its circuit.

    Config values (again: a RunConfig may be built in code), the circuit's parameters, what the sections
    need from the circuit ([train] a trainer, [compare] trained weights and a spiking twin), the Brian2
    targets on this machine (compiler, GPU) and the memory the weights need.
    """
    from .brian.devices import check_target

    check_values(config)
    circuit = get_circuit(config.circuit, **config.params)
    if config.train is not None and type(circuit).make_trainer is Circuit.make_trainer:
        raise ConfigError(f"circuit {circuit.name!r} has no trainer; remove the [train] section (it can be verified, not trained)")
    if config.trainer:
        if config.train is None:
            raise ConfigError("[trainer] options need a [train] section; add one, or remove [trainer]")
        circuit.check_trainer_options(config.trainer)
    if config.compare is not None:
        if config.train is None:
            raise ConfigError("[compare] needs trained weights: add a [train] section, or remove [compare]")
        if type(circuit).build_spiking_brian is Circuit.build_spiking_brian:
            raise ConfigError(f"circuit {circuit.name!r} has no spiking twin; remove the [compare] section")
        try:
            check_target(config.compare.backend, need_gpu=True)
        except NeuromorphError as exc:
            raise type(exc)(f"compare.backend: {exc}") from exc
    if config.verify is not None:
        for b in config.verify.backends:
            try:
                check_target(b, need_gpu=True)
            except NeuromorphError as exc:
                raise type(exc)(f"verify.backends: {exc}") from exc
    if check_memory:
        estimate_memory(circuit)
    return circuit


def _batch_size(circuit: Circuit) -> int | None:
    for key in ("batch", "batch_size"):
        v = getattr(circuit.params, key, None)
        if isinstance(v, int) and not isinstance(v, bool):
            return v
    return None


def _load_data(circuit: Circuit, config: RunConfig):
    from .data import load_dataset

    tc = config.train
    data = load_dataset(
        tc.dataset,
        root=tc.data_root or None,
        download=tc.download,
        n_train=tc.n_train or None,
        n_test=tc.n_test or None,
        seed=config.seed,
        scale=tc.scale,
    )
    n = len(data.y_train)
    batch = _batch_size(circuit)
    if batch is not None and batch > n:
        raise ConfigError(
            f"params.batch = {batch} is larger than the training set ({n} samples of {data.name}): no weight "
            f"would ever be updated; lower params.batch to at most {n} or raise train.n_train"
        )
    return data


# ---- the results folder -------------------------------------------------------------------------------------
def _own(name: str) -> bool:
    """A name neuromorph writes into a results folder (or the temporary file of one of its atomic writes)."""
    if name.startswith(".") and name.endswith(".tmp"):
        name = name[1:-4].rsplit(".", 1)[0]  # ".metrics.jsonl.abc123.tmp" -> "metrics.jsonl"
    return any(fnmatch.fnmatchcase(name, pat) for pat in OWN_FILES)


def _foreign(out: Path) -> list[str]:
    names = []
    for p in sorted(out.iterdir()):
        if not _own(p.name) or (p.name == "figures" and not p.is_dir()):
            names.append(p.name)
        elif p.name == "figures":
            names += [f"figures/{q.name}" for q in sorted(p.iterdir()) if not (q.suffix == ".png" or _own_tmp(q.name))]
    return names


def _own_tmp(name: str) -> bool:
    return name.startswith(".") and name.endswith(".tmp")


def _lock_holder(out: Path) -> str | None:
    """Who holds ``out``'s lock ('pid 123 on host, since ...'), or None if nobody does."""
    path = out / LOCK_NAME
    if fcntl is None or not path.exists():
        return None
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError:
            text = os.pread(fd, 200, 0).decode(errors="replace").strip()
            return text or "another process"
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


class _FolderLock:
    """An exclusive flock on ``out/.neuromorph.lock`` for the whole run (released by the kernel if killed)."""

    def __init__(self, out: Path):
        self.fd = None
        if fcntl is None:  # pragma: no cover
            return
        path = out / LOCK_NAME
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
        except OSError as exc:
            raise ResultsFolderError(f"cannot write into the results folder {out} ({exc.strerror}); choose a writable --out") from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = os.pread(fd, 200, 0).decode(errors="replace").strip() or "another process"
            os.close(fd)
            raise ResultsFolderError(
                f"another neuromorph run ({holder}) is writing into {out}; wait for it to finish or choose another --out"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()} on {socket.gethostname()}, since {time.strftime('%Y-%m-%d %H:%M:%S')}\n".encode(), 0)
        self.fd = fd

    def release(self) -> None:
        if self.fd is not None:
            fcntl.flock(self.fd, fcntl.LOCK_UN)
            os.close(self.fd)
            self.fd = None


def _check_out_path(out: Path) -> None:
    """--out must be a folder (or creatable as one) that this user can write."""
    if out.exists() and not out.is_dir():
        raise ResultsFolderError(f"--out {out} is a file, not a folder; choose a folder path (e.g. {out}.d)")
    probe = out
    while not probe.exists():
        if probe.parent == probe:
            break
        probe = probe.parent
    if probe.exists() and not probe.is_dir():
        raise ResultsFolderError(f"--out {out}: {probe} is a file, so the folder cannot be created; choose another --out")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise ResultsFolderError(f"--out {out}: {probe} is not writable by this user; choose a writable --out")


def _inspect(out: Path, config: RunConfig, digest: str, resume: bool, *, locked: bool = False) -> dict:
    """Read-only look at an existing results folder: what to do with it (raises for every bad case).

    Returns ``{"action": "new" | "skip" | "resume", "old": manifest, "checkpoint": (state, meta),
    "metrics": rows}``.
    """
    if not out.exists() or not any(out.iterdir()):
        return {"action": "new", "old": {}}
    holder = None if locked else _lock_holder(out)
    if holder:
        raise ResultsFolderError(f"another neuromorph run ({holder}) is writing into {out}; wait for it to finish or choose another --out")
    manifest_path = out / "manifest.json"
    foreign = _foreign(out)
    if not manifest_path.exists():
        mine = [n for n in (p.name for p in out.iterdir()) if n != LOCK_NAME and not _own_tmp(n)]
        if mine or foreign:
            listed = sorted(set(foreign) | set(mine))
            raise ResultsFolderError(
                f"{out} is not empty and holds no neuromorph manifest ({', '.join(listed[:5])}{' ...' if len(listed) > 5 else ''}); "
                "neuromorph does not overwrite files it did not write: choose a new or empty --out"
            )
        return {"action": "new", "old": {}}
    old = read_json(manifest_path, fix="restore it, or delete the folder to start this run over")
    if not isinstance(old, dict) or "config_digest" not in old:
        raise ResultsFolderError(f"{manifest_path} is not a neuromorph manifest; choose another --out")
    if old.get("config_digest") != digest:
        raise ConfigError(
            f"{out} holds results of a different config (digest {old.get('config_digest')} != {digest}); "
            "choose another --out or delete the folder"
        )
    if old.get("status") == "complete":
        return {"action": "skip", "old": old}
    if foreign:
        raise ResultsFolderError(
            f"{out} holds files neuromorph did not write ({', '.join(foreign[:5])}); move them away or choose another --out"
        )
    if not resume:
        if old.get("status") == "diverged":
            raise ConfigError(
                f"{out} holds a run of this config that diverged ({old.get('error', 'non-finite weights')}); it would "
                "diverge again: change the config (e.g. lower learning rates) or delete the folder"
            )
        raise ConfigError(
            f"{out} holds an unfinished run of this config (status {old.get('status')!r}); pass --resume to continue it "
            "or delete the folder"
        )
    if (out / LEGACY_CHECKPOINT).exists():
        raise CorruptFileError(
            f"{out / LEGACY_CHECKPOINT} is a pickle checkpoint of an older neuromorph; it is not loaded because unpickling "
            f"can run arbitrary code. Delete it (--resume then restarts training from epoch 1) or rerun into a new --out"
        )
    info = {"action": "resume", "old": old, "checkpoint": None, "metrics": []}
    ckpt = out / CHECKPOINT
    if config.train is not None and ckpt.exists():
        state, meta = read_checkpoint(ckpt)
        if meta.get("config_digest") != digest or meta.get("seed") != config.seed:
            raise ConfigError(
                f"{ckpt} was written by config {meta.get('config_digest')} (seed {meta.get('seed')}), but this run is config "
                f"{digest} (seed {config.seed}); resume only with the config that wrote it, or delete the checkpoint"
            )
        if not isinstance(meta.get("epoch"), int) or not 1 <= meta["epoch"] <= config.train.epochs:
            raise CorruptFileError(f"{ckpt} says epoch {meta.get('epoch')!r}, outside 1..{config.train.epochs}; delete it")
        info["checkpoint"] = (state, meta)
    metrics_path = out / "metrics.jsonl"
    if config.train is not None and (metrics_path.exists() or info["checkpoint"] is not None):
        rows = read_jsonl(metrics_path, fix="delete the folder to start this run over") if metrics_path.exists() else []
        bad = [i + 1 for i, r in enumerate(rows) if not isinstance(r.get("epoch"), int)]
        if bad:
            raise CorruptFileError(f"{metrics_path} line {bad[0]} has no epoch number; delete the folder to start this run over")
        if info["checkpoint"] is not None:
            done = info["checkpoint"][1]["epoch"]
            have = sorted(r.get("epoch") for r in rows if isinstance(r.get("epoch"), int) and r["epoch"] <= done)
            if have != list(range(1, done + 1)):
                raise CorruptFileError(
                    f"{out / 'metrics.jsonl'} lacks epochs that {ckpt.name} (after epoch {done}) covers (has {have}); "
                    "delete the folder to start this run over"
                )
        info["metrics"] = rows
    return info


def _remove_debris(out: Path) -> None:
    """Temporary files of atomic writes a killed run left behind (they are ours, named .<file>.<random>.tmp)."""
    for folder in (out, out / "figures"):
        if folder.is_dir():
            for p in folder.iterdir():
                if _own_tmp(p.name) and p.is_file():
                    p.unlink(missing_ok=True)


# ---- run -----------------------------------------------------------------------------------------------------
def run(config: RunConfig, out_dir=None, *, resume: bool = False, progress: bool = True, log=print) -> Path:
    """Execute ``config``; return the results folder.

    Raises ConfigError / ResultsFolderError / CorruptFileError (nothing created when the config or folder is
    rejected), DivergedError (status ``diverged``), KeyboardInterrupt (status ``interrupted``).
    """
    out = Path(out_dir) if out_dir else Path("results") / config.run_name
    digest = config.digest()
    circuit = validate_run(config)
    _check_out_path(out)
    info = _inspect(out, config, digest, resume)
    if info["action"] == "skip":
        log(f"{out}: already complete, skipped")
        return out
    data = _load_data(circuit, config) if config.train is not None else None

    made = []  # folders this call creates (outermost first): removed again if the run is rejected before it starts
    missing = []
    probe = out
    while not probe.exists():
        missing.append(probe)
        probe = probe.parent
    for folder in reversed(missing):
        try:
            folder.mkdir()
        except FileExistsError:  # another process was quicker: not ours to remove
            continue
        except OSError as exc:
            raise ResultsFolderError(f"cannot create the results folder {out} ({exc.strerror}); choose a writable --out") from exc
        made.append(folder)
    started = False
    lock = None
    try:
        lock = _FolderLock(out)
        # the authoritative look, now that no other run can change the folder
        info = _inspect(out, config, digest, resume, locked=True)
        if info["action"] == "skip":
            log(f"{out}: already complete, skipped")
            return out
        _remove_debris(out)
        started = True
        _run_locked(circuit, config, data, out, digest, info, progress=progress, log=log)
    finally:
        if not started and lock is not None and made:
            (out / LOCK_NAME).unlink(missing_ok=True)  # our lock in our new folder: removed while still held
        if lock is not None:
            lock.release()
        if not started:
            for folder in reversed(made):  # innermost first; only what is still empty
                try:
                    folder.rmdir()
                except OSError:
                    break
    return out


def _run_locked(circuit, config, data, out, digest, info, *, progress, log) -> None:
    manifest_path = out / "manifest.json"
    manifest = {
        "name": config.run_name,
        "config": config.to_dict(),
        "config_digest": digest,
        "seed": config.seed,
        "circuit": circuit.describe(),
        "versions": package_versions(),
        "git_commit": git_commit(),
        "git_changes": git_changes(),  # [] when the commit is exactly what ran
        "machine": {"platform": platform.platform(), "processor": platform.processor(), "cpus": os.cpu_count()},
        # Brian2's C++ optimisation level when the environment overrides -O3 (neuromorph.brian.devices)
        **({"compile_opt_level": os.environ[OPT_LEVEL_ENV]} if os.environ.get(OPT_LEVEL_ENV) else {}),
        "status": "running",
        "timings": {},
    }
    if data is not None:
        manifest["data"] = {"dataset": data.name, "source": data.source, "n_train": len(data.y_train), "n_test": len(data.y_test),
                            "n_features": int(data.n_features), "n_classes": int(data.n_classes)}
    atomic_write_json(manifest_path, manifest)
    t_start = time.perf_counter()
    try:
        _execute(circuit, config, data, out, manifest, manifest_path, t_start, info=info, progress=progress, log=log)
    except BaseException as exc:
        # leave a record of why the run stopped; `--resume` continues from the last checkpoint
        interrupted = isinstance(exc, KeyboardInterrupt) or interrupted_build(exc)
        if interrupted:
            manifest["status"] = "interrupted"
            manifest["error"] = "interrupted (Ctrl-C); rerun the same command with --resume to continue"
        elif isinstance(exc, DivergedError):
            manifest["status"] = "diverged"
            manifest["error"] = str(exc)
            manifest["diverged"] = {"epoch": exc.epoch, "variable": exc.variable, "samples": exc.samples}
        else:
            manifest["status"] = "failed"
            manifest["error"] = f"{type(exc).__name__}: {exc}"
        atomic_write_json(manifest_path, manifest)
        if interrupted and not isinstance(exc, KeyboardInterrupt):
            raise KeyboardInterrupt("interrupted while Brian2 compiled") from exc
        raise


def _execute(circuit, config, data, out, manifest, manifest_path, t_start, *, info, progress, log) -> None:
    import tempfile

    if config.verify is not None:
        from .equivalence import verify

        vc = config.verify
        vcirc = circuit.verification_circuit()
        results = {}
        for backend in vc.backends:
            # standalone targets build in a temporary folder that is removed afterwards (also on Ctrl-C)
            with tempfile.TemporaryDirectory(prefix="neuromorph-build-") as build_dir:
                rep = verify(vcirc, backend, n_trials=vc.samples or None, seed=config.seed, tolerance=vc.tolerance,
                             build_dir=build_dir)
            rep.timings.pop("build_dir", None)
            atomic_write_json(out / f"verify-{rep.backend}.json", rep.to_dict())  # strict JSON even if an error is NaN
            from .plots import verify_figures  # timeline (Brian2 over torch) and errors per phase/update

            verify_figures(vcirc, rep, out / "figures")
            log(rep.table())
            results[rep.backend] = {"passed": rep.passed, "max_rel_error": rep.max_rel_error, "seconds": rep.timings.get("brian_total_s")}
        manifest["verify"] = results
        manifest["timings"]["verify_s"] = time.perf_counter() - t_start
        atomic_write_json(manifest_path, manifest)

    trainer = None
    if config.train is not None:
        trainer = _train(circuit, config, data, out, info=info, progress=progress, log=log, manifest=manifest)
        atomic_write_json(manifest_path, manifest)
        _figures(circuit, trainer, data, out, log)

    if config.compare is not None:
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
        atomic_write_json(out / "compare.json", rep.to_dict())
        from .plots import compare_figures  # accuracy vs simulated time, spike raster

        compare_figures(rep, out / "figures")
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
        rep = read_json(path)
        lines += [f"## Brian2 ({rep['backend']}) vs torch float64",
                  f"{'PASSED' if rep['passed'] else 'FAILED'}: max relative error {rep['max_rel_error']:.2e} "
                  f"(tolerance {rep['tolerance']:g}) over {rep['n_trials']} trials and {rep['n_updates']} weight updates "
                  f"-> `{path.name}`", ""]
    if "final" in manifest:
        f = manifest["final"]
        if "test_r2" in f:  # a reconstruction trainer: R² of x̂, and its other figures
            others = ", ".join(f"{k} {f[k]:.4g}" for k in f if k.startswith(("test_", "train_")) and k not in ("test_r2", "train_r2"))
            what = (f"test R² (test_r2) {f['test_r2']:.4f}, train R² {f['train_r2']:.4f}" + (f"; {others}" if others else ""))
        else:
            what = f"test accuracy {100 * f['test_acc']:.2f} %, train accuracy {100 * f['train_acc']:.2f} %"
        lines += ["## Training", f"after {f['epoch']} epochs on {manifest['data']['dataset']}: {what} "
                  f"({manifest['timings'].get('train_s', 0):.1f} s of training) -> `metrics.jsonl`", ""]
    for w in manifest.get("warnings", []):
        lines += [f"**warning**: {w}", ""]
    cmp_path = out / "compare.md"
    if cmp_path.exists():
        lines += ["## Rate model vs spiking twin (`compare.json`)", "", cmp_path.read_text(), ""]
    figs = sorted((out / "figures").glob("*.png")) if (out / "figures").exists() else []
    if figs:
        lines += ["## Figures"] + [f"- `figures/{p.name}`" for p in figs] + [""]
    lines += [f"timings: {json.dumps({k: round(v, 2) if isinstance(v, float) else v for k, v in manifest['timings'].items()})}", ""]

    atomic_write_text(out / "report.md", "\n".join(lines))


# ---- training, with the numerical guard ----------------------------------------------------------------------
def _check_weights(weights: dict, epoch: int, samples: int | None) -> None:
    """DivergedError naming the first non-finite or exploding matrix."""
    for name, w in weights.items():
        w = np.asarray(w)
        if not np.issubdtype(w.dtype, np.number) or w.size == 0:
            continue
        finite = np.isfinite(w)
        where = f"epoch {epoch + 1}" + (f" (after {samples} training samples)" if samples is not None else "")
        if not finite.all():
            kind = "NaN" if np.isnan(w).any() else "inf"
            raise DivergedError(
                f"training diverged in {where}: weight {name!r} holds {kind} ({int((~finite).sum())} of {w.size} entries); "
                "lower the learning rates (params.lr*) and check the inputs' scale",
                epoch=epoch + 1, variable=name, samples=samples,
            )
        peak = float(np.abs(w).max())
        if peak > WEIGHT_LIMIT:
            raise DivergedError(
                f"training diverged in {where}: weight {name!r} reached |w| = {peak:.3g} (> {WEIGHT_LIMIT:g}); "
                "lower the learning rates (params.lr*) and check the inputs' scale",
                epoch=epoch + 1, variable=name, samples=samples,
            )


def _check_metrics(record: dict, epoch: int) -> None:
    for key, v in record.items():
        if isinstance(v, (float, np.floating)) and not math.isfinite(float(v)):
            raise DivergedError(
                f"training diverged in epoch {epoch + 1}: metric {key!r} is {float(v)}; "
                "lower the learning rates (params.lr*) and check the inputs' scale",
                epoch=epoch + 1, variable=key,
            )


def _timing_free(rows: list) -> list:
    """Metrics rows without their wall-clock figures (what two runs of one config must agree on)."""
    return [{k: v for k, v in r.items() if k not in ("train_seconds", "eval_seconds")} for r in rows]


def _train(circuit, config: RunConfig, data, out: Path, *, info, progress, log, manifest):
    import torch

    tc = config.train
    if tc.threads:
        torch.set_num_threads(tc.threads)
    options = circuit.check_trainer_options(config.trainer)
    trainer = circuit.make_trainer(data.n_features, data.n_classes, config.seed, **config.trainer)
    # what ran: the options with their defaults filled in, and what the trainer chose itself (e.g. the
    # sweep kernel an "auto" setting resolved to)
    manifest["backend"] = {
        "training": "torch",
        "torch_threads": torch.get_num_threads(),
        "trainer_options": json_safe({**options, **trainer.options()}),
    }
    ckpt = out / CHECKPOINT
    metrics_path = out / "metrics.jsonl"
    start_epoch = 0
    if info.get("checkpoint") is not None:
        state, meta = info["checkpoint"]
        trainer.load_state_dict(state)
        start_epoch = meta["epoch"]  # epochs are numbered from 1 in files and logs; the loop counts from 0
        # metrics lines of epochs after the checkpoint were not confirmed by it: drop them
        rows = [r for r in info["metrics"] if r["epoch"] <= meta["epoch"]]
        atomic_write_text(metrics_path, "".join(_jsonl_line(r) for r in rows))
        log(f"resuming from the checkpoint after epoch {meta['epoch']}")
    else:
        metrics_path.unlink(missing_ok=True)
        ckpt.unlink(missing_ok=True)
    rng = np.random.default_rng(config.seed)
    train_eval_idx = (
        rng.choice(len(data.y_train), size=tc.eval_train_subset, replace=False)
        if 0 < tc.eval_train_subset < len(data.y_train)
        else np.arange(len(data.y_train))
    )
    for epoch in range(start_epoch, tc.epochs):
        before = trainer.weights() if epoch == 0 else None
        t0 = time.perf_counter()
        bar = _progress(len(data.y_train), f"epoch {epoch + 1}/{tc.epochs}", progress)
        seen = [0, time.perf_counter()]

        def step(n, _epoch=epoch):
            bar.update(n)
            seen[0] += n
            now = time.perf_counter()
            if now - seen[1] >= GUARD_INTERVAL_S:  # cheap: a few checks per minute of training
                seen[1] = now
                _check_weights(trainer.weights(), _epoch, seen[0])

        try:
            extra = trainer.train_epoch(data.x_train, data.y_train, epoch, progress=step) or {}
        finally:
            bar.close()
        t_epoch = time.perf_counter() - t0
        weights = trainer.weights()
        _check_weights(weights, epoch, None)
        t1 = time.perf_counter()
        evaluated = _evaluates(tc, epoch)
        scores = _scores(trainer, data, train_eval_idx) if evaluated else {}
        t_eval = time.perf_counter() - t1
        record = {
            "epoch": epoch + 1,  # as the console prints it: epoch 1/E ... E/E
            **scores,
            "train_seconds": t_epoch,
            **({"eval_seconds": t_eval} if evaluated else {}),
            **extra,
            **trainer.epoch_metrics(),
        }
        _check_metrics(record, epoch)
        if before is not None and all(np.array_equal(before[k], weights[k]) for k in before):
            msg = "epoch 1 changed no weight: the learning rates may be 0 or no update ran; check params"
            manifest.setdefault("warnings", []).append(msg)
            log(f"warning: {msg}")
        append_jsonl(metrics_path, record)
        try:
            save_checkpoint(ckpt, trainer.state_dict(),
                            {"epoch": epoch + 1, "config_digest": manifest["config_digest"], "seed": config.seed,
                             "circuit": circuit.name})
        except UnstorableStateError as exc:
            raise NeuromorphError(
                f"{circuit.name}'s trainer state cannot be checkpointed ({exc}); this is a bug in the circuit's "
                "state_dict(), please report it"
            ) from exc
        head = headline_metric(trainer)
        train_key = "train_" + head[len("test_"):]
        if evaluated:
            log(f"epoch {epoch + 1}/{tc.epochs}: {head} {record[head]:.4f} {train_key} {record[train_key]:.4f} "
                f"({t_epoch:.1f} s + eval {t_eval:.1f} s)")
        else:
            log(f"epoch {epoch + 1}/{tc.epochs}: {t_epoch:.1f} s (evaluated every {tc.eval_every} epochs)")
    rows = read_jsonl(metrics_path)
    # the training time of a resumed run is that of the epochs that made its result, as metrics.jsonl lists
    manifest["timings"]["train_s"] = float(sum(r.get("train_seconds", 0.0) for r in rows))
    manifest["task"] = _task(trainer)
    if rows:
        keys = [k for k in rows[-1] if k.startswith(("test_", "train_")) and k != "train_seconds"]
        manifest["final"] = {"epoch": rows[-1]["epoch"], **{k: rows[-1][k] for k in keys}}
    from .weights import save_weights  # weights.npz: trained weights + circuit, params, config digest (compare --run)

    save_weights(out / "weights.npz", trainer.weights(), circuit, config_digest=config.digest())
    return trainer


def _evaluates(tc, epoch: int) -> bool:
    """Whether the epoch counted from 0 is scored: every ``eval_every``-th epoch and always the last, so a run's
    final figures (manifest, summaries) exist whatever the cadence."""
    return (epoch + 1) % tc.eval_every == 0 or epoch + 1 == tc.epochs


def _task(trainer) -> str:
    task = getattr(trainer, "task", "classification")
    if task not in TASKS:
        raise NeuromorphError(f"{type(trainer).__name__}.task = {task!r}; a trainer's task must be one of {list(TASKS)}")
    return task


def headline_metric(trainer_or_task) -> str:
    """The metrics.jsonl key a run is judged by: ``test_acc`` (classification) or ``test_r2`` (reconstruction)."""
    task = trainer_or_task if isinstance(trainer_or_task, str) else _task(trainer_or_task)
    return "test_r2" if task == "reconstruction" else "test_acc"


def _scores(trainer, data, train_eval_idx) -> dict:
    """test_/train_ figures of one epoch: accuracy of ``predict`` (classification) or every key of ``evaluate``
    (reconstruction), on the test set and the same training subset."""
    if _task(trainer) == "classification":
        return {
            "test_acc": _accuracy(trainer.predict(data.x_test), data.y_test),
            "train_acc": _accuracy(trainer.predict(data.x_train[train_eval_idx]), data.y_train[train_eval_idx]),
        }
    out = {}
    for split, x in (("test", data.x_test), ("train", data.x_train[train_eval_idx])):
        res = trainer.evaluate(x)
        if not isinstance(res, dict) or "r2" not in res:
            raise NeuromorphError(f"{type(trainer).__name__}.evaluate must return a dict with at least 'r2', got {res!r}")
        out.update({f"{split}_{k}": float(v) for k, v in res.items()})
    return out


def _jsonl_line(record: dict) -> str:
    import json

    from .io import json_safe

    return json.dumps(json_safe(record), allow_nan=False) + "\n"


# ---- reading a finished (or interrupted) run back -----------------------------------------------------------
def load_checkpoint(run_dir) -> dict:
    """The checkpoint of the results folder ``run_dir``, data only (never unpickled).

    Returns ``{"trainer": <the trainer's state_dict()>, "epoch": int (the last finished epoch, numbered from 1 as in metrics.jsonl and the log),
    "config_digest": str, "seed": int, "circuit": str, "format": ..., "version": ...}``. Raises
    CorruptFileError for a missing, truncated or legacy (pickle) checkpoint.
    """
    run_dir = Path(run_dir)
    path = run_dir / CHECKPOINT
    if not path.exists():
        if (run_dir / LEGACY_CHECKPOINT).exists():
            raise CorruptFileError(
                f"{run_dir / LEGACY_CHECKPOINT} is a pickle checkpoint of an older neuromorph; it is not loaded because "
                "unpickling can run arbitrary code. Rerun the config to get a checkpoint.npz"
            )
        raise CorruptFileError(f"{run_dir} has no {CHECKPOINT}: no epoch finished there (or it is not a results folder)")
    state, meta = read_checkpoint(path)
    return {**meta, "trainer": state}


def load_run(run_dir):
    """(config, circuit, trainer) of the results folder ``run_dir``, the trainer holding the checkpoint's state.

    The config is rebuilt from manifest.json and must have the digest recorded there and in the checkpoint.
    """
    run_dir = Path(run_dir)
    manifest_path = run_dir / "manifest.json"
    if not manifest_path.exists():
        raise CorruptFileError(f"{run_dir} has no manifest.json: not a neuromorph results folder (give the folder `run` wrote)")
    manifest = read_json(manifest_path)
    if not isinstance(manifest, dict) or "config" not in manifest:
        raise CorruptFileError(f"{manifest_path} is not a neuromorph manifest")
    config = config_from_dict(manifest["config"], source=str(manifest_path))
    if config.digest() != manifest.get("config_digest"):
        raise CorruptFileError(
            f"{manifest_path}: its config has digest {config.digest()}, the manifest says {manifest.get('config_digest')} "
            "(edited by hand?); rerun the config"
        )
    if config.train is None:
        raise ConfigError(f"{run_dir} is a run without [train]: it has no trained state to load")
    ck = load_checkpoint(run_dir)
    if ck.get("config_digest") != manifest["config_digest"] or ck.get("seed") != config.seed:
        raise CorruptFileError(
            f"{run_dir / CHECKPOINT} was written by config {ck.get('config_digest')} (seed {ck.get('seed')}), the manifest "
            f"is config {manifest['config_digest']} (seed {config.seed}); the folder mixes two runs"
        )
    circuit = get_circuit(config.circuit, **config.params)
    d = manifest.get("data", {})
    if "n_features" in d and "n_classes" in d:
        n_features, n_classes = int(d["n_features"]), int(d["n_classes"])
    else:  # manifests written before n_features/n_classes were recorded
        data = _load_data(circuit, config)
        n_features, n_classes = data.n_features, data.n_classes
    trainer = circuit.make_trainer(n_features, n_classes, config.seed, **config.trainer)
    trainer.load_state_dict(ck["trainer"])
    return config, circuit, trainer


def _figures(circuit, trainer, data, out: Path, log) -> None:
    """Learning curves and a phase timeline of one training sample's compartments."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figdir = out / "figures"
    figdir.mkdir(exist_ok=True)
    # epochs that were not evaluated (train.eval_every > 1) have no test_/train_ figures: the curves skip them
    every = read_jsonl(out / "metrics.jsonl")
    rows = [r for r in every if "test_acc" in r or "test_r2" in r]
    if rows:
        fig, ax = plt.subplots(figsize=(5, 3.2))
        ep = [r["epoch"] for r in rows]
        if "test_r2" in rows[0]:  # reconstruction: R² of x̂ (and the trainer's own fit R², if it logs one)
            ax.plot(ep, [r["test_r2"] for r in rows], "o-", label="test")
            ax.plot(ep, [r["train_r2"] for r in rows], "s--", label="train")
            if "fit_r2" in rows[0]:
                ax.plot(ep, [r["fit_r2"] for r in rows], ":", label="fit (learned latents)")
            ax.set_ylabel("R² of x̂")
        else:
            ax.plot(ep, [100 * r["test_acc"] for r in rows], "o-", label="test")
            ax.plot(ep, [100 * r["train_acc"] for r in rows], "s--", label="train")
            ax.set_ylabel("accuracy (%)")
        ax.set_xlabel("epoch")
        ax.set_title(f"{circuit.name}: learning curve")
        ax.legend()
        fig.tight_layout()
        _savefig(fig, figdir / "learning_curve.png")
        plt.close(fig)
        angle_keys = sorted(k for k in every[0] if k.startswith("angle"))  # measured after every epoch
        if angle_keys:
            fig, ax = plt.subplots(figsize=(5, 3.2))
            for k in angle_keys:
                ax.plot([r["epoch"] for r in every], [r[k] for r in every], "o-", label=k)
            ax.set_xlabel("epoch")
            ax.set_ylabel("degrees")
            ax.set_title("angle between forward and backward weights")
            ax.legend()
            fig.tight_layout()
            _savefig(fig, figdir / "angles.png")
            plt.close(fig)
    for path in trainer.figures(data, figdir) or []:  # the trainer's own (e.g. a learned dictionary)
        log(f"figure {path}")
    try:
        # a solver that is not the circuit (e.g. the smpc circuit's offline KSM solver) has other weights
        circuit.check_weights(trainer.weights())
    except ShapeError as exc:
        log(f"no phase timeline: the trainer's weights are not the circuit's ({exc})")
        return
    try:
        trial = circuit.trial_data(data.x_train[: circuit.schedule.trials_per_update], data.y_train[: circuit.schedule.trials_per_update])
        trace = circuit.simulate_reference(trainer.weights(), trial)
    except (NotImplementedError, ConfigError) as exc:
        # an optional figure: a circuit that cannot simulate this trained configuration (e.g. pHSIC's streaming
        # form has no cosine kernel; the batch trainer has) must not turn a finished training into a failed run
        log(f"no phase timeline: {exc}")
        return
    from .plots import phase_timeline

    phase_timeline(circuit, trace, figdir / "phase_timeline.png", title=f"{circuit.name}: trained network, samples of the first update window through the phases")


def _savefig(fig, path: Path) -> None:
    import io

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    atomic_write_bytes(path, buf.getvalue())
