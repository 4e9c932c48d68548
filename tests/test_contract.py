"""The circuit contract, checked on every registered circuit: each CPU backend verifies its small instance
at 1e-9, one cuda_standalone build per circuit (the ``backend`` fixture's cuda, marked cuda_compile: nvcc for
the circuits NEUROMORPH_NVCC names, default twocomp, "all" in `make test-cuda`; CUDA code generation for the others), symbolic equations (no long float literals), reference
modules free of Brian2, `verify --set` on top of the small instance, trainer options declared.

Circuits still being converted fail here by design (the integrator sees which): nothing is xfailed.
"""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from neuromorph.circuit import get_circuit
from neuromorph.equivalence import verify
from neuromorph.errors import ConfigError, ShapeError

ROOT = Path(__file__).resolve().parents[1]


# ---- every circuit on every backend -------------------------------------------------------------------------
def test_verify_small_instance(circuit_name, backend, verify_spy, cuda_builds):
    """CPU targets: Brian2 == torch within 1e-9 over >= 3 updates, the compared names are exactly the declared
    ones, and the run is not trivial (every plastic matrix moved at the first update and again later).
    cuda: the session's one nvcc build of the circuit (compile-only; no GPU needed)."""
    if backend == "cuda":
        report, build_dir, seconds, compiled = cuda_builds.get(circuit_name)
        print(f"{circuit_name}: cuda_standalone {'nvcc build' if compiled else 'code generation'} {seconds:.0f} s")
        sources = list((build_dir / "code_objects").glob("*.cu"))
        assert len(sources) > 5 and "-std=c++17" in (build_dir / "makefile").read_text()
        if not compiled:  # NEUROMORPH_NVCC does not name it: generated, not compiled (make test-cuda compiles all)
            return
        assert report.compile_only and report.passed and report.variables == []
        main = build_dir / "main"
        assert main.is_file() and main.stat().st_size > 10_000
        with open(main, "rb") as f:
            assert f.read(4) == b"\x7fELF"
        assert not (build_dir / "results" / "last_run_info.txt").exists()  # built, never run
        return
    circuit = get_circuit(circuit_name).verification_circuit()
    report = verify(circuit, backend)
    assert report.passed, report.table()
    assert report.max_rel_error <= 1e-9 and report.n_updates >= 3
    states = circuit.compared_states()
    names = {v.name for v in report.variables}
    assert names == set(states or verify_spy.trace.states) | set(circuit.plastic_names())
    w0 = circuit.initial_weights(0)
    for name in circuit.plastic_names():
        hist = verify_spy.trace.weights[name]
        assert hist.shape[0] == report.n_updates
        first = w0[name] if name in w0 else None
        if first is not None and first.shape == hist.shape[1:]:
            assert np.abs(hist[0] - first).max() > 1e-9, f"{name} did not move at the first update"
        assert np.abs(hist[-1] - hist[0]).max() > 1e-9, f"{name} did not move after the first update"
    assert max(np.abs(v).max() for v in verify_spy.trace.states.values()) > 1e-3, "states are all ~0"


# ---- symbolic equations -------------------------------------------------------------------------------------
def test_equations_are_symbolic(circuit_name):
    """`neuromorph equations` output: no float literal with > 6 significant digits inside any equation, at
    least one line cites its source, every group's namespace value is one its lines use."""
    from neuromorph.brian.devices import activate
    from neuromorph.brian.equations import long_literals

    activate("numpy")
    groups = get_circuit(circuit_name).equations()
    assert groups, "no equations read back"
    offending = {g.name: lits for g in groups if (lits := long_literals("\n".join(eq.line for eq in g.lines)))}
    assert not offending, f"values formatted into equations (bind them in a namespace): {offending}"
    assert any(eq.ref for g in groups for eq in g.lines), "no line carries a reference"


def test_equations_cli(capsys):
    from neuromorph.cli import main

    assert main(["equations", "twocomp", "--set", "params.g_apical=0.25"]) == 0
    out = capsys.readouterr().out
    assert "du/dt = (-g_L*u + g_B*(I_basal - u) + g_A*(I_apical - u) - I_inh)/tau : 1" in out
    assert "g_A = 0.25" in out and "g_L = 0.1" in out and "eta = 0.1" in out
    assert "W_xh_learn  (on event 'learn' (gate_accumulate + apply_update > 0) of X, end slot, order 1)" in out
    assert main(["equations", "twocomp", "--set", "params.g_apicl=0.25"]) == 2
    assert "g_apicl" in capsys.readouterr().err


def test_long_literal_detector():
    from neuromorph.brian.equations import long_literals

    text = "du/dt = (-6.666666666666667*u + 0.001*W_ff0 + 1000 + 2.5e-7)/tau : 1  # eq. 19.1234567"
    assert long_literals(text) == ["6.666666666666667"]
    assert long_literals("x = 0.1234567 : 1") == ["0.1234567"] and long_literals("x = 0.123456 : 1") == []


