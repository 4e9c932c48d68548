"""simpnet (§4): Conv 32 5×5; Maxpool 3 (stride 2); Drop .8; Full 500; Drop .3; Output — trained with BP,
BP-hinge, URFB, FRFB or the ε-mixtures, with separate feedback matrices R for the fully connected layers.

Forward (no biases, saturated-linear σ as in the MLP): h1 = conv(x, K1) ("same" size, zero padding),
x1 = σ(h1); max over the 3×3 window centred at each pixel with zero padding (paper: "padding with 0's outside
the grid"), every second pixel kept; dropout (probability .8 of zeroing, survivors × 1/(1 − p): code);
h2 = p1 W2, x2 = σ(h2); dropout .3; output h3 = d2 W3 (linear).

Backward, top-down as in the MLP (Fig. 15 order: each layer's W and R are updated before the feedback to
the layer below is computed through them, unless ``feedback_after_update`` is false):
δ3 = rule (6) (softmax CE for BP); δ at d2 = δ3 F3, through the dropout mask and σ'(h2) to δ2; δ at p1 =
δ2 F2, through the dropout mask, routed to the max of each pooling window (code: argmax masks), times σ'(h1)
to δ1; the convolution is tied (paper §4; the untied variant of §4.1 is not implemented): ΔK1 is δ1
correlated with x over all positions. F_l = R_l (URFB/FRFB) or W_lᵀ (BP). The conv layer needs no R (nothing
below it learns).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from neuromorph.circuit import Trainer
from neuromorph.errors import ConfigError, ShapeError

from .params import URFBParams
from .reference import correlation, output_delta, sigma, sigma_prime

__all__ = [
    "image_shape", "simpnet_layout", "init_simpnet", "simpnet_forward", "conv_fields", "simpnet_step", "SimpnetTrainer",
]

_SHAPES = {784: (1, 28, 28), 3072: (3, 32, 32)}


def image_shape(params: URFBParams) -> tuple[int, int, int]:
    n = params.sizes[0]
    if n not in _SHAPES:
        raise ConfigError(f"simpnet needs images: sizes[0] must be 784 (1×28×28) or 3072 (3×32×32), got {n}")
    if len(params.sizes) != 3:
        raise ConfigError(f"simpnet has one fully connected hidden layer: sizes = [n_in, 500, n_classes], got {list(params.sizes)}")
    return _SHAPES[n]


def _pooled(h: int) -> int:
    return (h + 2 - 3) // 2 + 1


def simpnet_layout(params: URFBParams) -> dict[str, tuple[int, ...]]:
    c, h, w = image_shape(params)
    n_pool = params.n_filters * _pooled(h) * _pooled(w)
    hidden, C = params.sizes[1], params.sizes[2]
    shapes = {"K1": (params.n_filters, c, 5, 5), "W2": (n_pool, hidden), "W3": (hidden, C)}
    if params.uses_R:
        shapes.update({"R2": (hidden, n_pool), "R3": (C, hidden)})
    return shapes


def init_simpnet(params: URFBParams, seed: int) -> dict[str, np.ndarray]:
    """Glorot-uniform for every matrix (conv: fan = k·k·(c_in + c_out), code), R independent of W."""
    rng = np.random.default_rng(seed)
    out = {}
    for name, shape in simpnet_layout(params).items():
        if len(shape) == 4:
            fan = shape[2] * shape[3] * (shape[0] + shape[1])
        else:
            fan = shape[0] + shape[1]
        a = params.init_scale * np.sqrt(6.0 / fan)
        out[name] = rng.uniform(-a, a, size=shape)
    return out


# The convolutional stage runs over sub-batches of this many images. Its tensors (B × 32 × 28 × 28) are 50 MB
# at the paper's B = 500: one elementwise pass over them costs more than the whole 6272 × 500 GEMM, so they are
# kept cache-sized; the step's arithmetic is the same (ΔK1 is a sum over images, taken chunk by chunk).
CONV_CHUNK = 50


def simpnet_forward(W, x, params: URFBParams, masks=None, *, keep_pool_routes: bool = False):
    """(fields, activities) of one pass; ``masks`` = (conv-dropout, full-dropout) scale tensors or None.

    The feature maps h1, x1 are not returned (they are only needed chunk by chunk, see ``CONV_CHUNK``);
    ``keep_pool_routes`` adds what the backward pass needs of them: ``route`` (flat index of each pooling
    window's max in the zero-padded map; ties as torch's max_pool2d) and ``sp_route`` (σ'(h1) there).
    """
    c, hh, ww = image_shape(params)
    x0 = x.reshape(-1, c, hh, ww)
    pooled, routes, sp_routes = [], [], []
    for s in range(0, x0.shape[0], CONV_CHUNK):
        h1 = F.conv2d(x0[s : s + CONV_CHUNK], W["K1"], padding=2)
        padded = F.pad(sigma(h1, params.slope), (1, 1, 1, 1), value=0.0)
        p1, route = F.max_pool2d(padded, 3, stride=2, return_indices=True)
        pooled.append(p1.flatten(1))
        if keep_pool_routes:
            sp = F.pad(sigma_prime(h1, params.slope), (1, 1, 1, 1), value=0.0)  # padding carries no gradient
            routes.append(route)
            sp_routes.append(sp.flatten(2).gather(2, route.flatten(2)).reshape(route.shape))
    p1 = torch.cat(pooled)
    d1 = p1 * masks[0] if masks is not None else p1
    h2 = d1 @ W["W2"]
    x2 = sigma(h2, params.slope)
    d2 = x2 * masks[1] if masks is not None else x2
    h3 = d2 @ W["W3"]
    f = {"x0": x0, "p1": p1, "d1": d1, "h2": h2, "d2": d2, "h3": h3}
    if keep_pool_routes:
        f["route"], f["sp_route"] = torch.cat(routes), torch.cat(sp_routes)
    return f


def conv_fields(W, x, params: URFBParams) -> torch.Tensor:
    """h1 = conv(x, K1) of every image (the whole feature map; for tests and inspection)."""
    c, hh, ww = image_shape(params)
    return F.conv2d(x.reshape(-1, c, hh, ww), W["K1"], padding=2)


def dropout_masks(params: URFBParams, n: int, n_pool: int, gen: torch.Generator, dtype) -> tuple:
    def mask(p, size):
        if p <= 0:
            return torch.ones(n, size, dtype=dtype)
        keep = (torch.rand(n, size, generator=gen) >= p).to(dtype)
        return keep / (1.0 - p)

    return mask(params.drop_conv, n_pool), mask(params.drop_full, params.sizes[1])


def _conv_delta_to_kernel(f, dp1: torch.Tensor, K_shape, image_hw) -> torch.Tensor:
    """Σ over images of δ1 ⋆ x, where δ1 = σ'(h1) ⊙ (dp1 routed to each window's max, summed where windows
    share their max), computed chunk by chunk."""
    hh, ww = image_hw
    n, C, ph, pw = dp1.shape
    g = dp1 * f["sp_route"]  # σ'(h1) at the max: the same factor for every window that routes there
    grad = torch.zeros(K_shape, dtype=dp1.dtype)
    for s in range(0, n, CONV_CHUNK):
        gs, rs = g[s : s + CONV_CHUNK], f["route"][s : s + CONV_CHUNK]
        m = gs.shape[0]
        d_pad = torch.zeros(m, C, (hh + 2) * (ww + 2), dtype=dp1.dtype)
        d_pad.scatter_add_(2, rs.flatten(2), gs.flatten(2))
        d1 = d_pad.reshape(m, C, hh + 2, ww + 2)[:, :, 1:-1, 1:-1]
        grad += torch.nn.grad.conv2d_weight(f["x0"][s : s + CONV_CHUNK], K_shape, d1, padding=2)
    return grad


def simpnet_step(W: dict, x: torch.Tensor, labels: torch.Tensor, params: URFBParams, masks=None) -> dict:
    """One SGD step (in place on ``W``); returns the δ of the two fully connected layers and the output."""
    p = params
    f = simpnet_forward(W, x, p, masks, keep_pool_routes=True)
    n = x.shape[0]
    scale = p.lr / n
    eps = p.r_factor
    ones = (1.0, 1.0) if masks is None else masks

    def update(wn, rn, g):
        old_w, old_r = W[wn], W.get(rn)
        W[wn] = old_w + g
        if p.uses_R and eps != 0.0:
            W[rn] = old_r + eps * g.T
        if p.uses_R:
            return W[rn] if p.feedback_after_update else old_r
        return (W[wn] if p.feedback_after_update else old_w).T

    d3 = output_delta(f["h3"], labels, p)
    F3 = update("W3", "R3", scale * (f["d2"].T @ d3))
    d2 = sigma_prime(f["h2"], p.slope) * ((d3 @ F3) * ones[1])
    F2 = update("W2", "R2", scale * (f["d1"].T @ d2))
    dp1 = ((d2 @ F2) * ones[0]).reshape(f["route"].shape)
    W["K1"] = W["K1"] + scale * _conv_delta_to_kernel(f, dp1, W["K1"].shape, f["x0"].shape[2:])
    return {2: d2, 3: d3}


class SimpnetTrainer(Trainer):
    def __init__(self, params: URFBParams, seed: int, dtype=torch.float32, weights=None):
        image_shape(params)
        self.params, self.seed, self.dtype = params, seed, dtype
        w0 = init_simpnet(params, seed) if weights is None else weights
        self.W = {k: torch.as_tensor(np.asarray(v), dtype=dtype).clone() for k, v in w0.items()}

    def train_epoch(self, x, y, epoch, progress=None):
        x = np.asarray(x)
        if x.ndim != 2 or x.shape[1] != self.params.sizes[0]:
            raise ShapeError(f"simpnet trainer: x has shape {x.shape}, expected (n, {self.params.sizes[0]})")
        order = np.random.default_rng([self.seed, epoch]).permutation(len(x))
        gen = torch.Generator().manual_seed(int(np.random.default_rng([self.seed, epoch, 1]).integers(2**62)))
        n_pool = self.W["W2"].shape[0]
        B = self.params.batch
        for start in range(0, len(order), B):
            idx = order[start : start + B]
            masks = dropout_masks(self.params, len(idx), n_pool, gen, self.dtype)
            simpnet_step(self.W, torch.as_tensor(x[idx], dtype=self.dtype), torch.as_tensor(np.asarray(y)[idx]),
                         self.params, masks)
            if progress is not None:
                progress(len(idx))
        return {}

    def predict(self, x, chunk: int = 500):
        out = []
        with torch.no_grad():
            for s in range(0, len(x), chunk):
                f = simpnet_forward(self.W, torch.as_tensor(np.asarray(x[s : s + chunk]), dtype=self.dtype), self.params)
                out.append(f["h3"].argmax(1).numpy())
        return np.concatenate(out)

    def weights(self):
        return {k: v.double().numpy().copy() for k, v in self.W.items()}

    def state_dict(self):
        return {"weights": self.weights()}

    def load_state_dict(self, state):
        self.W = {k: torch.as_tensor(v, dtype=self.dtype) for k, v in state["weights"].items()}

    def epoch_metrics(self):
        return {f"corr_{w}_{r}": correlation(self.W[w], self.W[r].T) for w, r in (("W2", "R2"), ("W3", "R3")) if r in self.W}

