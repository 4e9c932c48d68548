"""pHSIC batch form (Pogodin & Latham 2020): torch reference of the layer-local kernelized-bottleneck MLP.

What is simulated follows the authors' code (the facts are listed in ``params.py``). Row-major batches,
weights stored as (n_post, n_pre) like ``nn.Linear`` and returned by :meth:`PHSICTrainer.weights` as
(n_pre, n_post). Per hidden layer k, in forward order::

    a = h_{k-1} W_k^T (no bias);  z = LeakyReLU_0.01(a)
    local loss on z (kernel input s = z (plain) or s = v (grouped/divnorm, eqs. 17-18)):
        L_k = pHSIC(K_s, K_s) - γ pHSIC(K_y, K_s),   pHSIC(A, B) = mean((A - mean A) ∘ B)   (eq. 34)
    -> SGD step on W_k only (momentum 0.95, wd 1e-7, MultiStepLR); z itself is not changed
    h_k = dropout(r) with r = ẑ/u^p ("divnorm", eq. 21), else dropout(z)

so weights change during the forward pass and layer k+1 sees h_k computed with the pre-update W_k. The output
``logits = h_L W_out^T + b_out`` is trained with cross-entropy by its own SGD (momentum 0.95, wd 1e-6).

The local gradient is eq. (40): dL/dW = (1/m²) Σ_ij C_ij dk_ij/dW with the third-factor matrix
C = 2 K̊_s - γ K̊_y (K̊ = K - mean K, eq. 11). Three ways to compute it are provided and agree to rounding:

* :func:`local_loss` + autograd (what the authors' code does);
* :func:`three_factor_delta_w`: the literal sum over pairs of eqs. (41)/(47-48)/(54) (tests, small batches);
* :func:`local_grad`: the same sum reduced to one GEMM (used for training by default).

Reduction used by :func:`local_grad`. With S the kernel input, G_i = Σ_j C_ij ∂k_ij/∂s_i:

    Gaussian: ∂k_ij/∂s_i = -k_ij (s_i - s_j)/σ²  =>  G = -(rowsum(C∘K) ∘ S - (C∘K) S)/σ²
    cosine:   ∂k_ij/∂s_i = (ŝ_j - k_ij ŝ_i)/‖s_i‖ =>  G = (C Ŝ - rowsum(C∘K) ∘ Ŝ)/‖s‖

and dL/ds_i = (2/m²) G_i (both points of every pair). For plain, s = z. For grouped/divnorm the centring of v
across groups drops out (G is already centred for both kernels), u_α = (δ + Σ_n ẑ_αn²)/n_α gives
dL/dz_αn = (2(1-p)/n_α) r_αn dL/dv_α with r = ẑ/u^p (eq. 44), and finally dL/dW = ((dL/dz) ∘ f'(a))^T h_{k-1}.

Randomness: initial weights from ``torch.Generator().manual_seed(seed)`` (PyTorch's default Linear init,
U(±1/√fan_in) for weights and output bias); per epoch one ``numpy`` generator seeded with (seed, epoch)
draws the sample order and a torch seed for the dropout masks, so an epoch is a function of
(state, data, epoch) and a resumed run is bit-identical.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import torch

from neuromorph.circuit import Trainer
from neuromorph.errors import ConfigError, ShapeError

from .params import PHSICParams, weight_layout

__all__ = [
    "PHSICTrainer",
    "label_kernel",
    "gaussian_kernel",
    "cosine_kernel",
    "kernel_matrix",
    "phsic",
    "group_stats",
    "layer_forward",
    "local_loss",
    "third_factor",
    "local_grad",
    "three_factor_delta_w",
    "initial_weights",
    "epoch_plan",
]

_COS_EPS = 1e-6  # code: a zero norm is replaced by 1e-6


# ---------------------------------------------------------------------------------------------------------
# kernels and estimators
# ---------------------------------------------------------------------------------------------------------
def label_kernel(labels: torch.Tensor, n_classes: int, center: bool = True, dtype=torch.float32) -> torch.Tensor:
    """K_y: cosine kernel on one-hot labels, centred per sample (y - 1/C) when ``center`` (eq. 35).

    Centred: 1 for the same class, -1/(C-1) otherwise. Uncentred: 1 / 0.
    """
    y = torch.nn.functional.one_hot(labels.long(), n_classes).to(dtype)
    if center:
        y = y - 1.0 / n_classes
    y = y / y.norm(dim=1, keepdim=True)
    return y @ y.T


def _norms(s: torch.Tensor) -> torch.Tensor:
    n = s.norm(dim=1, keepdim=True)
    return torch.where(n == 0, torch.full_like(n, _COS_EPS), n)


def gaussian_kernel(s: torch.Tensor, sigma: float) -> torch.Tensor:
    """exp(-‖s_i - s_j‖² / 2σ²) (eq. 26), squared distances from the Gram matrix, diagonal exactly 1."""
    sq = (s * s).sum(1)
    d2 = (sq[:, None] + sq[None, :] - 2.0 * (s @ s.T)).clamp_min(0.0)
    d2 = d2 * (1.0 - torch.eye(len(s), dtype=s.dtype, device=s.device))
    return torch.exp(-d2 / (2.0 * sigma * sigma))


def cosine_kernel(s: torch.Tensor) -> torch.Tensor:
    """s_iᵀ s_j / (‖s_i‖ ‖s_j‖) (eq. 25)."""
    sh = s / _norms(s)
    return sh @ sh.T


def kernel_matrix(s: torch.Tensor, params: PHSICParams) -> torch.Tensor:
    return gaussian_kernel(s, params.sigma) if params.kernel == "gaussian" else cosine_kernel(s)


def phsic(ka: torch.Tensor, kb: torch.Tensor) -> torch.Tensor:
    """Empirical pHSIC (eq. 34): (1/m²) Σ_ij (A_ij - mean A) B_ij over all m² pairs (diagonal included)."""
    return ((ka - ka.mean()) * kb).mean()


# ---------------------------------------------------------------------------------------------------------
# one layer
# ---------------------------------------------------------------------------------------------------------
def group_stats(z: torch.Tensor, n_groups: int, delta: float, p: float):
    """Grouping (eqs. 17-18, 21): contiguous groups of n_α = n/c neurons.

    Returns (zhat, u, v, r): ẑ = z - group mean (m, n); u = (δ + Σ ẑ²)/n_α (m, c); v = u^(1-p) centred across
    the c groups (m, c); r = ẑ / u^p (m, n).
    """
    m, n = z.shape
    g = n // n_groups
    zg = z.reshape(m, n_groups, g)
    zhat = zg - zg.mean(dim=2, keepdim=True)
    u = ((zhat * zhat).sum(dim=2) + delta) / g
    w = u.pow(1.0 - p)
    v = w - w.mean(dim=1, keepdim=True)
    r = zhat / u.pow(p)[:, :, None]
    return zhat.reshape(m, n), u, v, r.reshape(m, n)


def layer_forward(h: torch.Tensor, W: torch.Tensor, params: PHSICParams) -> dict:
    """One hidden layer without dropout: a, z, f'(a), the kernel input s and the forward output ``out``."""
    a = h @ W.T
    slope = params.leaky_slope
    z = torch.nn.functional.leaky_relu(a, slope)
    fp = torch.where(a > 0, torch.ones_like(a), torch.full_like(a, slope))
    out = {"a": a, "z": z, "fprime": fp}
    if params.mode == "plain":
        out.update(s=z, out=z)
    else:
        zhat, u, v, r = group_stats(z, params.n_groups, params.delta, params.power)
        out.update(s=v, zhat=zhat, u=u, r=r, out=r if params.mode == "divnorm" else z)
    return out


