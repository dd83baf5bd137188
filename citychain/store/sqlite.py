"""The node's embedded store: SQLite in WAL mode, one transaction per block.

A block's header, transactions, receipts, state writes and indexes are written in a single
SQLite transaction with ``synchronous=FULL``, so a crash at any instant leaves the last
committed block whole and nothing acknowledged is lost (sqlite.org/atomiccommit.html).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

__all__ = ["BlockRecord", "BlockStore", "TxRecord"]

# SQLite's default checkpoints the WAL every 1,000 pages (4 MB): with a large state that is
# every block, copying each dirty page back twice. A larger interval lets pages that several
# blocks touch be copied once.
WAL_CHECKPOINT_PAGES = 16384

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS blocks (
  height INTEGER PRIMARY KEY, hash BLOB NOT NULL, time_ms INTEGER NOT NULL,
  header BLOB NOT NULL, signature BLOB NOT NULL, app_hash BLOB NOT NULL, num_txs INTEGER NOT NULL);
CREATE UNIQUE INDEX IF NOT EXISTS blocks_by_hash ON blocks(hash);
CREATE TABLE IF NOT EXISTS txs (
  hash BLOB PRIMARY KEY, height INTEGER NOT NULL, idx INTEGER NOT NULL,
  raw BLOB NOT NULL, result BLOB NOT NULL) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS txs_by_position ON txs(height, idx);
CREATE TABLE IF NOT EXISTS state (key BLOB PRIMARY KEY, value BLOB NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS account_txs (
  address BLOB NOT NULL, height INTEGER NOT NULL, idx INTEGER NOT NULL,
  PRIMARY KEY (address, height, idx)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS event_txs (
  type TEXT NOT NULL, height INTEGER NOT NULL, idx INTEGER NOT NULL,
  PRIMARY KEY (type, height, idx)) WITHOUT ROWID;
"""


@dataclass(frozen=True, slots=True)
class BlockRecord:
    height: int
    hash: bytes
    time_ms: int
    header: bytes
    signature: bytes
    app_hash: bytes
    num_txs: int


@dataclass(frozen=True, slots=True)
class TxRecord:
    hash: bytes
    height: int
    index: int
    raw: bytes
    result: bytes


