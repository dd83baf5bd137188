"""Report encoding, signature, ranges; the RFC 6962 tree against its recursive definition; the
report proof's refusal of a tampered report or path (no network: the anchor proof is checked in
the integration test)."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from citychain.codec import encode
from citychain.crypto.keys import PrivateKey
from citychain.telemetry import merkle
from citychain.telemetry import report as rep

KEY = PrivateKey.from_seed(hashlib.sha256(b"bms-1").digest())
DEVICE = hashlib.sha256(b"device").digest()


def bms(counter: int = 1, **readings: int | None) -> rep.ReportBody:
    values: dict[str, int | None] = {
        "pack_voltage_mv": 398_400, "current_ma": -12_500, "soc_permille": 812,
        "temperature_dc": 253, "cycle_count": 412,
    }  # fmt: skip
    values.update(readings)
    return rep.ReportBody(DEVICE, counter, 1_700_000_000_000, rep.BmsReadings(**values))  # type: ignore[arg-type]


def test_round_trip_and_signature() -> None:
    raw = rep.sign_report(KEY, bms())
    parsed = rep.parse_report(raw)
    assert parsed.body == bms() and parsed.body.kind == "bms"
    assert parsed.signature_valid(KEY.public_key)
    assert not parsed.signature_valid(PrivateKey.generate().public_key)
    assert parsed.id == hashlib.sha256(raw).digest()


def test_unsigned_and_malformed_are_told_apart() -> None:
    body = encode(bms())
    with pytest.raises(rep.ReportError) as unsigned:
        rep.parse_report(encode(rep.SignedReport(body, b"")))
    assert unsigned.value.reason == rep.UNSIGNED
    for junk in (b"", b"\x00", b"hello", encode(rep.SignedReport(b"x", b"s" * 64))):
        with pytest.raises(rep.ReportError) as malformed:
            rep.parse_report(junk)
        assert malformed.value.reason == rep.MALFORMED


def test_tampered_reading_fails_the_signature() -> None:
    raw = rep.sign_report(KEY, bms())
    signature = rep.parse_report(raw).signature
    forged = encode(rep.SignedReport(encode(bms(soc_permille=999)), signature))
    assert not rep.parse_report(forged).signature_valid(KEY.public_key)


@pytest.mark.parametrize(
    ("field", "value"),
    [("soc_permille", 1_001), ("pack_voltage_mv", -1), ("temperature_dc", 9_999),
     ("current_ma", 10**9), ("internal_resistance_uohm", -5)],
)  # fmt: skip
def test_absurd_values_are_refused_naming_the_field(field: str, value: int) -> None:
    with pytest.raises(rep.ReportError) as refused:
        rep.check_ranges(bms(**{field: value}))
    assert refused.value.reason == rep.OUT_OF_RANGE and field in str(refused.value)
    rep.check_ranges(bms())


def _reference_root(leaves: list[bytes]) -> bytes:
    """RFC 6962 §2.1 as written: split at the largest power of two below n."""
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return merkle.leaf_hash(leaves[0])
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    return merkle.node_hash(_reference_root(leaves[:k]), _reference_root(leaves[k:]))


@given(st.lists(st.binary(max_size=8), min_size=1, max_size=40), st.data())
def test_root_and_every_inclusion_proof(leaves: list[bytes], data: st.DataObject) -> None:
    hashes = [merkle.leaf_hash(x) for x in leaves]
    root = merkle.root(hashes)
    assert root == _reference_root(leaves)
    index = data.draw(st.integers(0, len(leaves) - 1))
    path = merkle.inclusion_proof(hashes, index)
    assert merkle.verify_inclusion(hashes[index], index, len(leaves), path, root)
    wrong = merkle.leaf_hash(leaves[index] + b"!")
    assert not merkle.verify_inclusion(wrong, index, len(leaves), path, root)
    if len(leaves) > 1:
        other = (index + 1) % len(leaves)
        if hashes[other] != hashes[index]:
            assert not merkle.verify_inclusion(hashes[other], index, len(leaves), path, root)


def test_rfc6962_empty_and_single() -> None:
    assert merkle.root([]) == hashlib.sha256(b"").digest()
    assert merkle.root([merkle.leaf_hash(b"")]) == hashlib.sha256(b"\x00").digest()


def test_the_broker_limits_fit_the_largest_report() -> None:
    """The broker's message_size_limit passes the longest wire form a report can take, and its
    max_packet_size that report's PUBLISH on the longest topic; one byte more than the limit
    is refused by the gateway's decoder too."""
    from citychain.telemetry.broker_access import MAX_PACKET_SIZE, MESSAGE_SIZE_LIMIT
    from citychain.telemetry.gateway.topics import report_topic

    longest = encode(rep.SignedReport(b"\x00" * rep.MAX_REPORT_BYTES, b"\x00" * 64))
    assert len(longest) <= rep.MAX_WIRE_BYTES == MESSAGE_SIZE_LIMIT
    topic = report_topic(b"\xff" * 32).encode()
    fixed_header, topic_length, packet_id = 5, 2, 2  # MQTT 3.1.1 §3.3
    assert (
        fixed_header + topic_length + len(topic) + packet_id + MESSAGE_SIZE_LIMIT <= MAX_PACKET_SIZE
    )
    with pytest.raises(rep.ReportError, match="more than a report"):
        rep.parse_report(b"\x00" * (rep.MAX_WIRE_BYTES + 1))
