"""``citychain battery predict`` and the ``bench battery`` door (docs/battery-prediction.md).

numpy and the model are imported only when a battery command runs, so every other command
works on an installation without them.

With ``--curves``, cells that also have discharge curves Q_n(V) get the curve model
(``citychain.oracle.curve_model``), the others the capacity model (``eol_model``); each cell's
entry names the model that answered and its hash.

Exit status: 0 success; 2 input that cannot be used as written (a malformed CSV, missing
columns, absurd values or units, non-increasing or duplicate cycles, too few cycles, curves
without a cycle the curve model needs or of a cell not in --input, a bad option value); 1 a
failure of the installation (unreadable model parameters).
"""

from __future__ import annotations

import argparse
import datetime
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from citychain.cli.common import CliFailure, UsageError, print_json

if TYPE_CHECKING:  # imported when a battery command runs (numpy)
    from citychain.oracle.battery_data import CellSeries
    from citychain.oracle.curve_data import CellCurves
    from citychain.oracle.curve_model import CurveModel
    from citychain.oracle.eol_model import EolModel, Prediction

__all__ = ["BENCH_DELEGATED", "cmd_predict", "register", "register_bench"]

# command words -> module whose main(argv) runs them (merged into cli.delegate.DELEGATED)
BENCH_DELEGATED: dict[tuple[str, ...], str] = {
    ("bench", "battery"): "citychain.benchmarks.battery",
}
# Plausible inputs: outside them a value is a typo or in the wrong unit (mAh for Ah).
THRESHOLD_RANGE = (0.05, 0.99)  # end-of-life capacity, a fraction of nominal
NOMINAL_AH_RANGE = (0.001, 1000.0)  # Ah, a coin cell to a traction module
CYCLES_PER_DAY_RANGE = (0.001, 100.0)
# The curve model was trained on the 80 % end of life only (docs/battery-prediction.md).
CURVE_THRESHOLD = 0.8
SAME_THRESHOLD = 1e-9
SHOWN_CELLS = 10  # cells named in one error message


