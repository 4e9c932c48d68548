"""CorInfoMax as data: the Brian2 equations of every population and projection, symbolic, with units and the
paper's equation numbers; the values they use come with each template's namespace.

Every quantity is dimensionless (rates, potentials in the paper's units); one Brian2 step is one iteration s
of Algorithm 1, so ``du/dt = mu*F(u)/dt`` is u ← u + μ_u[s]·F(u) under forward Euler. The schedule's flags
(``k``, ``in_free``, ``gate_learn_free``, ``apply_update``, ... from ``PhaseSchedule.brian_flags``) are the
same in every group and are added by the builder. Symbols bound per layer k (namespace):

========  =====================================================  =========================================
symbol    value                                                  paper
========  =====================================================  =========================================
g_lk      g (leak conductance)                                   eq. 19
g_A       1/ε (hidden) or 1 (output: the code's apical leak)     eq. 19; eq. 21 as coded
g_B       1/ε                                                    eq. 19
c_lat     2εγ (hidden) or γ (output): M = c_lat·B + h_lat·I      eqs. 18, 21
h_lat     εg (hidden) or g (output)
eps_q     ε: the interneuron's apical inhibition −εq (hidden)    App. I
mu_u      μ_u[0]; mu_decay 0.01, mu_min 1e-3 (decay rule)        App. J (μ_u[s] = max(μ_u/(0.01 s+1), 1e-3))
k_nudged  first step of the nudged phase (s restarts there)      Algorithm 3
mu_a0     μ_a (interneuron step, hidden or output)               eq. A.51
eta       lr/n_batch (window mean), times the epoch factor       eqs. 26-27
          ``lr_scale`` (a shared synaptic constant)
eta_wd    lr·ε: ``weight_decay`` (code form, params.py)           eqs. 23/25
gamma     γ = (1 − λ)/λ; lam λ; n_batch trials per window        eq. 28
rate_lat  c_lat·γ/λ; h_decay h_lat·(1 − 1/λ)                      eqs. 29-30
========  =====================================================  =========================================
"""

from __future__ import annotations

from neuromorph.brian.equations import Eq, GroupEquations

from .params import CorInfoMaxParams, lateral_coefficients, phase_schedule

__all__ = [
    "input_layer",
    "layer",
    "layer_reset",
    "interneuron",
    "interneuron_reset",
    "forward_projection",
    "lateral_projection",
    "hebbian_rule",
    "lateral_rule",
    "lateral_DO_rules",
]


def input_layer() -> GroupEquations:
    """Layer 0: the clamped input (one row of ``x_in`` per trial)."""
    return GroupEquations("layer0", (Eq("r = clamp_x*x_in(t, i) : 1", "eq. 15", "input rates r^(0) = x"),))


