"""twocomp as data: each population's and each learning rule's Brian2 equations, symbolic, with the values
its symbols stand for. No numbers are formatted into the text (``neuromorph equations twocomp`` prints these
as Brian2 receives them). twocomp has no paper: the references name the lines of the package docstring.
"""

from __future__ import annotations

from neuromorph.brian.equations import Eq, GroupEquations, WindowedRule

from .params import TwoCompParams

__all__ = ["tau", "inputs", "hidden", "interneurons", "output", "rule_xh", "rule_ho", "PROJECTIONS"]

# name, pre, post, the post-synaptic input it drives
PROJECTIONS = (
    ("W_xh", "X", "H", "I_basal"),
    ("W_ho", "H", "O", "I_ff"),
    ("W_fb", "O", "H", "I_apical"),
    ("W_hi", "H", "Inh", "I_exc"),
    ("W_ih", "Inh", "H", "I_inh"),
)


def tau(p: TwoCompParams, dt: float) -> float:
    """Membrane time constant (s): Euler steps of dt are dt_over_tau time constants."""
    return dt / p.dt_over_tau


def inputs() -> GroupEquations:
    return GroupEquations("X", (Eq("r = clamp_x*x_in(t, i) : 1", "X", "input rates, clamped to the sample"),))


HIDDEN_SOMA = Eq(
    "du/dt = (-g_L*u + g_B*(I_basal - u) + g_A*(I_apical - u) - I_inh)/tau : 1", "H", "soma: leak, basal, apical, inhibition"
)


def hidden(p: TwoCompParams) -> GroupEquations:
    return GroupEquations(
        "H",
        (
            HIDDEN_SOMA,
            Eq("r = clip(u, 0, 1) : 1", "H", "rate sigma(u)"),
            Eq("I_basal : 1", "H", "W_xh^T r_x (summed)"),
            Eq("I_apical : 1", "H", "W_fb^T r_o (summed)"),
            Eq("I_inh : 1", "H", "W_ih^T r_i (summed)"),
            Eq("r_free : 1", "snapshot", "rates at the end of the free phase"),
        ),
        {"g_L": p.g_leak, "g_B": p.g_basal, "g_A": p.g_apical},
    )


def interneurons() -> GroupEquations:
    return GroupEquations(
        "Inh",
        (
            Eq("du/dt = (-u + I_exc)/tau : 1", "I", "interneuron"),
            Eq("r = clip(u, 0, inf) : 1", "I", "rate max(u, 0)"),
            Eq("I_exc : 1", "I", "W_hi^T r_h (summed)"),
        ),
    )


def output(p: TwoCompParams) -> GroupEquations:
    return GroupEquations(
        "O",
        (
            Eq("du/dt = (-u + I_ff + nudge*beta*(y_in(t, i) - r))/tau : 1", "O", "nudged toward y in the nudged phase"),
            Eq("r = clip(u, 0, 1) : 1", "O", "rate sigma(u)"),
            Eq("I_ff : 1", "O", "W_ho^T r_h (summed)"),
            Eq("r_free : 1", "snapshot", "rates at the end of the free phase"),
        ),
        {"beta": p.beta},
    )


def rule_xh(p: TwoCompParams) -> WindowedRule:
    """dW_xh ∝ r_x (r_h^nud − r_h^free)ᵀ, applied as lr_xh/(β n_batch) times the window's sum."""
    return WindowedRule(
        "r_pre*(r_post - r_free_post)",
        "gate_accumulate_post",
        namespace={"eta": p.lr_xh / (p.beta * p.batch)},
        ref="learning",
        doc="contrastive Hebbian term, at the end of the nudged phase",
    )


def rule_ho(p: TwoCompParams) -> WindowedRule:
    """dW_ho ∝ r_h^nud r_o^nudᵀ − r_h^free r_o^freeᵀ, applied as lr_ho/(β n_batch) times the window's sum."""
    return WindowedRule(
        "r_pre*r_post - r_free_pre*r_free_post",
        "gate_accumulate_post",
        namespace={"eta": p.lr_ho / (p.beta * p.batch)},
        ref="learning",
        doc="contrastive Hebbian term, at the end of the nudged phase",
    )
