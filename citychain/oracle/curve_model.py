"""End-of-life prediction from early-life discharge curves (docs/battery-prediction.md, "The
curve model"): the public face of ``curve_features`` (the features of Q_10(V), Q_100(V) and
the capacity of cycles 2..100), ``curve_fit`` (choosing and fitting the ridge) and
``curve_params`` (the parameters, their file and hash).

A cell with its curves of cycles 10 and 100 and its capacity up to cycle 100 gets a
prediction of its whole life on day one of its service, long before its own fade could show
a trend; ``eol_model`` predicts from the capacity history alone.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np

from citychain.oracle.battery_data import CellMeta, CellSeries, load_dataset
from citychain.oracle.curve_data import CellCurves, CurveDataError, load_shared_curves
from citychain.oracle.curve_features import (
    CURVE_CYCLES,
    FEATURE_GROUPS,
    FEATURE_NAMES,
    LAST_CYCLE,
    VOLTAGE_WINDOW,
    Array,
    curve_feature_vector,
    resample,
)
from citychain.oracle.curve_fit import LAMBDA_GRID, TrainingCells, cross_validate, fit_curve_model
from citychain.oracle.curve_params import (
    CURVE_PARAMS_PATH,
    CurveModel,
    curve_model_hash,
    load_curve_params,
    save_curve_params,
)
from citychain.oracle.eol_features import PredictionError, estimate_nominal
from citychain.oracle.eol_params import DEFAULT_THRESHOLD
from citychain.oracle.eol_predict import Prediction

__all__ = [
    "CURVE_PARAMS_PATH",
    "FEATURE_GROUPS",
    "FEATURE_NAMES",
    "LAMBDA_GRID",
    "REQUIRED_CYCLES",
    "VOLTAGE_WINDOW",
    "CurveModel",
    "TrainingCells",
    "cell_curve_features",
    "cross_validate",
    "curve_model_hash",
    "fit_curve_model",
    "load_curve_params",
    "load_training_data",
    "predict_curves",
    "save_curve_params",
    "training_cells",
]

REQUIRED_CYCLES = CURVE_CYCLES
# The rated capacity of the training cells (A123 APR18650M1A): their features are in its units.
TRAINING_NOMINAL_AH = 1.1


def cell_curve_features(curves: CellCurves, series: CellSeries, nominal_ah: float) -> Array:
    """FEATURE_NAMES of one cell (PredictionError naming the cell if it cannot be used)."""
    missing = curves.missing_cycles(REQUIRED_CYCLES)
    if missing:
        raise PredictionError(
            f"cell {curves.cell_id}: no discharge curve for cycle(s) "
            f"{', '.join(map(str, missing))}; the curve model needs cycles "
            f"{' and '.join(map(str, REQUIRED_CYCLES))}"
        )
    first, last = (resample(curves.cell_id, c, *curves.curve(c)) for c in REQUIRED_CYCLES)
    early = series.upto(LAST_CYCLE)
    return curve_feature_vector(
        curves.cell_id,
        first,
        last,
        np.asarray(early.cycles, dtype=np.float64),
        np.asarray(early.capacity_ah, dtype=np.float64),
        nominal_ah,
    )


def predict_curves(
    model: CurveModel,
    curves: CellCurves,
    series: CellSeries,
    nominal_ah: float | None = None,
) -> Prediction:
    """One cell's end of life (first cycle below 80 % of nominal) from its curves and its
    capacity up to cycle 100, as integers. A cell whose capacity series already shows the
    crossing gets that cycle; a cell seen alive past the predicted end gets the next cycle."""
    if curves.cell_id != series.cell_id:
        raise PredictionError(
            f"curves of {curves.cell_id} given with the series of {series.cell_id}"
        )
    nominal = nominal_ah if nominal_ah is not None else estimate_nominal(series.capacity_ah)
    last = int(series.cycles[-1]) if series.cycles else 0
    for cycle, q in zip(series.cycles, series.capacity_ah, strict=True):
        if q < DEFAULT_THRESHOLD * nominal:
            return Prediction(series.cell_id, cycle, cycle, cycle, last, 0, observed=True)
    x = cell_curve_features(curves, series, nominal)
    cols = [FEATURE_NAMES.index(f) for f in model.features]
    centre, low, high = (math.exp(v) for v in model.log_interval([float(x[c]) for c in cols]))
    eol, lo, hi = (max(last + 1, round(v)) for v in (centre, low, high))
    return Prediction(series.cell_id, eol, min(lo, eol), max(hi, eol), last, LAST_CYCLE)


def training_features(
    curves: Mapping[str, CellCurves], series: Iterable[CellSeries]
) -> dict[str, Array]:
    """The feature vector of every cell that has both curves and capacity, in the training
    cells' rated units."""
    out = {}
    for s in series:
        if s.cell_id in curves:
            out[s.cell_id] = cell_curve_features(curves[s.cell_id], s, TRAINING_NOMINAL_AH)
    return out


def load_training_data(
    folder: Path,
) -> tuple[list[CellSeries], dict[str, CellMeta], dict[str, Array]]:
    """The shared data folder's cells, their metadata and their curve features (what both
    the training script and the benchmark fit on)."""
    cells, meta = load_dataset(folder)
    return cells, meta, training_features(load_shared_curves(folder), cells)


def training_cells(
    features: Mapping[str, Array], meta: Mapping[str, CellMeta], ids: Iterable[str]
) -> TrainingCells:
    """The TrainingCells of ``ids`` (and of nothing else: what a benchmark fold fits on)."""
    chosen = sorted(set(ids))
    unknown = [c for c in chosen if c not in features]
    if unknown:
        raise CurveDataError(f"no curve features for {', '.join(unknown[:5])}")
    return TrainingCells.of(
        {c: features[c] for c in chosen},
        {c: meta[c].cycle_life for c in chosen},
        {c: meta[c].charge_policy for c in chosen},
        {c: meta[c].batch for c in chosen},
    )
