"""16-bit two's-complement fixed-point codes for the weights held in approximate memory.

A `QFormat` with `frac_bits = f` stores a real number x as the integer code c = round(x * 2^f),
saturated to the signed 16-bit range [-32768, 32767]; it reads back as c * 2^-f. So the LSB is
2^-f and the representable range is [-2^(15-f), 2^(15-f) - 2^-f].

`QFormat()` is Q0.15 (range [-1, 1)); training uses f = 17 (Q-2.17, range [-0.25, 0.25), LSB
7.6e-6) by default; see `training.py` for why (the size, in value, of high-bit errors in two's
complement, and quantisation of small SGD steps).

Rounding is to nearest, ties to even (`numpy.rint`), which is unbiased on average; overflow
saturates (never wraps) because a wrapped weight flips sign, which no memory controller would do.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import ParameterError

WORD_BITS = 16
CODE_MIN = -(1 << (WORD_BITS - 1))
CODE_MAX = (1 << (WORD_BITS - 1)) - 1


@dataclass(frozen=True)
class QFormat:
    """Signed 16-bit fixed point with `frac_bits` fractional bits (Q(15-f).f)."""

    frac_bits: int = 15

    def __post_init__(self) -> None:
        if isinstance(self.frac_bits, bool) or not isinstance(self.frac_bits, (int, np.integer)):
            raise ParameterError(f"frac_bits must be an integer, got {self.frac_bits!r}")
        if not 0 <= int(self.frac_bits) <= 24:
            raise ParameterError(f"frac_bits must lie in 0..24, got {self.frac_bits}")

    @property
    def word_bits(self) -> int:
        return WORD_BITS

    @property
    def lsb(self) -> float:
        """Value of one code step."""
        return 2.0 ** -int(self.frac_bits)

    @property
    def min_value(self) -> float:
        return CODE_MIN * self.lsb

    @property
    def max_value(self) -> float:
        return CODE_MAX * self.lsb

    @property
    def name(self) -> str:
        return f"Q{WORD_BITS - 1 - int(self.frac_bits)}.{int(self.frac_bits)}"

    def encode(self, values: np.ndarray | float) -> np.ndarray:
        """Round to nearest code and saturate; returns int16 codes."""
        x = np.asarray(values, dtype=np.float64)
        if not np.all(np.isfinite(x)):
            raise ParameterError("cannot encode non-finite values as fixed point")
        codes = np.clip(np.rint(x / self.lsb), CODE_MIN, CODE_MAX)
        return np.asarray(codes).astype(np.int16)

    def decode(self, codes: np.ndarray, dtype: type = np.float64) -> np.ndarray:
        """Codes (any integer dtype) back to real values."""
        c = np.asarray(codes)
        if not np.issubdtype(c.dtype, np.integer):
            raise ParameterError(f"codes must be integers, got dtype {c.dtype}")
        return c.astype(dtype) * dtype(self.lsb)

    def check_holds(self, values: np.ndarray, what: str = "weights") -> None:
        """Refuse a format that cannot hold `values`: overflow, or too coarse to resolve them."""
        x = np.asarray(values, dtype=np.float64)
        peak = float(np.max(np.abs(x))) if x.size else 0.0
        if peak > self.max_value:
            raise ParameterError(
                f"Q format {self.name} (frac_bits={self.frac_bits}) holds [{self.min_value:g}, {self.max_value:g}] "
                f"but the {what} reach {peak:g}; use fewer fractional bits"
            )
        if peak > 0 and peak < 4 * self.lsb:
            raise ParameterError(
                f"Q format {self.name} (frac_bits={self.frac_bits}) has an LSB of {self.lsb:g}, too coarse for "
                f"{what} of magnitude {peak:g}; use more fractional bits"
            )