def layer(p: CorInfoMaxParams, k: int) -> GroupEquations:
    """Layer k's pyramidal neurons: soma u, rate r, apical v_A and basal v_B compartments (eqs. 18-21)."""
    P, sparse, DO = p.n_layers, p.variant == "sparse", p.lateral_update == "DO"
    c, h = lateral_coefficients(p, k)
    lines = [Eq("s_iter = in_free*k + in_nudged*(k - k_nudged) : 1 (constant over dt)", "Algorithm 1",
                "iteration s, restarting in each dynamic phase")]
    if p.mu_u_rule == "constant":
        lines.append(Eq("mu = (in_free + in_nudged)*mu_u : 1 (constant over dt)", "Algorithm 1", "μ_u[s]; 0 when frozen"))
    else:
        lines.append(Eq("mu = (in_free + in_nudged)*clip(mu_u/(mu_decay*s_iter + 1), mu_min, inf) : 1 (constant over dt)",
                        "App. J", "μ_u[s] = max(μ_u/(0.01 s + 1), 1e-3); 0 when frozen"))
    lines.append(Eq("du/dt = mu*(-g_lk*u + g_A*(v_A - u) + g_B*(v_B - u))/dt : 1", "eq. 19",
                    "soma; one Euler step = one iteration of Algorithm 1"))
    lines.append(Eq("r = clip(u, 0, inf) : 1" if sparse else "r = clip(u, 0, 1) : 1",
                    "eq. A.50" if sparse else "eq. 20", "ReLU rate" if sparse else "σ₊ rate"))
    lateral = "(I_D - I_O)" if DO else "(c_lat*I_lat + h_lat*r)"
    if k < P:
        v_A = f"v_A = {lateral} + I_fb" + (" - eps_q*I_q" if sparse else "") + " : 1"
        lines.append(Eq(v_A, "eq. 18", "apical: M r + W_fb r^(k+1)" + (" − εq (App. I)" if sparse else "")))
    else:
        v_A = f"v_A = {lateral} - nudge*beta_in(t)*(r - y_in(t, i))" + (" - I_q" if sparse else "") + " : 1"
        lines.append(Eq(v_A, "eq. 21 as coded", "apical: M r − β(r − y); conductance 1, not β"))
    if DO:
        lines.append(Eq("z = (I_D - I_O - h_lat*r)/c_lat : 1", "App. F", "z = B r recovered from M r"))
    else:
        lines.append(Eq("z = I_lat : 1", "eq. 28", "z = B r"))
    lines.append(Eq("v_B : 1", "eq. 18", "basal: W_ff r^(k-1)"))
    if DO:
        lines += [Eq("I_D : 1", "eq. 29", "autapses D r"), Eq("I_O : 1", "eq. 30", "lateral inhibition O r")]
    else:
        lines.append(Eq("I_lat : 1", "eq. 18", "B r"))
    if k < P:
        lines.append(Eq("I_fb : 1", "eq. 18", "W_fb r^(k+1)"))
    if sparse:
        lines.append(Eq("I_q : 1", "App. I", "the layer's interneuron q"))
    ns = {"g_lk": p.g_lk, "g_A": 1.0 / p.epsilon if k < P else 1.0, "g_B": 1.0 / p.epsilon, "mu_u": p.mu_u,
          "c_lat": c, "h_lat": h, "k_nudged": phase_schedule(p).start("nudged")}
    if p.mu_u_rule != "constant":
        ns.update({"mu_decay": 0.01, "mu_min": 1e-3})
    if sparse and k < P:
        ns["eps_q"] = p.epsilon
    return GroupEquations(f"layer{k}", tuple(lines), ns, ref="eqs. 18-21")


def layer_reset(p: CorInfoMaxParams, k: int) -> tuple[str, ...]:
    """Phase resets of layer k ('start' slot): the free phase from zero, the nudged phase from the free rates
    (u := σ(u); code: neurons_intermediate = a copy of the clipped rates)."""
    sigma = "clip(u, 0, inf)" if p.variant == "sparse" else "clip(u, 0, 1)"
    return ("u = u*(1 - reset_zero)", f"u = reset_from_free*{sigma} + (1 - reset_from_free)*u")


def interneuron(p: CorInfoMaxParams, k: int) -> GroupEquations:
    """Sparse variant: layer k's ℓ1 interneuron (App. I, eq. A.51)."""
    return GroupEquations(
        f"inter{k}",
        (
            Eq("mu_a = (in_free + in_nudged)*mu_a0 : 1 (constant over dt)", "Algorithm 2", "μ_a; 0 when frozen"),
            Eq("da/dt = mu_a*(-a + S_r - 1 + q)/dt : 1", "eq. A.51", "interneuron potential"),
            Eq("q = clip(a, 0, inf) : 1", "eq. A.51", "q = ReLU(a)"),
            Eq("S_r : 1", "eq. A.51", "Σ_j r_j of layer k"),
        ),
        {"mu_a0": p.mu_a[1] if k == p.n_layers else p.mu_a[0]},
        ref="App. I",
    )


def interneuron_reset() -> tuple[str, ...]:
    return ("a = a*(1 - reset_zero)", "a = reset_from_free*clip(a, 0, inf) + (1 - reset_from_free)*a")


def forward_projection(name: str, target: str) -> GroupEquations:
    """A plastic all-to-all projection: weight, window accumulator, the epoch's rate factor, summed drive."""
    return GroupEquations(
        name,
        (
            Eq("w : 1", "", "weight"),
            Eq("acc : 1", "Algorithm 3", "Hebbian terms of the window"),
            Eq("lr_scale : 1 (shared, constant)", "", "the epoch's learning-rate factor f"),
            Eq(f"{target}_post = w*r_pre : 1 (summed)", "eq. 18", "W r^(pre)"),
        ),
        kind="synapses",
    )


