"""``citychain battery register --lot-curves CURVES.csv --lot-cycles CYCLES.csv --lot-cell ID``
(citychain/cli/battery_lot_curves.py): the test report gains the lot's curves in the passport's
fixed point, with the curve prediction they give; unusable input exits 2 with ``error: ...``
before anything reaches a node (none runs here)."""

from __future__ import annotations

import argparse
import gzip
import json
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from citychain.cli import common
from citychain.cli.battery_lot_curves import with_lot_curves
from citychain.cli.main import main
from citychain.init_home import init_home
from citychain.oracle.battery_data import default_data_dir
from citychain.oracle.curve_model import curve_model_hash, load_curve_params
from citychain.oracle.prediction_basis import predict_lot
from citychain.passport.lot_curves import LOT_CURVES_FIELD, lot_curves_ref, parse_lot_curves

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"
PASSWORD = "pw-for-tests"
CELL = "b1c5"


@cache
def _source_rows() -> tuple[list[str], list[str]]:
    """The shared data's rows of one cell: its curves of cycles 10 and 100, its cycles 2..100."""
    folder = default_data_dir()
    if not (folder / "curves.csv.gz").exists():
        pytest.skip(f"battery data folder {folder} not present")
    with gzip.open(folder / "curves.csv.gz", "rt") as stream:
        header = next(stream)
        curves = [header] + [
            line
            for line in stream
            if line.startswith(f"{CELL},10,") or line.startswith(f"{CELL},100,")
        ]
    lines = (folder / "cycles.csv").read_text().splitlines(keepends=True)
    cycles = [lines[0]] + [
        line for line in lines[1:] if line.startswith(f"{CELL},") and int(line.split(",")[1]) <= 100
    ]
    return curves, cycles


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    curves, cycles = _source_rows()
    paths = {"curves": tmp_path / "curves.csv", "cycles": tmp_path / "cycles.csv"}
    paths["curves"].write_text("".join(curves))
    paths["cycles"].write_text("".join(cycles))
    paths["data"] = tmp_path / "battery.json"
    paths["data"].write_text((EXAMPLES / "battery.json").read_text())
    return paths


def _args(files: dict[str, Path], **changes: Any) -> argparse.Namespace:
    options = {
        "lot_curves": str(files["curves"]),
        "lot_cycles": str(files["cycles"]),
        "lot_cell": CELL,
        "lot_nominal_ah": 1.1,
    }
    options.update(changes)
    return argparse.Namespace(**options)


def test_the_test_report_gains_the_lot_curves_and_their_prediction(files: dict[str, Path]) -> None:
    report = {"report": "UN38.3 T1-T8 passed"}
    fields, summary = with_lot_curves(_args(files), report, "battery.json")
    assert fields["report"] == report["report"] and report == {"report": "UN38.3 T1-T8 passed"}
    lot = parse_lot_curves(fields[LOT_CURVES_FIELD])
    assert (lot.cell_id, lot.nominal_10uah, [c.cycle for c in lot.curves]) == (
        CELL,
        110_000,
        [10, 100],
    )
    assert lot.cycles[0] == 2 and lot.cycles[-1] == 100
    model = load_curve_params()
    expected = predict_lot(model, bytes.fromhex(curve_model_hash(model)), lot)
    assert summary == {
        "cell_id": CELL,
        "ref": lot_curves_ref(lot).hex(),
        "curve_prediction": {
            "eol_cycle": expected.prediction.eol_cycle,
            "interval": [expected.prediction.low, expected.prediction.high],
            "model_hash": curve_model_hash(model),
        },
    }
    # lot curves the data file itself carries are checked the same way
    none = _args(files, lot_curves=None, lot_cycles=None, lot_cell=None, lot_nominal_ah=None)
    assert with_lot_curves(none, fields, "battery.json") == (fields, summary)
    assert with_lot_curves(none, report, "battery.json") == (report, None)


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "home"
    init_home(path, password=PASSWORD, api="127.0.0.1:1", kdf_limits=(1, 8192))
    monkeypatch.setenv(common.PASSWORD_ENV, PASSWORD)
    return path


def _register(home: Path, files: dict[str, Path], *options: str) -> list[str]:
    data = str(files["data"])
    return ["battery", "register", "--data", data, "--from", "manufacturer", "--home", str(home),
            *options]  # fmt: skip


def _bad(files: dict[str, Path], change: str) -> list[str]:
    """The lot options, one of them spoiled."""
    curves, cycles = str(files["curves"]), str(files["cycles"])
    if change == "no cycle 100":
        text = "".join(line for line in _source_rows()[0] if f"{CELL},100," not in line)
        files["curves"].write_text(text)
    elif change == "mAh":
        rows = [r.rstrip("\n").split(",") for r in _source_rows()[1][1:]]
        mah = [f"{cell},{cycle},{float(q) * 1000}\n" for cell, cycle, q in rows]
        files["cycles"].write_text(_source_rows()[1][0] + "".join(mah))
    elif change == "short":
        files["cycles"].write_text("".join(_source_rows()[1][:60]))
    options = ["--lot-curves", curves, "--lot-cycles", cycles, "--lot-cell", CELL]
    if change == "missing cell option":
        return options[:4]
    if change == "unknown cell":
        return [*options[:5], "b9c9"]
    if change == "nominal alone":
        return ["--lot-nominal-ah", "1.1"]
    if change == "nominal in mAh":
        return [*options, "--lot-nominal-ah", "1100000"]
    return options


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ("missing cell option", "go together: missing --lot-cell"),
        ("unknown cell", "has no cell 'b9c9' (it has b1c5)"),
        ("no cycle 100", "no discharge curve for cycle(s) 100"),
        ("mAh", "is it in mAh?"),
        ("short", "must reach cycle 100"),
        ("nominal alone", "--lot-nominal-ah goes with"),
        ("nominal in mAh", "not plausible"),
    ],
)
def test_bad_lot_curves_exit_2_before_any_transaction(
    home: Path,
    files: dict[str, Path],
    capsys: pytest.CaptureFixture[str],
    change: str,
    message: str,
) -> None:
    code = main(_register(home, files, *_bad(files, change)))
    err = capsys.readouterr().err
    assert code == 2, err
    assert "error:" in err and message in err and "Traceback" not in err


def test_lot_curves_in_the_file_and_the_options_are_refused(
    home: Path, files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    doc = json.loads(files["data"].read_text())
    doc["test_reports"]["lot_curves"] = {"cell_id": CELL}
    files["data"].write_text(json.dumps(doc))
    assert main(_register(home, files, *_bad(files, "none"))) == 2
    assert "either in the file or with --lot-curves" in capsys.readouterr().err
    # and malformed ones in the file alone
    assert main(_register(home, files)) == 2
    assert "test_reports: lot_curves:" in capsys.readouterr().err
