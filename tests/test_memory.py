import numba
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from pyspice_mram.errors import ParameterError
from pyspice_mram.training.memory import ApproximateMemory, BitErrorPolicy, Lanes

N = 40000


def _random_codes(seed, n=N):
    return np.random.default_rng(seed).integers(-32768, 32768, n).astype(np.int16)


def _write_complement(policy, seed=1, n=N):
    """Write the bitwise complement of random codes (every bit changes); return (old, intended, stored) as uint16."""
    old = _random_codes(seed, n)
    new = (~old).astype(np.int16)
    mem = ApproximateMemory(old, policy, seed)
    mem.write(new[None])
    return old.view(np.uint16), new.view(np.uint16), mem.codes[0].view(np.uint16)


def _fail_rate(old, new, stored):
    kept_old = ~(stored ^ old)  # bit equals its old value
    changed = old ^ new
    return np.array([np.sum(((kept_old & changed) >> b) & 1) for b in range(16)]), np.array(
        [np.sum((changed >> b) & 1) for b in range(16)])


def test_ber0_write_is_exact():
    old, new, stored = _write_complement(BitErrorPolicy.exact())
    np.testing.assert_array_equal(stored, new)


def test_ber1_never_changes_a_stored_bit():
    old, new, stored = _write_complement(BitErrorPolicy.uniform(1.0))
    np.testing.assert_array_equal(stored, old)


@pytest.mark.parametrize(
    "policy",
    [
        BitErrorPolicy.uniform(0.01),
        BitErrorPolicy.uniform(0.3),
        BitErrorPolicy.two_stage(8, 0.5, 0.01),
        BitErrorPolicy.two_stage(10, 0.9, 0.001),
        BitErrorPolicy.two_stage(4, 1.0, 0.07),
        BitErrorPolicy.per_bit(np.linspace(0.0, 0.95, 16)),
    ],
    ids=lambda p: p.label,
)
def test_failure_rate_per_position_matches_policy(policy):
    old, new, stored = _write_complement(policy)
    fails, trials = _fail_rate(old, new, stored)
    for b in range(16):
        p = policy.ber_set[b]
        if p in (0.0, 1.0):
            assert fails[b] == (trials[b] if p == 1.0 else 0)
            continue
        assert stats.binomtest(int(fails[b]), int(trials[b]), p).pvalue > 1e-4, (b, fails[b] / trials[b], p)


def test_directional_rates():
    policy = BitErrorPolicy.uniform(0.05).with_reset_ber(0.6)
    assert policy.directional and policy.ber_reset == (0.6,) * 16
    old, new, stored = _write_complement(policy, seed=3)
    set_bits = (~old) & new  # 0 -> 1
    reset_bits = old & ~new
    failed = ~(stored ^ old) & (old ^ new)
    n_set, f_set = np.bitwise_count(set_bits).sum(), np.bitwise_count(failed & set_bits).sum()
    n_res, f_res = np.bitwise_count(reset_bits).sum(), np.bitwise_count(failed & reset_bits).sum()
    assert stats.binomtest(int(f_set), int(n_set), 0.05).pvalue > 1e-4
    assert stats.binomtest(int(f_res), int(n_res), 0.6).pvalue > 1e-4


def test_unchanged_bits_never_flip_and_failures_keep_old_value():
    rng = np.random.default_rng(5)
    old = _random_codes(7)
    new = (old.view(np.uint16) ^ rng.integers(0, 16, N).astype(np.uint16)).view(np.int16)  # only bits 0-3 change
    mem = ApproximateMemory(old, BitErrorPolicy.uniform(0.5), 11)
    mem.write(new[None])
    stored = mem.codes[0].view(np.uint16)
    unchanged = ~(old.view(np.uint16) ^ new.view(np.uint16))
    assert np.all((stored & unchanged) == (old.view(np.uint16) & unchanged))
    # every stored bit is either the old or the intended one
    assert np.all(((stored ^ old.view(np.uint16)) & (stored ^ new.view(np.uint16))) == 0)


@settings(max_examples=60, deadline=None)
@given(
    ber=st.lists(st.sampled_from([0.0, 1e-3, 0.05, 0.3, 0.5, 0.77, 0.97, 1.0]), min_size=16, max_size=16),
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(1, 300),
)
def test_write_model_properties(ber, seed, n):
    rng = np.random.default_rng(seed)
    old = rng.integers(-32768, 32768, n).astype(np.int16)
    new = rng.integers(-32768, 32768, n).astype(np.int16)
    policy = BitErrorPolicy.per_bit(ber)
    mem = ApproximateMemory(old, policy, seed)
    mem.write(new[None])
    o, w, s = old.view(np.uint16), new.view(np.uint16), mem.codes[0].view(np.uint16)
    assert np.all(((s ^ o) & (s ^ w)) == 0)  # each bit is old or new
    for b, p in enumerate(ber):
        bit = np.uint16(1 << b)
        if p == 0.0:
            assert np.all((s & bit) == (w & bit))
        if p == 1.0:
            assert np.all((s & bit) == (o & bit))
    np.testing.assert_array_equal(mem.values_lsb[0], s.view(np.int16).astype(np.float32))


