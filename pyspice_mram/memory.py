"""Approximate ST-MRAM: 16-bit weight codes whose bit writes fail with a per-position bit error rate.

Model. The memory holds int16 codes only. A write compares the intended code with the stored one
(read-before-write) and programs the bits that differ; each programmed bit at position b fails
(keeps its old value) with probability BER_b, or with BER_set_b / BER_reset_b for 0->1 / 1->0 when
the policy is directional (bit value 1 = anti-parallel state, so 0->1 is a P->AP write). Bits that
do not change are never touched, so they never flip. BER 1 at a position means that bit is never
updated: it keeps its initial (random) value forever.

Randomness scales with the failing bits, not with 16 x words. For each direction a policy is
compiled into a `FailurePlan` that draws a failure mask F over all bit slots, applied as
stored = new ^ (changed & F):
- a dense part drawn with a few random 16-bit words: with uniform random words R_i and per-position
  bit masks B_i (bit i of the binary expansion of the probability), X <- ((X | R) & B) | (X & R & ~B)
  run from the last digit to the first gives P(X_b = 1) = 0.d1 d2 ... dm exactly (m = 4 digits).
  So BER 50 % costs one random word per weight, and BER below 1/16 costs none;
- a sparse remainder with probability q = (p - d) / (1 - d) < 1/8: Poisson(lambda n) hits thrown
  uniformly on the n words of a bit position, lambda = -ln(1 - q), so each slot is hit at least once
  with probability q, independently (cost proportional to the number of failures);
- positions with BER above 1/2 are drawn as their complement (the successes) and inverted.
This is exact for any BER in [0, 1].

All replicas (seeds / configurations) are stacked along axis 0; each has its own policy and its
own generator, so a replica's results do not depend on what it is stacked with.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from .errors import ParameterError
from .fixedpoint import CODE_MAX, CODE_MIN, WORD_BITS

DENSE_DIGITS = 4
"""Binary digits of each BER drawn with dense random words; the rest is drawn sparsely."""

_ALL_BITS = (1 << WORD_BITS) - 1


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
class _SparseGroup:
    q: float
    positions: tuple[int, ...]


@dataclass(frozen=True)
class FailurePlan:
    """A compiled per-position failure probability vector (one write direction)."""

    ber: tuple[float, ...]
    flip_mask: int = field(init=False)
    stage_masks: tuple[int, ...] = field(init=False)  # digit 1 first
    sparse: tuple[_SparseGroup, ...] = field(init=False)

    def __post_init__(self) -> None:
        flip = 0
        digits = [0] * DENSE_DIGITS
        remainder: dict[float, list[int]] = {}
        scale = 1 << DENSE_DIGITS
        for b, p in enumerate(self.ber):
            if p > 0.5:
                flip |= 1 << b
                p = 1.0 - p
            k = int(math.floor(p * scale))
            d = k / scale
            for i in range(DENSE_DIGITS):  # digit i+1 has weight 2^-(i+1)
                if (k >> (DENSE_DIGITS - 1 - i)) & 1:
                    digits[i] |= 1 << b
            q = (p - d) / (1.0 - d)
            if q > 0.0:
                remainder.setdefault(q, []).append(b)
        last = max((i for i, m in enumerate(digits) if m), default=-1)
        object.__setattr__(self, "flip_mask", flip)
        object.__setattr__(self, "stage_masks", tuple(digits[: last + 1]))
        object.__setattr__(self, "sparse", tuple(_SparseGroup(q, tuple(pos)) for q, pos in remainder.items()))

    @property
    def trivial(self) -> bool:
        """True when no bit can ever fail (BER 0 everywhere)."""
        return self.flip_mask == 0 and not self.stage_masks and not self.sparse

    def draw(self, rng: np.random.Generator, n: int) -> tuple[np.ndarray | int, np.ndarray | None, list[tuple[int, np.ndarray]]]:
        """One draw of the failure mask over n words.

        Returns (base, dyadic, sparse): F = (dyadic | S) ^ flip where `base` = dyadic ^ flip (an
        array, or an int when there is no dyadic part), and S is given as [(bit, word indices)].
        """
        dyadic = None
        if self.stage_masks:
            stages = list(reversed(self.stage_masks))
            x = _random_words(rng, n) & np.uint16(stages[0])  # first step from x = 0
            for mask in stages[1:]:
                r = _random_words(rng, n)
                x = ((x | r) & np.uint16(mask)) | (x & r & np.uint16(~mask & _ALL_BITS))
            dyadic = x
        sparse: list[tuple[int, np.ndarray]] = []
        for group in self.sparse:
            # Poisson hits per slot with rate -ln(1 - q): P(at least one hit) = q, independently per slot
            lam = -math.log1p(-group.q)
            counts = rng.poisson(lam * n, size=len(group.positions))
            words = rng.integers(0, n, size=int(counts.sum()))
            start = 0
            for pos, k in zip(group.positions, counts):
                if k:
                    sparse.append((1 << pos, words[start : start + k]))
                start += k
        if dyadic is None:
            base: np.ndarray | int = self.flip_mask
        else:
            base = dyadic ^ np.uint16(self.flip_mask) if self.flip_mask else dyadic
        return base, dyadic, sparse


def _popcount(words: np.ndarray, scratch: np.ndarray | None = None) -> int:
    """Number of set bits in a uint16 array (counted 64 bits at a time, into `scratch` if given)."""
    head = words.size - words.size % 4
    out = None if scratch is None else scratch[: head // 4]
    total = int(np.bitwise_count(words[:head].view(np.uint64), out=out).sum(dtype=np.int64)) if head else 0
    if head < words.size:
        total += int(np.bitwise_count(words[head:]).sum(dtype=np.int64))
    return total


def _random_words(rng: np.random.Generator, n: int) -> np.ndarray:
    """n uniform random 16-bit words (each bit is Bernoulli(1/2)), straight from the bit generator."""
    return rng.bit_generator.random_raw((n + 3) // 4).view(np.uint16)[:n]


class ApproximateMemory:
    """Stacked 16-bit codes (replica x word) with per-replica bit-error policies.

    `values_lsb` is a float32 mirror of the codes (integer valued, rebuilt after every write) so the
    network can use BLAS; it is the stored codes, never a higher-precision shadow.
    """

    def __init__(
        self,
        codes: np.ndarray,
        policies: BitErrorPolicy | Sequence[BitErrorPolicy],
        seeds: Sequence[np.random.SeedSequence | int] | np.random.SeedSequence | int,
        count_bits: bool = True,
    ) -> None:
        codes = np.asarray(codes)
        if codes.ndim == 1:
            codes = codes[None, :]
        if codes.ndim != 2 or codes.dtype != np.int16:
            raise ParameterError("codes must be an int16 array of shape (replicas, words)")
        n_rep = codes.shape[0]
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
        self._rngs = [np.random.default_rng(s) for s in seeds]
        self._plans = [(FailurePlan(p.ber_set), FailurePlan(p.ber_reset)) for p in self.policies]
        self._groups = [p.groups() for p in self.policies]
        self._codes = np.array(codes, dtype=np.int16, copy=True)
        for r, p in enumerate(self.policies):
            if p.removed_lsbs:
                self._codes[r] &= np.int16(np.uint16(p.stored_mask).view(np.int16))
        self._mirror = self._codes.astype(np.float32)
        # scratch rows reused by every write: fresh large temporaries cost page faults each step
        n_words = self._codes.shape[1]
        self._new = np.empty(n_words, dtype=np.int16)
        self._diff = np.empty(n_words, dtype=np.uint16)
        self._bitcount = np.empty(n_words // 4, dtype=np.uint8)
        self.count_bits = count_bits
        # statistics, per replica
        self.write_calls = 0
        self.word_writes = np.zeros(n_rep, dtype=np.int64)
        self.changed_bits = [np.zeros(len(g), dtype=np.int64) for g in self._groups]
        self.changed_bits_set = [np.zeros(len(g), dtype=np.int64) for g in self._groups]

    # --- reading ----------------------------------------------------------------------------------
    @property
    def shape(self) -> tuple[int, int]:
        return self._codes.shape  # type: ignore[return-value]

    @property
    def codes(self) -> np.ndarray:
        view = self._codes.view()
        view.flags.writeable = False
        return view

    @property
    def values_lsb(self) -> np.ndarray:
        """The codes as float32 (read-only), in LSB units."""
        view = self._mirror.view()
        view.flags.writeable = False
        return view

    def groups(self, replica: int) -> list[tuple[int, float, float]]:
        return self._groups[replica]

    # --- writing ----------------------------------------------------------------------------------
    def write(self, new_codes: np.ndarray) -> None:
        """Program intended codes (replicas x words, int16); failing bits keep their old value."""
        new = np.array(new_codes, dtype=np.int16, copy=True)
        if new.shape != self._codes.shape:
            raise ParameterError(f"new codes have shape {new.shape}, memory holds {self._codes.shape}")
        for r in range(new.shape[0]):
            if self.policies[r].removed_lsbs:
                new[r] &= np.int16(np.uint16(self.policies[r].stored_mask).view(np.int16))
            self._program(r, new[r])
        self.write_calls += 1

    def add_lsb(self, delta: np.ndarray) -> None:
        """Read, add `delta` (LSB units, float32, replicas x words), round, saturate, write.

        `delta` is used as scratch space and overwritten. Rounding is to nearest (ties to even) on
        the grid of stored bits (2^removed_lsbs LSBs).
        """
        if delta.shape != self._codes.shape or delta.dtype != np.float32:
            raise ParameterError(f"delta must be float32 of shape {self._codes.shape}")
        for r in range(delta.shape[0]):
            d = delta[r]
            removed = self.policies[r].removed_lsbs
            if removed:
                step = np.float32(1 << removed)
                d /= step
                np.rint(d, out=d)
                d *= step
                hi = CODE_MAX + 1 - (1 << removed)
            else:
                np.rint(d, out=d)
                hi = CODE_MAX
            d += self._mirror[r]
            np.clip(d, CODE_MIN, hi, out=d)
            np.copyto(self._new, d, casting="unsafe")  # integral and in range: exact
            self._program(r, self._new)
        self.write_calls += 1

    def _program(self, r: int, new: np.ndarray) -> None:
        """Apply one replica's write: `new` (int16, modified in place) becomes the stored codes."""
        old = self._codes[r].view(np.uint16)
        new_u = new.view(np.uint16)
        diff = np.bitwise_xor(old, new_u, out=self._diff)
        if self.count_bits:
            self._count(r, diff, new_u)
        set_plan, reset_plan = self._plans[r]
        rng = self._rngs[r]
        if not self.policies[r].directional:
            if not set_plan.trivial:
                self._apply(rng, set_plan, diff, new_u)
        else:
            sel_set = diff & new_u
            sel_reset = diff ^ sel_set
            if not set_plan.trivial:
                self._apply(rng, set_plan, sel_set, new_u)
            if not reset_plan.trivial:
                self._apply(rng, reset_plan, sel_reset, new_u)
        self._codes[r] = new
        self._mirror[r] = new

    @staticmethod
    def _apply(rng: np.random.Generator, plan: FailurePlan, changed: np.ndarray, new_u: np.ndarray) -> None:
        """Revert the changed bits that fail: new ^= changed & F (sparse slots by fancy indexing)."""
        base, dyadic, sparse = plan.draw(rng, changed.size)
        if isinstance(base, np.ndarray):
            new_u ^= changed & base
        elif base:
            new_u ^= changed & np.uint16(base)
        for bit, idx in sparse:
            toggle = changed[idx] & np.uint16(bit)
            if dyadic is not None:
                toggle &= ~dyadic[idx]  # slots already failed (or already succeeded, when flipped) by the dense part
            # a word index may repeat (Poisson hits); the buffered assignment applies the toggle once
            new_u[idx] = new_u[idx] ^ toggle

    def _count(self, r: int, diff: np.ndarray, new_u: np.ndarray) -> None:
        self.word_writes[r] += np.count_nonzero(diff)
        groups = self._groups[r]
        directional = self.policies[r].directional
        if len(groups) == 1:
            self.changed_bits[r][0] += _popcount(diff, self._bitcount)
            if directional:
                self.changed_bits_set[r][0] += _popcount(diff & new_u, self._bitcount)
            return
        for g, (mask, _, _) in enumerate(groups):
            masked = diff & np.uint16(mask)
            self.changed_bits[r][g] += _popcount(masked, self._bitcount)
            if directional:
                self.changed_bits_set[r][g] += _popcount(masked & new_u, self._bitcount)

    def statistics(self, replica: int) -> dict:
        """Counts accumulated so far for one replica (feeds the energy accounting)."""
        groups = self._groups[replica]
        directional = self.policies[replica].directional
        rows = []
        for g, (mask, ber_set, ber_reset) in enumerate(groups):
            total = int(self.changed_bits[replica][g])
            n_set = int(self.changed_bits_set[replica][g]) if directional else None
            rows.append({"mask": mask, "n_bits": int(bin(mask).count("1")), "ber_set": ber_set, "ber_reset": ber_reset,
                         "changed_bits": total, "changed_bits_set": n_set})
        return {
            "write_calls": self.write_calls,
            "words": self._codes.shape[1],
            "word_writes": int(self.word_writes[replica]),
            "groups": rows,
        }
