"""The committed model: canonical parameters, a stable hash, integer and repeatable output."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from battery_fixtures import dataset, synthetic_csv

from citychain.oracle.battery_data import CellSeries, parse_cycles_csv
from citychain.oracle.eol_model import (
    PARAMS_PATH,
    EolModel,
    PredictionError,
    canonical_json,
    cycle_to_days,
    fit_model,
    load_params,
    model_hash,
    predict,
    save_params,
    trailing_median,
)


def _cell(text: str) -> CellSeries:
    return parse_cycles_csv(text, "t")[0]


def test_hash_is_sha256_of_the_canonical_json() -> None:
    model = load_params()
    import hashlib

    doc = json.loads(PARAMS_PATH.read_text(encoding="utf-8"))
    expected = hashlib.sha256(canonical_json(doc).encode()).hexdigest()
    assert model_hash(model) == expected
    assert model_hash(load_params()) == expected


def test_round_trip_keeps_the_hash(tmp_path: Path) -> None:
    model = load_params()
    save_params(model, tmp_path / "p.json")
    again = load_params(tmp_path / "p.json")
    assert again == model
    assert model_hash(again) == model_hash(model)


def test_prediction_is_integers_and_repeatable() -> None:
    model = load_params()
    cell = _cell(synthetic_csv(cycles=250))
    first = predict(model, cell, nominal_ah=1.1)
    for _ in range(3):
        assert predict(load_params(), cell, nominal_ah=1.1) == first
    for v in (first.eol_cycle, first.low, first.high):
        assert isinstance(v, int)
    assert first.last_cycle < first.low <= first.eol_cycle <= first.high
    assert first.cutoff_model == 250


def test_a_cell_already_below_threshold_is_observed() -> None:
    model = load_params()
    cell = _cell(synthetic_csv(cycles=600, knee=380))
    p = predict(model, cell, nominal_ah=1.1)
    assert p.observed and p.eol_cycle == p.low == p.high
    crossed = [n for n, q in zip(cell.cycles, cell.capacity_ah, strict=True) if q < 0.88]
    assert p.eol_cycle == crossed[0]


def test_too_short_history_and_wrong_units() -> None:
    model = load_params()
    with pytest.raises(PredictionError, match="at least 100 cycles"):
        predict(model, _cell(synthetic_csv(cycles=60)), nominal_ah=1.1)
    with pytest.raises(PredictionError, match="mAh given as Ah"):
        predict(model, _cell(synthetic_csv(cycles=200)), nominal_ah=1100)


def test_lower_threshold_means_later_end_of_life() -> None:
    model = load_params()
    cell = _cell(synthetic_csv(cycles=300, knee=500))
    high = predict(model, cell, threshold=0.85, nominal_ah=1.1)
    low = predict(model, cell, threshold=0.75, nominal_ah=1.1)
    assert low.eol_cycle >= high.eol_cycle


def test_temperature_column_scales_remaining_life() -> None:
    model = load_params()
    base = synthetic_csv(cycles=300, knee=500).splitlines()
    hot = [base[0] + ",temperature_c"] + [line + ",45" for line in base[1:]]
    plain = predict(model, _cell("\n".join(base) + "\n"), nominal_ah=1.1)
    warm = predict(model, _cell("\n".join(hot) + "\n"), nominal_ah=1.1)
    assert warm.eol_cycle - warm.last_cycle < plain.eol_cycle - plain.last_cycle


def test_cycle_to_days_rounds_up_in_whole_days() -> None:
    assert cycle_to_days(700, 300, 2000) == 200
    assert cycle_to_days(701, 300, 2000) == 201
    assert cycle_to_days(300, 300, 1500) == 0
    with pytest.raises(ValueError):
        cycle_to_days(700, 300, 0)


def test_trailing_median_is_causal() -> None:
    q = np.array([1.0, 1.0, 1.0, 0.5, 1.0, 1.0, 1.0])
    s = trailing_median(q, 3)
    assert s[3] == 1.0  # a one-cycle dip does not show
    assert math.isclose(trailing_median(q[:4], 3)[-1], s[3])


def test_refit_gives_the_committed_parameters() -> None:
    """scripts/train_eol_model.py is what produced eol_params.json (same data, same code)."""
    cells, meta = dataset()
    committed = load_params()
    lives = {c.cell_id: meta[c.cell_id].cycle_life for c in cells}
    groups = {c.cell_id: meta[c.cell_id].charge_policy for c in cells}
    refit: EolModel = fit_model(
        cells,
        lives,
        groups,
        1.1,
        cutoffs=[m.cutoff for m in committed.models[:2]],
        trained_on=committed.trained_on,
    )
    assert refit.models == committed.models[:2]
