"""Compiled write of the approximate memory: round, store and fail, chunk by chunk, in one call.

Why compiled. A training step updates up to ~240k words per replica, and float training spends only ~0.5 ms
per step; NumPy needs ~10 whole-array passes plus scattered failure draws for the same write (4x the
float step at BER 1 %). Here a write visits its word ranges in chunks of `CHUNK` words that stay in
the L1 cache: a vectorised pass rounds the chunk into a local buffer of codes and stores it, a
vectorised count finds each lane's changed bits per 64-bit block (4 words), and the failure draw
works per failing bit (sparse lanes) or per block with changed bits (dense lanes), never per bit
slot. The memory itself is one float32 array of integer codes (exact below 2^24), the array the
network reads; the int16 codes exist only inside a chunk.

Measured on the 2-core machine (idle), per replica and training step early in training (~110k
words in the write ranges, 410k changed bits): the W1 update computed in the chunks ~40 us, rounding
and storing ~60 us, counting ~15 us; at BER 1 % the ~4k sparse failures ~85 us (~15-20 ns each:
drawing the gap, locating the bit, storing). A lane with both a dyadic and a sparse part (BER 0.1,
0.3, 0.7, 0.9) marks ~6 % of the LSBs' ~380k changed bits, ~25k marks or ~0.4 ms: the grid's
dearest configurations. A lane with a dyadic part only (BER 1/2, 1) draws all its words at once
(`_dyadic_words`).

What did not pay: a reduction inside the rounding loop (it halves that loop's speed: the changed
words are counted with the bits instead), one loop per mark (mispredicted branches wait for the
exponential draw: the marks are drawn, located and failed in three branch-free loops), locating the
marks by a linear walk instead of the binary search (26 vs 18 ns per mark), recording a mixed
lane's marks and setting their bits in a later pass (~10 % slower), drawing a mixed lane's dyadic
words after its marks, from their counters and vectorised (faster only below ~0.3 marks per
block, where the paper's grids have one configuration, BER 0.2; 18.7 vs 17.9 ns per block at the
0.64 of LSBs at 0.1, where a mark costs ~18 ns against the ~13 ns from a gap's draw to its
value), and global arrays in compiled code (slower than arrays passed in).

Randomness. Each lane of each replica owns a SplitMix64 stream (Steele, Lea & Flood, OOPSLA 2014;
passes BigCrush) seeded from the replica's `SeedSequence`: one uint64 of state advanced by the
write, so a replica's draws depend only on its own seed and on the bits it writes.

Failure draw of one lane (bit positions of one write direction sharing one BER p). A lane draws
Y ~ Bernoulli(p') on its changed bits, p' = min(p, 1 - p), and F = Y (or not Y when p > 1/2):
- dyadic part: with random words r and the binary digits d_1..d_m of floor(p' 2^m) / 2^m,
  X <- d ? (X | r) : (X & r) run from d_m to d_1 gives P(X_b = 1) = 0.d_1..d_m exactly;
- sparse remainder q = (p' - 0.d_1..d_m) / (1 - 0.d_1..d_m): each changed bit of the lane (in scan
  order) is marked with probability q, independently, by geometric gaps 1 + floor(E / -ln(1 - q)),
  E exponential (ziggurat), at a cost per marked bit; Y = X | M.
So P(Y_b) = d + (1 - d) q = p' for every changed bit, and unchanged bits are never touched.
"""

from __future__ import annotations

import numba
import numpy as np
from numba import types
from numba.extending import intrinsic

# Compiled into `write_words`: numba's cache does not notice an edit to another file, so after
# editing mlp_kernels.py clear the compiled cache (the __pycache__/*.nbi and *.nbc files).
from .mlp_kernels import image_sum

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
_WORD = np.uint64(0xFFFF)
_ZERO = np.uint64(0)
_ONE = np.uint64(1)
_M1 = np.uint64(0x5555555555555555)
_M2 = np.uint64(0x3333333333333333)
_M4 = np.uint64(0x0F0F0F0F0F0F0F0F)
_BYTES_ONE = np.uint64(0x0101010101010101)
_BYTES_HIGH = np.uint64(0x8080808080808080)
_LOW8 = np.uint64(0xFF)
_LOW15 = np.uint64(0x7FFF7FFF7FFF7FFF)
_HIGH15 = np.uint64(0x8000800080008000)
_S1, _S2, _S4, _S8 = np.uint64(1), np.uint64(2), np.uint64(4), np.uint64(8)
_S11, _S27, _S30, _S31 = np.uint64(11), np.uint64(27), np.uint64(30), np.uint64(31)
_2_POW_M53 = 2.0**-53
_NEVER = 2**62  # a mark ordinal past any write


