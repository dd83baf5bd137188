"""Regenerate citychain/oracle/curve_params.json from the battery data folder.

    .venv/bin/python scripts/train_curve_model.py [--data DIR] [--out FILE]

The committed curve model is fitted on all 84 cells (both batches), its feature group and
lambda chosen by cross-validation inside them; the benchmark (``citychain bench battery``)
refits per split in its own run and never uses this file. Prints the model hash, which
``citychain battery predict --curves`` reports with every curve prediction.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from citychain.oracle.battery_data import BatteryDataError, default_data_dir
from citychain.oracle.curve_model import (
    CURVE_PARAMS_PATH,
    curve_model_hash,
    fit_curve_model,
    load_training_data,
    save_curve_params,
    training_cells,
)
from citychain.oracle.eol_features import PredictionError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", metavar="DIR", help="default: ../shared/data/battery")
    parser.add_argument("--out", metavar="FILE", default=str(CURVE_PARAMS_PATH))
    args = parser.parse_args(argv)
    folder = Path(args.data) if args.data else default_data_dir()
    try:
        _cells, meta, features = load_training_data(folder)
    except (BatteryDataError, PredictionError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    batches = sorted({meta[c].batch for c in features})
    model = fit_curve_model(
        training_cells(features, meta, features),
        trained_on=f"Severson/Attia et al. 2019 batches {batches}: {len(features)} cells, "
        "discharge curves of cycles 10 and 100 and capacity of cycles 2..100, EOL < 0.88 Ah",
    )
    save_curve_params(model, Path(args.out))
    print(
        f"wrote {args.out}: group {model.group}, lambda {model.ridge_lambda}, "
        f"cv error {100 * model.cv_error:.1f} %, hash {curve_model_hash(model)}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
