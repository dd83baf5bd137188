"""The golden vectors of tests/vectors/device_vectors.json (docs/encoding.md, section 7).

Signed telemetry reports (what a BMS written in C must produce byte for byte), the RFC 6962
Merkle tree and id of a batch of them, and the salted commitments of battery passport parts.
Each report is checked three ways, as the transactions are: rebuilt from its fields it gives the
same bytes; its bytes decode to its fields (citychain's own parser accepts it); its signature
verifies and no single flipped bit gets through. tests/unit/test_vectors.py checks that this file
is what tests/vectors/make_vectors.py generates.
"""

from __future__ import annotations

import hashlib
import json
import struct
from pathlib import Path
from typing import Any

import msgspec
import msgspec.inspect as mi
import pytest
from test_vectors import TX_VECTORS, from_json

from citychain.codec import decode, encode
from citychain.crypto.keys import PrivateKey, verify
from citychain.modules.battery import commitment
from citychain.modules.battery.messages import HealthValues
from citychain.modules.devices.messages import POSSESSION_DOMAIN
from citychain.modules.devices.state import DEVICE_ID_DOMAIN, device_id_of
from citychain.passport.openings import health_fields
from citychain.telemetry import merkle
from citychain.telemetry.gateway.store import BATCH_DOMAIN, batch_id_of
from citychain.telemetry.report import (
    MALFORMED,
    REPORT_DOMAIN,
    ReportBody,
    ReportError,
    check_ranges,
    parse_report,
    report_id,
    sign_report,
)

VECTOR_DIR = Path(__file__).parents[1] / "vectors"
VECTORS: dict[str, Any] = json.loads(
    (VECTOR_DIR / "device_vectors.json").read_text(encoding="utf-8")
)
REPORTS: list[dict[str, Any]] = VECTORS["reports"]
BATCH: dict[str, Any] = VECTORS["batch"]
COMMITMENTS: list[dict[str, Any]] = VECTORS["commitments"]
REPORT_BODY = mi.type_info(ReportBody)
assert isinstance(REPORT_BODY, mi.StructType)


def ids(vectors: list[dict[str, Any]]) -> list[str]:
    return [v["name"] for v in vectors]


def body_of(vector: dict[str, Any]) -> ReportBody:
    body: ReportBody = from_json(REPORT_BODY, vector["fields"])
    return body


def tx_message(name: str, index: int = 0) -> dict[str, Any]:
    vector = next(v for v in TX_VECTORS if v["name"] == name)
    fields: dict[str, Any] = vector["body"]["messages"][index]["fields"]
    return fields


def flipped(data: bytes, bit: int) -> bytes:
    index, shift = divmod(bit, 8)
    return data[:index] + bytes([data[index] ^ (1 << shift)]) + data[index + 1 :]


def test_domains_are_pinned() -> None:
    assert bytes.fromhex(VECTORS["report_domain_hex"]) == REPORT_DOMAIN
    assert REPORT_DOMAIN == b"citychain/devices/report/v1\x00"
    assert bytes.fromhex(VECTORS["device_id_domain_hex"]) == DEVICE_ID_DOMAIN
    assert DEVICE_ID_DOMAIN == b"citychain/devices/id/v1\x00"
    assert bytes.fromhex(VECTORS["possession_domain_hex"]) == POSSESSION_DOMAIN
    assert POSSESSION_DOMAIN == b"citychain/devices/possession/v1\x00"
    assert bytes.fromhex(VECTORS["batch_domain_hex"]) == BATCH_DOMAIN
    assert BATCH_DOMAIN == b"citychain/devices/batch/v1\x00"
    assert bytes.fromhex(VECTORS["commitment_domain_hex"]) == commitment.DOMAIN
    assert commitment.DOMAIN == b"citychain/battery/commitment/v1\x00"


