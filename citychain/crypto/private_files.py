"""Secrets at rest: a new file, mode 0600 from its creation, written whole or not at all.

The keystore's keys and the registrar office's sealed records are written this way: the content
goes to a temporary file (mkstemp: O_EXCL, mode 0600) that is fsynced and then hard-linked to
the final name. link(2) fails if the name exists, so two writers racing for one name cannot
overwrite each other, and a crash leaves either no file or a complete one (never a torn file
that would later read as tampered). Where the file system has no hard links, fall back to
os.replace after an existence check.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

__all__ = ["fsync_directory", "write_new_private"]


def write_new_private(path: Path, content: bytes) -> None:
    """Write ``path`` atomically and durably, mode 0600; FileExistsError if it exists."""
    folder = path.parent
    descriptor, temporary_name = tempfile.mkstemp(
        prefix=f".{path.name}.", suffix=".tmp", dir=folder
    )
    temporary = Path(temporary_name)
    try:
        with os.fdopen(descriptor, "wb") as stream:
            stream.write(content)
            stream.flush()
            os.fsync(stream.fileno())
        try:
            os.link(temporary, path)
        except FileExistsError:
            raise
        except OSError:
            if path.exists():
                raise FileExistsError(path) from None
            os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
    fsync_directory(folder)


def fsync_directory(path: Path) -> None:
    """Make a rename, link or unlink in ``path`` durable (POSIX); a no-op where unsupported."""
    try:
        descriptor = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)
