"""The golden vectors of tests/vectors/tx_vectors.json (docs/encoding.md).

Each vector is checked three ways: rebuilt from its fields it gives the same bytes; its bytes
decode to its fields; its signature verifies. A failure here means the encoding changed, which is
a protocol change: wallets written in other languages sign these exact bytes.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
from pathlib import Path
from typing import Any

import msgspec
import msgspec.inspect as mi
import pytest
from helpers import Chain

from citychain.block import HEADER_DOMAIN, Header, header_hash, header_signature_valid
from citychain.codec import decode, encode
from citychain.crypto.address import address_from_public_key, address_to_bytes
from citychain.crypto.keys import PrivateKey, verify
from citychain.errors import CityError
from citychain.modules.bank.messages import ALL_MESSAGES
from citychain.tx.envelope import (
    SIGN_DOMAIN,
    Message,
    TxRaw,
    address_of,
    build_body,
    decode_tx,
    sign_tx,
)

VECTOR_DIR = Path(__file__).parents[1] / "vectors"
VECTORS: dict[str, Any] = json.loads((VECTOR_DIR / "tx_vectors.json").read_text(encoding="utf-8"))
TX_VECTORS: list[dict[str, Any]] = VECTORS["tx"]
HEADER_VECTORS: list[dict[str, Any]] = VECTORS["header"]
MESSAGE_TYPES: dict[str, type[Message]] = {cls.TYPE: cls for cls in ALL_MESSAGES}


def from_json(info: mi.Type, value: Any) -> Any:
    """The inverse of make_vectors.to_json, driven by the struct's declared field types."""
    if isinstance(info, mi.StructType):
        assert list(value) == [f.name for f in info.fields], "fields out of declared order"
        return info.cls(**{f.name: from_json(f.type, value[f.name]) for f in info.fields})
    if isinstance(info, mi.BytesType):
        return bytes.fromhex(value)
    if isinstance(info, mi.TupleType):
        return tuple(from_json(t, v) for t, v in zip(info.item_types, value, strict=True))
    if isinstance(info, mi.VarTupleType):
        return tuple(from_json(info.item_type, v) for v in value)
    if isinstance(info, mi.IntType | mi.StrType):
        return value
    raise TypeError(f"vector field of unsupported type {info}")


def messages_of(vector: dict[str, Any]) -> list[Message]:
    return [
        from_json(mi.type_info(MESSAGE_TYPES[m["type"]]), m["fields"])
        for m in vector["body"]["messages"]
    ]


def body_options(vector: dict[str, Any]) -> dict[str, Any]:
    body = vector["body"]
    return {k: body[k] for k in ("chain_id", "nonce", "fee", "expiry_height", "memo")}


def ids(vectors: list[dict[str, Any]]) -> list[str]:
    return [v["name"] for v in vectors]


