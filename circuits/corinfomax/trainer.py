"""Fast batched torch training of CorInfoMax (the form used for accuracy runs).

Semantics (identical to the float64 reference of ``circuits/corinfomax/reference.py``; they follow the
authors' code, see the docstring of ``circuits/corinfomax/params.py``). Row-major batches: a layer's rates are
``r[k]`` of shape (batch, N_k); ``r[0] = x`` is clamped. Weights in (n_pre, n_post) orientation::

    W_ff{k}  (N_k, N_{k+1})   k = 0..P-1   basal drive of layer k+1:   r[k] @ W_ff{k}
    W_fb{k}  (N_{k+1}, N_k)   k = 1..P-1   apical drive of layer k:    r[k+1] @ W_fb{k}
    B{k}     (N_k, N_k)       k = 1..P     symmetric lateral matrix:   r[k] @ B{k}

Neural dynamics: one Gauss-Seidel sweep per iteration s, layers k = 1..P bottom-up; layer k sees r[k-1] of
this sweep and r[k], r[k+1] (and, sparse, its own interneuron q[k]) of the previous sweep::

    hidden: u += mu_s * (-g u + g r + 2 gamma r B + (W_ff r_below - u)/eps + (W_fb r_above - u)/eps [- q])
    output: u += mu_s * (-g u + g r +   gamma r B + (W_ff r_below - u)/eps - u - beta (r - y)     [- q])
    r = clamp(u, 0, 1)  ("dense", B_inf,+)          r = relu(u)  ("sparse", B_1,+)
    sparse only, right after r[k] is updated (so with the *new* r[k] and the *old* q[k]):
    a += mu_a_k * (-a + sum_j r_j - 1 + q),   q = relu(a)     (mu_a_k = mu_a[0] hidden, mu_a[1] output)

mu_s = params.mu_at(s), s restarting at 0 in each phase. Free phase: u = r = 0 (a = q = 0), T_free sweeps,
beta = 0. Nudged phase: u := r_free (the clipped rates), a := q_free, T_nudged sweeps with the signed beta.

Updates after the nudged phase, all computed from the pre-update weights, batch MEAN, divided by signed beta
(f = params.lr_factor(epoch), n = samples in the batch)::

    W_ff{k} += lr_ff[k]   f / (beta n) * sum_b ( r[k]_nud^T e_nud - r[k]_free^T e_free ),  e = r[k+1] - r[k] W_ff{k}
    W_fb{k} += lr_fb[k-1] f / (beta n) * sum_b ( r[k+1]_nud^T e'_nud - r[k+1]_free^T e'_free ), e' = r[k] - r[k+1] W_fb{k}
    B{k}    <- (B{k} - gamma/n * Z^T Z) / lambda,  Z = r[k]_nud B{k}
    params.weight_decay (off by default): then W <- W - lr f eps W for each W_ff{k}, W_fb{k} (its own lr)

``lateral_update = "DO"`` keeps instead M = D - O = s_k (c_k gamma B + g I) (s, c) = (eps, 2) hidden, (1, 1)
output, with D diagonal (autapses) and O off-diagonal (lateral inhibition) and applies eqs. 29-30:
D <- D/lambda - s c gamma^2 <z_i^2>/lambda + s g (1 - 1/lambda), O <- O/lambda + s c gamma^2 <z_i z_j>/lambda,
z = B r_nud recovered from M. Mathematically identical to "B" (tested to 1e-12 in float64). B recovered from M
= s (c gamma B + g I) loses log10(g / (c gamma)) ~ 4 digits to cancellation: in float32 the reported B{k} of
the "DO" form is good to ~1e-3 only (the dynamics and W_ff/W_fb are unaffected); use float64 to compare B.

Randomness: see :func:`batch_plan` (order and beta signs per epoch) and :func:`initial_weights`.

What a second implementation (the Brian2 model, the float64 ``simulate_reference``) must match exactly:
the Gauss-Seidel order above (own-layer terms g r, B r and, sparse, q from the previous sweep); the
interneuron step after the layer's rate step (new r, old q); u := r_free and a := q_free at the nudged start;
the output's apical leak of conductance 1 (-u) present in both phases; gamma B at the output but 2 gamma B in
hidden layers; one shared eps; updates from pre-update weights, batch mean over the trials actually in the
batch (the last batch of an epoch may be shorter), divided by the signed beta; the B update with the
nudged rates only; lr_ff/lr_fb scaled by ``params.lr_factor(epoch)`` (absolute exponent).
Implementation details that are mathematically (not bitwise) identical: x W_ff0 is computed once per batch;
W_ff0's update uses e_nud - e_free = r1_nud - r1_free (the clamped input is the same in both phases); with
oneDNN, g r and the lateral term are one matrix product r (c gamma B + g I) and the lateral block enters as its
own transpose (B is symmetric); with BLAS (the "fused storage", next paragraph) the product is r [B | W_ff] and
the scales c gamma, g, 1/eps (and the output's gamma, g - beta) are applied in the sweep kernel's element-wise
loop.

Speed: W_ff{0} x is hoisted out of the iterations; every iteration does one GEMM per hidden layer,
``r[k] @ [c gamma B{k} + g I | W_ff{k}/eps]`` (oneDNN; lateral term of layer k for the next sweep and basal
drive of layer k+1 for this sweep, fused) or ``r[k] @ F_k`` (BLAS, "B" form: fused storage), plus small GEMMs
for the feedback and the output's lateral term. Fused storage: B_k and W_ff{k} are views of one buffer
F_k = [B_k | W_ff{k}] that the updates change in place and the sweeps multiply with as it is, so no matrix is
rebuilt or copied per batch (that was ~10 % of an epoch), and the B update's factor Z = r_nud B_k of a hidden
layer is the first N_k columns of the last sweep's product (no GEMM of its own). With
two or more threads the batch is split into row blocks integrated concurrently (one Python thread per block,
one torch thread each; ``lanes.py``). The sweeps of a phase are one TorchScript or C++ call (``kernels.py``), which runs
without the GIL, so the blocks really run in parallel and the per-op Python overhead is gone. Each block
also computes its rows of Z = r_nud B (the B update's factor) right after its dynamics. The updates of a
batch run on two threads, overlapped with deriving (and, for oneDNN, packing) the next batch's matrices
(:meth:`CorInfoMaxTrainer._update_and_derive_split`). Updates are one GEMM per matrix per batch.
"""

