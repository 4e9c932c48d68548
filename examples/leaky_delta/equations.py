"""leaky_delta as data: the Brian2 equations, symbolic, with the values their symbols stand for."""

from __future__ import annotations

from neuromorph.brian.equations import Eq, GroupEquations, WindowedRule

from .params import LeakyDeltaParams


def tau(p: LeakyDeltaParams, dt: float) -> float:
    """Membrane time constant (s): one Euler step of dt is dt_over_tau time constants."""
    return dt / p.dt_over_tau


def inputs() -> GroupEquations:
    # clamp_x is a schedule flag: 1 in every phase that lists "x" in its clamp
    return GroupEquations("X", (Eq("r = clamp_x*x_in(t, i) : 1", "", "input rates, clamped to the sample"),))


OUTPUT_SOMA = Eq("du/dt = (-u + I_ff + nudge*beta*(y_in(t, i) - r))/tau : 1", "", "leaky unit, nudged toward y")


def output(p: LeakyDeltaParams) -> GroupEquations:
    return GroupEquations(
        "O",
        (
            OUTPUT_SOMA,
            Eq("r = clip(u, 0, 1) : 1", "", "rate"),
            Eq("I_ff : 1", "", "W^T r_x (summed by the projection)"),
            Eq("r_free : 1", "", "rates at the end of the free phase"),
        ),
        {"beta": p.beta},
    )


def rule(p: LeakyDeltaParams) -> WindowedRule:
    """acc += r_x (r − r_free) at the end of the nudged phase; W += lr/(β batch)·acc at the window's end."""
    return WindowedRule(
        "r_pre*(r_post - r_free_post)",
        "gate_learn_post",
        namespace={"eta": p.lr / (p.beta * p.batch)},
        doc="contrastive delta rule",
    )
