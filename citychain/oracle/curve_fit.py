"""Fitting the curve model (docs/battery-prediction.md, "The curve model"): ridge regression of
log cycle life on a group of curve features, the group and lambda chosen by cross-validation
inside the training cells, and a split-conformal 80 % interval.

The training cells are the only input: :func:`fit_curve_model` sees their feature vectors,
lives and charging policies and nothing else, so a benchmark that passes it one batch's cells
cannot leak the other batch into the fit (the benchmark checks the ids it passes).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from citychain.oracle.curve_features import FEATURE_GROUPS, FEATURE_NAMES, Array
from citychain.oracle.curve_params import CurveModel
from citychain.oracle.eol_conformal import conformal_offsets
from citychain.oracle.eol_params import round_sig
from citychain.oracle.eol_ridge import CV_FOLDS, MIN_FIT_ROWS, deal_folds, fit_ridge

__all__ = ["LAMBDA_GRID", "TrainingCells", "cross_validate", "fit_curve_model"]

LAMBDA_GRID = (0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0)
# a candidate must beat the best so far by more than this: ties keep the earlier (simpler) one
TIE = 1e-12


@dataclass(frozen=True)
class TrainingCells:
    """The cells a curve model is fitted on: ids (sorted), feature rows (FEATURE_NAMES),
    cycle lives, charging policies and batches (the cross-validation's groups)."""

    cell_ids: tuple[str, ...]
    x: Array
    lives: tuple[int, ...]
    policies: tuple[str, ...]
    batches: tuple[int, ...]

    @staticmethod
    def of(
        features: Mapping[str, Array],
        lives: Mapping[str, int],
        policies: Mapping[str, str],
        batches: Mapping[str, int],
    ) -> TrainingCells:
        ids = tuple(sorted(features))
        return TrainingCells(
            ids,
            np.array([features[c] for c in ids], dtype=np.float64),
            tuple(int(lives[c]) for c in ids),
            tuple(policies[c] for c in ids),
            tuple(int(batches[c]) for c in ids),
        )

    def y(self) -> Array:
        return np.log(np.asarray(self.lives, dtype=np.float64))


def _life_blocks(lives: Sequence[int]) -> list[int]:
    """CV_FOLDS contiguous blocks of the cells sorted by life: holding one out asks for cells
    shorter- or longer-lived than all the fit saw, a stand-in for a population shift."""
    order = sorted(range(len(lives)), key=lambda i: (lives[i], i))
    block = [0] * len(lives)
    for rank, i in enumerate(order):
        block[i] = rank * CV_FOLDS // len(order)
    return block


def _out_of_fold(x: Array, y: Array, folds: Sequence[int], lam: float) -> tuple[Array, Array]:
    """Held-out log-life predictions and their leverage widths (NaN: fold not predicted)."""
    f = np.asarray(folds)
    pred = np.full_like(y, np.nan)
    width = np.ones_like(y)
    for k in sorted(set(folds)):
        test = f == k
        if (~test).sum() < MIN_FIT_ROWS:
            continue
        fit = fit_ridge(x[~test], y[~test], lam)
        pred[test] = fit.predict(x[test])
        width[test] = fit.spread(x[test])
    return pred, width


def _mape(pred: Array, y: Array) -> float:
    ok = ~np.isnan(pred)
    return float(np.mean(np.abs(np.exp(pred[ok] - y[ok]) - 1.0)))


def cross_validate(cells: TrainingCells, group: str, lam: float) -> tuple[float, ...]:
    """(score, then the MAPE of each kind of fold) of one candidate. The folds: by charging
    policy; by life block, so that a choice that only works for lives like the training
    ones loses; and, when the cells come from more than one batch, leave one batch out, the
    shift a new production lot brings. The score is their mean."""
    cols = [FEATURE_NAMES.index(f) for f in FEATURE_GROUPS[group]]
    x, y = cells.x[:, cols], cells.y()
    errors = [
        _mape(_out_of_fold(x, y, deal_folds(cells.policies, CV_FOLDS), lam)[0], y),
        _mape(_out_of_fold(x, y, _life_blocks(cells.lives), lam)[0], y),
    ]
    if len(set(cells.batches)) > 1:
        errors.append(_mape(_out_of_fold(x, y, list(cells.batches), lam)[0], y))
    return (math.fsum(errors) / len(errors), *errors)


def _choose(cells: TrainingCells, groups: Sequence[str]) -> tuple[str, float, float]:
    best: tuple[float, str, float] | None = None
    for group in groups:
        for lam in LAMBDA_GRID:
            score = cross_validate(cells, group, lam)[0]
            if best is None or score < best[0] - TIE:
                best = (score, group, lam)
    assert best is not None
    return best[1], best[2], best[0]


def fit_curve_model(
    cells: TrainingCells, trained_on: str, groups: Sequence[str] = tuple(FEATURE_GROUPS)
) -> CurveModel:
    """Choose the feature group (among ``groups``; the benchmark's ablation passes one) and
    lambda, fit on all the cells, calibrate the interval on the life blocks' held-out
    residuals (each divided by its leverage width)."""
    if len(cells.cell_ids) < CV_FOLDS * MIN_FIT_ROWS:
        raise ValueError(f"{len(cells.cell_ids)} training cells: too few to fit the curve model")
    group, lam, score = _choose(cells, groups)
    cols = [FEATURE_NAMES.index(f) for f in FEATURE_GROUPS[group]]
    x, y = cells.x[:, cols], cells.y()
    held, width = _out_of_fold(x, y, _life_blocks(cells.lives), lam)
    ok = ~np.isnan(held)
    low, high = conformal_offsets(((y - held) / width)[ok], finite_sample=True)
    fit = fit_ridge(x, y, lam)
    return CurveModel(
        group=group,
        features=FEATURE_GROUPS[group],
        ridge_lambda=lam,
        mean=tuple(round_sig(float(v)) for v in fit.mean),
        scale=tuple(round_sig(float(v)) for v in fit.scale),
        weights=tuple(round_sig(float(v)) for v in fit.weights),
        intercept=round_sig(fit.intercept),
        leverage_inverse=tuple(
            tuple(round_sig(float(v)) for v in row) for row in fit.inverse.tolist()
        ),
        n_train=len(cells.cell_ids),
        interval_log_offsets=(round_sig(low), round_sig(high)),
        cv_error=round_sig(score),
        trained_on=trained_on,
    )
