"""Summaries of many runs: the tables the papers report (final-epoch mean ± std over seeds).

``neuromorph summarize DIR...`` reads run folders (or folders holding them, such as a sweep's ``--out-root``),
groups the runs whose configs differ only by seed (:meth:`RunConfig.group_digest`), and reports for each
group and metric the final-epoch mean, standard deviation (ddof 1), minimum, maximum and number of runs,
beside the paper's figure when the config has a ``[paper]`` table. It reads only JSON (manifest.json,
metrics.jsonl): nothing in a results folder is executed or unpickled.

Only complete runs enter the statistics; unfinished and failed ones are listed with the epoch they reached,
so a table never silently mixes 50-epoch and 20-epoch runs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .config import config_from_dict
from .errors import ConfigError
from .io import atomic_write_bytes, atomic_write_json, atomic_write_text, read_json, read_jsonl

__all__ = ["RunRecord", "GroupSummary", "find_runs", "load_run_record", "summarize", "write_summary", "headline_metrics"]

# metrics.jsonl keys that are bookkeeping, not results
_NOT_METRICS = {"epoch", "train_seconds", "eval_seconds"}


@dataclass
class RunRecord:
    """One run folder as summarize sees it."""

    path: Path
    name: str
    seed: int
    status: str
    group: str  # config digest without seed and name
    label: str  # the config's name without its -seed<N> suffix
    config: dict
    rows: list[dict]

    @property
    def epochs(self) -> int:
        return len(self.rows)


@dataclass
class GroupSummary:
    label: str
    group: str
    runs: list[RunRecord]
    incomplete: list[RunRecord] = field(default_factory=list)
    stats: dict[str, dict] = field(default_factory=dict)  # metric -> {mean, std, min, max, n, values}
    paper: dict | None = None

    def to_dict(self) -> dict:
        return {
            "label": self.label,
            "group_digest": self.group,
            "n_complete": len(self.runs),
            "runs": [{"name": r.name, "seed": r.seed, "path": str(r.path), "epochs": r.epochs} for r in self.runs],
            "incomplete": [{"name": r.name, "seed": r.seed, "status": r.status, "epochs": r.epochs} for r in self.incomplete],
            "final": self.stats,
            "paper": self.paper,
        }


def find_runs(paths) -> list[Path]:
    """Run folders (those holding a manifest.json) at or below each path (three levels deep at most)."""
    found: list[Path] = []
    for p in paths:
        p = Path(p)
        if not p.exists():
            raise ConfigError(f"{p} does not exist; give run folders or folders holding them (e.g. a sweep's --out-root)")
        if (p / "manifest.json").is_file():
            found.append(p)
            continue
        for pattern in ("*/manifest.json", "*/*/manifest.json", "*/*/*/manifest.json"):
            found.extend(m.parent for m in sorted(p.glob(pattern)))
    seen, out = set(), []
    for f in found:
        key = f.resolve()
        if key not in seen:
            seen.add(key)
            out.append(f)
    if not out:
        raise ConfigError(f"no run folders (with a manifest.json) under {[str(p) for p in paths]}")
    return out


def load_run_record(path: Path) -> RunRecord:
    fix = "delete or repair that run folder, or leave it out of the summary"
    manifest = read_json(path / "manifest.json", fix=fix)
    if "config" not in manifest:
        raise ConfigError(f"{path / 'manifest.json'} has no config: it was not written by `neuromorph run`")
    config = config_from_dict(manifest["config"], source=str(path / "manifest.json"))
    metrics = path / "metrics.jsonl"
    rows = read_jsonl(metrics, fix=fix) if metrics.exists() else []
    base = config.name or config.circuit
    suffix = f"-seed{config.seed}"
    label = base[: -len(suffix)] if base.endswith(suffix) else base
    return RunRecord(path, config.run_name, config.seed, manifest.get("status", "?"), config.group_digest(), label,
                     manifest["config"], rows)


def _stats(values: list[float]) -> dict:
    a = np.asarray(values, dtype=float)
    return {
        "mean": float(a.mean()),
        "std": float(a.std(ddof=1)) if len(a) > 1 else None,
        "min": float(a.min()),
        "max": float(a.max()),
        "n": int(len(a)),
        "values": [float(v) for v in a],
    }


def summarize(paths) -> list[GroupSummary]:
    """Group the runs under ``paths`` by config (without seed) and compute final-epoch statistics."""
    records = [load_run_record(p) for p in find_runs(paths)]
    groups: dict[str, GroupSummary] = {}
    for r in records:
        g = groups.setdefault(r.group, GroupSummary(r.label, r.group, []))
        (g.runs if r.status == "complete" and r.rows else g.incomplete).append(r)
    for g in groups.values():
        g.runs.sort(key=lambda r: r.seed)
        epochs = {r.epochs for r in g.runs}
        if len(epochs) > 1:
            raise ConfigError(
                f"runs of {g.label!r} are complete with different epoch counts {sorted(epochs)}; "
                "their configs should differ, check the run folders"
            )
        finals = [r.rows[-1] for r in g.runs]
        keys = sorted({k for f in finals for k, v in f.items() if k not in _NOT_METRICS and _is_number(v)})
        for k in keys:
            vals = [f[k] for f in finals if _is_number(f.get(k))]
            if vals:
                g.stats[k] = _stats(vals)
        paper = (g.runs or g.incomplete)[0].config.get("paper")
        g.paper = dict(paper) if paper else None
    _tell_apart(list(groups.values()))
    return sorted(groups.values(), key=lambda g: g.label)


def _flatten(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flatten(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def _tell_apart(groups: list[GroupSummary]) -> None:
    """Groups that share a name but not a config (runs of one config given different ``--set`` values, which,
    unlike ``--grid``, leave the run name alone) get the config keys that tell them apart appended to their
    label, e.g. ``fmnist_dense [params.revive_silent_output=20]``; a key one of them does not set reads
    ``default``. Without this their table rows and curves would carry the same label."""
    by_label: dict[str, list[GroupSummary]] = {}
    for g in groups:
        by_label.setdefault(g.label, []).append(g)
    for label, same in by_label.items():
        if len(same) < 2:
            continue
        flat = []
        for g in same:
            config = dict((g.runs or g.incomplete)[0].config)
            for key in ("seed", "name", "paper"):
                config.pop(key, None)
            flat.append(_flatten(config))
        missing = object()
        keys = sorted({k for f in flat for k in f if len({repr(other.get(k, missing)) for other in flat}) > 1})
        for g, f in zip(same, flat):
            g.label = f"{label} [{', '.join(f'{k}={f[k]}' if k in f else f'{k}=default' for k in keys)}]"


def headline_metrics(groups: list[GroupSummary]) -> tuple[str, ...]:
    """The metrics a summary shows when none is asked for: ``test_acc`` for classification runs, ``test_r2`` for
    reconstruction runs (whose metrics.jsonl has test_r2 and no test_acc), both if the groups mix them."""
    keys = {k for g in groups for r in (g.runs or g.incomplete)[:1] for row in r.rows[-1:] for k in row}
    out = tuple(m for m in ("test_acc", "test_r2") if m in keys)
    return out or ("test_acc",)


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _fmt(metric: str, v: float | None) -> str:
    if v is None:
        return "–"
    return f"{100 * v:.2f}" if metric.endswith("acc") else f"{v:.4g}"


def table(groups: list[GroupSummary], metrics: tuple[str, ...] = ("test_acc",)) -> str:
    """Markdown: one row per group and metric; accuracies in %."""
    lines = [
        "| config | metric | n | mean ± std (ddof 1) | min | max | seeds | paper | incomplete |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for g in groups:
        for m in metrics:
            s = g.stats.get(m)
            paper = ""
            if g.paper and g.paper.get("metric", "test_acc") == m and g.paper.get("value"):
                p = g.paper
                paper = _fmt(m, p["value"]) + (f" ± {_fmt(m, p['std'])}" if p.get("std") else "")
                if p.get("n"):
                    paper += f" (n = {p['n']})"
                if p.get("source"):
                    paper += f", {p['source']}"
            inc = ", ".join(f"s{r.seed}: {r.status} at {r.epochs} ep" for r in g.incomplete) or ""
            if s is None:
                lines.append(f"| {g.label} | {m} | 0 | – | – | – | – | {paper} | {inc} |")
                continue
            mean = _fmt(m, s["mean"]) + (f" ± {_fmt(m, s['std'])}" if s["std"] is not None else "")
            seeds = ", ".join(str(r.seed) for r in g.runs)
            lines.append(f"| {g.label} | {m} | {s['n']} | **{mean}** | {_fmt(m, s['min'])} | {_fmt(m, s['max'])} | {seeds} | {paper} | {inc} |")
    return "\n".join(lines)


def learning_curves(groups: list[GroupSummary], path: Path, metric: str = "test_acc") -> None:
    """Mean over seeds per epoch with a ±1 std band (and each seed thin), one line per group."""
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    scale = 100 if metric.endswith("acc") else 1
    for g in groups:
        curves = [np.array([r.get(metric, np.nan) for r in run.rows], dtype=float) for run in g.runs]
        if not curves:
            continue
        n = min(len(c) for c in curves)
        a = scale * np.stack([c[:n] for c in curves])
        # epochs no seed was evaluated at (train.eval_every > 1) are left out, so the line joins the ones that were
        scored = ~np.isnan(a).all(axis=0)
        a = a[:, scored]
        ep = np.arange(1, n + 1)[scored]
        (line,) = ax.plot(ep, a.mean(axis=0), lw=2, label=f"{g.label} (n = {len(curves)})")
        if len(curves) > 1:
            sd = a.std(axis=0, ddof=1)
            ax.fill_between(ep, a.mean(axis=0) - sd, a.mean(axis=0) + sd, color=line.get_color(), alpha=0.2)
        for c in a:
            ax.plot(ep, c, lw=0.5, color=line.get_color(), alpha=0.4)
        if g.paper and g.paper.get("metric", "test_acc") == metric and g.paper.get("value"):
            ax.axhline(scale * g.paper["value"], ls=":", color=line.get_color(), lw=1)
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("epoch")
    ax.set_ylabel(f"{metric} (%)" if scale == 100 else metric)
    ax.set_title(f"{metric}: mean over seeds, band ±1 std; dotted: paper")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    atomic_write_bytes(path, buf.getvalue())


def write_summary(groups: list[GroupSummary], out: Path, metrics: tuple[str, ...] = ("test_acc",)) -> dict[str, Path]:
    """summary.json, summary.md and learning_curves.png (one per metric) in ``out``."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out} is a file; give a folder")
    out.mkdir(parents=True, exist_ok=True)
    paths = {"json": out / "summary.json", "md": out / "summary.md"}
    atomic_write_json(paths["json"], {"metrics": list(metrics), "groups": [g.to_dict() for g in groups]})
    text = ["# Summary of runs", "", "Final epoch of each complete run; mean ± std over seeds (ddof 1). Accuracies in %.", "",
            table(groups, metrics), ""]
    for m in metrics:
        name = f"learning_curves_{m}.png"
        learning_curves(groups, out / name, m)
        paths[m] = out / name
        text.append(f"![{m}]({name})")
    atomic_write_text(paths["md"], "\n".join(text) + "\n")
    return paths
