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
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from citychain.oracle.battery_data import CellSeries
from citychain.oracle.trajectory import (
    STEP,
    Curve,
    curve_of,
    match_life,
    query_from_curve,
    query_of,
)

__all__ = [
    "ALL_FEATURES",
    "CURVE_FEATURES",
    "DEFAULT_THRESHOLD",
    "KNEE_FEATURES",
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
    "model_hash",
    "predict",
    "save_params",
    "training_curve",
    "training_rows",
]

PARAMS_PATH = Path(__file__).with_name("eol_params.json")
DEFAULT_THRESHOLD = 0.8
SMOOTH_WINDOW = 21
SIG_DIGITS = 10
# Remaining life is capped here (in cycles) so that a flat curve cannot yield an absurd number.
MAX_REMAINING = 20_000
MODEL_FORMAT = "citychain-eol-model/2"
INTERVAL_QUANTILES = (0.1, 0.9)
LAMBDA_GRID = (0.3, 1.0, 3.0, 10.0, 30.0, 100.0)
CV_FOLDS = 5
# weight of the ridge regression in the blend with trajectory matching (log remaining life),
# chosen per cut-off by the same cross-validation; 1.0 = ridge only
BLEND_GRID = (1.0, 0.75, 0.5, 0.25, 0.0)
# share of cycles that must have a row: the smoothing and rates assume per-cycle data
MIN_DENSITY = 0.8

BASE_FEATURES = ("log_margin", "log_rate_half", "log_rate_quarter", "log_fade_from_peak")
KNEE_FEATURES = ("peak_position", "fade_acceleration", "log_noise")
CURVE_FEATURES = ("log_linear_remaining", "log_power_remaining")
ALL_FEATURES = BASE_FEATURES + KNEE_FEATURES + CURVE_FEATURES + ("log_cycle",)
# Time augmentation: a cut-off's model also learns from the training cells seen at these
# multiples of the cut-off, so it sees a wider range of degradation states (a long-lived cell
# late in life looks like a short-lived one early); log_cycle tells the states apart.
AUGMENT_FACTORS = (0.7, 0.8, 0.9, 1.0, 1.1, 1.2, 1.3, 1.4, 1.5)
WIDE_AUGMENT = (0.4, 0.5, 0.6, *AUGMENT_FACTORS, 1.75, 2.0)

Array = NDArray[np.float64]


class PredictionError(ValueError):
    """The cell's data cannot give a prediction (too short, or beyond the model's range)."""


# --- features -------------------------------------------------------------------------------


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
    if len(x) < 3:
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
    ok = (t > 0) & (d > 1e-5)
    if ok.sum() < 5:
        return float(MAX_REMAINING)
    lt, ld = np.log(t[ok]), np.log(d[ok])
    p = min(max(_slope(lt, ld), 0.3), 6.0)
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


def estimate_nominal(capacity: Sequence[float]) -> float:
    """Nominal capacity when none is given: the highest smoothed capacity of the first 50
    cycles (a cell's rating is usually a little above what it delivers new: see the docs)."""
    head = np.asarray(capacity[:50], dtype=np.float64)
    return float(np.max(trailing_median(head, 5)))


# --- fitting --------------------------------------------------------------------------------


def _round(x: float) -> float:
    return float(f"{x:.{SIG_DIGITS}g}")


@dataclass(frozen=True)
class Calibration:
    """Interval offsets in log(remaining life), from out-of-fold residuals."""

    low: float
    high: float


