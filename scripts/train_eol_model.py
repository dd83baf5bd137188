"""Regenerate citychain/oracle/eol_params.json from the battery data folder.

    .venv/bin/python scripts/train_eol_model.py [--data DIR] [--out FILE]

The committed parameters are fitted on all 84 cells (both batches); the benchmark
(``citychain bench battery``) refits per split in its own run and never uses this file.
Prints the model hash, which ``citychain battery predict`` reports with every prediction.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from citychain.oracle.battery_data import BatteryDataError, default_data_dir, load_dataset
from citychain.oracle.eol_model import PARAMS_PATH, fit_model, model_hash, save_params

RATED_NOMINAL_AH = 1.1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", metavar="DIR", help="default: ../shared/data/battery")
    parser.add_argument("--out", metavar="FILE", default=str(PARAMS_PATH))
    args = parser.parse_args(argv)
    try:
        cells, meta = load_dataset(Path(args.data) if args.data else default_data_dir())
    except BatteryDataError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    lives = {c.cell_id: meta[c.cell_id].cycle_life for c in cells}
    groups = {c.cell_id: meta[c.cell_id].charge_policy for c in cells}
    batches = sorted({m.batch for m in meta.values()})
    model = fit_model(
        cells,
        lives,
        groups,
        RATED_NOMINAL_AH,
        trained_on=f"Severson/Attia et al. 2019 batches {batches}: {len(cells)} cells, "
        "discharge capacity per cycle, EOL < 0.88 Ah",
    )
    save_params(model, Path(args.out))
    print(f"wrote {args.out}: {len(model.models)} cut-off models, hash {model_hash(model)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