def test_add_saturates_and_rounds():
    mem = ApproximateMemory(np.array([32000, -32000, 5, 5, 5], dtype=np.int16), BitErrorPolicy.exact(), 0)
    mem.add_lsb(np.array([[5000.0, -5000.0, 0.49, 1.5, 2.5]], dtype=np.float32))
    np.testing.assert_array_equal(mem.codes[0], [32767, -32768, 5, 6, 8])  # 6.5 -> 6, 7.5 -> 8: ties to even
    np.testing.assert_array_equal(mem.values_lsb[0], mem.codes[0])


def test_removed_lsbs_are_zero_and_never_written():
    mem = ApproximateMemory(np.array([0x0FFF, 3, 0x7FFF, -0x7F7F], dtype=np.int16), BitErrorPolicy.lsbs_removed(8, 0.0), 0)
    # initial codes round to the nearest multiple of 256 (0x0FFF -> 0x1000), saturating at the top
    assert list(mem.codes[0]) == [0x1000, 0, 0x7F00, -0x7F00]
    mem.add_lsb(np.array([[100.0, 200.0, 0.0, 0.0]], dtype=np.float32))
    assert list(mem.codes[0]) == [0x1000, 256, 0x7F00, -0x7F00]
    assert np.all(mem.codes[0] & 0xFF == 0)


@pytest.mark.parametrize("n_removed", [8, 12, 14])
def test_removed_lsbs_round_initial_codes_without_bias(n_removed):
    """Clearing the low bits floors every code (mean shift -step/2); rounding to nearest does not."""
    codes = np.random.default_rng(3).integers(-8000, 8000, 200_000).astype(np.int16)
    mem = ApproximateMemory(codes, BitErrorPolicy.lsbs_removed(n_removed, 0.0), 0)
    step = 1 << n_removed
    shift = mem.codes[0].astype(float) - codes
    assert np.abs(shift).max() <= step / 2
    assert abs(shift.mean()) < 0.02 * step  # floor would give -step / 2


def test_replicas_are_independent_of_stacking():
    old = _random_codes(1, 5000)
    new = (~old).astype(np.int16)
    pol = BitErrorPolicy.uniform(0.2)
    seeds = np.random.SeedSequence(9).spawn(2)
    alone = ApproximateMemory(old, pol, [seeds[1]])
    alone.write(new[None])
    stacked = ApproximateMemory(np.stack([old, old]), [BitErrorPolicy.uniform(0.7), pol], seeds)
    stacked.write(np.stack([new, new]))
    np.testing.assert_array_equal(alone.codes[0], stacked.codes[1])


def test_bit_counting():
    mem = ApproximateMemory(np.zeros(4, np.int16), BitErrorPolicy.two_stage(8, 0.5, 0.01), 0)
    mem.write(np.array([[0x0101, 0x0003, 0, 0x7000]], dtype=np.int16))
    st_ = mem.statistics(0)
    assert st_["word_writes"] == 3
    by_mask = {g["mask"]: g["changed_bits"] for g in st_["groups"]}
    assert by_mask[0x00FF] == 3 and by_mask[0xFF00] == 4


@pytest.mark.parametrize("policy", [BitErrorPolicy.uniform(0.3), BitErrorPolicy.two_stage(8, 0.5, 0.01),
                                    BitErrorPolicy.uniform(0.3).with_reset_ber(0.05)])
def test_changed_bits_are_counted_per_direction(policy):
    """0->1 (P->AP) programmed bits are counted for every policy, exactly, so each direction is priced."""
    rng = np.random.default_rng(5)
    old = _random_codes(2, 3000)
    mem = ApproximateMemory(old, policy, 0)
    expected_set = {mask: 0 for mask, _, _ in policy.groups()}
    expected_all = dict.fromkeys(expected_set, 0)
    for _ in range(3):
        before = mem.codes[0].view(np.uint16).copy()
        new = _random_codes(int(rng.integers(1 << 30)), 3000)
        mem.write(new[None])
        w = new.view(np.uint16)
        for mask in expected_set:
            changed = (before ^ w) & np.uint16(mask)
            expected_all[mask] += int(np.unpackbits(changed.view(np.uint8)).sum())
            expected_set[mask] += int(np.unpackbits((changed & w).view(np.uint8)).sum())
    groups = mem.statistics(0)["groups"]
    assert {g["mask"]: g["changed_bits"] for g in groups} == expected_all
    assert {g["mask"]: g["changed_bits_set"] for g in groups} == expected_set


