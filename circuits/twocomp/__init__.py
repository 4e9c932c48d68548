"""twocomp: neuromorph's own small learning circuit (no paper).

It exists to exercise every part of the toolkit end to end on a circuit small enough to check by hand:
two-compartment rate neurons, an inhibitory interneuron population, phase-gated contrastive Hebbian
plasticity, free and nudged phases, resets, and mini-batch update windows. The references in
equations.py (``X``, ``H``, ``I``, ``O``, ``snapshot``, ``learning``) name the items below.

Populations (all rates dimensionless, r = σ(u) = clip(u, 0, 1) for pyramidal cells):

* ``X`` input, clamped to the sample during every phase:                        r_x = clamp_x · x
* ``H`` hidden pyramidal cells, basal and apical compartments as input currents:
      τ du_h/dt = −g_L u_h + g_B (W_xhᵀ r_x − u_h) + g_A (W_fbᵀ r_o − u_h) − W_ihᵀ r_i
* ``I`` inhibitory interneurons driven by the hidden layer:   τ du_i/dt = −u_i + W_hiᵀ r_h,  r_i = max(u_i, 0)
* ``O`` output cells, nudged toward the one-hot label y in the nudged phase:
      τ du_o/dt = −u_o + W_hoᵀ r_h + nudge · β (y − r_o)

Every trial starts from u = 0 (reset ``zero``). The free phase ends with a ``snapshot`` of the rates (gate
``snapshot``); the nudged phase ends by accumulating the contrastive Hebbian terms (``learning``, gate
``accumulate``)

      ΔW_xh ∝ r_x (r_h^nud − r_h^free)ᵀ,   ΔW_ho ∝ r_h^nud r_o^nudᵀ − r_h^free r_o^freeᵀ,

which are applied, averaged over the window and scaled by lr/β, after every ``batch`` trials. W_fb, W_hi
and W_ih are fixed. All inputs to a step come from the previous step's rates (Brian2's synchronous update),
and both simulators integrate with forward Euler.

Files: params.py (parameters, schedule, weight_layout, initial weights), equations.py (the model as data),
brian_model.py (Brian2 groups from the templates), reference.py (torch), spiking.py (the spiking twin),
trainer.py (mini-batch trainer), circuit.py (the Circuit the registry finds).
"""

from .circuit import TwoComp
from .params import TwoCompParams
from .trainer import TwoCompTrainer

__all__ = ["TwoComp", "TwoCompParams", "TwoCompTrainer"]
