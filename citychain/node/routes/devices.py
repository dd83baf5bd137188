"""The devices module's public HTTP routes (docs/modules/devices.md, "HTTP").

Everything here is already public on the ledger (``GET /state/{key}`` serves the same bytes):
a device's owner, kind, current key and status, and a gateway's anchored batch roots. The
routes decode it to JSON and, with ``?prove=true``, attach the node's proof bundle of the state
key (``dev/d/<id>``, ``dev/b/<batch id>``), which ``citychain verify proof`` checks offline.

Writes (register, rotate, decommission, anchor) are signed transactions through ``POST /txs``.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Query
from starlette import status

from citychain.modules.devices import (
    MAX_PAGE,
    anchor_key,
    anchor_view,
    device_key,
    device_view,
    owner_devices_view,
)
from citychain.node.routes.deps import (
    EngineRoute,
    NodeDep,
    parse_address,
    proof_of,
    settled_reads,
)

__all__ = ["router"]

DeviceId = Annotated[
    str, Path(pattern="^[0-9a-fA-F]{64}$", description="device id: 64 hex characters")
]
BatchId = Annotated[
    str, Path(pattern="^[0-9a-fA-F]{64}$", description="batch id: 64 hex characters")
]
# The same bound as the accounts routes: longer than any bech32 address, short enough to refuse
# junk before decoding it.
Owner = Annotated[
    str, Query(min_length=1, max_length=100, description="the owner's bech32 address city1...")
]
Prove = Annotated[bool, Query(description="add a proof bundle of the state key (docs/proofs.md)")]

DEVICE_ERRORS: dict[int | str, dict[str, Any]] = {
    status.HTTP_404_NOT_FOUND: {"description": 'no device with this id: {"error": {...}}'}
}
BATCH_ERRORS: dict[int | str, dict[str, Any]] = {
    status.HTTP_404_NOT_FOUND: {"description": 'no anchored batch with this id: {"error": {...}}'}
}
LIST_ERRORS: dict[int | str, dict[str, Any]] = {
    status.HTTP_400_BAD_REQUEST: {"description": 'not a valid address: {"error": {...}}'}
}

router = APIRouter(prefix="/devices", tags=["devices"], route_class=EngineRoute)


@router.get("", responses=LIST_ERRORS)
async def owned(
    owner: Owner,
    node: NodeDep,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
    after: Annotated[
        str | None,
        Query(pattern="^[0-9a-fA-F]{64}$", description="the previous page's `next`"),
    ] = None,
) -> dict[str, Any]:
    """The devices registered by ``owner``, by device id, decommissioned ones included;
    ``next`` is the cursor of the following page (null on the last). Read from the owner
    index ``dev/o/<owner>``: a page costs a seek and a read per device, not a walk of the state."""
    # A checksum no JSON Schema can express: 400 like /accounts/{address}.
    raw_owner = parse_address(owner)
    await settled_reads(node)
    app = node.app
    # The owner index read as a range of the store's ordered state table: settled_reads just
    # made the store hold exactly app.committed, and nothing awaits in between.
    view = owner_devices_view(
        app.committed,
        app.store.state_keys_after,
        raw_owner,
        after=bytes.fromhex(after) if after is not None else None,
        limit=limit,
    )
    return {"owner": owner, **view, "height": app.height}


@router.get("/batches/{batch_id}", responses=BATCH_ERRORS)
async def batch(batch_id: BatchId, node: NodeDep, prove: Prove = False) -> dict[str, Any]:
    """An anchored telemetry batch: its Merkle root and report count, the gateway device
    that verified the reports, the owner who anchored it, and the block height and time."""
    await settled_reads(node)
    raw = bytes.fromhex(batch_id)
    view = anchor_view(node.app.committed, raw)
    if view is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no anchored batch {batch_id.lower()}")
    out = {**view, "ledger_height": node.app.height}
    if prove:
        out["proof"] = await proof_of(node, anchor_key(raw))
    return out


@router.get("/{device_id}", responses=DEVICE_ERRORS)
async def device(device_id: DeviceId, node: NodeDep, prove: Prove = False) -> dict[str, Any]:
    """A device: owner, kind, current public key, metadata commitment, status, key version
    (1 + rotations), and the heights of its registration and last change."""
    await settled_reads(node)
    raw = bytes.fromhex(device_id)
    view = device_view(node.app.committed, raw)
    if view is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no device {device_id.lower()}")
    out = {**view, "height": node.app.height}
    if prove:
        out["proof"] = await proof_of(node, device_key(raw))
    return out
