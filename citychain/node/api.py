"""The node's HTTP API (OpenAPI at /openapi.json, docs at /docs) and its event stream (/ws).

Every error is JSON ``{"error": {"code", "codespace", "message"}}`` with a 4xx status; bad input
never reaches a stack trace.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from functools import partial
from importlib import resources
from typing import Annotated, Any, Literal

from fastapi import FastAPI, HTTPException, Path, Query, Request, WebSocket, WebSocketDisconnect
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from citychain.crypto.address import address_to_bytes, is_address
from citychain.crypto.errors import AddressError
from citychain.modules.auth.state import get_nonce
from citychain.modules.bank.queries import account_view, request_view, supply_view
from citychain.modules.bank.state import balance_key, get_balance, list_denoms
from citychain.modules.consortium.roles import ALL_ROLES
from citychain.modules.consortium.state import has_role
from citychain.node.api_battery import battery_router
from citychain.node.api_consortium import consortium_router
from citychain.node.api_devices import devices_router
from citychain.node.api_registry import registry_router
from citychain.node.reads import settled_reads
from citychain.node.service import Node
from citychain.node.views import block_view, tx_summary, tx_view

__all__ = ["create_api"]

log = logging.getLogger(__name__)

MAX_BATCH = 10_000
MAX_BODY_BYTES = 64 * 1024 * 1024
HexHash = Annotated[str, Path(pattern="^[0-9a-fA-F]{64}$", description="32-byte hash in hex")]
AddressParam = Annotated[
    str, Path(min_length=1, max_length=100, description="bech32 address city1...")
]
Limit = Annotated[int, Query(ge=1, le=200)]


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


class ErrorOut(BaseModel):
    error: dict[str, Any]


def _error(
    status: int,
    message: str,
    code: int = 0,
    codespace: str = "api",
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    return JSONResponse(
        status_code=status,
        content={"error": {"code": code, "codespace": codespace, "message": message}},
        headers=headers,
    )


def _address(value: str) -> bytes:
    try:
        return address_to_bytes(value)
    except AddressError as exc:
        raise HTTPException(400, f"invalid address: {exc}") from None


def _hex(value: str, what: str) -> bytes:
    try:
        raw = bytes.fromhex(value)
    except ValueError:
        raw = None
    # bytes.fromhex skips whitespace; the length check refuses it.
    if raw is None or 2 * len(raw) != len(value):
        raise HTTPException(400, f"{what} must be hex") from None
    return raw


ERRORS: dict[int | str, dict[str, Any]] = {400: {"model": ErrorOut}, 404: {"model": ErrorOut}}


def create_api(node: Node) -> FastAPI:
    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        node.start()
        yield
        await node.stop()

    api = FastAPI(
        title="citychain node API",
        version="1",
        description="Submit transactions, read blocks, accounts and proofs, stream events.",
        lifespan=lifespan,
    )
    app = node.app

    settle = partial(settled_reads, node)

    @api.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        # Keep the exception's headers: a 405 must say which methods are allowed (RFC 9110).
        return _error(exc.status_code, str(exc.detail), headers=exc.headers)

    @api.exception_handler(Exception)
    async def unexpected_error(_: Request, exc: Exception) -> JSONResponse:
        # A bug, not bad input: say so in the API's own error shape, without internals.
        log.exception("unexpected error serving a request")
        return _error(500, f"internal error ({type(exc).__name__}); see the node log")

    @api.exception_handler(RequestValidationError)
    async def validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()))
        return _error(422, f"{where}: {first.get('msg', 'invalid request')}")

    @api.middleware("http")
    async def limit_body(request: Request, call_next: Any) -> Response:
        length = request.headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > MAX_BODY_BYTES):
            return _error(413, f"request body larger than {MAX_BODY_BYTES} bytes")
        response: Response = await call_next(request)
        return response

    # --- node ---------------------------------------------------------------------------
    @api.get("/health", tags=["node"])
    async def health() -> JSONResponse:
        try:
            await node.engine.settled()
        except RuntimeError as exc:
            return _error(503, str(exc))
        return JSONResponse({"status": "ok", "height": app.height})

    @api.get("/status", tags=["node"])
    async def status() -> dict[str, Any]:
        await settle()
        latest = app.last_block
        return {
            "chain_id": app.chain_id,
            "height": app.height,
            "app_hash": app.app_hash.hex(),
            "latest_block_hash": latest.hash.hex() if latest else None,
            "latest_block_time_ms": latest.time_ms if latest else None,
            "validator": {
                "name": node.validator_name,
                "public_key": node.validator_public_key().hex(),
            },
            "mempool_size": node.mempool_size(),
            "engine": node.engine_name,
        }

    @api.get("/metrics", tags=["node"], response_class=Response)
    async def metrics() -> Response:
        return Response(generate_latest(node.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    # --- transactions -------------------------------------------------------------------
    @api.post("/txs", tags=["txs"], response_model=SubmitOut, responses=ERRORS)
    async def broadcast(body: TxIn) -> dict[str, Any]:
        raw = _hex(body.tx, "tx")
        (result,) = await node.submit([raw], wait_commit=body.mode == "commit")
        return result.as_json()

    @api.post("/txs/batch", tags=["txs"], response_model=BatchOut, responses=ERRORS)
    async def broadcast_batch(body: TxBatchIn) -> dict[str, Any]:
        raws = [_hex(tx, f"txs[{i}]") for i, tx in enumerate(body.txs)]
        results = await node.submit(raws, wait_commit=body.mode == "commit")
        return {"results": [r.as_json() for r in results]}

    @api.get("/txs/{tx_hash}", tags=["txs"], responses=ERRORS)
    async def get_tx(tx_hash: HexHash) -> dict[str, Any]:
        record = app.store.tx(_hex(tx_hash, "hash"))
        if record is None:
            raise HTTPException(404, "no committed transaction with that hash")
        return tx_view(app, record)

    # --- blocks -------------------------------------------------------------------------
    @api.get("/blocks", tags=["blocks"])
    async def list_blocks(
        limit: Limit = 20, before: Annotated[int | None, Query(ge=1, le=2**62)] = None
    ) -> dict[str, Any]:
        return {"blocks": [block_view(b) for b in app.store.recent_blocks(limit, before)]}

    @api.get("/blocks/latest", tags=["blocks"], responses=ERRORS)
    async def latest_block() -> dict[str, Any]:
        # The newest block on disk: the one in memory may still be being written.
        latest = app.store.recent_blocks(1)
        return _block(latest[0].height if latest else 0)

    @api.get("/blocks/{height}", tags=["blocks"], responses=ERRORS)
    async def get_block(height: Annotated[int, Path(ge=0, le=2**62)]) -> dict[str, Any]:
        return _block(height)

    def _block(height: int) -> dict[str, Any]:
        record = app.store.block(height) if height > 0 else None
        if record is None:
            raise HTTPException(404, f"no block at height {height}")
        return block_view(record, [t.hash for t in app.store.block_txs(height)])

    # --- accounts -----------------------------------------------------------------------
    @api.get("/accounts/{address}", tags=["accounts"], responses=ERRORS)
    async def get_account(address: AddressParam) -> dict[str, Any]:
        await settle()
        raw = _address(address)
        view = account_view(app.committed, raw)
        return {
            "address": address,
            "nonce": get_nonce(app.committed, raw),
            "roles": [r for r in ALL_ROLES if has_role(app.committed, raw, r)],
            "height": app.height,
            **view,
        }

    @api.get("/accounts/{address}/txs", tags=["accounts"], responses=ERRORS)
    async def account_txs(address: AddressParam, limit: Limit = 50) -> dict[str, Any]:
        raw = _address(address)
        return {"txs": [tx_summary(t) for t in app.store.txs_by_account(raw, limit)]}

    @api.get("/accounts/{address}/balances/{denom}", tags=["accounts"], responses=ERRORS)
    async def get_balance_proof(
        address: AddressParam,
        denom: Annotated[str, Path(pattern="^[a-z][a-z0-9]{1,15}$")],
        prove: bool = False,
    ) -> dict[str, Any]:
        await settle()
        raw = _address(address)
        if denom not in list_denoms(app.committed):
            raise HTTPException(404, f"unknown denomination {denom!r}")
        amount = get_balance(app.committed, raw, denom)
        out: dict[str, Any] = {
            "address": address,
            "denom": denom,
            "balance": amount,
            "height": app.height,
        }
        if prove:
            claim = {"kind": "balance", "address": address, "denom": denom, "amount": amount}
            try:
                out["proof"] = await node.prove(balance_key(raw, denom), claim)
            except LookupError as exc:
                raise HTTPException(404, str(exc)) from None
        return out

    @api.get("/state/{key}", tags=["state"], responses=ERRORS)
    async def get_state(
        key: Annotated[str, Path(pattern="^([0-9a-fA-F]{2}){1,256}$")], prove: bool = False
    ) -> dict[str, Any]:
        await settle()
        raw_key = _hex(key, "key")
        value = app.get(raw_key)
        out: dict[str, Any] = {
            "key": raw_key.hex(),
            "value": value.hex() if value is not None else None,
            "height": app.height,
        }
        if prove:
            try:
                out["proof"] = await node.prove(raw_key, {"kind": "raw"})
            except LookupError as exc:
                raise HTTPException(404, str(exc)) from None
        return out

    @api.get("/events/{event_type}/txs", tags=["txs"])
    async def event_txs(
        event_type: Annotated[str, Path(pattern="^[a-z_]{1,40}$")], limit: Limit = 50
    ) -> dict[str, Any]:
        return {"txs": [tx_summary(t) for t in app.store.txs_by_event(event_type, limit)]}

    @api.get("/bank/supply", tags=["bank"])
    async def supply() -> dict[str, Any]:
        await settle()
        return {"supply": supply_view(app.committed), "height": app.height}

    @api.get("/bank/requests/{request_id}", tags=["bank"], responses=ERRORS)
    async def payment_request(
        request_id: Annotated[str, Path(pattern="^[0-9a-fA-F]{32}$")],
    ) -> dict[str, Any]:
        await settle()
        view = request_view(app.committed, _hex(request_id, "request id"))
        if view is None:
            raise HTTPException(404, "no such payment request")
        return view

    @api.get("/search/{term}", tags=["node"], responses=ERRORS)
    async def search(term: Annotated[str, Path(min_length=1, max_length=100)]) -> dict[str, Any]:
        """What a term names: a block height, a transaction hash or an address."""
        await settle()
        # isascii too: str.isdigit accepts digits such as "²" that int() refuses (a 500).
        if term.isascii() and term.isdigit() and 0 < int(term) <= app.height:
            return {"kind": "block", "id": int(term)}
        if is_address(term):
            return {"kind": "account", "id": term}
        if len(term) == 64:
            try:
                digest = bytes.fromhex(term)
            except ValueError:
                digest = b""
            if digest and app.store.has_tx(digest):
                return {"kind": "tx", "id": term.lower()}
            block = app.store.block_by_hash(digest) if digest else None
            if block is not None:
                return {"kind": "block", "id": block.height}
        raise HTTPException(404, f"nothing found for {term!r}")

    # --- events -------------------------------------------------------------------------
    @api.websocket("/ws")
    async def events(socket: WebSocket) -> None:
        await socket.accept()
        queue = node.subscribe()

        async def forward() -> None:
            while True:
                await socket.send_text(await queue.get())

        sender = asyncio.create_task(forward())
        try:
            # Reading is how a disconnect is noticed; clients have nothing else to say.
            while (await socket.receive())["type"] != "websocket.disconnect":
                pass
        except (WebSocketDisconnect, RuntimeError):
            pass
        finally:
            sender.cancel()
            node.unsubscribe(queue)

    # --- explorer -----------------------------------------------------------------------
    web = resources.files("citychain") / "web"

    @api.get("/", include_in_schema=False)
    async def index() -> FileResponse:
        return FileResponse(str(web / "index.html"))

    @api.get("/verify", include_in_schema=False)
    async def verify_page() -> FileResponse:
        return FileResponse(str(web / "verify.html"))

    @api.get("/battery", include_in_schema=False)
    async def battery_page() -> FileResponse:
        return FileResponse(str(web / "battery.html"))

    @api.get("/fleet", include_in_schema=False)
    async def fleet_page() -> FileResponse:
        return FileResponse(str(web / "fleet.html"))

    @api.get("/device", include_in_schema=False)
    async def device_page() -> FileResponse:
        return FileResponse(str(web / "device.html"))

    api.include_router(consortium_router(node))
    api.include_router(registry_router(node))
    api.include_router(battery_router(node))
    api.include_router(devices_router(node))
    api.mount("/static", StaticFiles(directory=str(web)), name="static")
    return api
