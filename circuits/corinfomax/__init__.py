"""CorInfoMax: B. Bozkurt, C. Pehlevan, A. T. Erdogan, "Correlative Information Maximization: A Biologically
Plausible Approach to Supervised Deep Neural Networks without Weight Symmetry", Advances in Neural Information
Processing Systems 36 (NeurIPS 2023); arXiv:2306.04810.

Reproduced: the three-compartment rate network (soma, basal, apical) with lateral inverse-correlation weights
B (or autapses D and lateral inhibition O), trained by contrastive (equilibrium-propagation) Hebbian updates
(eqs. 15-30, Algorithms 1 and 3), as the CorInfoMax-B∞,+ (clipped-ReLU) and -B1,+ (ReLU with an ℓ1
interneuron, Appendix I) variants; the authors' code's choices where the paper is silent (params.py).

Registered as ``corinfomax`` (CorInfoMax-B∞,+, variant "dense") and ``corinfomax-sparse`` (B1,+, "sparse").
"""

from .circuit import CorInfoMax, CorInfoMaxSparse, verification_instance
from .params import VARIANTS, CorInfoMaxParams, plastic_layout, weight_layout

__all__ = ["CorInfoMax", "CorInfoMaxSparse", "CorInfoMaxParams", "VARIANTS", "verification_instance", "weight_layout",
           "plastic_layout"]