@dataclass(frozen=True)
class CutoffModel:
    cutoff: int
    features: tuple[str, ...]
    mean: tuple[float, ...]
    scale: tuple[float, ...]
    weights: tuple[float, ...]
    intercept: float
    leverage: tuple[tuple[float, ...], ...]  # empty: intervals of constant width in log space
    n_fit_rows: int
    ridge_lambda: float
    augment: tuple[float, ...]
    calibration: Calibration
    target: str  # "remaining" (log(EOL - c)) or "life" (log EOL, the no-conditioning ablation)
    n_train: int
    # blend with trajectory matching: centre = w ridge + (1 - w) matching (log space)
    ridge_weight: float = 1.0
    # interval width x (1 + |ridge - matching| / disagreement_scale); 0: not used
    disagreement_scale: float = 0.0
    # interval offsets for a cell that trajectory matching cannot serve (ridge alone)
    ridge_calibration: Calibration | None = None
    # interval width x (1 + match spread / spread_scale), the spread being that of the k best
    # trajectory matches' lives (log): per-cell uncertainty of the curve match; 0: not used
    spread_scale: float = 0.0

    def _z(self, x: Array) -> list[float]:
        return [(float(v) - mu) / sd for v, mu, sd in zip(x, self.mean, self.scale, strict=True)]

    def log_target(self, x: Array) -> float:
        """Plain Python sums in a fixed order: the same bits whatever BLAS numpy uses."""
        return self.intercept + math.fsum(
            w * z for w, z in zip(self.weights, self._z(x), strict=True)
        )

    def spread(self, x: Array) -> float:
        if not self.leverage:
            return 1.0
        z = self._z(x)
        lev = 1.0 / self.n_fit_rows + math.fsum(
            z[i] * m * z[j] for i, row in enumerate(self.leverage) for j, m in enumerate(row)
        )
        return math.sqrt(1.0 + max(lev, 0.0))

    def log_interval(
        self,
        x: Array,
        matched: float | None = None,
        matched_spread: float | None = None,
    ) -> tuple[float, float, float]:
        """(centre, low, high) of log remaining life (or log life for target 'life').

        ``matched``: trajectory matching's estimate of the same quantity, or None when it
        cannot be made (then the ridge alone, with its own calibration); ``matched_spread``:
        the log-spread of its k best matches (None: the typical spread)."""
        ridge = self.log_target(x)
        s = self.spread(x)
        if matched is None or (
            self.ridge_weight >= 1.0 and self.disagreement_scale <= 0 and self.spread_scale <= 0
        ):
            cal = self.ridge_calibration or self.calibration
            return ridge, ridge + cal.low * s, ridge + cal.high * s
        w = self.ridge_weight
        centre = w * ridge + (1.0 - w) * matched
        if self.disagreement_scale > 0:
            s *= 1.0 + abs(ridge - matched) / self.disagreement_scale
        if self.spread_scale > 0:
            sd = self.spread_scale if matched_spread is None else matched_spread
            s *= 1.0 + sd / self.spread_scale
        return centre, centre + self.calibration.low * s, centre + self.calibration.high * s

    def to_json(self) -> dict[str, Any]:
        return {
            "cutoff": self.cutoff,
            "features": list(self.features),
            "mean": list(self.mean),
            "scale": list(self.scale),
            "weights": list(self.weights),
            "intercept": self.intercept,
            "leverage_inverse": [list(r) for r in self.leverage],
            "n_fit_rows": self.n_fit_rows,
            "ridge_lambda": self.ridge_lambda,
            "augment_factors": list(self.augment),
            "interval_log_offsets": [self.calibration.low, self.calibration.high],
            "target": self.target,
            "n_train": self.n_train,
            "ridge_weight": self.ridge_weight,
            "disagreement_scale": self.disagreement_scale,
            "ridge_interval_log_offsets": (
                None
                if self.ridge_calibration is None
                else [self.ridge_calibration.low, self.ridge_calibration.high]
            ),
            "match_spread_scale": self.spread_scale,
        }

    @staticmethod
    def from_json(doc: dict[str, Any]) -> CutoffModel:
        low, high = doc["interval_log_offsets"]
        ridge_cal = doc.get("ridge_interval_log_offsets")
        return CutoffModel(
            cutoff=int(doc["cutoff"]),
            features=tuple(doc["features"]),
            mean=tuple(float(v) for v in doc["mean"]),
            scale=tuple(float(v) for v in doc["scale"]),
            weights=tuple(float(v) for v in doc["weights"]),
            intercept=float(doc["intercept"]),
            leverage=tuple(tuple(float(v) for v in r) for r in doc["leverage_inverse"]),
            n_fit_rows=int(doc["n_fit_rows"]),
            ridge_lambda=float(doc["ridge_lambda"]),
            augment=tuple(float(v) for v in doc["augment_factors"]),
            calibration=Calibration(float(low), float(high)),
            target=str(doc["target"]),
            n_train=int(doc["n_train"]),
            ridge_weight=float(doc.get("ridge_weight", 1.0)),
            disagreement_scale=float(doc.get("disagreement_scale", 0.0)),
            ridge_calibration=(
                None if ridge_cal is None else Calibration(float(ridge_cal[0]), float(ridge_cal[1]))
            ),
            spread_scale=float(doc.get("match_spread_scale", 0.0)),
        )


