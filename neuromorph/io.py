"""Small file helpers: everything neuromorph writes is written atomically, as strict JSON, honouring the umask.

A result file is either the old complete version or the new complete version, never half-written: write to
a temporary file in the same directory, flush and fsync, then ``os.replace`` (atomic on POSIX). The temporary
file comes from ``mkstemp`` (mode 0600); before the rename it gets the mode a plain ``open()`` would have
given it (0666 minus the umask), so results are as readable as any other file the user creates.

JSON is written strict (``allow_nan=False``): a non-finite float is written as the string ``"NaN"``,
``"Infinity"`` or ``"-Infinity"``, never as a bare ``NaN`` token that JSON parsers reject.

Readers (:func:`read_json`, :func:`read_jsonl`) turn an empty, truncated or unparsable file into one
:class:`~neuromorph.errors.CorruptFileError` that names the file.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
import time
from fnmatch import fnmatch
from pathlib import Path

import numpy as np

from .errors import CorruptFileError

__all__ = [
    "atomic_write_bytes",
    "atomic_write_text",
    "atomic_write_json",
    "atomic_save_npz",
    "append_jsonl",
    "read_json",
    "read_jsonl",
    "json_safe",
    "current_umask",
    "FAULT_DELAY_ENV",
]

# Fault-injection hook for the kill/resume tests: "PATTERN:SECONDS" makes every atomic write of a file whose
# name matches the glob PATTERN stop for SECONDS halfway through writing its temporary file, so a test can
# kill the process while a checkpoint is being written. Unset (the normal case) it costs one dict lookup.
FAULT_DELAY_ENV = "NEUROMORPH_FAULT_WRITE_DELAY"


def current_umask() -> int:
    """The process umask, read without changing it where the OS allows (Linux: /proc/self/status)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)  # portable fallback: read by setting, then restore at once
    os.umask(mask)
    return mask


def _fault_delay(name: str) -> float:
    spec = os.environ.get(FAULT_DELAY_ENV)
    if not spec:
        return 0.0
    pattern, _, seconds = spec.rpartition(":")
    try:
        return float(seconds) if fnmatch(name, pattern or "*") else 0.0
    except ValueError:
        return 0.0


def atomic_write_bytes(path, data: bytes) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            delay = _fault_delay(path.name)
            if delay:
                half = len(data) // 2
                f.write(data[:half])
                f.flush()
                time.sleep(delay)
                f.write(data[half:])
            else:
                f.write(data)
            f.flush()
            os.fchmod(f.fileno(), 0o666 & ~current_umask())
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def atomic_write_text(path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def json_safe(obj):
    """``obj`` with numpy values as Python ones and non-finite floats as strings (strict JSON can hold it)."""
    if isinstance(obj, dict):
        return {k: json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return json_safe(obj.tolist())
    if isinstance(obj, np.generic):
        return json_safe(obj.item())
    if isinstance(obj, float) and not math.isfinite(obj):
        return "NaN" if math.isnan(obj) else ("Infinity" if obj > 0 else "-Infinity")
    return obj


def _dumps(obj, **kw) -> str:
    return json.dumps(json_safe(obj), allow_nan=False, default=_json_default, **kw)


def atomic_write_json(path, obj) -> None:
    atomic_write_text(path, _dumps(obj, indent=2, sort_keys=False) + "\n")


def _json_default(o):
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"cannot write {type(o).__name__} to JSON")


def atomic_save_npz(path, arrays: dict) -> None:
    import io

    buf = io.BytesIO()
    np.savez(buf, **arrays)
    atomic_write_bytes(path, buf.getvalue())


def append_jsonl(path, record: dict) -> None:
    """Rewrite ``path`` atomically with ``record`` appended (files are small: one line per epoch)."""
    path = Path(path)
    old = path.read_text() if path.exists() else ""
    atomic_write_text(path, old + _dumps(record) + "\n")


def read_json(path, *, fix: str = "restore it or delete the folder that holds it"):
    """Parse a JSON file; an empty, truncated or invalid one raises CorruptFileError naming it."""
    path = Path(path)
    try:
        text = path.read_text()
    except UnicodeDecodeError as exc:
        raise CorruptFileError(f"{path} is not a text file ({exc.reason}); {fix}") from exc
    if not text.strip():
        raise CorruptFileError(f"{path} is empty; {fix}")
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise CorruptFileError(f"{path} is truncated or not valid JSON (line {exc.lineno}: {exc.msg}); {fix}") from exc


def read_jsonl(path, *, fix: str = "restore it or delete the folder that holds it") -> list:
    """One dict per non-empty line; a damaged line raises CorruptFileError naming the file and line."""
    path = Path(path)
    rows = []
    try:
        lines = path.read_text().splitlines()
    except UnicodeDecodeError as exc:
        raise CorruptFileError(f"{path} is not a text file ({exc.reason}); {fix}") from exc
    for i, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise CorruptFileError(f"{path} line {i} is truncated or not valid JSON ({exc.msg}); {fix}") from exc
        if not isinstance(row, dict):
            raise CorruptFileError(f"{path} line {i} is not a JSON object; {fix}")
        rows.append(row)
    return rows
