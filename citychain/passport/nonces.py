"""The read requests a node has served, by nonce, and the node's own id: one SQLite file beside
the chain (``HOME/data/read-requests.sqlite``, mode 0600), shared by every gated route.

A signed read request names the node it is for (``node_id``) and carries a random nonce. The
node answers a request once: the nonce is kept until the request has expired (its own
``expires_at_ms`` plus the clock-skew allowance), so a copy is refused on any route, by this
process or the next one after a restart. Rows past that time are pruned as requests come.

The node id is 16 random bytes drawn when the file is made and kept in it: it is served by
``GET /status`` (``node_id``) for clients to sign for. Keeping it with the nonces means the two
are lost together: a node whose nonce file is deleted gets a new id, so no request signed
before can be replayed against the empty store.

Writes use ``synchronous=NORMAL`` in WAL mode: a nonce survives a crash of the process, and a
power loss may lose the last ones, but a machine that loses power is down for longer than a
request lives.
"""

from __future__ import annotations

import secrets
import sqlite3
import threading
from pathlib import Path

from citychain.passport.private_db import connect_private

__all__ = ["FILE_NAME", "NODE_ID_SIZE", "NonceStore"]

FILE_NAME = "read-requests.sqlite"
NODE_ID_SIZE = 16
# Expired rows are deleted at most this often (ms of the node's clock), not on every request.
PRUNE_EVERY_MS = 1_000

SCHEMA = """
CREATE TABLE IF NOT EXISTS node (
    singleton INTEGER PRIMARY KEY CHECK (singleton = 1),
    node_id BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS nonces (
    nonce BLOB PRIMARY KEY,
    keep_until_ms INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS nonces_by_time ON nonces (keep_until_ms);
"""


class NonceStore:
    """The nonces of served read requests and the node id, in one file; thread-safe."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._db = connect_private(path)
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(SCHEMA)
        self._pruned_at: int | None = None
        self.node_id = self._node_id()

    def _node_id(self) -> bytes:
        with self._lock:
            self._db.execute(
                "INSERT OR IGNORE INTO node VALUES (1, ?)", (secrets.token_bytes(NODE_ID_SIZE),)
            )
            (node_id,) = self._db.execute("SELECT node_id FROM node").fetchone()
        return bytes(node_id)

    def use(self, nonce: bytes, keep_until_ms: int, now_ms: int) -> bool:
        """Record ``nonce`` until ``keep_until_ms``; False if it is already recorded (a
        replay). The check and the record are one statement, so two copies sent at once
        cannot both pass."""
        with self._lock:
            self._prune(now_ms)
            try:
                self._db.execute("INSERT INTO nonces VALUES (?, ?)", (nonce, keep_until_ms))
            except sqlite3.IntegrityError:
                return False
        return True

    def _prune(self, now_ms: int) -> None:
        if self._pruned_at is not None and 0 <= now_ms - self._pruned_at < PRUNE_EVERY_MS:
            return
        self._db.execute("DELETE FROM nonces WHERE keep_until_ms < ?", (now_ms,))
        self._pruned_at = now_ms

    def __len__(self) -> int:
        with self._lock:
            (count,) = self._db.execute("SELECT count(*) FROM nonces").fetchone()
        return int(count)

    def close(self) -> None:
        with self._lock:
            self._db.close()
