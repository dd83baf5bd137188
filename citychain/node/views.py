"""JSON views of ledger objects for the API: addresses in bech32, other bytes in hex."""

from __future__ import annotations

from typing import Any

import msgspec

from citychain.app import Application, BlockResult, TxResult
from citychain.block import CometHeaderInfo, Header
from citychain.codec import DecodeError, decode
from citychain.crypto.address import ADDRESS_SIZE, address_from_bytes
from citychain.errors import CityError
from citychain.modules.base import Event
from citychain.store.sqlite import BlockRecord, TxRecord
from citychain.tx.envelope import decode_tx


def render_value(value: Any) -> Any:
    """Raw 20-byte values are addresses everywhere in citychain; other bytes print as hex."""
    if isinstance(value, msgspec.Struct):
        # A nested struct (consortium/propose's action): its fields, and its tag as "kind".
        fields = {f: render_value(getattr(value, f)) for f in value.__struct_fields__}
        tag = value.__struct_config__.tag
        return {"kind": tag, **fields} if isinstance(tag, str) else fields
    if isinstance(value, bytes):
        if len(value) == ADDRESS_SIZE:
            return address_from_bytes(value)
        return value.hex()
    if isinstance(value, tuple | list):
        return [render_value(v) for v in value]
    return value


def event_view(event: Event) -> dict[str, Any]:
    return {"type": event.type, "attributes": {k: render_value(v) for k, v in event.attributes}}


def result_view(result: TxResult) -> dict[str, Any]:
    return {
        "code": result.code,
        "codespace": result.codespace,
        "log": result.log,
        "data": result.data.hex(),
        "events": [event_view(e) for e in result.events],
    }


def message_view(app: Application, type_name: str, raw: msgspec.Raw) -> dict[str, Any]:
    route = app.routes.get(type_name)
    if route is None:
        return {"type": type_name, "body": None}
    try:
        message = decode(raw, route.cls)
    except DecodeError:
        return {"type": type_name, "body": None}
    body = {f: render_value(getattr(message, f)) for f in message.__struct_fields__}
    return {"type": type_name, "body": body}


def tx_view(app: Application, record: TxRecord) -> dict[str, Any]:
    view: dict[str, Any] = {
        "hash": record.hash.hex(),
        "height": record.height,
        "index": record.index,
        "raw": record.raw.hex(),
        "result": result_view(decode(record.result, TxResult)),
    }
    try:
        tx = decode_tx(record.raw)
    except CityError:
        view["tx"] = None
        return view
    body = tx.body
    view["tx"] = {
        "chain_id": body.chain_id,
        "sender": address_from_bytes(tx.sender),
        "public_key": body.public_key.hex(),
        "nonce": body.nonce,
        "fee": body.fee,
        "expiry_height": body.expiry_height,
        "memo": body.memo,
        "messages": [message_view(app, t, m) for t, m in body.messages],
    }
    return view


def tx_summary(record: TxRecord) -> dict[str, Any]:
    result = decode(record.result, TxResult)
    summary: dict[str, Any] = {
        "hash": record.hash.hex(),
        "height": record.height,
        "index": record.index,
        "code": result.code,
        "codespace": result.codespace,
    }
    try:
        tx = decode_tx(record.raw)
        summary["sender"] = address_from_bytes(tx.sender)
        summary["types"] = [t for t, _ in tx.body.messages]
    except CityError:
        summary["sender"] = None
        summary["types"] = []
    return summary


def header_view(header: Header) -> dict[str, Any]:
    return {
        "engine": "solo",
        "chain_id": header.chain_id,
        "height": header.height,
        "time_ms": header.time_ms,
        "prev_hash": header.prev_hash.hex(),
        "txs_hash": header.txs_hash.hex(),
        "results_hash": header.results_hash.hex(),
        "app_hash": header.app_hash.hex(),
        "proposer": header.proposer.hex(),
    }


def comet_header_view(info: CometHeaderInfo) -> dict[str, Any]:
    return {
        "engine": "cometbft",
        "chain_id": info.chain_id,
        "height": info.height,
        "time_ms": info.time_ms,
        "prev_hash": info.prev_hash.hex(),
        "txs_hash": info.txs_hash.hex(),
        "results_hash": info.results_hash.hex(),
        "app_hash": info.app_hash.hex(),
        "proposer": info.proposer_address.hex(),
        "next_validators_hash": info.next_validators_hash.hex(),
    }


def block_view(record: BlockRecord, tx_hashes: list[bytes] | None = None) -> dict[str, Any]:
    # Solo blocks carry the proposer's signature; CometBFT's commit signatures stay in its store.
    header = (
        header_view(decode(record.header, Header))
        if record.signature
        else comet_header_view(decode(record.header, CometHeaderInfo))
    )
    view: dict[str, Any] = {
        "height": record.height,
        "hash": record.hash.hex(),
        "time_ms": record.time_ms,
        "num_txs": record.num_txs,
        "app_hash": record.app_hash.hex(),
        "header": header,
        "header_bytes": record.header.hex(),
        "signature": record.signature.hex(),
    }
    if tx_hashes is not None:
        view["txs"] = [h.hex() for h in tx_hashes]
    return view


# A block event on /ws lists at most this many transactions, so that a full block of 5,000
# does not hold up the stream.
MAX_EVENT_TXS = 1000


def block_event(record: BlockRecord, result: BlockResult) -> dict[str, Any]:
    """What ``/ws`` sends each subscriber when a block is committed."""
    return {
        "type": "block",
        "height": record.height,
        "hash": record.hash.hex(),
        "time_ms": record.time_ms,
        "num_txs": record.num_txs,
        "app_hash": record.app_hash.hex(),
        "txs": [
            {"hash": h.hex(), "code": r.code, "events": [event_view(e) for e in r.events]}
            for h, r in zip(
                result.tx_hashes[:MAX_EVENT_TXS], result.tx_results[:MAX_EVENT_TXS], strict=True
            )
        ],
    }
