"""Sweep kernels of the fast trainer: the Gauss-Seidel sweeps of one phase in three interchangeable forms.

:func:`sweeps_py` is the definition (plain torch, also valid TorchScript); "torchscript" is the same function
scripted (one call per phase that runs without the GIL, so the trainer's lanes integrate in parallel);
"cpp" is ``sweeps.cpp`` next to this file, the same arithmetic in the same order with fused element-wise
loops, compiled once per machine by ``torch.utils.cpp_extension``. All three give the same numbers (tested
in float64). :func:`onednn_available` probes oneDNN's pre-packed float32 GEMM, which the kernels call when the
trainer packs its matrices (``gemm="onednn"``).
"""

from __future__ import annotations

import warnings
from typing import List

import torch

from neuromorph.errors import ConfigError

__all__ = ["SWEEP_KERNELS", "NO_TENSOR", "onednn_available", "onednn_pack", "sweeps_py", "resolve_kernel"]

def onednn_available() -> bool:
    global _ONEDNN_PACK, _ONEDNN_LINEAR_ADD
    try:
        if not torch.backends.mkldnn.is_available():
            return False
        _ONEDNN_PACK = torch.ops.mkldnn._reorder_linear_weight._op
        _ONEDNN_LINEAR_ADD = torch.ops.mkldnn._linear_pointwise.binary._op
        w = torch.arange(6, dtype=torch.float32).reshape(3, 2)
        x = torch.ones(1, 2)
        e = torch.ones(1, 3)
        got = _ONEDNN_LINEAR_ADD(x, e, _ONEDNN_PACK(w, 1), None, "add")
        return bool(torch.equal(got, e + x @ w.T))
    except Exception:  # noqa: BLE001 - any failure means: use the BLAS path
        return False


_ONEDNN_PACK = None
_ONEDNN_LINEAR_ADD = None


def onednn_pack(matrix: torch.Tensor, rows: int) -> torch.Tensor:
    """oneDNN's packed form of an (out, in) float32 matrix for products with ``rows``-row inputs
    (after :func:`onednn_available` returned True)."""
    return _ONEDNN_PACK(matrix, rows)

_GEMM_CHOICE: dict[tuple, str] = {}


def faster_gemm(rows: int, k: int, n: int) -> str:
    """"onednn" or "blas": whichever computes E + r C faster here for an (rows, k) r and a (k, n) C, float32,
    one thread (how the sweep kernels call it), timed once per shape and process.

    Why measured, not fixed: on the AMD EPYC this trainer was tuned on, oneDNN's pre-packed AVX-512 kernel beat
    MKL's sgemm at these skinny shapes (20 x 500 x 510); on an Intel Xeon (Sapphire Rapids) MKL is ~25 % faster
    per epoch (experiments/corinfomax/results/bench_ratios.json). Interleaved repeats in CPU time, the fastest of
    each, so a busy machine biases both alike.
    """
    key = (rows, k, n)
    if key in _GEMM_CHOICE:
        return _GEMM_CHOICE[key]
    import time

    prev = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with torch.inference_mode():
            g = torch.Generator().manual_seed(0)
            r = torch.rand(rows, k, generator=g)
            c = torch.rand(k, n, generator=g)
            e = torch.rand(rows, n, generator=g)
            out = torch.empty(rows, n)
            ct = c.t().contiguous()

            # one batch's worth: oneDNN packs the matrix once per batch (it changes with every update), then
            # both paths do the 40 products of the T_free + T_nudged sweeps
            def onednn_batch():
                packed = onednn_pack(ct, rows)
                for _ in range(40):
                    _ONEDNN_LINEAR_ADD(r, e, packed, None, "add")

            def blas_batch():
                for _ in range(40):
                    torch.addmm(e, r, c, out=out)

            calls = {"onednn": onednn_batch, "blas": blas_batch}
            best = {name: float("inf") for name in calls}
            for _ in range(5):
                for name, fn in calls.items():
                    fn()
                    t0 = time.thread_time()  # this thread's CPU time: other processes on the cores do not count
                    fn()
                    fn()
                    best[name] = min(best[name], time.thread_time() - t0)
    finally:
        torch.set_num_threads(prev)
    _GEMM_CHOICE[key] = min(best, key=best.get)
    return _GEMM_CHOICE[key]


