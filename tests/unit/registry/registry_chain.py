"""Builders for the registry tests: two registrar offices and fixed record ids."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from helpers import DEFAULT_BALANCES, Chain, key

from citychain.app import TxResult
from citychain.crypto.keys import PrivateKey

NORTH = key("registrar/north")  # registrar office that registers the records
SOUTH = key("registrar/south")  # another office: may amend and revoke them too
REGISTRY_BALANCES: dict[PrivateKey, int] = {**DEFAULT_BALANCES, NORTH: 1_000, SOUTH: 1_000}


def rid(name: str) -> bytes:
    """A fixed 32-byte record id (a registrar draws random ones)."""
    return hashlib.sha256(b"record/" + name.encode()).digest()


def commitment(name: str) -> bytes:
    return hashlib.sha256(b"commitment/" + name.encode()).digest()


def registry_chain(directory: Path) -> Chain:
    return Chain.create(directory, REGISTRY_BALANCES, registrars=(NORTH, SOUTH))


def event(result: TxResult, type_: str) -> dict[str, Any]:
    found = [dict(e.attributes) for e in result.events if e.type == type_]
    assert len(found) == 1, [e.type for e in result.events]
    return found[0]
