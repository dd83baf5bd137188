"""Shared by the oracle tests: the data folder (skip when absent) and small synthetic cells."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from citychain.oracle.battery_data import CellMeta, CellSeries, default_data_dir, load_dataset


def dataset() -> tuple[list[CellSeries], dict[str, CellMeta]]:
    folder = default_data_dir()
    if not (folder / "cycles.csv").exists():
        pytest.skip(f"battery data folder {folder} not present")
    return load_dataset(folder)


def synthetic_csv(
    cell_id: str = "cellA", cycles: int = 250, knee: float = 400.0, scale: float = 1.0
) -> str:
    """A plausible LFP-like curve: slow linear fade, then an accelerating knee."""
    lines = ["cell_id,cycle,discharge_capacity_ah"]
    for n in range(1, cycles + 1):
        q = 1.08 - 2e-5 * n - 0.02 * math.exp((n - knee) / 60.0) + 0.0005 * math.sin(n)
        lines.append(f"{cell_id},{n},{q * scale:.5f}")
    return "\n".join(lines) + "\n"


def write(tmp: Path, name: str, text: str) -> Path:
    path = tmp / name
    path.write_text(text, encoding="utf-8")
    return path