@dataclass(frozen=True)
class FitOptions:
    features: tuple[str, ...] = ALL_FEATURES
    augment: tuple[float, ...] = WIDE_AUGMENT
    target: str = "remaining"
    grouped_cv: bool = True  # folds by charging policy (else by cell)
    leverage: bool = True  # interval widens with the leverage of the cell's features
    select: bool = True  # CV also picks the feature group and augmentation window
    trajectory: bool = True  # blend with trajectory matching (weight chosen by CV)
    ridge_weight: float | None = None  # force the blend weight (1.0: ridge, 0.0: matching)
    disagreement: bool = False  # intervals widen with |ridge - matching| (tried, not kept)
    calibrate: str = "life-blocks"  # interval residuals: "life-blocks" or "policy" folds
    # blend weight chosen on the policy folds ("policy") or on policy and life-block folds
    blend_select: str = "policy"
    # interval width: "leverage" (sqrt(1 + leverage)) or also x the match spread
    width: str = "leverage"
    finite_sample: bool = True  # split-conformal finite-sample correction of the quantiles
    # ridge lambda (and feature group) chosen on the policy folds ("policy") or on the mean
    # error of the policy folds and the life-block folds ("both": shift-robust shrinkage)
    lambda_select: str = "both"


@dataclass(frozen=True)
class _Fit:
    mean: Array
    scale: Array
    weights: Array
    intercept: float
    inverse: Array  # (Z'Z + lambda I)^-1 in standardised units: the leverage of a new point
    n: int

    def z(self, x: Array) -> Array:
        out: Array = (x - self.mean) / self.scale
        return out

    def predict(self, x: Array) -> Array:
        out: Array = self.intercept + self.z(x) @ self.weights
        return out

    def spread(self, x: Array) -> Array:
        """sqrt(1 + leverage): how much wider than typical a prediction's error should be."""
        z = self.z(x)
        lev = 1.0 / self.n + np.einsum("ij,jk,ik->i", z, self.inverse, z)
        out: Array = np.sqrt(1.0 + lev)
        return out


def _ridge(x: Array, y: Array, lam: float) -> _Fit:
    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    scale = np.where(scale > 1e-12, scale, 1.0)
    z = (x - mean) / scale
    y0 = float(y.mean())
    # lambda is per 10 rows, so that its meaning does not change with the number of rows
    a = z.T @ z + lam * len(y) / 10.0 * np.eye(z.shape[1])
    inverse = np.linalg.inv(a)
    w = inverse @ (z.T @ (y - y0))
    return _Fit(mean, scale, w, y0, inverse, len(y))


def _folds(groups: Sequence[str], k: int) -> list[int]:
    """Deterministic fold of each row: distinct groups in sorted order, dealt round-robin."""
    order = sorted(set(groups))
    fold_of = {g: i % k for i, g in enumerate(order)}
    return [fold_of[g] for g in groups]


def _targets(lives: Array, cutoffs: Array, target: str) -> Array:
    out: Array = np.log(lives - cutoffs) if target == "remaining" else np.log(lives)
    return out


def augmented_cutoffs(cutoff: int, options: FitOptions) -> list[int]:
    return sorted({max(20, round(cutoff * f)) for f in options.augment})


@dataclass(frozen=True)
class TrainingRows:
    """Feature rows of training cells: one per (cell, augmented cut-off it survived)."""

    x: Array
    lives: Array
    row_cutoffs: Array
    groups: list[str]
    cell_ids: list[str]


def training_rows(
    cells: Sequence[CellSeries],
    lives: dict[str, int],
    groups: dict[str, str],
    cutoff: int,
    options: FitOptions,
    nominal_ah: float,
    threshold: float,
    cache: dict[tuple[str, int], Array] | None = None,
) -> TrainingRows:
    """Rows for :func:`fit_cutoff` from these (training) cells only. ``cache`` (keyed by cell
    and cut-off) must not be shared across nominal capacities or thresholds."""
    xs: list[Array] = []
    ls: list[float] = []
    cs: list[float] = []
    gs: list[str] = []
    ids: list[str] = []
    for cell in cells:
        for c in augmented_cutoffs(cutoff, options):
            if lives[cell.cell_id] <= c:
                continue
            key = (cell.cell_id, c)
            x = cache.get(key) if cache is not None else None
            if x is None:
                seen = cell.upto(c)
                x = cell_features(
                    np.asarray(seen.cycles, dtype=np.float64),
                    np.asarray(seen.capacity_ah, dtype=np.float64),
                    nominal_ah,
                    threshold,
                )
                if cache is not None:
                    cache[key] = x
            xs.append(x)
            ls.append(float(lives[cell.cell_id]))
            cs.append(float(c))
            gs.append(groups[cell.cell_id])
            ids.append(cell.cell_id)
    return TrainingRows(np.array(xs), np.array(ls), np.array(cs), gs, ids)


