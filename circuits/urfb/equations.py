"""The URFB circuit as data: Brian2 equation templates per population and projection (Appendix 1, Fig. 15).

Every line is symbolic - parameters reach Brian2 by name through the run namespace (:func:`namespace`),
never formatted into the strings; only layer indices appear in names (``in_upd3``, ``in_fb2``: the phase
flags of :func:`circuits.urfb.params.phase_schedule`). Units: every variable is a dimensionless rate.

Discrete-time semantics (the same in the torch twin, circuits/urfb/reference.py): at each step the summed
inputs are computed from the stored states (Brian2's 'groups' slot), then, in the 'end' slot, the phase's
latches run (order 0), the Hebbian accumulators (order 1) and the weight application (order 2).

Populations
-----------
``X0`` input: x = x_in(t, i) (the trial's sample).

``H{l}`` hidden layer l (0 < l < L), units i:
  h (summed over W_l), fb (summed over R_{l+1}); latched x (forward phase, eq. 1 with σ = clip(slope·h)),
  shutdown units u = 1[x ≥ 1], v = −1[x ≤ −1] (phase uv{l}), feedback unit
  d = slope · σ_K(fb − 2K u + 2K v), σ_K(z) = z·1[z ≥ −K] (phase fb{l}; eq. 3 and Appendix 1).

``Out`` output layer, class units c:
  h (summed over W_L) is x_L (linear output); supervisory s = 2y − 1; error unit δ (``d``) with input
  H = h + 2M s − 2M t and transfer σ_δ; control unit ``tc`` = t = σ_t(δ); veto latch z; effective error ``err`` = e = δ(1 − z).

Output error: the case table (rule 6, μ = 1/(C−1), S = margin, assuming |h| < M)
-------------------------------------------------------------------------------
=====================  ==============  =====================================  =========  ==========
class c presented?     h_c             δ_c during the error phase             z_c        e_c = rule 6
=====================  ==============  =====================================  =========  ==========
yes (s_c = +1)         h ≤ −S (below)  1, 1, 1, ...                           0          1
yes                    −S < h ≤ S      1, 1, 1, ...                           0          1
yes                    h > S (above)   1+ε', 0, 1+ε', 0, ... (oscillates)     1          0
no  (s_c = −1)         h < −S (below)  −μ−ε', 0, −μ−ε', 0, ... (oscillates)   1          0
no                     −S ≤ h ≤ S      −μ, −μ, ...                            0          −μ
no                     h > S (above)   −μ, −μ, ...                            0          −μ
=====================  ==============  =====================================  =========  ==========

The paper leaves open what an update does while δ_c oscillates ("ignoring the oscillation this circuit can
be thought of as implementing the rule in (6)"). Our choice: the veto latch z_c = 1 once the control unit t_c
has fired in the error phase (it fires only in the oscillating cases: |δ_c| beyond 1 or −μ), and the signal
every synapse and the feedback read is e_c = δ_c(1 − z_c). So the weight change is exactly rule (6) in every
case, for any error phase of ≥ 1 step (t_c fires on the first step in the oscillating cases); δ_c itself
keeps oscillating, as in the paper, and is recorded.

Projections
-----------
``W{l}`` (pre layer l−1, post layer l): h_post = w x_pre (summed); Hebbian accumulator
acc += in_upd{l} · x_pre · δ_post, applied as w += apply · η m acc (m: the pruning mask, 1 where the entry
may change). ``R{l}`` (pre layer l, post layer l−1): fb_post = w δ_pre (summed); the same product
acc += in_upd{l} · δ_pre · x_post, applied with ε η (eq. 7: URFB ε = 1, FRFB has no update at all).
``apply`` is in_upd{l} with Fig. 15's order (batch 1: δ_{l−1} then sees the updated R_l) and
apply_update (last step of a window of ``batch`` trials) otherwise, with η = lr/batch (batch mean).
"""

from __future__ import annotations

from neuromorph.brian.equations import Eq, GroupEquations