@numba.njit(cache=True, inline="always")
def _mix(z: np.uint64) -> np.uint64:
    """SplitMix64's output function of a counter value."""
    z = (z ^ (z >> _S30)) * _MIX1
    z = (z ^ (z >> _S27)) * _MIX2
    return z ^ (z >> _S31)


@numba.njit(cache=True, inline="always")
def _next_u64(state: np.ndarray) -> np.uint64:
    """SplitMix64: advance the counter by the golden gamma and return the mixed value."""
    state[0] += _GOLDEN
    return _mix(state[0])


@intrinsic
def _popcount(typingctx, x):
    """Set bits of a uint64 (LLVM ctpop: one POPCNT instruction where the CPU has it, and it vectorises)."""
    if x != types.uint64:
        return None

    def codegen(context, builder, signature, args):
        return builder.ctpop(args[0])

    return types.int64(types.uint64), codegen


GROUP_WORDS = 32
"""Words per group of 8 blocks: the write visits whole groups (`normalize_ranges` widens ranges to them)."""

CHUNK = 1024
"""Words per chunk: the chunk's delta, stored values, codes and changed bits (~12 kB) stay in L1 while its lanes fail."""


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
            start = ranges[rep, i, 0] - ranges[rep, i, 0] % GROUP_WORDS
            stop = min((ranges[rep, i, 1] + GROUP_WORDS - 1) // GROUP_WORDS * GROUP_WORDS, n_words)
            if ranges[rep, i, 1] <= ranges[rep, i, 0]:
                continue
            if m >= 0 and start <= out[rep, m, 1]:
                out[rep, m, 1] = max(out[rep, m, 1], stop)
            else:
                m += 1
                out[rep, m, 0] = start
                out[rep, m, 1] = stop
    return out


@numba.njit(cache=True, inline="always")
def _round_loop(delta, values, codes, diff, inv, step, lo, hi) -> None:
    for i in range(delta.size):  # branch-free, no reduction (a sum here halves the speed): vectorises
        old = np.int16(values[i])
        s = np.rint((values[i] + delta[i]) * inv) * step
        s = min(max(s, lo), hi)
        new = np.int16(s)
        diff[i] = np.uint16(old ^ new)
        codes[i] = new
        values[i] = np.float32(new)  # the code itself: +0.0 for code 0, never the -0.0 that rint can give


@numba.njit(cache=True)
def _round_chunk(delta, values, codes, diff, inv, step, lo, hi) -> None:
    """codes <- clip(rint((values + delta) / step) * step); diff <- old ^ new; values <- new."""
    if step == 1.0:  # every bit stored: the compiler drops the two multiplications by 1 (exact)
        _round_loop(delta, values, codes, diff, np.float32(1.0), np.float32(1.0), lo, hi)
    else:
        _round_loop(delta, values, codes, diff, inv, step, lo, hi)


def _nth_bit_of_byte() -> np.ndarray:
    """Table [8 * byte + n]: position of the n-th set bit (from 0) of a byte."""
    table = np.zeros(256 * 8, dtype=np.uint8)
    for byte in range(256):
        bits = [b for b in range(8) if byte >> b & 1]
        table[8 * byte : 8 * byte + len(bits)] = bits
    return table


@numba.njit(cache=True, inline="always")
def _nth_set_bit(x: np.uint64, n: int, nth_bit_of_byte: np.ndarray) -> np.uint64:
    """The n-th (from 0, from the lowest) set bit of x, as a one-bit mask: bytes by SWAR, then a table."""
    c = x - ((x >> _S1) & _M1)
    c = (c & _M2) + ((c >> _S2) & _M2)
    c = (c + (c >> _S4)) & _M4  # set bits per byte
    prefix = c * _BYTES_ONE  # byte k: set bits of bytes 0..k (<= 64)
    rank = np.uint64(n)
    at_or_below = (((rank * _BYTES_ONE) | _BYTES_HIGH) - prefix) & _BYTES_HIGH  # high bit of byte k: prefix_k <= n
    k = np.uint64(_popcount(at_or_below)) * _S8  # bit offset of the byte holding the bit
    before = ((prefix << _S8) >> k) & _LOW8
    byte = (x >> k) & _LOW8
    return _ONE << (k + np.uint64(nth_bit_of_byte[byte * _S8 + rank - before]))


@numba.njit(cache=True, inline="always")
def _lane_bits(changed, intended, any_direction, invert, mask):
    """The changed bits of a block that belong to a lane, branch-free: with (any, invert) = (~0, 0)
    every changed bit, (0, 0) the 0->1 bits, (0, ~0) the 1->0 bits; then the lane's positions."""
    return changed & mask & ((intended ^ invert) | any_direction)


@numba.njit(cache=True)
def _count_lane(diff64, intended64, any_direction, invert, mask, counts8) -> tuple[int, int, int]:
    """counts8[j] <- lane bits of block j; returns (their sum, how many of them are 0->1, changed words).

    A map and three sums: vectorises. The 0->1 count (lane bits whose intended value is 1) is what
    prices each write direction; counted here, it costs no pass of its own.
    """
    bits = 0
    set_bits = 0
    words = 0
    for j in range(diff64.size):
        sel = _lane_bits(diff64[j], intended64[j], any_direction, invert, mask)
        n_sel = _popcount(sel)
        counts8[j] = n_sel
        bits += n_sel
        set_bits += _popcount(sel & intended64[j])
        words += _popcount((((diff64[j] & _LOW15) + _LOW15) | diff64[j]) & _HIGH15)  # nonzero 16-bit words
    return bits, set_bits, words


def _ziggurat_layers(n_layers: int = 256) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Tables of the exponential ziggurat (Marsaglia & Tsang, J. Stat. Softw. 5(8), 2000), 53-bit draws.

    Layer i spans x in [0, x_i] at heights [exp(-x_i), exp(-x_{i+1})], all of area v; layer 0 is the
    strip under exp(-r) plus the tail beyond r = x_1, drawn as the width x_0 = v / exp(-r). A draw
    j * x_i / 2^53 with j < floor(2^53 x_{i+1} / x_i) lies under the curve (the fast path, 98.9 %).
    Returns (accept thresholds, widths per unit of j, exp(-x_i)).
    """
    r, v = 7.69711747013104972, 3.949659822581572e-3
    x = np.empty(n_layers + 1)
    x[0], x[1] = v / np.exp(-r), r
    for i in range(1, n_layers):
        x[i + 1] = -np.log(np.exp(-x[i]) + v / x[i])
    x[n_layers] = 0.0  # the recursion lands within 1e-13 of it
    accept = np.floor(2.0**53 * x[1:] / x[:-1]).astype(np.int64)
    return accept, x[:-1] * 2.0**-53, np.exp(-x)


_ZIGGURAT_TAIL = 7.69711747013104972

TABLES = (*_ziggurat_layers(), _nth_bit_of_byte())
"""(ziggurat accept thresholds, widths, heights; n-th set bit of a byte): arguments of `write_words`,
since compiled code reads arrays passed in faster than global ones."""


@numba.njit(cache=True)
def _exponential(state: np.ndarray, tables) -> float:
    """A standard exponential draw (ziggurat: one random word on the fast path, exact in distribution)."""
    accept, width, height = tables[0], tables[1], tables[2]
    while True:
        z = _next_u64(state)
        i = np.int64(z & _LOW8)  # layer from the low 8 bits, position from the high 53: independent bits
        j = np.int64(z >> _S11)
        if j < accept[i]:
            return j * width[i]
        if i == 0:  # the tail beyond r is r plus a standard exponential (no memory)
            return _ZIGGURAT_TAIL - np.log((np.int64(_next_u64(state) >> _S11) + 1) * _2_POW_M53)
        x = j * width[i]
        y = height[i] + np.int64(_next_u64(state) >> _S11) * _2_POW_M53 * (height[i + 1] - height[i])
        if y < np.exp(-x):
            return x


@numba.njit(cache=True, inline="always")
def _gap(state: np.ndarray, mean_gap: float, tables) -> int:
    """A geometric gap, P(k) = (1 - q)^(k - 1) q for k >= 1: 1 + floor(E * mean_gap) with
    mean_gap = 1 / -ln(1 - q), since P(E >= k ln(1/(1 - q))) = (1 - q)^k."""
    return np.int64(min(_exponential(state, tables) * mean_gap, _NEVER)) + 1


@numba.njit(cache=True, inline="always")
def _store(codes64, values, j, first_block, updated) -> None:
    """Write block j of the chunk (starting at block `first_block`) and its 4 stored values."""
    codes64[j] = updated
    for w in range(4):
        values[4 * (first_block + j) + w] = np.float32(np.int16((updated >> np.uint64(16 * w)) & _WORD))


@numba.njit(cache=True)
def _fail_marks(diff64, intended64, codes64, values, counts8, first_block, lane, mean_gap, state, to_mark, tables,
                starts, found) -> int:
    """Fail the marked lane bits of a chunk (a lane with only a sparse part).

    `to_mark` = lane bits up to the next mark (1 for the next one), carried from chunk to chunk
    (returned updated). The marks are drawn first, in batches of lane-bit ordinals (`found`[0]);
    then their blocks are found by a branch-free binary search of the blocks' first lane-bit
    ordinals (`starts`, one entry per block of a whole chunk) into `found`[1]; then each
    marked bit (`_nth_set_bit`) is failed. Three loops without data-dependent branches: neither the
    draws nor mispredicted branches hold up the others (~15 % faster than one loop per mark).
    """
    total = 0
    for j in range(counts8.size):  # first lane-bit ordinal of each block
        starts[j] = total
        total += counts8[j]
    starts[counts8.size :] = total  # past every ordinal of the chunk
    ordinal = to_mark - 1
    while ordinal < total:
        n_found = 0
        while ordinal < total and n_found < found.shape[1]:
            found[0, n_found] = ordinal
            n_found += 1
            ordinal += _gap(state, mean_gap, tables)
        for m in range(n_found):
            j = 0
            half = CHUNK // 8
            while half > 0:  # the last block starting at or before the mark (a constant trip count)
                j += half * (starts[j + half] <= found[0, m])
                half //= 2
            found[1, m] = j
        for m in range(n_found):
            o, j = found[0, m], found[1, m]
            sel = _lane_bits(diff64[j], intended64[j], lane[0], lane[1], lane[2])
            _store(codes64, values, j, first_block, codes64[j] ^ _nth_set_bit(sel, o - starts[j], tables[3]))
    return ordinal - total + 1


@numba.njit(cache=True)
def _dyadic_words(counts8, digits, n_digits, state, success, ranks) -> None:
    """success[j] <- the dyadic draw of each block j with lane bits, from `n_digits` words of the stream.

    For a lane without a sparse part the stream holds only these words, n_digits per block with
    lane bits in scan order, so the k-th such block takes words k * n_digits + 1 .. (k + 1) * n_digits:
    SplitMix64 is a function of its counter, and every block's words are computed at once
    (vectorised) instead of one after the other. The words and their use are those of the
    sequential draw, bit for bit. Blocks without lane bits get an unused value.
    """
    rank = 0
    for j in range(counts8.size):  # each block's rank among the blocks with lane bits
        ranks[j] = rank
        rank += counts8[j] != 0
    base = state[0]
    success[: counts8.size] = _ZERO
    for d in range(n_digits):  # last binary digit first: X <- d ? X | r : X & r
        ones = _ZERO - ((np.uint64(digits) >> np.uint64(d)) & _ONE)
        offset = np.uint64(d + 1)
        for j in range(counts8.size):
            word = _mix(base + (np.uint64(ranks[j]) * np.uint64(n_digits) + offset) * _GOLDEN)
            x = success[j]
            success[j] = (x & word) | ((x | word) & ones)
    state[0] = base + np.uint64(rank) * np.uint64(n_digits) * _GOLDEN


@numba.njit(cache=True)
def _fail_blocks(diff64, intended64, codes64, counts8, lane, mean_gap, state, to_mark, tables, success, ranks) -> int:
    """Fail the lane bits of a chunk drawn per block: dyadic part, marks (see `_fail_marks`), complement.

    The draws keep the stream's order (per block with lane bits: its digits' words, then the gaps
    of its marks) and give each block its successes; then every block's failures are applied in
    one vectorised pass. Only `codes64` is written: the caller rewrites the chunk's stored values
    from it once, after all its lanes.
    """
    any_direction, invert, mask, flip = lane[0], lane[1], lane[2], lane[3]
    digits, n_digits = np.int64(lane[4]), np.int64(lane[5])
    n_blocks = counts8.size
    if mean_gap == 0.0:  # no marks: the stream holds the digits' words only
        _dyadic_words(counts8, digits, n_digits, state, success, ranks)
    else:
        for j in range(n_blocks):
            n_lane = np.int64(counts8[j])
            if n_lane == 0:
                continue
            x = _ZERO
            for d in range(n_digits):  # last binary digit first
                word = _next_u64(state)
                x = (x | word) if (digits >> d) & 1 else (x & word)
            if to_mark <= n_lane:
                sel = _lane_bits(diff64[j], intended64[j], any_direction, invert, mask)
                while to_mark <= n_lane:
                    x |= _nth_set_bit(sel, to_mark - 1, tables[3])
                    to_mark += _gap(state, mean_gap, tables)
            success[j] = x
            to_mark -= n_lane
    for j in range(n_blocks):  # blocks without lane bits fail nothing (sel = 0), whatever their success
        success[j] = (success[j] ^ flip) & _lane_bits(diff64[j], intended64[j], any_direction, invert, mask)
    for j in range(n_blocks):  # a separate loop: `intended64` may be `codes64` itself
        codes64[j] ^= success[j]
    return to_mark


@numba.njit(cache=True)
def _codes_to_values(codes, values) -> None:
    """values <- the codes as float32 (the memory the network reads): one vectorised pass."""
    for w in range(values.size):
        values[w] = np.float32(codes[w])


@numba.njit(cache=True)
def _outer_words(x, dh, rep, start, stop, out, offsets, weights) -> None:
    """out[:stop - start] <- words start..stop of W1's update x[rep]^T dh[rep] (row i = words i*H .. i*H + H).

    Each word sums over the images in ascending order, skipping the zero inputs: the same sums as
    `mlp_kernels.outer_rows`, word for word. `offsets`, `weights`: scratch of B entries.
    """
    n_batch, n_hidden = dh.shape[1], dh.shape[2]
    dh_flat = dh[rep].reshape(n_batch * n_hidden)
    i = start // n_hidden
    while i * n_hidden < stop:
        lo, hi = max(start, i * n_hidden), min(stop, (i + 1) * n_hidden)
        image_sum(x, dh_flat, n_hidden, rep, i, lo - i * n_hidden, out[lo - start : hi - start], offsets, weights)
        i += 1


@numba.njit(cache=True)
def write_words(delta, values, ranges, steps, lanes, n_lanes, mean_gaps, states, lane_bits, lane_set_bits, word_writes,
                tables, x, dh, n_outer) -> None:
    """Add `delta` to the stored words in `ranges`, round, store, and fail the changed bits, replica by replica.

    `values` (R x words padded to whole groups of 32, float32 integer codes) is the memory. For
    replica r, on the words of `ranges[r]` (int64 rows [start, stop), whole groups, see
    `normalize_ranges`), the stored value becomes clip(rint((values + delta) / step) * step) in the
    int16 range, with `delta` float32 in LSB units and `step` = `steps[r]` the grid of stored bits
    (2^removed_lsbs). Its lane l < n_lanes[r] (`lanes[r, l]` = any direction, invert, mask, flip,
    digits, n_digits; `mean_gaps[r, l]` = 1 / -ln(1 - q), 0 for no sparse part) then fails its
    changed bits with the random stream `states[r, l]`; `lane_bits[r, l]`, `lane_set_bits[r, l]` and
    `word_writes[r]` accumulate the lane's changed bits, those of them written 0->1, and the changed
    words. A lane's draws depend only on its own sequence of changed bits, never on the chunking, the
    words skipped or the other replicas. `tables` is `TABLES`.
    A block is 4 words (64 bits), a group 8 blocks; a chunk is `CHUNK` words.

    The first `n_outer` words' update is not read from `delta` but computed chunk by chunk as the
    outer product x[r]^T dh[r] (`_outer_words`; x (R, B, I), dh (R, B, H), I * H = n_outer): W1's
    update goes from the multiply-adds to the rounding inside L1, never stored. n_outer = 0: none.
    """
    codes = np.zeros(CHUNK, dtype=np.int16)  # the chunk's new codes, then its stored codes
    codes64 = codes.view(np.uint64)
    diff = np.zeros(CHUNK, dtype=np.uint16)
    diff64 = diff.view(np.uint64)
    intended64 = np.empty(CHUNK // 4, dtype=np.uint64)
    counts8 = np.empty(CHUNK // 4, dtype=np.uint8)
    starts = np.empty(CHUNK // 4, dtype=np.int64)  # scratch of the sparse marks
    found = np.empty((2, 64), dtype=np.int64)  # a batch of marks: lane-bit ordinals, blocks
    to_mark = np.empty(lanes.shape[1], dtype=np.int64)  # per lane: lane bits up to the next mark (1: the next)
    success = np.empty(CHUNK // 4, dtype=np.uint64)  # scratch of the per-block draws
    ranks = np.empty(CHUNK // 4, dtype=np.int64)
    outer = np.empty(CHUNK, dtype=np.float32)  # the chunk's computed update
    outer_offsets = np.empty(x.shape[1], dtype=np.int64)  # scratch of `_outer_words`
    outer_weights = np.empty(x.shape[1], dtype=x.dtype)
    for rep in range(values.shape[0]):
        step = np.float32(steps[rep])
        inv, lo, hi = np.float32(1.0) / step, np.float32(-32768.0), np.float32(32768.0) - step
        directional = False
        for lane in range(n_lanes[rep]):
            directional |= lanes[rep, lane, 0] == _ZERO
            to_mark[lane] = _NEVER
            if mean_gaps[rep, lane] > 0.0:
                to_mark[lane] = _gap(states[rep, lane : lane + 1], mean_gaps[rep, lane], tables)
        for r in range(ranges.shape[1]):
            for start in range(ranges[rep, r, 0], ranges[rep, r, 1], CHUNK):
                stop = min(start + CHUNK, ranges[rep, r, 1])
                n = stop - start
                if start < n_outer:
                    split = min(stop, n_outer)
                    _outer_words(x, dh, rep, start, split, outer, outer_offsets, outer_weights)
                    outer[split - start : n] = delta[rep, split:stop]
                    _round_chunk(outer[:n], values[rep, start:stop], codes[:n], diff[:n], inv, step, lo, hi)
                else:
                    _round_chunk(delta[rep, start:stop], values[rep, start:stop], codes[:n], diff[:n], inv, step, lo, hi)
                n_blocks = (n + 31) // 32 * 8  # whole groups; the words past `stop` (padding) do not change
                diff[n : 4 * n_blocks] = 0
                codes[n : 4 * n_blocks] = 0
                first = start // 4
                # The intended codes, read by the lanes' selections and 0->1 counts: the new codes
                # themselves unless the policy is directional, where a 0->1 lane's failures (bits put
                # back to 0) would otherwise look like 1->0 writes to the other lane of their group.
                # Without directions the groups' positions are disjoint, and a lane counts its bits
                # before it fails any, so the codes it reads are still the intended ones.
                if directional:
                    intent = intended64[:n_blocks]
                    intent[:] = codes64[:n_blocks]
                else:
                    intent = codes64[:n_blocks]
                per_block = False  # a lane drawn per block rewrites the stored values once, at the end
                for lane in range(n_lanes[rep]):
                    params = lanes[rep, lane]
                    mean_gap = mean_gaps[rep, lane]
                    n_lane, n_set, n_words = _count_lane(diff64[:n_blocks], intent, params[0], params[1], params[2],
                                                         counts8[:n_blocks])
                    lane_bits[rep, lane] += n_lane
                    lane_set_bits[rep, lane] += n_set
                    if lane == 0:  # every lane counts the changed words (it is nearly free in its loop)
                        word_writes[rep] += n_words
                    sparse_only = params[5] == _ZERO and params[3] == _ZERO
                    if n_lane == 0 or (sparse_only and mean_gap == 0.0):
                        continue  # nothing changed, or nothing can fail
                    state = states[rep, lane : lane + 1]
                    if sparse_only and to_mark[lane] > n_lane:  # no mark in this chunk
                        to_mark[lane] -= n_lane
                    elif sparse_only:
                        to_mark[lane] = _fail_marks(diff64, intent, codes64, values[rep], counts8[:n_blocks], first,
                                                    params, mean_gap, state, to_mark[lane], tables, starts, found)
                    else:
                        to_mark[lane] = _fail_blocks(diff64, intent, codes64, counts8[:n_blocks], params, mean_gap,
                                                     state, to_mark[lane], tables, success, ranks)
                        per_block = True
                if per_block:
                    _codes_to_values(codes, values[rep, start:stop])
