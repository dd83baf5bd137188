"""CSV checks: every malformed input is a BatteryDataError naming the row and the reason."""

from __future__ import annotations

from pathlib import Path

import pytest
from battery_fixtures import dataset, synthetic_csv

from citychain.oracle.battery_data import (
    DATA_ENV,
    BatteryDataError,
    default_data_dir,
    load_dataset,
    parse_cycles_csv,
)

HEADER = "cell_id,cycle,discharge_capacity_ah\n"


def rows(*lines: str) -> str:
    return HEADER + "".join(f"{line}\n" for line in lines)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty file"),
        ("cell_id,cycle\na,1\n", "missing column(s) discharge_capacity_ah"),
        (HEADER, "no data rows"),
        (rows("a,1,1.0,9"), "4 fields, the header has 3"),
        (rows("a,1,x"), "'x' is not a number"),
        (rows("a,1,nan"), "not finite"),
        (rows("a,1,-1.0"), "must be > 0"),
        (rows("a,1,0"), "must be > 0"),
        (rows("a,1,1070.5"), "is it in mAh?"),
        (rows("a,0,1.0"), "outside 1.."),
        (rows("a,1.5,1.0"), "not a non-negative whole number"),
        (rows("a,-3,1.0"), "not a non-negative whole number"),
        (rows("a,2,1.0", "a,2,1.0"), "duplicate cycle 2"),
        (rows("a,3,1.0", "a,2,1.0"), "cycles must increase"),
        (rows(",1,1.0"), "cell_id must be"),
        (HEADER + 'a,1,"1.0\n', "not a valid CSV"),
        ("cell_id,cycle,cycle,discharge_capacity_ah\na,1,1,1.0\n", "duplicate column"),
    ],
)
def test_bad_input_is_rejected_with_a_clear_message(text: str, message: str) -> None:
    with pytest.raises(BatteryDataError) as info:
        parse_cycles_csv(text, "in.csv", min_cycles=1)
    assert message in str(info.value)


def test_too_few_cycles() -> None:
    with pytest.raises(BatteryDataError, match="has 5 cycles; at least 20"):
        parse_cycles_csv(synthetic_csv(cycles=5), "in.csv")


def test_mixed_units_in_one_cell() -> None:
    text = rows(*[f"a,{n},1.05" for n in range(1, 20)], "a,20,105")
    with pytest.raises(BatteryDataError, match="mixed units"):
        parse_cycles_csv(text, "in.csv")


def test_optional_columns_and_interleaved_cells() -> None:
    text = "cycle,cell_id,discharge_capacity_ah,temperature_c\n" + "".join(
        f"{n},a,1.0,31\n{n},b,1.1,\n" for n in range(1, 21)
    )
    cells = parse_cycles_csv(text, "in.csv")
    assert [c.cell_id for c in cells] == ["a", "b"]
    assert cells[0].temperature_c == (31.0,) * 20
    assert cells[1].temperature_c == ()
    assert cells[0].upto(10).cycles == tuple(range(1, 11))


def test_the_data_folder_loads() -> None:
    cells, meta = dataset()
    assert len(cells) == 84
    assert {m.batch for m in meta.values()} == {1, 2}
    # the README's definition: the first cycle below 0.88 Ah is the cycle life (batch 2)
    for cell in cells:
        life = meta[cell.cell_id].cycle_life
        below = [n for n, q in zip(cell.cycles, cell.capacity_ah, strict=True) if q < 0.88]
        if below:
            assert below[0] == life
        else:
            assert cell.cycles[-1] == life - 1


def test_data_folder_is_configurable(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(DATA_ENV, str(tmp_path))
    assert default_data_dir() == tmp_path
    with pytest.raises(BatteryDataError, match="cannot read"):
        load_dataset(tmp_path)
    monkeypatch.delenv(DATA_ENV)
    assert default_data_dir().parts[-3:] == ("shared", "data", "battery")
