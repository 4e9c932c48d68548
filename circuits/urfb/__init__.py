"""URFB: updated random feedback with Hebbian updates and a locally computed hinge error.

Reproduces Y. Amit, "Deep learning with asymmetric connections and Hebbian updates", Frontiers in
Computational Neuroscience 13:18 (2019), doi:10.3389/fncom.2019.00018; arXiv:1812.07965 (v3, December 2021,
the text followed here). Author's code: github.com/yaliamit/URFB (TensorFlow 1.x; facts used are in
``params.py``'s docstring).

What is reproduced:

* ``reference.py``: MLPs of any depth trained with BP (softmax cross-entropy), BP with the multi-class hinge
  loss (eq. 4), URFB (feedback matrices R receive W's Hebbian increment), FRFB (R fixed; Lillicrap et al.
  2016) and the ε-mixtures of eq. (7); saturated-linear σ; optional random 50 % connectivity; and a
  step-by-step torch model of the Appendix-1 circuit;
* ``trainer.py``: the mini-batch trainer used for accuracy runs;
* ``equations.py`` / ``brian_model.py`` / ``circuit.py``: the Appendix-1 circuit in Brian2 - supervisory,
  error and control units at the output (rule 6 from the circuit's own dynamics), shutdown units u, v and
  feedback units in the hidden layers, Hebbian W and R updates, Fig. 15's timing as one phase schedule -
  registered as ``urfb`` and verified against ``reference.simulate_circuit``;
* ``linear.py`` and experiments/urfb/linear_theory.py: the linear-network simulation of §5.1 (Fig. 12).
"""

from .circuit import URFB
from .params import METHODS, URFBParams, phase_schedule, plastic_layout, weight_layout

__all__ = ["URFB", "URFBParams", "METHODS", "weight_layout", "plastic_layout", "phase_schedule"]