@pytest.mark.parametrize("device", VECTORS["devices"], ids=ids(VECTORS["devices"]))
def test_device_keys_and_ids_derive_from_the_seed(device: dict[str, Any]) -> None:
    seed = bytes.fromhex(device["seed_hex"])
    assert seed == hashlib.sha256(device["name"].encode()).digest()
    assert device["seed_source"] == f'sha256(b"{device["name"]}")'
    public_key = PrivateKey.from_seed(seed).public_key
    assert public_key.hex() == device["public_key_hex"]
    if "rotated_from" in device:
        # A rotated-to key keeps the device's id, derived from the device's first key.
        first = next(d for d in VECTORS["devices"] if d["name"] == device["rotated_from"])
        assert device["device_id_hex"] == first["device_id_hex"] != device_id_of(public_key).hex()
        rotate = tx_message("devices/rotate_key+decommission")
        assert rotate["device_id"] == first["device_id_hex"]
        assert rotate["new_public_key"] == device["public_key_hex"]
        return
    assert device_id_of(public_key).hex() == device["device_id_hex"]
    assert hashlib.sha256(DEVICE_ID_DOMAIN + public_key).hexdigest() == device["device_id_hex"]


def test_the_reports_cover_two_counters_of_one_device_and_every_reading_kind() -> None:
    counters: dict[str, list[int]] = {}
    for vector in REPORTS:
        counters.setdefault(vector["fields"]["device_id"], []).append(vector["fields"]["counter"])
    assert all(c == list(range(1, len(c) + 1)) for c in counters.values())
    assert max(len(c) for c in counters.values()) >= 2
    readings = REPORT_BODY.fields[3].type
    assert isinstance(readings, mi.UnionType)
    tags = {t.tag for t in readings.types if isinstance(t, mi.StructType)}
    assert {v["kind"] for v in REPORTS} == tags == {"bms", "machine", "meter"}


@pytest.mark.parametrize("vector", REPORTS, ids=ids(REPORTS))
def test_rebuilding_a_report_from_fields_gives_the_same_bytes(vector: dict[str, Any]) -> None:
    key = PrivateKey.from_seed(bytes.fromhex(vector["device_seed_hex"]))
    assert key.public_key.hex() == vector["device_public_key_hex"]
    assert device_id_of(key.public_key).hex() == vector["fields"]["device_id"]
    body = body_of(vector)
    assert body.kind == vector["kind"] == vector["fields"]["readings"]["type"]
    assert encode(body.readings).hex() == vector["readings_hex"]
    body_bytes = encode(body)
    assert body_bytes.hex() == vector["body_hex"]
    sign_bytes = REPORT_DOMAIN + body_bytes
    assert sign_bytes.hex() == vector["sign_bytes_hex"]
    # Ed25519 is deterministic (RFC 8032, 5.1.6): the same key and bytes give the same signature.
    signature = key.sign(sign_bytes)
    assert signature.hex() == vector["signature_hex"]
    raw = sign_report(key, body)
    assert raw.hex() == vector["report_hex"]
    # The wire form by hand: array(2) [bin8 body, bin8 signature].
    assert raw == b"\x92\xc4" + bytes([len(body_bytes)]) + body_bytes + b"\xc4\x40" + signature
    assert report_id(raw).hex() == vector["report_id_hex"] == hashlib.sha256(raw).hexdigest()
    assert merkle.leaf_hash(raw).hex() == vector["leaf_hash_hex"]
    assert hashlib.sha256(b"\x00" + raw).hexdigest() == vector["leaf_hash_hex"]


@pytest.mark.parametrize("vector", REPORTS, ids=ids(REPORTS))
def test_the_report_parser_accepts_a_report_and_gives_its_fields(vector: dict[str, Any]) -> None:
    raw = bytes.fromhex(vector["report_hex"])
    report = parse_report(raw)
    assert report.raw == raw
    assert report.id.hex() == vector["report_id_hex"]
    assert report.body_bytes.hex() == vector["body_hex"]
    assert report.signature.hex() == vector["signature_hex"]
    assert report.body == body_of(vector)
    assert report.body.kind == vector["kind"]
    assert decode(bytes.fromhex(vector["body_hex"]), ReportBody) == report.body
    check_ranges(report.body)  # no ReportError: the readings are in their physical ranges
    assert report.signature_valid(bytes.fromhex(vector["device_public_key_hex"]))


@pytest.mark.parametrize("vector", REPORTS, ids=ids(REPORTS))
def test_report_signature_verifies_and_no_flipped_bit_passes(vector: dict[str, Any]) -> None:
    public_key = bytes.fromhex(vector["device_public_key_hex"])
    sign_bytes = bytes.fromhex(vector["sign_bytes_hex"])
    signature = bytes.fromhex(vector["signature_hex"])
    assert verify(public_key, sign_bytes, signature)
    # Without the domain the signature is worthless: a report body is not a transaction.
    assert not verify(public_key, sign_bytes[len(REPORT_DOMAIN) :], signature)
    raw = bytes.fromhex(vector["report_hex"])
    for bit in range(len(raw) * 8):
        changed = flipped(raw, bit)
        try:
            report = parse_report(changed)
        except ReportError:
            continue
        assert not report.signature_valid(public_key), f"bit {bit} flipped still verifies"


