"""Approximate ST-MRAM: 16-bit weight codes whose bit writes fail with a per-position bit error rate.

Model. The memory holds 16-bit codes only (as a float32 array of integers, which the network reads
directly; `codes` gives them as int16). A write compares the intended code with the stored one
(read-before-write) and programs the bits that differ; each programmed bit at position b fails
(keeps its old value) with probability BER_b, or with BER_set_b / BER_reset_b for 0->1 / 1->0 when
the policy is directional (bit value 1 = anti-parallel state, so 0->1 is a P->AP write). Bits that
do not change are never touched, so they never flip. BER 1 at a position means that bit is never
updated: it keeps its initial (random) value forever.

Failure draws scale with the failing bits, not with 16 x words. A policy is compiled into `Lanes`
(one per group of positions sharing a BER, and per write direction when the policy is
directional); the compiled write in `memory_kernels` draws, on the changed bits only, a dense part
from the first 4 binary digits of the BER (one random 64-bit word per digit and 4-word block) and a
sparse remainder with geometric gaps; BER above 1/2 is drawn as its complement. This is exact for
any BER in [0, 1].

All replicas (seeds / configurations) are stacked along axis 0; each has its own policy and its
own random streams (SplitMix64, one per lane, seeded from its SeedSequence), so a replica's results
do not depend on what it is stacked with.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ..errors import ParameterError
from .fixedpoint import CODE_MAX, CODE_MIN, WORD_BITS
from .memory_kernels import TABLES, normalize_ranges, write_words

DENSE_DIGITS = 4
"""Binary digits of each BER drawn with dense random words; the rest is drawn sparsely."""

_ALL_BITS = (1 << WORD_BITS) - 1
_NO_OUTER = (np.zeros((1, 1, 1), np.float32), np.zeros((1, 1, 1), np.float32), 0)


def _check_ber(value: float, name: str) -> float:
    try:
        ber = float(value)
    except (TypeError, ValueError):
        raise ParameterError(f"{name} must be a number in [0, 1], got {value!r}") from None
    if not (math.isfinite(ber) and 0.0 <= ber <= 1.0):
        raise ParameterError(f"{name} must lie in [0, 1], got {value!r}")
    return ber


def _check_n_lsb(n_lsb: int, name: str = "n_lsb") -> int:
    if isinstance(n_lsb, bool) or not isinstance(n_lsb, (int, np.integer)):
        raise ParameterError(f"{name} must be an integer in 0..{WORD_BITS}, got {n_lsb!r}")
    if not 0 <= int(n_lsb) <= WORD_BITS:
        raise ParameterError(f"{name} must lie in 0..{WORD_BITS}, got {n_lsb}")
    return int(n_lsb)


def _ber_vector(values: Sequence[float] | np.ndarray, name: str) -> tuple[float, ...]:
    arr = list(np.asarray(values, dtype=float).ravel()) if not np.isscalar(values) else [values]
    if len(arr) != WORD_BITS:
        raise ParameterError(f"{name} needs {WORD_BITS} values (bit 0 = LSB first), got {len(arr)}")
    return tuple(_check_ber(v, f"{name}[{i}]") for i, v in enumerate(arr))


@dataclass(frozen=True)
class BitErrorPolicy:
    """Write-error rate of every bit position (index 0 = LSB), per write direction.

    `removed_lsbs` models a memory without its n lowest bits (they read as 0 and are never
    programmed); it is the paper's "LSBs removed" reference, not an error model.
    """

    ber_set: tuple[float, ...]
    ber_reset: tuple[float, ...]
    removed_lsbs: int = 0
    label: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "ber_set", _ber_vector(self.ber_set, "ber_set"))
        object.__setattr__(self, "ber_reset", _ber_vector(self.ber_reset, "ber_reset"))
        _check_n_lsb(self.removed_lsbs, "removed_lsbs")
        if self.removed_lsbs >= WORD_BITS:
            raise ParameterError("removed_lsbs must leave at least one stored bit (0..15)")

    # --- constructors ---------------------------------------------------------------------------
    @classmethod
    def uniform(cls, ber: float) -> "BitErrorPolicy":
        b = _check_ber(ber, "ber")
        return cls((b,) * WORD_BITS, (b,) * WORD_BITS, label=f"uniform BER {b:g}")

    @classmethod
    def exact(cls) -> "BitErrorPolicy":
        return cls.uniform(0.0)

    @classmethod
    def two_stage(cls, n_lsb: int, lsb_ber: float, hsb_ber: float) -> "BitErrorPolicy":
        """The n lowest bits at `lsb_ber`, the others at `hsb_ber` (paper Fig. 4)."""
        n = _check_n_lsb(n_lsb)
        lo, hi = _check_ber(lsb_ber, "lsb_ber"), _check_ber(hsb_ber, "hsb_ber")
        vec = tuple(lo if i < n else hi for i in range(WORD_BITS))
        return cls(vec, vec, label=f"{n} LSB at BER {lo:g}, HSB at BER {hi:g}")

    @classmethod
    def lsbs_removed(cls, n_lsb: int, hsb_ber: float) -> "BitErrorPolicy":
        """A (16 - n)-bit memory at `hsb_ber`: the n LSBs do not exist (always 0)."""
        n = _check_n_lsb(n_lsb)
        hi = _check_ber(hsb_ber, "hsb_ber")
        vec = tuple(0.0 if i < n else hi for i in range(WORD_BITS))
        return cls(vec, vec, removed_lsbs=n, label=f"{n} LSB removed, HSB at BER {hi:g}")

    @classmethod
    def per_bit(cls, ber: Sequence[float], ber_reset: Sequence[float] | None = None) -> "BitErrorPolicy":
        """Any per-position vector (LSB first); a second vector makes it directional (1->0 writes)."""
        s = _ber_vector(ber, "ber")
        r = s if ber_reset is None else _ber_vector(ber_reset, "ber_reset")
        return cls(s, r, label="per-bit")

    def with_reset_ber(self, ber_reset: Sequence[float] | float) -> "BitErrorPolicy":
        """A copy whose 1->0 (AP->P) writes use `ber_reset` (a scalar or a 16-vector): directional."""
        vec = [ber_reset] * WORD_BITS if np.isscalar(ber_reset) else ber_reset
        return BitErrorPolicy(self.ber_set, vec, self.removed_lsbs, f"{self.label}, 1->0 at {ber_reset}")

    # --- properties -----------------------------------------------------------------------------
    @property
    def directional(self) -> bool:
        return self.ber_set != self.ber_reset

    @property
    def stored_bits(self) -> int:
        return WORD_BITS - self.removed_lsbs

    @property
    def stored_mask(self) -> int:
        return _ALL_BITS & ~((1 << self.removed_lsbs) - 1)

    def groups(self) -> list[tuple[int, float, float]]:
        """Stored positions grouped by identical (ber_set, ber_reset): [(bit mask, ber_set, ber_reset)]."""
        out: dict[tuple[float, float], int] = {}
        for b in range(self.removed_lsbs, WORD_BITS):
            key = (self.ber_set[b], self.ber_reset[b])
            out[key] = out.get(key, 0) | (1 << b)
        return [(mask, s, r) for (s, r), mask in out.items()]

    def describe(self) -> dict:
        return {
            "label": self.label,
            "ber_set": list(self.ber_set),
            "ber_reset": list(self.ber_reset),
            "directional": self.directional,
            "removed_lsbs": self.removed_lsbs,
        }


@dataclass(frozen=True)
class Lanes:
    """A policy compiled for the failure scan: one lane per (bit group, write direction).

    Lane l covers the positions `mask[l]` (repeated over the 4 words of a 64-bit block) that change
    in direction `direction[l]` (0: any, 1: 0->1, 2: 1->0), and fails them with probability
    `ber[l]`, drawn as a dyadic part (`digits[l]` over `n_digits[l]` binary digits, of the success
    probability when `flip[l]` is set) plus a sparse remainder q (`sparse_rate[l]` = -ln(1 - q), 0 for none).

    A policy that is not directional fails each group in one lane (direction 0). Every lane also
    counts, in the same pass, how many of its changed bits are 0->1 writes, so that they can be
    priced from the P->AP energy curve and the 1->0 writes from the AP->P one.
    """

    group: tuple[int, ...]
    direction: np.ndarray
    mask: np.ndarray
    flip: np.ndarray
    digits: np.ndarray
    n_digits: np.ndarray
    sparse_rate: np.ndarray
    ber: tuple[float, ...]

    @classmethod
    def compile(cls, policy: BitErrorPolicy) -> "Lanes":
        rows = []
        for g, (mask, ber_set, ber_reset) in enumerate(policy.groups()):
            if policy.directional:
                rows += [(g, 1, mask, ber_set), (g, 2, mask, ber_reset)]
            else:
                rows.append((g, 0, mask, ber_set))
        parts = [(g, d, _repeat_mask(m), p, *_split_probability(p)) for g, d, m, p in rows]
        return cls(
            group=tuple(r[0] for r in parts),
            direction=np.array([r[1] for r in parts], dtype=np.int64),
            mask=np.array([r[2] for r in parts], dtype=np.uint64),
            flip=np.array([r[2] if r[4] else 0 for r in parts], dtype=np.uint64),
            digits=np.array([r[5] for r in parts], dtype=np.int64),
            n_digits=np.array([r[6] for r in parts], dtype=np.int64),
            sparse_rate=np.array([r[7] for r in parts], dtype=np.float64),
            ber=tuple(r[3] for r in parts),
        )

    def table(self) -> tuple[np.ndarray, np.ndarray]:
        """The lanes as the compiled write reads them: rows (any direction, invert, mask, flip, digits,
        n_digits) as uint64, and the mean gap 1 / -ln(1 - q) between sparse marks per lane (0 for none)."""
        rows = [[_ALL_WORDS if d == 0 else 0, _ALL_WORDS if d == 2 else 0, m, f, g, n]
                for d, m, f, g, n in zip(self.direction, self.mask, self.flip, self.digits, self.n_digits)]
        mean_gaps = np.divide(1.0, self.sparse_rate, out=np.zeros_like(self.sparse_rate), where=self.sparse_rate > 0)
        return np.array(rows, dtype=np.uint64).reshape(-1, 6), mean_gaps


_ALL_WORDS = (1 << 64) - 1


def _repeat_mask(mask16: int) -> int:
    """A 16-bit position mask repeated over the 4 words of a 64-bit block."""
    return mask16 * 0x0001_0001_0001_0001


def _split_probability(p: float) -> tuple[bool, int, int, float]:
    """(flip, digits, n_digits, -ln(1 - q)) for failure probability p (see `memory_kernels`).

    p > 1/2 is drawn as its complement (flip). The first DENSE_DIGITS binary digits of the
    remaining probability are drawn densely; trailing zero digits are dropped (they would cost a
    random word each for nothing), and the rest q is drawn sparsely.
    """
    flip = p > 0.5
    p_draw = 1.0 - p if flip else p
    scale = 1 << DENSE_DIGITS
    digits = int(math.floor(p_draw * scale))
    n_digits = DENSE_DIGITS if digits else 0
    while digits and not digits & 1:
        digits >>= 1
        n_digits -= 1
    dyadic = digits / (1 << n_digits) if digits else 0.0
    q = (p_draw - dyadic) / (1.0 - dyadic)
    return flip, digits, n_digits, -math.log1p(-q) if q > 0.0 else 0.0


class ApproximateMemory:
    """Stacked 16-bit codes (replica x word) with per-replica bit-error policies.

    The codes are held as one float32 array of integers (exact: |code| < 2^24), which the network
    reads directly with BLAS (`values_lsb`); it is the stored codes, never a higher-precision
    shadow, and `codes` gives them as int16. Rows are padded to a multiple of 32 words so the
    compiled write handles them as 64-bit blocks of 4 words, 8 blocks at a time (see `memory_kernels`).
    """

    def __init__(
        self,
        codes: np.ndarray,
        policies: BitErrorPolicy | Sequence[BitErrorPolicy],
        seeds: Sequence[np.random.SeedSequence | int] | np.random.SeedSequence | int,
    ) -> None:
        codes = np.asarray(codes)
        if codes.ndim == 1:
            codes = codes[None, :]
        if codes.ndim != 2 or codes.dtype != np.int16:
            raise ParameterError("codes must be an int16 array of shape (replicas, words)")
        n_rep, n_words = codes.shape
        if isinstance(policies, BitErrorPolicy):
            policies = [policies] * n_rep
        if len(policies) != n_rep:
            raise ParameterError(f"need one policy per replica: {n_rep} replicas, {len(policies)} policies")
        if isinstance(seeds, (int, np.integer, np.random.SeedSequence)):
            root = seeds if isinstance(seeds, np.random.SeedSequence) else np.random.SeedSequence(int(seeds))
            seeds = root.spawn(n_rep)
        if len(seeds) != n_rep:
            raise ParameterError(f"need one seed per replica: {n_rep} replicas, {len(seeds)} seeds")
        self.policies: list[BitErrorPolicy] = list(policies)
        self._lanes = [Lanes.compile(p) for p in self.policies]
        self._groups = [p.groups() for p in self.policies]
        self._n_words = n_words
        padded = -(-n_words // 32) * 32  # whole groups of 8 blocks of 4 words
        self._values = np.zeros((n_rep, padded), dtype=np.float32)  # the padding words stay 0
        self._values[:, :n_words] = self._stored(codes)
        # the compiled write's view of the policies: lanes stacked per replica, zero-padded
        self._n_lanes = np.array([len(lanes.ber) for lanes in self._lanes], dtype=np.int64)
        width = int(self._n_lanes.max())
        self._lane_rows = np.zeros((n_rep, width, 6), dtype=np.uint64)
        self._mean_gaps = np.zeros((n_rep, width))
        self._states = np.zeros((n_rep, width), dtype=np.uint64)
        for r, (lanes, seed) in enumerate(zip(self._lanes, seeds)):
            k = len(lanes.ber)
            self._lane_rows[r, :k], self._mean_gaps[r, :k] = lanes.table()
            self._states[r, :k] = _lane_streams(seed, k)
        self._steps = np.array([1 << p.removed_lsbs for p in self.policies], dtype=np.int64)
        self._all_words = np.tile(np.array([[[0, n_words]]], dtype=np.int64), (n_rep, 1, 1))
        # statistics, per replica
        self.write_calls = 0
        self.word_writes = np.zeros(n_rep, dtype=np.int64)
        self._lane_counts = np.zeros((n_rep, width), dtype=np.int64)  # changed bits per lane
        self._lane_set_counts = np.zeros((n_rep, width), dtype=np.int64)  # of which 0->1

    # --- reading ----------------------------------------------------------------------------------
    @property
    def shape(self) -> tuple[int, int]:
        return (self._values.shape[0], self._n_words)

    @property
    def codes(self) -> np.ndarray:
        """The stored codes as int16 (a copy)."""
        return self._values[:, : self._n_words].astype(np.int16)

    @property
    def values_lsb(self) -> np.ndarray:
        """The codes as float32 (read-only), in LSB units."""
        view = self._values[:, : self._n_words]
        view.flags.writeable = False
        return view

    def groups(self, replica: int) -> list[tuple[int, float, float]]:
        return self._groups[replica]

    # --- writing ----------------------------------------------------------------------------------
    def write(self, new_codes: np.ndarray) -> None:
        """Program intended codes (replicas x words, int16); failing bits keep their old value."""
        new = np.asarray(new_codes)
        if new.shape != self.shape:
            raise ParameterError(f"new codes have shape {new.shape}, memory holds {self.shape}")
        # codes are integers below 2^16: the difference, the sum and the rounding in float32 are exact
        self.add_lsb(self._stored(np.asarray(new, dtype=np.int16)).astype(np.float32) - self.values_lsb)

    def _stored(self, codes: np.ndarray) -> np.ndarray:
        """`codes` (replicas x words, int16) on each replica's grid of stored bits.

        A replica without its n lowest bits holds multiples of 2^n: the code is rounded to the
        nearest one (ties to even, as every write rounds) and saturated, not floored by clearing the
        bits, which would bias every weight down by half a stored step on average.
        """
        out = codes.copy()
        for r, policy in enumerate(self.policies):
            if policy.removed_lsbs:
                step = 1 << policy.removed_lsbs
                top = CODE_MAX - (step - 1)  # the largest multiple of the step that fits
                grid = np.rint(codes[r].astype(np.float64) / step) * step
                out[r] = np.clip(grid, CODE_MIN, top).astype(np.int16)
        return out

    def add_lsb(self, delta: np.ndarray, ranges: np.ndarray | None = None,
                outer: tuple[np.ndarray, np.ndarray] | None = None) -> None:
        """Read, add `delta` (LSB units, float32, replicas x words), round, saturate, write.

        The stored value plus `delta` is rounded to nearest (ties to even) on the grid of stored
        bits (2^removed_lsbs LSBs) and saturated to the code range. `ranges` (optional, per replica
        or shared: int rows [start, stop)) lists the words where `delta` may be nonzero; the others
        are not visited, which is exact because a zero update programs nothing. `outer` = (x, dh),
        float32 (R, B, I) and (R, B, H): the first I * H words' update is x^T dh, computed inside
        the write (see `memory_kernels.write_words`) instead of read from `delta`.
        """
        if delta.shape != self.shape or delta.dtype != np.float32:
            raise ParameterError(f"delta must be float32 of shape {self.shape}")
        x, dh, n_outer = _NO_OUTER if outer is None else (*outer, outer[0].shape[2] * outer[1].shape[2])
        if outer is not None and (x.dtype != np.float32 or dh.dtype != np.float32 or x.ndim != 3 or dh.ndim != 3
                                  or x.shape[:2] != dh.shape[:2] or x.shape[0] != self.shape[0] or n_outer > self.shape[1]):
            raise ParameterError(f"outer must be float32 (x, dh) of shapes ({self.shape[0]}, B, I), ({self.shape[0]}, B, H)")
        dh = np.ascontiguousarray(dh)  # the compiled write reads each replica's dh as one row
        write_words(delta, self._values, self._update_ranges(ranges), self._steps, self._lane_rows, self._n_lanes,
                    self._mean_gaps, self._states, self._lane_counts, self._lane_set_counts, self.word_writes, TABLES,
                    x, dh, n_outer)
        self.write_calls += 1

    def _update_ranges(self, ranges: np.ndarray | Sequence | None) -> np.ndarray:
        """Validated word ranges per replica (R, k, 2), widened and merged (see `normalize_ranges`)."""
        n_rep, n = self.shape
        if ranges is None:
            return self._all_words
        arr = np.asarray(ranges, dtype=np.int64)
        if arr.ndim == 2:
            arr = np.broadcast_to(arr, (n_rep, *arr.shape))
        if arr.ndim != 3 or arr.shape[0] != n_rep or arr.shape[2] != 2:
            raise ParameterError(f"ranges must be [start, stop) rows, shared (k, 2) or per replica ({n_rep}, k, 2)")
        if arr.size and (arr.min() < 0 or arr.max() > n):
            raise ParameterError(f"ranges must lie within 0..{n}")
        return normalize_ranges(np.ascontiguousarray(arr), n)

    def statistics(self, replica: int) -> dict:
        """Counts accumulated so far for one replica (feeds the energy accounting).

        `changed_bits_set` counts the 0->1 (P->AP) programmed bits of each group, for every policy,
        so that each write direction can be priced from its own energy curve.
        """
        lanes = self._lanes[replica]
        counts, set_counts = self._lane_counts[replica], self._lane_set_counts[replica]
        rows = []
        for g, (mask, ber_set, ber_reset) in enumerate(self._groups[replica]):
            total = sum(int(c) for c, lg in zip(counts, lanes.group) if lg == g)
            n_set = sum(int(c) for c, lg in zip(set_counts, lanes.group) if lg == g)
            rows.append({"mask": mask, "n_bits": int(bin(mask).count("1")), "ber_set": ber_set, "ber_reset": ber_reset,
                         "changed_bits": total, "changed_bits_set": n_set})
        return {
            "write_calls": self.write_calls,
            "words": self._n_words,
            "word_writes": int(self.word_writes[replica]),
            "groups": rows,
        }


def _lane_streams(seed: np.random.SeedSequence | int, n_lanes: int) -> np.ndarray:
    """The SplitMix64 states of a replica's lanes (uint64 each, advanced in place by the write), from its seed.

    Derived from a child by spawn key, not `spawn()`, so the caller's SeedSequence is left as it was.
    """
    seq = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(int(seed))
    child = np.random.SeedSequence(seq.entropy, spawn_key=seq.spawn_key + (0,))
    return child.generate_state(n_lanes, dtype=np.uint64)