# placeholder for the unused index 0 of per-layer lists (TorchScript lists hold tensors only)
NO_TENSOR = torch.empty(0)


def sweeps_py(u: List[torch.Tensor], r: List[torch.Tensor], G: List[torch.Tensor], E: List[torch.Tensor],
               Wfbs: List[torch.Tensor], C: List[torch.Tensor], latp: torch.Tensor, mus: List[float],
               sizes: List[int], c_h: float, c_o: float, onednn: bool, sparse: bool, a: List[torch.Tensor],
               q: List[torch.Tensor], tmp: torch.Tensor, mu_a_h: float, mu_a_o: float, fused: bool = False,
               lat_a: float = 1.0, lat_g: float = 0.0, bas_a: float = 1.0, out_a: float = 1.0,
               out_d: float = 0.0) -> List[torch.Tensor]:
    """The Gauss-Seidel sweeps of one phase (module docstring), in place on u, r, a, q; returns G.

    Not ``fused``: G[k] = E[k] + r[k] C[k] holds the lateral term of layer k (for the next sweep) and the
    basal drive of layer k+1 (for this sweep), C[k] = [c gamma B_k + g I | W_ff{k}/eps]. ``C[k]`` is the
    oneDNN-packed (out, in) matrix when ``onednn``, else the plain (in, out) one.

    ``fused``: C[k] = [B_k | W_ff{k}] is the trainer's own weight storage (updated in place, never rebuilt),
    G[k] = r[k] C[k], and the scales are applied where the terms are used: lateral term
    E[k][:, :N_k] + lat_a G[k][:, :N_k] + lat_g r[k] (lat_a = c gamma, lat_g = g), basal drive
    E[k-1][:, N_{k-1}:] + bas_a G[k-1][:, N_{k-1}:] (bas_a = 1/eps); ``Wfbs[k]`` is W_fb{k} itself (feedback
    bas_a r[k+1] W_fb{k}) and ``latp`` is B_P itself (output's own term out_a r B_P + out_d r, out_a = gamma,
    out_d = g - beta). The same sums up to float rounding.

    Written in the TorchScript subset: scripted, the whole phase runs as one call that does not hold the
    GIL, so the lanes of the split layout integrate truly in parallel.
    """
    P = len(sizes) - 1
    for mu in mus:
        for k in range(1, P + 1):
            uk = u[k]
            if k < P:
                uk.addmm_(r[k + 1], Wfbs[k], beta=1.0 - mu * c_h, alpha=mu * bas_a if fused else mu)
                if fused:  # r[k] is still the one G[k] was computed from
                    lat = torch.add(E[k][:, : sizes[k]], G[k][:, : sizes[k]], alpha=lat_a)
                    uk.add_(lat.add_(r[k], alpha=lat_g), alpha=mu)
                else:
                    uk.add_(G[k][:, : sizes[k]], alpha=mu)
            elif fused:
                own = torch.mm(r[P], latp).mul_(out_a).add_(r[P], alpha=out_d)
                uk.mul_(1.0 - mu * c_o).add_(own, alpha=mu)
            else:
                uk.addmm_(r[P], latp, beta=1.0 - mu * c_o, alpha=mu)
            if k > 1:
                if fused:
                    uk.add_(torch.add(E[k - 1][:, sizes[k - 1]:], G[k - 1][:, sizes[k - 1]:], alpha=bas_a), alpha=mu)
                else:
                    uk.add_(G[k - 1][:, sizes[k - 1]:], alpha=mu)
            if sparse:
                uk.sub_(q[k], alpha=mu)
                torch.clamp(uk, min=0.0, out=r[k])
                # interneuron step with the new r[k] and the old q[k]
                mu_a = mu_a_h if k < P else mu_a_o
                torch.sum(r[k], dim=1, keepdim=True, out=tmp)
                tmp.add_(q[k]).sub_(1.0)
                a[k].mul_(1.0 - mu_a).add_(tmp, alpha=mu_a)
                torch.clamp(a[k], min=0.0, out=q[k])
            else:
                torch.clamp(uk, 0.0, 1.0, out=r[k])
            if k < P:
                if fused:
                    torch.mm(r[k], C[k], out=G[k])
                elif onednn:  # oneDNN with a pre-packed matrix (AVX-512 kernels on this CPU): a new tensor
                    G[k] = torch.ops.mkldnn._linear_pointwise(r[k], E[k], C[k], None, "add")
                else:
                    torch.addmm(E[k], r[k], C[k], out=G[k])
    return G


