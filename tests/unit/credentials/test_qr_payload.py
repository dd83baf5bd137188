"""The QR codes of a certificate bundle: exact round trip in any order, and clear refusals of
payloads that are not the complete parts of one bundle."""

from __future__ import annotations

import hashlib
import zlib
from pathlib import Path

import msgspec
import pytest

from citychain.credentials import CredentialError
from citychain.credentials.qr import (
    HEADER_BYTES,
    MAGIC,
    decode_qr_parts,
    qr_parts,
    qr_payload,
    write_qr,
)

BUNDLE = {
    "presentation": "eyJhbGciOiJFZERTQSJ9.e30.c2ln~WyJzIiwiYSIsdHJ1ZV0~",
    "record_proof": {
        "version": 2,
        "key": "7265672f722f" + "ab" * 32,
        "value": None,
        "proof": {"branches": [["00" * 32, "ff" * 32]], "leaf": None},
        "signed_header": {
            "app_hash": "3D0EAE94E9828B07B7C24A8010BD27A2CC65A10D0401C7FFE73BDCF0A0",
            "signature": "QA92bUhVqf0SPwVX1wbPX/+abcdefghijklmnopqrstuvwxyz0123456789AB==",
            "time": "2026-12-01T08:48:51.445868241Z",
        },
        "chain_id": "citychain-local",
        "label": "cafe",  # hex-looking text comes back as the same text
        "mixed": "AbCdAbCdAbCdAbCdAbCd",  # base64-looking text too
        "empty": "",
    },
    "issuer_key": "11" * 32,
}


def _stream_parts(stream: bytes, count: int = 1) -> list[bytes]:
    digest = hashlib.sha256(stream).digest()[:8]
    size = -(-len(stream) // count)
    chunks = [stream[i : i + size] for i in range(0, len(stream), size)]
    return [MAGIC + bytes([i, len(chunks)]) + digest + c for i, c in enumerate(chunks)]


def test_round_trip_is_exact_in_any_order() -> None:
    assert decode_qr_parts(qr_parts(BUNDLE)) == BUNDLE
    parts = qr_parts(BUNDLE, part_bytes=HEADER_BYTES + 40)
    assert len(parts) > 3 and all(len(p) <= HEADER_BYTES + 40 for p in parts)
    assert decode_qr_parts(list(reversed(parts))) == BUNDLE
    assert len(qr_payload(BUNDLE)) < len(msgspec.json.encode(BUNDLE))


def test_incomplete_or_mixed_parts_refused() -> None:
    parts = qr_parts(BUNDLE, part_bytes=HEADER_BYTES + 40)
    with pytest.raises(CredentialError, match="missing QR code part"):
        decode_qr_parts(parts[1:])
    with pytest.raises(CredentialError, match="given twice"):
        decode_qr_parts([*parts, parts[0]])
    other = qr_parts({**BUNDLE, "issuer_key": "22" * 32}, part_bytes=HEADER_BYTES + 40)
    with pytest.raises(CredentialError, match="different presentations"):
        decode_qr_parts([parts[0], *other[1:]])
    damaged = [p if i else p[:-1] + bytes([p[-1] ^ 1]) for i, p in enumerate(parts)]
    with pytest.raises(CredentialError, match="checksum"):
        decode_qr_parts(damaged)


@pytest.mark.parametrize(
    ("parts", "message"),
    [
        ([], "no QR code given"),
        ([b"{}"], "no CCQ2 header"),
        (_stream_parts(b"not zlib"), "does not decode"),
        (_stream_parts(zlib.compress(b"\x00" * 2_000_000)), "inflates beyond 1 MB"),
        (_stream_parts(zlib.compress(msgspec.msgpack.encode([1, 2]))), "not a certificate"),
        ([MAGIC + bytes([3, 2]) + bytes(8) + b"x"], "part 4 of 2"),
    ],
)
def test_bad_payloads_refused(parts: list[bytes], message: str) -> None:
    with pytest.raises(CredentialError, match=message):
        decode_qr_parts(parts)


def test_images_one_or_several(tmp_path: Path) -> None:
    assert write_qr(BUNDLE, tmp_path / "one.svg") == [tmp_path / "one.svg"]
    assert (tmp_path / "one.svg").read_text().startswith("<?xml")
    big = {**BUNDLE, "presentation": "".join(f"{i:x}x" for i in range(1500))}
    paths = write_qr(big, tmp_path / "big.png")
    assert [p.name for p in paths] == [f"big-{i}of{len(paths)}.png" for i in range(1, 4)]
    with pytest.raises(CredentialError, match="at most 16"):
        qr_parts({"x": "".join(f"{i}y" for i in range(200_000))}, part_bytes=100)
