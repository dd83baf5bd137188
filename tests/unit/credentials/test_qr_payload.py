"""The QR payload of a certificate bundle: exact round trip, and clear refusals of bytes that
are not one (a wrong prefix, broken compression, a zip bomb, a non-object)."""

from __future__ import annotations

import zlib
from pathlib import Path

import msgspec
import pytest

from citychain.credentials import CredentialError
from citychain.credentials.qr import (
    MAGIC,
    QR_CAPACITY,
    decode_qr_payload,
    qr_payload,
    write_qr,
)

BUNDLE = {
    "presentation": "eyJhbGciOiJFZERTQSJ9.e30.c2ln~WyJzIiwiYSIsdHJ1ZV0~",
    "record_proof": {
        "version": 1,
        "key": "7265672f722f" + "ab" * 32,
        "value": None,
        "proof": {"branches": [["00" * 32, "ff" * 32]], "leaf": None},
        "claim": {"kind": "raw"},
        "chain_id": "citychain-local",
        "label": "cafe",  # a hex-looking string comes back as the same string
        "empty": "",
    },
    "issuer_key": "11" * 32,
}


def test_round_trip_is_exact_and_smaller() -> None:
    payload = qr_payload(BUNDLE)
    assert payload.startswith(MAGIC)
    assert decode_qr_payload(payload) == BUNDLE
    assert len(payload) < len(msgspec.json.encode(BUNDLE))


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (b"{}", "no CCQ1 prefix"),
        (MAGIC + b"not zlib", "does not decode"),
        (MAGIC + zlib.compress(b"\x00" * 2_000_000), "inflates beyond 1 MB"),
        (MAGIC + zlib.compress(msgspec.msgpack.encode([1, 2])), "not a certificate bundle"),
    ],
)
def test_bad_payloads_refused(payload: bytes, message: str) -> None:
    with pytest.raises(CredentialError, match=message):
        decode_qr_payload(payload)


def test_too_big_for_one_qr_code(tmp_path: Path) -> None:
    huge = {**BUNDLE, "presentation": "".join(f"{i:x}x" for i in range(QR_CAPACITY * 2))}
    with pytest.raises(CredentialError, match="a QR code holds 2953"):
        write_qr(huge, tmp_path / "big.png")
    assert write_qr(BUNDLE, tmp_path / "ok.svg") == len(qr_payload(BUNDLE))
    assert (tmp_path / "ok.svg").read_text().startswith("<?xml")
