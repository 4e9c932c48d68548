"""The streaming pHSIC circuit as equations (Pogodin & Latham 2020): the two-point three-factor Hebbian rule.

The paper trains with the batch form of the gradient (eq. 40; ``trainer.py``) "only to make large-scale
simulations computationally feasible" (§4.1). What makes the rule biologically plausible is its streaming form
(§3.2-3.4, Appendix C): two samples seen one after the other, a memory of the first, and a layer-specific third
factor computed by a few dedicated neurons. That form is what this circuit simulates, as a Brian2 equation model
(``brian_model.py``, built from the templates below) and an independent torch reference (``reference.py``), with
the same schedule and step order. Read it next to the paper, top to bottom.

Network (eq. 1). Sizes ``(N_0, N_1, ..., N_L, C)``: input, hidden layers, classes. Hidden layer k receives the
previous layer's output h^{k-1} (h^0 = x):

    a^k = W^k h^{k-1},   z^k = f(a^k) = LReLU(a^k),   g^k = f'(a^k)                             (eq. 1)
    plain:    h^k = z^k
    divnorm:  groups α of n_α = N_k/c contiguous neurons, one normalising interneuron per group,
              z̄_α = mean_α z,  u_α = (‖z^k_α − z̄_α‖² + δ)/n_α,  h^k_αn = r_αn = (z_αn − z̄_α)/u_α^p   (eqs. 17, 21)

A fixed linear readout o = W_outᵀ h^L + b_out is part of the circuit (the paper trains it with cross-entropy on
precise labels only to measure accuracy; in the streaming circuit it is not plastic).

Two-point update (eqs. 12-13, 41; Appendix C). Every trial presents one pair of samples:

    sample_a  (t_sample steps)  sample a clamped; at its last step the gate ``store`` writes each neuron's
              memory of the sample: h_a, g_a (and w_a = u^(1-p) of every group interneuron). This is the memory
              of the last large deviation of eqs. (15)-(16), scenario B, taken in its ideal limit: a
              sample-and-hold of the settled activity (see "What is idealised" below).
    sample_b  (t_sample steps)  sample b clamped; the third-factor neurons compare it with the memory. At its
              last step the gate ``centre`` updates the running average b3 (eq. 61).
    update    (t_update steps)  sample b stays; the third factor reaches the layer (one step per synaptic relay)
              and at the last step the gate ``learn`` forms the weight change.

Third-factor neurons of layer k (Appendix C.1, eqs. 59-62), one unit each:

    b1:  plain:    b1 = Σ_n (z_n − z_a,n)²                                                    (eq. 59)
         divnorm:  b1 = Σ_α (Δv_α)² with Δv_α = Δw_α − mean_α' Δw_α', w = u^(1-p)               (eqs. 18, 64-65)
         rate kz = exp(−b1/2σ²) = k(z_b, z_a)                                                  (eq. 26, 19)
    b2:  b2 = γ k_y − 2 kz                                                                    (eq. 60)
    b3:  b3 ← β b2 + (1 − β) b3 at the end of sample_b (running mean: the centring of eq. 11)  (eq. 61)
         rate M = −(b2 − b3) kz/σ²                                                             (eq. 62)

The label kernel k_y is computed by one unit K from the label populations (centred cosine of one-hot labels,
eq. 35): k_y = (C y_b·y_a − 1)/(C − 1) (or y_b·y_a uncentred). It is shared by all layers, the "teaching
signal coming from other sensory areas" of §5.

Weight change at the last step of ``update``, for synapse m → n of layer k (pre h^{k-1}, post layer k):

    plain    ΔW_nm = η M (z_n,b − z_n,a)(g_n,b h_m,b − g_n,a h_m,a)                    (eq. 41; = eq. 12a, 57 for f' = 1)
    divnorm  ΔW_nm = η (2(1−p)/n_α) M_α (r_n,b g_n,b h_m,b − r_n,a g_n,a h_m,a),
             M_α = M · Δv_α  (the group interneuron's signal)                             (eqs. 48, 63, 66)

Each product is local: the post neuron holds z (or r), g and their memories, the pre neuron h and its memory,
the neuromodulator M (M_α) arrives through synapses. ``pairs_per_update`` pairs are accumulated and their mean
applied (1 = pure streaming; averaging over all m² ordered pairs of a batch with b3 held at the batch mean of b2
gives exactly −η dL/dW of eq. 40, tests/test_phsic_circuit.py). No momentum, weight decay or dropout in the
streaming circuit.

Sign: with b2 − b3 = γ k̊_y − 2 k̊_z, the update is −η (2 k̊_z − γ k̊_y) dk/dW (eq. 40 for one pair): gradient
descent on pHSIC(Z, Z) − γ pHSIC(Y, Z) (eq. 9).

Dynamics and step order. All units are instantaneous rate maps (no ODE: the rate is a function of the summed
input, as in a leaky integrator at steady state). Within an integration step the groups are evaluated bottom-up
in one Gauss-Seidel sweep (Brian2 computes a summed variable at the order of its target minus one): X, Y
(inputs), L1, N1, L2, N2, ..., O (readout), K, then b1, b2, b3 of every layer. A signal that flows back down the
sweep (normalisation statistics N_k → L_k, the third factor b3 → L_k or b3 → N_k → L_k, the mean Δw b1 → N_k)
arrives one step later. Hence the minimum durations:

    plain:    t_sample = 1,      t_update = 1 (M: b3 → L)
    divnorm:  t_sample = L + 1 (r^k settles one step after z^k), t_update = 2 (M: b3 → N → L)

With constant inputs every quantity is then exactly at its steady state when a gate reads it; longer phases
give the same numbers. Gates run in the ``end`` slot after the sweep; recorded states are the values after each
step (Brian2's ``end`` slot), which is what the torch reference returns too.

Per-neuron rates are per-neuron state. The rates that synapses read (the inputs' ``out``, a layer's z, g and
forwarded ``out`` = z or r) are state variables computed once per step by a code block at the population's
place in the sweep ('groups' slot, the population's order; its summed inputs run at order − 1), not
subexpressions: a subexpression is re-evaluated in every synapse that reads it, which made divnorm's
r = (z − z̄)/u^p (a power) cost ~15 ns per synapse and step. Nothing changes a layer's inputs between its place in
the sweep and the end of the step, so the values are those the subexpressions had.

Learning runs only when it happens. The ``learn`` gate opens on one step per trial (the last of ``update``) and
``apply_update`` on the last step of a window's last pair: the pre-synaptic populations (inputs and layers) emit the
events ``learn`` and ``apply`` on those steps, and each projection runs its accumulation (``end`` slot, order 1)
and its update (order 2) as event-driven pathways, where the gated every-step blocks used to run: after the
memories, before the monitors. The post-synaptic factors of the change (fb, fa: M (z_b − z_a) g or M_α r g of
each point) are per-neuron state too, so a synapse adds fb h_b − fa h_a.

Trial data: each trial carries both samples, ``x_a``, ``x_b`` (n_trials, N_0) and one-hot ``y_a``, ``y_b``
(n_trials, C). ``PHSIC.trial_data`` turns a stream of samples s_0, s_1, ... into pairs (s_{t-1}, s_t)
(cyclically), i.e. every new sample is compared with the one before it.

What is idealised or left out: the memory of eq. (15) is an exact sample-and-hold at the end of sample a (eq.
15's ODE only approximates z − μ for |z − μ| ≫ 1); the temporal-derivative kernel κ of eqs. (14)/(16) is
replaced by the explicit difference of the current and memorised values; the readout is fixed; only the
Gaussian kernel is supported (the cosine kernel's rule is implausible, Appendix B.4) in modes "plain" and
"divnorm" (grouping without divisive normalisation is not Hebbian, §3.4).

Below: one template per population, projection and code block (symbols, never numbers: each layer binds its
values in the namespace), in the order of the sweep. This module imports no Brian2.
"""

