"""Brian2 targets: missing tools give BackendUnavailableError naming the tool and the fix; CUDA code compiles
without a GPU (slow, cuda_compile) and runs equal to torch where a GPU is present (gpu)."""

import os
import re
import shutil
from pathlib import Path

import pytest

import neuromorph.brian.devices as devices
from neuromorph.brian.devices import check_target, cuda_toolchain, gpu_available, normalise_target, target_status
from neuromorph.errors import BackendUnavailableError, ConfigError

_real_which = shutil.which


@pytest.fixture
def empty_path(tmp_path, monkeypatch):
    """PATH with nothing on it (and no $CXX / CUDA env pointing elsewhere)."""
    empty = tmp_path / "empty_bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    for var in ("CXX", "CUDA_PATH", "CUDA_HOME"):
        monkeypatch.delenv(var, raising=False)
    return empty


def test_normalise_target():
    assert [normalise_target(t) for t in ("NumPy", "cpp_standalone", "cuda_standalone", "runtime", "c++")] == [
        "numpy", "cpp", "cuda", "numpy", "cpp"]
    with pytest.raises(ConfigError, match="unknown Brian2 backend 'nope'.*numpy"):
        normalise_target("nope")


@pytest.mark.parametrize("target", ["cython", "cpp"])
def test_missing_compiler(empty_path, target):
    assert devices._cxx() is None
    with pytest.raises(BackendUnavailableError) as exc:
        check_target(target)
    msg = str(exc.value)
    assert "g++" in msg and target in msg and "--backend numpy" in msg
    assert check_target("numpy") == "numpy"  # numpy needs no compiler


def test_missing_compiler_through_verify(empty_path):
    from circuits.twocomp import TwoComp
    from neuromorph.equivalence import verify

    with pytest.raises(BackendUnavailableError, match="g\\+\\+"):
        verify(TwoComp(), "cpp", n_trials=4)


def test_cxx_env_is_honoured(empty_path, monkeypatch):
    fake = empty_path / "my-cxx"
    fake.write_text("#!/bin/sh\n")
    fake.chmod(0o755)
    monkeypatch.setenv("CXX", "my-cxx")
    assert devices._cxx() == str(fake)
    assert check_target("cpp") == "cpp"


def test_missing_nvcc(empty_path, tmp_path, monkeypatch):
    cuda = tmp_path / "no_cuda_here"
    cuda.mkdir()
    monkeypatch.setenv("CUDA_PATH", str(cuda))
    with pytest.raises(BackendUnavailableError) as exc:
        cuda_toolchain()
    msg = str(exc.value)
    assert "nvcc" in msg and "pip install nvidia-cuda-nvcc" in msg and "PATH" in msg
    with pytest.raises(BackendUnavailableError, match="nvcc"):
        check_target("cuda")
    status = target_status()
    assert status["cuda"].startswith("unavailable:") and "nvcc" in status["cuda"]


def test_nvcc_found_through_cuda_path(empty_path, tmp_path, monkeypatch):
    """No nvcc on PATH, but $CUDA_PATH/bin/nvcc exists: it is used (the next missing piece is reported)."""
    cuda = tmp_path / "cuda"
    (cuda / "bin").mkdir(parents=True)
    (cuda / "bin" / "nvcc").write_text("#!/bin/sh\n")
    monkeypatch.setenv("CUDA_PATH", str(cuda))
    with pytest.raises(BackendUnavailableError) as exc:
        cuda_toolchain()
    assert "nvcc was not found" not in str(exc.value) and "(the CUDA compiler) was not found" not in str(exc.value)
    assert "g++" in str(exc.value)  # PATH is empty, so the host compiler is what is missing now


@pytest.fixture
def no_curand(tmp_path, monkeypatch):
    """nvcc 'found' in an empty toolkit, no cuRAND in site-packages."""
    if (Path("/usr/local/cuda/include") / "curand.h").exists():
        pytest.skip("/usr/local/cuda has cuRAND (a fixed search location); cannot hide it here")
    site = tmp_path / "site"
    site.mkdir()
    monkeypatch.setattr(devices.sysconfig, "get_paths", lambda *a, **k: {"purelib": str(site), "platlib": str(site)})
    toolkit = tmp_path / "toolkit"
    (toolkit / "bin").mkdir(parents=True)
    (toolkit / "include").mkdir()
    (toolkit / "bin" / "nvcc").write_text("#!/bin/sh\n")
    monkeypatch.setattr(shutil, "which", lambda name, *a, **k: str(toolkit / "bin" / "nvcc") if name == "nvcc" else _real_which(name, *a, **k))
    if devices._cxx() is None:
        pytest.skip("no host C++ compiler (cuda_toolchain reports that first)")
    return site


