"""Checkpoints that hold data only: one ``.npz`` of plain arrays plus a JSON description, never a pickle.

A trainer's ``state_dict()`` is any nesting of dicts, lists and tuples whose leaves are numpy arrays, numpy
scalars, torch tensors, Python numbers, strings, booleans or None. :func:`encode_state` walks it once:
every array-like leaf becomes an npz entry ``a<N>`` (stored bit for bit), and the nesting becomes a JSON
tree that refers to those entries. The JSON (with the run's config digest, seed and epoch) is stored in the
same npz as a uint8 array under ``__neuromorph__``, so one atomic write replaces the whole checkpoint and
``np.load(..., allow_pickle=False)`` reads it back: loading a checkpoint cannot execute code.

JSON nodes: a dict is ``{"__dict__": {key: node}}`` (keys must be strings), a tuple ``{"__tuple__": [...]}``,
a list a JSON list, an array ``{"__array__": "a3"}``, a tensor ``{"__tensor__": "a4"}`` (restored on the
CPU with its dtype), a numpy scalar ``{"__scalar__": "a5"}``, a non-finite float ``{"__float__": "nan"}``;
finite floats, ints, strings, booleans and None are stored as themselves (Python writes floats in JSON
with round-trip precision, so they come back identical).
"""

from __future__ import annotations

import io
import json
import math
import zipfile
from pathlib import Path

import numpy as np

from .errors import CorruptFileError
from .io import atomic_write_bytes

__all__ = ["FORMAT", "VERSION", "META_KEY", "encode_state", "decode_state", "save_checkpoint", "read_checkpoint"]

FORMAT = "neuromorph-checkpoint"
VERSION = 1
META_KEY = "__neuromorph__"


class UnstorableStateError(TypeError):
    """A trainer's state holds a value the data-only checkpoint cannot represent (names where)."""


def _is_tensor(obj) -> bool:
    return type(obj).__module__.startswith("torch") and hasattr(obj, "detach") and hasattr(obj, "numpy")


def encode_state(state) -> tuple[object, dict[str, np.ndarray]]:
    """(JSON tree, arrays) for a nested state; raises UnstorableStateError naming the offending entry."""
    arrays: dict[str, np.ndarray] = {}

    def put(arr: np.ndarray, where: str) -> str:
        if arr.dtype.hasobject:
            raise UnstorableStateError(f"state{where}: an array of Python objects cannot be stored without pickle")
        key = f"a{len(arrays)}"
        arrays[key] = arr
        return key

    def enc(obj, where: str):
        if obj is None or isinstance(obj, (bool, str)):
            return obj
        if isinstance(obj, int):
            return obj
        if isinstance(obj, float):
            if math.isfinite(obj):
                return obj
            return {"__float__": "nan" if math.isnan(obj) else ("inf" if obj > 0 else "-inf")}
        if isinstance(obj, np.ndarray):
            return {"__array__": put(np.ascontiguousarray(obj), where)}
        if isinstance(obj, np.generic):
            return {"__scalar__": put(np.asarray(obj), where)}
        if _is_tensor(obj):
            try:
                arr = obj.detach().cpu().numpy()
            except TypeError as exc:  # e.g. bfloat16 has no numpy dtype
                raise UnstorableStateError(f"state{where}: torch tensor of dtype {obj.dtype} has no numpy form ({exc})") from exc
            return {"__tensor__": put(np.ascontiguousarray(arr).copy(), where)}
        if isinstance(obj, dict):
            bad = [k for k in obj if not isinstance(k, str)]
            if bad:
                raise UnstorableStateError(f"state{where}: dict keys must be strings, got {bad[:3]!r}")
            return {"__dict__": {k: enc(v, f"{where}[{k!r}]") for k, v in obj.items()}}
        if isinstance(obj, tuple):
            return {"__tuple__": [enc(v, f"{where}[{i}]") for i, v in enumerate(obj)]}
        if isinstance(obj, list):
            return [enc(v, f"{where}[{i}]") for i, v in enumerate(obj)]
        raise UnstorableStateError(
            f"state{where}: a {type(obj).__module__}.{type(obj).__name__} cannot be stored in a data-only checkpoint "
            "(state_dict() must hold arrays, tensors, numbers, strings, None and dicts/lists of them)"
        )

    return enc(state, ""), arrays


def decode_state(tree, arrays: dict[str, np.ndarray]):
    """Inverse of :func:`encode_state`."""

    def dec(node):
        if isinstance(node, list):
            return [dec(v) for v in node]
        if not isinstance(node, dict):
            return node
        if "__dict__" in node:
            return {k: dec(v) for k, v in node["__dict__"].items()}
        if "__tuple__" in node:
            return tuple(dec(v) for v in node["__tuple__"])
        if "__array__" in node:
            return arrays[node["__array__"]]
        if "__scalar__" in node:
            return arrays[node["__scalar__"]][()]
        if "__tensor__" in node:
            import torch

            return torch.from_numpy(np.array(arrays[node["__tensor__"]]))
        if "__float__" in node:
            return float(node["__float__"])
        raise ValueError(f"unknown checkpoint node {sorted(node)}")

    return dec(tree)


def save_checkpoint(path, state, meta: dict) -> None:
    """Write ``state`` and ``meta`` (JSON-able: epoch, config digest, seed, ...) atomically to ``path``."""
    tree, arrays = encode_state(state)
    doc = {"format": FORMAT, "version": VERSION, **meta, "state": tree}
    arrays[META_KEY] = np.frombuffer(json.dumps(doc, allow_nan=False).encode("utf-8"), dtype=np.uint8)
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    atomic_write_bytes(path, buf.getvalue())


def read_checkpoint(path) -> tuple[object, dict]:
    """(state, meta) from a checkpoint written by :func:`save_checkpoint`; never unpickles anything.

    An empty, truncated or foreign file raises CorruptFileError naming it.
    """
    path = Path(path)
    fix = "delete it to restart this run from epoch 1 (pass --resume), or rerun into a new --out"
    if path.stat().st_size == 0:
        raise CorruptFileError(f"checkpoint {path} is empty; {fix}")
    try:
        with np.load(path, allow_pickle=False) as f:
            arrays = {k: f[k] for k in f.files}
    except (zipfile.BadZipFile, EOFError, OSError, ValueError, KeyError) as exc:
        raise CorruptFileError(f"checkpoint {path} is truncated or not a neuromorph checkpoint ({exc}); {fix}") from exc
    if META_KEY not in arrays:
        raise CorruptFileError(f"checkpoint {path} has no {META_KEY} entry: not written by neuromorph; {fix}")
    try:
        doc = json.loads(arrays.pop(META_KEY).tobytes().decode("utf-8"))
        if doc.get("format") != FORMAT:
            raise ValueError(f"format {doc.get('format')!r}")
        if doc.get("version") != VERSION:
            raise ValueError(f"version {doc.get('version')!r}, this neuromorph reads version {VERSION}")
        state = decode_state(doc.pop("state"), arrays)
    except (ValueError, KeyError, UnicodeDecodeError, AttributeError) as exc:
        raise CorruptFileError(f"checkpoint {path} has an unreadable description ({exc}); {fix}") from exc
    return state, doc
