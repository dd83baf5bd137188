"""``citychain bench battery``: end-of-life prediction, train on one batch, test on the other.

Method (docs/battery-prediction.md): for each cut-off c in 100, 200, 300, 500 and each
direction (train batch 1 -> test batch 2, then the reverse), the model is fitted in this run on
the training batch's cells that lived past c; its lambda, blend weight and interval come from
cross-validation inside the training batch only, and trajectory matching's library holds the
training batch's curves only. Each test cell still alive at c (cycle life
> c) is predicted from its cycles <= c. Figures pool both directions, so every cell alive at c
is scored exactly once, as a test cell. The two baselines (``baselines``) and the ablation
variants run on the same splits in the same run.

The leakage guard: the cells whose data reach ``fit_cutoff`` are recorded per fold and checked
to be disjoint from the fold's test cells and all of the training batch (``check_no_leakage``).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from citychain.benchmarks.battery_curves import (
    ABLATION,
    CURVE_CUTOFF,
    CURVE_MODEL,
    curve_predictions,
    curve_section,
    format_curve_section,
)
from citychain.benchmarks.battery_report import Metrics, format_report, summarise
from citychain.benchmarks.battery_splits import Fold, check_no_leakage, splits
from citychain.benchmarks.battery_variants import (
    CURVE_BASELINE,
    DEFAULT_CUTOFFS,
    MAIN,
    MEAN_BASELINE,
    RATED_NOMINAL_AH,
    VARIANTS,
)
from citychain.oracle import baselines
from citychain.oracle.battery_data import (
    BatteryDataError,
    CellMeta,
    CellSeries,
    default_data_dir,
)
from citychain.oracle.curve_model import load_training_data
from citychain.oracle.eol_features import PredictionError
from citychain.oracle.eol_model import (
    ALL_FEATURES,
    DEFAULT_THRESHOLD,
    CutoffModel,
    LibraryCell,
    cell_features,
    fit_cutoff,
    life_from_log,
    matched_log,
    trailing_median,
    training_curve,
    training_rows,
)
from citychain.oracle.trajectory import Curve, match_life, query_of

__all__ = [
    "MAIN",
    "VARIANTS",
    "Fold",
    "Metrics",
    "check_no_leakage",
    "format_report",
    "main",
    "run_benchmark",
    "run_curve_section",
    "run_folds",
]

MIN_TRAIN_CELLS = 5  # a fold with fewer training cells alive at the cut-off is not run
MIN_CUTOFF = 50  # cycles: the features need a history (the smoothing alone takes 21)


def _features_at(
    cells: list[CellSeries], meta: dict[str, CellMeta], cutoff: int
) -> dict[str, np.ndarray[Any, np.dtype[np.float64]]]:
    out = {}
    for cell in cells:
        if meta[cell.cell_id].cycle_life <= cutoff:
            continue
        seen = cell.upto(cutoff)
        out[cell.cell_id] = cell_features(
            np.asarray(seen.cycles, dtype=np.float64),
            np.asarray(seen.capacity_ah, dtype=np.float64),
            RATED_NOMINAL_AH,
            DEFAULT_THRESHOLD,
        )
    return out


def _matched_at(
    cells: list[CellSeries], test_ids: list[str], library: list[Curve], cutoff: int
) -> dict[str, tuple[float, float] | None]:
    """Trajectory matching's end of life of each test cell from its cycles <= cutoff,
    against the training pool's curves only."""
    out: dict[str, tuple[float, float] | None] = {}
    by_id = {c.cell_id: c for c in cells}
    for cid in test_ids:
        seen = by_id[cid].upto(cutoff)
        n = np.asarray(seen.cycles, dtype=np.float64)
        s = trailing_median(np.asarray(seen.capacity_ah, dtype=np.float64) / RATED_NOMINAL_AH)
        g, v = query_of(n, s)
        m = match_life(library, g, v, float(cutoff))
        out[cid] = m
    return out


