"""The splits of the battery benchmark (docs/battery-prediction.md, "Benchmark"): which cells
train and which are tested, per fold, and the guard that no test cell reaches a fit."""

from __future__ import annotations

from dataclasses import dataclass, field

from citychain.oracle.battery_data import BatteryDataError, CellMeta, CellSeries

__all__ = ["SPLIT_FOLDS", "Fold", "Split", "check_no_leakage", "splits"]

SPLIT_FOLDS = 5  # folds of the pooled and within-batch references
BATCHES = 2  # the batch split trains on one batch and tests on the other

# (label, training pool, test pool)
Split = tuple[str, list[str], list[str]]


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


def _within_life(ids: list[str], meta: dict[str, CellMeta]) -> list[Split]:
    out = []
    for b in sorted({meta[c].batch for c in ids}):
        mine = sorted((c for c in ids if meta[c].batch == b), key=lambda c: (meta[c].cycle_life, c))
        block = {c: i * SPLIT_FOLDS // len(mine) for i, c in enumerate(mine)}
        for k in range(SPLIT_FOLDS):
            out.append(
                (
                    f"within b{b} life block {k}",
                    [c for c in mine if block[c] != k],
                    [c for c in mine if block[c] == k],
                )
            )
    return out


def _within(ids: list[str], meta: dict[str, CellMeta]) -> list[Split]:
    out = []
    for b in sorted({meta[c].batch for c in ids}):
        mine = [c for c in ids if meta[c].batch == b]
        pols = sorted({meta[c].charge_policy for c in mine})
        fold_b = {p: i % SPLIT_FOLDS for i, p in enumerate(pols)}
        for k in range(SPLIT_FOLDS):
            out.append(
                (
                    f"within b{b} policy fold {k}",
                    [c for c in mine if fold_b[meta[c].charge_policy] != k],
                    [c for c in mine if fold_b[meta[c].charge_policy] == k],
                )
            )
    return out


def _batch(ids: list[str], meta: dict[str, CellMeta]) -> list[Split]:
    batches = sorted({meta[c].batch for c in ids})
    if len(batches) != BATCHES:
        raise BatteryDataError(f"the benchmark needs exactly two batches, got {batches}")
    return [
        (
            f"train b{tr} -> test b{te}",
            [c for c in ids if meta[c].batch == tr],
            [c for c in ids if meta[c].batch == te],
        )
        for tr, te in (batches, batches[::-1])
    ]


def _pooled(ids: list[str], meta: dict[str, CellMeta]) -> list[Split]:
    policies = sorted({meta[c].charge_policy for c in ids})
    fold_of = {p: i % SPLIT_FOLDS for i, p in enumerate(policies)}
    return [
        (
            f"policy fold {k}",
            [c for c in ids if fold_of[meta[c].charge_policy] != k],
            [c for c in ids if fold_of[meta[c].charge_policy] == k],
        )
        for k in range(SPLIT_FOLDS)
    ]


PAPER_TRAIN, PAPER_TEST = "Train", "Prim. Test"


def _paper(ids: list[str], meta: dict[str, CellMeta]) -> list[Split]:
    train = [c for c in ids if meta[c].paper_split == PAPER_TRAIN]
    test = [c for c in ids if meta[c].paper_split == PAPER_TEST]
    if not train or not test:
        raise BatteryDataError("cells.csv has no paper_split column with Train and Prim. Test")
    return [("paper: Train -> Prim. Test", train, test)]


_MODES = {
    "within-life": _within_life,
    "within": _within,
    "batch": _batch,
    "pooled": _pooled,
    "paper": _paper,
}


def splits(cells: list[CellSeries], meta: dict[str, CellMeta], mode: str) -> list[Split]:
    """(label, training pool, test pool). 'batch': each batch trains for the other.
    'pooled': 5 folds by charging policy over all cells (a reference without batch shift).
    'within': 5 folds by charging policy inside each batch (never across batches): the
    cross-validation on which design decisions were made. 'within-life': inside each batch,
    5 contiguous blocks of cells sorted by cycle life, each held out in turn (the held-out
    cells live shorter or longer than most training cells: a shift proxy from one batch).
    'paper': Severson et al.'s own split, train on its "Train" cells and test on its
    "Prim. Test" cells (each has cells of both batches)."""
    if mode not in _MODES:
        raise ValueError(f"unknown split mode {mode!r}")
    return _MODES[mode](sorted(c.cell_id for c in cells), meta)
