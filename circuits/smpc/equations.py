"""SMPC as data: each population's and each rule's Brian2 equations, symbolic, values in the namespace
(``neuromorph equations smpc`` prints them as Brian2 receives them). References are the paper's equation
numbers (../shared/papers/ksm-smpc-choudhary-masset-ba.md, Appendix E) and params.py's readings.

Where each operation runs within one time step (= one neural iteration), all in Brian2's ``groups`` slot:

    order −1  I_pred = Ω z               (summed, Omega synapses → Zeta)
    order  0  ζ update                   (Zeta; fixed point or eq. 41)
    order  1  I_W = W x, I_M = M y       (summed → Y);  I_back = Ωᵀ ζ (summed through OmegaT, Ω's transposed copy)
    order  2  y update (eq. 39);  v = z − η_Z I_back and, for ℓ1, z = f(v, z) (eq. 40)
    order 3–6 simplex only: the sort-free projection (params.py, reading 2)

so each step reads the previous step's y, z (synchronous update) and the ζ computed from them.
"""

from __future__ import annotations

from neuromorph.brian.equations import Eq, GroupEquations, WindowedRule

from .params import SMPCParams

__all__ = ["inputs", "intermediate", "latent", "interneuron", "simplex_threshold", "rule_w", "rule_m",
           "rule_omega", "ORDERS"]

# Brian2 'groups'-slot orders (see the module docstring).
ORDERS = {"Zeta": 0, "Y": 2, "Z": 2, "rank": 3, "support": 4, "theta": 5, "project": 6}


def inputs() -> GroupEquations:
    return GroupEquations("X", (Eq("x = x_in(t, i) : 1", "§7", "input sample (clamped for the whole trial)"),))


def intermediate(p: SMPCParams) -> GroupEquations:
    return GroupEquations(
        "Y",
        (
            Eq("y : 1", "eq. 39", "intermediate representation"),
            Eq("I_W : 1", "eq. 39", "W x (summed)"),
            Eq("I_M : 1", "eq. 39", "M y (summed)"),
            Eq("zeta : 1 (linked)", "eq. 39", "the interneuron of the same index"),
        ),
        {"eta_Y": p.neural_rates[0]},
        ref="eq. 39",
    )


def intermediate_update() -> GroupEquations:
    return GroupEquations(
        "Y_update", (Eq("y = y + in_neural*eta_Y*(I_W - I_M + zeta)", "eq. 39", "frozen in the synaptic phase"),),
        kind="code", when="groups", order=ORDERS["Y"],
    )


def latent(p: SMPCParams) -> GroupEquations:
    lines = [
        Eq("z : 1", "eq. 40", "latent unit (soma): output"),
        Eq("v : 1", "eq. 40", "latent unit (dendrite)"),
        Eq("I_back : 1", "eq. 40", "Ωᵀ ζ (summed through OmegaT, the transposed copy of Omega)"),
    ]
    if p.constraint == "simplex":
        lines += [
            Eq("n_ge : 1", "App. B", "|S_j| = #{i : v_i >= v_j} (summed)"),
            Eq("s_ge : 1", "App. B", "Σ_{S_j} v (summed)"),
            Eq("theta : 1", "App. B, eq. 21", "the simplex threshold λ(v) (summed from the one Theta unit)"),
            Eq("in_support = int(v*n_ge > s_ge - 1) : 1", "App. B", "v_j > θ_j = (Σ_{S_j} v − 1)/|S_j|"),
        ]
    return GroupEquations("Z", tuple(lines), {"eta_Z": p.neural_rates[1], "thr": p.neural_rates[1] * p.lam}, ref="eq. 40")


