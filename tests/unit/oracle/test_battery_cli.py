"""``citychain battery predict``: JSON shape, and exit 2 with ``error: ...`` for bad input.

main.py does not list the battery module yet, so the parser here is built the way main.py
builds it, with ``cli_battery.register`` added; ``main.run`` maps errors to exit codes.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest
from battery_fixtures import synthetic_csv, write

from citychain.cli import battery_predict as cli_battery
from citychain.cli import delegate
from citychain.cli import main as cli_main
from citychain.cli.common import Parser
from citychain.oracle.eol_model import load_params, model_hash


def run(argv: list[str]) -> int:
    parser = Parser(prog="citychain")
    commands = parser.add_subparsers(dest="command", required=True)
    parents = cli_main._parents()
    delegate.register(commands, parents)
    cli_battery.register(commands, parents)
    try:
        args: argparse.Namespace = parser.parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    return cli_main.run(args)


def test_predict_prints_cells_with_integer_cycles(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import json

    text = synthetic_csv("a", 300, knee=500) + synthetic_csv("b", 200, knee=350).split("\n", 1)[1]
    path = write(tmp_path, "in.csv", text)
    code = run(
        [
            "battery",
            "predict",
            "--input",
            str(path),
            "--nominal-ah",
            "1.1",
            "--cycles-per-day",
            "2.5",
            "--as-of",
            "2026-12-01",
        ]
    )
    out = capsys.readouterr()
    assert code == 0, out.err
    doc = json.loads(out.out)
    assert doc["model_hash"] == model_hash(load_params())
    assert [c["cell_id"] for c in doc["cells"]] == ["a", "b"]
    for cell in doc["cells"]:
        low, high = cell["interval"]
        assert all(isinstance(v, int) for v in (cell["eol_cycle"], low, high))
        assert cell["last_cycle"] < low <= cell["eol_cycle"] <= high
        assert cell["eol_date"] > "2026-12-01"
    assert (
        run(
            [
                "battery",
                "predict",
                "--input",
                str(path),
                "--nominal-ah",
                "1.1",
                "--cycles-per-day",
                "2.5",
                "--as-of",
                "2026-12-01",
            ]
        )
        == 0
    )
    assert json.loads(capsys.readouterr().out) == doc  # same input, same output


BAD = [
    ("missing.csv", None, "cannot read"),
    ("cols.csv", "cell_id,cycle\na,1\n", "missing column(s) discharge_capacity_ah"),
    ("neg.csv", synthetic_csv().replace(",1.0", ",-1.0", 1), "must be > 0"),
    ("mah.csv", synthetic_csv(scale=1000.0), "mAh"),
    ("dup.csv", synthetic_csv() + "cellA,250,1.0\n", "duplicate cycle 250"),
    ("order.csv", synthetic_csv() + "cellA,100,1.0\n", "cycles must increase"),
    ("short.csv", synthetic_csv(cycles=60), "at least 100 cycles"),
    ("bin.csv", "\x00\x01", "binary"),
    ("quote.csv", 'cell_id,cycle,discharge_capacity_ah\na,1,"1.0\n', "not a valid CSV"),
]


@pytest.mark.parametrize(("name", "text", "message"), BAD)
def test_bad_input_exits_2_without_a_trace(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str, text: str | None, message: str
) -> None:
    path = tmp_path / name if text is None else write(tmp_path, name, text)
    code = run(["battery", "predict", "--input", str(path)])
    err = capsys.readouterr().err
    assert code == 2
    assert message in err
    assert err.startswith("error: ")
    assert "Traceback" not in err


def test_mah_against_a_given_nominal_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # 0.9 Ah cells reported in mAh stay under the absolute bound; the nominal catches them
    path = write(tmp_path, "in.csv", synthetic_csv(scale=1.0).replace("cellA", "c"))
    assert run(["battery", "predict", "--input", str(path), "--nominal-ah", "0.0011"]) == 2
    assert "wrong units" in capsys.readouterr().err


@pytest.mark.parametrize(
    "option", [["--threshold", "80"], ["--threshold", "x"], ["--nominal-ah", "-1"]]
)
def test_bad_options_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], option: list[str]
) -> None:
    path = write(tmp_path, "in.csv", synthetic_csv())
    assert run(["battery", "predict", "--input", str(path), *option]) == 2
    assert "Traceback" not in capsys.readouterr().err


def test_bench_battery_is_delegated() -> None:
    words = ("bench", "battery")
    assert cli_battery.BENCH_DELEGATED[words] == "citychain.benchmarks.battery"


def test_predict_reads_stdin(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import io
    import json

    monkeypatch.setattr("sys.stdin", io.StringIO(synthetic_csv("s", 150, knee=400)))
    assert run(["battery", "predict", "--input", "-", "--nominal-ah", "1.1"]) == 0
    cell = json.loads(capsys.readouterr().out)["cells"][0]
    assert cell["cell_id"] == "s" and cell["last_cycle"] == 150