from .params import URFBParams

__all__ = ["input_group", "hidden_group", "hidden_latch", "output_group", "output_latch", "reset",
           "forward_projection", "feedback_projection", "hebbian", "apply_rule"]


def input_group() -> GroupEquations:
    return GroupEquations("X0", (Eq("x = x_in(t, i) : 1", "eq. 1", "input x_0: the trial's sample"),))


def hidden_group(p: URFBParams, l: int) -> GroupEquations:
    """Hidden layer l: summed inputs, latched activity, shutdown and feedback units."""
    return GroupEquations(
        f"H{l}",
        (
            Eq("h : 1", "eq. 1", f"h_l = x_(l-1) W_l, summed over W{l}"),
            Eq("fb : 1", "eq. 2 with R", f"delta_(l+1) R_(l+1), summed over R{l + 1}"),
            Eq("x : 1", "eq. 1", "x_l = sigma(h_l), latched in the forward phase"),
            Eq("u : 1", "App. 1", "shutdown unit 1[x >= 1]"),
            Eq("v : 1", "App. 1", "shutdown unit -1[x <= -1]"),
            Eq("d : 1", "eq. 3", "feedback unit delta_l"),
            Eq("z_in = fb - 2*K*u + 2*K*v : 1", "App. 1", "input of the gated feedback unit"),
            Eq("d_gate = z_in*int(z_in >= -K) : 1", "App. 1", "sigma_delta(z) = z if z >= -K else 0"),
        ),
        {"K": float(p.K)},
        ref="App. 1",
    )


def hidden_latch(p: URFBParams, l: int) -> GroupEquations:
    """The phase-gated latches of layer l (end slot, order 0): forward, uv{l}, fb{l} of Fig. 15."""
    return GroupEquations(
        f"H{l}_latch",
        (
            Eq("x = in_forward*clip(slope*h, -1, 1) + (1 - in_forward)*x", "eq. 1", "sigma(h) = clip(slope h, -1, 1)"),
            Eq(f"u = in_uv{l}*int(x >= 1) + (1 - in_uv{l})*u", "App. 1, Fig. 15 step 2", "shutdown unit"),
            Eq(f"v = -in_uv{l}*int(x <= -1) + (1 - in_uv{l})*v", "App. 1, Fig. 15 step 2", "shutdown unit"),
            Eq(f"d = in_fb{l}*slope*d_gate + (1 - in_fb{l})*d", "eq. 3, Fig. 15 step 3", "delta_l = sigma'(h) (delta R)"),
        ),
        {"slope": float(p.slope)},
        kind="code",
        when="end",
        order=0,
    )


def output_group(p: URFBParams) -> GroupEquations:
    """Output layer: linear x_L = h_L, supervisory s, error unit d (delta), control unit tc, veto z, error err."""
    return GroupEquations(
        "Out",
        (
            Eq("h : 1", "eq. 1", "x_L = h_L (linear output), summed over W_L"),
            Eq("s = 2*y_in(t, i) - 1 : 1", "App. 1", "supervisory unit s_c = +-1"),
            Eq("H = h + 2*M*s - 2*M*tc : 1", "App. 1", "H_c = h_c + 2M s_c - 2M t_c"),
            Eq(
                "sd = (1 + overshoot)*int(H > 2*M + S) + int(H > M)*int(H <= 2*M + S)"
                " - mu*int(H < -M)*int(H >= -2*M - S) - (mu + overshoot)*int(H < -2*M - S) : 1",
                "App. 1, Fig. 13",
                "sigma_delta",
            ),
            Eq("d : 1", "App. 1", "error unit delta_c = sigma_delta(H_c)"),
            Eq("tc : 1", "App. 1", "control unit t_c = sigma_t(delta_c)"),
            Eq("z : 1", "our choice", "veto latch: t_c fired in this error phase"),
            Eq("err : 1", "rule 6", "error read by synapses and feedback: delta_c (1 - z_c)"),
        ),
        {"M": float(p.M), "S": float(p.margin), "mu": float(p.mu_value), "overshoot": float(p.overshoot)},
        ref="App. 1",
    )