@dataclass(frozen=True)
class LibraryCell:
    """A training cell's stored curve for trajectory matching, with its CV group."""

    cell_id: str
    group: str
    curve: Curve


def training_curve(cell: CellSeries, life: int, nominal_ah: float) -> Curve:
    """The compact curve trajectory matching keeps of a training cell (see trajectory.py)."""
    n = np.asarray(cell.cycles, dtype=np.float64)
    s = trailing_median(np.asarray(cell.capacity_ah, dtype=np.float64) / nominal_ah)
    return curve_of(n, s, life)


def matched_log(life: float | None, cutoff: float, target: str) -> float | None:
    """Trajectory matching's end of life as the regression's target (log remaining/life)."""
    if life is None:
        return None
    return math.log(life - cutoff) if target == "remaining" else math.log(life)


def _oof_ridge(
    xs: Array, y: Array, use: Array, at_cut: Array, folds: Array, lam: float, leverage: bool
) -> tuple[Array, Array]:
    """Out-of-fold ridge predictions (and leverage spreads) of the rows at the cut-off."""
    oof = np.full_like(y, np.nan)
    spread = np.ones_like(y)
    for k in sorted({int(f) for f in folds} - {-1}):
        test = (folds == k) & at_cut
        train = (folds != k) & use
        if not test.any() or train.sum() < 3:
            continue
        fit = _ridge(xs[train], y[train], lam)
        oof[test] = fit.predict(xs[test])
        spread[test] = fit.spread(xs[test]) if leverage else 1.0
    return oof, spread


