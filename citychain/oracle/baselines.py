"""The two baselines the benchmark reports beside the model (docs/battery-prediction.md).

1. *Training mean life, conditioned on survival*: the mean cycle life of the training cells
   that lived past the cut-off (a test cell is only scored when it is alive at the cut-off, so
   the unconditioned mean would be handicapped for no reason). Its interval is the 10th-90th
   percentile of those same training lives.
2. *Per-cell curve extrapolation*: a straight line fitted to the cell's own (median-smoothed)
   capacity over the second half of the cycles seen, extended to the threshold, clipped to the
   longest training life. No interval.
"""

from __future__ import annotations

import numpy as np

from citychain.oracle.eol_model import trailing_median

__all__ = ["curve_extrapolation", "mean_life"]


def mean_life(train_lives: list[int], cutoff: int) -> tuple[float, float, float]:
    """(prediction, low, high) from the training lives longer than the cut-off."""
    alive = np.array([life for life in train_lives if life > cutoff], dtype=np.float64)
    if len(alive) == 0:
        raise ValueError(f"no training cell survived past cycle {cutoff}")
    low, high = np.quantile(alive, (0.1, 0.9))
    return float(alive.mean()), float(low), float(high)


def curve_extrapolation(
    cycles: list[int], capacity: list[float], nominal_ah: float, threshold: float, cap: float
) -> float:
    """Cycle at which the line through the second half of the smoothed curve hits threshold,
    clipped to [last cycle + 1, cap] (the benchmark passes the longest training life as cap:
    a flat or rising line never reaches the threshold)."""
    n = np.asarray(cycles, dtype=np.float64)
    s = trailing_median(np.asarray(capacity, dtype=np.float64) / nominal_ah)
    last = float(n[-1])
    half = n > last / 2
    x, y = n[half], s[half]
    dx = x - x.mean()
    denom = float(np.dot(dx, dx))
    slope = float(np.dot(dx, y - y.mean())) / denom if denom > 0 else 0.0
    margin = float(s[-1]) - threshold
    if slope >= 0:
        return max(cap, last + 1)
    return min(max(last + margin / -slope, last + 1), max(cap, last + 1))