def output_latch(p: URFBParams) -> GroupEquations:
    """The error circuit's dynamics during the error phase (end slot, order 0); delta first, then t_c."""
    return GroupEquations(
        "Out_latch",
        (
            Eq("d = in_err*sd + (1 - in_err)*d", "App. 1", "delta_c = sigma_delta(H_c)"),
            Eq("tc = in_err*(int(d > 1) - int(d < -mu)) + (1 - in_err)*tc", "App. 1", "t_c = sigma_t(delta_c)"),
            Eq("z = z + in_err*(1 - z)*int(tc != 0)", "our choice", "remember that the control unit fired"),
            Eq("err = in_err*d*(1 - z) + (1 - in_err)*err", "rule 6", "0 in the oscillating cases"),
        ),
        {"mu": float(p.mu_value)},
        kind="code",
        when="end",
        order=0,
    )


def reset(name: str, variables) -> GroupEquations:
    """Every state zero at the trial's first step ('start' slot)."""
    return GroupEquations(
        f"{name}_reset", tuple(Eq(f"{v} = {v}*(1 - reset_zero)", "", "trial start") for v in variables),
        kind="code", when="start", order=0,
    )


def forward_projection(l: int, n_layers: int) -> GroupEquations:
    """W_l: layer l-1 -> layer l (m: pruning mask, 1 where the entry learns)."""
    return GroupEquations(
        f"W{l}",
        (Eq("w : 1", "", "feedforward weight"), Eq("m : 1", "", "pruning mask"), Eq("acc : 1", "", "Hebbian accumulator"),
         Eq("h_post = w*x_pre : 1 (summed)", "eq. 1", "h_l = x_(l-1) W_l")),
        kind="synapses",
        ref="eq. 1",
    )


def feedback_projection(l: int, n_layers: int) -> GroupEquations:
    """R_l: delta of layer l -> feedback input of layer l-1."""
    err = "err" if l == n_layers else "d"
    return GroupEquations(
        f"R{l}",
        (Eq("w : 1", "", "feedback weight"), Eq("m : 1", "", "pruning mask"), Eq("acc : 1", "", "Hebbian accumulator"),
         Eq(f"fb_post = w*{err}_pre : 1 (summed)", "eq. 2 with R", "delta_l R_l")),
        kind="synapses",
        ref="eq. 2",
    )


def hebbian(name: str, l: int, n_layers: int, feedback: bool) -> GroupEquations:
    """acc += in_upd{l} x_(l-1) delta_l (end, order 1): the same product on W_l and R_l (Fig. 15 step 1)."""
    err = "err" if l == n_layers else "d"
    term = f"acc += in_upd{l}_pre*{err}_pre*x_post" if feedback else f"acc += in_upd{l}_post*x_pre*{err}_post"
    return GroupEquations(f"{name}_acc", (Eq(term, "eq. 7, Fig. 15", "pre x post Hebbian product"),),
                          kind="code", when="end", order=1)


def apply_rule(p: URFBParams, name: str, apply_flag: str, feedback: bool) -> GroupEquations:
    """w += apply eta m acc (end, order 2); eta = lr/batch (batch mean), times eps for R (eq. 7)."""
    side = "pre" if feedback else "post"
    n_batch = 1 if p.feedback_after_update else p.batch
    # the same expressions as reference.simulate_circuit (identical rounding)
    eta = float(p.r_factor * p.lr / n_batch) if feedback else float(p.lr / n_batch)
    return GroupEquations(
        f"{name}_apply",
        (Eq(f"w += {apply_flag}_{side}*eta*m*acc", "eq. 7" if feedback else "eq. 2", "apply the increment"),
         Eq(f"acc = acc*(1 - {apply_flag}_{side})", "", "empty the accumulator")),
        {"eta": eta},
        kind="code",
        when="end",
        order=2,
    )
