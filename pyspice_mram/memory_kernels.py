"""Compiled inner loops of the approximate memory: one pass that rounds and stores, scans that fail bits.

Why compiled. A training step writes ~240k words per replica, and float training spends only ~0.5 ms
per step; NumPy needs ~10 whole-array passes plus scattered failure draws for the same write (4x the
float step at BER 1 %). Here the write is one vectorised pass; the failure draw of each lane is a
vectorised count of its changed bits per 64-bit block (4 words), a walk over those counts 8 blocks
at a time that places the sparse marks, and work per failing bit, never work per bit slot.

Randomness. Each replica owns a NumPy generator (the sparse marks) and a SplitMix64 stream (the
dense random words; Steele, Lea & Flood, OOPSLA 2014; passes BigCrush), both seeded from the
replica's `SeedSequence`. The SplitMix64 state is a one-element uint64 array advanced by the scan,
so a replica's draws depend only on its own seed.

Failure draw of one lane (bit positions of one write direction sharing one BER p). A lane draws
Y ~ Bernoulli(p') on its changed bits, p' = min(p, 1 - p), and F = Y (or not Y when p > 1/2):
- dyadic part: with random words r and the binary digits d_1..d_m of floor(p' 2^m) / 2^m,
  X <- d ? (X | r) : (X & r) run from d_m to d_1 gives P(X_b = 1) = 0.d_1..d_m exactly;
- sparse remainder q = (p' - 0.d_1..d_m) / (1 - 0.d_1..d_m): geometric gaps over the lane's
  changed bits (in scan order) mark each one with probability q, independently, at a cost per
  marked bit; a marked bit with X = 0 joins Y. The gaps come from the replica's NumPy generator
  (floor(E / -ln(1 - q)) + 1 with E exponential), drawn in batches outside the walk.
So P(Y_b) = d + (1 - d) q = p' for every changed bit, and unchanged bits are never touched.
"""

from __future__ import annotations

import numba
import numpy as np

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
_M1 = np.uint64(0x5555555555555555)
_M2 = np.uint64(0x3333333333333333)
_M4 = np.uint64(0x0F0F0F0F0F0F0F0F)
_H01 = np.uint64(0x0101010101010101)
_WORD = np.uint64(0xFFFF)
_ZERO = np.uint64(0)
_ONE = np.uint64(1)
_WORD_LSB = np.uint64(0x0001000100010001)
_BYTE_PAIRS = np.uint64(0x00FF00FF00FF00FF)
_S48 = np.uint64(48)
_S1, _S2, _S4, _S8 = np.uint64(1), np.uint64(2), np.uint64(4), np.uint64(8)
_S27, _S30, _S31, _S56 = np.uint64(27), np.uint64(30), np.uint64(31), np.uint64(56)


@numba.njit(cache=True, inline="always")
def _next_u64(state: np.ndarray) -> np.uint64:
    """SplitMix64: advance the counter by the golden gamma and return the mixed value."""
    state[0] += _GOLDEN
    z = state[0]
    z = (z ^ (z >> _S30)) * _MIX1
    z = (z ^ (z >> _S27)) * _MIX2
    return z ^ (z >> _S31)


@numba.njit(cache=True, inline="always")
def _popcount(x: np.uint64) -> int:
    x = x - ((x >> _S1) & _M1)
    x = (x & _M2) + ((x >> _S2) & _M2)
    x = (x + (x >> _S4)) & _M4
    return np.int64((x * _H01) >> _S56)


