"""Trajectory matching: a nonparametric end-of-life estimate (docs/battery-prediction.md).

Each training cell is kept as a compact *curve*: its causally smoothed capacity (fraction of
nominal, the same trailing median as the features) sampled every ``STEP`` cycles up to its end
of life, as integers in units of 1e-5 (derived data, not the raw measurements). A new cell's
smoothed curve up to its cut-off ``c`` is compared with each training curve stretched in time,
``Q_train(n * s)``, over a grid of scale factors ``s`` (a vertical offset is removed, so only
the *shape* of fade is compared, not the initial capacity). The best ``s`` for a training cell
says "this cell ages ``s`` times faster", so its end of life would be ``EOL_train / s``. The
``K`` best-matching training cells are averaged in log space, weighted by ``1 / distance^2``.
This transfers the shape of the whole curve, late knee included, while letting the fade rate
differ from the training cells (the batch shift of this data is mostly a shift in rate).

Only scales with ``c * s < EOL_train`` are allowed, so the estimate is always after ``c``. All
arithmetic is numpy on small arrays; the final sums are ``math.fsum`` in a fixed order, so the
result does not depend on the BLAS.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

__all__ = [
    "GRID_START",
    "K_NEAREST",
    "STEP",
    "Curve",
    "curve_of",
    "match_life",
    "query_from_curve",
    "query_of",
]

Array = NDArray[np.float64]

STEP = 10  # cycles between stored points
GRID_START = 30  # first compared cycle (the first cycles of LFP cells rise, and are noisy)
SCALE_UNIT = 1e-5  # stored capacity unit (fraction of nominal)
K_NEAREST = 7
# time-scale factors tried, 0.2x to 5x, log-spaced (a fixed grid: deterministic, no optimiser)
SCALES: Array = np.exp(np.linspace(math.log(0.2), math.log(5.0), 241))
MIN_POINTS = 3
MIN_CURVE_POINTS = 2  # a training curve of fewer points cannot be interpolated


@dataclass(frozen=True)
class Curve:
    """A training cell's smoothed capacity every STEP cycles (units 1e-5 of nominal) and its
    end-of-life cycle."""

    life: int
    q: tuple[int, ...]  # at cycles STEP, 2 STEP, ... (< life)

    def arrays(self) -> tuple[Array, Array]:
        g = STEP * np.arange(1, len(self.q) + 1, dtype=np.float64)
        return g, np.asarray(self.q, dtype=np.float64) * SCALE_UNIT


def _sample(cycles: Array, smoothed: Array, upto: float) -> tuple[Array, Array]:
    g = np.arange(STEP, upto + 1, STEP, dtype=np.float64)
    g = g[(g >= cycles[0]) & (g <= cycles[-1])]
    values: Array = np.round(np.interp(g, cycles, smoothed) / SCALE_UNIT) * SCALE_UNIT
    return g, values


def curve_of(cycles: Array, smoothed: Array, life: int) -> Curve:
    """The stored curve of a training cell (``smoothed``: trailing median, fraction of
    nominal) at cycles STEP, 2 STEP, ... before its end-of-life cycle (and its last row)."""
    g = np.arange(STEP, life, STEP, dtype=np.float64)
    g = g[g <= cycles[-1]]
    v = np.interp(g, cycles, smoothed)  # before the first row: the first value
    return Curve(int(life), tuple(round(float(x) / SCALE_UNIT) for x in v))


def query_of(cycles: Array, smoothed: Array) -> tuple[Array, Array]:
    """The compared part of a new cell's smoothed curve: cycles GRID_START.. its last cycle."""
    g, v = _sample(cycles, smoothed, float(cycles[-1]))
    keep = g >= GRID_START
    return g[keep], v[keep]


def query_from_curve(curve: Curve, cutoff: int) -> tuple[Array, Array]:
    """The query a training cell would give at ``cutoff`` (for out-of-fold calibration)."""
    g, v = curve.arrays()
    keep = (g >= GRID_START) & (g <= cutoff)
    return g[keep], v[keep]


def _best_scale(curve: Curve, g: Array, v: Array, cutoff: float) -> tuple[float, float] | None:
    """(distance, predicted life) of the best time-scale of ``curve`` onto the query."""
    gi, qi = curve.arrays()
    if len(gi) < MIN_CURVE_POINTS:
        return None
    ok = SCALES * cutoff < curve.life  # beyond the last point np.interp holds the last value
    scales = SCALES[ok]
    if len(scales) == 0:
        return None
    r = np.interp(np.outer(scales, g), gi, qi) - v
    r = r - r.mean(axis=1, keepdims=True)  # remove the level: compare shapes only
    d = np.sqrt((r * r).mean(axis=1))
    k = int(np.argmin(d))
    return float(d[k]), curve.life / float(scales[k])


def match_life(
    library: Sequence[Curve], g: Array, v: Array, cutoff: float, k: int = K_NEAREST
) -> tuple[float, float] | None:
    """(predicted end-of-life cycle, weighted log-spread) from the k best-matching curves, or
    None when the query is too short or fewer than k training curves can be matched."""
    if len(g) < MIN_POINTS:
        return None
    found = [m for m in (_best_scale(c, g, v, cutoff) for c in library) if m is not None]
    if len(found) < k:
        return None
    found.sort()
    top = found[:k]
    weights = [1.0 / (d + 1e-4) ** 2 for d, _ in top]
    total = math.fsum(weights)
    logs = [math.log(life) for _, life in top]
    mean = math.fsum(w * x for w, x in zip(weights, logs, strict=True)) / total
    var = math.fsum(w * (x - mean) ** 2 for w, x in zip(weights, logs, strict=True)) / total
    life = math.exp(mean)
    if life <= cutoff:  # cannot happen with the scale constraint; kept as a guard
        life = cutoff + 1.0
    return life, math.sqrt(var)
