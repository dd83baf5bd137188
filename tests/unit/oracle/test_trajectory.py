"""Trajectory matching (time-warped curve matching) and shift-aware interval calibration."""

from __future__ import annotations

import math

import numpy as np

from citychain.oracle.eol_conformal import conformal_offsets, life_blocks
from citychain.oracle.eol_model import (
    ALL_FEATURES,
    PARAMS_PATH,
    FitOptions,
    LibraryCell,
    TrainingRows,
    fit_cutoff,
    load_params,
    matched_log,
)
from citychain.oracle.trajectory import (
    STEP,
    Curve,
    curve_of,
    match_life,
    query_from_curve,
    query_of,
)


def _shape(n: np.ndarray, life: float) -> np.ndarray:
    """Linear fade then a knee, reaching 0.8 at ``life``."""
    u = n / life
    out: np.ndarray = 1.0 - 0.1 * u - 0.1 * u**6
    return out


def _curve(life: int) -> Curve:
    n = np.arange(1, life + 1, dtype=np.float64)
    return curve_of(n, _shape(n, life), life)


def test_curve_is_compact_integers_before_end_of_life() -> None:
    c = _curve(500)
    assert c.life == 500 and len(c.q) == 49  # cycles 10..490
    assert all(isinstance(v, int) for v in c.q)
    g, v = c.arrays()
    assert g[0] == STEP and g[-1] == 490 and math.isclose(v[0], 1.0 - 0.002, abs_tol=1e-5)


def test_matching_recovers_a_faster_rate() -> None:
    library = [_curve(1000), _curve(1400), _curve(2000)]
    # a cell ageing twice as fast as the 1000-cycle cell, seen up to cycle 300
    n = np.arange(1, 301, dtype=np.float64)
    g, v = query_of(n, _shape(n, 500.0) + 0.003)  # a different level: only shape matters
    found = match_life(library, g, v, 300.0, k=1)
    assert found is not None
    life, spread = found
    assert abs(life - 500) / 500 < 0.03
    assert spread == 0.0
    assert life > 300


def test_matching_needs_enough_points_and_curves() -> None:
    library = [_curve(1000)]
    n = np.arange(1, 40, dtype=np.float64)
    g, v = query_of(n, _shape(n, 500.0))
    assert match_life(library, g, v, 39.0, k=1) is None  # too few compared points
    n = np.arange(1, 301, dtype=np.float64)
    g, v = query_of(n, _shape(n, 500.0))
    assert match_life(library, g, v, 300.0, k=2) is None  # fewer curves than k
    # a training cell that died before the cut-off x the smallest scale cannot match
    assert match_life([_curve(50)], g, v, 300.0, k=1) is None


def test_query_from_curve_is_the_prefix() -> None:
    c = _curve(800)
    g, v = query_from_curve(c, 200)
    assert g[0] == 30 and g[-1] == 200 and len(v) == len(g)


def test_life_blocks_hold_out_contiguous_lives() -> None:
    ids = [f"c{i}" for i in range(10)]
    lives = np.array([900, 100, 800, 200, 700, 300, 600, 400, 500, 1000], dtype=np.float64)
    rows = TrainingRows(np.zeros((10, 1)), lives, np.full(10, 50.0), ["p"] * 10, ids)
    blocks = life_blocks(rows, np.ones(10, dtype=bool))
    by_life = sorted(ids, key=lambda c: lives[ids.index(c)])
    assert [blocks[c] for c in by_life] == [0, 0, 1, 1, 2, 2, 3, 3, 4, 4]


def test_fit_with_library_sees_only_the_given_cells() -> None:
    """Synthetic cells: the blend weight comes from the grid and calibration is finite."""
    rng = np.random.default_rng(0)
    cells = []
    for i in range(20):
        life = int(400 + 60 * i)
        cells.append((f"s{i}", f"p{i % 7}", life))
    library = [LibraryCell(cid, grp, _curve(life)) for cid, grp, life in cells]
    xs, ls, cs, gs, ids = [], [], [], [], []
    for cid, grp, life in cells:
        for c in (100, 120):
            xs.append([math.log(life) + rng.normal(0, 0.05)] * 10)
            ls.append(float(life))
            cs.append(float(c))
            gs.append(grp)
            ids.append(cid)
    rows = TrainingRows(np.array(xs), np.array(ls), np.array(cs), gs, ids)
    model = fit_cutoff(rows, 100, FitOptions(augment=(1.0, 1.2)), library)
    assert model.ridge_weight in (0.0, 0.25, 0.5, 0.75, 1.0)
    assert model.calibration.low <= 0 <= model.calibration.high
    assert model.ridge_calibration is not None
    x = np.array(xs[0])[[ALL_FEATURES.index(f) for f in model.features]]
    lo_hi = model.log_interval(x, matched_log(700.0, 100.0, "remaining"))
    assert lo_hi[1] <= lo_hi[0] <= lo_hi[2]


def test_finite_sample_conformal_is_wider_and_wider_for_few_residuals() -> None:
    """ceil((n + 1) 0.9) / n: with 9 residuals the 90 % level becomes the largest one."""
    res = np.arange(1.0, 10.0)  # 1..9
    plain = conformal_offsets(res, False)
    lo, hi = conformal_offsets(res, True)
    assert lo <= plain[0] and hi >= plain[1]
    assert (lo, hi) == (1.0, 9.0)
    many = np.linspace(-1.0, 1.0, 999)
    assert conformal_offsets(many, True)[1] - conformal_offsets(many, False)[1] < 0.01


def test_committed_parameters_carry_a_compact_library() -> None:
    model = load_params()
    assert len(model.library) == 84
    assert PARAMS_PATH.stat().st_size < 200_000
    assert all(m.ridge_calibration is not None for m in model.models)
