"""Fitting the model (docs/battery-prediction.md, "Regression" and "Trajectory matching"):
per cut-off, a ridge regression whose lambda, feature group and augmentation window are chosen
by cross-validation, blended with trajectory matching, with a conformal interval.

:func:`fit_cutoff` is a run of named steps: the folds, the choice of the ridge, the held-out
predictions of the life blocks, trajectory matching and the blend weight, the interval, and
last the one fit on all the rows the choice uses.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from citychain.oracle.battery_data import CellSeries
from citychain.oracle.eol_conformal import HeldOut, calibrate, life_blocks
from citychain.oracle.eol_features import (
    BASE_FEATURES,
    CURVE_FEATURES,
    KNEE_FEATURES,
    Array,
    Mask,
    feature_columns,
    life_from_log,
    matched_log,
    targets,
)
from citychain.oracle.eol_params import (
    DEFAULT_THRESHOLD,
    Calibration,
    CutoffModel,
    EolModel,
    round_sig,
)
from citychain.oracle.eol_ridge import (
    CV_FOLDS,
    MIN_FIT_ROWS,
    deal_folds,
    fit_ridge,
    out_of_fold_ridge,
)
from citychain.oracle.eol_training import (
    DEFAULT_OPTIONS,
    FitOptions,
    LibraryCell,
    TrainingRows,
    training_curve,
    training_rows,
)
from citychain.oracle.trajectory import match_life, query_from_curve

__all__ = ["BLEND_GRID", "LAMBDA_GRID", "PARAMS_CUTOFFS", "MatchCache", "fit_cutoff", "fit_model"]

LAMBDA_GRID = (0.3, 1.0, 3.0, 10.0, 30.0, 100.0)
# weight of the ridge regression in the blend with trajectory matching (log remaining life),
# chosen per cut-off by the same cross-validation; 1.0 = ridge only
BLEND_GRID = (1.0, 0.75, 0.5, 0.25, 0.0)
# Cut-offs of the committed model's per-cut-off regressions: a cell with L cycles of history
# uses the largest one <= L (the augmentation window, 0.7-1.5x, covers the gap to the next).
PARAMS_CUTOFFS = (100, 150, 200, 250, 300, 400, 500, 600, 800, 1000, 1200)
# a candidate must beat the best so far by more than this to replace it: ties keep the first
TIE = 1e-12
# floor of the disagreement scale (log life)
MIN_DISAGREEMENT_SCALE = 1e-3
# decimals of the augmentation factors compared (a row's factor is a quotient of cycles)
FACTOR_DECIMALS = 6

# trajectory matching's result per (cell, cut-off, library cell ids)
MatchCache = dict[tuple[str, int, tuple[str, ...]], tuple[float, float] | None]


@dataclass(frozen=True)
class _Folds:
    """One cut-off's cross-validation: each row's target, whether it is at the cut-off
    itself (only those are scored), its policy fold and its life-block fold (-1: none)."""

    y: Array
    at_cut: Mask
    fold_keys: list[str]
    folds: Array
    factor: Array  # the row's cut-off / the cut-off
    block: dict[str, int]
    cal_folds: Array


@dataclass(frozen=True)
class _Choice:
    """The ridge chosen by cross-validation, with its policy-fold predictions."""

    err: float
    lam: float
    features: tuple[str, ...]
    augment: tuple[float, ...]
    oof: Array
    spread: Array


def _mape(rows: TrainingRows, centre: Array, mask: Mask, target: str) -> float:
    """Mean relative error of the lives predicted for the rows in ``mask``: what is scored
    (the life itself, not the log target)."""
    pred = life_from_log(centre[mask], rows.row_cutoffs[mask], target)
    return float(np.mean(np.abs(pred - rows.lives[mask]) / rows.lives[mask]))


def _folds_of(rows: TrainingRows, cutoff: int, options: FitOptions) -> _Folds:
    lives, row_cutoffs = rows.lives, rows.row_cutoffs
    if len(lives) == 0 or np.any(lives <= row_cutoffs):
        raise ValueError("training rows must come from cells alive at their cut-off")
    at_cut = row_cutoffs == cutoff
    if at_cut.sum() < MIN_FIT_ROWS:
        raise ValueError(f"fewer than {MIN_FIT_ROWS} training cells alive at cycle {cutoff}")
    fold_keys = rows.groups if options.grouped_cv else rows.cell_ids
    # leave-one-life-block-out folds (see life_blocks): lambda, with options.lambda_select
    # "both", and the interval calibration are scored on them too
    block = life_blocks(rows, at_cut)
    return _Folds(
        y=targets(lives, row_cutoffs, options.target),
        at_cut=at_cut,
        fold_keys=fold_keys,
        folds=np.array(deal_folds(fold_keys, CV_FOLDS)),
        factor=row_cutoffs / cutoff,
        block=block,
        cal_folds=np.array([block.get(c, -1) for c in rows.cell_ids]),
    )


def _rows_used(cv: _Folds, augment: tuple[float, ...]) -> Mask:
    """The rows an augmentation window fits on: its factors, and the cut-off itself."""
    factors = np.round(np.array(augment), FACTOR_DECIMALS)
    used: Mask = np.isin(np.round(cv.factor, FACTOR_DECIMALS), factors) | cv.at_cut
    return used


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


def _score_lambda(
    rows: TrainingRows, cv: _Folds, xs: Array, use: Mask, lam: float, options: FitOptions
) -> tuple[float, Array, Array]:
    """The cross-validated error of one candidate, with its policy-fold predictions."""
    oof, spread = out_of_fold_ridge(xs, cv.y, use, cv.at_cut, cv.folds, lam, options.leverage)
    err = _mape(rows, oof, cv.at_cut & ~np.isnan(oof), options.target)
    if options.lambda_select == "both":
        # also score lambda on held-out life blocks: shrinkage that extrapolates to unseen
        # lives is preferred
        lb_oof, _ = out_of_fold_ridge(xs, cv.y, use, cv.at_cut, cv.cal_folds, lam, False)
        ok = cv.at_cut & ~np.isnan(lb_oof)
        if ok.sum() >= MIN_FIT_ROWS:
            err = 0.5 * (err + _mape(rows, lb_oof, ok, options.target))
    return err, oof, spread


def _choose_ridge(rows: TrainingRows, cv: _Folds, options: FitOptions) -> _Choice:
    """The lambda (and with ``options.select`` the feature group and augmentation window)
    of the least cross-validated error; the first of equals."""
    feature_sets = (
        _candidate_feature_sets(options.features) if options.select else [options.features]
    )
    augments = _candidate_augments(options.augment) if options.select else [options.augment]
    best: _Choice | None = None
    for feats in feature_sets:
        xs = rows.x[:, feature_columns(feats)]
        for aug in augments:
            use = _rows_used(cv, aug)
            for lam in LAMBDA_GRID:
                err, oof, spread = _score_lambda(rows, cv, xs, use, lam, options)
                if best is None or err < best.err - TIE:
                    best = _Choice(err, lam, feats, aug, oof, spread)
    assert best is not None
    return best


def _matched_logs(
    rows: TrainingRows,
    at_cut: Mask,
    folds: Array,
    fold_of_cell: dict[str, int],
    library: Sequence[LibraryCell],
    cutoff: int,
    options: FitOptions,
    cache: MatchCache | None,
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


def _with_matching(
    rows: TrainingRows,
    cv: _Folds,
    held: HeldOut,
    folds: Array,
    fold_of_cell: dict[str, int],
    library: Sequence[LibraryCell],
    cutoff: int,
    options: FitOptions,
    cache: MatchCache | None,
) -> HeldOut:
    """``held`` with the out-of-fold trajectory matching of the same folds (no match: the
    ridge alone)."""
    tm, sd = _matched_logs(rows, cv.at_cut, folds, fold_of_cell, library, cutoff, options, cache)
    return replace(held, matched=np.where(np.isnan(tm), held.ridge, tm), matched_spread=sd)


def _blend_weight(
    rows: TrainingRows, policy: HeldOut, blocks: HeldOut | None, options: FitOptions
) -> float:
    """The ridge's weight in the blend of the least cross-validated error (or the forced
    one); the first of equals."""
    assert policy.matched is not None
    best_err, weight = math.inf, 1.0
    for w in BLEND_GRID if options.ridge_weight is None else (options.ridge_weight,):
        err = _mape(
            rows, w * policy.ridge + (1.0 - w) * policy.matched, policy.scored, options.target
        )
        if options.blend_select == "both" and blocks is not None and blocks.matched is not None:
            # also score the blend on held-out life blocks: a weight that only pays off
            # when the library brackets the cell's life is not chosen
            centre = w * blocks.ridge + (1.0 - w) * blocks.matched
            err = 0.5 * (err + _mape(rows, centre, blocks.scored, options.target))
        if err < best_err - TIE:
            best_err, weight = err, w
    return weight


def _blend(
    rows: TrainingRows,
    cv: _Folds,
    policy: HeldOut,
    blocks: HeldOut | None,
    library: Sequence[LibraryCell],
    cutoff: int,
    options: FitOptions,
    match_cache: MatchCache | None,
) -> tuple[HeldOut, HeldOut | None, float, float]:
    """The held-out predictions with trajectory matching's, the ridge's weight in the blend
    and the disagreement scale (0: not used)."""
    fold_of_key = {k: int(f) for k, f in zip(cv.fold_keys, cv.folds, strict=True)}
    policy_fold = {
        lc.cell_id: fold_of_key.get(lc.group if options.grouped_cv else lc.cell_id, -1)
        for lc in library
    }
    policy = _with_matching(
        rows, cv, policy, cv.folds, policy_fold, library, cutoff, options, match_cache
    )
    if blocks is not None:
        blocks = _with_matching(
            rows, cv, blocks, cv.cal_folds, cv.block, library, cutoff, options, match_cache
        )
    disagreement_scale = 0.0
    if options.disagreement and policy.scored.any():
        assert policy.matched is not None
        gap = np.abs(policy.ridge - policy.matched)
        disagreement_scale = round_sig(
            max(float(np.median(gap[policy.scored])), MIN_DISAGREEMENT_SCALE)
        )
    return policy, blocks, _blend_weight(rows, policy, blocks, options), disagreement_scale


def _final_model(
    rows: TrainingRows,
    cv: _Folds,
    cutoff: int,
    choice: _Choice,
    blend: tuple[float, float, float],
    calibrations: tuple[Calibration, Calibration],
    options: FitOptions,
) -> CutoffModel:
    """The chosen ridge fitted on every row it uses, its numbers rounded for the file."""
    weight, disagreement_scale, spread_scale = blend
    ridge_cal, cal = calibrations
    xs = rows.x[:, feature_columns(choice.features)]
    use = _rows_used(cv, choice.augment)
    fit = fit_ridge(xs[use], cv.y[use], choice.lam)
    n_fit = fit.n if options.leverage else 0
    return CutoffModel(
        cutoff=cutoff,
        features=choice.features,
        mean=tuple(round_sig(float(v)) for v in fit.mean),
        scale=tuple(round_sig(float(v)) for v in fit.scale),
        weights=tuple(round_sig(float(v)) for v in fit.weights),
        intercept=round_sig(fit.intercept),
        leverage=tuple(
            tuple(round_sig(float(v)) for v in row) for row in (fit.inverse if n_fit else [])
        ),
        n_fit_rows=n_fit,
        ridge_lambda=choice.lam,
        augment=choice.augment,
        calibration=cal,
        target=options.target,
        n_train=len(set(rows.cell_ids)),
        ridge_weight=weight,
        disagreement_scale=disagreement_scale,
        ridge_calibration=ridge_cal,
        spread_scale=spread_scale,
    )


def fit_cutoff(
    rows: TrainingRows,
    cutoff: int,
    options: FitOptions = DEFAULT_OPTIONS,
    library: Sequence[LibraryCell] = (),
    match_cache: MatchCache | None = None,
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
    cv = _folds_of(rows, cutoff, options)
    choice = _choose_ridge(rows, cv, options)
    policy = HeldOut(choice.oof, choice.spread, cv.at_cut & ~np.isnan(choice.oof))
    # Leave-one-life-block-out predictions (ridge, and matching below): whole blocks of the
    # training lives held out, which mimics a population shift. With too few cells scored,
    # the policy folds alone.
    xs = rows.x[:, feature_columns(choice.features)]
    b_oof, b_spread = out_of_fold_ridge(
        xs,
        cv.y,
        _rows_used(cv, choice.augment),
        cv.at_cut,
        cv.cal_folds,
        choice.lam,
        options.leverage,
    )
    b_scored = cv.at_cut & ~np.isnan(b_oof)
    blocks = HeldOut(b_oof, b_spread, b_scored) if b_scored.sum() >= MIN_FIT_ROWS else None
    weight, disagreement_scale = 1.0, 0.0
    if options.trajectory and library:
        policy, blocks, weight, disagreement_scale = _blend(
            rows, cv, policy, blocks, library, cutoff, options, match_cache
        )
    ridge_cal, cal, spread_scale = calibrate(
        cv.y, policy, blocks, weight, disagreement_scale, options
    )
    return _final_model(
        rows,
        cv,
        cutoff,
        choice,
        (weight, disagreement_scale, spread_scale),
        (ridge_cal, cal),
        options,
    )


def fit_model(
    cells: Sequence[CellSeries],
    lives: dict[str, int],
    groups: dict[str, str],
    nominal_ah: float,
    threshold: float = DEFAULT_THRESHOLD,
    cutoffs: Sequence[int] = PARAMS_CUTOFFS,
    options: FitOptions = DEFAULT_OPTIONS,
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
