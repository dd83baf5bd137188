"""Registry read paths (JSON views); proofs come from the application's ``prove`` on
``record_key(id)``, so a verifier can check one version's status against a signed header."""

from __future__ import annotations

from typing import Any

from citychain.crypto.address import address_from_bytes
from citychain.modules.registry.state import (
    KIND_NAMES,
    REVOCATION_REASONS,
    STATUS_NAMES,
    Change,
    Record,
    get_record,
    record_key,
)
from citychain.state.overlay import StateReader

__all__ = ["history_view", "record_key", "record_view"]

# A walk along the version chain stops here: far more amendments than any record will have.
MAX_VERSIONS = 1_000


def _hex(value: bytes) -> str | None:
    return value.hex() if value else None


def _change_view(change: Change) -> dict[str, Any]:
    return {
        "action": change.action,
        "registrar": address_from_bytes(change.registrar),
        "height": change.height,
        "tx_hash": change.tx_hash.hex(),
        "related": _hex(change.related),
        "reason": REVOCATION_REASONS.get(change.reason),
    }


def _view(record_id: bytes, record: Record) -> dict[str, Any]:
    return {
        "id": record_id.hex(),
        "kind": KIND_NAMES[record.kind],
        "status": STATUS_NAMES[record.status],
        "commitment": record.commitment.hex(),
        "office": address_from_bytes(record.office),
        "registrar": address_from_bytes(record.registrar),
        "version": record.version,
        "previous": _hex(record.previous),
        "superseded_by": _hex(record.superseded_by),
        "linked_record": _hex(record.linked_record),
        "wallets": [address_from_bytes(w) for w in record.wallets],
        "deceased_by": _hex(record.deceased_by),
        "revocation_reason": REVOCATION_REASONS.get(record.revocation_reason),
        "history": [_change_view(c) for c in record.history],
    }


def record_view(state: StateReader, record_id: bytes) -> dict[str, Any] | None:
    """One version of a record, with its own audit trail."""
    record = get_record(state, record_id)
    return None if record is None else _view(record_id, record)


def history_view(state: StateReader, record_id: bytes) -> list[dict[str, Any]] | None:
    """Every version of the record ``record_id`` belongs to, oldest first."""
    record = get_record(state, record_id)
    if record is None:
        return None
    first_id, first = record_id, record
    for _ in range(MAX_VERSIONS):
        if not first.previous:
            break
        older = get_record(state, first.previous)
        if older is None:
            break
        first_id, first = first.previous, older
    versions = [_view(first_id, first)]
    current = first
    while current.superseded_by and len(versions) < MAX_VERSIONS:
        newer_id = current.superseded_by
        newer = get_record(state, newer_id)
        if newer is None:
            break
        versions.append(_view(newer_id, newer))
        current = newer
    return versions
