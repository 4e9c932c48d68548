"""Kernel similarity matching (Choudhary, Masset & Ba): the offline objective and its ADMM solver.

A library package, not a registered circuit: it has no Brian2 model. The ``smpc`` circuit's
``[trainer] solver = "ksm-admm"`` runs :class:`KSMTrainer` through ``neuromorph run``.

* params.py  - Table 1 as :class:`KSMParams` (+ validate) and the paper's choices left open;
* prox.py    - soft threshold and probability-simplex projection (eq. 23, Appendix B);
* admm.py    - Algorithm 2 / Appendix C (Z-, P-, M-, W-steps; Schedules 1-3), mini-batched;
* metrics.py - implicit generative map Â = X Zᵀ H⁻¹/T, R², 1-sparsity (Appendix F), ‖z‖₀, dictionary error;
* trainer.py - :class:`KSMTrainer` (task = "reconstruction");
* kds.py     - alternating minimisation of the K-Deep Simplex objective (eq. 8; Tasissa et al. 2023), the
               SMPC moons warm start.
"""

from .params import TABLE1, KSMParams, params_from_dict, table1
from .trainer import KSMTrainer, make_ksm_trainer

__all__ = ["KSMParams", "KSMTrainer", "TABLE1", "table1", "params_from_dict", "make_ksm_trainer"]