class BlockStore:
    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("PRAGMA cache_size=-200000")
        self._db.execute(f"PRAGMA wal_autocheckpoint={WAL_CHECKPOINT_PAGES}")
        self._db.executescript(_SCHEMA)
        # Readers get their own connection: in WAL mode they see the last committed block
        # while the writer thread is in the middle of the next one.
        self._read = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        self._read.execute("PRAGMA cache_size=-50000")

    def close(self) -> None:
        self._read.close()
        self._db.close()

    # --- meta -------------------------------------------------------------------------------
    def get_meta(self, key: str) -> bytes | None:
        row = self._read.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return bytes(row[0]) if row else None

    def last_height(self) -> int:
        """Height of the last committed block; 0 after genesis only; -1 before genesis."""
        raw = self.get_meta("last_height")
        return int(raw.decode()) if raw is not None else -1

    def app_hash(self) -> bytes:
        return self.get_meta("app_hash") or b""

    # --- writes -----------------------------------------------------------------------------
    def commit(
        self,
        *,
        height: int,
        app_hash: bytes,
        writes: Iterable[tuple[bytes, bytes | None]],
        block: BlockRecord | None = None,
        txs: Iterable[TxRecord] = (),
        account_index: Iterable[tuple[bytes, int, int]] = (),
        event_index: Iterable[tuple[str, int, int]] = (),
        meta: Iterable[tuple[str, bytes]] = (),
    ) -> None:
        """Write one block (or the genesis state) atomically."""
        db = self._db
        upserts: list[tuple[bytes, bytes]] = []
        deletes: list[tuple[bytes]] = []
        for key, value in writes:
            if value is None:
                deletes.append((key,))
            else:
                upserts.append((key, value))
        db.execute("BEGIN IMMEDIATE")
        try:
            if block is not None:
                db.execute(
                    "INSERT INTO blocks VALUES (?,?,?,?,?,?,?)",
                    (
                        block.height,
                        block.hash,
                        block.time_ms,
                        block.header,
                        block.signature,
                        block.app_hash,
                        block.num_txs,
                    ),
                )
            # A block may carry bytes already committed (a replay, refused with tx/5) or the
            # same bytes twice; the hash index keeps the first inclusion instead of failing the
            # whole block, which would halt the node.
            db.executemany(
                "INSERT OR IGNORE INTO txs VALUES (?,?,?,?,?)",
                ((t.hash, t.height, t.index, t.raw, t.result) for t in txs),
            )
            db.executemany("INSERT OR REPLACE INTO state VALUES (?,?)", upserts)
            db.executemany("DELETE FROM state WHERE key=?", deletes)
            db.executemany("INSERT OR IGNORE INTO account_txs VALUES (?,?,?)", account_index)
            db.executemany("INSERT OR IGNORE INTO event_txs VALUES (?,?,?)", event_index)
            db.executemany(
                "INSERT OR REPLACE INTO meta VALUES (?,?)",
                [*meta, ("last_height", str(height).encode()), ("app_hash", app_hash)],
            )
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    # --- reads ------------------------------------------------------------------------------
    def load_state(self) -> dict[bytes, bytes]:
        return {bytes(k): bytes(v) for k, v in self._read.execute("SELECT key, value FROM state")}

    def block(self, height: int) -> BlockRecord | None:
        row = self._read.execute("SELECT * FROM blocks WHERE height=?", (height,)).fetchone()
        return _block(row) if row else None

    def block_by_hash(self, block_hash: bytes) -> BlockRecord | None:
        row = self._read.execute("SELECT * FROM blocks WHERE hash=?", (block_hash,)).fetchone()
        return _block(row) if row else None

    def recent_blocks(self, limit: int, before: int | None = None) -> list[BlockRecord]:
        if before is None:
            rows = self._read.execute(
                "SELECT * FROM blocks ORDER BY height DESC LIMIT ?", (limit,)
            ).fetchall()
        else:
            rows = self._read.execute(
                "SELECT * FROM blocks WHERE height<? ORDER BY height DESC LIMIT ?", (before, limit)
            ).fetchall()
        return [_block(r) for r in rows]

    def tx(self, tx_hash: bytes) -> TxRecord | None:
        row = self._read.execute("SELECT * FROM txs WHERE hash=?", (tx_hash,)).fetchone()
        return _tx(row) if row else None

    def has_tx(self, tx_hash: bytes) -> bool:
        return (
            self._read.execute("SELECT 1 FROM txs WHERE hash=?", (tx_hash,)).fetchone() is not None
        )

    def block_txs(self, height: int) -> list[TxRecord]:
        rows = self._read.execute(
            "SELECT * FROM txs WHERE height=? ORDER BY idx", (height,)
        ).fetchall()
        return [_tx(r) for r in rows]

    def txs_by_account(self, address: bytes, limit: int) -> list[TxRecord]:
        return self._indexed(
            "SELECT t.* FROM account_txs a JOIN txs t ON t.height=a.height AND t.idx=a.idx "
            "WHERE a.address=? ORDER BY a.height DESC, a.idx DESC LIMIT ?",
            (address, limit),
        )

    def txs_by_event(self, event_type: str, limit: int) -> list[TxRecord]:
        return self._indexed(
            "SELECT t.* FROM event_txs e JOIN txs t ON t.height=e.height AND t.idx=e.idx "
            "WHERE e.type=? ORDER BY e.height DESC, e.idx DESC LIMIT ?",
            (event_type, limit),
        )

    def _indexed(self, sql: str, args: tuple[object, ...]) -> list[TxRecord]:
        return [_tx(r) for r in self._read.execute(sql, args).fetchall()]

    def iter_state(self) -> Iterator[tuple[bytes, bytes]]:
        for key, value in self._read.execute("SELECT key, value FROM state ORDER BY key"):
            yield bytes(key), bytes(value)

    def state_keys_after(self, prefix: bytes, after: bytes | None, limit: int) -> list[bytes]:
        """Up to ``limit`` state keys that start with ``prefix`` and sort after the key
        ``after`` (from the first when None), in key order: a seek on the state table's
        primary key, O(log n + limit) however large the state. Blobs compare as bytes do."""
        low, low_op = (after, ">") if after is not None and after >= prefix else (prefix, ">=")
        high = _prefix_end(prefix)
        sql = f"SELECT key FROM state WHERE key {low_op} ?"
        args: tuple[object, ...] = (low,)
        if high is not None:
            sql, args = sql + " AND key < ?", (*args, high)
        rows = self._read.execute(sql + " ORDER BY key LIMIT ?", (*args, limit))
        return [bytes(key) for (key,) in rows]


def _prefix_end(prefix: bytes) -> bytes | None:
    """The least key above every key that starts with ``prefix``; None when there is none."""
    stripped = prefix.rstrip(b"\xff")
    if not stripped:
        return None
    return stripped[:-1] + bytes([stripped[-1] + 1])


def _block(row: tuple[object, ...]) -> BlockRecord:
    height, hash_, time_ms, header, signature, app_hash, num_txs = row
    return BlockRecord(
        int(height),  # type: ignore[call-overload]
        bytes(hash_),  # type: ignore[call-overload]
        int(time_ms),  # type: ignore[call-overload]
        bytes(header),  # type: ignore[call-overload]
        bytes(signature),  # type: ignore[call-overload]
        bytes(app_hash),  # type: ignore[call-overload]
        int(num_txs),  # type: ignore[call-overload]
    )


def _tx(row: tuple[object, ...]) -> TxRecord:
    hash_, height, idx, raw, result = row
    return TxRecord(
        bytes(hash_),  # type: ignore[call-overload]
        int(height),  # type: ignore[call-overload]
        int(idx),  # type: ignore[call-overload]
        bytes(raw),  # type: ignore[call-overload]
        bytes(result),  # type: ignore[call-overload]
    )
