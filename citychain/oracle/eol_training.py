"""What a cut-off's model is fitted on (docs/battery-prediction.md, "Regression"): the fit's
options, the feature rows of the training cells (time-augmented) and their curves for
trajectory matching. Only training cells are ever seen here."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from citychain.oracle.battery_data import CellSeries
from citychain.oracle.eol_features import ALL_FEATURES, Array, cell_features, trailing_median
from citychain.oracle.trajectory import Curve, curve_of

__all__ = [
    "AUGMENT_FACTORS",
    "DEFAULT_OPTIONS",
    "WIDE_AUGMENT",
    "FitOptions",
    "LibraryCell",
    "TrainingRows",
    "augmented_cutoffs",
    "training_curve",
    "training_rows",
]

# Time augmentation: a cut-off's model also learns from the training cells seen at these
# multiples of the cut-off, so it sees a wider range of degradation states (a long-lived cell
# late in life looks like a short-lived one early); log_cycle tells the states apart.
AUGMENT_FACTORS = (0.7, 0.8, 0.9, 1.0, 1.1, 1.2, 1.3, 1.4, 1.5)
WIDE_AUGMENT = (0.4, 0.5, 0.6, *AUGMENT_FACTORS, 1.75, 2.0)
# the earliest cycle a training cell is seen at, however small the augmentation factor
MIN_AUGMENTED_CUTOFF = 20


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


DEFAULT_OPTIONS = FitOptions()


def augmented_cutoffs(cutoff: int, options: FitOptions) -> list[int]:
    return sorted({max(MIN_AUGMENTED_CUTOFF, round(cutoff * f)) for f in options.augment})


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
