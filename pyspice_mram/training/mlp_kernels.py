"""Compiled products of the first layer that skip the zero inputs of a mini-batch.

Why. An MNIST image has ~19 % nonzero pixels, and a batch of 10 activates ~48 % of the inputs, so
the dense products x @ W1 (forward) and x^T dh (the W1 update) spend ~5x more multiply-adds than
the nonzero pixels need. Here the forward product loops, per image, over its nonzero inputs
(ascending), and the update, per active input, over the images where that pixel is nonzero; the
inner loop over the hidden units is unit stride and vectorises. Each W1 row is written at most once
per step; the forward pass reads an active row once per image using it (from cache after the first).

Arithmetic. A sum runs over the inputs in ascending order, one multiply and one add per term (no
fused multiply-add, no reassociation), so the result does not depend on which zero terms are
skipped: a skipped term x * w with x = 0 is a signed zero, and adding it leaves any sum unchanged.
Compared with BLAS the order of the additions differs, which moves a pre-activation by float32
rounding only (tests/test_training.py bounds it against float64).

Speed. The sums take four terms per pass over a row of 300 (`_add_weighted_rows`): the partial sum
stays in a register for the four adds, so a pass loads five rows and stores one where a term at a
time loads two and stores one per term. The adds are the same float32 operations in the same
order, so the result is bit-identical (measured: the forward product 63 -> 44 us per replica-step).
This holds for float32 arrays, which the network's boundary (`mlp._stacked_batch`) requires: with
float64 weights the four-term chain would round once per four terms.

Replicas. Every kernel loops over the leading replica axis of its arrays, so one call serves a
whole stack of seeds / configurations, and the per-replica loop body is what a stacked back end
would run per replica.
"""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True)
def active_inputs(x) -> tuple[np.ndarray, np.ndarray]:
    """Per replica, the inputs nonzero in some image of the batch x (R, B, I): (rows (R, I) ascending, counts (R,))."""
    n_rep, n_batch, n_in = x.shape
    rows = np.empty((n_rep, n_in), dtype=np.int64)
    counts = np.zeros(n_rep, dtype=np.int64)
    active = np.empty(n_in, dtype=np.bool_)
    for r in range(n_rep):
        active[:] = False
        for b in range(n_batch):  # no early exit: a flat, vectorised OR over the images
            xb = x[r, b]
            for i in range(n_in):
                active[i] |= xb[i] != 0
        n = 0  # a local count: the loop does not wait on a store of counts[r] at every input
        for i in range(n_in):
            rows[r, n] = i
            n += active[i]
        counts[r] = n
    return rows, counts