def test_a_report_whose_encoder_drops_the_trailing_nils_is_malformed() -> None:
    """A struct is an array of every field: optional readings are nil (c0), never left out."""
    vector = next(v for v in REPORTS if v["name"] == "bms counter 2")
    body = bytes.fromhex(vector["body_hex"])
    readings = bytes.fromhex(vector["readings_hex"])
    assert readings[0] == 0x99 and readings.endswith(b"\xc0" * 4)
    short = b"\x95" + readings[1:-4]  # array(5) ["bms", voltage, current, soc, temperature]
    assert msgspec.msgpack.decode(short)[0] == "bms"
    key = PrivateKey.from_seed(bytes.fromhex(vector["device_seed_hex"]))
    short_body = body.replace(readings, short)
    raw = encode([short_body, key.sign(REPORT_DOMAIN + short_body)])
    with pytest.raises(ReportError) as raised:
        parse_report(raw)
    assert raised.value.reason == MALFORMED


def test_a_report_with_a_non_shortest_integer_is_malformed() -> None:
    """253 (deci-degrees) is uint8 cc fd; the same value as int16 d1 00 fd is refused."""
    vector = next(v for v in REPORTS if v["name"] == "bms counter 1")
    body = bytes.fromhex(vector["body_hex"])
    assert body.count(b"\xcc\xfd") == 1
    wide = body.replace(b"\xcc\xfd", b"\xd1\x00\xfd")
    key = PrivateKey.from_seed(bytes.fromhex(vector["device_seed_hex"]))
    with pytest.raises(ReportError) as raised:
        parse_report(encode([wide, key.sign(REPORT_DOMAIN + wide)]))
    assert raised.value.reason == MALFORMED


def rfc6962_root(leaves: list[bytes]) -> bytes:
    """MTH of RFC 6962 §2.1, recursively and independently of citychain.telemetry.merkle."""
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return hashlib.sha256(b"\x00" + leaves[0]).digest()
    k = 1 << ((len(leaves) - 1).bit_length() - 1)  # the largest power of two below n
    return hashlib.sha256(b"\x01" + rfc6962_root(leaves[:k]) + rfc6962_root(leaves[k:])).digest()


def rfc6962_path(index: int, leaves: list[bytes]) -> list[bytes]:
    """PATH(m, D[n]) of RFC 6962 §2.1.1, recursively."""
    if len(leaves) <= 1:
        return []
    k = 1 << ((len(leaves) - 1).bit_length() - 1)
    if index < k:
        return [*rfc6962_path(index, leaves[:k]), rfc6962_root(leaves[k:])]
    return [*rfc6962_path(index - k, leaves[k:]), rfc6962_root(leaves[:k])]


def batch_reports() -> list[bytes]:
    by_name = {v["name"]: bytes.fromhex(v["report_hex"]) for v in REPORTS}
    return [by_name[name] for name in BATCH["reports"]]


def test_batch_merkle_root() -> None:
    reports = batch_reports()
    assert len(reports) == BATCH["count"] == len(REPORTS)
    leaf_hashes = [merkle.leaf_hash(raw) for raw in reports]
    assert [h.hex() for h in leaf_hashes] == BATCH["leaf_hashes_hex"]
    assert merkle.root(leaf_hashes).hex() == BATCH["root_hex"]
    assert rfc6962_root(reports).hex() == BATCH["root_hex"]


def test_batch_id() -> None:
    gateway = bytes.fromhex(BATCH["gateway_device_id_hex"])
    root = bytes.fromhex(BATCH["root_hex"])
    count = BATCH["count"]
    preimage = BATCH_DOMAIN + gateway + root + struct.pack(">Q", count)
    assert preimage.hex() == BATCH["batch_id_preimage_hex"]
    assert hashlib.sha256(preimage).hexdigest() == BATCH["batch_id_hex"]
    assert batch_id_of(gateway, root, count).hex() == BATCH["batch_id_hex"]
    gateway_device = next(d for d in VECTORS["devices"] if d["kind"] == "gateway")
    assert gateway_device["device_id_hex"] == BATCH["gateway_device_id_hex"]


