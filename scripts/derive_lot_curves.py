"""Regenerate citychain/sim/lot_curves.json from the battery data folder.

    .venv/bin/python scripts/derive_lot_curves.py [--data DIR] [--out FILE]

The simulated fleet (docs/fleet.md §1) draws each battery's ageing from one real training cell
(a capacity trajectory of citychain/oracle/eol_params.json) and gives the battery that cell's
early-life test curves as its lot's, in the passport's test report. The raw data cannot be
copied into the project; this writes the compact derived part the fleet needs, per training
cell: its discharge curves of the cycles the curve model reads (``curve_model.REQUIRED_CYCLES``)
on a 10 mV grid from 3.5 V down to 2.0 V and its capacity of cycles 2..100, integers in 1e-5 Ah,
exactly in the passport's format (citychain/passport/lot_curves.py).

The trajectories in eol_params.json carry no cell id (they are in the order of the training
cells, sorted by id, but nothing in the file says so): each cell here names the index of its
trajectory, found by rebuilding the trajectory from the data and comparing it point for point,
and its life, which the fleet checks. The output is deterministic: run it twice, same bytes.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from citychain.oracle.battery_data import BatteryDataError, default_data_dir, load_dataset
from citychain.oracle.curve_data import load_shared_curves
from citychain.oracle.curve_model import REQUIRED_CYCLES
from citychain.oracle.eol_model import load_params, training_curve
from citychain.oracle.lot_curves import measured_lot_curves
from citychain.passport.lot_curves import lot_curves_fields

OUT = Path(__file__).resolve().parents[1] / "citychain" / "sim" / "lot_curves.json"
FORMAT = "citychain-lot-curves/1"
SOURCE = (
    "Severson, Attia et al. 2019 (doi:10.1038/s41560-019-0356-8), batches 1 and 2: discharge "
    "curves Q_n(V) and per-cycle discharge capacity of each training cell; derived by "
    "scripts/derive_lot_curves.py"
)


def derive(data_dir: Path) -> dict[str, Any]:
    cells, meta = load_dataset(data_dir)
    curves = load_shared_curves(data_dir)
    model = load_params()
    nominal = model.rated_nominal_ah
    if nominal is None:
        raise BatteryDataError("eol_params.json names no rated nominal capacity")
    index = {(c.life, c.q): i for i, c in enumerate(model.library)}
    out: dict[str, Any] = {}
    for cell in cells:
        life = meta[cell.cell_id].cycle_life
        curve = training_curve(cell, life, nominal)
        trajectory = index.get((curve.life, curve.q))
        if trajectory is None:
            raise BatteryDataError(f"{cell.cell_id}: no trajectory of eol_params.json matches")
        if cell.cell_id not in curves:
            raise BatteryDataError(f"{cell.cell_id}: no discharge curves in the data folder")
        lot = measured_lot_curves(curves[cell.cell_id], cell, nominal, REQUIRED_CYCLES)
        out[cell.cell_id] = {
            "trajectory": trajectory,
            "life": life,
            "lot_curves": lot_curves_fields(lot),
        }
    if sorted(v["trajectory"] for v in out.values()) != list(range(len(model.library))):
        raise BatteryDataError(
            "the cells do not map one to one onto eol_params.json's trajectories"
        )
    return out


def render(cells: dict[str, Any]) -> str:
    """One cell a line (sorted by id), compact JSON: readable diffs, a small file."""

    def compact(value: Any) -> str:
        return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True)

    head = {
        "format": FORMAT,
        "source": SOURCE,
        "cycles": list(REQUIRED_CYCLES),
        "unit": "capacities in 1e-5 Ah; voltages in mV",
    }
    lines = [f" {compact(k)}:{compact(v)}," for k, v in head.items()]
    lines.append(' "cells":{')
    body = [f"  {compact(cid)}:{compact(cells[cid])}" for cid in sorted(cells)]
    lines.append(",\n".join(body))
    lines.append(" }")
    return "{\n" + "\n".join(lines) + "\n}\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", metavar="DIR", help="default: ../shared/data/battery")
    parser.add_argument("--out", metavar="FILE", default=str(OUT))
    args = parser.parse_args(argv)
    try:
        cells = derive(Path(args.data) if args.data else default_data_dir())
    except BatteryDataError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    text = render(cells)
    json.loads(text)  # the file must stay valid JSON whatever render does
    Path(args.out).write_text(text, encoding="utf-8")
    print(f"wrote {args.out}: {len(cells)} cells, {len(text.encode()):,} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
