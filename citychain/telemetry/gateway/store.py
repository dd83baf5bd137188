"""The gateway's own embedded store: accepted raw reports, per-device counters, batches.

SQLite in WAL mode with ``synchronous=FULL``: a group of reports is one transaction, and the
gateway acknowledges their MQTT messages only after it commits, so a report the broker has
forgotten is always on disk here. A batch is written as ``pending`` (with its reports' leaf
positions) in the same transaction that cuts it, before its anchor is submitted; it becomes
``anchored`` with the ledger height once the ledger has it. Each thread gets its own connection.

A sharded gateway (`citychain gateway --shards N`) keeps one such store per shard, in
``DIR/shard-<k>``, and writes its layout to ``DIR/shards.json``; ``store_dirs`` lists the stores
under a folder of either kind, and a store records which shard it is (``check_layout``), so that
a device never moves to a store that lacks its replay counter.
"""

from __future__ import annotations

import fcntl
import json
import os
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from citychain.modules.devices import BATCH_DOMAIN, batch_id_of
from citychain.telemetry import merkle

__all__ = [
    "BATCH_DOMAIN",
    "SHARDS_FILE",
    "Batch",
    "GatewayStore",
    "StoredReport",
    "batch_id_of",
    "find_report",
    "shard_dir",
    "store_all_anchored",
    "store_dirs",
]

PENDING = "pending"
ANCHORED = "anchored"
SHARDS_FILE = "shards.json"
LOCK_FILE = "gateway.lock"

SCHEMA = """
CREATE TABLE IF NOT EXISTS reports (
    seq INTEGER PRIMARY KEY,
    id BLOB NOT NULL UNIQUE,
    device_id BLOB NOT NULL,
    counter INTEGER NOT NULL,
    raw BLOB NOT NULL,
    batch_id BLOB,
    leaf_index INTEGER,
    UNIQUE (device_id, counter)
);
CREATE INDEX IF NOT EXISTS reports_unbatched ON reports (seq) WHERE batch_id IS NULL;
CREATE INDEX IF NOT EXISTS reports_batch ON reports (batch_id, leaf_index);
CREATE TABLE IF NOT EXISTS counters (device_id BLOB PRIMARY KEY, last_counter INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS batches (
    seq INTEGER PRIMARY KEY,
    id BLOB NOT NULL UNIQUE,
    root BLOB NOT NULL,
    count INTEGER NOT NULL,
    status TEXT NOT NULL,
    height INTEGER,
    tx_hash TEXT
);
CREATE INDEX IF NOT EXISTS batches_pending ON batches (seq) WHERE status = 'pending';
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


@dataclass(frozen=True, slots=True)
class Batch:
    id: bytes
    root: bytes
    count: int
    status: str
    height: int | None


@dataclass(frozen=True, slots=True)
class StoredReport:
    id: bytes
    device_id: bytes
    counter: int
    raw: bytes
    batch_id: bytes | None
    leaf_index: int | None


class GatewayStore:
    def __init__(self, directory: Path) -> None:
        if (directory / SHARDS_FILE).exists():
            # Opening it would make an empty store that hides every shard's reports.
            raise ValueError(f"{directory} holds a sharded gateway: open {directory}/shard-<k>")
        directory.mkdir(parents=True, exist_ok=True)
        self.path = directory / "gateway.sqlite"
        self._local = threading.local()
        # executescript commits on its own; CREATE ... IF NOT EXISTS makes a re-run harmless.
        self._db().executescript(SCHEMA)

    def _db(self) -> sqlite3.Connection:
        db: sqlite3.Connection | None = getattr(self._local, "db", None)
        if db is None:
            db = sqlite3.connect(self.path, timeout=30.0, isolation_level=None)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")
            self._local.db = db
        return db

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        db = self._db()
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    def close(self) -> None:
        db = getattr(self._local, "db", None)
        if db is not None:
            db.close()
            self._local.db = None

    def acquire_writer_lock(self, timeout: float = 60.0) -> None:
        """Wait until no other gateway process runs on this store, then keep it to ourselves
        until this process ends (an flock: the kernel lets go when the holder dies, SIGKILL
        included). Readers (proofs, the oracle, the benchmark) never take it."""
        if getattr(self, "_lock_fd", None) is not None:
            return
        fd = os.open(self.path.parent / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    os.close(fd)
                    raise RuntimeError(f"another gateway runs on {self.path.parent}") from None
                time.sleep(0.05)
        self._lock_fd: int | None = fd

    def check_layout(self, shard: int, shards: int) -> None:
        """Record which shard this store serves, or refuse another: a device served here has
        its replay counter here, and a store of another layout would accept its old reports
        again."""
        layout = f"{shard}/{shards}"
        db = self._db()
        row = db.execute("SELECT value FROM meta WHERE key = 'shard'").fetchone()
        if row is None:
            # A store from before sharding is the whole of an unsharded gateway.
            recorded = "0/1" if self.report_count() else layout
            db.execute("INSERT OR IGNORE INTO meta (key, value) VALUES ('shard', ?)", (recorded,))
        else:
            recorded = str(row[0])
        if recorded != layout:
            raise ValueError(
                f"{self.path.parent} is the store of shard {recorded}, not {layout}: its devices' "
                "counters are here; resharding needs a new store for every shard"
            )

    # --- reports --------------------------------------------------------------------------
    def counters(self) -> dict[bytes, int]:
        rows = self._db().execute("SELECT device_id, last_counter FROM counters").fetchall()
        return {bytes(d): int(c) for d, c in rows}

    def has_report(self, report_id: bytes) -> bool:
        row = self._db().execute("SELECT 1 FROM reports WHERE id = ?", (report_id,)).fetchone()
        return row is not None

    def add_reports(self, rows: Iterable[tuple[bytes, bytes, int, bytes]]) -> None:
        """Store (id, device_id, counter, raw) rows and raise each device's counter, atomically."""
        rows = list(rows)
        last: dict[bytes, int] = {}
        for _, device_id, counter, _ in rows:
            last[device_id] = max(counter, last.get(device_id, -1))
        with self._write() as db:
            db.executemany(
                "INSERT INTO reports (id, device_id, counter, raw) VALUES (?, ?, ?, ?)", rows
            )
            db.executemany(
                "INSERT INTO counters (device_id, last_counter) VALUES (?, ?) "
                "ON CONFLICT (device_id) DO UPDATE SET last_counter = "
                "max(last_counter, excluded.last_counter)",
                sorted(last.items()),
            )

    def report(self, report_id: bytes) -> StoredReport | None:
        row = (
            self._db()
            .execute(
                "SELECT id, device_id, counter, raw, batch_id, leaf_index FROM reports "
                "WHERE id = ?",
                (report_id,),
            )
            .fetchone()
        )
        if row is None:
            return None
        batch = bytes(row[4]) if row[4] is not None else None
        return StoredReport(bytes(row[0]), bytes(row[1]), row[2], bytes(row[3]), batch, row[5])

    def report_count(self) -> int:
        return int(self._db().execute("SELECT count(*) FROM reports").fetchone()[0])

    def report_ids(self) -> list[bytes]:
        return [bytes(r[0]) for r in self._db().execute("SELECT id FROM reports ORDER BY seq")]

    def unbatched_count(self) -> int:
        row = self._db().execute("SELECT count(*) FROM reports WHERE batch_id IS NULL").fetchone()
        return int(row[0])

    # --- batches --------------------------------------------------------------------------
    def cut_batch(self, gateway: bytes, max_size: int) -> Batch | None:
        """Group the oldest unbatched reports (at most ``max_size``) into a pending batch."""
        with self._write() as db:
            rows = db.execute(
                "SELECT seq, raw FROM reports WHERE batch_id IS NULL ORDER BY seq LIMIT ?",
                (max_size,),
            ).fetchall()
            if not rows:
                return None
            root = merkle.root([merkle.leaf_hash(bytes(raw)) for _, raw in rows])
            batch_id = batch_id_of(gateway, root, len(rows))
            db.execute(
                "INSERT INTO batches (id, root, count, status) VALUES (?, ?, ?, ?)",
                (batch_id, root, len(rows), PENDING),
            )
            db.executemany(
                "UPDATE reports SET batch_id = ?, leaf_index = ? WHERE seq = ?",
                [(batch_id, index, seq) for index, (seq, _) in enumerate(rows)],
            )
        return Batch(batch_id, root, len(rows), PENDING, None)

    def _batches(self, where: str, args: tuple[object, ...] = ()) -> list[Batch]:
        rows = (
            self._db()
            .execute(f"SELECT id, root, count, status, height FROM batches {where}", args)
            .fetchall()
        )
        return [Batch(bytes(i), bytes(r), c, s, h) for i, r, c, s, h in rows]

    def pending_count(self) -> int:
        row = self._db().execute("SELECT count(*) FROM batches WHERE status = ?", (PENDING,))
        return int(row.fetchone()[0])

    def pending_batches(self, limit: int = 1_000_000) -> list[Batch]:
        return self._batches("WHERE status = ? ORDER BY seq LIMIT ?", (PENDING, limit))

    def batches(self) -> list[Batch]:
        return self._batches("ORDER BY seq")

    def batch(self, batch_id: bytes) -> Batch | None:
        found = self._batches("WHERE id = ?", (batch_id,))
        return found[0] if found else None

    def batch_leaves(self, batch_id: bytes) -> list[bytes]:
        """The raw reports of a batch, in leaf order."""
        rows = self._db().execute(
            "SELECT raw FROM reports WHERE batch_id = ? ORDER BY leaf_index", (batch_id,)
        )
        return [bytes(r[0]) for r in rows]

    def mark_anchored(self, batch_id: bytes, height: int, tx_hash: str) -> None:
        with self._write() as db:
            db.execute(
                "UPDATE batches SET status = ?, height = ?, tx_hash = ? WHERE id = ?",
                (ANCHORED, height, tx_hash, batch_id),
            )