def _predict_life(
    model: CutoffModel,
    x: np.ndarray[Any, np.dtype[np.float64]],
    cutoff: int,
    matched: tuple[float, float] | None,
) -> list[float]:
    """[centre, low, high] as floats (the benchmark scores before the integer rounding)."""
    cols = [ALL_FEATURES.index(f) for f in model.features]
    tm = matched_log(None if matched is None else matched[0], float(cutoff), model.target)
    spread = None if matched is None else matched[1]
    logs = np.array(model.log_interval(x[cols], tm, spread))
    return [float(v) for v in life_from_log(logs, cutoff, model.target)]


def run_benchmark(
    cells: list[CellSeries],
    meta: dict[str, CellMeta],
    cutoffs: Sequence[int] = DEFAULT_CUTOFFS,
    variants: Sequence[str] = tuple(VARIANTS),
    mode: str = "batch",
) -> dict[str, Any]:
    """Every fold, variant and baseline; returns the report as plain data (JSON-ready)."""
    return summarise(run_folds(cells, meta, cutoffs, variants, mode), meta, cutoffs)


def run_curve_section(
    cells: list[CellSeries],
    meta: dict[str, CellMeta],
    features: dict[str, np.ndarray[Any, np.dtype[np.float64]]],
    batch_folds: list[Fold] | None = None,
) -> dict[str, Any]:
    """The curve model beside the capacity model and the baselines at cut-off 100, on the
    paper's split and across batches (``batch_folds``: the batch split's folds at 100 from
    the main run, if it made them)."""
    by_mode = {
        "paper": run_folds(cells, meta, (CURVE_CUTOFF,), [MAIN], mode="paper"),
        "batch": batch_folds or run_folds(cells, meta, (CURVE_CUTOFF,), [MAIN], mode="batch"),
    }
    chosen = {}
    for folds in by_mode.values():
        for fold in folds:
            model, fold.predictions[CURVE_MODEL] = curve_predictions(fold, features, meta)
            for row, group in ABLATION.items():
                fold.predictions[row] = curve_predictions(fold, features, meta, (group,))[1]
            chosen[fold.split] = (
                f"group {model.group}, lambda {model.ridge_lambda}, "
                f"CV error {100 * model.cv_error:.1f} %"
            )
    return curve_section(by_mode, meta, chosen)