def _simd_flags() -> list[str]:
    """-mavx2 -mfma where this CPU has both (Linux /proc/cpuinfo), else nothing.

    Why: the sweep kernel's element-wise loops (leak + lateral + basal, the clamp) are ~5-10 % of an epoch;
    built for plain x86-64 they use 4-wide SSE and a scalar clamp, with AVX2 8-wide vectors (the clamp
    vectorises with blends). Explicit flags rather than -march=native: torch's extension cache keys the build
    on its flags, so a machine without AVX2 that shares the cache builds its own copy instead of loading one
    it cannot run. FMA contraction changes float rounding only (the kernels are tested to 1e-10 in float64).
    """
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    return ["-mavx2", "-mfma"] if {"avx2", "fma"} <= flags else []
    except OSError:
        pass
    return []


SWEEP_KERNELS = ("auto", "cpp", "torchscript", "python")
_KERNEL_CACHE: dict[str, object] = {}
_KERNEL_ERRORS: dict[str, str] = {}


def _load_kernel(kind: str):
    """The sweep function of one kind, or None (reason in ``_KERNEL_ERRORS``) where it cannot be had here.

    "python": :func:`sweeps_py` as is. "torchscript": the same function scripted (no GIL, less overhead).
    "cpp": ``sweeps.cpp`` next to this file, the same arithmetic with fused element-wise loops, compiled once
    per machine by ``torch.utils.cpp_extension`` (needs a C++ compiler and ninja; cached under
    ``$TORCH_EXTENSIONS_DIR`` or ~/.cache/torch_extensions).
    """
    if kind in _KERNEL_CACHE or kind in _KERNEL_ERRORS:
        return _KERNEL_CACHE.get(kind)
    fn = None
    try:
        if kind == "python":
            fn = sweeps_py
        elif kind == "torchscript":
            onednn_available()  # scripting resolves torch.ops.mkldnn at compile time
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # torch.jit.script's deprecation notice (torch >= 2.9)
                fn = torch.jit.script(sweeps_py)
        elif kind == "cpp":
            import logging
            from pathlib import Path

            # importing cpp_extension logs "No CUDA runtime is found" on CPU-only machines: irrelevant here
            log = logging.getLogger("torch.utils.cpp_extension")
            level = log.level
            log.setLevel(logging.ERROR)
            try:
                from torch.utils.cpp_extension import load

                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    load("neuromorph_corinfomax_sweeps", sources=[str(Path(__file__).with_name("sweeps.cpp"))],
                         extra_cflags=["-O3", *_simd_flags()], is_python_module=False, verbose=False)
            finally:
                log.setLevel(level)
            fn = torch.ops.neuromorph_corinfomax.sweeps
    except Exception as exc:  # noqa: BLE001 - reported by the trainer when this kind is asked for explicitly
        _KERNEL_ERRORS[kind] = f"{type(exc).__name__}: {str(exc).strip().splitlines()[-1] if str(exc).strip() else ''}"
        return None
    _KERNEL_CACHE[kind] = fn
    return fn


def resolve_kernel(kind: str = "auto") -> tuple[str, object]:
    """(name, function) of the sweep kernel: "auto" takes the first of cpp, torchscript, python that works."""
    if kind not in SWEEP_KERNELS:
        raise ConfigError(f"kernel must be one of {SWEEP_KERNELS}, got {kind!r}")
    for name in (("cpp", "torchscript", "python") if kind == "auto" else (kind,)):
        fn = _load_kernel(name)
        if fn is not None:
            return name, fn
    raise ConfigError(f"the {kind!r} sweep kernel is not available here ({_KERNEL_ERRORS.get(kind)}); "
                      "use kernel='auto' (falls back to TorchScript or plain Python)")
