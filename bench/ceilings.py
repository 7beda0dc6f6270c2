"""What one core of this machine can do, measured in the same run: the ceilings of the step's roofline.

Each ceiling is the best of a few timings of a small kernel, so that a phase of the training step is
set against the limits of the hardware it runs on, not against a data sheet:

- `mul_add`: float32 multiply then add (no fused multiply-add, as the training kernels compute) on
  8 kB arrays in L1, aligned to 64 bytes, compiled by numba like those kernels: their arithmetic
  ceiling (2 flops per multiply-add; BLAS's sgemm, with fused multiply-adds, is printed beside it);
- `read_l2`, `read_far`: BLAS sdot streaming two arrays of 512 kB (in L2) and of 32 MB (beyond
  the private L2);
- `update_l2`: NumPy's a += b over two arrays of 512 kB, two reads and a write per element: the
  traffic of the W1 update;
- `gap_draw`: the memory's geometric gaps (SplitMix64 word, ziggurat exponential, floor) drawn back
  to back, each waiting only for the stream's counter: what a sparse-only lane's marks cost at
  least, since it draws a batch of them before locating any;
- `gap_latency`: the same draws when each waits for the value of the one before: the time from a
  gap's draw to its value. A lane with a dyadic part interleaves its marks with the blocks' dyadic
  words in one stream, so where a mark falls decides which words come next: its marks cannot go
  faster than this, one after another.
"""

from __future__ import annotations

import time

import numba
import numpy as np
from threadpoolctl import threadpool_limits

from pyspice_mram.training.memory_kernels import TABLES, _gap


@numba.njit(cache=True)
def _mul_add(acc: np.ndarray, w: np.ndarray, x: np.float32, n_rounds: int) -> None:
    for _ in range(n_rounds):
        for k in range(acc.size):
            acc[k] = acc[k] * w[k] + x


@numba.njit(cache=True)
def _gap_draws(n: int, mean_gap: float, state: np.ndarray, tables, wait: bool) -> int:
    ordinal = 0
    for _ in range(n):
        gap = _gap(state, mean_gap, tables)
        ordinal += gap
        if wait:  # the next draw's counter depends on this gap's value (the stream changes: a bench only)
            state[0] += np.uint64(gap)
    return ordinal


def _aligned(n: int, value: float) -> np.ndarray:
    """n float32 values starting on a 64-byte boundary: unaligned, the mul+add kernel ran 15-30 % slower."""
    raw = np.full(n + 16, value, np.float32)
    start = (-raw.ctypes.data % 64) // 4
    return raw[start : start + n]


def _best(fn, repeats: int = 5) -> float:
    fn()  # compile and warm the caches
    best = np.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def measure() -> dict[str, float]:
    """The ceilings of one core in SI units: flop/s, byte/s, seconds per gap drawn."""
    with threadpool_limits(limits=1, user_api="blas"):
        acc, w = _aligned(2048, 1.0), _aligned(2048, 0.999)
        ceilings = {"mul_add": 2 * acc.size * 50_000 / _best(lambda: _mul_add(acc, w, np.float32(1e-3), 50_000), 7)}
        m = np.ones((256, 256), np.float32)
        ceilings["sgemm"] = 2 * 256**3 * 20 / _best(lambda: [m @ m for _ in range(20)])
        for name, nbytes, reps in (("read_l2", 1 << 20, 200), ("read_far", 64 << 20, 4)):
            a, b = _aligned(nbytes // 8, 1.0), _aligned(nbytes // 8, 0.0)
            ceilings[name] = nbytes * reps / _best(lambda: [np.dot(a, b) for _ in range(reps)])
            if name == "read_l2":
                ceilings["update_l2"] = 1.5 * nbytes * reps / _best(lambda: [np.add(a, b, out=a) for _ in range(reps)])
    state = np.array([12345], np.uint64)
    ceilings["gap_draw"] = _best(lambda: _gap_draws(1_000_000, 20.0, state, TABLES, False)) / 1_000_000
    ceilings["gap_latency"] = _best(lambda: _gap_draws(1_000_000, 20.0, state, TABLES, True)) / 1_000_000
    return ceilings


def describe(c: dict[str, float]) -> str:
    return (f"one core: mul+add {c['mul_add'] / 1e9:.0f} GFLOP/s (sgemm with FMA {c['sgemm'] / 1e9:.0f}); reads: L2 "
            f"{c['read_l2'] / 1e9:.0f} GB/s, beyond L2 {c['read_far'] / 1e9:.0f} GB/s; L2 update (read 2, write 1) "
            f"{c['update_l2'] / 1e9:.0f} GB/s; gap draws {c['gap_draw'] * 1e9:.1f} ns each back to back, "
            f"{c['gap_latency'] * 1e9:.1f} ns from a draw to its value")


if __name__ == "__main__":
    print(describe(measure()))