from __future__ import annotations

from neuromorph.brian.equations import Eq, GroupEquations

from .params import PHSICCircuitParams

__all__ = [
    "input_population",
    "input_rates",
    "hidden_layer",
    "hidden_rates",
    "projection_synapses",
    "projection_learning",
    "projection_apply",
    "readout_synapses",
    "norm_unit",
    "readout",
    "label_kernel",
    "b1_unit",
    "b2_unit",
    "b3_unit",
    "b3_centre",
    "all_equations",
]


# ---- the sweep: inputs, hidden layers, normalisation interneurons, readout ------------------------------------------
def input_population(name: str) -> GroupEquations:
    """X (input, ``name`` "X") or Y (labels, "Y"): the clamped sample and its memory."""
    return GroupEquations(
        name,
        (
            Eq("out : 1", "", "the clamped sample: a during sample_a, b afterwards (set once per step)"),
            Eq("out_a : 1", "eqs. 15-16", "memory of sample a (ideal sample-and-hold)"),
        ),
    )


def input_rates(name: str, key: str) -> GroupEquations:
    """The input population's rate, once per step at its place in the sweep (order 0): ``key`` is "x" or "y"."""
    return GroupEquations(
        f"{name}_rates",
        (Eq(f"out = clamp_{key}*(in_sample_a*{key}_a_in(t, i) + (1 - in_sample_a)*{key}_b_in(t, i))", "", "sample a, then b"),),
        kind="code",
        when="groups",
        order=0,
    )


