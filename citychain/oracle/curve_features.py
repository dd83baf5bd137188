"""Early-life features of the discharge voltage curves (docs/battery-prediction.md, "The curve
model").

Severson, Attia et al. (Nature Energy 2019) showed that how the discharge curve Q_n(V) moves
between cycle 10 and cycle 100, ΔQ_100-10(V) = Q_100(V) - Q_10(V), predicts cycle life long
before capacity fades: its variance alone explains most of the variation in life. The
features here are theirs (the statistics of ΔQ and two capacity features of their
"discharge" model) and a few more the same two curves and the capacity of cycles 2..100
carry (the plateau voltage and its shift, a proxy for the internal resistance and its growth,
which their "full" model read from a resistance measurement the data here lacks, and the late
capacity fade). All capacities are in units of the nominal capacity, so a cell of another size
is compared with the training cells on the same scale.

The curves are resampled on one grid (``GRID``) before anything is computed, so a lab's own
voltage grid gives the same features as the training data's.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from citychain.oracle.eol_features import PredictionError

__all__ = [
    "CURVE_CYCLES",
    "FEATURE_GROUPS",
    "FEATURE_NAMES",
    "GRID",
    "GRID_STEP_V",
    "VOLTAGE_WINDOW",
    "curve_feature_vector",
    "resample",
]

Array = np.ndarray[Any, np.dtype[np.float64]]

# the two cycles of ΔQ (the paper's pair) and the last cycle the model reads
FIRST_CYCLE, LAST_CYCLE = 10, 100
CURVE_CYCLES = (FIRST_CYCLE, LAST_CYCLE)
# The curves must cover this range; 3.5-3.6 V is the first instant of the discharge (the
# ohmic drop), where a lab's grid may start a little lower, and the training curves end at 2.0 V.
VOLTAGE_WINDOW = (2.0, 3.5)
GRID_STEP_V = 0.01
GRID: Array = np.round(np.linspace(VOLTAGE_WINDOW[0], VOLTAGE_WINDOW[1], 151), 6)
# how far short of the window an input grid may stop (a grid's own rounding)
WINDOW_TOLERANCE_V = 0.011
# The plateau voltage: where the discharge has delivered this fraction of the nominal
# capacity, in the middle of the LFP plateau (0.5 Ah of the 1.1 Ah training cells).
PLATEAU_FRACTION = 0.45
# capacity features: cycle 2 (the first after formation) and the fade of the last 20 cycles
CAPACITY_FIRST = 2
LATE_FADE_FROM = 80
MIN_LATE_ROWS = 5
# a curve whose end is more than this many times the cell's capacity is not a discharge curve
CURVE_GLITCH_RATIO = 1.5
# a ΔQ statistic of exactly zero has no logarithm; it is floored here (no real cell is near)
LOG_FLOOR = 1e-12

FEATURE_NAMES = (
    "log_var_dq",  # log10 variance of ΔQ_100-10(V)
    "log_min_dq",  # log10 |min ΔQ|
    "log_skew_dq",  # log10 |skewness of ΔQ|
    "log_kurt_dq",  # log10 |kurtosis of ΔQ|
    "capacity_2",  # capacity of cycle 2
    "capacity_rise",  # max capacity of cycles 2..100 minus cycle 2's
    "plateau_v_10",  # voltage at PLATEAU_FRACTION of nominal discharged, cycle 10
    "plateau_shift_mv",  # its change from cycle 10 to 100 (mV): resistance growth
    "late_fade",  # capacity slope over cycles 80..100, per 100 cycles
    "fade_slope",  # slope of a line through the capacity of cycles 2..100, per 100 cycles
    "fade_intercept",  # that line's intercept
)
# The candidate feature groups, fixed before any fitting: cross-validation inside the training
# cells picks one (curve_fit). "variance" and "discharge" are the paper's models; "plateau"
# adds the resistance proxies and late fade to ΔQ's two strongest statistics. (The
# groups were fixed from the paper and the physics; see the doc for what was looked at.)
DISCHARGE_GROUP = (
    "log_var_dq",
    "log_min_dq",
    "log_skew_dq",
    "log_kurt_dq",
    "capacity_2",
    "capacity_rise",
)
FEATURE_GROUPS: dict[str, tuple[str, ...]] = {
    "variance": ("log_var_dq",),
    "discharge": DISCHARGE_GROUP,
    # the paper's "full" model without what the data here lacks (resistance, temperature,
    # charge time): "discharge" and the straight line through cycles 2..100's capacity
    "full": (*DISCHARGE_GROUP, "fade_slope", "fade_intercept"),
    "plateau": ("log_var_dq", "log_min_dq", "plateau_v_10", "plateau_shift_mv", "late_fade"),
    "all": FEATURE_NAMES,
}


def resample(
    cell_id: str, cycle: int, voltages: Sequence[float], capacity: Sequence[float]
) -> Array:
    """One cycle's Q(V) on GRID, linear between the given points. The curve must cover
    VOLTAGE_WINDOW: the features are statistics over the whole window."""
    v = np.asarray(voltages, dtype=np.float64)
    q = np.asarray(capacity, dtype=np.float64)
    if v[0] > v[-1]:
        v, q = v[::-1], q[::-1]
    low, high = VOLTAGE_WINDOW
    if v[0] > low + WINDOW_TOLERANCE_V or v[-1] < high - WINDOW_TOLERANCE_V:
        raise PredictionError(
            f"cell {cell_id}: the curve of cycle {cycle} covers {v[0]:.2f}..{v[-1]:.2f} V; "
            f"the curve model needs {low:.2f}..{high:.2f} V"
        )
    out: Array = np.interp(GRID, v, q)
    return out


def _log10(value: float) -> float:
    return math.log10(max(abs(value), LOG_FLOOR))


def _dq_stats(dq: Array) -> tuple[float, float, float, float]:
    centred = dq - dq.mean()
    var = float(np.mean(centred**2))
    sd = math.sqrt(var) if var > 0 else LOG_FLOOR
    skew = float(np.mean(centred**3)) / sd**3
    kurt = float(np.mean(centred**4)) / sd**4
    return _log10(var), _log10(float(dq.min())), _log10(skew), _log10(kurt)


def _plateau_voltage(q: Array) -> float:
    """Voltage at which the discharge has delivered PLATEAU_FRACTION of nominal. GRID
    ascends in voltage, so Q descends along it; a running minimum from the low end keeps
    the curve monotone against a measurement wiggle (np.interp needs increasing x, so the
    curve is read from the high-voltage end)."""
    monotone = np.minimum.accumulate(q)
    return float(np.interp(PLATEAU_FRACTION, monotone[::-1], GRID[::-1]))


def _capacity_features(cell_id: str, cycles: Array, capacity: Array) -> tuple[float, ...]:
    early = (cycles >= CAPACITY_FIRST) & (cycles <= LAST_CYCLE)
    late = (cycles >= LATE_FADE_FROM) & (cycles <= LAST_CYCLE)
    if not early.any() or late.sum() < MIN_LATE_ROWS:
        raise PredictionError(
            f"cell {cell_id}: the curve model needs the capacity of cycles "
            f"{CAPACITY_FIRST}..{LAST_CYCLE} (at least {MIN_LATE_ROWS} of {LATE_FADE_FROM}.."
            f"{LAST_CYCLE})"
        )
    first = float(capacity[early][0])
    rise = float(capacity[early].max()) - first
    n, q = cycles[late], capacity[late]
    late_slope = float(np.polyfit(n, q, 1)[0]) * 100.0
    slope, intercept = np.polyfit(cycles[early], capacity[early], 1)
    return first, rise, late_slope, float(slope) * 100.0, float(intercept)


def curve_feature_vector(
    cell_id: str,
    q10: Array,
    q100: Array,
    cycles: Array,
    capacity: Array,
    nominal_ah: float,
) -> Array:
    """FEATURE_NAMES of one cell: ``q10``/``q100`` on GRID in Ah, ``cycles``/``capacity``
    the per-cycle capacity (Ah) of at least cycles 2..100."""
    scale = 1.0 / nominal_ah
    a, b = q10 * scale, q100 * scale
    cap = capacity * scale
    typical = float(np.median(cap[cycles <= LAST_CYCLE])) if (cycles <= LAST_CYCLE).any() else 1.0
    for cyc, q in ((FIRST_CYCLE, a), (LAST_CYCLE, b)):
        if float(q.max()) > CURVE_GLITCH_RATIO * typical or not np.all(np.isfinite(q)):
            peak = float(q.max()) * nominal_ah
            raise PredictionError(
                f"cell {cell_id}: the curve of cycle {cyc} reaches {peak:g} Ah, "
                f"more than {CURVE_GLITCH_RATIO:g} x the cell's capacity: not a discharge curve"
            )
    stats = _dq_stats(b - a)
    v10, v100 = _plateau_voltage(a), _plateau_voltage(b)
    first, rise, late, slope, intercept = _capacity_features(cell_id, cycles, cap)
    return np.array(
        [*stats, first, rise, v10, (v100 - v10) * 1000.0, late, slope, intercept], dtype=np.float64
    )