@pytest.mark.parametrize("inclusion", BATCH["inclusion"], ids=lambda i: f"leaf {i['leaf_index']}")
def test_inclusion_paths(inclusion: dict[str, Any]) -> None:
    reports = batch_reports()
    index, size = inclusion["leaf_index"], inclusion["tree_size"]
    assert size == BATCH["count"] and BATCH["reports"][index] == inclusion["report"]
    path = [bytes.fromhex(h) for h in inclusion["path_hex"]]
    leaf_hashes = [merkle.leaf_hash(raw) for raw in reports]
    assert merkle.inclusion_proof(leaf_hashes, index) == path
    assert rfc6962_path(index, reports) == path
    root = bytes.fromhex(BATCH["root_hex"])
    leaf = merkle.leaf_hash(reports[index])
    assert merkle.verify_inclusion(leaf, index, size, path, root)
    for other in range(size):
        if other != index:
            assert not merkle.verify_inclusion(leaf, other, size, path, root)
    assert not merkle.verify_inclusion(
        merkle.leaf_hash(reports[index - 1]), index, size, path, root
    )
    for i, node in enumerate(path):
        for bit in (0, 255):
            bad = [*path[:i], flipped(node, bit), *path[i + 1 :]]
            assert not merkle.verify_inclusion(leaf, index, size, bad, root)


def test_the_anchor_and_health_transactions_name_this_batch() -> None:
    anchor = tx_message("devices/anchor")
    assert anchor == {
        "batch_id": BATCH["batch_id_hex"],
        "root": BATCH["root_hex"],
        "count": BATCH["count"],
        "gateway": BATCH["gateway_device_id_hex"],
    }
    assert tx_message("battery/update_health")["telemetry_batch"] == BATCH["batch_id_hex"]
    bms = next(d for d in VECTORS["devices"] if d["kind"] == "bms")
    assert tx_message("battery/open_holding")["bms_device_id"] == bms["device_id_hex"]


@pytest.mark.parametrize("vector", COMMITMENTS, ids=ids(COMMITMENTS))
def test_commitments(vector: dict[str, Any]) -> None:
    part, fields = vector["part"], vector["fields"]
    content = commitment.part_content(part, fields)
    assert content.hex() == vector["content_hex"]
    assert content.decode() == vector["content"]
    # Canonical JSON: keys sorted at every level, no spaces, UTF-8 not escaped, integers only.
    assert json.loads(content) == {"part": part, "fields": fields}
    assert content == json.dumps(
        {"fields": fields, "part": part}, sort_keys=True, separators=(",", ":"), ensure_ascii=False
    ).encode("utf-8")
    assert content.startswith(b'{"fields":{') and content.endswith(
        b'},"part":"' + part.encode() + b'"}'
    )
    salt = bytes.fromhex(vector["salt_hex"])
    assert salt == hashlib.sha256(vector["salt_source"].split('"')[1].encode()).digest()
    preimage = commitment.DOMAIN + salt + content
    assert preimage.hex() == vector["preimage_hex"]
    expected = vector["commitment_hex"]
    assert hashlib.sha256(preimage).hexdigest() == expected
    assert commitment.commit_part(part, fields, salt).hex() == expected
    assert commitment.commit(content, salt).hex() == expected
    # Binding to the salt, the content and the part's name.
    assert commitment.commit(content, flipped(salt, 0)).hex() != expected
    assert commitment.commit(flipped(content, 8), salt).hex() != expected
    other = "test_reports" if part != "test_reports" else "composition"
    assert commitment.commit_part(other, fields, salt).hex() != expected


def test_the_health_commitment_opens_to_health_values() -> None:
    vector = next(v for v in COMMITMENTS if v["part"] == "health")
    values = msgspec.convert(vector["fields"], HealthValues)
    assert health_fields(values) == vector["fields"]
    assert tx_message("battery/update_health")["commitment"] == vector["commitment_hex"]


def test_the_passport_commitments_are_those_of_the_register_vector() -> None:
    register = tx_message("battery/register")
    by_part = {v["part"]: v["commitment_hex"] for v in COMMITMENTS}
    assert register["legitimate_interest_commitment"] == by_part["composition"]
    assert register["authority_commitment"] == by_part["test_reports"]
