"""Ridge regression on standardised features and its out-of-fold predictions
(docs/battery-prediction.md, "Regression").

Everything a parameter file holds is computed here with numpy; the committed model's
prediction is recomputed in plain Python sums (``CutoffModel.log_target``), so that it does
not depend on the BLAS.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from citychain.oracle.eol_features import Array, Mask

__all__ = ["CV_FOLDS", "MIN_FIT_ROWS", "RidgeFit", "deal_folds", "fit_ridge", "out_of_fold_ridge"]

CV_FOLDS = 5
# fewest rows a ridge is fitted on, and fewest held-out cells a score is made of
MIN_FIT_ROWS = 3
# a feature with less spread than this is constant: it is centred, not scaled
MIN_SCALE = 1e-12
# lambda is per this many rows, so that its meaning does not change with the number of rows
LAMBDA_ROWS = 10.0


@dataclass(frozen=True)
class RidgeFit:
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


def fit_ridge(x: Array, y: Array, lam: float) -> RidgeFit:
    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    scale = np.where(scale > MIN_SCALE, scale, 1.0)
    z = (x - mean) / scale
    y0 = float(y.mean())
    a = z.T @ z + lam * len(y) / LAMBDA_ROWS * np.eye(z.shape[1])
    inverse = np.linalg.inv(a)
    w = inverse @ (z.T @ (y - y0))
    return RidgeFit(mean, scale, w, y0, inverse, len(y))


def deal_folds(groups: Sequence[str], k: int) -> list[int]:
    """Deterministic fold of each row: distinct groups in sorted order, dealt round-robin."""
    order = sorted(set(groups))
    fold_of = {g: i % k for i, g in enumerate(order)}
    return [fold_of[g] for g in groups]


def out_of_fold_ridge(
    xs: Array, y: Array, use: Mask, at_cut: Mask, folds: Array, lam: float, leverage: bool
) -> tuple[Array, Array]:
    """Out-of-fold ridge predictions (and leverage spreads) of the rows at the cut-off; rows
    of fold -1 are never held out. A fold with no row at the cut-off, or too few rows left to
    fit on, predicts nothing (NaN)."""
    oof = np.full_like(y, np.nan)
    spread = np.ones_like(y)
    for k in sorted({int(f) for f in folds} - {-1}):
        test = (folds == k) & at_cut
        train = (folds != k) & use
        if not test.any() or train.sum() < MIN_FIT_ROWS:
            continue
        fit = fit_ridge(xs[train], y[train], lam)
        oof[test] = fit.predict(xs[test])
        spread[test] = fit.spread(xs[test]) if leverage else 1.0
    return oof, spread