def test_missing_curand(no_curand):
    with pytest.raises(BackendUnavailableError) as exc:
        devices._find_curand()
    msg = str(exc.value)
    assert "curand.h" in msg and "pip install nvidia-curand" in msg
    with pytest.raises(BackendUnavailableError, match="nvidia-curand"):
        cuda_toolchain()


def test_curand_found_in_wheel_layout(no_curand):
    """The nvcc-13 wheel layout (nvidia/cu13/{include,lib}) is found, with only a versioned .so."""
    base = no_curand / "nvidia" / "cu13"
    (base / "include").mkdir(parents=True)
    (base / "lib").mkdir()
    (base / "include" / "curand.h").write_text("")
    with pytest.raises(BackendUnavailableError):  # header without library is not enough
        devices._find_curand()
    (base / "lib" / "libcurand.so.10").write_text("")
    assert devices._find_curand() == (str(base / "include"), str(base / "lib"))


def test_need_gpu_without_gpu():
    ok, why = gpu_available()
    if ok:
        pytest.skip(f"a GPU is present ({why})")
    try:
        cuda_toolchain()
    except BackendUnavailableError as exc:
        pytest.skip(f"no CUDA toolchain: {exc}")
    with pytest.raises(BackendUnavailableError) as exc:
        check_target("cuda", need_gpu=True)
    msg = str(exc.value)
    assert "GPU" in msg and "--compile-only" in msg
    assert check_target("cuda") == "cuda"  # compiling needs no GPU


def test_gpu_available_without_driver(monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name, *a, **k: None if name == "nvidia-smi" else _real_which(name, *a, **k))
    ok, why = gpu_available()
    assert ok is False and "nvidia-smi" in why


def test_target_status():
    status = target_status()
    assert set(status) == {"numpy", "cython", "cpp", "cuda"}
    assert status["numpy"] == "available"
    for t in ("cython", "cpp"):
        if devices._cxx():
            assert status[t] == "available"
        else:
            assert status[t].startswith("unavailable:") and "g++" in status[t]
    assert re.match(r"available|compile only|unavailable:", status["cuda"])


def test_target_status_without_compiler(empty_path):
    status = target_status()
    assert status["numpy"] == "available"
    assert status["cython"].startswith("unavailable:") and "g++" in status["cython"]
    assert status["cpp"].startswith("unavailable:") and "g++" in status["cpp"]


# ---- CUDA: compile without a GPU; run where there is one -----------------------------------------------
def _toolchain_or_skip():
    try:
        return cuda_toolchain()
    except BackendUnavailableError as exc:
        pytest.skip(f"CUDA toolchain unavailable: {exc}")


@pytest.mark.slow
@pytest.mark.cuda_compile
def test_cuda_compile_only(cuda_builds):
    """The nvcc build of a circuit (shared with tests/test_contract.py: one build per circuit per session):
    twocomp, or the first circuit NEUROMORPH_NVCC names (CI builds the papers' circuits only, .ci/run)."""
    tc = _toolchain_or_skip()
    ok, why = gpu_available()
    arch = "sm_90"
    if ok:  # brian2cuda then compiles for the GPU that is present
        m = re.search(r"(\d+)\.(\d+)\s*$", why)
        arch = f"sm_{m.group(1)}{m.group(2)}" if m else arch
    wanted = os.environ.get("NEUROMORPH_NVCC", "").strip()
    name = "twocomp" if wanted in ("", "all") else wanted.split(",")[0].strip()
    report, build_dir, seconds, compiled = cuda_builds.get(name)
    if not compiled:
        pytest.skip(f"NEUROMORPH_NVCC does not name {name}: no nvcc build of it in this session")
    print(f"cuda_standalone compile-only: {seconds:.1f} s")
    assert report.compile_only and report.passed and report.variables == []
    assert report.timings["build_dir"] == str(build_dir)
    main = build_dir / "main"
    assert main.is_file() and main.stat().st_size > 10_000
    with open(main, "rb") as f:
        assert f.read(4) == b"\x7fELF"
    makefile = (build_dir / "makefile").read_text()
    if tc.runtime_version >= 13.0:  # CUDA 13's Thrust/CUB need C++17; neuromorph adds the flag
        assert "-std=c++17" in makefile
    assert f"-arch={arch}" in makefile
    assert "-lcurand" in makefile and tc.curand_include in makefile
    assert not (build_dir / "results" / "last_run_info.txt").exists()  # built, never run


@pytest.mark.slow
@pytest.mark.gpu
def test_cuda_verify_on_gpu(tmp_path):
    from circuits.twocomp import TwoComp
    from neuromorph.equivalence import verify

    ok, why = gpu_available()
    if not ok:
        pytest.skip(f"no GPU: {why}")
    _toolchain_or_skip()
    check_target("cuda", need_gpu=True)
    report = verify(TwoComp(), "cuda", build_dir=tmp_path)
    assert report.n_updates >= 3
    assert report.passed, report.table()
    assert report.max_rel_error <= 1e-9