from __future__ import annotations

import math
import os
import threading
import time
from dataclasses import asdict

import numpy as np
import torch

from neuromorph.circuit import Trainer
from neuromorph.errors import ConfigError, ShapeError

from . import kernels
from .kernels import NO_TENSOR, onednn_available, resolve_kernel
from .lanes import Block, Worker, run_parallel
from .params import CorInfoMaxParams, revive_column, weight_layout

__all__ = ["initial_weights", "batch_plan", "weight_names", "CorInfoMaxTrainer", "angle_degrees", "TRAINER_OPTIONS"]

# The options of :class:`CorInfoMaxTrainer` a run can set (``[train]`` section), with their defaults.
TRAINER_OPTIONS = {"threads": None, "kernel": "auto", "gemm": "auto", "dtype": "float32", "eval_batch": 1000}

# ---------------------------------------------------------------------------------------------------------
# deterministic helpers shared with the Brian2 side
# ---------------------------------------------------------------------------------------------------------
def weight_names(params: CorInfoMaxParams) -> list[str]:
    """Names of the stored weights, in :func:`.params.weight_layout` order."""
    return list(weight_layout(params))


def initial_weights(params: CorInfoMaxParams, seed: int) -> dict[str, np.ndarray]:
    """Initial weights (float64, (n_pre, n_post) orientation), as the authors' code draws them.

    ``rng = np.random.default_rng(seed)``; then, in this order, each drawn with ``rng.uniform(-l, l, shape)``
    directly in the stored shape (Xavier-uniform, l = sqrt(6 / (fan_in + fan_out)), symmetric in the fans):

    1. ``W_ff{k}``, k = 0..P-1, shape (N_k, N_{k+1}), l = sqrt(6 / (N_k + N_{k+1}));
    2. ``W_fb{k}``, k = 1..P-1, shape (N_{k+1}, N_k), l = sqrt(6 / (N_k + N_{k+1}));
    3. ``B{k}``, k = 1..P: A of shape (N_k, N_k) with l = sqrt(3 / N_k), ``B = A @ A.T`` then
       ``B = 0.5 * (B + B.T)`` (exactly symmetric).
    """
    n = params.sizes
    P = params.n_layers
    rng = np.random.default_rng(seed)
    out: dict[str, np.ndarray] = {}
    for k in range(P):
        lim = math.sqrt(6.0 / (n[k] + n[k + 1]))
        out[f"W_ff{k}"] = rng.uniform(-lim, lim, size=(n[k], n[k + 1]))
    for k in range(1, P):
        lim = math.sqrt(6.0 / (n[k] + n[k + 1]))
        out[f"W_fb{k}"] = rng.uniform(-lim, lim, size=(n[k + 1], n[k]))
    for k in range(1, P + 1):
        lim = math.sqrt(6.0 / (2 * n[k]))
        a = rng.uniform(-lim, lim, size=(n[k], n[k]))
        b = a @ a.T
        out[f"B{k}"] = 0.5 * (b + b.T)
    return out


