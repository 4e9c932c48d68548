"""Phase schedules: structure, per-step flags, and the Brian2 form of the flags against the Python form."""

import numpy as np
import pytest

from neuromorph.errors import ConfigError
from neuromorph.phases import Phase, PhaseSchedule

pytestmark = pytest.mark.filterwarnings("ignore:_get_vc_env is private")


def three_phase(trials_per_update=2):
    """free (3 steps) -> nudged (2) -> rest (1): two resets, two gates, two clamped inputs, three nudges."""
    return PhaseSchedule(
        (
            Phase("free", 3, nudge=0.0, clamp=("x", "y"), resets=("zero",), gates=("snapshot",)),
            Phase("nudged", 2, nudge=1.0, clamp=("x",), resets=("half",), gates=("accumulate", "snapshot")),
            Phase("rest", 1, nudge=-0.5, resets="zero"),
        ),
        trials_per_update=trials_per_update,
    )


# ---- structure ---------------------------------------------------------------------------------------
def test_structure():
    s = three_phase()
    assert s.trial_steps == 6
    assert [s.start(n) for n in ("free", "nudged", "rest")] == [0, 3, 5]
    assert [s.end(n) for n in ("free", "nudged", "rest")] == [2, 4, 5]
    assert s.boundary_steps() == {"free": 2, "nudged": 4, "rest": 5}
    assert s.reset_names == ("zero", "half")
    assert s.gate_names == ("snapshot", "accumulate")
    assert s.phase("rest").resets == ("zero",)  # a bare string becomes a 1-tuple
    assert s.phase("rest").nudge == -0.5 and isinstance(Phase("p", 1, nudge=1).nudge, float)
    with pytest.raises(ConfigError, match="no phase named 'other'"):
        s.phase("other")


def test_steps_flags():
    s = three_phase()
    steps = list(s.steps())
    assert [st.k for st in steps] == list(range(6))
    assert [st.phase.name for st in steps] == ["free"] * 3 + ["nudged"] * 2 + ["rest"]
    assert [st.first for st in steps] == [True, False, False, True, False, True]
    assert [st.last for st in steps] == [False, False, True, False, True, True]
    # resets only on the first step of their phase, gates only on the last
    assert [st.resets for st in steps] == [("zero",), (), (), ("half",), (), ("zero",)]
    assert [st.gates for st in steps] == [(), (), ("snapshot",), (), ("accumulate", "snapshot"), ()]
    assert [st.nudge for st in steps] == [0.0, 0.0, 0.0, 1.0, 1.0, -0.5]
    assert [st.clamped("x") for st in steps] == [True] * 5 + [False]
    assert [st.clamped("y") for st in steps] == [True] * 3 + [False] * 3
    assert not any(st.clamped("z") for st in steps)


def test_single_step_phase_resets_and_gates_on_same_step():
    s = PhaseSchedule((Phase("only", 1, resets=("r",), gates=("g",)),))
    (st,) = list(s.steps())
    assert st.first and st.last and st.resets == ("r",) and st.gates == ("g",)


@pytest.mark.parametrize("B", [1, 2, 3])
def test_applies_update(B):
    s = three_phase(B)
    got = [s.applies_update(t) for t in range(7)]
    assert got == [(t % B) == B - 1 for t in range(7)]
    assert sum(got) == 7 // B


def test_with_steps():
    s = three_phase(3)
    s2 = s.with_steps({"free": 10})
    assert s2.trial_steps == 13 and s2.start("nudged") == 10 and s2.end("rest") == 12
    assert s2.trials_per_update == 3
    assert s2.phase("nudged") == s.phase("nudged")
    assert s.trial_steps == 6  # the original is unchanged
    with pytest.raises(ConfigError, match="unknown phase.*'bogus'"):
        s.with_steps({"bogus": 2})
    with pytest.raises(ConfigError, match="steps must be a positive integer"):
        s.with_steps({"free": 0})


# ---- errors ------------------------------------------------------------------------------------------
def test_duplicate_names():
    with pytest.raises(ConfigError, match="unique.*'a', 'a'"):
        PhaseSchedule((Phase("a", 1), Phase("a", 2)))


@pytest.mark.parametrize("name", ["free phase", "1st", "", "a-b"])
def test_non_identifier_name(name):
    with pytest.raises(ConfigError, match="must be a Python identifier"):
        Phase(name, 1)


