"""Compiled products of the first layer that skip the zero inputs of a mini-batch.

Why. An MNIST image has ~19 % nonzero pixels, and a batch of 10 activates ~48 % of the inputs, so
the dense products x @ W1 (forward) and x^T dh (the W1 update) spend ~5x more multiply-adds than
the nonzero pixels need. Here both loop over the active inputs of the batch (ascending) and, per
input, over the images where that pixel is nonzero; the inner loop over the hidden units is unit
stride and vectorises. Each W1 row is read (forward) and written (update) at most once per step.

Arithmetic. A sum runs over the inputs in ascending order, one multiply and one add per term (no
fused multiply-add, no reassociation), so the result does not depend on which zero terms are
skipped: a skipped term x * w with x = 0 is a signed zero, and adding it leaves any sum unchanged.
Compared with BLAS the order of the additions differs, which moves a pre-activation by float32
rounding only (tests/test_training.py bounds it against float64).

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
        for i in range(n_in):
            rows[r, counts[r]] = i
            counts[r] += active[i]
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


@numba.njit(cache=True)
def input_product(x, params, n_hidden, rows, counts, out) -> None:
    """out[r, b, :] <- sum over active inputs i (ascending) of x[r, b, i] * W1[r, i, :].

    `params` (R, n_params) holds W1 row-major at its start (row i = words i*H .. i*H + H).
    """
    n_rep, n_batch, _ = x.shape
    for r in range(n_rep):
        out[r] = 0.0
        for k in range(counts[r]):
            i = rows[r, k]
            w = params[r, i * n_hidden : (i + 1) * n_hidden]  # 1-D slices: the inner loop has no index checks and vectorises
            for b in range(n_batch):
                xv = x[r, b, i]
                if xv != 0:
                    o = out[r, b]
                    for j in range(n_hidden):
                        o[j] += xv * w[j]


@numba.njit(cache=True, inline="always")
def _outer_row(x, dh, r, i, acc) -> None:
    """acc <- sum over images b (ascending) of x[r, b, i] * dh[r, b, :]."""
    acc[:] = 0.0
    for b in range(x.shape[1]):
        xv = x[r, b, i]
        if xv != 0:
            g = dh[r, b]
            for j in range(acc.size):
                acc[j] += xv * g[j]


@numba.njit(cache=True)
def outer_rows(x, dh, rows, counts, out) -> None:
    """out[r, W1 row i] <- x[r, :, i]^T dh[r] on the active inputs i, 0 on the others.

    `out` is the update (R, n_params), W1 first. An inactive input's row is an exactly zero update,
    written as zeros so that any reader of `out` sees the whole update.
    """
    n_rep, _, n_in = x.shape
    n_hidden = dh.shape[2]
    for r in range(n_rep):
        nxt = 0
        for i in range(n_in):
            row = out[r, i * n_hidden : (i + 1) * n_hidden]
            if nxt < counts[r] and rows[r, nxt] == i:
                nxt += 1
                _outer_row(x, dh, r, i, row)  # summed in place: the row stays in L1 while the images add to it
            else:
                row[:] = 0.0


@numba.njit(cache=True)
def add_outer_rows(x, dh, rows, counts, params) -> None:
    """params[r, W1 row i] += x[r, :, i]^T dh[r] on the active inputs i: the float update of W1, fused.

    The same sums as `outer_rows`, added in place: equal to `params += out` word for word, without
    writing and re-reading the update (the rows of inactive inputs would add zeros).
    """
    n_hidden = dh.shape[2]
    acc = np.empty(n_hidden, dtype=params.dtype)
    for r in range(x.shape[0]):
        for k in range(counts[r]):
            i = rows[r, k]
            base = i * n_hidden
            _outer_row(x, dh, r, i, acc)
            w = params[r, base : base + n_hidden]
            for j in range(n_hidden):
                w[j] += acc[j]
