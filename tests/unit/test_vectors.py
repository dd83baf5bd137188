"""The golden vectors of tests/vectors/tx_vectors.json (docs/encoding.md).

Each vector is checked three ways: rebuilt from its fields it gives the same bytes; its bytes
decode to its fields; its signature verifies. A failure here means the encoding changed, which is
a protocol change: wallets written in other languages sign these exact bytes. The transactions
cover every message type of the bank, devices and battery modules (not yet consortium and
registry); tests/unit/test_device_vectors.py checks tests/vectors/device_vectors.json.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
from pathlib import Path
from types import ModuleType
from typing import Any

import msgspec
import msgspec.inspect as mi
import pytest
from helpers import Chain, make_genesis

from citychain.app import Application
from citychain.block import HEADER_DOMAIN, Header, header_hash, header_signature_valid
from citychain.codec import decode, encode
from citychain.crypto.address import address_from_public_key, address_to_bytes
from citychain.crypto.keys import PrivateKey, verify
from citychain.errors import CityError
from citychain.genesis import Genesis
from citychain.modules import bank, battery, devices
from citychain.modules.bank import messages as bank_messages
from citychain.modules.battery import messages as battery_messages
from citychain.modules.battery.state import battery_id_of, get_battery, get_holding
from citychain.modules.devices import messages as devices_messages
from citychain.modules.devices.messages import POSSESSION_DOMAIN, possession_statement
from citychain.modules.devices.state import DEVICE_ID_DOMAIN, device_id_of, get_anchor, get_device
from citychain.store.sqlite import BlockStore
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
# The modules whose every message type must have a vector (consortium and registry: not yet).
VECTOR_MODULES = {
    "bank": bank_messages.ALL_MESSAGES,
    "devices": devices_messages.ALL_MESSAGES,
    "battery": battery_messages.ALL_MESSAGES,
}
MESSAGE_TYPES: dict[str, type[Message]] = {
    cls.TYPE: cls for messages in VECTOR_MODULES.values() for cls in messages
}
POSSESSION_VECTORS = [v for v in TX_VECTORS if "possession" in v]


def load_make_vectors() -> ModuleType:
    spec = importlib.util.spec_from_file_location("make_vectors", VECTOR_DIR / "make_vectors.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def from_json(info: mi.Type, value: Any) -> Any:
    """The inverse of make_vectors.to_json, driven by the struct's declared field types."""
    if isinstance(info, mi.StructType):
        tag = [] if info.tag is None else [info.tag_field]
        assert list(value) == tag + [f.name for f in info.fields], "fields out of declared order"
        if info.tag is not None:
            assert value[info.tag_field] == info.tag
        return info.cls(**{f.name: from_json(f.type, value[f.name]) for f in info.fields})
    if isinstance(info, mi.BytesType):
        return bytes.fromhex(value)
    if isinstance(info, mi.TupleType):
        return tuple(from_json(t, v) for t, v in zip(info.item_types, value, strict=True))
    if isinstance(info, mi.VarTupleType):
        return tuple(from_json(info.item_type, v) for v in value)
    if isinstance(info, mi.IntType | mi.StrType):
        return value
    if isinstance(info, mi.LiteralType):
        assert value in info.values
        return value
    if isinstance(info, mi.NoneType):
        assert value is None
        return None
    if isinstance(info, mi.UnionType):
        return from_json(union_member(info, value), value)
    raise TypeError(f"vector field of unsupported type {info}")


def union_member(info: mi.UnionType, value: Any) -> mi.Type:
    """The member of ``info`` that a JSON ``value`` stands for: null is nil, a tagged struct is
    chosen by its tag (the first key), anything else is the one remaining member."""
    if value is None:
        return next(t for t in info.types if isinstance(t, mi.NoneType))
    members = [t for t in info.types if not isinstance(t, mi.NoneType)]
    tagged = [t for t in members if isinstance(t, mi.StructType) and t.tag is not None]
    if tagged:
        tag_field = tagged[0].tag_field
        assert tag_field is not None and next(iter(value)) == tag_field
        match = [t for t in tagged if t.tag == value[tag_field]]
        assert len(match) == 1, f"no single struct tagged {value[tag_field]!r}"
        return match[0]
    assert len(members) == 1, f"ambiguous union {info}"
    return members[0]


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