def hidden_layer(p: PHSICCircuitParams, k: int) -> GroupEquations:
    """Layer L_k: summed input, rate, derivative, forwarded activity, memories, third factor."""
    lines = [
        Eq("I : 1", "eq. 1", "a = W^k h^(k-1), summed"),
        Eq("z : 1", "eq. 1", "z = f(a) = LReLU(a), set once per step"),
        Eq("g : 1", "eq. 1", "f'(a)"),
        Eq("out : 1", "eq. 21" if p.mode == "divnorm" else "eq. 1", "forwarded activity h^k: r (divnorm) or z"),
        Eq("mod : 1", "eq. 66" if p.mode == "divnorm" else "eq. 62", "third factor at the neuron: M_alpha (divnorm) or M"),
        Eq("out_a : 1", "eqs. 15-16", "memory of the forwarded activity at sample a"),
        Eq("g_a : 1", "eqs. 15-16", "memory of f'(a) at sample a"),
        Eq("fb : 1", "eq. 48" if p.mode == "divnorm" else "eq. 41", "post-synaptic factor of sample b in dW"),
        Eq("fa : 1", "eq. 48" if p.mode == "divnorm" else "eq. 41", "post-synaptic factor of sample a in dW"),
    ]
    namespace = {"slope": float(p.leaky_slope)}
    if p.mode == "divnorm":
        lines += [
            Eq("zbar : 1", "eq. 17", "group mean of z, from the group's interneuron"),
            Eq("u : 1", "eq. 17", "u_alpha, from the group's interneuron"),
        ]
        namespace["p"] = float(p.power)
    return GroupEquations(f"L{k}", tuple(lines), namespace, ref="eqs. 1, 17, 21")


def hidden_rates(p: PHSICCircuitParams, k: int) -> GroupEquations:
    """L_k's rates from its summed inputs, once per step at its place in the sweep (order 10k)."""
    lines = [
        Eq("z = clip(I, 0, inf) + slope*clip(I, -inf, 0)", "eq. 1", "LReLU"),
        Eq("g = int(I > 0) + slope*int(I <= 0)", "eq. 1", "f'"),
    ]
    if p.mode == "divnorm":  # dW = M_alpha (r_b g_b h_b - r_a g_a h_a): the post factors r g M_alpha of the two points
        lines += [
            Eq("out = (z - zbar)/u**p", "eq. 21", "divisive normalisation r"),
            Eq("fb = mod*out*g", "eqs. 48, 63", "M_alpha r_b g_b"),
            Eq("fa = mod*out_a*g_a", "eqs. 48, 63", "M_alpha r_a g_a"),
        ]
    else:  # dW = M (z_b - z_a)(g_b h_b - g_a h_a): the post factors M (z_b - z_a) g of the two points
        lines += [
            Eq("out = z", "eq. 1"),
            Eq("fb = mod*(out - out_a)*g", "eq. 41", "M (z_b - z_a) g_b"),
            Eq("fa = mod*(out - out_a)*g_a", "eq. 41", "M (z_b - z_a) g_a"),
        ]
    namespace = {"slope": float(p.leaky_slope)}
    if p.mode == "divnorm":
        namespace["p"] = float(p.power)
    return GroupEquations(f"L{k}_rates", tuple(lines), namespace, kind="code", when="groups", order=10 * k)


