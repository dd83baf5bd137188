"""The salted commitment the ledger holds for each restricted part of a passport
(docs/modules/battery.md §2), the registry's construction under the battery's own domain:

    commitment = sha256(DOMAIN || salt || content)
    content    = canonical JSON of {"part": part, "fields": fields}

Putting the part's name in the content binds a commitment to one part, so the manufacturer
cannot open the composition commitment with test-report fields. ``salt`` (32 random bytes)
makes it hiding: nobody can confirm a guessed cathode composition by hashing candidates.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from citychain.crypto.commitment import SALT_SIZE, salted_commitment

__all__ = ["DOMAIN", "SALT_SIZE", "commit", "commit_part", "part_content"]

DOMAIN = b"citychain/battery/commitment/v1\x00"


def _no_floats(value: Any) -> None:
    # A float's JSON text differs between languages and libraries: the content must be integers,
    # strings, booleans, lists and objects only, so every verifier rebuilds the same bytes.
    if isinstance(value, float):
        raise ValueError("restricted fields must not contain floats: use fixed-point integers")
    if isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, str):
                raise ValueError(f"object keys must be strings, got {key!r}")
            _no_floats(item)
    elif isinstance(value, list | tuple):
        for item in value:
            _no_floats(item)


def part_content(part: str, fields: Mapping[str, Any]) -> bytes:
    """The canonical bytes of one restricted part: sorted keys, no spaces, UTF-8."""
    _no_floats(fields)
    document = {"part": part, "fields": dict(fields)}
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def commit(content: bytes, salt: bytes) -> bytes:
    """The 32-byte commitment to ``content`` under ``salt`` (32 bytes)."""
    return salted_commitment(DOMAIN, content, salt)


def commit_part(part: str, fields: Mapping[str, Any], salt: bytes) -> bytes:
    return commit(part_content(part, fields), salt)