# ---- reference modules import no Brian2 ------------------------------------------------------------------------
def _packages():
    out = set()
    from neuromorph.circuit import circuit_names

    for name in circuit_names():
        out.add(type(get_circuit(name)).__module__.rsplit(".", 1)[0])
    return sorted(out)


@pytest.mark.parametrize("package", _packages())
def test_reference_imports_no_brian2(package):
    """circuits/<name>/reference.py is independent of Brian2 (and so of brian_model.py)."""
    code = (
        f"import sys, importlib; importlib.import_module('{package}.reference'); "
        "bad = sorted(m for m in sys.modules if m == 'brian2' or m.startswith('brian2.') or m.endswith('.brian_model')); "
        "print(bad); sys.exit(1 if bad else 0)"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=300,
                       env={**__import__("os").environ, "PYTHONPATH": str(ROOT)})
    assert r.returncode == 0, f"{package}.reference imports {r.stdout.strip()} {r.stderr[-2000:]}"


# ---- the protocol: verify --set, names, trainer options ----------------------------------------------------------
def test_verification_overrides_apply_on_top(circuit_name):
    """verification_circuit(**overrides) is the small instance with the overrides changed and nothing else."""
    base = get_circuit(circuit_name)
    small = base.verification_circuit()
    p0 = dataclasses.asdict(small.params)
    tried = []
    for f in dataclasses.fields(small.params):
        v = getattr(small.params, f.name)
        if isinstance(v, bool) or not isinstance(v, int) or v < 2:
            continue
        try:
            c = base.verification_circuit(**{f.name: v + 1})
        except (ConfigError, ShapeError):  # v + 1 is not valid for this parameter (e.g. groups must divide sizes)
            tried.append(f.name)
            continue
        p1 = dataclasses.asdict(c.params)
        assert p1[f.name] == v + 1
        assert {k: x for k, x in p1.items() if k != f.name} == {k: x for k, x in p0.items() if k != f.name}
        return
    pytest.fail(f"{circuit_name}: no integer parameter of the small instance could be overridden (tried {tried})")


def test_cli_verify_set_keeps_small_instance():
    """`verify corinfomax --set params.t_free=9` verifies the small instance with t_free 9 (not 784-500-10)."""
    from neuromorph.cli import _verification_circuit

    c = _verification_circuit("corinfomax", ["params.t_free=9"])
    small = get_circuit("corinfomax").verification_circuit()
    assert c.params.t_free == 9 and c.params.sizes == small.params.sizes


def test_cli_verify_set(tmp_path):
    import json

    from neuromorph.cli import main

    path = tmp_path / "v.json"
    assert main(["verify", "twocomp", "--set", "params.n_hidden=5", "--json", str(path)]) == 0
    d = json.loads(path.read_text())
    assert d["passed"] and d["variables"]["u_h"]["compared"] == d["n_trials"] * 2 * 5
    assert main(["verify", "twocomp", "--set", "params=5"]) == 2


def test_trainer_options_declared(circuit_name):
    """trainer_options() lists what make_trainer accepts; anything else is one clear ConfigError."""
    circuit = get_circuit(circuit_name)
    options = circuit.trainer_options()
    assert isinstance(options, dict)
    shapes = circuit.weight_shapes()
    assert shapes and all(all(isinstance(d, int) and d > 0 for d in s) for s in shapes.values())
    with pytest.raises(ConfigError, match="no_such_option"):
        circuit.make_trainer(4, 3, 0, no_such_option=1)


def test_names_must_match():
    """A state or weight one side leaves out fails the comparison (it would otherwise never be compared)."""
    from neuromorph.circuit import Trace
    from neuromorph.equivalence import compare_traces
    from neuromorph.errors import ShapeError

    circuit = get_circuit("twocomp")
    w, data = circuit.initial_weights(0), circuit.example_data(8, 0)
    ref = circuit.simulate_reference(w, data)
    same = Trace(dict(ref.states), dict(ref.weights))
    assert {e.name for e in compare_traces(circuit, same, ref)} == {"u_h", "u_i", "u_o", "W_xh", "W_ho"}
    extra_state = Trace({**ref.states, "v": ref.states["u_h"]}, dict(ref.weights))
    with pytest.raises(ShapeError, match="only Brian2: \\['v'\\]"):
        compare_traces(circuit, extra_state, ref)
    torch_extra = Trace(dict(ref.states), {**ref.weights, "W_fb": ref.weights["W_xh"]})
    with pytest.raises(ShapeError, match="only torch: \\['W_fb'\\]"):
        compare_traces(circuit, same, torch_extra)
    both_extra = Trace(dict(ref.states), {**ref.weights, "W_fb": ref.weights["W_xh"]})
    with pytest.raises(ShapeError, match="declares \\['W_ho', 'W_xh'\\]"):
        compare_traces(circuit, both_extra, both_extra)
