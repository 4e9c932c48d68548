"""Sweeps: many self-contained runs (config × seed × grid point -> results folder) handed to an engine.

Each run is independent and is skipped when its folder is already complete, so a sweep can be re-submitted
after a failure and only the missing runs execute. A failed run does not stop the others: the sweep lists
every failure with its error at the end.

Engines (all run :func:`neuromorph.runner.run` on one config per task):

* ``local`` (default): a pool of processes on this machine, ``workers × threads ≤ cores``. A run whose config
  leaves ``train.threads`` at 0 (torch's default: every core) gets ``cores // workers`` torch threads, so
  two workers on a 2-core machine do not each start 2 threads.
* ``submitit``: one SLURM job per run through submitit (``cluster="slurm"``); ``cluster="local"`` runs the
  same code path as local subprocesses, which is how it is tested here, and ``"debug"`` in this process.
* ``ray``: tasks on an *existing* Ray cluster (``address``, default ``"auto"``), one CPU per torch thread.

Seed batching (``seed_batch`` > 1, ``--seed-batch N``): where the circuit offers ``make_seed_batch`` (CorInfoMax),
up to N seeds of one config (same config but the seed, same epoch reached) become one task: one process trains
them with their matrices stacked (``circuits/corinfomax/seedbatch.py``), while every seed still runs
:func:`neuromorph.runner.run` into its own folder (manifest, metrics.jsonl, checkpoint, resume), each in a
thread of that process. Each seed's numbers are those of its single-seed run to rounding (float64: 1e-12).
"""

from __future__ import annotations

import itertools
import json
import os
import re
import time
import tomllib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from .config import RunConfig, config_from_dict
from .errors import BackendUnavailableError, ConfigError, NeuromorphError

__all__ = ["ENGINES", "SweepResult", "parse_seeds", "parse_grid", "expand", "expand_seeds", "run_sweep"]

ENGINES = ("local", "submitit", "ray")


@dataclass(frozen=True)
class SweepResult:
    """What happened to one run of a sweep."""

    name: str
    path: str
    status: str  # complete | skipped | failed
    seconds: float = 0.0
    error: str = ""


# ---- expanding a config into runs -------------------------------------------------------------------------------
def parse_seeds(items: Sequence[str | int]) -> list[int]:
    """``["0-9"]``, ``["0,3,5"]``, ``["1", "4"]`` -> the listed seeds, in order, without duplicates."""
    seeds: list[int] = []
    for item in items:
        for part in str(item).split(","):
            part = part.strip()
            if not part:
                continue
            m = re.fullmatch(r"(\d+)(?:-(\d+))?", part)
            if not m:
                raise ConfigError(f"--seeds: {part!r} is not a seed or a range; use e.g. --seeds 0-9 or --seeds 0,3,5")
            lo = int(m.group(1))
            hi = int(m.group(2)) if m.group(2) is not None else lo
            if hi < lo:
                raise ConfigError(f"--seeds: the range {part!r} is empty; write the smaller seed first (e.g. 0-9)")
            seeds.extend(s for s in range(lo, hi + 1) if s not in seeds)
    if not seeds:
        raise ConfigError("--seeds lists no seed; use e.g. --seeds 0-9")
    return seeds


def _split_top_level(text: str) -> list[str]:
    """Split on commas that are not inside brackets or quotes: ``1,[2,3],"a,b"`` -> 3 items."""
    out, depth, quote, cur = [], 0, "", []
    for ch in text:
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "\"'":
            quote = ch
        elif ch in "[{":
            depth += 1
        elif ch in "]}":
            depth -= 1
        elif ch == "," and depth == 0:
            out.append("".join(cur))
            cur = []
            continue
        cur.append(ch)
    out.append("".join(cur))
    return [s.strip() for s in out]


def _toml_value(text: str):
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text  # a bare word: a string


def parse_grid(items: Sequence[str]) -> list[tuple[str, list]]:
    """``["params.lr_xh=0.1,0.2", "params.sizes=[64,20,10],[64,40,10]"]`` -> [(key, [values...]), ...]."""
    grid = []
    for item in items or ():
        key, eq, text = item.partition("=")
        key = key.strip()
        if not eq or not key or not text.strip():
            raise ConfigError(f"--grid expects KEY=V1,V2,... (e.g. params.lr_xh=0.1,0.2), got {item!r}")
        if key in ("seed", "name"):
            raise ConfigError(f"--grid {key}: use --seeds for seeds; run names are derived from the grid")
        if any(k == key for k, _ in grid):
            raise ConfigError(f"--grid names {key!r} twice; give all its values in one --grid {key}=V1,V2")
        values = [_toml_value(v) for v in _split_top_level(text)]
        grid.append((key, values))
    return grid