def projection_synapses(k: int) -> GroupEquations:
    """W^k: weights, the window's accumulated change, the summed drive of layer k."""
    return GroupEquations(
        f"W{k}",
        (
            Eq("w : 1", "eq. 1", "W^k_nm, (pre, post)"),
            Eq("acc : 1", "", "weight change accumulated over the window"),
            Eq("I_post = w*out_pre : 1 (summed)", "eq. 1", "a = W^k h^(k-1)"),
        ),
        kind="synapses",
        ref="eq. 1",
    )


def readout_synapses() -> GroupEquations:
    """W_out: the fixed readout weights (not plastic in the streaming circuit)."""
    return GroupEquations(
        "W_out",
        (Eq("w : 1", "", "W_out, (N_L, C)"), Eq("I_post = w*out_pre : 1 (summed)", "", "W_out^T h^L")),
        kind="synapses",
    )


def projection_learning(p: PHSICCircuitParams, k: int) -> GroupEquations:
    """The two-point three-factor change of W^k, summed over the window: run by the ``learn`` event of its
    pre-synaptic population (the post factors fb, fa are per-neuron state, see :func:`hidden_rates`)."""
    ref = "eqs. 48, 63, 66" if p.mode == "divnorm" else "eq. 41"
    doc = "M_alpha (r_b g_b h_b - r_a g_a h_a)" if p.mode == "divnorm" else "M (z_b - z_a)(g_b h_b - g_a h_a)"
    return GroupEquations(
        f"W{k}_learn", (Eq("acc += fb_post*out_pre - fa_post*out_a_pre", ref, doc),), kind="code", when="end", order=1, ref=ref
    )


def projection_apply(p: PHSICCircuitParams, k: int) -> GroupEquations:
    """The window's change applied to W^k, run by the ``apply`` event (last step of a window's last pair)."""
    ref = "eq. 48" if p.mode == "divnorm" else "eq. 41"
    return GroupEquations(
        f"W{k}_apply",
        (
            Eq("w += eta*acc", ref, "eta (x 2(1-p)/n_alpha in divnorm) / pairs per update"),
            Eq("acc = 0", "", "start the next window from zero"),
        ),
        {"eta": float(p.lr_effective(k))},
        kind="code",
        when="end",
        order=2,
        ref=ref,
    )


def norm_unit(p: PHSICCircuitParams, k: int) -> GroupEquations:
    """N_k: one divisive-normalisation interneuron per group of layer k."""
    return GroupEquations(
        f"L{k}_norm",
        (
            Eq("S1 : 1", "eq. 17", "sum of z over the group"),
            Eq("S2 : 1", "eq. 17", "sum of z^2 over the group"),
            Eq("zbar = S1/n_alpha : 1", "eq. 17", "group mean"),
            Eq("u = (S2 - S1*zbar + delta)/n_alpha : 1", "eq. 17", "u_alpha = (|z - zbar|^2 + delta)/n_alpha"),
            Eq("w = u**(1 - p) : 1", "eq. 18", "the kernel's input before centring"),
            Eq("w_a : 1", "eqs. 15-16", "memory of w at sample a"),
            Eq("Mc : 1", "eq. 62", "global third factor M from b3"),
            Eq("dmean : 1", "eq. 18", "mean over groups of (w - w_a), from b1: the centring of v"),
            Eq("Malpha = Mc*(w - w_a - dmean) : 1", "eqs. 64, 66", "M * Delta v_alpha"),
        ),
        {"n_alpha": float(p.group_size(k)), "delta": float(p.delta), "p": float(p.power)},
        ref="eqs. 17-18, 64-66",
    )


def readout(p: PHSICCircuitParams) -> GroupEquations:
    """O: the fixed linear readout o = W_outᵀ h^L + b_out."""
    return GroupEquations("O", (Eq("I : 1", "", "W_out^T h^L, summed"), Eq("b : 1", "", "bias b_out"), Eq("o = I + b : 1", "", "readout")))


