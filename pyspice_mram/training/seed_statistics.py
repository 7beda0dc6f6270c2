"""Summaries over training seeds: mean, range and a 95 % interval of the mean.

The interval is Student's t over the seeds (n - 1 degrees of freedom): with the paper's 5 seeds it is
mean +- 2.78 s / sqrt(5). It says how well the mean is known, not how much a single seed varies
(that is the min-max range, which the paper's error bars show).
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np
from scipy import stats

CONFIDENCE = 0.95


def over_seeds(values: Sequence[float] | np.ndarray) -> dict[str, float | None]:
    """{'mean', 'min', 'max', 'ci_low', 'ci_high'} of per-seed values (no interval from one seed)."""
    x = np.asarray(values, dtype=float)
    if x.size == 0:
        raise ValueError("no seeds to summarise")
    mean = float(x.mean())
    if x.size < 2:
        low = high = None
    else:
        half = float(stats.t.ppf(0.5 + CONFIDENCE / 2, x.size - 1) * x.std(ddof=1) / math.sqrt(x.size))
        low, high = mean - half, mean + half
    return {"mean": mean, "min": float(x.min()), "max": float(x.max()), "ci_low": low, "ci_high": high}
