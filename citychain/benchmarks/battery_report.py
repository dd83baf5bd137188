"""The battery benchmark's figures and its printed report (docs/battery-prediction.md,
"Benchmark"): MAPE, RMSE, share within 15 % and the 80 % interval's coverage, per cut-off and
predictor, pooled over the folds and per direction."""

from __future__ import annotations

import datetime
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from citychain.benchmarks.battery_splits import Fold
from citychain.benchmarks.battery_variants import (
    CURVE_BASELINE,
    MAIN,
    MEAN_BASELINE,
    RATED_NOMINAL_AH,
    VARIANTS,
)
from citychain.oracle.battery_data import CellMeta
from citychain.oracle.eol_model import DEFAULT_THRESHOLD

__all__ = [
    "COVERAGE_GOAL",
    "GOALS",
    "Metrics",
    "coverage_met",
    "format_report",
    "predictor_metrics",
    "summarise",
]

WITHIN_BAND = 0.15  # a prediction within 15 % of the true life counts as "±15%"
CENTRE_LOW_HIGH = 3  # a prediction with an interval: [centre, low, high]; a baseline: [centre]
GOALS = {100: 20.0, 300: 10.0, 500: 6.0}  # MAPE goals (%) of issue 5, per cut-off
COVERAGE_GOAL = (75.0, 85.0)  # % of true lives inside the 80 % interval, issue 5


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
            within15=100.0 * float(np.mean(rel <= WITHIN_BAND)),
            coverage=cov,
        )


def predictor_metrics(
    mine: Sequence[Fold], name: str, meta: Mapping[str, CellMeta]
) -> dict[str, Any]:
    """One predictor's figures at one cut-off: pooled over the folds, and per fold."""
    pred, true, ivals = [], [], []
    for f in mine:
        for cid, p in f.predictions[name].items():
            pred.append(p[0])
            true.append(meta[cid].cycle_life)
            ivals.append((p[1], p[2]) if len(p) == CENTRE_LOW_HIGH else (math.nan, math.nan))
    has_iv = all(not math.isnan(lo) for lo, _ in ivals)
    out = asdict(Metrics.of(pred, true, ivals if has_iv else None))
    out["by_direction"] = {
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
    return out


def summarise(
    folds: list[Fold], meta: dict[str, CellMeta], cutoffs: Sequence[int]
) -> dict[str, Any]:
    """The report as plain data (JSON-ready): figures per cut-off and predictor, and the
    folds with every prediction."""
    results: dict[str, dict[str, Any]] = {}
    for cutoff in cutoffs:
        mine = [f for f in folds if f.cutoff == cutoff]
        if mine:
            names = list(mine[0].predictions)
            results[str(cutoff)] = {name: predictor_metrics(mine, name, meta) for name in names}
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


def coverage_met(coverage: float | None) -> bool:
    """Whether an 80 % interval's coverage (%) is within COVERAGE_GOAL."""
    return coverage is not None and COVERAGE_GOAL[0] <= coverage <= COVERAGE_GOAL[1]


def _verdicts(results: dict[str, Any]) -> list[str]:
    lines = ["goals (model, batch split):"]
    for cutoff, row in results.items():
        m = row[MAIN]
        beats = all(m["mape"] < row[b]["mape"] for b in (MEAN_BASELINE, CURVE_BASELINE))
        goal = GOALS.get(int(cutoff))
        mape = "no goal" if goal is None else ("met" if m["mape"] <= goal else "NOT met")
        cov = m["coverage"]
        cov_ok = coverage_met(cov)
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