def test_lanes_split_dense_and_sparse_parts():
    lanes = Lanes.compile(BitErrorPolicy.two_stage(8, 0.5, 0.01))
    assert lanes.ber == (0.5, 0.01) and list(lanes.direction) == [0, 0]  # one lane per group (each counts its 0->1 bits)
    assert list(lanes.mask) == [0x00FF00FF00FF00FF, 0xFF00FF00FF00FF00]
    assert list(lanes.digits) == [1, 0] and list(lanes.n_digits) == [1, 0]  # 0.5 = 0.1b: one random word
    assert lanes.sparse_rate[0] == 0.0 and lanes.sparse_rate[1] == pytest.approx(-np.log1p(-0.01))
    high = Lanes.compile(BitErrorPolicy.uniform(0.9))  # drawn as its complement 0.1 = 0.0001b + sparse
    assert list(high.flip) == [0xFFFFFFFFFFFFFFFF] and list(high.digits) == [1] and list(high.n_digits) == [4]
    assert -np.expm1(-high.sparse_rate[0]) == pytest.approx((0.1 - 1 / 16) / (1 - 1 / 16))
    directional = Lanes.compile(BitErrorPolicy.uniform(0.05).with_reset_ber(0.6))
    assert list(directional.direction) == [1, 2] and directional.ber == (0.05, 0.6)


def test_memory_draws_do_not_depend_on_numpy_global_state():
    old = _random_codes(2, 1000)
    runs = []
    for global_seed in (0, 1):
        np.random.seed(global_seed)
        mem = ApproximateMemory(old, BitErrorPolicy.uniform(0.3), 4)
        mem.write((~old)[None])
        runs.append(mem.codes[0].copy())
    np.testing.assert_array_equal(runs[0], runs[1])


@pytest.mark.parametrize("bad", [-0.1, 1.1, float("nan"), "x"])
def test_ber_outside_unit_interval(bad):
    with pytest.raises(ParameterError, match="ber"):
        BitErrorPolicy.uniform(bad)


@pytest.mark.parametrize("bad", [-1, 17, 2.5])
def test_n_lsb_outside_range(bad):
    with pytest.raises(ParameterError, match="n_lsb"):
        BitErrorPolicy.two_stage(bad, 0.5, 0.01)


def test_per_bit_needs_16_values():
    with pytest.raises(ParameterError, match="16 values"):
        BitErrorPolicy.per_bit([0.1] * 15)


@pytest.mark.parametrize("policy", [BitErrorPolicy.uniform(0.01), BitErrorPolicy.two_stage(8, 0.7, 0.003),
                                    BitErrorPolicy.uniform(0.05).with_reset_ber(0.6)], ids=lambda p: p.label)
def test_ranges_skip_untouched_words_exactly(policy):
    """Words outside `ranges` have zero delta; skipping them gives bit-identical memories and counts."""
    n = 5000
    old = _random_codes(3, n)
    delta = np.zeros((1, n), dtype=np.float32)
    rng = np.random.default_rng(4)
    for start, stop in ((70, 1300), (2100, 2101), (4000, 5000)):
        delta[0, start:stop] = rng.normal(0.0, 300.0, stop - start)
    full, skipped = ApproximateMemory(old, policy, 8), ApproximateMemory(old, policy, 8)
    for _ in range(3):
        full.add_lsb(delta.copy())
        skipped.add_lsb(delta.copy(), np.array([[4000, 5000], [70, 1300], [2100, 2101]]))
    np.testing.assert_array_equal(full.codes, skipped.codes)
    np.testing.assert_array_equal(full.values_lsb, skipped.values_lsb)
    assert full.statistics(0) == skipped.statistics(0)
    assert np.any(full.codes[0] != old)


def test_bad_ranges():
    mem = ApproximateMemory(np.zeros(10, np.int16), BitErrorPolicy.exact(), 0)
    delta = np.zeros((1, 10), dtype=np.float32)
    with pytest.raises(ParameterError, match="within 0..10"):
        mem.add_lsb(delta, np.array([[0, 11]]))
    with pytest.raises(ParameterError, match="rows"):
        mem.add_lsb(delta, np.zeros((2, 3, 2), dtype=np.int64))


