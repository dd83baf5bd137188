"""End-of-life prediction from per-cycle discharge capacity (docs/battery-prediction.md).

The model, per cut-off ``c`` (the last cycle observed):

1. *Smoothing*: a trailing (causal) median of the capacity over 21 cycles, so a test
   interruption's dip or a single spike does not look like fade, and a value at cycle ``n``
   never depends on later cycles.
2. *Features*, all in units of the nominal capacity and relative to the threshold so that one
   model serves any threshold: the margin left to the threshold, fade rates over the last half
   and last quarter of the history, fade since the peak, when the peak was, the acceleration of
   fade (an early sign of the knee), the noise around the smoothed curve, and two per-cell
   curve extrapolations (linear, and an empirical power law of fade since the peak).
3. *Regression*: ridge on standardised features, target ``log(EOL - c)``: the remaining life
   of a cell known to have survived to ``c`` (survival conditioning: the prediction is always
   after ``c``). Time augmentation: the training cells also enter as seen at 0.4..2 x ``c``,
   so the model sees more degradation states; ``log c`` tells them apart. Lambda, feature
   group and augmentation window are chosen per cut-off on the mean error of policy folds and
   life-block folds (shift-robust selection).
4. *Trajectory matching* (``trajectory.py``): the cell's smoothed curve is matched against
   the training cells' curves stretched in time; the centre is a blend, in log remaining
   life, of the ridge and this estimate, the weight chosen by the same policy-grouped CV.
5. *Interval*: split-conformal in log space. Out-of-fold residuals *within the training
   cells*, divided by sqrt(1 + leverage), give the 10 % and 90 % quantiles; a new cell's
   interval is scaled by its own leverage. The residuals come from leave-one-life-block-out
   folds (the training cells alive at ``c``, sorted by life, in 5 contiguous blocks), a
   stand-in for a population shift (``FitOptions.calibrate``), with the finite-sample
   split-conformal correction of the quantile levels.

The fitted numbers are rounded to 10 significant digits before use, so that the JSON holding
them is canonical, :func:`model_hash` identifies them exactly, and a prediction computed from
the JSON equals the one computed right after fitting.

This module is the model's public face; the code lives in ``eol_features`` (smoothing,
features, target), ``eol_training`` (fit options, training rows and curves), ``eol_ridge``
(ridge and its out-of-fold predictions), ``eol_conformal`` (the interval), ``eol_fit``
(choosing and fitting a cut-off's model), ``eol_params`` (parameters, their file and hash)
and ``eol_predict`` (one cell's prediction).
"""

from __future__ import annotations

from citychain.oracle.eol_features import (
    ALL_FEATURES,
    BASE_FEATURES,
    CURVE_FEATURES,
    KNEE_FEATURES,
    MAX_REMAINING,
    PredictionError,
    cell_features,
    estimate_nominal,
    life_from_log,
    matched_log,
    trailing_median,
)
from citychain.oracle.eol_fit import PARAMS_CUTOFFS, fit_cutoff, fit_model
from citychain.oracle.eol_params import (
    DEFAULT_THRESHOLD,
    PARAMS_PATH,
    Calibration,
    CutoffModel,
    EolModel,
    canonical_json,
    load_params,
    model_hash,
    save_params,
)
from citychain.oracle.eol_predict import Prediction, cycle_to_days, predict
from citychain.oracle.eol_training import (
    AUGMENT_FACTORS,
    WIDE_AUGMENT,
    FitOptions,
    LibraryCell,
    TrainingRows,
    augmented_cutoffs,
    training_curve,
    training_rows,
)

__all__ = [
    "ALL_FEATURES",
    "AUGMENT_FACTORS",
    "BASE_FEATURES",
    "CURVE_FEATURES",
    "DEFAULT_THRESHOLD",
    "KNEE_FEATURES",
    "MAX_REMAINING",
    "PARAMS_CUTOFFS",
    "PARAMS_PATH",
    "WIDE_AUGMENT",
    "Calibration",
    "CutoffModel",
    "EolModel",
    "FitOptions",
    "LibraryCell",
    "Prediction",
    "PredictionError",
    "TrainingRows",
    "augmented_cutoffs",
    "canonical_json",
    "cell_features",
    "cycle_to_days",
    "estimate_nominal",
    "fit_cutoff",
    "fit_model",
    "life_from_log",
    "load_params",
    "matched_log",
    "model_hash",
    "predict",
    "save_params",
    "trailing_median",
    "training_curve",
    "training_rows",
]
