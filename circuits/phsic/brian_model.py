"""Brian2 model of the streaming pHSIC circuit (the equations and the step order are in ``equations.py``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .params import state_names

if TYPE_CHECKING:  # pragma: no cover
    from .circuit import PHSIC

__all__ = ["build_brian"]


def build_brian(circuit: PHSIC, weights, data):
    """Groups (order = position in the sweep; a summed variable runs at its target's order − 1):

    X, Y (0) → L_k (10k) → N_k (10k+5, divnorm) → O (10(L+1)) → K (1000) → b1_k, b2_k, b3_k (1000+10k+2/4/6).
    """
    circuit.params.check_streaming()
    from brian2 import NeuronGroup, Synapses, TimedArray, second

    from neuromorph.brian import BrianModel, set_weight_matrix

    p, sch = circuit.params, circuit.schedule
    circuit.check_weights(weights)
    n_trials = circuit.check_data(data)
    N, L, C = p.sizes, p.n_hidden_layers, p.sizes[-1]
    divnorm = p.mode == "divnorm"
    T, dt = sch.trial_steps, circuit.dt
    rows = T * dt * second  # one TimedArray row per trial
    tas = {k: TimedArray(np.asarray(data[k], dtype=float), dt=rows, name=f"{k}_in") for k in ("x_a", "x_b", "y_a", "y_b")}
    flags = sch.brian_flags()
    slope, sig2 = float(p.leaky_slope), float(p.sigma) ** 2
    objects, probes = [], {}

    def group(n, eqs, name, order, with_flags=False):
        G = NeuronGroup(n, (flags + "\n" if with_flags else "") + eqs, name=name, order=order, method="euler")
        objects.append(G)
        return G

    def relay(pre, post, assignments, name, i=None, j=None):
        """Plastic-free synapses carrying ``assignments`` ('target_post = expr' lines, summed)."""
        S = Synapses(pre, post, "\n".join(f"{a} : 1 (summed)" for a in assignments), name=name)
        if i is None:
            S.connect()
        else:
            S.connect(i=np.asarray(i), j=np.asarray(j))
        objects.append(S)
        return S

    def store(G, pairs):
        code = "\n".join(f"{m} = gate_store*{v} + (1 - gate_store)*{m}" for m, v in pairs)
        G.run_regularly(code, when="end", order=0, name=f"{G.name}_store")

    # inputs and labels (clamped in every phase; sample a in phase sample_a, sample b afterwards)
    X = group(
        N[0], "out = clamp_x*(in_sample_a*x_a_in(t, i) + (1 - in_sample_a)*x_b_in(t, i)) : 1\nout_a : 1", "X", 0, True
    )
    Y = group(C, "out = clamp_y*(in_sample_a*y_a_in(t, i) + (1 - in_sample_a)*y_b_in(t, i)) : 1\nout_a : 1", "Y", 0, True)
    store(X, [("out_a", "out")])
    store(Y, [("out_a", "out")])

    pre, layers, norms, b1s, b3s, syns = X, {}, {}, {}, {}, {}
    for k in range(1, L + 1):
        n, na, c = N[k], p.group_size(k), p.n_groups
        eq_L = f"""
        I : 1      # W^k h^(k-1), summed (eq. 1)
        mod : 1    # third factor arriving at the neuron: M (plain, eq. 62) or M_alpha (divnorm, eq. 66)
        z = clip(I, 0, inf) + {slope!r}*clip(I, -inf, 0) : 1
        g = int(I > 0) + {slope!r}*int(I <= 0) : 1
        out_a : 1  # memory of the forwarded activity at sample a (eq. 15-16, ideal hold)
        g_a : 1    # memory of f'(a) at sample a
        """
        if divnorm:
            eq_L += f"""
        zbar : 1   # group mean, from the group's interneuron
        u : 1      # u_alpha (eq. 17), from the group's interneuron
        r = (z - zbar)/u**{p.power!r} : 1   # divisive normalisation (eq. 21)
        out = r : 1
        """
        else:
            eq_L += "\nout = z : 1\n"
        Lk = group(n, eq_L, f"L{k}", 10 * k, True)
        store(Lk, [("out_a", "out"), ("g_a", "g")])
        layers[k] = Lk
        S = Synapses(pre, Lk, "w : 1\nacc : 1\nI_post = w*out_pre : 1 (summed)", name=f"W{k}")
        set_weight_matrix(S, np.asarray(weights[f"W{k}"], dtype=float))
        if divnorm:  # eq. 48 / 63a: difference of pre-post products, r g h
            hebb = "out_post*g_post*out_pre - out_a_post*g_a_post*out_a_pre"
        else:  # eq. 41: difference of post activity times difference of f' h
            hebb = "(out_post - out_a_post)*(g_post*out_pre - g_a_post*out_a_pre)"
        S.run_regularly(f"acc += gate_learn_post*mod_post*({hebb})", when="end", order=1, name=f"W{k}_learn")
        S.run_regularly(
            f"w += apply_update_post*{p.lr_effective(k)!r}*acc\nacc = acc*(1 - apply_update_post)",
            when="end",
            order=2,
            name=f"W{k}_apply",
        )
        objects.append(S)
        syns[k] = S
        probes[f"z{k}"] = (Lk, "z")
        probes[f"mod{k}"] = (Lk, "mod")
        if divnorm:
            probes[f"r{k}"] = (Lk, "r")
            Nk = group(
                c,
                f"""
                S1 : 1     # sum of z over the group
                S2 : 1     # sum of z^2 over the group
                zbar = S1/{float(na)!r} : 1
                u = (S2 - S1*zbar + {float(p.delta)!r})/{float(na)!r} : 1   # eq. 17
                w = u**{1.0 - p.power!r} : 1                               # eq. 18 before centring
                w_a : 1    # memory of w at sample a
                Mc : 1     # global third factor M from b3 (eq. 62)
                dmean : 1  # mean over groups of (w - w_a), from b1 (centring of v, eq. 18)
                Malpha = Mc*(w - w_a - dmean) : 1                            # eq. 66: M * Delta v_alpha (eq. 64)
                """,
                f"L{k}_norm",
                10 * k + 5,
                True,
            )
            store(Nk, [("w_a", "w")])
            norms[k] = Nk
            probes[f"u{k}"] = (Nk, "u")
            member = np.arange(n)
            relay(Lk, Nk, ["S1_post = z_pre", "S2_post = z_pre*z_pre"], f"L{k}_to_norm", member, member // na)
            relay(Nk, Lk, ["zbar_post = zbar_pre", "u_post = u_pre", "mod_post = Malpha_pre"], f"L{k}_norm_to_L", member // na, member)
        pre = Lk

    O = group(N[-1], "I : 1\nb : 1\no = I + b : 1", "O", 10 * (L + 1))
    O.b = np.asarray(weights["b_out"], dtype=float)
    W_out = Synapses(pre, O, "w : 1\nI_post = w*out_pre : 1 (summed)", name="W_out")
    set_weight_matrix(W_out, np.asarray(weights["W_out"], dtype=float))
    objects.append(W_out)
    probes["o"] = (O, "o")

    # label kernel k(y_b, y_a) (eq. 35): one unit comparing the label populations with their memory
    ky_expr = f"({float(C)!r}*dot - 1)/{float(C - 1)!r}" if p.center_labels else "dot"
    K = group(1, f"dot : 1\nky = {ky_expr} : 1", "K", 1000)
    relay(Y, K, ["dot_post = out_pre*out_a_pre"], "Y_to_K")
    probes["ky"] = (K, "ky")

    for k in range(1, L + 1):
        base = 1000 + 10 * k
        if divnorm:
            c = float(p.n_groups)
            B1 = group(
                1,
                f"""
                D1 : 1   # sum over groups of Delta w_alpha
                D2 : 1   # sum over groups of (Delta w_alpha)^2
                b1 = D2 - D1*D1/{c!r} : 1       # sum of (Delta v_alpha)^2 (eq. 65)
                kz = exp(-b1/{2 * sig2!r}) : 1     # Gaussian kernel on v (eq. 19)
                dmean = D1/{c!r} : 1
                """,
                f"L{k}_b1",
                base + 2,
            )
            d = "(w_pre - w_a_pre)"
            relay(norms[k], B1, [f"D1_post = {d}", f"D2_post = {d}*{d}"], f"L{k}_norm_to_b1")
            relay(B1, norms[k], ["dmean_post = dmean_pre"], f"L{k}_b1_to_norm")
        else:
            B1 = group(
                1,
                f"b1 : 1   # sum of (z - z_a)^2 (eq. 59)\nkz = exp(-b1/{2 * sig2!r}) : 1   # eq. 26",
                f"L{k}_b1",
                base + 2,
            )
            d = "(out_pre - out_a_pre)"
            relay(layers[k], B1, [f"b1_post = {d}*{d}"], f"L{k}_to_b1")
        B2 = group(1, f"ky_in : 1\nkz_in : 1\nb2 = {float(p.gamma)!r}*ky_in - 2*kz_in : 1   # eq. 60", f"L{k}_b2", base + 4)
        relay(K, B2, ["ky_in_post = ky_pre"], f"K_to_L{k}_b2")
        relay(B1, B2, ["kz_in_post = kz_pre"], f"L{k}_b1_to_b2")
        B3 = group(
            1,
            f"""
            b2_in : 1
            kz_in : 1
            b3 : 1                                     # running mean of b2 (eq. 61)
            M = -(b2_in - b3)*kz_in/{sig2!r} : 1       # the layer's third factor (eq. 62)
            """,
            f"L{k}_b3",
            base + 6,
            True,
        )
        B3.b3 = p.b3_start(k)
        B3.run_regularly(
            f"b3 = gate_centre*({float(p.beta_avg)!r}*b2_in + {1.0 - p.beta_avg!r}*b3) + (1 - gate_centre)*b3",
            when="end",
            order=0,
            name=f"L{k}_b3_centre",
        )
        relay(B1, B3, ["kz_in_post = kz_pre"], f"L{k}_b1_to_b3")
        relay(B2, B3, ["b2_in_post = b2_pre"], f"L{k}_b2_to_b3")
        if divnorm:
            relay(B3, norms[k], ["Mc_post = M_pre"], f"L{k}_b3_to_norm")
        else:
            relay(B3, layers[k], ["mod_post = M_pre"], f"L{k}_b3_to_L")
        b1s[k], b3s[k] = B1, B3
        probes[f"b1_{k}"] = (B1, "b1")
        probes[f"b2_{k}"] = (B2, "b2")
        probes[f"b3_{k}"] = (B3, "b3")
        probes[f"M{k}"] = (B3, "M")

    state_probes = {name: probes[name] for name in state_names(p)}
    return BrianModel(
        objects=objects,
        schedule=sch,
        n_trials=n_trials,
        dt=dt,
        state_probes=state_probes,
        weight_probes={f"W{k}": (syns[k], (N[k - 1], N[k]), "w") for k in range(1, L + 1)},
        inputs={k: ta for k, ta in tas.items()},
        namespace={f"{k}_in": ta for k, ta in tas.items()},
    )