@pytest.mark.parametrize("steps", [0, -3, 1.5, True])
def test_bad_steps(steps):
    with pytest.raises(ConfigError, match="steps must be a positive integer"):
        Phase("p", steps)


@pytest.mark.parametrize("tpu", [0, -1, 2.0, True])
def test_bad_trials_per_update(tpu):
    with pytest.raises(ConfigError, match="trials_per_update must be a positive integer"):
        PhaseSchedule((Phase("p", 1),), trials_per_update=tpu)


def test_empty_and_bad_action_names():
    with pytest.raises(ConfigError, match="at least one phase"):
        PhaseSchedule(())
    with pytest.raises(ConfigError, match="gates entry 'not ok'"):
        Phase("p", 2, gates=("not ok",))


# ---- Brian2: flags evaluated by the numpy target vs the Python schedule --------------------------------
@pytest.mark.parametrize("B", [1, 2])
def test_brian_flags_match_python(B):
    from brian2 import NeuronGroup, Network, StateMonitor, defaultclock, ms, prefs
    from brian2.devices.device import reinit_and_delete, set_device

    reinit_and_delete()
    set_device("runtime")
    prefs.codegen.target = "numpy"
    defaultclock.dt = 0.1 * ms

    s = three_phase(B)
    T = s.trial_steps
    n_steps = int(2.5 * T)  # two and a half trials
    # copy every (constant over dt) subexpression into a recorded variable in the 'end' slot
    flags = ["k", "trial", "nudge", "in_free", "in_nudged", "in_rest", "clamp_x", "clamp_y",
             "reset_zero", "reset_half", "gate_snapshot", "gate_accumulate", "apply_update"]
    eqs = s.brian_flags() + "\n" + "\n".join(f"rec_{f} : 1" for f in flags)
    G = NeuronGroup(1, eqs, name="flags")
    G.run_regularly("\n".join(f"rec_{f} = {f}" for f in flags), when="end", name="copy")
    mon = StateMonitor(G, [f"rec_{f}" for f in flags], record=0, when="end", order=10)
    Network(G, mon).run(n_steps * 0.1 * ms)
    assert len(mon.t) == n_steps
    got = {f: np.asarray(getattr(mon, f"rec_{f}")[0]) for f in flags}

    expected = {f: [] for f in flags}
    py_steps = list(s.steps())
    for n in range(n_steps):
        trial, k = divmod(n, T)
        st = py_steps[k]
        assert st.k == k
        e = expected
        e["k"].append(k)
        e["trial"].append(trial)
        e["nudge"].append(st.nudge)
        for p in ("free", "nudged", "rest"):
            e[f"in_{p}"].append(float(st.phase.name == p))
        for c in ("x", "y"):
            e[f"clamp_{c}"].append(float(st.clamped(c)))
        for r in ("zero", "half"):
            e[f"reset_{r}"].append(float(r in st.resets))
        for g in ("snapshot", "accumulate"):
            e[f"gate_{g}"].append(float(g in st.gates))
        e["apply_update"].append(float(st.last and st is py_steps[-1] and s.applies_update(trial)))
    for f in flags:
        np.testing.assert_array_equal(got[f], np.asarray(expected[f], dtype=float), err_msg=f)
    # the reference is not degenerate: updates fire exactly where expected
    assert int(got["apply_update"].sum()) == (2 if B == 1 else 1)
    assert got["gate_snapshot"].sum() == 2 * 2 + 1  # free and nudged ends in trials 0, 1; free end in trial 2
    reinit_and_delete()


def test_brian_flags_extra_lines_and_no_nudge():
    s = PhaseSchedule((Phase("a", 2), Phase("b", 3)), trials_per_update=4)
    text = s.brian_flags(extra_flags=["foo = 2*in_a : 1 (constant over dt)"])
    lines = text.splitlines()
    assert lines[0] == "k = timestep(t, dt) % 5 : integer (constant over dt)"
    assert "nudge = 0.0 : 1 (constant over dt)" in lines
    assert lines[-1] == "foo = 2*in_a : 1 (constant over dt)"
    assert lines[-2] == "apply_update = int(k == 4)*int(trial % 4 == 3) : 1 (constant over dt)"
    assert not any(ln.startswith(("reset_", "gate_", "clamp_")) for ln in lines)
