"""neuromorph.brian.equations and blocks on a toy model whose numbers are computed by hand here."""

from __future__ import annotations

import numpy as np
import pytest

from neuromorph.brian import blocks
from neuromorph.brian.equations import Eq, GroupEquations, WindowedRule, format_equations
from neuromorph.errors import ShapeError
from neuromorph.phases import Phase, PhaseSchedule


def test_check_trial_inputs_messages():
    ok = {"x": np.zeros((4, 3)), "y": np.zeros((4, 2)), "beta": np.ones(4)}
    spec = {"x": (None, 3), "y": (None, 2), "beta": (None,)}
    assert blocks.check_trial_inputs("toy", ok, spec) == 4
    with pytest.raises(ShapeError, match=r"toy: trial data 'y' has shape \(5, 2\), expected \(n_trials, 2\) with n_trials = 4"):
        blocks.check_trial_inputs("toy", {**ok, "y": np.zeros((5, 2))}, spec)
    with pytest.raises(ShapeError, match=r"'x' has shape \(4, 7\), expected \(n_trials, 3\)"):
        blocks.check_trial_inputs("toy", {**ok, "x": np.zeros((4, 7))}, spec)
    with pytest.raises(ShapeError, match=r"needs 'x' \(n_trials, 3\), 'y' \(n_trials, 2\), 'beta' \(n_trials,\); missing \['beta'\]"):
        blocks.check_trial_inputs("toy", {"x": ok["x"], "y": ok["y"]}, spec)
    with pytest.raises(ShapeError, match="no trials"):
        blocks.check_trial_inputs("toy", {"x": np.zeros((0, 3))}, {"x": (None, 3)})


def test_templates_are_symbolic_data():
    g = GroupEquations("H", (Eq("du/dt = (-g_L*u + I)/tau : 1", "eq. 19", "soma"), "I : 1"), {"g_L": 0.1})
    assert g.code() == "du/dt = (-g_L*u + I)/tau : 1  # eq. 19; soma\nI : 1"
    assert g.code(comments=False) == "du/dt = (-g_L*u + I)/tau : 1\nI : 1"
    layer2 = g.renamed("H2", g_L=0.2)
    assert layer2.namespace == {"g_L": 0.2} and g.namespace == {"g_L": 0.1}  # one template, two bindings
    assert g.ref_of("u").ref == "eq. 19" and g.ref_of("I").ref == "" and g.ref_of("v") is None
    rule = WindowedRule("r_pre*r_post", "gate_learn_post", namespace={"eta": 0.5}, ref="eq. 26")
    assert rule.accumulate("S_acc").code(comments=False) == "acc += gate_learn_post*(r_pre*r_post)"
    apply = rule.apply("S_apply")
    assert (apply.when, apply.order) == ("end", 2)
    assert apply.code(comments=False) == "w += apply_update_post*eta*acc\nacc = acc*(1 - apply_update_post)"


def _toy(n_trials=6, event_driven=False):
    """Two inputs -> one output; Hebbian term r_pre*r_post accumulated on the last step, applied every 2 trials
    (``event_driven``: as the pathway of X's learning event, blocks.learning_synapses)."""
    sch = PhaseSchedule((Phase("only", 3, clamp=("x",), resets=("zero",), gates=("learn",)),), trials_per_update=2)
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, (n_trials, 2))
    w0 = np.array([[0.3], [-0.2]])
    tas = blocks.trial_inputs({"x": x}, ["x"], 3 * 1e-4)
    events = {"learn": blocks.learning_event("gate_learn", "apply_update")} if event_driven else None
    X = blocks.neuron_group(2, GroupEquations("X", ("r = clamp_x*x_in(t, i) : 1",)), schedule=sch, events=events)
    out = GroupEquations("O", (Eq("du/dt = (-u + I)/tau : 1", "toy 1"), Eq("r = u : 1", "toy 2"), "I : 1", "r_mem : 1"))
    O = blocks.neuron_group(1, out, schedule=sch)
    blocks.phase_reset(O, ["u = u*(1 - reset_zero)"])
    blocks.gated_store(O, [("r_mem", "r")], "gate_learn")
    rule = WindowedRule("r_pre*r_post", "gate_learn_post", namespace={"eta": 0.5 / 2}, ref="toy 3")
    if event_driven:
        S = blocks.projection(X, O, "W", "I", w0, learning=rule)
    else:
        S = blocks.projection(X, O, "W", "I", w0, plastic=True)
        blocks.windowed_plasticity(S, rule)
    from brian2 import second

    from neuromorph.brian import BrianModel

    model = BrianModel([X, O, S], sch, n_trials, 1e-4, {"u": (O, "u")}, {"W": (S, (2, 1), "w")}, {"x": tas["x_in"]},
                       {**tas, "tau": 5e-4 * second})
    return model, x, w0


