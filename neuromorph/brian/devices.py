"""One place that selects and configures a Brian2 target.

Targets (the names users type):

========  ===================================================================================
numpy     runtime mode, numpy code generation (no compiler needed)
cython    runtime mode, Cython code generation (needs a C++ compiler; compiled once, then cached)
cpp       cpp_standalone: build one binary, then run it many times with ``run_args``
cuda      cuda_standalone (brian2cuda): nvcc with C++17, cuRAND from the ``nvidia-curand`` wheel;
          compiles without a GPU, runs only where one is present
========  ===================================================================================

:func:`activate` resets Brian2's device state and applies the target's preferences, so several models
can be built one after the other in one process (tests, sweeps).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sysconfig
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ..errors import BackendUnavailableError, ConfigError

__all__ = [
    "TARGETS", "activate", "check_target", "cuda_toolchain", "gpu_available", "target_status",
    "version_problem",
]

TARGETS = ("numpy", "cython", "cpp", "cuda")
STANDALONE = {"cpp": "cpp_standalone", "cuda": "cuda_standalone"}
_ALIASES = {"cpp_standalone": "cpp", "cuda_standalone": "cuda", "runtime": "numpy", "c++": "cpp"}


def normalise_target(target: str) -> str:
    t = _ALIASES.get(str(target).lower(), str(target).lower())
    if t not in TARGETS:
        raise ConfigError(f"unknown Brian2 backend {target!r}; choose one of {list(TARGETS)}")
    return t


def _cxx() -> str | None:
    return shutil.which(os.environ.get("CXX", "g++")) or shutil.which("c++")


@dataclass(frozen=True)
class CudaToolchain:
    nvcc: str
    cuda_path: str
    runtime_version: float
    curand_include: str
    curand_lib: str
    link_dir: str  # holds a libcurand.so link (the wheel ships only libcurand.so.10)


def _nvcc_version(nvcc: str) -> float:
    out = subprocess.run([nvcc, "--version"], capture_output=True, text=True, check=False).stdout
    m = re.search(r"release (\d+)\.(\d+)", out)
    if not m:
        raise BackendUnavailableError(f"could not read the CUDA version from `{nvcc} --version`: {out[:200]!r}")
    return float(f"{m.group(1)}.{m.group(2)}")


def _find_curand() -> tuple[str, str]:
    """Locate cuRAND headers and library: the nvidia-curand wheel first, then the CUDA toolkit."""
    candidates = []
    for base in {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}:
        for sub in ("nvidia/cu13", "nvidia/curand", "nvidia/cu12"):
            candidates.append(Path(base) / sub)
    nvcc = shutil.which("nvcc")
    if nvcc:
        root = Path(nvcc).resolve().parent.parent
        candidates += [root, root / "targets/x86_64-linux"]
    candidates += [Path("/usr/local/cuda")]
    for c in candidates:
        inc, lib = c / "include", None
        if not (inc / "curand.h").exists():
            continue
        for libdir in (c / "lib", c / "lib64"):
            if any(libdir.glob("libcurand.so*")):
                lib = libdir
                break
        if lib is not None:
            return str(inc), str(lib)
    raise BackendUnavailableError(
        "cuRAND headers/library not found (brian2cuda's generated code always includes curand.h); "
        "install them with `pip install nvidia-curand` (or `pip install neuromorph[cuda]`)"
    )


def cuda_toolchain() -> CudaToolchain:
    """The nvcc + cuRAND set-up brian2cuda needs, or a BackendUnavailableError saying what is missing."""
    try:
        import brian2cuda  # noqa: F401
    except ImportError as exc:  # pragma: no cover - brian2cuda is a hard dependency
        raise BackendUnavailableError(f"brian2cuda is not importable ({exc}); `pip install brian2cuda`") from exc
    nvcc = shutil.which("nvcc")
    if nvcc is None:
        cuda_home = os.environ.get("CUDA_PATH") or os.environ.get("CUDA_HOME") or "/usr/local/cuda"
        cand = Path(cuda_home) / "bin" / "nvcc"
        if cand.exists():
            nvcc = str(cand)
    if nvcc is None:
        raise BackendUnavailableError(
            "nvcc (the CUDA compiler) was not found on PATH, in $CUDA_PATH or /usr/local/cuda; install the "
            "CUDA toolkit (e.g. `pip install nvidia-cuda-nvcc` or your distribution's cuda-toolkit) and put "
            "its bin/ on PATH"
        )
    if _cxx() is None:
        raise BackendUnavailableError("nvcc needs a host C++ compiler; install g++ (`apt-get install g++`)")
    inc, lib = _find_curand()
    # The makefile links with -lcurand, which needs an unversioned libcurand.so; the wheel ships only
    # libcurand.so.10, so keep a private directory with the link.
    link_dir = Path(tempfile.gettempdir()) / f"neuromorph-curand-{os.getuid()}"
    link_dir.mkdir(exist_ok=True)
    target = sorted(Path(lib).glob("libcurand.so*"))[0]
    link = link_dir / "libcurand.so"
    if not link.exists() or link.resolve() != target.resolve():
        if link.is_symlink() or link.exists():
            link.unlink()
        link.symlink_to(target)
    return CudaToolchain(
        nvcc=nvcc,
        cuda_path=str(Path(nvcc).resolve().parent.parent),
        runtime_version=_nvcc_version(nvcc),
        curand_include=inc,
        curand_lib=lib,
        link_dir=str(link_dir),
    )


def gpu_available() -> tuple[bool, str]:
    """(True, description) if an NVIDIA GPU is visible through nvidia-smi."""
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return False, "no nvidia-smi on PATH (no NVIDIA driver)"
    r = subprocess.run([smi, "--query-gpu=name,compute_cap", "--format=csv,noheader"], capture_output=True, text=True)
    if r.returncode != 0 or not r.stdout.strip():
        return False, f"nvidia-smi found no GPU ({(r.stderr or r.stdout).strip()[:200]})"
    return True, r.stdout.strip().splitlines()[0]


def _installed_versions() -> tuple[str, str]:
    import brian2
    import numpy

    return brian2.__version__, numpy.__version__


# (brian2, numpy) -> problem or None: the probe runs once per process and installed pair.
_READS_CHECKED: dict[tuple[str, str], str | None] = {}


def _probe_runtime_reads() -> str | None:
    """Does data recorded on a runtime target, read the way neuromorph reads it, survive its monitor?

    Brian2 >= 2.10 keeps runtime monitor data in C++ DynamicArrays whose numpy views do not reference their
    owner, so a view kept past the monitor reads freed memory - with Brian2 2.10.1 + numpy >= 2.4 that gave
    1e265-size errors in `verify --backend numpy` (tests/test_brian_numpy_regression.py). This fills a
    DynamicArray the way a StateMonitor does, reads it with neuromorph's reader, frees it, reuses the heap and
    checks the values: microseconds, no code generation.
    """
    import numpy as np
    from brian2.memory.dynamicarray import DynamicArray

    from . import model

    expected = np.arange(20 * 3, dtype=float).reshape(20, 3) + 0.5  # (steps, recorded cells)
    arr = DynamicArray((0, 3), dtype=np.float64)
    for k in range(len(expected)):  # one row per time step, as the statemonitor template resizes
        arr.resize((k + 1, 3))
        arr[-1, :] = expected[k]
    got = model.monitor_values(arr.data.T)  # _collect reads M.v_, the transposed view
    del arr  # the last reference: the C++ buffer is freed here (no gc.collect needed, and it would cost 0.5 s)
    junk = [np.full(expected.size, np.nan) for _ in range(64)]  # noqa: F841 - reuse the freed block
    root = got
    while isinstance(root, np.ndarray) and root.base is not None:
        root = root.base
    if isinstance(root, np.ndarray) and not root.flags.owndata:
        return "recorded data would be read through views of memory freed with their monitor"
    if not np.array_equal(np.asarray(got).T, expected):
        return "recorded data read back after the run differ from what was recorded"
    return None


def version_problem(target: str) -> str | None:
    """Why the installed Brian2/numpy pair is known to give wrong numbers on ``target`` (one line), or None."""
    t = normalise_target(target)
    if t not in ("numpy", "cython"):  # standalone targets read their results from files into fresh arrays
        return None
    versions = _installed_versions()
    if versions not in _READS_CHECKED:
        _READS_CHECKED[versions] = _probe_runtime_reads()
    problem = _READS_CHECKED[versions]
    if problem is None:
        return None
    b, n = versions
    return (
        f"the {t} backend gives wrong numbers with brian2 {b} + numpy {n}: {problem}; "
        "fix: use --backend cpp, or reinstall the tested set (`pip install -e .`, see README: Install)"
    )


def check_target(target: str, *, need_gpu: bool = False) -> str:
    """Validate that ``target`` can run here; raise BackendUnavailableError naming what is missing."""
    t = normalise_target(target)
    problem = version_problem(t)
    if problem:
        raise BackendUnavailableError(problem)
    if t in ("cython", "cpp") and _cxx() is None:
        raise BackendUnavailableError(
            f"the {t} backend compiles C++ but no compiler was found (g++/c++); install one "
            "(`apt-get install g++`) or use --backend numpy"
        )
    if t == "cuda":
        cuda_toolchain()
        if need_gpu:
            ok, why = gpu_available()
            if not ok:
                raise BackendUnavailableError(
                    f"running cuda_standalone needs an NVIDIA GPU: {why}. The code still compiles here "
                    "(neuromorph verify ... --backend cuda --compile-only)"
                )
    return t


def target_status() -> dict[str, str]:
    """Human-readable availability of every target (for `neuromorph info`)."""
    status = {}
    for t in TARGETS:
        try:
            check_target(t)
            status[t] = "available"
        except BackendUnavailableError as exc:
            status[t] = f"unavailable: {exc}"
    if status["cuda"] == "available":
        ok, why = gpu_available()
        status["cuda"] = "available (compile and run; GPU: %s)" % why if ok else f"compile only ({why})"
    return status


OPT_LEVEL_ENV = "NEUROMORPH_OPT_LEVEL"


def _apply_opt_level(prefs) -> None:
    """Replace Brian2's ``-O3`` by ``-O<level>`` when the environment variable NEUROMORPH_OPT_LEVEL is set.

    Why: on small models the C++ compiler, not the simulation, takes the time (an empty-cache cython build
    of twocomp: 69 s at -O3, 35 s at -O0). The test suite sets level 0; users and benchmarks keep -O3. The
    equivalence tolerances hold at every level (the tests verify at -O0, the benchmarks at -O3).
    """
    level = os.environ.get(OPT_LEVEL_ENV)
    if not level:
        return
    if level not in ("0", "1", "2", "3", "s", "g"):
        raise ConfigError(f"{OPT_LEVEL_ENV}={level!r} is not a compiler optimisation level; use 0, 1, 2, 3, s or g")
    # -g0 as well: Python's own CFLAGS (which the cython target inherits) ask for debug information
    prefs.codegen.cpp.extra_compile_args_gcc = [
        f"-O{level}" if a.startswith("-O") else a for a in prefs.codegen.cpp.extra_compile_args_gcc
    ] + ["-g0"]


def activate(target: str, *, build_dir: str | os.PathLike | None = None, compute_capability: float = 9.0) -> str:
    """Reset Brian2 and make ``target`` the active device; returns the normalised target name.

    For standalone targets the build directory is created (a temporary one if None) and returned through
    :func:`brian2.get_device().project_dir` after the build.
    """
    import brian2
    from brian2 import prefs, set_device
    from brian2.devices.device import reinit_and_delete

    t = check_target(target)
    reinit_and_delete()
    prefs.reset_to_defaults()
    _apply_opt_level(prefs)
    brian2.defaultclock.dt = 0.1 * brian2.ms
    # Equivalence needs double precision everywhere (and is Brian's default).
    prefs.core.default_float_dtype = __import__("numpy").float64
    if t in ("numpy", "cython"):
        set_device("runtime")
        prefs.codegen.target = t
        return t
    if t == "cpp":
        set_device("cpp_standalone", build_on_run=False)
        prefs.devices.cpp_standalone.extra_make_args_unix = [f"-j{os.cpu_count() or 1}"]
        return t
    # cuda
    tc = cuda_toolchain()
    import brian2cuda  # noqa: F401  (registers the device)

    set_device("cuda_standalone", build_on_run=False)
    backend = prefs.devices.cuda_standalone.cuda_backend
    backend.cuda_path = tc.cuda_path
    backend.cuda_runtime_version = tc.runtime_version
    ok, _ = gpu_available()
    if not ok:
        # Cross-compile: brian2cuda otherwise asks nvidia-smi for the GPU's compute capability.
        backend.detect_gpus = False
        backend.gpu_id = 0
        backend.compute_capability = float(compute_capability)
    # CUDA 13's CCCL (Thrust/CUB) refuses C++ < 17; brian2cuda's makefile still says -std=c++11.
    if tc.runtime_version >= 13.0:
        backend.extra_compile_args_nvcc = list(backend.extra_compile_args_nvcc) + ["-std=c++17"]
        prefs.codegen.cpp.extra_compile_args_gcc = [
            "-std=c++17" if a == "-std=c++11" else a for a in prefs.codegen.cpp.extra_compile_args_gcc
        ]
    prefs.codegen.cpp.include_dirs = list(prefs.codegen.cpp.include_dirs) + [tc.curand_include]
    prefs.codegen.cpp.library_dirs = list(prefs.codegen.cpp.library_dirs) + [tc.link_dir, tc.curand_lib]
    prefs.codegen.cpp.runtime_library_dirs = list(prefs.codegen.cpp.runtime_library_dirs) + [tc.curand_lib]
    prefs.devices.cpp_standalone.extra_make_args_unix = [f"-j{os.cpu_count() or 1}"]
    return t