def _nested(key: str, value) -> dict:
    node: dict = {}
    parts = key.split(".")
    cur = node
    for p in parts[:-1]:
        cur = cur.setdefault(p, {})
    cur[parts[-1]] = value
    return node


def _merge(base: dict, over: dict) -> dict:
    out = dict(base)
    for k, v in over.items():
        out[k] = _merge(out.get(k, {}), v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def _label(value) -> str:
    text = json.dumps(value) if not isinstance(value, str) else value
    return re.sub(r"[^A-Za-z0-9.+-]+", "_", text).strip("_") or "x"


def expand(config: RunConfig, seeds: Sequence[int], grid: Sequence[tuple[str, list]] = ()) -> list[RunConfig]:
    """One config per (grid point, seed). Each is re-validated, and named ``<base>[-key=value...]-seed<N>`` so
    it gets its own results folder."""
    from .circuit import circuit_label

    base = config.name or circuit_label(config.circuit)
    raw = config.to_dict()
    out = []
    keys = [k for k, _ in grid]
    for point in itertools.product(*(values for _, values in grid)) if grid else [()]:
        d = raw
        for key, value in zip(keys, point):
            d = _merge(d, _nested(key, value))
        tag = "".join(f"-{k.split('.')[-1]}={_label(v)}" for k, v in zip(keys, point))
        for s in seeds:
            cfg = config_from_dict({**d, "seed": int(s), "name": f"{base}{tag}-seed{int(s)}"}, source="sweep grid")
            out.append(cfg)
    return out


def expand_seeds(config: RunConfig, seeds) -> list[RunConfig]:
    """One config per seed (no grid)."""
    return expand(config, [int(s) for s in seeds])


# ---- running ----------------------------------------------------------------------------------------------------
def _is_complete(config: RunConfig, path: Path) -> bool:
    try:
        manifest = json.loads((path / "manifest.json").read_text())
    except (OSError, ValueError):
        return False
    return manifest.get("status") == "complete" and manifest.get("config_digest") == config.digest()


def _run_task(config: RunConfig, out: str, torch_threads: int) -> SweepResult:
    """Run one config (in whatever process the engine chose); never raises for the run's own failure."""
    t0 = time.perf_counter()
    try:
        if torch_threads and (config.train is None or not config.train.threads):
            import torch

            torch.set_num_threads(torch_threads)
        from .runner import run

        run(config, out, resume=True, progress=False, log=lambda *a, **k: None)
        return SweepResult(config.run_name, str(out), "complete", time.perf_counter() - t0)
    except KeyboardInterrupt:
        raise
    except BaseException as exc:  # noqa: BLE001 - a sweep reports every run's failure and goes on
        return SweepResult(config.run_name, str(out), "failed", time.perf_counter() - t0, f"{type(exc).__name__}: {exc}")


def _seed_batch_of(config: RunConfig):
    """The circuit's ``make_seed_batch`` when it can train seeds of this config stacked, else None."""
    if config.train is None or config.verify is not None or config.compare is not None:
        return None
    from .circuit import get_circuit

    try:
        circuit = get_circuit(config.circuit, **config.params)
    except Exception:  # noqa: BLE001 - the run itself reports a bad config, one at a time
        return None
    make = getattr(circuit, "make_seed_batch", None)
    return make if make is not None and circuit.supports_seed_batch(config.trainer) else None


def _start_epoch(out: str) -> int:
    """The epoch a run resumes from (0: no usable checkpoint), so that only runs in step are grouped."""
    from .runner import load_checkpoint

    try:
        return int(load_checkpoint(out).get("epoch", 0))
    except Exception:  # noqa: BLE001 - no or a broken checkpoint: the run starts over (or reports why)
        return 0


def _group_tasks(todo: list, seed_batch: int) -> list[list]:
    """The runs as tasks: seeds of one config in step grouped (at most ``seed_batch`` each), the rest alone."""
    if seed_batch <= 1:
        return [[item] for item in todo]
    groups: dict[str, list] = {}
    tasks: list[list] = []
    for cfg, out in todo:
        if _seed_batch_of(cfg) is None:
            tasks.append([(cfg, out)])
            continue
        key = json.dumps({**cfg.to_dict(), "seed": None, "name": None}, sort_keys=True, default=str)
        groups.setdefault(f"{key}|{_start_epoch(out)}", []).append((cfg, out))
    for items in groups.values():
        for lo in range(0, len(items), seed_batch):
            tasks.append(items[lo:lo + seed_batch])
    return tasks


def _run_tasks(task: list, torch_threads: int) -> list[SweepResult]:
    """Run one task (a run, or a group of seeds trained stacked); never raises for the runs' own failures."""
    if len(task) == 1:
        return [_run_task(task[0][0], task[0][1], torch_threads)]
    return _run_group(task, torch_threads)


def _run_group(task: list, torch_threads: int) -> list[SweepResult]:
    """Seeds of one config in one process: one thread per seed runs ``runner.run`` (its own folder), the
    circuit hands each its slice of one seed batch, and their training/evaluation calls meet in a Lockstep."""
    import threading

    from circuits.corinfomax.seedbatch import Lockstep, bind  # the only circuit with make_seed_batch today

    cfg0 = task[0][0]
    if torch_threads and not _threads(cfg0):
        import torch

        torch.set_num_threads(torch_threads)
    t0 = time.perf_counter()
    try:
        batch = _seed_batch_of(cfg0)([c.seed for c, _ in task], **cfg0.trainer)
    except Exception as exc:  # noqa: BLE001 - every seed of the group fails with the same reason
        return [SweepResult(c.run_name, str(o), "failed", 0.0, f"seed batch: {type(exc).__name__}: {exc}") for c, o in task]
    lock = Lockstep(batch)
    results: list[SweepResult | None] = [None] * len(task)

    def one(i: int) -> None:
        cfg, out = task[i]
        bind({cfg.seed: batch.members[i]})
        try:
            from .runner import run

            run(cfg, out, resume=True, progress=False, log=lambda *a, **k: None)
            results[i] = SweepResult(cfg.run_name, str(out), "complete", time.perf_counter() - t0)
        except BaseException as exc:  # noqa: BLE001 - reported per run, like a single run's failure
            results[i] = SweepResult(cfg.run_name, str(out), "failed", time.perf_counter() - t0, f"{type(exc).__name__}: {exc}")
        finally:
            lock.leave(i)  # the others go on without this seed
            bind(None)

    threads = [threading.Thread(target=one, args=(i,), name=f"seed{c.seed}") for i, (c, _) in enumerate(task)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    return [r for r in results if r is not None]


def _threads(config: RunConfig) -> int:
    return config.train.threads if config.train is not None and config.train.threads else 0


def _validate_all(configs: Sequence[RunConfig]) -> None:
    """The runner's data-free checks on each distinct config (one per grid point: seeds do not change what is
    checked) before anything starts, so a wrong grid key or value is one error naming the run, not a failure
    of every run of the sweep after the others have started."""
    from .runner import validate_run

    seen = set()
    for c in configs:
        key = c.group_digest()
        if key in seen:
            continue
        seen.add(key)
        try:
            validate_run(c, check_memory=False)
        except NeuromorphError as exc:
            raise type(exc)(f"{c.run_name}: {exc} (nothing of the sweep was started)") from exc


def run_sweep(
    configs: Sequence[RunConfig],
    out_root="results",
    *,
    engine: str = "local",
    workers: int | None = None,
    cores: int | None = None,
    cluster: str = "slurm",
    address: str = "auto",
    on_result: Callable[[SweepResult], None] | None = None,
    seed_batch: int = 1,
) -> list[SweepResult]:
    """Run every config into ``out_root/<run name>``; return one :class:`SweepResult` per config, in order.

    Complete runs (same config digest, status ``complete``) are skipped; unfinished ones resume from their
    checkpoint. ``on_result`` is called as each run ends (the CLI prints a line carrying the run's name).
    ``seed_batch`` > 1 trains up to that many seeds of one config stacked in one task (module docstring).
    """
    if not isinstance(seed_batch, int) or seed_batch < 1:
        raise ConfigError(f"--seed-batch must be an integer >= 1 (1: every seed in its own task), got {seed_batch!r}")
    if engine not in ENGINES:
        raise ConfigError(f"unknown sweep engine {engine!r}; choose one of {list(ENGINES)}")
    names = [c.run_name for c in configs]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise ConfigError(f"the sweep would write several runs into the same folder {dup}; give each config its own name")
    cores = cores or os.cpu_count() or 1
    explicit = max((_threads(c) for c in configs), default=0)
    if workers is None:
        workers = max(1, cores // max(1, explicit))
    if workers < 1:
        raise ConfigError(f"--workers must be >= 1, got {workers}")
    if engine == "local" and workers * max(1, explicit) > cores:
        raise ConfigError(
            f"{workers} workers x {explicit} torch threads > {cores} cores; lower --workers to "
            f"{max(1, cores // explicit)} or set train.threads (the local engine keeps workers x threads <= cores)"
        )
    _validate_all(configs)
    # Runs that leave train.threads at 0 share the cores evenly instead of each taking all of them.
    torch_threads = max(1, cores // workers)
    report = on_result or (lambda r: None)

    results: dict[str, SweepResult] = {}
    todo = []
    for c in configs:
        path = Path(out_root) / c.run_name
        if _is_complete(c, path):
            results[c.run_name] = SweepResult(c.run_name, str(path), "skipped")
            report(results[c.run_name])
        else:
            todo.append((c, str(path)))

    if todo:
        todo = _group_tasks(todo, seed_batch)
        if seed_batch > 1 and engine == "local" and len(todo) < workers and not explicit:
            # fewer (grouped) tasks than workers: each task gets the cores the idle workers would have had
            workers = len(todo)
            torch_threads = max(1, cores // workers)
        runner = {"local": _run_local, "submitit": _run_submitit, "ray": _run_ray}[engine]
        kwargs = {"local": dict(workers=workers), "submitit": dict(cluster=cluster, folder=Path(out_root) / ".submitit"),
                  "ray": dict(address=address)}[engine]
        for res in runner(todo, torch_threads, report, **kwargs):
            results[res.name] = res
    return [results[n] for n in names]


def _run_local(todo, torch_threads, report, *, workers):
    if workers == 1:  # in this process: simplest, and a debugger can step into the run
        for task in todo:
            for res in _run_tasks(task, torch_threads):
                report(res)
                yield res
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    # spawn: a fresh interpreter per worker (no forked torch thread pools or Brian2 device state)
    with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = [pool.submit(_run_tasks, task, torch_threads) for task in todo]
        for fut in as_completed(futures):
            for res in fut.result():
                report(res)
                yield res


def _run_submitit(todo, torch_threads, report, *, cluster, folder):
    try:
        import submitit
    except ImportError as exc:
        raise BackendUnavailableError(
            "the submitit engine needs submitit: `pip install neuromorph[distributed]` (or `pip install submitit`)"
        ) from exc
    if cluster not in ("slurm", "local", "debug"):
        raise ConfigError(f"unknown submitit cluster {cluster!r}; choose slurm, local or debug")
    executor = submitit.AutoExecutor(folder=str(folder), cluster=cluster)
    params = {"timeout_min": 24 * 60}
    if cluster == "slurm":
        params["slurm_cpus_per_task"] = torch_threads
    executor.update_parameters(**params)
    jobs = executor.map_array(_run_tasks, todo, [torch_threads] * len(todo))
    for job, task in zip(jobs, todo):
        try:
            got = job.result()
        except Exception as exc:  # noqa: BLE001 - the job itself died (node failure, timeout)
            got = [SweepResult(cfg.run_name, out, "failed", 0.0, f"submitit job {job.job_id}: {type(exc).__name__}: {exc}")
                   for cfg, out in task]
        for res in got:
            report(res)
            yield res


def _run_ray(todo, torch_threads, report, *, address):
    try:
        import ray
    except ImportError as exc:
        raise BackendUnavailableError("the ray engine needs Ray: `pip install neuromorph[distributed]` (or `pip install ray`)") from exc
    if not ray.is_initialized():
        try:
            ray.init(address=address)
        except ConnectionError as exc:
            raise BackendUnavailableError(
                f"no Ray cluster at address {address!r} ({exc}); start one with `ray start --head` or pass --ray-address"
            ) from exc
    remote = ray.remote(num_cpus=torch_threads)(_run_tasks)
    refs = {remote.remote(task, torch_threads): task for task in todo}
    pending = list(refs)
    while pending:
        done, pending = ray.wait(pending, num_returns=1)
        for res in ray.get(done[0]):
            report(res)
            yield res


def describe(results: Sequence[SweepResult]) -> str:
    """The closing lines of a sweep: counts, then each failure with its error."""
    counts = {s: sum(r.status == s for r in results) for s in ("complete", "skipped", "failed")}
    lines = [f"sweep: {counts['complete']} complete, {counts['skipped']} skipped (already complete), {counts['failed']} failed"]
    for r in results:
        if r.status == "failed":
            lines.append(f"  FAILED {r.name} ({r.path}): {r.error}")
    return "\n".join(lines)