def test_every_vectors_file_is_what_make_vectors_generates() -> None:
    files: dict[Path, str] = load_make_vectors().build_all()
    assert {path.name for path in files} == {"tx_vectors.json", "device_vectors.json"}
    for path, text in files.items():
        assert path.parent == VECTOR_DIR
        assert path.read_text(encoding="utf-8") == text, f"{path.name}: run make_vectors.py"


def test_domains_are_pinned() -> None:
    assert bytes.fromhex(VECTORS["sign_domain_hex"]) == SIGN_DOMAIN == b"citychain/tx/v1\x00"
    assert bytes.fromhex(VECTORS["header_domain_hex"]) == HEADER_DOMAIN
    assert HEADER_DOMAIN == b"citychain/header/v1\x00"


def test_every_message_type_of_bank_devices_and_battery_has_a_vector() -> None:
    covered = {m["type"] for v in TX_VECTORS for m in v["body"]["messages"]}
    for module, messages in VECTOR_MODULES.items():
        types = {cls.TYPE for cls in messages}
        assert types, module
        assert all(t.startswith(f"{module}/") for t in types)
        assert types <= covered, f"{module} messages without a vector: {types - covered}"
    # ALL_MESSAGES is every message the module routes, so none escapes the check above.
    for routed in (bank.MODULE, devices.MODULE, battery.MODULE):
        assert {route.cls for route in routed.routes} == set(VECTOR_MODULES[routed.name])
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


def vector_named(name: str) -> dict[str, Any]:
    return next(v for v in TX_VECTORS if v["name"] == name)


@pytest.mark.parametrize("vector", POSSESSION_VECTORS, ids=ids(POSSESSION_VECTORS))
def test_possession_proofs(vector: dict[str, Any]) -> None:
    """The device key signs a statement binding it to the chain, the owner (the sender) and
    the device id; the message carries that signature."""
    messages = messages_of(vector)
    for proof in vector["possession"]:
        message = messages[proof["message_index"]]
        device_key = PrivateKey.from_seed(bytes.fromhex(proof["device_seed_hex"]))
        public_key = device_key.public_key
        assert public_key.hex() == proof["device_public_key_hex"]
        if isinstance(message, devices_messages.MsgRegisterDevice):
            assert message.public_key == public_key
            # A new device's id is derived from its (first) key.
            assert device_id_of(public_key).hex() == proof["device_id_hex"]
            assert (
                hashlib.sha256(DEVICE_ID_DOMAIN + public_key).hexdigest()
                == (proof["device_id_hex"])
            )
        else:
            assert isinstance(message, devices_messages.MsgRotateKey)
            assert message.new_public_key == public_key
            assert message.device_id.hex() == proof["device_id_hex"]
        owner = bytes.fromhex(proof["owner_hex"])
        device_id = bytes.fromhex(proof["device_id_hex"])
        assert owner.hex() == vector["sender_address_hex"]
        assert proof["chain_id"] == vector["body"]["chain_id"]
        statement = possession_statement(proof["chain_id"], owner, device_id, public_key)
        assert statement.hex() == proof["statement_hex"]
        # The statement by hand: the domain, then the array [chain_id, owner, device_id, key].
        by_hand = (
            POSSESSION_DOMAIN
            + b"\x94"
            + bytes([0xA0 + len(proof["chain_id"])])
            + proof["chain_id"].encode()
            + b"\xc4\x14"
            + owner
            + b"\xc4\x20"
            + device_id
            + b"\xc4\x20"
            + public_key
        )
        assert by_hand == statement
        signature = bytes.fromhex(proof["signature_hex"])
        assert device_key.sign(statement) == signature == message.possession
        assert verify(public_key, statement, signature)
        assert not verify(public_key, statement[:-1] + bytes([statement[-1] ^ 1]), signature)
        other_owner = bytes([owner[0] ^ 1]) + owner[1:]
        assert not verify(
            public_key, possession_statement("citychain-2", owner, device_id, public_key), signature
        )
        assert not verify(
            public_key,
            possession_statement(proof["chain_id"], other_owner, device_id, public_key),
            signature,
        )


