"""Per-projection weight quantisation to a target's format.

* ``mantissa_exp`` (Loihi): ``w ≈ m·2**e`` with a signed mantissa ``m`` of ``bits`` bits (sign included,
  symmetric range ±(2**(bits−1)−1)) and one exponent ``e`` shared by the projection, chosen as the smallest
  that keeps the largest |w| unsaturated: ``e = ceil(log2(max|w| / m_max))``. Rounding is to nearest (ties to
  even, numpy's rint), as Lava's weight discretisation rounds; weights below half a step become 0.
* ``int`` (Xylo, SpiNNaker, generic): symmetric integers ``w ≈ q·s`` with ``q`` in ±(2**(bits−1)−1) and one
  float scale ``s = max|w| / q_max`` per projection.

Both return a :class:`QuantizedProjection` with the integer codes, the represented (dequantised) values and
the error figures the report and the lint quote (max |error|, relative RMS error, fraction rounded to zero).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..errors import ConfigError

__all__ = ["QuantizedProjection", "quantize_weights", "quantize_all"]


@dataclass
class QuantizedProjection:
    name: str
    fmt: str
    bits: int
    codes: np.ndarray  # integer mantissas / integers, same shape as the weights
    scale: float  # the value of one code step (2**exp for mantissa_exp)
    exponent: int | None
    values: np.ndarray  # codes * scale: what the chip represents
    max_abs_error: float
    rel_rms_error: float  # ||w_q − w|| / ||w|| over non-zero weights
    zeroed_fraction: float  # non-zero weights that became 0

    def summary(self) -> dict:
        return {
            "name": self.name, "format": self.fmt, "bits": self.bits, "exponent": self.exponent, "scale": self.scale,
            "max_abs_error": self.max_abs_error, "rel_rms_error": self.rel_rms_error,
            "zeroed_fraction": self.zeroed_fraction, "code_min": int(self.codes.min()) if self.codes.size else 0,
            "code_max": int(self.codes.max()) if self.codes.size else 0,
        }


def quantize_weights(w: np.ndarray, *, bits: int, fmt: str = "mantissa_exp", name: str = "") -> QuantizedProjection:
    """Quantise one projection's weights (any shape) to ``bits`` bits in format ``fmt``."""
    if isinstance(bits, bool) or not isinstance(bits, (int, np.integer)) or not 2 <= bits <= 32:
        raise ConfigError(f"weight bits must be an integer in 2..32 (a sign bit plus at least one magnitude bit), got {bits!r}")
    w = np.asarray(w, dtype=float)
    q_max = 2 ** (int(bits) - 1) - 1
    peak = float(np.max(np.abs(w))) if w.size else 0.0
    exponent = None
    if peak == 0.0:
        scale = 1.0
        exponent = 0 if fmt == "mantissa_exp" else None
    elif fmt == "mantissa_exp":
        exponent = int(math.ceil(math.log2(peak / q_max)))
        scale = 2.0 ** exponent
    elif fmt == "int":
        scale = peak / q_max
    else:
        raise ConfigError(f"unknown weight format {fmt!r}; use 'mantissa_exp' or 'int'")
    codes = np.clip(np.rint(w / scale), -q_max, q_max).astype(np.int64)
    values = codes * scale
    nz = w != 0
    err = values - w
    norm = float(np.linalg.norm(w[nz])) if nz.any() else 0.0
    return QuantizedProjection(
        name=name, fmt=fmt, bits=int(bits), codes=codes, scale=float(scale), exponent=exponent, values=values,
        max_abs_error=float(np.max(np.abs(err))) if w.size else 0.0,
        rel_rms_error=float(np.linalg.norm(err[nz]) / norm) if norm > 0 else 0.0,
        zeroed_fraction=float(np.mean(codes[nz] == 0)) if nz.any() else 0.0,
    )


def quantize_all(weights: dict[str, np.ndarray], *, bits: int, fmt: str) -> dict[str, QuantizedProjection]:
    """Every matrix of ``weights`` quantised on its own (one exponent / scale per projection)."""
    return {k: quantize_weights(v, bits=bits, fmt=fmt, name=k) for k, v in weights.items()}
