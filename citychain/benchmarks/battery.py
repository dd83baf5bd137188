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
import datetime
import json
import math
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from citychain.oracle import baselines
from citychain.oracle.battery_data import (
    BatteryDataError,
    CellMeta,
    CellSeries,
    default_data_dir,
    load_dataset,
)
from citychain.oracle.eol_model import (
    ALL_FEATURES,
    AUGMENT_FACTORS,
    BASE_FEATURES,
    CURVE_FEATURES,
    DEFAULT_THRESHOLD,
    KNEE_FEATURES,
    CutoffModel,
    FitOptions,
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

__all__ = ["VARIANTS", "Fold", "Metrics", "check_no_leakage", "main", "run_benchmark"]

RATED_NOMINAL_AH = 1.1  # the data's definition: EOL below 0.88 Ah = 80 % of 1.1 Ah
DEFAULT_CUTOFFS = (100, 200, 300, 500)

# Each row removes or changes one lever of the model (FitOptions() is the model); "tried"
# rows are levers that did not help in the within-batch cross-validation and were not kept.
# Each row removes or changes one lever of the model (FitOptions() is the model); "tried"
# rows are levers that did not help in the within-batch cross-validation and were not kept.
VARIANTS: dict[str, FitOptions] = {
    "model (all levers)": FitOptions(),
    "previous model (committed before this change)": FitOptions(
        augment=AUGMENT_FACTORS, select=False, lambda_select="policy", finite_sample=False
    ),
    "- finite-sample conformal correction": FitOptions(finite_sample=False),
    "- wide time augmentation (0.7-1.5x)": FitOptions(augment=AUGMENT_FACTORS),
    "- lambda scored on life blocks (policy folds only)": FitOptions(lambda_select="policy"),
    "- CV picks feature group and augmentation": FitOptions(select=False),
    "- trajectory matching (ridge, life-block intervals)": FitOptions(trajectory=False),
    "- life-block calibration (policy-fold residuals)": FitOptions(calibrate="policy"),
    "- curve extrapolation features": FitOptions(features=BASE_FEATURES + KNEE_FEATURES),
    "- knee-sign features": FitOptions(features=BASE_FEATURES + CURVE_FEATURES),
    "- survival conditioning (target log EOL)": FitOptions(target="life"),
    "tried: + blend weight also scored on life blocks": FitOptions(blend_select="both"),
    "tried: + match-spread interval width": FitOptions(width="match-spread"),
    "tried: + pooled policy and life-block residuals": FitOptions(calibrate="pooled"),
}
MAIN = "model (all levers)"
MEAN_BASELINE = "baseline: training mean life (alive at cut-off)"
CURVE_BASELINE = "baseline: per-cell linear extrapolation"


@dataclass
class Metrics:
    n: int
    mape: float
    rmse: float
    within15: float
    coverage: float | None

    @staticmethod
    def of(
        pred: Sequence[float], true: Sequence[int], intervals: Sequence[tuple[float, float]] | None
    ) -> Metrics:
        p = np.asarray(pred, dtype=np.float64)
        t = np.asarray(true, dtype=np.float64)
        rel = np.abs(p - t) / t
        cov = None
        if intervals is not None:
            inside = [lo <= life <= hi for (lo, hi), life in zip(intervals, true, strict=True)]
            cov = 100.0 * sum(inside) / len(inside)
        return Metrics(
            n=len(t),
            mape=100.0 * float(rel.mean()),
            rmse=float(math.sqrt(float(np.mean((p - t) ** 2)))),
            within15=100.0 * float(np.mean(rel <= 0.15)),
            coverage=cov,
        )


@dataclass
class Fold:
    cutoff: int
    split: str  # "train b1 -> test b2", or "policy fold k" for the pooled reference
    pool: list[str]  # every cell the fold may train on (a whole batch, or the other folds)
    train_ids: list[str]  # those alive at the cut-off
    test_ids: list[str]
    fitted_on: list[str]  # the cells whose rows reached fit_cutoff (leakage guard)
    predictions: dict[str, dict[str, list[float]]] = field(default_factory=dict)


def check_no_leakage(fold: Fold) -> None:
    """Raise if any test cell reached fitting or calibration of this fold."""
    fitted, pool, test = set(fold.fitted_on), set(fold.pool), set(fold.test_ids)
    if fitted & test or pool & test:
        raise AssertionError(f"leak: test cells in fit data at cut-off {fold.cutoff}")
    if not fitted <= pool:
        raise AssertionError(f"leak: cells outside the training pool fitted at {fold.cutoff}")


def _splits(
    cells: list[CellSeries], meta: dict[str, CellMeta], mode: str
) -> list[tuple[str, list[str], list[str]]]:
    """(label, training pool, test pool). 'batch': each batch trains for the other.
    'pooled': 5 folds by charging policy over all cells (a reference without batch shift).
    'within': 5 folds by charging policy inside each batch (never across batches): the
    cross-validation on which design decisions were made. 'within-life': inside each batch,
    5 contiguous blocks of cells sorted by cycle life, each held out in turn (the held-out
    cells live shorter or longer than most training cells: a shift proxy from one batch)."""
    ids = sorted(c.cell_id for c in cells)
    if mode == "within-life":
        out = []
        for b in sorted({meta[c].batch for c in ids}):
            mine = sorted(
                (c for c in ids if meta[c].batch == b), key=lambda c: (meta[c].cycle_life, c)
            )
            block = {c: i * 5 // len(mine) for i, c in enumerate(mine)}
            for k in range(5):
                out.append(
                    (
                        f"within b{b} life block {k}",
                        [c for c in mine if block[c] != k],
                        [c for c in mine if block[c] == k],
                    )
                )
        return out
    if mode == "within":
        out = []
        for b in sorted({meta[c].batch for c in ids}):
            mine = [c for c in ids if meta[c].batch == b]
            pols = sorted({meta[c].charge_policy for c in mine})
            fold_b = {p: i % 5 for i, p in enumerate(pols)}
            for k in range(5):
                out.append(
                    (
                        f"within b{b} policy fold {k}",
                        [c for c in mine if fold_b[meta[c].charge_policy] != k],
                        [c for c in mine if fold_b[meta[c].charge_policy] == k],
                    )
                )
        return out
    if mode == "batch":
        batches = sorted({meta[c].batch for c in ids})
        if len(batches) != 2:
            raise BatteryDataError(f"the benchmark needs exactly two batches, got {batches}")
        return [
            (
                f"train b{tr} -> test b{te}",
                [c for c in ids if meta[c].batch == tr],
                [c for c in ids if meta[c].batch == te],
            )
            for tr, te in (batches, batches[::-1])
        ]
    if mode != "pooled":
        raise ValueError(f"unknown split mode {mode!r}")
    policies = sorted({meta[c].charge_policy for c in ids})
    fold_of = {p: i % 5 for i, p in enumerate(policies)}
    return [
        (
            f"policy fold {k}",
            [c for c in ids if fold_of[meta[c].charge_policy] != k],
            [c for c in ids if fold_of[meta[c].charge_policy] == k],
        )
        for k in range(5)
    ]


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
    by_id = {c.cell_id: c for c in cells}
    folds: list[Fold] = []
    cache: dict[tuple[str, int], np.ndarray[Any, np.dtype[np.float64]]] = {}
    match_cache: dict[tuple[str, int, tuple[str, ...]], tuple[float, float] | None] = {}
    curves: dict[str, Curve] = {}  # filled from training pools only
    for cutoff in cutoffs:
        feats = _features_at(cells, meta, cutoff)
        for label, pool, test_pool in _splits(cells, meta, mode):
            train_ids = [c for c in pool if c in feats]
            test_ids = [c for c in test_pool if c in feats]
            if len(train_ids) < 5 or not test_ids:
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
    return _summarise(folds, meta, cutoffs)


def _summarise(
    folds: list[Fold], meta: dict[str, CellMeta], cutoffs: Sequence[int]
) -> dict[str, Any]:
    results: dict[str, dict[str, Any]] = {}
    for cutoff in cutoffs:
        mine = [f for f in folds if f.cutoff == cutoff]
        if not mine:
            continue
        names = list(mine[0].predictions)
        row: dict[str, Any] = {}
        for name in names:
            pred, true, ivals = [], [], []
            for f in mine:
                for cid, p in f.predictions[name].items():
                    pred.append(p[0])
                    true.append(meta[cid].cycle_life)
                    ivals.append((p[1], p[2]) if len(p) == 3 else (math.nan, math.nan))
            has_iv = all(not math.isnan(lo) for lo, _ in ivals)
            row[name] = asdict(Metrics.of(pred, true, ivals if has_iv else None))
            row[name]["by_direction"] = {
                f.split: asdict(
                    Metrics.of(
                        [f.predictions[name][c][0] for c in f.test_ids],
                        [meta[c].cycle_life for c in f.test_ids],
                        [(f.predictions[name][c][1], f.predictions[name][c][2]) for c in f.test_ids]
                        if has_iv
                        else None,
                    )
                )
                for f in mine
            }
        results[str(cutoff)] = row
    return {
        "benchmark": "battery end of life: train on one batch, test on the other",
        "date": datetime.date.today().isoformat(),
        "threshold_ah": DEFAULT_THRESHOLD * RATED_NOMINAL_AH,
        "cutoffs": list(cutoffs),
        "results": results,
        "folds": [
            {
                "cutoff": f.cutoff,
                "split": f.split,
                "pool": f.pool,
                "train_ids": f.train_ids,
                "test_ids": f.test_ids,
                "fitted_on": f.fitted_on,
                "predictions": f.predictions,
            }
            for f in folds
        ],
    }


def _fmt(v: float | None, unit: str = "") -> str:
    return "   -  " if v is None else f"{v:6.1f}{unit}"


GOALS = {100: 20.0, 300: 10.0, 500: 6.0}  # MAPE goals of issue 5; coverage 75-85 %


def _table(results: dict[str, Any], names: Sequence[str]) -> list[str]:
    lines = [
        f"{'cut-off':>7} {'predictor':<46} {'n':>3} {'MAPE%':>6} {'RMSE':>6} {'±15%':>6} "
        f"{'cov80%':>6}"
    ]
    for cutoff, row in results.items():
        for name in [n for n in row if n in names]:
            m = row[name]
            lines.append(
                f"{cutoff:>7} {name[:46]:<46} {m['n']:>3} {m['mape']:6.1f} {m['rmse']:6.0f} "
                f"{m['within15']:6.1f} {_fmt(m['coverage'])}"
            )
        lines.append("")
    return lines


def _verdicts(results: dict[str, Any]) -> list[str]:
    lines = ["goals (model, batch split):"]
    for cutoff, row in results.items():
        m = row[MAIN]
        beats = all(m["mape"] < row[b]["mape"] for b in (MEAN_BASELINE, CURVE_BASELINE))
        goal = GOALS.get(int(cutoff))
        mape = "no goal" if goal is None else ("met" if m["mape"] <= goal else "NOT met")
        cov = m["coverage"]
        cov_ok = cov is not None and 75.0 <= cov <= 85.0
        lines.append(
            f"  {cutoff:>4}: MAPE {m['mape']:.1f}% (goal {goal or '-'}: {mape}); coverage "
            f"{_fmt(cov).strip()}% ({'met' if cov_ok else 'NOT met'}); better than both "
            f"baselines: {'yes' if beats else 'NO'}"
        )
    return lines


def format_report(report: dict[str, Any], ablation: bool = True) -> str:
    main_names = [MAIN, MEAN_BASELINE, CURVE_BASELINE]
    lines = [
        f"battery EOL benchmark ({report['date']}): train on one batch, test on the other, "
        "both directions pooled",
        f"EOL = first cycle below {report['threshold_ah']:.2f} Ah; test cells alive at the "
        "cut-off only",
        "",
        *_table(report["results"], main_names),
        *_verdicts(report["results"]),
    ]
    if ablation:
        lines += [
            "",
            "ablation (same splits, same run):",
            *_table(report["results"], list(VARIANTS)),
        ]
    if "reference_pooled" in report:
        lines += [
            "",
            "reference without batch shift: 5 folds by charging policy over both batches",
            *_table(report["reference_pooled"], main_names),
        ]
    if "reference_within" in report:
        lines += [
            "",
            "cross-validation inside each batch (5 folds by charging policy; design decisions)",
            *_table(report["reference_within"], main_names),
        ]
    if "reference_within_life" in report:
        lines += [
            "",
            "cross-validation inside each batch, 5 folds by cycle-life block (a shift proxy)",
            *_table(report["reference_within_life"], main_names),
        ]
    return "\n".join(lines)


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
    if not cutoffs or min(cutoffs) < 50:
        parser.error("cut-offs must be at least 50 cycles")
    started = time.monotonic()
    cells, meta = load_dataset(Path(args.data) if args.data else default_data_dir())
    variants = [MAIN] if args.no_ablation else list(VARIANTS)
    report = run_benchmark(cells, meta, cutoffs, variants)
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
    print(f"({report['seconds']} s)")
    if args.json:
        Path(args.json).write_text(
            json.dumps(report, indent=1, sort_keys=True) + "\n", encoding="utf-8"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
