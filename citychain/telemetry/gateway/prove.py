"""A report's offline proof from a gateway's stores: the report, its batch's Merkle path and the
batch's anchor proven against the ledger (docs/modules/devices.md §6)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from citychain.modules.devices import anchor_key
from citychain.telemetry.gateway.store import GatewayStore, find_report, store_dirs
from citychain.telemetry.proof import build_report_proof

__all__ = ["NoGatewayStore", "NotProvable", "ProvenReport", "StateReader", "prove_report"]


class NoGatewayStore(ValueError):
    """The folder named as a gateway's holds no gateway store."""


class NotProvable(ValueError):
    """The report is unknown, or not yet in an anchored batch."""


class StateReader(Protocol):
    def state(self, key: bytes, prove: bool = ...) -> dict[str, Any]: ...


@dataclass(frozen=True)
class ProvenReport:
    bundle: dict[str, Any]
    batch_id: bytes


def prove_report(gateway_dir: Path, report_id: bytes, node: StateReader) -> ProvenReport:
    """The proof bundle of ``report_id`` from the gateway stores under ``gateway_dir``, with its
    batch's anchor proven by ``node`` (any member's node)."""
    if not any((d / "gateway.sqlite").exists() for d in store_dirs(gateway_dir)):
        raise NoGatewayStore(f"{gateway_dir} holds no gateway store")
    found = find_report(gateway_dir, report_id)
    if found is None:
        raise NotProvable(f"the gateway has no report {report_id.hex()}")
    store_dir, stored = found
    store = GatewayStore(store_dir)
    try:
        if stored.batch_id is None or stored.leaf_index is None:
            raise NotProvable(f"report {report_id.hex()} is not in a batch yet; try again shortly")
        batch = store.batch(stored.batch_id)
        if batch is None or batch.status != "anchored":
            raise NotProvable(
                f"batch {stored.batch_id.hex()} is not anchored yet; try again shortly"
            )
        leaves = store.batch_leaves(stored.batch_id)
    finally:
        store.close()
    anchor_proof = node.state(anchor_key(stored.batch_id), prove=True)["proof"]
    bundle = build_report_proof(
        stored.raw, stored.batch_id, stored.leaf_index, leaves, anchor_proof
    )
    return ProvenReport(bundle, stored.batch_id)