def test_the_devices_vectors_are_accepted_by_a_chain(tmp_path: Path) -> None:
    """Register, anchor, rotate and decommission: the possession proofs pass the handlers."""
    names = [v["name"] for v in TX_VECTORS if v["name"].startswith("devices/")]
    vectors = [vector_named(name) for name in names]
    owner = PrivateKey.from_seed(bytes.fromhex(vectors[0]["seed_hex"]))
    chain = Chain.create(tmp_path, {owner: 10_000}, chain_id=vectors[0]["body"]["chain_id"])
    for vector in vectors:
        result = chain.block(bytes.fromhex(vector["tx_raw_hex"])).tx_results[0]
        assert result.ok, f"{vector['name']}: {result.log}"
    state = chain.app.committed
    register = vector_named("devices/register")["body"]["messages"][0]["fields"]
    bms = device_id_of(bytes.fromhex(register["public_key"]))
    device = get_device(state, bms)
    assert device is not None and device.owner == address_of(owner.public_key)
    rotate = vector_named("devices/rotate_key+decommission")["body"]["messages"][0]["fields"]
    assert device.public_key.hex() == rotate["new_public_key"]
    anchor = vector_named("devices/anchor")["body"]["messages"][0]["fields"]
    stored = get_anchor(state, bytes.fromhex(anchor["batch_id"]))
    assert stored is not None and stored.root.hex() == anchor["root"]


def test_the_battery_vectors_are_accepted_by_a_chain(tmp_path: Path) -> None:
    """With the manufacturer and oracle roles granted at genesis, every battery vector passes,
    after the devices vectors anchored the telemetry batch the health update names."""
    vectors = [v for v in TX_VECTORS if v["name"].startswith(("devices/", "battery/"))]
    keys = {v["seed_hex"]: PrivateKey.from_seed(bytes.fromhex(v["seed_hex"])) for v in vectors}
    maker = keys[vector_named("battery/register")["seed_hex"]]
    oracle = keys[vector_named("battery/update_health")["seed_hex"]]
    chain_id = vectors[0]["body"]["chain_id"]
    assert {v["body"]["chain_id"] for v in vectors} == {chain_id}
    doc = json.loads(make_genesis(dict.fromkeys(keys.values(), 10_000), chain_id=chain_id).raw)
    roles = doc["app_state"]["consortium"]["roles"]
    roles["manufacturer"] = [address_from_public_key(maker.public_key)]
    roles["oracle"] = [address_from_public_key(oracle.public_key)]
    app = Application(BlockStore(tmp_path / "chain.sqlite"))
    app.init_chain(Genesis.from_dict(doc))
    chain = Chain(app)
    for vector in vectors:
        result = chain.block(bytes.fromhex(vector["tx_raw_hex"])).tx_results[0]
        assert result.ok, f"{vector['name']}: {result.log}"
    register = vector_named("battery/register")["body"]["messages"][0]["fields"]
    battery = get_battery(chain.app.committed, battery_id_of(register["passport"]["identifier"]))
    assert battery is not None
    opened = vector_named("battery/open_holding")["body"]["messages"][0]["fields"]
    holding = get_holding(chain.app.committed, bytes.fromhex(opened["holding_id"]))
    transfer = vector_named("battery/lease end+transfer")["body"]["messages"][1]["fields"]
    assert holding is not None and holding.owner.hex() == transfer["new_owner"]