def latent_update(p: SMPCParams) -> GroupEquations:
    """v and (ℓ1) z at order 2; for the simplex z waits for the threshold (order 6, :func:`latent_project`)."""
    lines = [Eq("v = in_neural*(z - eta_Z*I_back) + (1 - in_neural)*v", "eq. 40", "dendrite at its fixed point")]
    if p.constraint == "l1" and p.l1_form == "soft":
        lines.append(Eq("z = in_neural*(clip(v - thr, 0, inf) - clip(-v - thr, 0, inf)) + (1 - in_neural)*z",
                        "eq. 40", "soft threshold S_{η_Z λ}(v)"))
    elif p.constraint == "l1":
        lines.append(Eq("z = in_neural*(v - thr*sign(z)) + (1 - in_neural)*z", "eq. 40", "subgradient of λ‖z‖₁"))
    return GroupEquations("Z_update", tuple(lines), kind="code", when="groups", order=ORDERS["Z"])


def latent_project() -> GroupEquations:
    return GroupEquations(
        "Z_project", (Eq("z = in_neural*clip(v - theta, 0, inf) + (1 - in_neural)*z", "App. B, eq. 21", "projection"),),
        kind="code", when="groups", order=ORDERS["project"],
    )


def interneuron(p: SMPCParams) -> GroupEquations:
    return GroupEquations(
        "Zeta",
        (
            Eq("zeta : 1", "eq. 41", "interneuron ζ"),
            Eq("I_pred : 1", "eq. 41", "Ω z (summed)"),
            Eq("y : 1 (linked)", "eq. 41", "the intermediate unit of the same index"),
        ),
        {"rho": p.rho, "eta_zeta": p.eta_zeta},
        ref="eq. 41",
    )


def interneuron_update(p: SMPCParams) -> GroupEquations:
    if p.interneuron == "fixed":
        line = Eq("zeta = rho*(I_pred - y)", "§7.1", "held at its fixed point ρ(Ωz − y)")
    else:
        line = Eq("zeta = zeta + eta_zeta*(I_pred - y - zeta/rho)", "eq. 41", "dynamic interneuron")
    return GroupEquations("Zeta_update", (line,), kind="code", when="groups", order=ORDERS["Zeta"])


def simplex_threshold() -> GroupEquations:
    """The one unit that sums the support (App. B): θ = (Σ_support v − 1)/|support|."""
    return GroupEquations(
        "Theta",
        (Eq("n_supp : 1", "App. B", "|support| (summed)"), Eq("s_supp : 1", "App. B", "Σ_support v (summed)")),
        ref="App. B",
    )


def rule_w(p: SMPCParams) -> WindowedRule:
    """ΔW = η_W(⟨y xᵀ⟩ − W), n_synaptic steps in closed form (reading 6)."""
    return WindowedRule(
        "x_pre*y_post", "gate_learn_post",
        update=("w += apply_update_post*eta_w_eff*(gain*acc - w)",),
        namespace={"eta_w_eff": 1.0 - (1.0 - p.synaptic_form[1]) ** p.n_synaptic, "gain": p.synaptic_form[0]},
        ref="eq. 42", doc="Hebbian: y xᵀ at the end of the synaptic phase",
    )


def rule_m(p: SMPCParams) -> WindowedRule:
    """ΔM = η_M(⟨y yᵀ⟩ − M), n_synaptic steps in closed form."""
    return WindowedRule(
        "y_pre*y_post", "gate_learn_post",
        update=("w += apply_update_post*eta_m_eff*(gain*acc - w)",),
        namespace={"eta_m_eff": 1.0 - (1.0 - p.synaptic_form[2]) ** p.n_synaptic, "gain": p.synaptic_form[0]},
        ref="eq. 42", doc="anti-Hebbian: y yᵀ",
    )


def rule_omega(p: SMPCParams, transposed: bool = False) -> WindowedRule:
    """ΔΩ = −η_Ω⟨ζ zᵀ⟩, n_synaptic steps with ζ held (reading 6); ``transposed``: the same rule on the copy of
    Ω that carries Ωᵀ ζ back to the latent units (synapses Zeta → Z)."""
    return WindowedRule(
        "zeta_pre*z_post" if transposed else "z_pre*zeta_post", "gate_learn_post",
        update=("w -= apply_update_post*eta_om_eff*acc",),
        namespace={"eta_om_eff": p.n_synaptic * p.eta_omega / p.batch},
        ref="eq. 42", doc="ζ zᵀ",
    )
