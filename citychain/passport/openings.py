"""A node's store of openings: the restricted passport parts whose commitments are on the
ledger, kept beside the chain in the node's own SQLite file (docs/modules/battery.md §5).

An opening is ``(part, fields, salt)``. The store accepts one only when it opens the commitment
the ledger holds for that battery and part now, so anyone may deliver it (the manufacturer for
points 2 and 3 after registration, the oracle for the health after each update) and nobody can
plant other data: the ledger decides what is true, the store only remembers the clear text.
Openings are not consensus data; each node keeps the ones delivered to it, and the reader
checks every opening it is served against the ledger (``restricted.verify_served``). The file
holds the parts in clear, so it is the node user's only: mode 0600 in a folder of mode 0700.

The ledger cannot check the ranges of values it only sees committed, so the store does, for
the health: the values must decode as ``HealthValues`` (each within its physical range), the
remaining capacity must be at most 120 % of rated, and the cumulative counters (energy,
cycles, time at extreme temperatures, deep discharges) must not be below the previous opened
update's. A commitment whose opening fails stays unopened, which every reader sees.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec

from citychain.modules.battery import (
    HEALTH,
    RESTRICTED_PARTS,
    SALT_SIZE,
    Battery,
    HealthValues,
    commit_part,
    commitment_of,
    get_battery,
    get_health,
)
from citychain.passport import errors
from citychain.passport.errors import RestrictedReadError
from citychain.passport.private_db import connect_private
from citychain.state.overlay import StateReader

__all__ = ["CUMULATIVE", "Opening", "OpeningStore", "health_fields"]

# Remaining capacity above this share of rated (per mille) is a unit slip or a broken sensor.
MAX_REMAINING_PERMILLE = 1_200
# Counters of what happened to the battery: they only grow.
CUMULATIVE = (
    "energy_throughput_wh",
    "equivalent_full_cycles_x100",
    "extreme_temperature_s",
    "deep_discharge_events",
)

SCHEMA = """
CREATE TABLE IF NOT EXISTS openings (
    battery_id BLOB NOT NULL,
    part TEXT NOT NULL,
    commitment BLOB NOT NULL,
    height INTEGER NOT NULL,
    time_ms INTEGER NOT NULL,
    fields TEXT NOT NULL,
    salt BLOB NOT NULL,
    PRIMARY KEY (battery_id, part, commitment)
);
CREATE INDEX IF NOT EXISTS openings_by_height ON openings (battery_id, part, height);
"""


@dataclass(frozen=True)
class Opening:
    """A restricted part in clear, with the salt that opens the ledger's commitment, and the
    height (and block time, for the health) at which the ledger recorded that commitment."""

    battery_id: bytes
    part: str
    commitment: bytes
    height: int
    time_ms: int
    fields: Mapping[str, Any]
    salt: bytes


def health_fields(values: HealthValues) -> dict[str, int]:
    """The fields of the health part, as committed: ``commit_part(HEALTH, fields, salt)``."""
    return msgspec.structs.asdict(values)


def _canonical(fields: Mapping[str, Any]) -> str:
    return json.dumps(dict(fields), sort_keys=True, separators=(",", ":"), ensure_ascii=False)


class OpeningStore:
    """Openings in one SQLite file (WAL); safe to share between the API's threads."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        # The fields in clear: only the node's own user may read the file (mode 0600, in a
        # folder of mode 0700).
        self._db = connect_private(path)
        self._db.executescript(SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def accept(
        self,
        state: StateReader,
        battery_id: bytes,
        part: str,
        fields: Mapping[str, Any],
        salt: bytes,
    ) -> Opening:
        """Keep ``fields`` under ``salt`` if they open the ledger's current commitment to
        ``part`` of the battery; RestrictedReadError naming the failed check otherwise.
        Delivering the same opening twice is harmless."""
        battery = get_battery(state, battery_id)
        if battery is None:
            raise RestrictedReadError(errors.UNKNOWN_BATTERY, f"no battery {battery_id.hex()}")
        if part not in RESTRICTED_PARTS:
            raise RestrictedReadError(
                errors.UNKNOWN_PART, f"{part!r}; restricted parts: {', '.join(RESTRICTED_PARTS)}"
            )
        if len(salt) != SALT_SIZE:
            raise RestrictedReadError(
                errors.BAD_VALUES, f"the salt must be {SALT_SIZE} bytes, got {len(salt)}"
            )
        expected = commitment_of(state, battery_id, battery, part)
        if expected is None:
            raise RestrictedReadError(
                errors.NOT_COMMITTED, f"battery {battery_id.hex()} has no {part} update yet"
            )
        try:
            opened = commit_part(part, fields, salt)
        except ValueError as exc:
            raise RestrictedReadError(errors.BAD_VALUES, str(exc)) from None
        if opened != expected:
            raise RestrictedReadError(
                errors.COMMITMENT_MISMATCH,
                f"these fields do not open the ledger's current {part} commitment of "
                f"{battery_id.hex()}",
            )
        height, time_ms = battery.registered_height, 0
        if part == HEALTH:
            health = get_health(state, battery_id)
            assert health is not None  # commitment_of found it
            height, time_ms = health.updated_height, health.updated_time_ms
        opening = Opening(battery_id, part, opened, height, time_ms, dict(fields), salt)
        with self._lock:
            if part == HEALTH:
                self._check_health(battery, opening)
            self._db.execute(
                "INSERT OR IGNORE INTO openings VALUES (?, ?, ?, ?, ?, ?, ?)",
                (battery_id, part, opened, height, time_ms, _canonical(fields), salt),
            )
        return opening

    def _check_health(self, battery: Battery, opening: Opening) -> None:
        try:
            values = msgspec.convert(dict(opening.fields), HealthValues, strict=True)
        except msgspec.ValidationError as exc:
            raise RestrictedReadError(errors.BAD_VALUES, f"health: {exc}") from None
        rated = battery.passport.rated_capacity_mah
        if values.remaining_capacity_mah * 1_000 > rated * MAX_REMAINING_PERMILLE:
            raise RestrictedReadError(
                errors.BAD_VALUES,
                f"remaining capacity {values.remaining_capacity_mah} mAh exceeds 120 % of "
                f"rated {rated} mAh",
            )
        previous = self._latest_locked(opening.battery_id, HEALTH, before=opening.height)
        if previous is None:
            return
        for name in CUMULATIVE:
            before, after = int(previous.fields[name]), getattr(values, name)
            if after < before:
                raise RestrictedReadError(
                    errors.NOT_MONOTONE, f"{name} went down: {before} -> {after}"
                )

    def _rows(self, sql: str, args: tuple[Any, ...]) -> list[Opening]:
        return [
            Opening(bytes(r[0]), r[1], bytes(r[2]), r[3], r[4], json.loads(r[5]), bytes(r[6]))
            for r in self._db.execute(sql, args).fetchall()
        ]

    def _latest_locked(self, battery_id: bytes, part: str, before: int) -> Opening | None:
        rows = self._rows(
            "SELECT * FROM openings WHERE battery_id = ? AND part = ? AND height < ? "
            "ORDER BY height DESC LIMIT 1",
            (battery_id, part, before),
        )
        return rows[0] if rows else None

    def latest(self, battery_id: bytes, part: str) -> Opening | None:
        """The most recent opening of ``part`` this node holds."""
        with self._lock:
            return self._latest_locked(battery_id, part, before=2**63 - 1)

    def get(self, battery_id: bytes, part: str, commitment: bytes) -> Opening | None:
        with self._lock:
            rows = self._rows(
                "SELECT * FROM openings WHERE battery_id = ? AND part = ? AND commitment = ?",
                (battery_id, part, commitment),
            )
        return rows[0] if rows else None

    def series(self, battery_id: bytes, part: str, limit: int) -> tuple[list[Opening], bool]:
        """The newest ``limit`` openings of ``part``, oldest first, and whether that is all."""
        with self._lock:
            rows = self._rows(
                "SELECT * FROM openings WHERE battery_id = ? AND part = ? "
                "ORDER BY height DESC LIMIT ?",
                (battery_id, part, limit + 1),
            )
        return list(reversed(rows[:limit])), len(rows) <= limit