def _kernel_input(z: torch.Tensor, params: PHSICParams) -> torch.Tensor:
    if params.mode == "plain":
        return z
    return group_stats(z, params.n_groups, params.delta, params.power)[2]


def local_loss(h: torch.Tensor, W: torch.Tensor, ky: torch.Tensor, params: PHSICParams) -> torch.Tensor:
    """L = pHSIC(K_s, K_s) - γ pHSIC(K_y, K_s) (eq. 9 / 33) as a differentiable function of W."""
    z = torch.nn.functional.leaky_relu(h @ W.T, params.leaky_slope)
    ks = kernel_matrix(_kernel_input(z, params), params)
    return phsic(ks, ks) - params.gamma * phsic(ky, ks)


def third_factor(ks: torch.Tensor, ky: torch.Tensor, gamma: float) -> torch.Tensor:
    """C = 2 K̊_s - γ K̊_y (eq. 40): the label/activity-similarity part of the third factor."""
    return 2.0 * (ks - ks.mean()) - gamma * (ky - ky.mean())


def local_grad(h: torch.Tensor, W: torch.Tensor, ky: torch.Tensor, params: PHSICParams, fwd: dict | None = None):
    """dL/dW (n_post, n_pre) of the layer-local loss, closed form of eq. (40) (see the module docstring).

    Returns (grad, loss, fwd) where ``fwd`` is :func:`layer_forward`'s dict (reused when given).
    """
    if fwd is None:
        fwd = layer_forward(h, W, params)
    s = fwd["s"]
    m = s.shape[0]
    if params.kernel == "gaussian":
        ks = gaussian_kernel(s, params.sigma)
        C = third_factor(ks, ky, params.gamma)
        CK = C * ks
        G = -(CK.sum(1, keepdim=True) * s - CK @ s) / (params.sigma**2)
    else:
        nrm = _norms(s)
        sh = s / nrm
        ks = sh @ sh.T
        C = third_factor(ks, ky, params.gamma)
        G = (C @ sh - (C * ks).sum(1, keepdim=True) * sh) / nrm
    loss = ((ks - ks.mean()) * ks).mean() - params.gamma * ((ky - ky.mean()) * ks).mean()
    gs = G * (2.0 / (m * m))  # dL/ds
    if params.mode == "plain":
        gz = gs
    else:
        gs = gs - gs.mean(dim=1, keepdim=True)  # centring of v across groups (exactly zero analytically)
        n = fwd["z"].shape[1]
        c = params.n_groups
        coef = 2.0 * (1.0 - params.power) / (n // c)
        gz = (fwd["r"].reshape(m, c, n // c) * gs[:, :, None]).reshape(m, n) * coef
    delta = gz * fwd["fprime"]
    return delta.T @ h, loss, fwd


def three_factor_delta_w(h: torch.Tensor, W: torch.Tensor, labels: torch.Tensor, params: PHSICParams,
                         n_classes: int | None = None) -> torch.Tensor:
    """ΔW = -dL/dW (n_post, n_pre) as the literal sum over pairs (i, j) of three-factor Hebbian terms.

    For every pair the update is a third factor M_ij (built from C = 2K̊_s - γK̊_y and the kernel) times
    pre/post activity terms; the Hebbian factor of sample i is H_i[n, m] = f'(a_i)_n h_i,m (plain) or
    (2(1-p)/n_α) r_i,αn f'(a_i)_n h_i,m (grouped/divnorm: eq. 48, the r of eq. 22), and S_i[n] is the
    kernel input seen by neuron n (z_i,n, or v_i,α(n) when grouped):

    Gaussian (eqs. 12, 41, 47-48): M_ij = C_ij k_ij / σ²,
        ΔW = (1/m²) Σ_ij M_ij (S_i - S_j) ∘ (H_i - H_j)
    cosine (eqs. 54-55): M_ij = C_ij / (‖s_i‖ ‖s_j‖),
        ΔW = (1/m²) Σ_ij M_ij [ (S_i - S_j) ∘ (H_i - H_j) - Σ_{q=i,j} (1 - s_iᵀs_j/‖s_q‖²) S_q ∘ H_q ]

    Memory is O(m² n_post n_pre): for checking on small layers, not for training.
    """
    n_classes = n_classes if n_classes is not None else params.n_classes
    fwd = layer_forward(h, W, params)
    s, fp = fwd["s"], fwd["fprime"]
    m, n = fwd["z"].shape
    ky = label_kernel(labels, n_classes, params.center_labels, dtype=h.dtype)
    if params.mode == "plain":
        S = s
        post = fp
    else:
        c = params.n_groups
        S = s.repeat_interleave(n // c, dim=1)  # v_α(n)
        post = fp * fwd["r"] * (2.0 * (1.0 - params.power) / (n // c))
    H = post[:, :, None] * h[:, None, :]  # (m, n, n_pre)
    dS = S[:, None, :] - S[None, :, :]  # (m, m, n)
    dH = H[:, None] - H[None, :]  # (m, m, n, n_pre)
    hebb = dS[..., None] * dH
    ks = kernel_matrix(s, params)
    C = third_factor(ks, ky, params.gamma)
    if params.kernel == "gaussian":
        M = C * ks / params.sigma**2
        total = torch.einsum("ij,ijnk->nk", M, hebb)
    else:
        nrm = _norms(s)[:, 0]
        M = C / (nrm[:, None] * nrm[None, :])
        dots = s @ s.T
        a_i = 1.0 - dots / (nrm[:, None] ** 2)  # q = i
        a_j = 1.0 - dots / (nrm[None, :] ** 2)  # q = j
        SH = S[:, :, None] * H  # (m, n, n_pre)
        total = torch.einsum("ij,ijnk->nk", M, hebb)
        total = total - torch.einsum("ij,ink->nk", M * a_i, SH) - torch.einsum("ij,jnk->nk", M * a_j, SH)
    return total / (m * m)


# ---------------------------------------------------------------------------------------------------------
# deterministic helpers
# ---------------------------------------------------------------------------------------------------------
def weight_names(params: PHSICParams) -> list[str]:
    """W1..WL, W_out, b_out: the order of :func:`~circuits.phsic.params.weight_layout`."""
    return list(weight_layout(params))


def initial_weights(params: PHSICParams, seed: int, dtype=torch.float64) -> dict[str, torch.Tensor]:
    """PyTorch's default nn.Linear init, U(±1/√fan_in), drawn in the order of ``weight_layout`` (W1..WL, W_out,
    b_out) from ``torch.Generator().manual_seed(seed)``; tensors in (n_post, n_pre) orientation (b_out: (C,)),
    the bias bound by the readout's fan-in."""
    g = torch.Generator().manual_seed(int(seed))
    out = {}
    fan_in_out = None
    for name, shape in weight_layout(params).items():
        if len(shape) == 2:
            fan_in, fan_out = shape
            if name == "W_out":
                fan_in_out = fan_in
        else:  # the readout's bias: nn.Linear's bound 1/√fan_in of its layer
            fan_in, fan_out = fan_in_out, shape[0]
        b = 1.0 / math.sqrt(fan_in)
        size = (fan_out, fan_in) if len(shape) == 2 else (fan_out,)
        out[name] = (torch.rand(*size, generator=g, dtype=torch.float64) * 2 - 1).mul_(b).to(dtype)
    return out


def epoch_plan(n_samples: int, seed: int, epoch: int) -> tuple[np.ndarray, int]:
    """Sample order and the dropout seed of ``epoch``: a function of (seed, epoch) only."""
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), int(epoch), 0x9A51C]))
    order = rng.permutation(n_samples)
    return order, int(rng.integers(0, 2**62))


# ---------------------------------------------------------------------------------------------------------
# trainer
# ---------------------------------------------------------------------------------------------------------
class _SGD:
    """torch.optim.SGD semantics (dampening 0, no Nesterov): b = μ b + (g + wd w) (b = g + wd w at the first
    step); w -= lr b."""

    def __init__(self, momentum: float, wd: float):
        self.momentum, self.wd = momentum, wd
        self.buf: dict[str, torch.Tensor | None] = {}

    def step(self, name: str, w: torch.Tensor, grad: torch.Tensor, lr: float) -> None:
        if self.wd:
            grad = grad.add(w, alpha=self.wd)
        b = self.buf.get(name)
        if b is None:
            b = grad.clone()
            self.buf[name] = b
        else:
            b.mul_(self.momentum).add_(grad)
        w.add_(b, alpha=-lr)


class PHSICTrainer(Trainer):
    """Batch-form pHSIC training of the MLP ``params.sizes`` (see the module docstring).

    ``rule``: "phsic" (layer-local pHSIC + CE on the output), "last" (hidden layers stay at their random
    init - local lr 0 - only the output layer learns), "backprop" (whole net by CE with the final optimiser;
    divnorm, if any, stays in the forward pass).
    """

    def __init__(self, params: PHSICParams, n_in: int, n_classes: int, seed: int, dtype=torch.float32):
        if not isinstance(params, PHSICParams):
            raise ConfigError(f"PHSICTrainer expects PHSICParams, got {type(params).__name__}")
        if params.sizes[0] != n_in or params.sizes[-1] != n_classes:
            params = dataclasses.replace(params, sizes=(int(n_in), *params.sizes[1:-1], int(n_classes)))
        self.params = params
        self.seed = int(seed)
        self.dtype = dtype
        self.n_in, self.n_classes = int(n_in), int(n_classes)
        self.W = {k: v.to(dtype).contiguous() for k, v in initial_weights(params, seed).items()}
        self.names = weight_names(params)
        self.opt_local = _SGD(params.momentum, params.wd_local)
        self.opt_final = _SGD(params.momentum, params.wd_final)
        self.epochs_done = 0
        self._metrics: dict = {}

    # ---- inputs ------------------------------------------------------------------------------------------
    def _check_x(self, x) -> torch.Tensor:
        x = np.asarray(x)
        if x.ndim != 2 or x.shape[1] != self.n_in:
            raise ShapeError(f"phsic: inputs must have shape (n, {self.n_in}), got {x.shape}")
        return torch.as_tensor(np.ascontiguousarray(x), dtype=self.dtype)

    def _check_y(self, y, n: int) -> torch.Tensor:
        y = np.asarray(y)
        if y.shape != (n,):
            raise ShapeError(f"phsic: labels must have shape ({n},), got {y.shape}")
        if n and (y.min() < 0 or y.max() >= self.n_classes):
            raise ShapeError(f"phsic: labels must lie in [0, {self.n_classes}), got [{y.min()}, {y.max()}]")
        return torch.as_tensor(y.astype(np.int64))

    # ---- forward -----------------------------------------------------------------------------------------
    def _hidden_names(self):
        return self.names[:-2]

    def _dropout(self, h: torch.Tensor, gen: torch.Generator | None) -> torch.Tensor:
        p = self.params.dropout
        if gen is None or p == 0:
            return h
        keep = torch.rand(h.shape, generator=gen, dtype=h.dtype) >= p
        return h * keep * (1.0 / (1.0 - p))

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        h = x
        for name in self._hidden_names():
            h = layer_forward(h, self.W[name], self.params)["out"]
        return h @ self.W["W_out"].T + self.W["b_out"]

    @torch.no_grad()
    def predict(self, x: np.ndarray) -> np.ndarray:
        xt = self._check_x(x)
        out = [self.logits(xt[i:i + 4096]).argmax(1) for i in range(0, len(xt), 4096)]
        return torch.cat(out).numpy() if out else np.zeros(0, dtype=np.int64)

    # ---- training ----------------------------------------------------------------------------------------
    def _output_step(self, h: torch.Tensor, yb: torch.Tensor, lr: float) -> tuple[float, float]:
        W, b = self.W["W_out"], self.W["b_out"]
        logits = h @ W.T + b
        p = torch.softmax(logits, dim=1)
        m = len(yb)
        ce = float(torch.nn.functional.cross_entropy(logits, yb))
        correct = float((logits.argmax(1) == yb).sum())
        d = p
        d[torch.arange(m), yb] -= 1.0
        d /= m
        self.opt_final.step("W_out", W, d.T @ h, lr)
        self.opt_final.step("b_out", b, d.sum(0), lr)
        return ce, correct

    def _local_step(self, h, W_name, ky, lr):
        P = self.params
        W = self.W[W_name]
        if P.gradient == "autograd":
            fwd = layer_forward(h, W, P)
            Wg = W.detach().clone().requires_grad_(True)
            with torch.enable_grad():
                loss = local_loss(h, Wg, ky, P)
                (grad,) = torch.autograd.grad(loss, Wg)
        else:
            grad, loss, fwd = local_grad(h, W, ky, P)
        self.opt_local.step(W_name, W, grad, lr)
        return fwd["out"], float(loss)

    def _backprop_step(self, xb, yb, gen, lr):
        P = self.params
        params = {k: v.detach().clone().requires_grad_(True) for k, v in self.W.items()}
        with torch.enable_grad():
            h = xb
            for name in self._hidden_names():
                h = self._dropout(layer_forward(h, params[name], P)["out"], gen)
            logits = h @ params["W_out"].T + params["b_out"]
            loss = torch.nn.functional.cross_entropy(logits, yb)
            grads = torch.autograd.grad(loss, [params[k] for k in self.names])
        for k, g in zip(self.names, grads):
            self.opt_final.step(k, self.W[k], g, lr)
        return float(loss), float((logits.argmax(1) == yb).sum())

    @torch.no_grad()
    def train_epoch(self, x: np.ndarray, y: np.ndarray, epoch: int, progress=None) -> dict:
        P = self.params
        xt = self._check_x(x)
        yt = self._check_y(y, len(xt))
        order, dseed = epoch_plan(len(xt), self.seed, epoch)
        gen = torch.Generator().manual_seed(dseed)
        scale = P.lr_scale(epoch)
        lr_l, lr_f = P.lr_local * scale, P.lr_final * scale
        hidden = self._hidden_names()
        local_sum = np.zeros(len(hidden))
        ce_sum = correct = 0.0
        n_batches = 0
        order_t = torch.as_tensor(order)
        for start in range(0, len(order), P.batch):
            idx = order_t[start:start + P.batch]
            xb, yb = xt[idx], yt[idx]
            if P.rule == "backprop":
                ce, corr = self._backprop_step(xb, yb, gen, lr_f)
            else:
                h = xb
                ky = label_kernel(yb, self.n_classes, P.center_labels, dtype=self.dtype) if P.rule == "phsic" else None
                for k, name in enumerate(hidden):
                    if P.rule == "phsic" and len(idx) > 1:
                        out, loss = self._local_step(h, name, ky, lr_l)
                        local_sum[k] += loss
                    else:  # "last": local lr 0, weights never change; skip the loss
                        out = layer_forward(h, self.W[name], P)["out"]
                    h = self._dropout(out, gen)
                ce, corr = self._output_step(h, yb, lr_f)
            ce_sum += ce
            correct += corr
            n_batches += 1
            if progress is not None:
                progress(len(idx))
        self.epochs_done = epoch + 1
        metrics = {"lr_local": lr_l if P.rule == "phsic" else 0.0, "lr_final": lr_f,
                   "train_ce": ce_sum / max(n_batches, 1), "train_batch_acc": correct / max(len(xt), 1)}
        if P.rule == "phsic":
            for k in range(len(hidden)):
                metrics[f"local_loss_{k + 1}"] = float(local_sum[k] / max(n_batches, 1))
        self._metrics = metrics
        return dict(metrics)

    # ---- state -------------------------------------------------------------------------------------------
    def weights(self) -> dict[str, np.ndarray]:
        out = {}
        for k in self.names:
            w = self.W[k].detach().cpu().numpy()
            out[k] = w.T.copy() if w.ndim == 2 else w.copy()
        return out

    def state_dict(self) -> dict:
        def bufs(opt):
            return {k: (None if v is None else v.cpu().numpy().copy()) for k, v in opt.buf.items()}

        return {
            "weights": {k: v.cpu().numpy().copy() for k, v in self.W.items()},  # (n_post, n_pre)
            "opt_local": bufs(self.opt_local),
            "opt_final": bufs(self.opt_final),
            "epochs_done": self.epochs_done,
            "seed": self.seed,
            "params": dataclasses.asdict(self.params),
        }

    def load_state_dict(self, state: dict) -> None:
        w = state["weights"]
        if set(w) != set(self.W):
            raise ShapeError(f"phsic: checkpoint has weights {sorted(w)}, expected {sorted(self.W)}")
        for k, v in w.items():
            if tuple(v.shape) != tuple(self.W[k].shape):
                raise ShapeError(f"phsic: checkpoint weight {k!r} has shape {v.shape}, expected {tuple(self.W[k].shape)}")
        self.W = {k: torch.as_tensor(np.array(v), dtype=self.dtype).contiguous() for k, v in w.items()}
        for opt, key in ((self.opt_local, "opt_local"), (self.opt_final, "opt_final")):
            opt.buf = {k: None if v is None else torch.as_tensor(np.array(v), dtype=self.dtype)
                       for k, v in state[key].items()}
        self.epochs_done = int(state.get("epochs_done", 0))
        self.seed = int(state.get("seed", self.seed))

    def epoch_metrics(self) -> dict:
        return {}
