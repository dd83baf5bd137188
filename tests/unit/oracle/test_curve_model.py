"""The curve model: reproducible parameters, predictions from real curves, clear refusals, and
a benchmark whose folds never fit on a test cell's curves."""

from __future__ import annotations

import json
from dataclasses import replace
from functools import cache

import numpy as np
import pytest
from battery_fixtures import dataset

from citychain.benchmarks import battery as bench_battery
from citychain.benchmarks.battery_curves import (
    ABLATION,
    ANOMALOUS_CELL,
    CURVE_MODEL,
    curve_predictions,
)
from citychain.benchmarks.battery_splits import Fold, splits
from citychain.oracle.battery_data import CellMeta, CellSeries, default_data_dir
from citychain.oracle.curve_data import CellCurves, load_shared_curves
from citychain.oracle.curve_features import Array
from citychain.oracle.curve_model import (
    CURVE_PARAMS_PATH,
    curve_model_hash,
    fit_curve_model,
    load_curve_params,
    predict_curves,
    training_cells,
    training_features,
)
from citychain.oracle.curve_params import CurveModel
from citychain.oracle.eol_features import PredictionError


@cache
def _data() -> tuple[list[CellSeries], dict[str, CellMeta], dict[str, CellCurves]]:
    cells, meta = dataset()
    return cells, meta, load_shared_curves(default_data_dir())


@cache
def _features() -> dict[str, Array]:
    cells, _meta, curves = _data()
    return training_features(curves, cells)


def _series(cell_id: str, upto: int = 100) -> CellSeries:
    cells, _meta, _curves = _data()
    return next(c for c in cells if c.cell_id == cell_id).upto(upto)


def test_committed_parameters_are_the_fit_on_all_cells() -> None:
    _cells, meta, _curves = _data()
    features = _features()
    committed = load_curve_params()
    refit = fit_curve_model(training_cells(features, meta, features), committed.trained_on)
    assert refit == committed
    assert curve_model_hash(refit) == curve_model_hash(committed)
    doc = json.loads(CURVE_PARAMS_PATH.read_text(encoding="utf-8"))
    assert CurveModel.from_json(doc) == committed


def test_prediction_from_real_curves_is_whole_and_inside_its_interval() -> None:
    _cells, meta, curves = _data()
    model = load_curve_params()
    for cid in ("b1c1", "b2c10", "b1c30"):
        p = predict_curves(model, curves[cid], _series(cid), nominal_ah=1.1)
        assert p.low <= p.eol_cycle <= p.high
        assert p.last_cycle == 100 and p.cutoff_model == 100 and not p.observed
        assert predict_curves(model, curves[cid], _series(cid), nominal_ah=1.1) == p
        # trained on these cells: within a factor of 2 of the truth is a loose sanity bound
        assert 0.5 < p.eol_cycle / meta[cid].cycle_life < 2.0


def test_longer_lived_cell_is_predicted_longer() -> None:
    _cells, meta, curves = _data()
    model = load_curve_params()
    lives = {c: meta[c].cycle_life for c in ("b1c2", "b2c1")}  # 2237 and 148 cycles
    long_p = predict_curves(model, curves["b1c2"], _series("b1c2"), 1.1)
    short_p = predict_curves(model, curves["b2c1"], _series("b2c1"), 1.1)
    assert lives["b1c2"] > lives["b2c1"]
    assert long_p.eol_cycle > short_p.eol_cycle


def _drop_cycle(curves: CellCurves, cycle: int) -> CellCurves:
    keep = [i for i, c in enumerate(curves.cycles) if c != cycle]
    return CellCurves(
        curves.cell_id,
        tuple(curves.cycles[i] for i in keep),
        tuple(curves.voltages_v[i] for i in keep),
        tuple(curves.capacities_ah[i] for i in keep),
    )


def test_missing_required_cycle_names_cell_and_cycle() -> None:
    _cells, _meta, curves = _data()
    with pytest.raises(PredictionError, match=r"b1c1.*cycle\(s\) 100"):
        predict_curves(load_curve_params(), _drop_cycle(curves["b1c1"], 100), _series("b1c1"))