def run_folds(
    cells: list[CellSeries],
    meta: dict[str, CellMeta],
    cutoffs: Sequence[int] = DEFAULT_CUTOFFS,
    variants: Sequence[str] = tuple(VARIANTS),
    mode: str = "batch",
) -> list[Fold]:
    """Every fold of one split mode with the predictions of each variant and baseline."""
    by_id = {c.cell_id: c for c in cells}
    folds: list[Fold] = []
    cache: dict[tuple[str, int], np.ndarray[Any, np.dtype[np.float64]]] = {}
    match_cache: dict[tuple[str, int, tuple[str, ...]], tuple[float, float] | None] = {}
    curves: dict[str, Curve] = {}  # filled from training pools only
    for cutoff in cutoffs:
        feats = _features_at(cells, meta, cutoff)
        for label, pool, test_pool in splits(cells, meta, mode):
            train_ids = [c for c in pool if c in feats]
            test_ids = [c for c in test_pool if c in feats]
            if len(train_ids) < MIN_TRAIN_CELLS or not test_ids:
                continue
            fold = Fold(cutoff, label, pool, train_ids, test_ids, fitted_on=[])
            check_no_leakage(fold)
            train_cells = [by_id[c] for c in pool]
            lives = {c: meta[c].cycle_life for c in pool}
            groups = {c: meta[c].charge_policy for c in pool}
            # trajectory matching's library: the training pool's curves, nothing else
            for c in pool:
                if c not in curves:
                    curves[c] = training_curve(by_id[c], lives[c], RATED_NOMINAL_AH)
            library = [LibraryCell(c, groups[c], curves[c]) for c in pool]
            matched = _matched_at(cells, test_ids, [lc.curve for lc in library], cutoff)
            for name in variants:
                rows = training_rows(
                    train_cells,
                    lives,
                    groups,
                    cutoff,
                    VARIANTS[name],
                    RATED_NOMINAL_AH,
                    DEFAULT_THRESHOLD,
                    cache,
                )
                opts = VARIANTS[name]
                lib = library if opts.trajectory else []
                used = set(rows.cell_ids) | {lc.cell_id for lc in lib}
                fold.fitted_on = sorted(set(fold.fitted_on) | used)
                check_no_leakage(fold)
                model = fit_cutoff(rows, cutoff, opts, lib, match_cache)
                fold.predictions[name] = {
                    c: _predict_life(model, feats[c], cutoff, matched[c] if lib else None)
                    for c in test_ids
                }
            # the baselines see the same training lives only
            pool_lives = [lives[c] for c in pool]
            mean, lo, hi = baselines.mean_life(pool_lives, cutoff)
            fold.predictions[MEAN_BASELINE] = {c: [mean, lo, hi] for c in test_ids}
            cap = float(max(pool_lives))
            fold.predictions[CURVE_BASELINE] = {
                c: [
                    baselines.curve_extrapolation(
                        list(by_id[c].upto(cutoff).cycles),
                        list(by_id[c].upto(cutoff).capacity_ah),
                        RATED_NOMINAL_AH,
                        DEFAULT_THRESHOLD,
                        cap,
                    )
                ]
                for c in test_ids
            }
            folds.append(fold)
    return folds


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="citychain bench battery",
        description="End-of-life prediction benchmark on the Severson/Attia cells "
        "(docs/battery-prediction.md).",
    )
    parser.add_argument(
        "--data",
        metavar="DIR",
        help="the data folder (default: $CITYCHAIN_BATTERY_DATA or ../shared/data/battery)",
    )
    parser.add_argument(
        "--cutoffs",
        default=",".join(map(str, DEFAULT_CUTOFFS)),
        help="comma-separated cut-off cycles",
    )
    parser.add_argument(
        "--no-ablation", action="store_true", help="the model and baselines only, batch split"
    )
    parser.add_argument("--json", metavar="FILE", help="also write the full report as JSON")
    args = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
    try:
        cutoffs = tuple(int(c) for c in args.cutoffs.split(","))
    except ValueError:
        parser.error("--cutoffs must be comma-separated whole numbers")
    if not cutoffs or min(cutoffs) < MIN_CUTOFF:
        parser.error(f"cut-offs must be at least {MIN_CUTOFF} cycles")
    started = time.monotonic()
    folder = Path(args.data) if args.data else default_data_dir()
    try:
        cells, meta, features = load_training_data(folder)
    except (BatteryDataError, PredictionError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    variants = [MAIN] if args.no_ablation else list(VARIANTS)
    folds = run_folds(cells, meta, cutoffs, variants)
    report = summarise(folds, meta, cutoffs)
    at_100 = [f for f in folds if f.cutoff == CURVE_CUTOFF]
    report["curves"] = run_curve_section(cells, meta, features, at_100 or None)
    if not args.no_ablation:
        pooled = run_benchmark(cells, meta, cutoffs, [MAIN], mode="pooled")
        report["reference_pooled"] = pooled["results"]
        report["reference_pooled_folds"] = pooled["folds"]
        within = run_benchmark(cells, meta, cutoffs, [MAIN], mode="within")
        report["reference_within"] = within["results"]
        within_life = run_benchmark(cells, meta, cutoffs, [MAIN], mode="within-life")
        report["reference_within_life"] = within_life["results"]
    words = list(sys.argv[1:] if argv is None else argv)
    report["command"] = " ".join(["citychain bench battery", *words])
    report["seconds"] = round(time.monotonic() - started, 1)
    print(format_report(report, ablation=not args.no_ablation))
    print("\n".join(format_curve_section(report["curves"])))
    print(f"({report['seconds']} s)")
    if args.json:
        Path(args.json).write_text(
            json.dumps(report, indent=1, sort_keys=True) + "\n", encoding="utf-8"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
