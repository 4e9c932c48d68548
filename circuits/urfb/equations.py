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

from .params import URFBParams

__all__ = ["namespace", "input_equations", "hidden_equations", "output_equations", "forward_projection",
           "feedback_projection", "DOC_ROWS"]

# (eq. line, paper reference) rows; the code strings below are built from these templates.
DOC_ROWS: dict[str, list[tuple[str, str]]] = {}


def namespace(params: URFBParams) -> dict[str, float]:
    """Every parameter the equations name, with its value (dimensionless)."""
    p = params
    return {
        "slope": float(p.slope),  # σ(h) = clip(slope·h, −1, 1)  (§3.1 Remark 2; code 0.5)
        "K": float(p.K),  # shutdown bound (Appendix 1)
        "M": float(p.M),  # output input bound (Appendix 1)
        "S": float(p.margin),  # learning threshold (rule 6)
        "mu": float(p.mu_value),  # off-class error (eqs. 4–6)
        "overshoot": float(p.overshoot),  # ε' of σ_δ (Appendix 1)
        "eta_w": float(p.lr / (1 if p.feedback_after_update else p.batch)),  # η, batch mean
        "eta_r": float(p.r_factor * p.lr / (1 if p.feedback_after_update else p.batch)),  # ε η (eq. 7)
    }


def _lines(rows):
    # the references stay in DOC_ROWS (for printing); Brian2 gets the bare lines
    return "\n".join(code for code, _ in rows)


def input_equations() -> str:
    rows = [("x = x_in(t, i) : 1", "input x_0 (eq. 1)")]
    DOC_ROWS["X0"] = rows
    return _lines(rows)


def hidden_equations(l: int) -> tuple[str, str, str]:
    """(equations, latch code at 'end', reset code at 'start') of hidden layer l."""
    rows = [
        ("h : 1", "h_l = W_l x_{l-1}, summed over W" + str(l) + " (eq. 1)"),
        ("fb : 1", "δ_{l+1} R_{l+1}, summed over R" + str(l + 1) + " (eq. 2 with R)"),
        ("x : 1", "x_l = σ(h_l), latched in the forward phase (eq. 1)"),
        ("u : 1", "shutdown unit 1[x ≥ 1] (Appendix 1)"),
        ("v : 1", "shutdown unit −1[x ≤ −1] (Appendix 1)"),
        ("d : 1", "feedback unit δ_l (eq. 3)"),
        ("z_in = fb - 2*K*u + 2*K*v : 1", "input of the gated feedback unit (Appendix 1)"),
        ("d_gate = z_in*int(z_in >= -K) : 1", "σ_δ(z) = z if z ≥ −K else 0 (Appendix 1)"),
    ]
    DOC_ROWS[f"H{l}"] = rows
    latch = "\n".join(
        [
            "x = in_forward*clip(slope*h, -1, 1) + (1 - in_forward)*x",
            f"u = in_uv{l}*int(x >= 1) + (1 - in_uv{l})*u",
            f"v = -in_uv{l}*int(x <= -1) + (1 - in_uv{l})*v",
            f"d = in_fb{l}*slope*d_gate + (1 - in_fb{l})*d",
        ]
    )
    reset = "\n".join(f"{s} = {s}*(1 - reset_zero)" for s in ("x", "u", "v", "d"))
    return _lines(rows), latch, reset


def output_equations() -> tuple[str, str, str]:
    """(equations, latch code at 'end', reset code at 'start') of the output layer's error circuit."""
    rows = [
        ("h : 1", "x_L = h_L, summed over W_L (linear output, eq. 1)"),
        ("s = 2*y_in(t, i) - 1 : 1", "supervisory unit s_c = ±1 (Appendix 1)"),
        ("H = h + 2*M*s - 2*M*tc : 1", "H_c = h_c + 2M s_c − 2M t_c (Appendix 1)"),
        (
            "sd = (1 + overshoot)*int(H > 2*M + S) + int(H > M)*int(H <= 2*M + S)"
            " - mu*int(H < -M)*int(H >= -2*M - S) - (mu + overshoot)*int(H < -2*M - S) : 1",
            "σ_δ (Appendix 1, Fig. 13)",
        ),
        ("d : 1", "error unit δ_c = σ_δ(H_c) (Appendix 1)"),
        ("tc : 1", "control unit t_c = σ_t(δ_c) (Appendix 1)"),
        ("z : 1", "veto latch: t_c fired in this error phase (our choice, see the case table)"),
        ("err : 1", "error e_c read by the synapses: δ_c (1 − z_c) = rule (6)"),
    ]
    DOC_ROWS["Out"] = rows
    latch = "\n".join(
        [
            "d = in_err*sd + (1 - in_err)*d",
            "tc = in_err*(int(d > 1) - int(d < -mu)) + (1 - in_err)*tc",  # σ_t of Appendix 1
            "z = z + in_err*(1 - z)*int(tc != 0)",
            "err = in_err*d*(1 - z) + (1 - in_err)*err",
        ]
    )
    reset = "\n".join(f"{s} = {s}*(1 - reset_zero)" for s in ("d", "tc", "z", "err"))
    return _lines(rows), latch, reset


def forward_projection(l: int, post_error: str, apply_flag: str) -> tuple[str, str, str]:
    """W_l: (equations, Hebbian accumulation, application). ``post_error``: 'd' or 'err' (the output's)."""
    # m: pruning mask (1 where the entry learns); h_post: eq. 1
    eqs = "\n".join(["w : 1", "m : 1", "acc : 1", "h_post = w*x_pre : 1 (summed)"])
    # the Hebbian product δ_l x_(l-1) (Fig. 15, step 1)
    acc = f"acc += in_upd{l}_post*x_pre*{post_error}_post"
    apply = f"w += {apply_flag}_post*eta_w*m*acc\nacc = acc*(1 - {apply_flag}_post)"
    return eqs, acc, apply


def feedback_projection(l: int, pre_error: str, apply_flag: str, plastic: bool) -> tuple[str, str | None, str | None]:
    """R_l: feedback δ_l -> layer l−1, updated with ε × W_l's increment (URFB) or fixed (FRFB)."""
    eqs = "\n".join(["w : 1", "m : 1", "acc : 1", f"fb_post = w*{pre_error}_pre : 1 (summed)"])  # eq. 2 with R
    if not plastic:
        return eqs, None, None
    acc = f"acc += in_upd{l}_pre*{pre_error}_pre*x_post"  # the same Hebbian product as W_l (URFB)
    apply = f"w += {apply_flag}_pre*eta_r*m*acc\nacc = acc*(1 - {apply_flag}_pre)"
    return eqs, acc, apply