@numba.njit(cache=True)
def update_ranges(rows, counts, n_hidden, n_in, n_params) -> np.ndarray:
    """Runs of consecutive active inputs as [start, stop) word ranges of W1, then the tail (b1, W2, b2).

    Returns int64 (R, k, 2), padded with empty ranges [n_params, n_params) (see `MLPLayout.update_ranges`).
    """
    n_rep = rows.shape[0]
    runs = np.empty((n_rep, n_in // 2 + 1, 2), dtype=np.int64)
    n_runs = np.zeros(n_rep, dtype=np.int64)
    for r in range(n_rep):
        k = 0
        while k < counts[r]:
            first = rows[r, k]
            while k + 1 < counts[r] and rows[r, k + 1] == rows[r, k] + 1:
                k += 1
            runs[r, n_runs[r]] = (first * n_hidden, (rows[r, k] + 1) * n_hidden)
            n_runs[r] += 1
            k += 1
    out = np.full((n_rep, n_runs.max() + 1, 2), n_params, dtype=np.int64)
    for r in range(n_rep):
        out[r, : n_runs[r]] = runs[r, : n_runs[r]]
        out[r, -1] = (n_in * n_hidden, n_params)
    return out


@numba.njit(cache=True, inline="always")
def _add_weighted_rows(acc, base, offsets, weights, n) -> None:
    """acc[j] += weights[k] * base[offsets[k] + j] for k = 0 .. n - 1 in this order, for every j.

    Four rows per pass: acc[j] = (((acc[j] + w0 r0[j]) + w1 r1[j]) + w2 r2[j]) + w3 r3[j], the same
    operations as four passes of one row, with one load and one store of acc instead of four.
    """
    size = acc.size
    k = 0
    while k + 4 <= n:
        w0, w1, w2, w3 = weights[k], weights[k + 1], weights[k + 2], weights[k + 3]
        r0 = base[offsets[k] : offsets[k] + size]
        r1 = base[offsets[k + 1] : offsets[k + 1] + size]
        r2 = base[offsets[k + 2] : offsets[k + 2] + size]
        r3 = base[offsets[k + 3] : offsets[k + 3] + size]
        for j in range(size):
            acc[j] = (((acc[j] + w0 * r0[j]) + w1 * r1[j]) + w2 * r2[j]) + w3 * r3[j]
        k += 4
    while k < n:
        w0 = weights[k]
        r0 = base[offsets[k] : offsets[k] + size]
        for j in range(size):
            acc[j] += w0 * r0[j]
        k += 1


@numba.njit(cache=True, inline="always")
def image_sum(x, dh_flat, n_hidden, r, i, first, acc, offsets, weights) -> None:
    """acc <- sum over the images b (ascending) of x[r, b, i] * dh[r, b, first : first + acc.size], zero images skipped.

    `dh_flat` is dh[r] as one row (B * H, H = n_hidden); `offsets` and `weights` are scratch of at least B entries.
    """
    n = 0
    for b in range(x.shape[1]):  # the images where input i is nonzero, without a branch
        xv = x[r, b, i]
        offsets[n] = b * n_hidden + first
        weights[n] = xv
        n += xv != 0
    acc[:] = 0.0
    _add_weighted_rows(acc, dh_flat, offsets, weights, n)


@numba.njit(cache=True)
def input_product(x, params, n_hidden, rows, counts, out) -> None:
    """out[r, b, :] <- sum over active inputs i (ascending) of x[r, b, i] * W1[r, i, :].

    `params` (R, n_params) holds W1 row-major at its start (row i = words i*H .. i*H + H).
    """
    n_rep, n_batch, n_in = x.shape
    offsets = np.empty(n_in, dtype=np.int64)
    weights = np.empty(n_in, dtype=x.dtype)
    for r in range(n_rep):
        for b in range(n_batch):
            xb = x[r, b]
            n = 0
            for k in range(counts[r]):  # the image's nonzero inputs among the active ones, ascending
                i = rows[r, k]
                offsets[n] = i * n_hidden
                weights[n] = xb[i]
                n += xb[i] != 0
            o = out[r, b]
            o[:] = 0.0
            _add_weighted_rows(o, params[r], offsets, weights, n)


@numba.njit(cache=True)
def outer_rows(x, dh, rows, counts, out) -> None:
    """out[r, W1 row i] <- x[r, :, i]^T dh[r] on the active inputs i, 0 on the others.

    `out` is the update (R, n_params), W1 first. An inactive input's row is an exactly zero update,
    written as zeros so that any reader of `out` sees the whole update.
    """
    n_rep, n_batch, n_in = x.shape
    n_hidden = dh.shape[2]
    offsets = np.empty(n_batch, dtype=np.int64)
    weights = np.empty(n_batch, dtype=x.dtype)
    for r in range(n_rep):
        dh_flat = dh[r].reshape(n_batch * n_hidden)
        nxt = 0
        for i in range(n_in):
            row = out[r, i * n_hidden : (i + 1) * n_hidden]
            if nxt < counts[r] and rows[r, nxt] == i:
                nxt += 1
                image_sum(x, dh_flat, n_hidden, r, i, 0, row, offsets, weights)  # summed in place: the row stays in L1
            else:
                row[:] = 0.0


@numba.njit(cache=True)
def add_outer_rows(x, dh, rows, counts, params) -> None:
    """params[r, W1 row i] += x[r, :, i]^T dh[r] on the active inputs i: the float update of W1, fused.

    The same sums as `outer_rows`, added in place: equal to `params += out` word for word, without
    writing and re-reading the update (the rows of inactive inputs would add zeros).
    """
    n_rep, n_batch, _ = x.shape
    n_hidden = dh.shape[2]
    acc = np.empty(n_hidden, dtype=params.dtype)
    offsets = np.empty(n_batch, dtype=np.int64)
    weights = np.empty(n_batch, dtype=x.dtype)
    for r in range(n_rep):
        dh_flat = dh[r].reshape(n_batch * n_hidden)
        for k in range(counts[r]):
            i = rows[r, k]
            base = i * n_hidden
            image_sum(x, dh_flat, n_hidden, r, i, 0, acc, offsets, weights)
            w = params[r, base : base + n_hidden]
            for j in range(n_hidden):
                w[j] += acc[j]
