"""The model's inputs and target (docs/battery-prediction.md, "Features"): the causal
smoothing of the capacity curve, the feature vector of a cell seen up to its last cycle, and
the regression target (log remaining life, or log life) and its inverse.

Every feature is in units of the nominal capacity and relative to the threshold, so that one
model serves any threshold.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

__all__ = [
    "ALL_FEATURES",
    "BASE_FEATURES",
    "CURVE_FEATURES",
    "KNEE_FEATURES",
    "MAX_REMAINING",
    "SMOOTH_WINDOW",
    "Array",
    "Mask",
    "PredictionError",
    "cell_features",
    "estimate_nominal",
    "feature_columns",
    "life_from_log",
    "matched_log",
    "targets",
    "trailing_median",
]

Array = NDArray[np.float64]
Mask = NDArray[np.bool_]

SMOOTH_WINDOW = 21  # cycles of the trailing median
# Remaining life is capped here (in cycles) so that a flat curve cannot yield an absurd number.
MAX_REMAINING = 20_000

BASE_FEATURES = ("log_margin", "log_rate_half", "log_rate_quarter", "log_fade_from_peak")
KNEE_FEATURES = ("peak_position", "fade_acceleration", "log_noise")
CURVE_FEATURES = ("log_linear_remaining", "log_power_remaining")
ALL_FEATURES = BASE_FEATURES + KNEE_FEATURES + CURVE_FEATURES + ("log_cycle",)

# A slope of fewer points is taken as flat (0): two points are a difference, not a trend.
MIN_SLOPE_POINTS = 3
# The power law of fade is fitted on points with at least this fade (fraction of nominal)
# since the peak, and only from this many of them: below, the log of the fade is noise.
POWER_MIN_FADE = 1e-5
POWER_MIN_POINTS = 5
# bounds of the power law's exponent: a fit outside them is a fit to noise
POWER_EXPONENT_RANGE = (0.3, 6.0)
# cycles whose capacity gives the nominal capacity when none is given
NOMINAL_HEAD_CYCLES = 50
NOMINAL_SMOOTH_WINDOW = 5


class PredictionError(ValueError):
    """The cell's data cannot give a prediction (too short, or beyond the model's range)."""


def trailing_median(q: Array, window: int = SMOOTH_WINDOW) -> Array:
    """Median of each value and up to window-1 before it: causal, robust to dips and spikes."""
    if len(q) == 0:
        return q.copy()
    pad = np.concatenate([np.full(window - 1, np.nan), q])
    views = np.lib.stride_tricks.sliding_window_view(pad, window)
    out: Array = np.nanmedian(views, axis=1)
    return out


def _slope(x: Array, y: Array) -> float:
    """Least-squares slope by its closed form (no LAPACK: same bits on every machine)."""
    if len(x) < MIN_SLOPE_POINTS:
        return 0.0
    dx = x - x.mean()
    denom = float(np.dot(dx, dx))
    return float(np.dot(dx, y - y.mean()) / denom) if denom > 0 else 0.0


def _log_pos(value: float, floor: float) -> float:
    return math.log(max(value, floor))


def _power_remaining(n: Array, s: Array, peak_i: int, margin_to_go: float, c: float) -> float:
    """Empirical ageing law: fade since the peak d(n) = A (n - n_peak)^p, p fitted on the
    second half of the history, extrapolated to the fade that reaches the threshold."""
    start = max(peak_i + 1, len(n) // 2)
    t = n[start:] - n[peak_i]
    d = s[peak_i] - s[start:]
    ok = (t > 0) & (d > POWER_MIN_FADE)
    if ok.sum() < POWER_MIN_POINTS:
        return float(MAX_REMAINING)
    lt, ld = np.log(t[ok]), np.log(d[ok])
    low, high = POWER_EXPONENT_RANGE
    p = min(max(_slope(lt, ld), low), high)
    log_a = float(ld.mean() - p * lt.mean())
    d_now = float(s[peak_i] - s[-1])
    d_end = max(d_now, 0.0) + margin_to_go
    t_end = math.exp((math.log(d_end) - log_a) / p)
    remaining = float(n[peak_i]) + t_end - c
    return min(max(remaining, 1.0), float(MAX_REMAINING))


def cell_features(cycles: Array, capacity: Array, nominal_ah: float, threshold: float) -> Array:
    """Feature vector (ALL_FEATURES order) from the cycles observed so far."""
    n = cycles
    q = capacity / nominal_ah
    s = trailing_median(q)
    c = float(n[-1])
    margin = float(s[-1]) - threshold
    if margin < 0:  # a median of values >= threshold is >= threshold: only a crossed cell
        raise PredictionError("capacity is already below the threshold")
    peak_i = int(np.argmax(s))
    half = n > c * 0.5
    q3 = (n > c * 0.5) & (n <= c * 0.75)
    q4 = n > c * 0.75
    rate_half = -_slope(n[half], s[half])
    rate_q3 = -_slope(n[q3], s[q3])
    rate_q4 = -_slope(n[q4], s[q4])
    fade = float(s[peak_i] - s[-1])
    noise = float(np.std(q[half] - s[half])) if half.sum() > 1 else 0.0
    linear_rem = margin / rate_half if rate_half > 0 else float(MAX_REMAINING)
    linear_rem = min(max(linear_rem, 1.0), float(MAX_REMAINING))
    power_rem = _power_remaining(n, s, peak_i, margin, c)
    values = [
        _log_pos(margin, 1e-4),
        _log_pos(rate_half, 1e-7),
        _log_pos(rate_q4, 1e-7),
        _log_pos(fade, 1e-5),
        float(n[peak_i]) / c,
        (rate_q4 - rate_q3) * 1e4,
        _log_pos(noise, 1e-6),
        math.log(linear_rem),
        math.log(power_rem),
        math.log(c),
    ]
    return np.array(values, dtype=np.float64)


def feature_columns(features: Sequence[str]) -> list[int]:
    """The columns of ``features`` in a row of ALL_FEATURES."""
    return [ALL_FEATURES.index(f) for f in features]


def estimate_nominal(capacity: Sequence[float]) -> float:
    """Nominal capacity when none is given: the highest smoothed capacity of the first 50
    cycles (a cell's rating is usually a little above what it delivers new: see the docs)."""
    head = np.asarray(capacity[:NOMINAL_HEAD_CYCLES], dtype=np.float64)
    return float(np.max(trailing_median(head, NOMINAL_SMOOTH_WINDOW)))


# --- the regression target ------------------------------------------------------------------


def targets(lives: Array, cutoffs: Array, target: str) -> Array:
    """The regression target of cells of these lives seen up to these cut-offs."""
    out: Array = np.log(lives - cutoffs) if target == "remaining" else np.log(lives)
    return out


def life_from_log(logs: Array, cutoff: float | Array, target: str) -> Array:
    """The end-of-life cycle of a (capped) regression target."""
    capped = np.minimum(logs, math.log(MAX_REMAINING))
    if target == "remaining":
        out: Array = cutoff + np.exp(capped)
    else:
        out = np.maximum(np.exp(capped), np.asarray(cutoff) + 1.0)
    return out


def matched_log(life: float | None, cutoff: float, target: str) -> float | None:
    """Trajectory matching's end of life as the regression's target (log remaining/life)."""
    if life is None:
        return None
    return math.log(life - cutoff) if target == "remaining" else math.log(life)