def lateral_projection(name: str, target: str) -> GroupEquations:
    """A plastic lateral projection within a layer (B, or D / O): weight, accumulator, summed drive."""
    return GroupEquations(
        name,
        (
            Eq("w : 1", "", "weight"),
            Eq("acc : 1", "eq. 28", "z zᵀ of the window"),
            Eq(f"{target}_post = w*r_pre : 1 (summed)", "eq. 18", "lateral drive"),
        ),
        kind="synapses",
    )


def hebbian_rule(p: CorInfoMaxParams, name: str, error: str, lr: float, ref: str) -> tuple[GroupEquations, GroupEquations]:
    """eqs. 26/27: at free_end −(r_pre·e)/β, at nudged_end +(r_pre·e)/β (e the prediction error, ``error``);
    at the window's end w += f·lr/n_batch·acc (and, ``weight_decay``, w −= f·lr·ε·w on the updated w)."""
    contrast = "(gate_learn_nudged_post - gate_learn_free_post)"
    acc = GroupEquations(
        f"{name}_acc",
        (Eq(f"acc += {contrast}*r_pre*({error})/beta_in(t)", ref, "contrastive Hebbian term divided by the signed β"),),
        kind="code", when="end", order=1, ref=ref,
    )
    update = [Eq("w += apply_update_post*lr_scale*eta*acc", ref, "window mean")]
    ns = {"eta": lr / p.batch}
    if p.weight_decay:
        update.append(Eq("w -= apply_update_post*lr_scale*eta_wd*w", "eqs. 23/25", "weight decay as coded"))
        ns["eta_wd"] = lr * p.epsilon
    update.append(Eq("acc = acc*(1 - apply_update_post)", "", "start the next window from zero"))
    return acc, GroupEquations(f"{name}_apply", tuple(update), ns, kind="code", when="end", order=2, ref=ref)


def lateral_rule(p: CorInfoMaxParams, k: int) -> tuple[GroupEquations, GroupEquations]:
    """eq. 28 on B^(k): accumulate z zᵀ at nudged_end, B ← λ⁻¹(B − γ⟨z zᵀ⟩) at the window's end."""
    acc = GroupEquations(f"B{k}_acc", (Eq("acc += gate_learn_nudged_post*z_pre*z_post", "eq. 28", "z zᵀ, nudged rates"),),
                         kind="code", when="end", order=1, ref="eq. 28")
    apply = GroupEquations(
        f"B{k}_apply",
        (
            Eq("w = apply_update_post*((w - gamma*acc/n_batch)/lam) + (1 - apply_update_post)*w", "eq. 28",
               "B ← λ⁻¹(B − γ⟨z zᵀ⟩)"),
            Eq("acc = acc*(1 - apply_update_post)", "", "start the next window from zero"),
        ),
        {"gamma": p.gamma, "lam": p.lam, "n_batch": p.batch}, kind="code", when="end", order=2, ref="eq. 28",
    )
    return acc, apply


def lateral_DO_rules(p: CorInfoMaxParams, k: int) -> dict[str, tuple[GroupEquations, GroupEquations]]:
    """eqs. 29-30 on the autapses D^(k) and the lateral inhibition O^(k) (M = D − O)."""
    c, h = lateral_coefficients(p, k)
    ns = {"lam": p.lam, "n_batch": p.batch, "rate_lat": c * p.gamma / p.lam, "h_decay": h * (1.0 - 1.0 / p.lam)}
    rules = {}
    for m, update, ref in (
        ("D", "w = apply_update_post*(w/lam - rate_lat*acc/n_batch + h_decay) + (1 - apply_update_post)*w", "eq. 29"),
        ("O", "w = apply_update_post*(w/lam + rate_lat*acc/n_batch) + (1 - apply_update_post)*w", "eq. 30"),
    ):
        # z is the layer's subexpression (I_D - I_O - h_lat*r)/c_lat: Brian2 resolves its symbols here too
        acc = GroupEquations(f"{m}{k}_acc", (Eq("acc += gate_learn_nudged_post*z_pre*z_post", ref, "z zᵀ, nudged rates"),),
                             {"c_lat": c, "h_lat": h}, kind="code", when="end", order=1, ref=ref)
        apply = GroupEquations(
            f"{m}{k}_apply",
            (Eq(update, ref), Eq("acc = acc*(1 - apply_update_post)", "", "start the next window from zero")),
            {k2: v for k2, v in ns.items() if k2 in update}, kind="code", when="end", order=2, ref=ref,
        )
        rules[m] = (acc, apply)
    return rules
