"""The report proof: that one telemetry report is part of a batch anchored on the ledger.

A bundle (JSON) holds the report's wire bytes, its leaf index and the batch's size, the RFC 9162
audit path, and the state proof bundle (docs/proofs.md) of ``dev/b/<batch_id>``::

    {"format": "citychain/device-report-proof/v1", "report": HEX, "batch_id": HEX,
     "leaf_index": N, "tree_size": N, "path": [HEX...], "anchor_proof": {...}}

``verify_report_proof`` checks, with no network: the anchor proof against the trusted
validators; that it proves the key ``dev/b/<batch_id>``; that the anchor's root and count are
those the audit path leads to from the report's leaf hash. The report's own signature was checked
by the gateway before it was batched; the proof shows the gateway's owner anchored it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from citychain.codec import DecodeError, decode
from citychain.light import verify_bundle
from citychain.modules.devices import Anchor, anchor_key
from citychain.telemetry import merkle
from citychain.telemetry.report import ReportError, parse_report

__all__ = [
    "FORMAT",
    "ReportProofResult",
    "build_report_proof",
    "is_report_proof",
    "verify_report_proof",
]

FORMAT = "citychain/device-report-proof/v1"


@dataclass(frozen=True)
class ReportProofResult:
    valid: bool
    reason: str
    details: dict[str, Any] = field(default_factory=dict)


def is_report_proof(doc: Any) -> bool:
    return isinstance(doc, dict) and doc.get("format") == FORMAT


def build_report_proof(
    raw: bytes,
    batch_id: bytes,
    leaf_index: int,
    leaves: list[bytes],
    anchor_proof: dict[str, Any],
) -> dict[str, Any]:
    hashes = [merkle.leaf_hash(leaf) for leaf in leaves]
    if leaves[leaf_index] != raw:
        raise ValueError("the report is not at its leaf index in the batch")
    return {
        "format": FORMAT,
        "report": raw.hex(),
        "batch_id": batch_id.hex(),
        "leaf_index": leaf_index,
        "tree_size": len(leaves),
        "path": [h.hex() for h in merkle.inclusion_proof(hashes, leaf_index)],
        "anchor_proof": anchor_proof,
    }


def _fail(reason: str, details: dict[str, Any] | None = None) -> ReportProofResult:
    return ReportProofResult(False, reason, details or {})


def verify_report_proof(
    doc: Any, trusted_validators: Iterable[tuple[bytes, int]] | None
) -> ReportProofResult:
    try:
        raw = bytes.fromhex(doc["report"])
        batch_id = bytes.fromhex(doc["batch_id"])
        index, size = int(doc["leaf_index"]), int(doc["tree_size"])
        path = [bytes.fromhex(h) for h in doc["path"]]
        anchor_bundle = doc["anchor_proof"]
    except (KeyError, TypeError, ValueError) as exc:
        return _fail(f"malformed report proof: {exc!r}")
    try:
        report = parse_report(raw)
    except ReportError as exc:
        return _fail(f"the report does not decode: {exc}")
    try:
        state = verify_bundle(anchor_bundle, trusted_validators)
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        return _fail(f"malformed anchor proof: {exc}")
    if not state.valid:
        return _fail(f"anchor proof: {state.reason}")
    if anchor_bundle.get("key") != anchor_key(batch_id).hex():
        return _fail("the anchor proof is for another key than dev/b/<batch_id>")
    value = anchor_bundle.get("value")
    if not value:
        return _fail(f"batch {batch_id.hex()} is not anchored (the proof shows its absence)")
    try:
        anchor = decode(bytes.fromhex(value), Anchor)
    except (DecodeError, ValueError) as exc:
        return _fail(f"the anchor does not decode: {exc}")
    if anchor.count != size:
        return _fail(f"the batch holds {anchor.count} reports, the proof says {size}")
    if not merkle.verify_inclusion(merkle.leaf_hash(raw), index, size, path, anchor.root):
        return _fail("the report is not in the anchored batch (Merkle path does not verify)")
    body = report.body
    return ReportProofResult(
        True,
        "valid",
        {
            "report_id": report.id.hex(),
            "device_id": body.device_id.hex(),
            "counter": body.counter,
            "kind": body.kind,
            "batch_id": batch_id.hex(),
            "gateway": anchor.gateway.hex(),
            "anchored_height": anchor.height,
            **{k: state.details.get(k) for k in ("chain_id", "height", "time")},
        },
    )
