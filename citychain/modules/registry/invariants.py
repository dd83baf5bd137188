"""Registry invariants, checked after every block in tests and the simulator."""

from __future__ import annotations

from citychain.codec import decode
from citychain.modules.base import PrefixScan
from citychain.modules.registry.state import (
    KIND_BIRTH,
    KIND_DEATH,
    KIND_NAMES,
    RECORD_PREFIX,
    REVOCATION_REASONS,
    STATUS_NAMES,
    STATUS_REVOKED,
    STATUS_SUPERSEDED,
    STATUS_VALID,
    WALLET_PREFIX,
    Record,
)

__all__ = ["death_marks", "record_statuses", "version_links", "wallet_claims"]


def _records(scan: PrefixScan) -> dict[bytes, Record]:
    return {key[len(RECORD_PREFIX) :]: decode(value, Record) for key, value in scan(RECORD_PREFIX)}


def record_statuses(scan: PrefixScan) -> list[str]:
    """record-status: kind and status are known; a revocation reason exactly when revoked;
    only a superseded record points at a newer version."""
    broken = []
    for record_id, r in _records(scan).items():
        where = f"record-status: {record_id.hex()}"
        if r.kind >= len(KIND_NAMES) or r.status >= len(STATUS_NAMES):
            broken.append(f"{where} has kind {r.kind}, status {r.status}")
            continue
        if (r.status == STATUS_REVOKED) != (r.revocation_reason in REVOCATION_REASONS):
            broken.append(f"{where} is {STATUS_NAMES[r.status]}, reason {r.revocation_reason}")
        if (r.status == STATUS_SUPERSEDED) != bool(r.superseded_by):
            broken.append(f"{where} is {STATUS_NAMES[r.status]}, superseded_by {r.superseded_by!r}")
        if r.kind == KIND_BIRTH and (r.linked_record or r.wallets):
            broken.append(f"{where} is a birth with a link or wallets")
    return broken


def version_links(scan: PrefixScan) -> list[str]:
    """version-links: every superseded record points at an existing newer version (same kind
    and office, next version number) that points back at it, and every ``previous`` is
    superseded by its successor."""
    records = _records(scan)
    broken = []
    for record_id, r in records.items():
        where = f"version-links: {record_id.hex()}"
        if r.superseded_by:
            newer = records.get(r.superseded_by)
            if newer is None:
                broken.append(f"{where} superseded by missing {r.superseded_by.hex()}")
            elif (newer.previous, newer.kind, newer.office, newer.version) != (
                record_id,
                r.kind,
                r.office,
                r.version + 1,
            ):
                broken.append(
                    f"{where} v{r.version} -> {r.superseded_by.hex()} which has previous "
                    f"{newer.previous.hex()}, v{newer.version}"
                )
        if r.previous:
            older = records.get(r.previous)
            if older is None or older.superseded_by != record_id:
                broken.append(f"{where} has previous {r.previous.hex()} not superseded by it")
        elif r.version != 1:
            broken.append(f"{where} has no previous version but is v{r.version}")
    return broken


def death_marks(scan: PrefixScan) -> list[str]:
    """death-marks: on a birth's newest version (valid or revoked), the death mark names a valid
    death record. A superseded version keeps the mark it had, as history."""
    records = _records(scan)
    broken = []
    for record_id, r in records.items():
        if not r.deceased_by or r.status == STATUS_SUPERSEDED:
            continue
        death = records.get(r.deceased_by)
        if death is None or death.kind != KIND_DEATH or death.status != STATUS_VALID:
            broken.append(
                f"death-marks: {record_id.hex()} marked by {r.deceased_by.hex()}, "
                "not a valid death record"
            )
    return broken


def wallet_claims(scan: PrefixScan) -> list[str]:
    """wallet-claims: the wallet index lists exactly the wallets of valid death records, each
    claimed by the record that lists it."""
    expected = {
        wallet: record_id
        for record_id, r in _records(scan).items()
        if r.kind == KIND_DEATH and r.status == STATUS_VALID
        for wallet in r.wallets
    }
    index = {key[len(WALLET_PREFIX) :]: value for key, value in scan(WALLET_PREFIX)}
    if index != expected:
        return [
            f"wallet-claims: index {sorted((a.hex(), b.hex()) for a, b in index.items())}"
            f" != valid death records {sorted((a.hex(), b.hex()) for a, b in expected.items())}"
        ]
    return []