def _life_blocks(rows: TrainingRows, at_cut: Array) -> dict[str, int]:
    """CV_FOLDS contiguous blocks of the training cells alive at the cut-off, sorted by cycle
    life: holding one out asks the model for cells shorter- or longer-lived than all it was
    fitted on. Cells not alive at the cut-off are in no block (always fitted on)."""
    life = {cid: float(v) for cid, v, a in zip(rows.cell_ids, rows.lives, at_cut, strict=True) if a}
    order = sorted(life, key=lambda c: (life[c], c))
    return {c: i * CV_FOLDS // len(order) for i, c in enumerate(order)}


def _matched_logs(
    rows: TrainingRows,
    at_cut: Array,
    folds: Array,
    fold_of_cell: dict[str, int],
    library: Sequence[LibraryCell],
    cutoff: int,
    options: FitOptions,
    cache: dict[tuple[str, int, tuple[str, ...]], tuple[float, float] | None] | None,
) -> tuple[Array, Array]:
    """Out-of-fold trajectory matching of each row at the cut-off, as the regression target
    (NaN elsewhere or without a match): a held-out cell is matched only against library
    cells outside its fold (cells absent from ``fold_of_cell`` are never held out)."""
    curves = {lc.cell_id: lc.curve for lc in library}
    out = np.full(len(rows.cell_ids), np.nan)
    spread = np.full(len(rows.cell_ids), np.nan)
    for i, cid in enumerate(rows.cell_ids):
        if not at_cut[i] or cid not in curves:
            continue
        k = int(folds[i])
        lib = [lc for lc in library if fold_of_cell.get(lc.cell_id, -1) != k]
        key = (cid, cutoff, tuple(lc.cell_id for lc in lib))
        if cache is not None and key in cache:
            m = cache[key]
        else:
            g, v = query_from_curve(curves[cid], cutoff)
            m = match_life([lc.curve for lc in lib], g, v, float(cutoff))
            if cache is not None:
                cache[key] = m
        value = matched_log(None if m is None else m[0], float(rows.row_cutoffs[i]), options.target)
        if value is not None and m is not None:
            out[i], spread[i] = value, m[1]
    return out, spread


def _candidate_feature_sets(features: tuple[str, ...]) -> list[tuple[str, ...]]:
    """The feature groups CV may choose from, each within the allowed ``features``."""
    out: list[tuple[str, ...]] = []
    for extra in (KNEE_FEATURES + CURVE_FEATURES, KNEE_FEATURES, CURVE_FEATURES, ()):
        cand = tuple(f for f in features if f in BASE_FEATURES or f == "log_cycle" or f in extra)
        if cand and cand not in out:
            out.append(cand)
    if tuple(features) not in out:
        out.insert(0, tuple(features))
    return out


def _candidate_augments(augment: tuple[float, ...]) -> list[tuple[float, ...]]:
    """Nested windows of the allowed augmentation factors, narrowest (1.0 only) first."""
    out: list[tuple[float, ...]] = []
    for lo, hi in ((1.0, 1.0), (0.9, 1.2), (0.8, 1.3), (0.7, 1.5), (0.5, 1.5), (0.0, 99.0)):
        cand = tuple(f for f in augment if lo <= f <= hi)
        if cand and cand not in out:
            out.append(cand)
    return out


def fit_cutoff(
    rows: TrainingRows,
    cutoff: int,
    options: FitOptions = FitOptions(),
    library: Sequence[LibraryCell] = (),
    match_cache: dict[tuple[str, int, tuple[str, ...]], tuple[float, float] | None] | None = None,
) -> CutoffModel:
    """Fit one cut-off's model on training rows only (each row's cell alive at its cut-off).

    Chosen by cross-validation within these rows (folds by charging policy; all rows of a cell
    share its fold), scored on the held-out cells' rows *at the cut-off itself*: the ridge
    lambda (and with ``options.select`` the feature group and augmentation window too); with
    ``options.lambda_select == "both"`` the score is the mean of that error and the error with
    whole life blocks held out. The interval is the 10-90 % quantile range (finite-sample
    corrected) of held-out residuals, leverage-normalised.

    With ``library`` (the training cells' curves) and ``options.trajectory``, the same folds
    also give out-of-fold trajectory-matching estimates: the blend weight is chosen on them,
    the residuals are those of the blend, and each is normalised by
    ``1 + |ridge - matching| / median|ridge - matching|`` (``options.disagreement``), so a
    cell on which the two methods disagree gets a wider interval. Nothing but ``rows`` and
    ``library`` is seen.
    """
    lives, row_cutoffs = rows.lives, rows.row_cutoffs
    if len(lives) == 0 or np.any(lives <= row_cutoffs):
        raise ValueError("training rows must come from cells alive at their cut-off")
    at_cut = row_cutoffs == cutoff
    if at_cut.sum() < 3:
        raise ValueError(f"fewer than 3 training cells alive at cycle {cutoff}")
    y = _targets(lives, row_cutoffs, options.target)
    fold_keys = rows.groups if options.grouped_cv else rows.cell_ids
    folds = np.array(_folds(fold_keys, CV_FOLDS))
    factor = row_cutoffs / cutoff
    # leave-one-life-block-out folds (see _life_blocks): lambda, with options.lambda_select
    # "both", and the interval calibration are scored on them too
    block = _life_blocks(rows, at_cut)
    cal_folds = np.array([block.get(c, -1) for c in rows.cell_ids])
    best: tuple[float, float, tuple[str, ...], tuple[float, ...], Array, Array] | None = None
    feature_sets = (
        _candidate_feature_sets(options.features) if options.select else [options.features]
    )
    for feats in feature_sets:
        xs = rows.x[:, [ALL_FEATURES.index(f) for f in feats]]
        for aug in _candidate_augments(options.augment) if options.select else [options.augment]:
            use = np.isin(np.round(factor, 6), np.round(np.array(aug), 6)) | at_cut
            for lam in LAMBDA_GRID:
                oof = np.full_like(y, np.nan)
                spread = np.ones_like(y)
                for k in range(CV_FOLDS):
                    test = (folds == k) & at_cut
                    train = (folds != k) & use
                    if not test.any() or train.sum() < 3:
                        continue
                    fit = _ridge(xs[train], y[train], lam)
                    oof[test] = fit.predict(xs[test])
                    spread[test] = fit.spread(xs[test]) if options.leverage else 1.0
                scored = at_cut & ~np.isnan(oof)
                # Select on the error of the life itself (what is scored), not the log target.
                pred = life_from_log(oof[scored], row_cutoffs[scored], options.target)
                err = float(np.mean(np.abs(pred - lives[scored]) / lives[scored]))
                if options.lambda_select == "both":
                    # also score lambda on held-out life blocks: shrinkage that extrapolates
                    # to unseen lives is preferred
                    lb_oof, _ = _oof_ridge(xs, y, use, at_cut, cal_folds, lam, False)
                    ok = at_cut & ~np.isnan(lb_oof)
                    if ok.sum() >= 3:
                        lb_pred = life_from_log(lb_oof[ok], row_cutoffs[ok], options.target)
                        lb_err = float(np.mean(np.abs(lb_pred - lives[ok]) / lives[ok]))
                        err = 0.5 * (err + lb_err)
                if best is None or err < best[0] - 1e-12:
                    best = (err, lam, feats, aug, oof, spread)
    assert best is not None
    _, lam, feats, aug, oof, spread = best
    xs = rows.x[:, [ALL_FEATURES.index(f) for f in feats]]
    use = np.isin(np.round(factor, 6), np.round(np.array(aug), 6)) | at_cut
    scored = at_cut & ~np.isnan(oof)

    def mape(centre: Array, mask: Array) -> float:
        pred = life_from_log(centre[mask], row_cutoffs[mask], options.target)
        return float(np.mean(np.abs(pred - lives[mask]) / lives[mask]))

    # Leave-one-life-block-out predictions (ridge, and matching below): whole blocks of the
    # training lives held out, which mimics a population shift.
    b_oof, b_spread = _oof_ridge(xs, y, use, at_cut, cal_folds, lam, options.leverage)
    b_scored = at_cut & ~np.isnan(b_oof)
    use_blocks = b_scored.sum() >= 3  # else (too few cells) the policy folds alone
    tm: Array | None = None
    sd: Array | None = None
    b_tm: Array | None = None
    b_sd: Array | None = None
    weight, dscale, sscale = 1.0, 0.0, 0.0
    if options.trajectory and library:
        fold_of_key = {k: int(f) for k, f in zip(fold_keys, folds, strict=True)}
        policy_fold = {
            lc.cell_id: fold_of_key.get(lc.group if options.grouped_cv else lc.cell_id, -1)
            for lc in library
        }
        tm, sd = _matched_logs(
            rows, at_cut, folds, policy_fold, library, cutoff, options, match_cache
        )
        tm = np.where(np.isnan(tm), oof, tm)  # no match: the ridge alone
        if use_blocks:
            b_tm, b_sd = _matched_logs(
                rows, at_cut, cal_folds, block, library, cutoff, options, match_cache
            )
            b_tm = np.where(np.isnan(b_tm), b_oof, b_tm)
        gap = np.abs(oof - tm)
        if options.disagreement and scored.any():
            dscale = _round(max(float(np.median(gap[scored])), 1e-3))
        best_err = math.inf
        for w in BLEND_GRID if options.ridge_weight is None else (options.ridge_weight,):
            err = mape(w * oof + (1.0 - w) * tm, scored)
            if options.blend_select == "both" and b_tm is not None:
                # also score the blend on held-out life blocks: a weight that only pays off
                # when the library brackets the cell's life is not chosen
                err = 0.5 * (err + mape(w * b_oof + (1.0 - w) * b_tm, b_scored))
            if err < best_err - 1e-12:
                best_err, weight = err, w

    def normalised(
        o: Array, sp: Array, sc: Array, t: Array | None, sdv: Array | None
    ) -> tuple[Array, Array]:
        """Held-out residuals of the ridge and of the blend, each divided by its width."""
        nonlocal sscale
        ridge_res = ((y - o) / sp)[sc]
        if t is None or sdv is None:
            return ridge_res, ridge_res
        centre = weight * o + (1.0 - weight) * t
        width = sp * (1.0 + np.abs(o - t) / dscale) if dscale > 0 else sp
        if options.width == "match-spread":
            # per-cell uncertainty of the curve match: the spread of the k best matches'
            # lives, relative to its median over the calibration cells
            known = sc & ~np.isnan(sdv)
            if known.any():
                sscale = sscale or _round(max(float(np.median(sdv[known])), 1e-3))
                width = width * (1.0 + np.where(np.isnan(sdv), sscale, sdv) / sscale)
        return ridge_res, ((y - centre) / width)[sc]

    # Interval calibration: residuals of held-out cells, under the policy folds, or (default)
    # with whole blocks of the training lives held out, or both sets pooled.
    ridge_res, blend_res = normalised(oof, spread, scored, tm, sd)
    if options.calibrate in ("life-blocks", "pooled") and use_blocks:
        b_ridge, b_blend = normalised(b_oof, b_spread, b_scored, b_tm, b_sd)
        if options.calibrate == "pooled":
            ridge_res = np.concatenate([ridge_res, b_ridge])
            blend_res = np.concatenate([blend_res, b_blend])
        else:
            ridge_res, blend_res = b_ridge, b_blend
    low, high = _conformal(ridge_res, options.finite_sample)
    ridge_cal = Calibration(_round(low), _round(high))
    low, high = _conformal(blend_res, options.finite_sample)
    fit = _ridge(xs[use], y[use], lam)
    n_fit = fit.n if options.leverage else 0
    return CutoffModel(
        cutoff=cutoff,
        features=feats,
        mean=tuple(_round(float(v)) for v in fit.mean),
        scale=tuple(_round(float(v)) for v in fit.scale),
        weights=tuple(_round(float(v)) for v in fit.weights),
        intercept=_round(fit.intercept),
        leverage=tuple(
            tuple(_round(float(v)) for v in row) for row in (fit.inverse if n_fit else [])
        ),
        n_fit_rows=n_fit,
        ridge_lambda=lam,
        augment=aug,
        calibration=Calibration(_round(low), _round(high)),
        target=options.target,
        n_train=len(set(rows.cell_ids)),
        ridge_weight=weight,
        disagreement_scale=dscale,
        ridge_calibration=ridge_cal,
        spread_scale=sscale,
    )


def _conformal(residuals: Array, finite_sample: bool) -> tuple[float, float]:
    """The interval's offsets: the INTERVAL_QUANTILES of held-out residuals. With
    ``finite_sample`` the split-conformal correction: the upper level is ceil((n + 1) q) / n
    (the lower one symmetric), because the quantiles of n residuals under-cover a new cell,
    most of all when n is small (few training cells alive late in life)."""
    lo_q, hi_q = INTERVAL_QUANTILES
    n = len(residuals)
    if finite_sample and n:
        # (the small epsilon keeps (n + 1) q that is a whole number from rounding up)
        hi_q = min(1.0, math.ceil((n + 1) * hi_q - 1e-9) / n)
        lo_q = 1.0 - hi_q
    low, high = np.quantile(residuals, (lo_q, hi_q))
    return float(low), float(high)


def life_from_log(logs: Array, cutoff: float | Array, target: str) -> Array:
    capped = np.minimum(logs, math.log(MAX_REMAINING))
    if target == "remaining":
        out: Array = cutoff + np.exp(capped)
    else:
        out = np.maximum(np.exp(capped), np.asarray(cutoff) + 1.0)
    return out


# --- the model as a whole -------------------------------------------------------------------


@dataclass(frozen=True)
class EolModel:
    models: tuple[CutoffModel, ...]  # increasing cut-off
    threshold: float = DEFAULT_THRESHOLD
    rated_nominal_ah: float | None = None
    trained_on: str = ""
    # trajectory matching's training curves (compact, derived: see trajectory.py)
    library: tuple[Curve, ...] = ()

    def for_cycles(self, last_cycle: int) -> CutoffModel:
        """The model of the largest cut-off not after the last observed cycle."""
        usable = [m for m in self.models if m.cutoff <= last_cycle]
        if not usable:
            raise PredictionError(
                f"needs at least {self.models[0].cutoff} cycles of history "
                f"(the last cycle given is {last_cycle})"
            )
        return usable[-1]

    def to_json(self) -> dict[str, Any]:
        return {
            "format": MODEL_FORMAT,
            "threshold_default": self.threshold,
            "rated_nominal_ah": self.rated_nominal_ah,
            "smooth_window": SMOOTH_WINDOW,
            "max_remaining_cycles": MAX_REMAINING,
            "interval_quantiles": list(INTERVAL_QUANTILES),
            "trained_on": self.trained_on,
            "models": [m.to_json() for m in self.models],
            "trajectory_step": STEP,
            "trajectories": [{"life": c.life, "q": list(c.q)} for c in self.library],
        }

    @staticmethod
    def from_json(doc: dict[str, Any]) -> EolModel:
        if doc.get("format") != MODEL_FORMAT:
            raise ValueError(f"not a {MODEL_FORMAT} parameter file")
        if (
            doc.get("smooth_window") != SMOOTH_WINDOW
            or doc.get("max_remaining_cycles") != MAX_REMAINING
            or doc.get("trajectory_step") != STEP
        ):
            raise ValueError("parameter file was made by a different version of the code")
        models = tuple(CutoffModel.from_json(m) for m in doc["models"])
        if not models or [m.cutoff for m in models] != sorted({m.cutoff for m in models}):
            raise ValueError("parameter file: models must have distinct increasing cut-offs")
        nominal = doc.get("rated_nominal_ah")
        return EolModel(
            models,
            float(doc["threshold_default"]),
            None if nominal is None else float(nominal),
            str(doc.get("trained_on", "")),
            tuple(
                Curve(int(t["life"]), tuple(int(v) for v in t["q"]))
                for t in doc.get("trajectories", [])
            ),
        )


def canonical_json(doc: Any) -> str:
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def model_hash(model: EolModel) -> str:
    """sha256 (hex) of the canonical JSON of the parameters: what the ledger stores."""
    return hashlib.sha256(canonical_json(model.to_json()).encode()).hexdigest()


def load_params(path: Path = PARAMS_PATH) -> EolModel:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ValueError(f"cannot load model parameters {path}: {exc}") from None
    return EolModel.from_json(doc)


def save_params(model: EolModel, path: Path = PARAMS_PATH) -> None:
    text = json.dumps(model.to_json(), sort_keys=True, indent=1) + "\n"
    path.write_text(text, encoding="utf-8")


# --- prediction -----------------------------------------------------------------------------


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
    ratio = float(np.median(q)) / nominal
    if not 0.3 <= ratio <= 1.5:
        raise PredictionError(
            f"median capacity {float(np.median(q)):g} Ah is {ratio:.3g} x the nominal "
            f"{nominal:g} Ah: wrong units (mAh given as Ah?) or wrong --nominal-ah"
        )
    if len(n) < MIN_DENSITY * (n[-1] - n[0] + 1):
        raise PredictionError(
            f"{len(n)} rows over cycles {int(n[0])}..{int(n[-1])}: the model needs the "
            "capacity of (nearly) every cycle, not a sample"
        )
    below = np.nonzero(q < thr * nominal)[0]
    if len(below):
        first = int(series.cycles[int(below[0])])
        return Prediction(series.cell_id, first, first, first, int(n[-1]), 0, observed=True)
    last = int(n[-1])
    cm = model.for_cycles(last)
    x_all = cell_features(n, q, nominal, thr)
    x = x_all[[ALL_FEATURES.index(f) for f in cm.features]]
    factor = _arrhenius_factor(series.temperature_c)
    matched = spread = None
    # the stored curves end at the training threshold: matching serves that threshold only
    if model.library and abs(thr - model.threshold) < 1e-12:
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


# --- the committed model --------------------------------------------------------------------

# Cut-offs of the committed model's per-cut-off regressions: a cell with L cycles of history
# uses the largest one <= L (the augmentation window, 0.7-1.5x, covers the gap to the next).
PARAMS_CUTOFFS = (100, 150, 200, 250, 300, 400, 500, 600, 800, 1000, 1200)


def fit_model(
    cells: Sequence[CellSeries],
    lives: dict[str, int],
    groups: dict[str, str],
    nominal_ah: float,
    threshold: float = DEFAULT_THRESHOLD,
    cutoffs: Sequence[int] = PARAMS_CUTOFFS,
    options: FitOptions = FitOptions(),
    trained_on: str = "",
) -> EolModel:
    """One regression per cut-off, each from these cells only (see :func:`fit_cutoff`)."""
    cache: dict[tuple[str, int], Array] = {}
    library = [
        LibraryCell(c.cell_id, groups[c.cell_id], training_curve(c, lives[c.cell_id], nominal_ah))
        for c in sorted(cells, key=lambda c: c.cell_id)
    ]
    models = []
    for cutoff in cutoffs:
        rows = training_rows(cells, lives, groups, cutoff, options, nominal_ah, threshold, cache)
        models.append(fit_cutoff(rows, cutoff, options, library if options.trajectory else ()))
    curves = tuple(lc.curve for lc in library) if options.trajectory else ()
    return EolModel(tuple(models), threshold, nominal_ah, trained_on, curves)
