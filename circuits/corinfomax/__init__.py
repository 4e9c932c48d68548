"""CorInfoMax (Bozkurt, Pehlevan, Erdogan 2023): parameters, the Brian2/torch circuit, verification instances.

Registered as ``corinfomax`` (CorInfoMax-B∞,+, variant "dense") and ``corinfomax-sparse`` (B1,+, "sparse").
"""

from .circuit import CorInfoMax, CorInfoMaxSparse, verification_instance
from .params import VARIANTS, CorInfoMaxParams

__all__ = ["CorInfoMax", "CorInfoMaxSparse", "CorInfoMaxParams", "VARIANTS", "verification_instance"]
