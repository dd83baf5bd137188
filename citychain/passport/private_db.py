"""SQLite files that only the node's own user may read: the openings (restricted passport
parts in clear) and the read-request nonces. The folder is made (or narrowed to) mode 0700 and
the file created 0600 before SQLite opens it; SQLite gives its ``-wal`` and ``-shm`` files the
database file's mode."""

from __future__ import annotations

import os
import sqlite3
import stat
from pathlib import Path

__all__ = ["DIR_MODE", "FILE_MODE", "connect_private"]

DIR_MODE = 0o700
FILE_MODE = 0o600
# Permission bits a private file or folder must not have: any for the group or others.
_SHARED_BITS = stat.S_IRWXG | stat.S_IRWXO


def _narrow(path: Path, mode: int) -> None:
    """Drop the group's and others' bits of ``path`` (made earlier, or by someone else)."""
    current = stat.S_IMODE(path.stat().st_mode)
    if current & _SHARED_BITS:
        path.chmod(mode)


def connect_private(path: Path) -> sqlite3.Connection:
    """A WAL connection to ``path`` (autocommit, shareable between threads under the caller's
    lock), its folder 0700 and the file 0600 whoever made them."""
    path.parent.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    _narrow(path.parent, DIR_MODE)
    os.close(os.open(path, os.O_RDWR | os.O_CREAT, FILE_MODE))
    _narrow(path, FILE_MODE)
    for suffix in ("-wal", "-shm"):
        sidecar = path.with_name(path.name + suffix)
        if sidecar.exists():
            _narrow(sidecar, FILE_MODE)
    db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    db.execute("PRAGMA journal_mode=WAL")
    return db