def shard_dir(root: Path, shard: int) -> Path:
    """Where shard ``shard`` of a sharded gateway keeps its store."""
    return root / f"shard-{shard}"


def store_dirs(root: Path) -> list[Path]:
    """The store folders of a gateway's ``--store``: itself when unsharded, else its shards'."""
    layout = root / SHARDS_FILE
    if layout.exists():
        shards = int(json.loads(layout.read_text())["shards"])
        return [shard_dir(root, k) for k in range(shards)]
    return [root]


def store_all_anchored(store_dir: Path, at_least: int) -> bool:
    """Whether the gateway's stores under ``store_dir`` (one, or one per shard) hold
    ``at_least`` reports in all, each in a batch, and no batch waits for its anchor. Each is
    opened only for the question (another process, the gateway, owns it)."""
    total, settled = 0, True
    for directory in store_dirs(store_dir):
        store = GatewayStore(directory)
        try:
            total += store.report_count()
            settled = settled and store.unbatched_count() == 0 and not store.pending_batches(1)
        finally:
            store.close()
    return settled and total >= at_least


def find_report(root: Path, report_id: bytes) -> tuple[Path, StoredReport] | None:
    """The store folder holding ``report_id`` and the report, among ``store_dirs(root)``."""
    for directory in store_dirs(root):
        if not (directory / "gateway.sqlite").exists():
            continue
        store = GatewayStore(directory)
        try:
            found = store.report(report_id)
        finally:
            store.close()
        if found is not None:
            return directory, found
    return None
