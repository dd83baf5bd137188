"""The chain's own routes: node health and status, transaction ingress and reads, blocks, raw
state with proofs, the event index and search; and the node's metrics, for its operator.

``POST /txs/batch`` takes at most what one block holds (``Node.block_limits``): a batch larger
in count or in bytes is refused whole (413), so no request makes the node hold more than a
block's worth of transactions at once."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Path, Query
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, Field
from starlette import status

from citychain.crypto.address import is_address
from citychain.node.dispatch import EngineRoute
from citychain.node.routes.deps import (
    CROSS_ORIGIN,
    ERRORS,
    OPERATOR_ROUTE,
    ErrorOut,
    Limit,
    NodeDep,
    error_response,
    parse_hex,
    proof_of,
    settled_reads,
)
from citychain.node.service import Node
from citychain.node.views import block_view, tx_summary, tx_view

__all__ = ["MAX_BATCH", "router"]

MAX_BATCH = 5_000  # the solo engine's default max_block_txs; the engine's own limit applies too
HASH_HEX = 64  # characters of a 32-byte hash in hex
HexHash = Annotated[str, Path(pattern="^[0-9a-fA-F]{64}$", description="32-byte hash in hex")]

router = APIRouter(route_class=EngineRoute)


class TxIn(BaseModel):
    tx: str = Field(description="the signed transaction (TxRaw), hex", max_length=40_000)
    mode: Literal["sync", "commit"] = Field(
        "sync", description="sync: return after check_tx; commit: return after the block commits"
    )


class TxBatchIn(BaseModel):
    txs: list[Annotated[str, Field(max_length=40_000)]] = Field(max_length=MAX_BATCH)
    mode: Literal["sync", "commit"] = "sync"


class SubmitOut(BaseModel):
    hash: str
    code: int
    codespace: str
    log: str
    height: int | None


class BatchOut(BaseModel):
    results: list[SubmitOut]


# --- node -----------------------------------------------------------------------------------
@router.get("/health", tags=["node"])
async def health(node: NodeDep) -> JSONResponse:
    try:
        await node.engine.settled()
    except RuntimeError as exc:
        return error_response(status.HTTP_503_SERVICE_UNAVAILABLE, str(exc))
    return JSONResponse({"status": "ok", "height": node.app.height})


# Named "status" (its operation id) but not so in Python, where that is starlette's module.
@router.get("/status", tags=["node"], name="status")
async def node_status(node: NodeDep) -> dict[str, Any]:
    await settled_reads(node)
    app = node.app
    latest = app.last_block
    return {
        "chain_id": app.chain_id,
        # What a battery read request must name to be answered by this node.
        "node_id": node.passport_service.node_id.hex(),
        "height": app.height,
        "app_hash": app.app_hash.hex(),
        "latest_block_hash": latest.hash.hex() if latest else None,
        "latest_block_time_ms": latest.time_ms if latest else None,
        "validator": {
            "name": node.validator_name,
            "public_key": node.engine.validator_public_key().hex(),
        },
        "mempool_size": node.engine.mempool_size(),
        "engine": node.engine.name,
    }


@router.get("/metrics", tags=["node"], response_class=Response, **OPERATOR_ROUTE)
async def metrics(node: NodeDep) -> Response:
    """Prometheus metrics (docs/operations.md, "Monitoring"); the operator's only."""
    return Response(generate_latest(node.metrics.registry), media_type=CONTENT_TYPE_LATEST)


# --- transactions ---------------------------------------------------------------------------
BATCH_ERRORS: dict[int | str, dict[str, Any]] = {
    **ERRORS,
    status.HTTP_413_CONTENT_TOO_LARGE: {
        "model": ErrorOut,
        "description": "more transactions, or more bytes of them, than one block holds",
    },
}


@router.post("/txs", tags=["txs"], response_model=SubmitOut, responses=ERRORS, **CROSS_ORIGIN)
async def broadcast(body: TxIn, node: NodeDep) -> dict[str, Any]:
    """Submit one signed transaction (pages on any origin may: a citizen's web wallet)."""
    raw = parse_hex(body.tx, "tx")
    (result,) = await node.submit([raw], wait_commit=body.mode == "commit")
    return result.as_json()