def test_failures_of_a_sparse_lane_are_spaced_geometrically():
    """Across chunks and batches of marks, the gaps between failing bits (in scan order) are Geometric(q)."""
    q = 0.02
    old, new, stored = _write_complement(BitErrorPolicy.uniform(q), seed=4, n=60000)
    failed = (~(stored ^ old)).astype(np.uint64)  # every bit changed: failed bits are those still old
    ordinals = np.flatnonzero(((failed[:, None] >> np.arange(16, dtype=np.uint64)) & np.uint64(1)).ravel())
    gaps = np.diff(ordinals)
    edges = np.array([1, 2, 4, 8, 16, 32, 64, 128, 256, np.inf])
    expected = gaps.size * ((1 - q) ** (edges[:-1] - 1) - (1 - q) ** (edges[1:] - 1))
    observed = np.histogram(gaps, bins=edges)[0]
    assert stats.chisquare(observed, expected).pvalue > 1e-4
    assert stats.binomtest(ordinals.size, 16 * 60000, q).pvalue > 1e-4


def test_ziggurat_draws_are_standard_exponential():
    from pyspice_mram.training.memory_kernels import TABLES, _exponential

    @numba.njit
    def draws(state, n, tables):
        out = np.empty(n)
        for i in range(n):
            out[i] = _exponential(state, tables)
        return out

    x = draws(np.array([12345], dtype=np.uint64), 400_000, TABLES)
    assert stats.kstest(x, "expon").pvalue > 1e-3
    tail = 7.69711747013104972  # the base layer's tail, drawn separately
    assert stats.binomtest(int(np.sum(x > tail)), x.size, np.exp(-tail)).pvalue > 1e-3
    assert x.min() >= 0.0


def test_nth_set_bit_matches_a_reference():
    from pyspice_mram.training.memory_kernels import TABLES, _nth_set_bit

    @numba.njit
    def nth(x, n, table):
        return _nth_set_bit(x, n, table)

    rng = np.random.default_rng(6)
    words = [np.uint64(1), np.uint64(2**63), np.uint64(2**64 - 1)]
    words += [np.uint64(w) for w in rng.integers(0, 2**63, 40, dtype=np.int64) * 2 + 1]
    for w in words:
        bits = [b for b in range(64) if int(w) >> b & 1]
        for n, b in enumerate(bits):
            assert int(nth(w, n, TABLES[3])) == 1 << b


def _splitmix_words(state: int, n: int) -> tuple[list[int], int]:
    """n words of SplitMix64 from `state` (a plain-Python reference of the kernel's generator), and the new state."""
    out, mask = [], (1 << 64) - 1
    for _ in range(n):
        state = (state + 0x9E3779B97F4A7C15) & mask
        z = state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & mask
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & mask
        out.append(z ^ (z >> 31))
    return out, state


@pytest.mark.parametrize("digits, n_digits", [(1, 1), (3, 2), (5, 3), (13, 4), (0, 0)])
def test_dyadic_words_drawn_at_once_equal_the_sequential_draw(digits, n_digits):
    """The vectorised dyadic draw of a lane without a sparse part takes, for the k-th block with lane
    bits, words k*n+1 .. (k+1)*n of the stream: the same words, in the same use, as drawing them one
    block after the other, and it leaves the stream where the sequential draw would."""
    from pyspice_mram.training.memory_kernels import _dyadic_words

    rng = np.random.default_rng(7)
    counts8 = rng.integers(0, 3, 256).astype(np.uint8) * (rng.random(256) < 0.6)  # blocks without lane bits too
    state0 = int(rng.integers(0, 2**63))
    state = np.array([state0], dtype=np.uint64)
    success = np.empty(256, dtype=np.uint64)
    _dyadic_words(counts8, digits, n_digits, state, success, np.empty(256, dtype=np.int64))
    s, n_drawn = state0, 0
    for j in np.flatnonzero(counts8):
        words, s = _splitmix_words(s, n_digits)
        n_drawn += n_digits
        x = 0
        for d, word in enumerate(words):  # last binary digit first
            x = (x | word) if digits >> d & 1 else (x & word)
        assert int(success[j]) == x
    assert int(state[0]) == s == (state0 + n_drawn * 0x9E3779B97F4A7C15) % 2**64


@pytest.mark.parametrize("policy, lane_index", [(BitErrorPolicy.uniform(0.3), 0), (BitErrorPolicy.uniform(0.9), 0),
                                                (BitErrorPolicy.uniform(0.5), 0), (BitErrorPolicy.uniform(1.0), 0),
                                                (BitErrorPolicy.uniform(0.99), 0),
                                                (BitErrorPolicy.uniform(0.3).with_reset_ber(0.6), 0),
                                                (BitErrorPolicy.uniform(0.3).with_reset_ber(0.6), 1)])