def label_kernel(p: PHSICCircuitParams) -> GroupEquations:
    """K: the label kernel k(y_b, y_a) from the label populations and their memory (eq. 35)."""
    if p.center_labels:
        ky = Eq("ky = (C*dot - 1)/(C - 1) : 1", "eq. 35", "centred cosine of one-hot labels: 1 or -1/(C-1)")
    else:
        ky = Eq("ky = dot : 1", "eq. 35", "uncentred: 1 or 0")
    return GroupEquations("K", (Eq("dot : 1", "eq. 35", "y_b . y_a, summed"), ky), {"C": float(p.sizes[-1])}, ref="eq. 35")


# ---- third-factor units of layer k ----------------------------------------------------------------------------------
def b1_unit(p: PHSICCircuitParams, k: int) -> GroupEquations:
    """b1_k: the distance between the two points and the kernel kz = k(z_b, z_a)."""
    if p.mode == "divnorm":
        lines = (
            Eq("D1 : 1", "eq. 65", "sum over groups of Delta w_alpha"),
            Eq("D2 : 1", "eq. 65", "sum over groups of (Delta w_alpha)^2"),
            Eq("b1 = D2 - D1*D1/c : 1", "eq. 65", "sum of (Delta v_alpha)^2"),
            Eq("kz = exp(-b1/(2*sigma**2)) : 1", "eq. 19", "Gaussian kernel on v"),
            Eq("dmean = D1/c : 1", "eq. 18", "mean Delta w, sent back to the interneurons"),
        )
        namespace = {"c": float(p.n_groups), "sigma": float(p.sigma)}
    else:
        lines = (
            Eq("b1 : 1", "eq. 59", "sum of (z - z_a)^2"),
            Eq("kz = exp(-b1/(2*sigma**2)) : 1", "eq. 26", "Gaussian kernel on z"),
        )
        namespace = {"sigma": float(p.sigma)}
    return GroupEquations(f"L{k}_b1", lines, namespace, ref="eqs. 59, 65")


def b2_unit(p: PHSICCircuitParams, k: int) -> GroupEquations:
    """b2_k = γ k_y − 2 kz (eq. 60)."""
    return GroupEquations(
        f"L{k}_b2",
        (Eq("ky_in : 1", "eq. 35", "from K"), Eq("kz_in : 1", "eq. 26", "from b1"), Eq("b2 = gamma*ky_in - 2*kz_in : 1", "eq. 60")),
        {"gamma": float(p.gamma)},
        ref="eq. 60",
    )


def b3_unit(p: PHSICCircuitParams, k: int) -> GroupEquations:
    """b3_k: the running mean of b2 and the layer's third factor M (eqs. 61-62)."""
    return GroupEquations(
        f"L{k}_b3",
        (
            Eq("b2_in : 1", "eq. 60", "from b2"),
            Eq("kz_in : 1", "eq. 26", "from b1"),
            Eq("b3 : 1", "eq. 61", "running mean of b2"),
            Eq("M = -(b2_in - b3)*kz_in/sigma**2 : 1", "eq. 62", "the layer's third factor"),
        ),
        {"sigma": float(p.sigma)},
        ref="eqs. 61-62",
    )


def b3_centre(p: PHSICCircuitParams, k: int) -> GroupEquations:
    """The ``centre`` gate of b3_k at the end of sample_b (eq. 61)."""
    return GroupEquations(
        f"L{k}_b3_centre",
        (Eq("b3 = gate_centre*(beta*b2_in + (1 - beta)*b3) + (1 - gate_centre)*b3", "eq. 61", "running average"),),
        {"beta": float(p.beta_avg)},
        kind="code",
        when="end",
        order=0,
        ref="eq. 61",
    )


def all_equations(p: PHSICCircuitParams) -> list[GroupEquations]:
    """Every template of the circuit ``p``, bound, in the order of the sweep (what ``neuromorph equations``
    prints when no model is built)."""
    out = [input_population("X"), input_rates("X", "x"), input_population("Y"), input_rates("Y", "y")]
    L = p.n_hidden_layers
    for k in range(1, L + 1):
        out += [projection_synapses(k), projection_learning(p, k), projection_apply(p, k), hidden_layer(p, k), hidden_rates(p, k)]
        if p.mode == "divnorm":
            out.append(norm_unit(p, k))
    out += [readout(p), readout_synapses(), label_kernel(p)]
    for k in range(1, L + 1):
        out += [b1_unit(p, k), b2_unit(p, k), b3_unit(p, k), b3_centre(p, k)]
    return out