@numba.njit(cache=True)
def normalize_ranges(ranges, n_words) -> np.ndarray:
    """Per replica, word ranges sorted, widened to whole groups of 8 blocks (32 words) and merged.

    `ranges` is int64 (R, k, 2) of [start, stop) rows inside 0..n_words; unused output rows are
    empty ([n_words, n_words]).
    """
    out = np.full(ranges.shape, n_words, dtype=np.int64)
    for rep in range(ranges.shape[0]):
        order = np.argsort(ranges[rep, :, 0])
        m = -1
        for i in order:
            start = ranges[rep, i, 0] - ranges[rep, i, 0] % 32
            stop = min((ranges[rep, i, 1] + 31) // 32 * 32, n_words)
            if ranges[rep, i, 1] <= ranges[rep, i, 0]:
                continue
            if m >= 0 and start <= out[rep, m, 1]:
                out[rep, m, 1] = max(out[rep, m, 1], stop)
            else:
                m += 1
                out[rep, m, 0] = start
                out[rep, m, 1] = stop
    return out


@numba.njit(cache=True)
def _round_words(delta, mirror, codes, diff, inv, step, lo, hi) -> None:
    for i in range(delta.size):  # branch-free, no reduction: vectorises
        s = np.rint((mirror[i] + delta[i]) * inv) * step
        s = min(max(s, lo), hi)
        new = np.int16(s)
        diff[i] = np.uint16(codes[i] ^ new)
        codes[i] = new
        mirror[i] = s


@numba.njit(cache=True)
def round_and_store(delta, mirror, codes, diff, ranges, step, code_lo, code_hi) -> None:
    """codes <- clip(rint((mirror + delta) / step) * step); diff <- old ^ new; mirror <- new.

    Only the word ranges `ranges` (int64 rows [start, stop)) are visited; `delta` (float32, LSB
    units) is added to the stored value `mirror`; `step` is the grid of stored bits (2^removed_lsbs).
    """
    inv, fstep = np.float32(1.0 / step), np.float32(step)
    lo, hi = np.float32(code_lo), np.float32(code_hi)
    for r in range(ranges.shape[0]):
        a, b = ranges[r, 0], ranges[r, 1]
        _round_words(delta[a:b], mirror[a:b], codes[a:b], diff[a:b], inv, fstep, lo, hi)


@numba.njit(cache=True, inline="always")
def _nth_set_bit(x: np.uint64, n: int) -> np.uint64:
    """The n-th (0-based, from the lowest) set bit of x, as a one-bit mask: a branch-free binary search."""
    position = np.uint64(0)
    rank = np.uint64(n)
    for width in (32, 16, 8, 4, 2, 1):
        w = np.uint64(width)
        low = np.uint64(_popcount(x & ((_ONE << w) - _ONE)))
        upper = np.uint64(rank >= low)  # 1 when the bit lies in the upper half
        rank -= upper * low
        x >>= upper * w
        position += upper * w
    return _ONE << position


@numba.njit(cache=True, inline="always")
def _lane_bits(changed, intended, any_direction, invert, mask):
    """The changed bits of a block that belong to a lane, branch-free: with (any, invert) = (~0, 0)
    every changed bit, (0, 0) the 0->1 bits, (0, ~0) the 1->0 bits; then the lane's positions."""
    return changed & mask & ((intended ^ invert) | any_direction)


@numba.njit(cache=True)
def _count_range(diff64, intended64, any_direction, invert, mask, counts8) -> tuple[int, int]:
    bits = 0
    words = 0
    for j in range(diff64.size):  # a map and two sums: vectorises
        changed = diff64[j]
        n_sel = _popcount(_lane_bits(changed, intended64[j], any_direction, invert, mask))
        counts8[j] = n_sel
        bits += n_sel
        flags = changed | (changed >> _S8)  # bit 16k set when word k changed
        flags |= flags >> _S4
        flags |= flags >> _S2
        flags |= flags >> _S1
        words += _popcount(flags & _WORD_LSB)
    return bits, words


@numba.njit(cache=True)
def count_lane(diff64, intended64, words, lane, counts8) -> tuple[int, int]:
    """(changed bits of the lane, changed words) over the word ranges `words`; counts8[j] <- lane bits of block j.

    The lane bits of a block are its changed bits in the lane's mask whose direction matches:
    lane = (any direction, invert, mask, ...), see `_lane_bits`.
    """
    bits = 0
    changed = 0
    for r in range(words.shape[0]):
        a, b = words[r, 0] // 4, (words[r, 1] + 3) // 4
        lane_bits, changed_words = _count_range(diff64[a:b], intended64[a:b], lane[0], lane[1], lane[2], counts8[a:b])
        bits += lane_bits
        changed += changed_words
    return bits, changed


@numba.njit(cache=True)
def find_marks(words, counts8, exps, progress, mark_blocks, mark_ranks, apply_to) -> int:
    """Locate the sparse marks of a lane: each lane bit is marked with probability q, independently.

    The gaps between marks are geometric, floor(E * inv_rate) + 1 with E = `exps[1:]` ~ Exp(1) and
    `exps[0]` = 1 / -ln(1 - q). Walking `counts8` (lane bits per block, from `count_lane`) 8 blocks
    at a time, mark m is recorded as its block `mark_blocks[m]` and its rank among the block's lane
    bits `mark_ranks[m]`. Returns the number of marks recorded; they fit in len(exps) - 1.
    With `apply_to` = (diff64, intended64, codes64, mirror, lane) instead of None, each mark is a
    failure reverted at once (a lane with only a sparse part), and nothing is recorded.
    `progress` (int64[4], in/out): range index, block, lane bits before the block, last mark
    ordinal (0 at the start). When the draws run out the walk stops; call again with new draws.
    """
    inv_rate = exps[0]
    groups = counts8.view(np.uint64)
    ends = np.empty(8, dtype=np.int64)  # cumulative lane bits at the end of each block of a group
    r, j, seen, last = progress[0], progress[1], progress[2], progress[3]
    found = 0
    next_mark = last + np.int64(exps[1] * inv_rate) + 1
    k = 2
    while r < words.shape[0]:
        g = max(j, words[r, 0] // 4) // 8
        stop = (words[r, 1] + 31) // 32
        while g < stop:
            packed = groups[g]
            pairs = (packed & _BYTE_PAIRS) + ((packed >> _S8) & _BYTE_PAIRS)  # 4 sums of 2 bytes (<= 128)
            in_group = np.int64((pairs * _WORD_LSB) >> _S48)
            if seen + in_group >= next_mark:
                total = 0
                for b in range(8):
                    total += np.int64((packed >> np.uint64(8 * b)) & np.uint64(0xFF))
                    ends[b] = total
                while next_mark <= seen + in_group:
                    rank = next_mark - seen  # 1-based within the group
                    b = 0
                    for i in range(8):  # blocks ending before the mark (branch-free count)
                        b += ends[i] < rank
                    before = ends[b - 1] if b > 0 else 0
                    if apply_to is None:
                        mark_blocks[found] = 8 * g + b
                        mark_ranks[found] = rank - before - 1
                    else:
                        _fail_mark(apply_to, 8 * g + b, rank - before - 1)
                    found += 1
                    last = next_mark
                    if k == exps.size:
                        progress[0], progress[1], progress[2], progress[3] = r, 8 * g, seen, last
                        return found
                    next_mark = last + np.int64(exps[k] * inv_rate) + 1
                    k += 1
            seen += in_group
            g += 1
        j = 8 * g
        r += 1
    progress[0], progress[1], progress[2], progress[3] = r, j, seen, last
    return found


@numba.njit(cache=True, inline="always")
def _store(codes64, mirror, j, updated, changed_bits) -> None:
    """Write block j and refresh the mirror of its words that `changed_bits` touches."""
    codes64[j] = updated
    for w in range(4):
        if (changed_bits >> np.uint64(16 * w)) & _WORD:
            mirror[4 * j + w] = np.float32(np.int16((updated >> np.uint64(16 * w)) & _WORD))


@numba.njit(cache=True, inline="always")
def _fail_mark(target, j, rank) -> None:
    """Revert the rank-th lane bit of block j: target = (diff64, intended64, codes64, mirror, lane)."""
    diff64, intended64, codes64, mirror, lane = target
    sel = _lane_bits(diff64[j], intended64[j], lane[0], lane[1], lane[2])
    bit = _nth_set_bit(sel, rank)
    _store(codes64, mirror, j, codes64[j] ^ bit, bit)


@numba.njit(cache=True)
def fail_dense(diff64, intended64, codes64, mirror, words, lane, counts8, mark_blocks, mark_ranks, state) -> None:
    """Revert the failing lane bits of a lane with a dyadic part or drawn as a complement (BER > 1/2).

    Per block with lane bits: success indicator Y = X | M, X the dyadic draw (random words), M the
    sparse marks of the block (sorted by block); failures F = Y, or not Y when `flip` is set.
    """
    any_direction, invert, mask, flip = lane[0], lane[1], lane[2], lane[3]
    digits, n_digits = np.int64(lane[4]), np.int64(lane[5])
    groups = counts8.view(np.uint64)
    m = 0
    for r in range(words.shape[0]):
        j = words[r, 0] // 4
        stop = (words[r, 1] + 3) // 4
        while j < stop:
            if j % 8 == 0 and groups[j // 8] == _ZERO:
                j += 8
                continue
            if counts8[j] == 0:
                j += 1
                continue
            sel = _lane_bits(diff64[j], intended64[j], any_direction, invert, mask)
            success = _ZERO
            for d in range(n_digits):  # last binary digit first
                word = _next_u64(state)
                success = (success | word) if (digits >> d) & 1 else (success & word)
            while m < mark_blocks.size and mark_blocks[m] == j:
                success |= _nth_set_bit(sel, mark_ranks[m])
                m += 1
            fail = (success ^ flip) & sel
            if fail != _ZERO:
                _store(codes64, mirror, j, codes64[j] ^ fail, fail)
            j += 1