def test_failures_drawn_per_block_equal_one_block_after_the_other(policy, lane_index):
    """The per-block failure draw (dyadic digits, then marks, then the complement) applied in passes
    gives the codes, stream state and next mark of the plain loop that draws, marks and fails one
    block after the other, for lanes with and without a sparse part, of either write direction; and
    for a lane of any direction it does so with the codes it fails passed as the intended codes too
    (the write passes them so when the policy is not directional)."""
    from pyspice_mram.training.memory_kernels import (TABLES, _fail_blocks, _gap, _lane_bits, _next_u64,
                                                      _nth_set_bit, _popcount)

    @numba.njit
    def one_block_after_the_other(diff64, intended64, codes64, lane, mean_gap, state, to_mark, tables):
        for j in range(diff64.size):
            sel = _lane_bits(diff64[j], intended64[j], lane[0], lane[1], lane[2])
            n_lane = _popcount(sel)
            if n_lane == 0:
                continue
            x = np.uint64(0)
            for d in range(np.int64(lane[5])):
                word = _next_u64(state)
                x = (x | word) if (np.int64(lane[4]) >> d) & 1 else (x & word)
            while to_mark <= n_lane:
                x |= _nth_set_bit(sel, to_mark - 1, tables[3])
                to_mark += _gap(state, mean_gap, tables)
            to_mark -= n_lane
            codes64[j] ^= (x ^ lane[3]) & sel
        return to_mark

    @numba.njit
    def counts(diff64, intended64, lane):
        out = np.empty(diff64.size, dtype=np.uint8)
        for j in range(diff64.size):
            out[j] = _popcount(_lane_bits(diff64[j], intended64[j], lane[0], lane[1], lane[2]))
        return out

    rows, mean_gaps = Lanes.compile(policy).table()
    lane, mean_gap = rows[lane_index], mean_gaps[lane_index]
    rng = np.random.default_rng(8)
    for trial in range(5):
        diff64 = rng.integers(0, 2**63, 256, dtype=np.int64).astype(np.uint64) * (rng.random(256) < 0.7)
        codes64 = rng.integers(0, 2**63, 256, dtype=np.int64).astype(np.uint64)
        state0 = np.array([rng.integers(0, 2**63)], dtype=np.uint64)
        first = int(_gap(state0.copy(), mean_gap, TABLES)) if mean_gap > 0 else 2**62
        expected_codes, expected_state = codes64.copy(), state0.copy()
        expected_next = one_block_after_the_other(diff64, codes64, expected_codes, lane, mean_gap, expected_state,
                                                  first, TABLES)
        scratch = (np.empty(256, np.uint64), np.empty(256, np.int64))
        got_codes, got_state = codes64.copy(), state0.copy()
        got_next = _fail_blocks(diff64, codes64.copy(), got_codes, counts(diff64, codes64, lane), lane, mean_gap,
                                got_state, first, TABLES, *scratch)
        assert np.array_equal(got_codes, expected_codes) and got_state[0] == expected_state[0]
        assert got_next == expected_next or mean_gap == 0.0  # without a sparse part there is no next mark
        if not policy.directional:  # the intended codes are the codes being failed, one array
            aliased, aliased_state = codes64.copy(), state0.copy()
            _fail_blocks(diff64, aliased, aliased, counts(diff64, codes64, lane), lane, mean_gap, aliased_state, first,
                         TABLES, *scratch)
            assert np.array_equal(aliased, expected_codes) and aliased_state[0] == expected_state[0]
        assert not np.array_equal(got_codes, codes64) or policy.ber_set[0] == 0.0  # the draw did fail bits


@pytest.mark.parametrize("policy", [BitErrorPolicy.exact(), BitErrorPolicy.uniform(0.5), BitErrorPolicy.uniform(0.01)])
def test_stored_values_are_the_codes_bit_for_bit(policy):
    """The float32 memory the network reads holds exactly float32(code): a write rounding to zero
    from below stores +0.0 (the code 0), not the -0.0 that rint(-0.3) gives, whatever the lanes."""
    mem = ApproximateMemory(np.zeros(64, dtype=np.int16), policy, 0)
    delta = np.zeros((1, 64), dtype=np.float32)
    delta[0, 0], delta[0, 4:40] = 1.0, -0.3
    mem.add_lsb(delta)
    values = np.array(mem.values_lsb)
    assert np.array_equal(values.view(np.uint32), mem.codes.astype(np.float32).view(np.uint32))