def test_the_vectors_file_is_what_make_vectors_generates() -> None:
    spec = importlib.util.spec_from_file_location("make_vectors", VECTOR_DIR / "make_vectors.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.build() == (VECTOR_DIR / "tx_vectors.json").read_text(encoding="utf-8")


def test_domains_are_pinned() -> None:
    assert bytes.fromhex(VECTORS["sign_domain_hex"]) == SIGN_DOMAIN == b"citychain/tx/v1\x00"
    assert bytes.fromhex(VECTORS["header_domain_hex"]) == HEADER_DOMAIN
    assert HEADER_DOMAIN == b"citychain/header/v1\x00"


def test_every_bank_message_type_has_a_vector() -> None:
    covered = {m["type"] for v in TX_VECTORS for m in v["body"]["messages"]}
    assert covered == set(MESSAGE_TYPES)


@pytest.mark.parametrize("vector", TX_VECTORS, ids=ids(TX_VECTORS))
def test_key_and_address_derive_from_the_seed(vector: dict[str, Any]) -> None:
    seed = bytes.fromhex(vector["seed_hex"])
    n = vector["seed_source"].split('"')[1].encode()
    assert seed == hashlib.sha256(n).digest()
    key = PrivateKey.from_seed(seed)
    assert key.public_key.hex() == vector["public_key_hex"] == vector["body"]["public_key"]
    raw_address = hashlib.sha256(key.public_key).digest()[:20]
    assert raw_address.hex() == vector["sender_address_hex"]
    assert address_from_public_key(key.public_key) == vector["sender_address"]
    assert address_to_bytes(vector["sender_address"]) == raw_address


@pytest.mark.parametrize("vector", TX_VECTORS, ids=ids(TX_VECTORS))
def test_rebuilding_from_fields_gives_the_same_bytes(vector: dict[str, Any]) -> None:
    key = PrivateKey.from_seed(bytes.fromhex(vector["seed_hex"]))
    messages = messages_of(vector)
    for message, expected in zip(messages, vector["body"]["messages"], strict=True):
        assert encode(message).hex() == expected["body_hex"]
    body = build_body(public_key=key.public_key, messages=messages, **body_options(vector))
    assert body.hex() == vector["body_hex"]
    assert (SIGN_DOMAIN + body).hex() == vector["sign_bytes_hex"]
    # Ed25519 is deterministic (RFC 8032, 5.1.6): the same key and bytes give the same signature.
    assert key.sign(SIGN_DOMAIN + body).hex() == vector["signature_hex"]
    raw = sign_tx(key, messages=messages, **body_options(vector))
    assert raw.hex() == vector["tx_raw_hex"]
    assert hashlib.sha256(raw).hexdigest() == vector["tx_hash_hex"]


@pytest.mark.parametrize("vector", TX_VECTORS, ids=ids(TX_VECTORS))
def test_decoding_the_bytes_gives_the_fields(vector: dict[str, Any]) -> None:
    tx = decode_tx(bytes.fromhex(vector["tx_raw_hex"]))
    assert tx.hash.hex() == vector["tx_hash_hex"]
    assert tx.body_bytes.hex() == vector["body_hex"]
    assert tx.signature.hex() == vector["signature_hex"]
    assert tx.sender.hex() == vector["sender_address_hex"]
    assert tx.body.public_key.hex() == vector["public_key_hex"]
    assert {k: getattr(tx.body, k) for k in body_options(vector)} == body_options(vector)
    decoded = [decode(raw, MESSAGE_TYPES[type_name]) for type_name, raw in tx.body.messages]
    assert [m.TYPE for m in decoded] == [m["type"] for m in vector["body"]["messages"]]
    assert decoded == messages_of(vector)
    outer = decode(bytes.fromhex(vector["tx_raw_hex"]), TxRaw)
    assert encode(outer).hex() == vector["tx_raw_hex"]


@pytest.mark.parametrize("vector", TX_VECTORS, ids=ids(TX_VECTORS))
def test_signature_verifies_and_a_flipped_bit_does_not(vector: dict[str, Any]) -> None:
    public_key = bytes.fromhex(vector["public_key_hex"])
    sign_bytes = bytes.fromhex(vector["sign_bytes_hex"])
    signature = bytes.fromhex(vector["signature_hex"])
    assert verify(public_key, sign_bytes, signature)
    assert decode_tx(bytes.fromhex(vector["tx_raw_hex"])).signature_valid()
    assert not verify(public_key, sign_bytes[:-1] + bytes([sign_bytes[-1] ^ 1]), signature)
    # Without the domain the same signature is worthless: a body cannot be replayed as a header.
    assert not verify(public_key, sign_bytes[len(SIGN_DOMAIN) :], signature)


def test_the_first_vector_is_accepted_by_a_chain(tmp_path: Path) -> None:
    """The vectors are real transactions, not just well-formed bytes."""
    vector = TX_VECTORS[0]
    sender = PrivateKey.from_seed(bytes.fromhex(vector["seed_hex"]))
    chain = Chain.create(tmp_path, {sender: 10_000}, chain_id=vector["body"]["chain_id"])
    result = chain.block(bytes.fromhex(vector["tx_raw_hex"])).tx_results[0]
    assert result.ok, result.log
    recipient = bytes.fromhex(vector["body"]["messages"][0]["fields"]["recipient"])
    assert chain.balance(recipient) == vector["body"]["messages"][0]["fields"]["amount"]
    assert chain.balance(address_of(sender.public_key)) == 10_000 - 1_250 - 1


@pytest.mark.parametrize("vector", HEADER_VECTORS, ids=ids(HEADER_VECTORS))
def test_header_vectors(vector: dict[str, Any]) -> None:
    header = from_json(mi.type_info(Header), vector["fields"])
    assert encode(header).hex() == vector["header_hex"]
    assert decode(bytes.fromhex(vector["header_hex"]), Header) == header
    assert header_hash(header).hex() == vector["header_hash_hex"]
    assert (
        hashlib.sha256(bytes.fromhex(vector["header_hex"])).hexdigest() == vector["header_hash_hex"]
    )
    assert (HEADER_DOMAIN + encode(header)).hex() == vector["sign_bytes_hex"]
    proposer = PrivateKey.from_seed(bytes.fromhex(vector["proposer_seed_hex"]))
    assert proposer.public_key == header.proposer
    assert proposer.sign(HEADER_DOMAIN + encode(header)).hex() == vector["signature_hex"]
    assert header_signature_valid(header, bytes.fromhex(vector["signature_hex"]))


def test_second_header_links_to_the_first() -> None:
    first, second = HEADER_VECTORS
    assert second["fields"]["prev_hash"] == first["header_hash_hex"]


def test_a_non_canonical_re_encoding_of_a_vector_is_refused() -> None:
    """The nonce 0 of the first vector as uint8 (cc 00) instead of fixint (00) is refused."""
    vector = TX_VECTORS[0]
    body = bytes.fromhex(vector["body_hex"])
    public_key = bytes.fromhex(vector["public_key_hex"])
    canonical = b"\xc4\x20" + public_key + b"\x00\x01\x00"  # public key, nonce 0, fee 1, expiry 0
    assert body.count(canonical) == 1
    padded = body.replace(canonical, b"\xc4\x20" + public_key + b"\xcc\x00\x01\x00")
    raw = msgspec.msgpack.encode((padded, bytes.fromhex(vector["signature_hex"])))
    with pytest.raises(CityError) as raised:
        decode_tx(raw)
    assert (raised.value.codespace, raised.value.code) == ("tx", 1)
