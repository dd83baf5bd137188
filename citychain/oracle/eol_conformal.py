"""The prediction interval (docs/battery-prediction.md, "Interval"): split-conformal in log
space, from the residuals of held-out training cells, each divided by the width the model
would give that cell, so that a new cell's interval scales with its own width.

The residuals come from leave-one-life-block-out folds by default (``life_blocks``): the
training cells alive at the cut-off, sorted by life, in CV_FOLDS contiguous blocks, a stand-in
for a population shift; with the finite-sample split-conformal correction of the quantiles.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from citychain.oracle.eol_features import Array, Mask
from citychain.oracle.eol_params import INTERVAL_QUANTILES, Calibration, round_sig
from citychain.oracle.eol_ridge import CV_FOLDS
from citychain.oracle.eol_training import FitOptions, TrainingRows

__all__ = ["HeldOut", "calibrate", "conformal_offsets", "life_blocks"]

# (n + 1) q a hair above a whole number is that number (float error must not round it up)
QUANTILE_EPSILON = 1e-9
# floor of the match-spread scale (log life): a library of identical matches is not certain
MIN_SPREAD_SCALE = 1e-3


@dataclass(frozen=True)
class HeldOut:
    """Out-of-fold predictions of the rows at the cut-off under one set of folds (log
    target): the ridge's with its leverage widths, and trajectory matching's (the ridge's
    where no match was found) with the spread of its best matches (NaN: none)."""

    ridge: Array  # NaN where the row was not predicted
    spread: Array
    scored: Mask  # rows at the cut-off with a prediction
    matched: Array | None = None
    matched_spread: Array | None = None


def life_blocks(rows: TrainingRows, at_cut: Mask) -> dict[str, int]:
    """CV_FOLDS contiguous blocks of the training cells alive at the cut-off, sorted by cycle
    life: holding one out asks the model for cells shorter- or longer-lived than all it was
    fitted on. Cells not alive at the cut-off are in no block (always fitted on)."""
    life = {cid: float(v) for cid, v, a in zip(rows.cell_ids, rows.lives, at_cut, strict=True) if a}
    order = sorted(life, key=lambda c: (life[c], c))
    return {c: i * CV_FOLDS // len(order) for i, c in enumerate(order)}


def conformal_offsets(residuals: Array, finite_sample: bool) -> tuple[float, float]:
    """The interval's offsets: the INTERVAL_QUANTILES of held-out residuals. With
    ``finite_sample`` the split-conformal correction: the upper level is ceil((n + 1) q) / n
    (the lower one symmetric), because the quantiles of n residuals under-cover a new cell,
    most of all when n is small (few training cells alive late in life)."""
    lo_q, hi_q = INTERVAL_QUANTILES
    n = len(residuals)
    if finite_sample and n:
        hi_q = min(1.0, math.ceil((n + 1) * hi_q - QUANTILE_EPSILON) / n)
        lo_q = 1.0 - hi_q
    low, high = np.quantile(residuals, (lo_q, hi_q))
    return float(low), float(high)


def _normalised(
    y: Array,
    held: HeldOut,
    weight: float,
    disagreement_scale: float,
    spread_scale: float,
    options: FitOptions,
) -> tuple[Array, Array, float]:
    """Held-out residuals of the ridge and of the blend, each divided by its width, and the
    match-spread scale (``spread_scale`` if set, else the median spread of these cells)."""
    ridge_res = ((y - held.ridge) / held.spread)[held.scored]
    t, sdv = held.matched, held.matched_spread
    if t is None or sdv is None:
        return ridge_res, ridge_res, spread_scale
    centre = weight * held.ridge + (1.0 - weight) * t
    width = held.spread
    if disagreement_scale > 0:
        width = held.spread * (1.0 + np.abs(held.ridge - t) / disagreement_scale)
    if options.width == "match-spread":
        # per-cell uncertainty of the curve match: the spread of the k best matches'
        # lives, relative to its median over the calibration cells
        known = held.scored & ~np.isnan(sdv)
        if known.any():
            spread_scale = spread_scale or round_sig(
                max(float(np.median(sdv[known])), MIN_SPREAD_SCALE)
            )
            width = width * (1.0 + np.where(np.isnan(sdv), spread_scale, sdv) / spread_scale)
    return ridge_res, ((y - centre) / width)[held.scored], spread_scale


def calibrate(
    y: Array,
    policy: HeldOut,
    blocks: HeldOut | None,
    weight: float,
    disagreement_scale: float,
    options: FitOptions,
) -> tuple[Calibration, Calibration, float]:
    """(ridge alone, blend) interval offsets and the match-spread scale. The residuals are
    those of held-out cells under the policy folds, or (default) with whole blocks of the
    training lives held out (``blocks``; None: too few cells), or both sets pooled."""
    ridge_res, blend_res, spread_scale = _normalised(
        y, policy, weight, disagreement_scale, 0.0, options
    )
    if options.calibrate in ("life-blocks", "pooled") and blocks is not None:
        b_ridge, b_blend, spread_scale = _normalised(
            y, blocks, weight, disagreement_scale, spread_scale, options
        )
        if options.calibrate == "pooled":
            ridge_res = np.concatenate([ridge_res, b_ridge])
            blend_res = np.concatenate([blend_res, b_blend])
        else:
            ridge_res, blend_res = b_ridge, b_blend
    low, high = conformal_offsets(ridge_res, options.finite_sample)
    ridge_cal = Calibration(round_sig(low), round_sig(high))
    low, high = conformal_offsets(blend_res, options.finite_sample)
    return ridge_cal, Calibration(round_sig(low), round_sig(high)), spread_scale