def _number_in(text: str, bounds: tuple[float, float], out_of_bounds: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not bounds[0] <= value <= bounds[1]:
        raise argparse.ArgumentTypeError(out_of_bounds)
    return value


def _fraction(text: str) -> float:
    return _number_in(text, THRESHOLD_RANGE, f"threshold {text} must be a fraction in [0.05, 0.99]")


def _ah(text: str) -> float:
    return _number_in(
        text,
        NOMINAL_AH_RANGE,
        f"nominal capacity {text} Ah is not plausible (expected 0.001..1000 Ah; mAh?)",
    )


def _rate(text: str) -> float:
    return _number_in(text, CYCLES_PER_DAY_RANGE, f"cycles per day {text} must be in 0.001..100")


def _date(text: str) -> datetime.date:
    try:
        return datetime.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date (YYYY-MM-DD)") from None


def register(commands: Any, parents: dict[str, argparse.ArgumentParser]) -> None:
    battery = commands.add_parser(
        "battery", help="EV batteries: passports, fleet, end-of-life prediction"
    )
    sub = battery.add_subparsers(dest="battery_command", required=True, metavar="WHAT")
    predict = sub.add_parser(
        "predict",
        help="predict each cell's end-of-life cycle from its per-cycle capacity (and, with "
        "--curves, its early discharge curves)",
        description="Read per-cycle telemetry (CSV with at least cell_id,cycle,"
        "discharge_capacity_ah; optional temperature_c, internal_resistance_ohm) and print, "
        "per cell, the predicted cycle at which capacity falls below threshold x nominal, "
        "with an 80 percent interval, the model that answered and its hash. With --curves, "
        "cells that also have discharge curves get the curve model, the others the capacity "
        "model (docs/battery-prediction.md).",
    )
    predict.add_argument("--input", required=True, metavar="FILE", help="CSV ('-' = stdin)")
    predict.add_argument(
        "--threshold",
        type=_fraction,
        default=0.8,
        help="end of life as a fraction of nominal capacity (default 0.8)",
    )
    predict.add_argument(
        "--nominal-ah",
        type=_ah,
        metavar="X",
        help="rated capacity in Ah (default: the highest smoothed capacity of the first 50 "
        "cycles of each cell)",
    )
    predict.add_argument(
        "--cycles-per-day",
        type=_rate,
        metavar="R",
        help="recent rate of use: adds the predicted date (and interval) at this rate",
    )
    predict.add_argument(
        "--as-of",
        type=_date,
        metavar="YYYY-MM-DD",
        help="the date of the last cycle given, for --cycles-per-day (default: today)",
    )
    predict.add_argument(
        "--curves",
        metavar="CURVES.csv",
        help="discharge curves (CSV with at least cell_id,cycle,voltage_v,"
        "discharge_capacity_ah; '-' = stdin, .gz is gunzipped): every cell in it must be in "
        "--input and have the curves of the cycles the curve model needs, and gets the curve "
        "model; "
        "the 80 percent end of life only",
    )
    predict.add_argument("--params", metavar="FILE", help=argparse.SUPPRESS)
    predict.set_defaults(func=cmd_predict)
    register_bench(commands)


def register_bench(commands: Any) -> None:
    """List ``bench battery`` under the existing ``bench`` command for --help (main() hands
    the arguments to BENCH_DELEGATED's module before argparse sees them)."""
    bench = commands.choices.get("bench")
    if bench is None:
        return
    for action in bench._actions:  # argparse keeps its sub-command registry here
        if isinstance(action, argparse._SubParsersAction):
            if "battery" not in action.choices:
                battery = action.add_parser(
                    "battery",
                    add_help=False,
                    help="battery end-of-life prediction: train on one batch, test on the other",
                )
                battery.add_argument("args", nargs=argparse.REMAINDER, help="--json FILE ...")
            return


def _read_input(name: str) -> list[CellSeries]:
    from citychain.oracle.battery_data import (
        BatteryDataError,
        parse_cycles_csv,
        read_cycles_file,
    )

    try:
        if name == "-":
            return parse_cycles_csv(sys.stdin.read(), "stdin")
        return read_cycles_file(name)
    except BatteryDataError as exc:
        raise UsageError(str(exc)) from None
    except UnicodeDecodeError:
        raise UsageError("stdin: not UTF-8 text (is it a CSV file?)") from None


def _read_curves(name: str, cells: list[CellSeries]) -> dict[str, CellCurves]:
    """The --curves file, every cell of it in --input with the curve model's cycles."""
    from citychain.oracle.curve_data import CurveDataError, read_curves_file
    from citychain.oracle.curve_model import REQUIRED_CYCLES

    try:
        curves = read_curves_file(name)
    except CurveDataError as exc:
        raise UsageError(str(exc)) from None
    known = {cell.cell_id for cell in cells}
    strangers = [cell_id for cell_id in curves if cell_id not in known]
    if strangers:
        more = f" and {len(strangers) - SHOWN_CELLS} more" if len(strangers) > SHOWN_CELLS else ""
        raise UsageError(
            f"{name}: curves of cell(s) not in --input: {', '.join(strangers[:SHOWN_CELLS])}"
            f"{more}; the curve model needs each cell's per-cycle capacity too"
        )
    for cell_id, cell in curves.items():
        missing = cell.missing_cycles(REQUIRED_CYCLES)
        if missing:
            raise UsageError(
                f"{name}: cell {cell_id} has no discharge curve for cycle(s) "
                f"{', '.join(map(str, missing))}; the curve model needs cycles "
                f"{' and '.join(map(str, REQUIRED_CYCLES))}"
            )
    return curves


def _curve_model() -> CurveModel:
    from citychain.oracle.curve_model import load_curve_params

    try:
        return load_curve_params()
    except (ValueError, KeyError, TypeError) as exc:
        raise CliFailure(f"the curve model parameters cannot be used: {exc}") from None


def _cell_entry(p: Prediction, args: argparse.Namespace) -> dict[str, Any]:
    """One cell's JSON entry: the cycles, and the dates when a rate of use is given."""
    from citychain.oracle.eol_model import cycle_to_days

    item: dict[str, Any] = {
        "cell_id": p.cell_id,
        "eol_cycle": p.eol_cycle,
        "interval": [p.low, p.high],
        "last_cycle": p.last_cycle,
        "observed": p.observed,
    }
    if args.cycles_per_day is not None:
        milli = max(1, round(args.cycles_per_day * 1000))
        as_of = args.as_of or datetime.date.today()
        days = [cycle_to_days(v, p.last_cycle, milli) for v in (p.eol_cycle, p.low, p.high)]
        item["days_to_eol"] = days[0]
        item["eol_date"] = (as_of + datetime.timedelta(days=days[0])).isoformat()
        item["interval_dates"] = [
            (as_of + datetime.timedelta(days=d)).isoformat() for d in days[1:]
        ]
    return item


def _check_options(args: argparse.Namespace) -> None:
    if args.curves is None:
        return
    if abs(args.threshold - CURVE_THRESHOLD) > SAME_THRESHOLD:
        raise UsageError(
            f"--curves with --threshold {args.threshold:g}: the curve model predicts the 80 % "
            "end of life only (leave --threshold at 0.8, or drop --curves)"
        )
    if args.curves == "-" and args.input == "-":
        raise UsageError("--input and --curves cannot both be read from stdin")


def _predict_cell(
    cell: CellSeries,
    model: EolModel,
    curves: CellCurves | None,
    curve_model: CurveModel | None,
    args: argparse.Namespace,
) -> Prediction:
    """The curve model's prediction when the cell has curves, else the capacity model's."""
    from citychain.oracle.eol_model import PredictionError, predict

    try:
        if curves is not None and curve_model is not None:
            from citychain.oracle.curve_model import predict_curves

            return predict_curves(curve_model, curves, cell, args.nominal_ah)
        return predict(model, cell, threshold=args.threshold, nominal_ah=args.nominal_ah)
    except PredictionError as exc:
        # the curve model's messages name the cell already
        named = str(exc).startswith(f"cell {cell.cell_id}")
        raise UsageError(str(exc) if named else f"cell {cell.cell_id}: {exc}") from None


def cmd_predict(args: argparse.Namespace) -> int:
    from citychain.oracle.eol_model import PARAMS_PATH, load_params, model_hash

    _check_options(args)
    try:
        model = load_params(Path(args.params) if args.params else PARAMS_PATH)
    except (ValueError, KeyError, TypeError) as exc:
        raise CliFailure(f"the model parameters cannot be used: {exc}") from None
    cells = _read_input(args.input)
    doc: dict[str, Any] = {"model_hash": model_hash(model)}
    curves: dict[str, CellCurves] = {}
    curve_model = None
    if args.curves is not None:
        # imported here so that the capacity model alone never depends on the curve model
        from citychain.oracle.curve_model import curve_model_hash

        curve_model = _curve_model()
        curves = _read_curves(args.curves, cells)
        doc["curve_model_hash"] = curve_model_hash(curve_model)
    out = []
    for cell in cells:
        curve = curves.get(cell.cell_id)
        p = _predict_cell(cell, model, curve, curve_model, args)
        item = _cell_entry(p, args)
        # each entry names the model that answered, so a stored prediction can be reproduced
        item["model"] = "capacity" if curve is None else "curves"
        item["model_hash"] = doc["model_hash" if curve is None else "curve_model_hash"]
        out.append(item)
    doc |= {
        "threshold": args.threshold,
        "nominal_ah": args.nominal_ah,
        "interval_level": 0.8,
        "cells": out,
    }
    print_json(doc)
    return 0
