"""One cell's end-of-life prediction from the committed model (docs/battery-prediction.md,
"Prediction"): integers for the ledger, the same on every machine."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from citychain.oracle.battery_data import CellSeries
from citychain.oracle.eol_features import (
    Array,
    PredictionError,
    cell_features,
    estimate_nominal,
    feature_columns,
    life_from_log,
    matched_log,
    trailing_median,
)
from citychain.oracle.eol_params import EolModel
from citychain.oracle.trajectory import match_life, query_of

__all__ = ["MIN_DENSITY", "Prediction", "cycle_to_days", "predict"]

# share of cycles that must have a row: the smoothing and rates assume per-cycle data
MIN_DENSITY = 0.8
# The median capacity must lie within these multiples of the nominal one: outside, the units
# are wrong (mAh given as Ah) or the nominal capacity is, and every feature would be nonsense.
NOMINAL_RATIO_RANGE = (0.3, 1.5)
# thresholds closer than this are the same one (the library's curves end at the training one)
SAME_THRESHOLD = 1e-12


@dataclass(frozen=True)
class Prediction:
    """Integers, for the ledger: the cycle at which capacity first falls below the threshold,
    and the 80 % interval around it. ``observed`` when the input already shows that cycle."""

    cell_id: str
    eol_cycle: int
    low: int
    high: int
    last_cycle: int
    cutoff_model: int
    observed: bool = False


def _arrhenius_factor(temps: Sequence[float]) -> float:
    """Remaining-life factor for a cell run away from the 30 °C of the training data.

    The training data has no temperatures, so this cannot be calibrated on it: it is the
    textbook Arrhenius scaling with an activation energy typical of LFP cycle ageing (about
    30 kJ/mol, a prior, not a fit), limited to x0.5..x2 so that a faulty sensor cannot
    dominate. Without a temperature column the factor is 1.
    """
    values = [t for t in temps if not math.isnan(t)]
    if not values:
        return 1.0
    ea, r, ref = 30_000.0, 8.314, 303.15
    mean_k = sum(values) / len(values) + 273.15
    return min(max(math.exp(ea / r * (1.0 / mean_k - 1.0 / ref)), 0.5), 2.0)


def _check_input(n: Array, q: Array, nominal: float) -> None:
    """Refuse a series in the wrong units, or not of (nearly) every cycle."""
    ratio = float(np.median(q)) / nominal
    low, high = NOMINAL_RATIO_RANGE
    if not low <= ratio <= high:
        raise PredictionError(
            f"median capacity {float(np.median(q)):g} Ah is {ratio:.3g} x the nominal "
            f"{nominal:g} Ah: wrong units (mAh given as Ah?) or wrong --nominal-ah"
        )
    if len(n) < MIN_DENSITY * (n[-1] - n[0] + 1):
        raise PredictionError(
            f"{len(n)} rows over cycles {int(n[0])}..{int(n[-1])}: the model needs the "
            "capacity of (nearly) every cycle, not a sample"
        )


def predict(
    model: EolModel,
    series: CellSeries,
    threshold: float | None = None,
    nominal_ah: float | None = None,
) -> Prediction:
    """Predict one cell's end of life from all the cycles given (deterministic)."""
    thr = model.threshold if threshold is None else threshold
    nominal = nominal_ah if nominal_ah is not None else estimate_nominal(series.capacity_ah)
    n = np.asarray(series.cycles, dtype=np.float64)
    q = np.asarray(series.capacity_ah, dtype=np.float64)
    _check_input(n, q, nominal)
    below = np.nonzero(q < thr * nominal)[0]
    if len(below):
        first = int(series.cycles[int(below[0])])
        return Prediction(series.cell_id, first, first, first, int(n[-1]), 0, observed=True)
    last = int(n[-1])
    cm = model.for_cycles(last)
    x_all = cell_features(n, q, nominal, thr)
    x = x_all[feature_columns(cm.features)]
    factor = _arrhenius_factor(series.temperature_c)
    matched = spread = None
    # the stored curves end at the training threshold: matching serves that threshold only
    if model.library and abs(thr - model.threshold) < SAME_THRESHOLD:
        g, v = query_of(n, trailing_median(q / nominal))
        m = match_life(model.library, g, v, float(last))
        matched = matched_log(None if m is None else m[0], float(last), cm.target)
        spread = None if m is None else m[1]
    logs = np.array(cm.log_interval(x, matched, spread))
    lives = [float(v) for v in life_from_log(logs, last, cm.target)]
    # remaining life scales with temperature; the end of life is never before the next cycle
    eol, low, high = (max(last + 1, round(last + (v - last) * factor)) for v in lives)
    return Prediction(series.cell_id, eol, min(low, eol), max(high, eol), last, cm.cutoff)


def cycle_to_days(eol_cycle: int, last_cycle: int, cycles_per_day_milli: int) -> int:
    """Whole days from the last observed cycle to ``eol_cycle`` at a recent rate of use.

    The rate is fixed-point (thousandths of a cycle per day) so the ledger can store it;
    days round up (the cell is replaced no later than it fails).
    """
    if cycles_per_day_milli <= 0:
        raise ValueError("cycles per day must be positive")
    remaining = max(eol_cycle - last_cycle, 0)
    return -(-remaining * 1000 // cycles_per_day_milli)
