"""``citychain battery predict`` and the ``bench battery`` door (docs/battery-prediction.md).

numpy and the model are imported only when a battery command runs, so every other command
works on an installation without them.

Exit status: 0 success; 2 input that cannot be used as written (a malformed CSV, missing
columns, absurd values or units, non-increasing or duplicate cycles, too few cycles, a bad
option value); 1 a failure of the installation (unreadable model parameters).
"""

from __future__ import annotations

import argparse
import datetime
import sys
from pathlib import Path
from typing import Any

from citychain.cli.common import CliFailure, UsageError, print_json

__all__ = ["BENCH_DELEGATED", "cmd_predict", "register", "register_bench"]

# command words -> module whose main(argv) runs them (merged into cli.delegate.DELEGATED)
BENCH_DELEGATED: dict[tuple[str, ...], str] = {
    ("bench", "battery"): "citychain.benchmarks.battery",
}
# Plausible inputs: outside them a value is a typo or in the wrong unit (mAh for Ah).
THRESHOLD_RANGE = (0.05, 0.99)  # end-of-life capacity, a fraction of nominal
NOMINAL_AH_RANGE = (0.001, 1000.0)  # Ah, a coin cell to a traction module
CYCLES_PER_DAY_RANGE = (0.001, 100.0)


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
        help="predict each cell's end-of-life cycle from its per-cycle capacity",
        description="Read per-cycle telemetry (CSV with at least cell_id,cycle,"
        "discharge_capacity_ah; optional temperature_c, internal_resistance_ohm) and print, "
        "per cell, the predicted cycle at which capacity falls below threshold x nominal, "
        "with an 80 percent interval and the model hash (docs/battery-prediction.md).",
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


def _read_input(name: str) -> list[Any]:
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


def cmd_predict(args: argparse.Namespace) -> int:
    from citychain.oracle.eol_model import (
        PARAMS_PATH,
        PredictionError,
        cycle_to_days,
        load_params,
        model_hash,
        predict,
    )

    try:
        model = load_params(Path(args.params) if args.params else PARAMS_PATH)
    except (ValueError, KeyError, TypeError) as exc:
        raise CliFailure(f"the model parameters cannot be used: {exc}") from None
    cells = _read_input(args.input)
    out = []
    for cell in cells:
        try:
            p = predict(model, cell, threshold=args.threshold, nominal_ah=args.nominal_ah)
        except PredictionError as exc:
            raise UsageError(f"cell {cell.cell_id}: {exc}") from None
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
        out.append(item)
    print_json(
        {
            "model_hash": model_hash(model),
            "threshold": args.threshold,
            "nominal_ah": args.nominal_ah,
            "interval_level": 0.8,
            "cells": out,
        }
    )
    return 0
