"""Salted hash commitments, the construction the ledger keeps instead of personal or
restricted data (registry records, battery passport parts):

    commitment = sha256(domain || salt || content)

``domain`` separates the modules' commitments (a registry commitment can never be opened as a
battery one); ``salt`` (32 random bytes, kept off the ledger) makes it hiding; sha256 makes it
binding.
"""

from __future__ import annotations

import hashlib

__all__ = ["SALT_SIZE", "salted_commitment"]

SALT_SIZE = 32


def salted_commitment(domain: bytes, content: bytes, salt: bytes) -> bytes:
    """The 32-byte commitment to ``content`` under ``salt`` (32 bytes) in ``domain``."""
    if len(salt) != SALT_SIZE:
        raise ValueError(f"salt must be {SALT_SIZE} bytes, got {len(salt)}")
    return hashlib.sha256(domain + salt + content).digest()
