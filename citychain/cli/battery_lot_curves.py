"""``citychain battery register --lot-curves CURVES.csv --lot-cycles CYCLES.csv --lot-cell ID``:
the early-life test curves of the battery's lot in its test report (Annex XIII point 3;
docs/modules/battery.md §6, citychain/passport/lot_curves.py).

CURVES.csv is a test station's discharge curves (``cell_id,cycle,voltage_v,
discharge_capacity_ah``, ``.gz`` is gunzipped) and CYCLES.csv its per-cycle capacity
(``cell_id,cycle,discharge_capacity_ah``), as ``citychain battery predict`` reads them; ID is the
lot's test cell in both. The curves of the cycles the curve model needs are resampled to the
passport's grid and stored with the capacity of cycles 2..100 as integers under the test
report's ``lot_curves`` key, and the curve model must be able to predict from them: otherwise
the registration is refused (exit 2), since the oracle could never use them.

numpy and the models are imported only when these options are given.
"""

from __future__ import annotations

import argparse
from typing import Any

from citychain.cli.common import CliFailure, UsageError

__all__ = ["add_lot_curve_options", "with_lot_curves"]

OPTIONS = ("--lot-curves", "--lot-cycles", "--lot-cell")
SHOWN_CELLS = 10  # cell ids named in an error message
NOMINAL_AH_RANGE = (0.001, 1000.0)  # a coin cell to a traction module; beyond: mAh?


def _nominal_ah(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    low, high = NOMINAL_AH_RANGE
    if not low <= value <= high:
        raise argparse.ArgumentTypeError(
            f"nominal capacity {text} Ah is not plausible (expected {low:g}..{high:g} Ah; mAh?)"
        )
    return value


def add_lot_curve_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group(
        "lot test curves (in the test report: Annex XIII point 3)",
        "The early-life discharge curves of the lot's test cell, from which the oracle "
        "predicts the battery's end of life from registration on.",
    )
    group.add_argument("--lot-curves", metavar="CURVES.csv", help="the test cell's curves")
    group.add_argument("--lot-cycles", metavar="CYCLES.csv", help="its per-cycle capacity")
    group.add_argument("--lot-cell", metavar="ID", help="the test cell's id in both files")
    group.add_argument(
        "--lot-nominal-ah",
        type=_nominal_ah,
        metavar="X",
        help="the test cell's rated capacity in Ah (default: estimated from its first cycles)",
    )


def with_lot_curves(
    args: argparse.Namespace, test_reports: dict[str, Any], source: str
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """The test report's fields with the lot curves of the options (or as the data file gives
    them, checked), and what to print about them (None: no lot curves)."""
    from citychain.passport.lot_curves import LOT_CURVES_FIELD, LotCurvesError, parse_lot_curves

    given = [getattr(args, o[2:].replace("-", "_")) is not None for o in OPTIONS]
    if not any(given):
        if args.lot_nominal_ah is not None:
            raise UsageError(f"--lot-nominal-ah goes with {', '.join(OPTIONS)}")
        if LOT_CURVES_FIELD not in test_reports:
            return test_reports, None
        try:
            lot = parse_lot_curves(test_reports[LOT_CURVES_FIELD])
        except LotCurvesError as exc:
            raise UsageError(f"{source}: test_reports: {exc}") from None
        return test_reports, _summary(lot)
    if not all(given):
        missing = [o for o, g in zip(OPTIONS, given, strict=True) if not g]
        raise UsageError(f"{', '.join(OPTIONS)} go together: missing {', '.join(missing)}")
    if LOT_CURVES_FIELD in test_reports:
        raise UsageError(
            f"{source}: test_reports has '{LOT_CURVES_FIELD}' already; give the lot curves "
            "either in the file or with --lot-curves, not both"
        )
    lot = _measured(args)
    from citychain.passport.lot_curves import lot_curves_fields

    return {**test_reports, LOT_CURVES_FIELD: lot_curves_fields(lot)}, _summary(lot)


def _measured(args: argparse.Namespace) -> Any:
    """The passport's lot curves of --lot-cell in the two files (UsageError says why not)."""
    from citychain.oracle.battery_data import BatteryDataError, read_cycles_file
    from citychain.oracle.curve_data import read_curves_file
    from citychain.oracle.lot_curves import measured_lot_curves

    try:
        curves = read_curves_file(args.lot_curves)
        series = {s.cell_id: s for s in read_cycles_file(args.lot_cycles)}
    except BatteryDataError as exc:  # CurveDataError is one too
        raise UsageError(str(exc)) from None
    for name, cells in ((args.lot_curves, curves), (args.lot_cycles, series)):
        if args.lot_cell not in cells:
            shown = ", ".join(sorted(cells)[:SHOWN_CELLS])
            raise UsageError(f"{name} has no cell {args.lot_cell!r} (it has {shown})")
    try:
        return measured_lot_curves(
            curves[args.lot_cell], series[args.lot_cell], args.lot_nominal_ah
        )
    except BatteryDataError as exc:
        raise UsageError(f"lot curves: {exc}") from None


def _summary(lot: Any) -> dict[str, Any]:
    """The lot curves' reference and the curve model's prediction from them (what the oracle
    will attest); UsageError when the model cannot use them."""
    from citychain.oracle.curve_data import CurveDataError
    from citychain.oracle.curve_model import curve_model_hash, load_curve_params
    from citychain.oracle.eol_model import PredictionError
    from citychain.oracle.prediction_basis import predict_lot

    try:
        model = load_curve_params()
    except ValueError as exc:
        raise CliFailure(str(exc)) from None
    try:
        lot_prediction = predict_lot(model, bytes.fromhex(curve_model_hash(model)), lot)
    except (PredictionError, CurveDataError) as exc:
        raise UsageError(
            f"the curve model cannot use the lot curves of {lot.cell_id}: {exc}"
        ) from None
    p = lot_prediction.prediction
    return {
        "cell_id": lot.cell_id,
        "ref": lot_prediction.inputs_ref.hex(),
        "curve_prediction": {
            "eol_cycle": p.eol_cycle,
            "interval": [p.low, p.high],
            "model_hash": lot_prediction.model_hash.hex(),
        },
    }