def batch_plan(n_samples: int, batch: int, seed: int, epoch: int) -> tuple[np.ndarray, np.ndarray]:
    """Sample order and beta signs of one epoch.

    ``rng = np.random.default_rng([seed, epoch])``; ``order = rng.permutation(n_samples)``; then
    ``signs = 2 * rng.integers(0, 2, size=n_batches) - 1`` (int64, +-1) with
    ``n_batches = ceil(n_samples / batch)``. Batch b holds ``order[b*batch:(b+1)*batch]`` (the last one may be
    shorter) and is nudged with ``beta * signs[b]`` (``params.random_sign_beta = False``: all signs +1, the
    same draws are still made). The update of batch b is divided by that signed beta.
    """
    if n_samples < 1 or batch < 1:
        raise ConfigError(f"batch_plan needs n_samples >= 1 and batch >= 1, got {n_samples}, {batch}")
    rng = np.random.default_rng([int(seed), int(epoch)])
    order = rng.permutation(n_samples)
    n_batches = -(-n_samples // batch)
    signs = 2 * rng.integers(0, 2, size=n_batches) - 1
    return order, signs.astype(np.int64)


def angle_degrees(a: np.ndarray, b: np.ndarray) -> float:
    """acos(tr(A B^T) / sqrt(tr(A A^T) tr(B B^T))) in degrees, for equal-shape A, B."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    c = float(np.sum(a * b) / math.sqrt(float(np.sum(a * a)) * float(np.sum(b * b))))
    return math.degrees(math.acos(max(-1.0, min(1.0, c))))


# ---------------------------------------------------------------------------------------------------------
# the trainer
# ---------------------------------------------------------------------------------------------------------
class CorInfoMaxTrainer(Trainer):
    """Batched torch trainer for CorInfoMax (dense B_inf,+ or sparse B_1,+), see the module docstring.

    ``threads``: CPU threads to use (None: min(2, torch's thread count), so a sweep worker's share of the cores,
    or ``[train] threads``, also bounds this trainer). With ``split`` (default: threads >= 2 and the
    batch has >= 2 rows per thread) each thread integrates its own row block of the batch; otherwise the
    whole batch is integrated at once with ``threads`` intra-op torch threads. ``eval_batch``: rows per
    chunk in :meth:`predict` (results do not depend on it beyond float rounding). ``gemm``: "onednn"
    (pre-packed AVX-512 kernels, float32), "blas" or "auto" (float32: whichever is faster on this machine,
    :func:`.kernels.faster_gemm`). ``kernel``: the sweep loop, "cpp" (fused C++,
    compiled on first use), "torchscript", "python" (all the same arithmetic) or "auto" (first that works;
    the one in use is ``self.kernel``).
    """

    def __init__(self, params: CorInfoMaxParams, seed: int, dtype=torch.float32, threads: int | None = None,
                 *, split: bool | None = None, eval_batch: int = 1000, gemm: str = "auto", kernel: str = "auto"):
        if not isinstance(params, CorInfoMaxParams):
            raise ConfigError(f"CorInfoMaxTrainer expects CorInfoMaxParams, got {type(params).__name__}")
        if dtype not in (torch.float32, torch.float64):
            raise ConfigError(f"dtype must be torch.float32 or torch.float64, got {dtype}")
        self.params = params
        self.seed = int(seed)
        self.dtype = dtype
        # None follows torch's thread count (the runner sets it from [train] threads, a sweep worker to its share
        # of the cores): min(2, cpu count) would give every worker of a 2-worker sweep on 2 cores two threads
        self.threads = int(threads) if threads else max(1, min(2, torch.get_num_threads(), os.cpu_count() or 1))
        self.n_lanes = self.threads if (split if split is not None else self.threads >= 2) else 1
        self.n_lanes = max(1, min(self.n_lanes, params.batch // 2 if params.batch >= 2 else 1))
        self.eval_batch = int(eval_batch)
        if gemm not in ("auto", "onednn", "blas"):
            raise ConfigError(f"gemm must be 'auto', 'onednn' or 'blas', got {gemm!r}")
        onednn_ok = dtype == torch.float32 and onednn_available()
        if gemm == "onednn" and not onednn_ok:
            raise ConfigError("gemm='onednn' needs float32 and a torch build with oneDNN (mkldnn)")
        self.kernel, self._sweeps = resolve_kernel(kernel)
        if gemm == "auto" and onednn_ok:  # the faster of the two here, for the fused GEMM of the first hidden layer
            rows = -(-params.batch // self.n_lanes)
            n1 = params.sizes[1]
            gemm = kernels.faster_gemm(rows, n1, n1 + params.sizes[2]) if params.n_layers > 1 else "blas"
        self.gemm = "onednn" if (gemm == "onednn" or (gemm == "auto" and onednn_ok)) else "blas"
        self.epochs_done = 0
        self._worker: list[Worker] = []
        self._sizes = tuple(params.sizes)
        self.P = params.n_layers
        self.sparse = params.variant == "sparse"
        self.mode = params.lateral_update
        # BLAS with the "B" lateral form: B_k and W_ff{k} live side by side in one buffer F_k = [B_k | W_ff{k}],
        # which is the fused GEMM's matrix itself; the scales c gamma, g and 1/eps are applied by the sweep
        # kernel where the terms are used, so no per-batch rebuild or copy of the 1 MB matrix (module docstring)
        self._fused = self.gemm == "blas" and self.mode == "B"
        self._load_weights(initial_weights(params, self.seed))
        # revive_silent_output (opt-in remedy, params.py): consecutive silent batches per output unit, revivals
        self._silent = np.zeros(params.sizes[-1], dtype=np.int64)
        self.revived = 0
        self._pos = (0, 0)  # (epoch, batch) of the update in progress: seeds the revival draws
        self._bufs_cache: dict[int, dict] = {}
        self._blocks_cache: dict[tuple, list] = {}
        # seconds spent per part of train_epoch (cumulative; reset freely): per-batch preparation (gather,
        # derived matrices and oneDNN packing), neural dynamics (both phases), weight updates (in the split
        # layout "update" also holds the next batch's preparation, which runs beside the updates)
        # "*_cpu": CPU seconds of the calling thread only (in the split layout each worker does the same share)
        self.timing = {"prepare": 0.0, "dynamics": 0.0, "update": 0.0, "batches": 0,
                       "prepare_cpu": 0.0, "dynamics_cpu": 0.0, "update_cpu": 0.0}

    # ---- weights ----------------------------------------------------------------------------------------
    def _t(self, a) -> torch.Tensor:
        return torch.tensor(np.asarray(a), dtype=self.dtype)

    def _lat_scale(self, k: int) -> tuple[float, float]:
        """(s, c): M_k = s (c gamma B_k + g I); hidden (eps, 2), output (1, 1)."""
        return (self.params.epsilon, 2.0) if k < self.P else (1.0, 1.0)

    def _load_weights(self, w: dict, do: dict | None = None) -> None:
        p = self.params
        names = weight_names(p)
        missing = sorted(set(names) - set(w))
        if missing:
            raise ShapeError(f"CorInfoMax weights missing {missing}; expected {names}")
        expected = weight_layout(p)
        for name in names:
            if tuple(np.shape(w[name])) != expected[name]:
                raise ShapeError(f"weight {name!r} has shape {tuple(np.shape(w[name]))}, expected {expected[name]}")
        P = self.P
        self.Wff = [self._t(w[f"W_ff{k}"]) for k in range(P)]
        self.Wfb = [None] + [self._t(w[f"W_fb{k}"]) for k in range(1, P)]
        self.B = [None] + [self._t(w[f"B{k}"]) for k in range(1, P + 1)]
        self.F = [None] * P
        if self._fused:  # hidden layers: B_k and W_ff{k} become views of F_k = [B_k | W_ff{k}] (updated in place)
            n = self._sizes
            for k in range(1, P):
                f = torch.empty(n[k], n[k] + n[k + 1], dtype=self.dtype)
                f[:, : n[k]].copy_(self.B[k])
                f[:, n[k]:].copy_(self.Wff[k])
                self.F[k], self.B[k], self.Wff[k] = f, f[:, : n[k]], f[:, n[k]:]
        if self.mode == "DO":
            self.D = [None]
            self.O = [None]
            g, gam = p.g_lk, p.gamma
            for k in range(1, P + 1):
                if do is not None:
                    self.D.append(self._t(do[f"D{k}"]))
                    self.O.append(self._t(do[f"O{k}"]))
                    continue
                s, c = self._lat_scale(k)
                b64 = torch.tensor(np.asarray(w[f"B{k}"]), dtype=torch.float64)
                d = s * (c * gam * torch.diagonal(b64) + g)
                o = -s * c * gam * b64
                o.fill_diagonal_(0.0)
                self.D.append(d.to(self.dtype))
                self.O.append(o.to(self.dtype))
            self.B = None  # derived on demand from D, O

    def _B_from_DO(self, k: int) -> torch.Tensor:
        s, c = self._lat_scale(k)
        m = -self.O[k] / s
        m.diagonal().add_(self.D[k] / s - self.params.g_lk)
        return m / (c * self.params.gamma)

    def weights(self) -> dict[str, np.ndarray]:
        P = self.P
        out = {f"W_ff{k}": self.Wff[k].numpy().copy() for k in range(P)}
        out.update({f"W_fb{k}": self.Wfb[k].numpy().copy() for k in range(1, P)})
        for k in range(1, P + 1):
            out[f"B{k}"] = (self._B_from_DO(k) if self.mode == "DO" else self.B[k]).numpy().copy()
        return out

    def lateral_M(self) -> dict[str, np.ndarray]:
        """M_k = s_k (c_k gamma B_k + g I) (= D - O), the apical lateral matrices, for checks."""
        out = {}
        for k in range(1, self.P + 1):
            if self.mode == "DO":
                m = -self.O[k].clone()
                m.diagonal().add_(self.D[k])
            else:
                s, c = self._lat_scale(k)
                m = s * c * self.params.gamma * self.B[k]
                m.diagonal().add_(s * self.params.g_lk)
            out[f"M{k}"] = m.numpy().copy()
        return out

    def state_dict(self) -> dict:
        st = {"weights": self.weights(), "seed": self.seed, "epochs_done": self.epochs_done,
              "params": asdict(self.params)}
        if self.params.revive_silent_output:
            st["revive"] = {"silent_batches": self._silent.copy(), "revived": np.int64(self.revived)}
        if self.mode == "DO":
            st["DO"] = {**{f"D{k}": self.D[k].numpy().copy() for k in range(1, self.P + 1)},
                        **{f"O{k}": self.O[k].numpy().copy() for k in range(1, self.P + 1)}}
        return st

    def load_state_dict(self, state: dict) -> None:
        self._load_weights(state["weights"], state.get("DO"))
        self.seed = int(state.get("seed", self.seed))
        self.epochs_done = int(state.get("epochs_done", 0))
        if state.get("revive") is not None:
            self._silent = np.asarray(state["revive"]["silent_batches"], dtype=np.int64).copy()
            self.revived = int(state["revive"]["revived"])

    def options(self) -> dict:
        """What this trainer runs with, "auto" and None resolved (recorded in the run's manifest)."""
        return {"threads": self.threads, "lanes": self.n_lanes, "kernel": self.kernel, "gemm": self.gemm,
                "dtype": str(self.dtype).replace("torch.", ""), "eval_batch": self.eval_batch}

    def epoch_metrics(self) -> dict:
        w = self.weights()
        out = {f"angle_{k}": angle_degrees(w[f"W_ff{k}"], w[f"W_fb{k}"].T) for k in range(1, self.P)}
        if self.params.revive_silent_output:
            out["revived_output_units"] = self.revived  # cumulative over the run
        return out

    # ---- buffers ----------------------------------------------------------------------------------------
    def _buffers(self, nb: int) -> dict:
        if nb in self._bufs_cache:
            return self._bufs_cache[nb]
        n, P, dt = self._sizes, self.P, self.dtype
        z = lambda *s: torch.zeros(*s, dtype=dt)  # noqa: E731
        # nudged rates r and free rates rf of a layer are the two halves of one (2 nb, N_k) buffer "rr": the
        # W_ff/W_fb updates of a full batch then take [r; rf] as it is (one product per matrix, no concatenation)
        rr = [None] + [z(2 * nb, n[k]) for k in range(1, P + 1)]
        bufs = {
            "rr": rr,
            "x": z(nb, n[0]),
            "y": z(nb, n[P]),
            "u": [None] + [z(nb, n[k]) for k in range(1, P + 1)],
            "r": [None] + [t[:nb] for t in rr[1:]],
            "rf": [None] + [t[nb:] for t in rr[1:]],
            "E": [None] + [z(nb, n[k] + n[k + 1]) for k in range(1, P)],
            "G": [None] + [z(nb, n[k] + n[k + 1]) for k in range(1, P)],
            "a": [None] + [z(nb, 1) for _ in range(1, P + 1)] if self.sparse else None,
            "q": [None] + [z(nb, 1) for _ in range(1, P + 1)] if self.sparse else None,
            "qf": [None] + [z(nb, 1) for _ in range(1, P + 1)] if self.sparse else None,
            "tmp": z(nb, 1) if self.sparse else None,
            # Z[k] = r[k]_nud B_k, the B update's factor, computed by each lane for its rows right after its
            # dynamics (in parallel) instead of in the update step; in the fused layout the hidden layers' Z is
            # the lateral half of the last sweep's product G[k] = r[k]_nud [B_k | W_ff{k}] (see _z)
            "Z": [None] + [z(nb, n[k]) for k in range(1, P + 1)] if self.mode == "B" else None,
        }
        self._bufs_cache[nb] = bufs
        return bufs

    def _blocks(self, bufs: dict, n: int, lanes: int) -> list[Block]:
        lanes = max(1, min(lanes, n))
        edges = [round(i * n / lanes) for i in range(lanes + 1)]
        return [Block(bufs, edges[i], edges[i + 1]) for i in range(lanes)]

    def _derived(self, beta: float, rows_hint: int = 0) -> dict:
        """Per-batch matrices derived from the weights (read-only during the dynamics)."""
        mats = self._mats_shell()
        for k in range(1, self.P):
            self._derive_lateral(mats, k)
            self._derive_forward(mats, k)
            self._pack(mats, k, rows_hint)
        self._derive_output(mats, beta)
        return mats

    def _mats_shell(self) -> dict:
        """Storage of the derived matrices: per hidden layer k the fused matrix [c gamma B_k + g I | W_ff{k}/eps]
        (kept as its (out, in) transpose ``ct`` for oneDNN, which also needs it packed).

        Two shells are reused in turn (the split layout builds the next batch's matrices while this batch's are
        still in use; never more than two are live): a fresh 1 MB matrix per batch costs its page faults
        (~0.5 ms a batch, 1.5 s an epoch, measured on the FMNIST net).
        """
        shells = self.__dict__.setdefault("_shells", [])
        if len(shells) < 2:
            shells.append(self._new_shell())
            return shells[-1]
        self._shell_turn = 1 - getattr(self, "_shell_turn", 1)
        return shells[self._shell_turn]

    def _new_shell(self) -> dict:
        n, P, dt = self._sizes, self.P, self.dtype
        onednn = self.gemm == "onednn"
        own = onednn or self._fused  # fused: C[k] is the weight buffer F_k itself
        return {
            "C": [None] + [None if own else torch.empty(n[k], n[k] + n[k + 1], dtype=dt) for k in range(1, P)],
            "ct": [None] + [torch.empty(n[k] + n[k + 1], n[k], dtype=dt) if onednn else None for k in range(1, P)],
            "packed": [None] * P, "Wfbs": [None] * P, "latp": None, "latp_nud": None,
        }

    def _derive_lateral(self, mats: dict, k: int) -> None:
        """The lateral block of hidden layer k (needs B_k only). oneDNN takes the (out, in) = C^T layout; the
        lateral block is symmetric (B is), so it is its own transpose."""
        n = self._sizes
        if self._fused:
            mats["C"][k] = self.F[k]
            return
        self._lat_into(k, mats["ct"][k][: n[k]] if self.gemm == "onednn" else mats["C"][k][:, : n[k]])

    def _derive_forward(self, mats: dict, k: int) -> None:
        """The basal block W_ff{k}/eps of hidden layer k, and W_fb{k}/eps."""
        n, eps = self._sizes, self.params.epsilon
        if self._fused:  # W_ff{k} is in place in F_k, W_fb{k} used as it is (1/eps applied in the kernel)
            mats["Wfbs"][k] = self.Wfb[k]
            return
        if self.gemm == "onednn":
            torch.mul(self.Wff[k].t(), 1.0 / eps, out=mats["ct"][k][n[k]:])
        else:
            torch.mul(self.Wff[k], 1.0 / eps, out=mats["C"][k][:, n[k]:])
        mats["Wfbs"][k] = self.Wfb[k] * (1.0 / eps)

    def _pack(self, mats: dict, k: int, rows_hint: int) -> None:
        """oneDNN: pack the fused matrix of hidden layer k (both blocks must be in place)."""
        if self.gemm == "onednn":
            mats["packed"][k] = kernels.onednn_pack(mats["ct"][k], max(1, rows_hint))

    def _derive_output(self, mats: dict, beta: float) -> None:
        """The output layer's lateral matrix, without and with the nudge -beta I."""
        P, n = self.P, self._sizes
        if self._fused:  # B_P itself: the kernel applies gamma, g and -beta
            mats["latp"] = mats["latp_nud"] = self.B[P]
            return
        latp = torch.empty(n[P], n[P], dtype=self.dtype)
        self._lat_into(P, latp)
        latp_nud = latp.clone()
        latp_nud.diagonal().sub_(beta)
        mats["latp"], mats["latp_nud"] = latp, latp_nud

    def _lat_into(self, k: int, out: torch.Tensor) -> None:
        """out = M_k / s_k = c gamma B_k + g I (the lateral+self term of layer k, without beta)."""
        p = self.params
        s, c = self._lat_scale(k)
        if self.mode == "DO":
            torch.mul(self.O[k], -1.0 / s, out=out)
            out.diagonal().add_(self.D[k] / s)
        else:
            torch.mul(self.B[k], c * p.gamma, out=out)
            out.diagonal().add_(p.g_lk)

    # ---- dynamics ---------------------------------------------------------------------------------------
    def _phase(self, blk: Block, mats: dict, T: int, beta: float, nudged: bool) -> None:
        p, P, n = self.params, self.P, self._sizes
        eps, g = p.epsilon, p.g_lk
        u, r, G, E = blk.u, blk.r, blk.G, blk.E
        sparse = self.sparse
        onednn = self.gemm == "onednn"
        if nudged:
            if beta != 0.0:
                torch.mul(blk.y, beta, out=E[P - 1][:, n[P - 1]:])
            for k in range(1, P + 1):
                u[k].copy_(r[k])
                if sparse:
                    blk.a[k].copy_(blk.q[k])
        else:
            # free phase from zero; E[1][:, :N1] = x W_ff0 / eps (hoisted), everything else zero
            for k in range(1, P + 1):
                u[k].zero_()
                r[k].zero_()
                if sparse:
                    blk.a[k].zero_()
                    blk.q[k].zero_()
            for k in range(1, P):
                E[k].zero_()
            torch.mm(blk.x, self.Wff[0], out=E[1][:, : n[1]])
            E[1][:, : n[1]].mul_(1.0 / eps)
            for k in range(1, P):
                if self._fused:  # G = r C with r = 0
                    G[k].zero_()
                else:  # G = E + r C with r = 0
                    G[k].copy_(E[k])
        none = NO_TENSOR
        new_G = self._sweeps(
            [none] + u[1:], [blk.x] + r[1:], [none] + G[1:], [none] + E[1:], [none] + mats["Wfbs"][1:],
            [none] + (mats["packed"][1:] if onednn else mats["C"][1:]),
            mats["latp_nud"] if nudged else mats["latp"], self._mus(T), list(n),
            g + 2.0 / eps, g + 1.0 / eps + 1.0, onednn, sparse,
            [none] + blk.a[1:] if sparse else [], [none] + blk.q[1:] if sparse else [],
            blk.tmp if sparse else none, float(p.mu_a[0]), float(p.mu_a[1]),
            self._fused, 2.0 * p.gamma, g, 1.0 / eps, p.gamma, g - beta if nudged else g,
        )
        for k in range(1, P):
            G[k] = new_G[k]

    def _block_step(self, blk: Block, mats: dict, beta: float) -> None:
        p = self.params
        self._phase(blk, mats, p.t_free, 0.0, nudged=False)
        for k in range(1, self.P + 1):
            blk.rf[k].copy_(blk.r[k])
            if self.sparse:
                blk.qf[k].copy_(blk.q[k])
        self._phase(blk, mats, p.t_nudged, beta, nudged=True)
        if blk.Z is not None:
            for k in range(1 if not self._fused else self.P, self.P + 1):
                torch.mm(blk.r[k], self.B[k], out=blk.Z[k])

    def _mus(self, T: int) -> list[float]:
        """[mu_at(0), ..., mu_at(T-1)], computed once per T (the sweeps of every phase use the same steps)."""
        mus = self.__dict__.setdefault("_mus_cache", {})
        if T not in mus:
            mus[T] = [self.params.mu_at(s) for s in range(T)]
        return mus[T]

    def _z(self, bufs: dict, k: int, nrows: int) -> torch.Tensor:
        """Z = r[k]_nud B_k (pre-update B) for the B update. Fused layout, hidden layer: after the nudged phase
        G[k] = r[k] [B_k | W_ff{k}] was last computed from the final r[k] (layer k is not updated after its
        product in the last sweep), so its first N_k columns are Z already; otherwise the lanes' product."""
        if self._fused and k < self.P:
            return bufs["G"][k][:nrows, : self._sizes[k]]
        return bufs["Z"][k][:nrows]

    def _run_parallel(self, fns: list) -> None:
        """Run fns[0] here and fns[1:] on the worker threads (which use one torch thread each)."""
        run_parallel(self._worker, fns)

    # ---- updates ----------------------------------------------------------------------------------------
    def _update_ff0(self, bufs: dict, nrows: int, beta: float, lr_factor: float) -> None:
        """W_ff0: r[0] is the clamped input in both phases, so e_nud - e_free = r1_nud - r1_free."""
        if 2 * nrows == bufs["rr"][1].shape[0]:  # a full batch: no row slicing (each view costs an op)
            x, d = bufs["x"], bufs["r"][1] - bufs["rf"][1]
        else:
            x, d = bufs["x"][:nrows], bufs["r"][1][:nrows] - bufs["rf"][1][:nrows]
        self.Wff[0].addmm_(x.T, d, alpha=self.params.lr_ff[0] * lr_factor / (beta * nrows))
        self._decay(self.Wff[0], self.params.lr_ff[0] * lr_factor)

    def _decay(self, w: torch.Tensor, rate: float) -> None:
        """``weight_decay``: W ← W − rate·ε·W on the freshly updated matrix (the authors' code; params.py)."""
        if self.params.weight_decay:
            w.sub_(w * (rate * self.params.epsilon))

    def _update_rest(self, bufs: dict, nrows: int, beta: float, lr_factor: float) -> None:
        """Every other matrix (each from its own pre-update value, so the order does not matter)."""
        for k in range(1, self.P):
            self._update_forward(bufs, k, nrows, beta, lr_factor)
        for k in range(1, self.P + 1):
            self._update_lateral(bufs, k, nrows)

    def _update_forward(self, bufs: dict, k: int, nrows: int, beta: float, lr_factor: float) -> None:
        """W_ff{k} and W_fb{k}, k >= 1."""
        p = self.params
        scale = lr_factor / (beta * nrows)
        wff = self.Wff[k]
        if 2 * nrows == bufs["rr"][k].shape[0]:  # a full batch: [rn; rf] is the buffer rr itself
            rr, rr1 = bufs["rr"][k], bufs["rr"][k + 1]
        else:  # a short last batch: the valid rows of both phases, stacked the same way
            rr = torch.cat([bufs["r"][k][:nrows], bufs["rf"][k][:nrows]])
            rr1 = torch.cat([bufs["r"][k + 1][:nrows], bufs["rf"][k + 1][:nrows]])
        e = torch.addmm(rr1, rr, wff, alpha=-1.0)  # [e_nud; e_free] = [rn1; rf1] - [rn; rf] W_ff
        e[nrows:].neg_()
        wff.addmm_(rr.T, e, alpha=p.lr_ff[k] * scale)
        self._decay(wff, p.lr_ff[k] * lr_factor)
        if k == self.P - 1 and p.revive_silent_output:
            self._revive(bufs["rf"][self.P][:nrows])
        wfb = self.Wfb[k]
        e = torch.addmm(rr, rr1, wfb, alpha=-1.0)  # [e'_nud; e'_free] = [rn; rf] - [rn1; rf1] W_fb
        e[nrows:].neg_()
        wfb.addmm_(rr1.T, e, alpha=p.lr_fb[k - 1] * scale)
        self._decay(wfb, p.lr_fb[k - 1] * lr_factor)

    def _revive(self, out_free: torch.Tensor) -> None:
        """``revive_silent_output``: count the batches each output unit stayed silent (free-phase rate 0 on every
        sample) and re-draw the feedforward weights of one silent for N batches in a row (after this batch's
        update of W_ff{P-1}, before the next batch's matrices are derived from it)."""
        silent = (out_free <= 0).all(dim=0).numpy()
        self._silent = np.where(silent, self._silent + 1, 0)
        for j in np.flatnonzero(self._silent >= self.params.revive_silent_output):
            col = revive_column(self.params, self.seed, self._pos[0], self._pos[1], int(j))
            self.Wff[self.P - 1][:, j] = torch.as_tensor(col, dtype=self.dtype)
            self._silent[j] = 0
            self.revived += 1

    def _update_lateral(self, bufs: dict, k: int, nrows: int) -> None:
        """B_k (or D_k, O_k) from the nudged rates."""
        p = self.params
        rn = bufs["r"][k][:nrows]
        lam, gam = p.lam, p.gamma
        if self.mode == "DO":
            s, c = self._lat_scale(k)
            lat = torch.empty_like(self.O[k])
            self._lat_into(k, lat)  # c gamma B + g I
            z = (rn @ lat - p.g_lk * rn) / (c * gam)
            zz = z.T @ z / nrows
            coef = s * c * gam * gam / lam
            self.D[k].mul_(1.0 / lam).sub_(torch.diagonal(zz), alpha=coef).add_(s * p.g_lk * (1.0 - 1.0 / lam))
            self.O[k].mul_(1.0 / lam).add_(zz, alpha=coef)
            self.O[k].fill_diagonal_(0.0)
        else:
            z = self._z(bufs, k, nrows)  # = rn @ B_k
            self.B[k].addmm_(z.T, z, beta=1.0 / lam, alpha=-gam / (lam * nrows))

    def _update_and_derive_split(self, bufs: dict, nrows: int, beta: float, lr_factor: float,
                                 next_beta: float | None, rows_hint: int, after=None) -> dict | None:
        """Updates of this batch and the derived matrices of the next one, on two threads.

        The critical path is B_k's update -> its lateral block -> the oneDNN packing; the worker walks it
        while this thread updates W_ff{k}, W_fb{k} and writes their blocks first (the worker waits for them
        before packing), then W_ff0, the output layer's B and ``after`` (the gather of the next batch).
        Returns the next batch's matrices (None when ``next_beta`` is None: the last batch of the epoch).
        """
        P = self.P
        mats = self._mats_shell() if next_beta is not None else None
        forward_done = threading.Event()

        def lateral_side():
            for k in range(1, P):
                self._update_lateral(bufs, k, nrows)
                if mats is not None:
                    self._derive_lateral(mats, k)
            forward_done.wait()
            if mats is not None:
                for k in range(1, P):
                    self._pack(mats, k, rows_hint)

        def forward_side():
            try:
                for k in range(1, P):
                    self._update_forward(bufs, k, nrows, beta, lr_factor)
                    if mats is not None:
                        self._derive_forward(mats, k)
            finally:
                forward_done.set()  # never leave the worker waiting, even on an error
            self._update_ff0(bufs, nrows, beta, lr_factor)
            self._update_lateral(bufs, P, nrows)
            if mats is not None:
                self._derive_output(mats, next_beta)
            if after is not None:
                after()

        self._run_parallel([forward_side, lateral_side])
        return mats

    # ---- public API -------------------------------------------------------------------------------------
    def _check_x(self, x, what: str) -> np.ndarray:
        x = np.asarray(x)
        if x.ndim != 2 or x.shape[1] != self._sizes[0]:
            raise ShapeError(
                f"{what}: x must have shape (n_samples, {self._sizes[0]}) (input layer size N_0 = {self._sizes[0]} "
                f"from params.sizes), got {x.shape}"
            )
        return x

    def train_epoch(self, x: np.ndarray, y: np.ndarray, epoch: int, progress=None) -> dict:
        p, P = self.params, self.P
        x = self._check_x(x, "train_epoch")
        y = np.asarray(y)
        if y.ndim != 1 or len(y) != len(x):
            raise ShapeError(f"train_epoch: y must be integer labels of shape ({len(x)},), got {y.shape}")
        n_cls = self._sizes[P]
        if len(y) and (y.min() < 0 or y.max() >= n_cls):
            raise ShapeError(f"train_epoch: labels must lie in [0, {n_cls}) (output layer size), got {y.min()}..{y.max()}")
        order, signs = batch_plan(len(x), p.batch, self.seed, epoch)
        if not p.random_sign_beta:
            signs = np.ones_like(signs)
        X = torch.as_tensor(x, dtype=self.dtype)
        Y = torch.as_tensor(y, dtype=torch.int64)
        order_t = torch.as_tensor(order, dtype=torch.int64)
        f = p.lr_factor(epoch)
        nb = p.batch
        split = self.n_lanes > 1
        prev_threads = torch.get_num_threads()
        # split layout: every thread (this one and the workers) runs single-threaded torch ops on its own
        # share of the work, so no OpenMP team is ever woken (robust on a shared, oversubscribed machine)
        torch.set_num_threads(1 if split else self.threads)
        tm = self.timing
        clock = time.perf_counter
        cpu = time.thread_time  # this thread's CPU seconds: robust to other processes sharing the cores
        n_plus = 0
        try:
            with torch.inference_mode():
                bufs = self._buffers(nb)
                n_batches = len(signs)

                def blocks_of(b):
                    m = min(nb, len(order) - b * nb)
                    key = (nb, m, self.n_lanes)
                    if key not in self._blocks_cache:
                        self._blocks_cache[key] = self._blocks(bufs, m, self.n_lanes)
                    return self._blocks_cache[key]

                # the epoch's inputs and one-hot targets in batch order, gathered once: a batch's rows are then
                # one contiguous copy (20 scattered rows per batch cost cache and TLB misses, ~0.3 s an epoch)
                Xo = torch.index_select(X, 0, order_t)
                Yo = torch.zeros(len(y), n_cls, dtype=self.dtype).scatter_(1, Y[order_t].unsqueeze(1), 1.0)

                def gather(b):
                    lo, hi = b * nb, min((b + 1) * nb, len(order))
                    bufs["x"][: hi - lo].copy_(Xo[lo:hi])
                    bufs["y"][: hi - lo].copy_(Yo[lo:hi])

                mats = None
                for b in range(n_batches):
                    t0 = clock()
                    c0 = cpu()
                    blocks = blocks_of(b)
                    m = sum(blk.n for blk in blocks)
                    beta = float(p.beta * signs[b])
                    n_plus += beta > 0
                    self._pos = (epoch, b)
                    if mats is None:  # first batch, or the sequential layout: gather and derive here
                        gather(b)
                        mats = self._derived(beta, blocks[0].n)
                    t1 = clock()
                    c1 = cpu()
                    self._run_parallel([lambda blk=blk: self._block_step(blk, mats, beta) for blk in blocks])
                    t2 = clock()
                    c2 = cpu()
                    if split:  # this batch's updates overlapped with the next batch's preparation
                        last = b + 1 == n_batches
                        mats = self._update_and_derive_split(
                            bufs, m, beta, f, None if last else float(p.beta * signs[b + 1]),
                            0 if last else blocks_of(b + 1)[0].n, after=None if last else (lambda: gather(b + 1)))
                    else:
                        self._update_ff0(bufs, m, beta, f)
                        self._update_rest(bufs, m, beta, f)
                        mats = None
                    t3 = clock()
                    c3 = cpu()
                    tm["prepare_cpu"] += c1 - c0
                    tm["dynamics_cpu"] += c2 - c1
                    tm["update_cpu"] += c3 - c2
                    tm["prepare"] += t1 - t0
                    tm["dynamics"] += t2 - t1
                    tm["update"] += t3 - t2
                    tm["batches"] += 1
                    if progress is not None:
                        progress(m)
        finally:
            torch.set_num_threads(prev_threads)
        self.epochs_done = epoch + 1
        return {"lr_factor": f, "n_batches": len(signs), "frac_beta_positive": n_plus / max(1, len(signs))}

    def free_rates(self, x: np.ndarray) -> list[np.ndarray]:
        """Rates r[1..P] at the end of the free phase (from zero, T_free sweeps), per sample."""
        x = self._check_x(x, "free_rates")
        outs = [[] for _ in range(self.P)]
        self._free_chunks(x, lambda rs: [o.append(t.numpy().copy()) for o, t in zip(outs, rs)])
        return [np.concatenate(o) if o else np.zeros((0, self._sizes[k + 1])) for k, o in enumerate(outs)]

    def _free_chunks(self, x: np.ndarray, sink) -> None:
        X = torch.as_tensor(x, dtype=self.dtype)
        eb = max(1, self.eval_batch)
        lanes = self.n_lanes
        prev_threads = torch.get_num_threads()
        torch.set_num_threads(1 if lanes > 1 else self.threads)  # split: row blocks on single-threaded lanes
        try:
            with torch.inference_mode():
                mats = self._derived(0.0, -(-min(eb, len(x)) // lanes))
                bufs = self._buffers(eb)
                for lo in range(0, len(x), eb):
                    m = min(eb, len(x) - lo)
                    bufs["x"][:m].copy_(X[lo:lo + m])
                    blocks = self._blocks(bufs, m, lanes)
                    self._run_parallel([lambda blk=blk: self._phase(blk, mats, self.params.t_free, 0.0, nudged=False)
                                        for blk in blocks])
                    sink([bufs["r"][k][:m] for k in range(1, self.P + 1)])
        finally:
            torch.set_num_threads(prev_threads)

    def predict(self, x: np.ndarray) -> np.ndarray:
        x = self._check_x(x, "predict")
        preds = []
        self._free_chunks(x, lambda rs: preds.append(torch.argmax(rs[-1], dim=1).numpy().copy()))
        return np.concatenate(preds) if preds else np.zeros(0, dtype=np.int64)

    def close(self) -> None:
        for w in self._worker:
            w.close()
        self._worker = []

    def __del__(self):
        try:
            self.close()
        except Exception:  # noqa: BLE001
            pass

