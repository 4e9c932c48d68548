"""smpc: the SMPC circuit of Choudhary, Masset & Ba, "Implicit generative modeling by kernel similarity
matching" (§7, Appendix E; ../shared/papers/ksm-smpc-choudhary-masset-ba.md). No public code exists; this is
written from the paper, every reading recorded in params.py's docstring.

Populations: inputs X (x), intermediate units Y (y, eq. 39), two-cell latent units Z (dendrite v and soma z,
eq. 40), interneurons ζ (at their fixed point ρ(Ωz − y) or dynamic, eq. 41). Synapses: W (X → Y, Hebbian),
M (Y → Y, anti-Hebbian), Ω (Z → ζ, carrying Ωᵀζ back; ΔΩ ∝ −ζ zᵀ), eq. 42. Constraints on z: ℓ1 (soft
threshold or subgradient) or the probability simplex (Appendix B).

Files: params.py (parameters, readings, schedule, initialisation), equations.py (the model as data),
brian_model.py (Brian2), reference.py (torch), trainer.py (full-batch trainer; ``solver = "ksm-admm"`` wraps
circuits/ksm), spiking.py (spiking twin of the inference dynamics: torch reference and Brian2 network), circuit.py
(the registry's Circuit).
"""

from .circuit import SMPC
from .params import SMPCParams

__all__ = ["SMPC", "SMPCParams"]