def test_curve_not_covering_the_window_is_refused() -> None:
    _cells, _meta, curves = _data()
    c = curves["b1c1"]
    i = c.cycles.index(10)
    volts, caps = c.voltages_v[i], c.capacities_ah[i]
    keep = [k for k, v in enumerate(volts) if v >= 2.5]  # stops at 2.5 V
    short = replace(
        c,
        voltages_v=(*c.voltages_v[:i], tuple(volts[k] for k in keep), *c.voltages_v[i + 1 :]),
        capacities_ah=(
            *c.capacities_ah[:i],
            tuple(caps[k] for k in keep),
            *c.capacities_ah[i + 1 :],
        ),
    )
    with pytest.raises(PredictionError, match=r"b1c1: the curve of cycle 10 covers 2\.5"):
        predict_curves(load_curve_params(), short, _series("b1c1"))


def test_glitched_curve_in_a_used_cycle_is_refused() -> None:
    _cells, _meta, curves = _data()
    c = curves["b1c1"]
    i = c.cycles.index(100)
    spiked = tuple(q * 30 for q in c.capacities_ah[i])
    bad = replace(c, capacities_ah=(*c.capacities_ah[:i], spiked, *c.capacities_ah[i + 1 :]))
    with pytest.raises(PredictionError, match="not a discharge curve"):
        predict_curves(load_curve_params(), bad, _series("b1c1"), 1.1)


def test_capacity_of_late_cycles_is_required() -> None:
    _cells, _meta, curves = _data()
    with pytest.raises(PredictionError, match=r"capacity of cycles 2\.\.100"):
        predict_curves(load_curve_params(), curves["b1c1"], _series("b1c1", upto=60), 1.1)


def test_observed_crossing_is_reported_as_observed() -> None:
    _cells, _meta, curves = _data()
    s = _series("b2c1", upto=400)  # lives 148 cycles
    p = predict_curves(load_curve_params(), curves["b2c1"], s, 1.1)
    assert p.observed and p.eol_cycle == 148


def test_fold_fit_ignores_the_test_cells_curves() -> None:
    """The leakage check extended to curves: changing every test cell's curve features does
    not change the model a fold fits, and the fold records only training ids."""
    cells, meta, _curves = _data()
    features = _features()
    label, pool, test = splits(cells, meta, "paper")[0]
    fold = Fold(100, label, pool, pool, test, fitted_on=[])
    model, preds = curve_predictions(fold, features, meta)
    assert set(fold.fitted_on) == set(pool) and not set(fold.fitted_on) & set(test)
    scrambled = {c: (v if c in pool else v * 3.0 + 1.0) for c, v in features.items()}
    fold2 = Fold(100, label, pool, pool, test, fitted_on=[])
    model2, preds2 = curve_predictions(fold2, scrambled, meta)
    assert model2 == model
    assert preds2 != preds  # the test cells' own features do reach their predictions


def test_fold_with_a_test_cell_in_training_is_refused() -> None:
    cells, meta, _curves = _data()
    label, pool, test = splits(cells, meta, "paper")[0]
    fold = Fold(100, label, pool, [*pool, test[0]], test, fitted_on=[])
    with pytest.raises(AssertionError, match="leak"):
        curve_predictions(fold, _features(), meta)


def test_curve_section_compares_on_the_papers_split_and_across_batches() -> None:
    cells, meta, _curves = _data()
    section = bench_battery.run_curve_section(cells, meta, _features())
    table = section["table"]
    paper = table["paper split, all Prim. Test cells"]
    assert paper[CURVE_MODEL]["n"] == sum(m.paper_split == "Prim. Test" for m in meta.values())
    assert (
        table[f"paper split, without {ANOMALOUS_CELL}"][CURVE_MODEL]["n"]
        == paper[CURVE_MODEL]["n"] - 1
    )
    both = table["across batches, both directions"]
    assert both[CURVE_MODEL]["n"] == len(meta)
    for row in table.values():
        assert len(row) == 4 + len(ABLATION)  # 2 models, 2 baselines, the groups alone
        for m in row.values():
            assert np.isfinite(m["mape"]) and m["mape"] > 0
    assert set(section["chosen"]) == {
        "paper: Train -> Prim. Test",
        "train b1 -> test b2",
        "train b2 -> test b1",
    }