@router.post("/txs/batch", tags=["txs"], response_model=BatchOut, responses=BATCH_ERRORS)
async def broadcast_batch(body: TxBatchIn, node: NodeDep) -> Any:
    """Submit up to one block's worth of signed transactions, each answered in order."""
    raws = [parse_hex(tx, f"txs[{i}]") for i, tx in enumerate(body.txs)]
    limits = node.block_limits()
    size = sum(len(raw) for raw in raws)
    if len(raws) > limits.max_txs or size > limits.max_bytes:
        return error_response(
            status.HTTP_413_CONTENT_TOO_LARGE,
            f"a batch holds at most what one block does: {limits.max_txs} transactions and "
            f"{limits.max_bytes} bytes (this one: {len(raws)}, {size} bytes)",
        )
    results = await node.submit(raws, wait_commit=body.mode == "commit")
    return {"results": [r.as_json() for r in results]}


@router.get("/txs/{tx_hash}", tags=["txs"], responses=ERRORS)
async def get_tx(tx_hash: HexHash, node: NodeDep) -> dict[str, Any]:
    record = node.app.store.tx(parse_hex(tx_hash, "hash"))
    if record is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no committed transaction with that hash")
    return tx_view(node.app, record)


# --- blocks ---------------------------------------------------------------------------------
@router.get("/blocks", tags=["blocks"])
async def list_blocks(
    node: NodeDep,
    limit: Limit = 20,
    before: Annotated[int | None, Query(ge=1, le=2**62)] = None,
) -> dict[str, Any]:
    return {"blocks": [block_view(b) for b in node.app.store.recent_blocks(limit, before)]}


@router.get("/blocks/latest", tags=["blocks"], responses=ERRORS)
async def latest_block(node: NodeDep) -> dict[str, Any]:
    # The newest block on disk: the one in memory may still be being written.
    latest = node.app.store.recent_blocks(1)
    return _block(node, latest[0].height if latest else 0)


@router.get("/blocks/{height}", tags=["blocks"], responses=ERRORS)
async def get_block(height: Annotated[int, Path(ge=0, le=2**62)], node: NodeDep) -> dict[str, Any]:
    return _block(node, height)


def _block(node: Node, height: int) -> dict[str, Any]:
    store = node.app.store
    record = store.block(height) if height > 0 else None
    if record is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no block at height {height}")
    return block_view(record, [t.hash for t in store.block_txs(height)])


# --- state and indexes ----------------------------------------------------------------------
@router.get("/state/{key}", tags=["state"], responses=ERRORS)
async def get_state(
    key: Annotated[str, Path(pattern="^([0-9a-fA-F]{2}){1,256}$")],
    node: NodeDep,
    prove: bool = False,
) -> dict[str, Any]:
    await settled_reads(node)
    app = node.app
    raw_key = parse_hex(key, "key")
    value = app.get(raw_key)
    out: dict[str, Any] = {
        "key": raw_key.hex(),
        "value": value.hex() if value is not None else None,
        "height": app.height,
    }
    if prove:
        out["proof"] = await proof_of(node, raw_key)
    return out


@router.get("/events/{event_type}/txs", tags=["txs"])
async def event_txs(
    event_type: Annotated[str, Path(pattern="^[a-z_]{1,40}$")], node: NodeDep, limit: Limit = 50
) -> dict[str, Any]:
    return {"txs": [tx_summary(t) for t in node.app.store.txs_by_event(event_type, limit)]}


@router.get("/search/{term}", tags=["node"], responses=ERRORS)
async def search(
    term: Annotated[str, Path(min_length=1, max_length=100)], node: NodeDep
) -> dict[str, Any]:
    """What a term names: a block height, a transaction hash or an address."""
    await settled_reads(node)
    app = node.app
    # isascii too: str.isdigit accepts digits such as "²" that int() refuses (a 500).
    if term.isascii() and term.isdigit() and 0 < int(term) <= app.height:
        return {"kind": "block", "id": int(term)}
    if is_address(term):
        return {"kind": "account", "id": term}
    if len(term) == HASH_HEX:
        try:
            digest = bytes.fromhex(term)
        except ValueError:
            digest = b""
        if digest and app.store.has_tx(digest):
            return {"kind": "tx", "id": term.lower()}
        block = app.store.block_by_hash(digest) if digest else None
        if block is not None:
            return {"kind": "block", "id": block.height}
    raise HTTPException(status.HTTP_404_NOT_FOUND, f"nothing found for {term!r}")