def _by_hand(x, w0, a=0.2, steps=3, eta=0.25, batch=2):
    w, hist, acc = w0[:, 0].copy(), [], np.zeros(2)
    for t, xt in enumerate(x):
        u = 0.0
        for _ in range(steps):
            u = u + a * (-u + xt @ w)  # the summed input uses this step's (constant) input rates
        acc += xt * u  # r_pre * r_post on the last step
        if t % batch == batch - 1:
            w = w + eta * acc
            acc = np.zeros(2)
            hist.append(w.copy())
    return np.array(hist)[:, :, None]


def test_blocks_compose_a_model_with_hand_computed_numbers():
    from neuromorph.brian import activate, run_model

    activate("numpy")
    model, x, w0 = _toy()
    trace, _ = run_model(model)
    np.testing.assert_allclose(trace.weights["W"], _by_hand(x, w0), rtol=0, atol=1e-14)
    # read back: Brian2's own lines with the templates' references, the values each block uses
    groups = {g.name: g for g in model.equations()}
    assert {"X", "O", "O_reset", "O_store", "W", "W_acc", "W_apply"} <= set(groups)
    assert groups["O"].ref_of("u").ref == "toy 1" and "tau" in groups["O"].namespace
    assert [eq.line for eq in groups["W_apply"].lines] == ["w += apply_update_post*eta*acc", "acc = acc*(1 - apply_update_post)"]
    assert groups["W_apply"].namespace == {"eta": 0.25} and groups["W_apply"].order == 2
    assert "I_post = w*r_pre : 1 (summed)" in [eq.line for eq in groups["W"].lines]
    text = format_equations(model.equations(), blocks.flag_names(model.schedule))
    assert "where eta = 0.25" in text and "# toy 1" in text


def test_event_driven_learning_gives_the_same_numbers():
    """learning_synapses runs the rule only on the learning steps, as one pathway: the weights equal the hand
    computation and the every-step blocks' result exactly; the read-back lists the pathway and its event."""
    from neuromorph.brian import activate, run_model

    results = {}
    for event_driven in (False, True):
        activate("numpy")
        model, x, w0 = _toy(event_driven=event_driven)
        trace, _ = run_model(model)
        results[event_driven] = trace.weights["W"]
    np.testing.assert_allclose(results[True], _by_hand(x, w0), rtol=0, atol=1e-14)
    assert np.array_equal(results[True], results[False])
    groups = {g.name: g for g in model.equations()}
    learn = groups["W_learn"]
    assert [eq.line for eq in learn.lines] == ["acc += gate_learn_post*(r_pre*r_post)", "w += apply_update_post*eta*acc",
                                                "acc = acc*(1 - apply_update_post)"]
    assert learn.event == "'learn' (gate_learn + apply_update > 0) of X" and (learn.when, learn.order) == ("end", 1)
    assert learn.namespace == {"eta": 0.25} and "W_acc" not in groups
    text = format_equations(model.equations(), blocks.schedule_flags(model.schedule))
    assert "W_learn  (on event 'learn' (gate_learn + apply_update > 0) of X, end slot, order 1)  [toy 3]" in text
    assert "    gate_learn = int(k == 2) : 1 (constant over dt)" in text


def test_run_code_refuses_two_values_for_one_symbol():
    from neuromorph.brian import activate

    activate("numpy")
    model, _, _ = _toy()
    S = model.objects[2]
    with pytest.raises(ValueError, match="'eta' is bound to 0.25"):
        blocks.run_code(S, GroupEquations("W_other", ("w += eta*0",), {"eta": 1.0}, kind="code", when="end", order=3))
