"""citychain addresses: golden vectors, and every way address_to_bytes refuses a string."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from citychain.crypto.address import (
    ADDRESS_PREFIX,
    address_bytes_from_public_key,
    address_from_bytes,
    address_from_public_key,
    address_to_bytes,
    is_address,
)
from citychain.crypto.bech32 import bech32_encode
from citychain.crypto.errors import AddressError
from citychain.crypto.keys import PrivateKey

VECTORS: dict[str, Any] = json.loads(
    (Path(__file__).parents[2] / "vectors" / "bech32.json").read_text(encoding="utf-8")
)
ADDRESS_VECTORS = VECTORS["citychain_addresses"]


@pytest.mark.parametrize("case", ADDRESS_VECTORS, ids=lambda c: c["address"])
def test_golden_addresses(case: dict[str, str]) -> None:
    public_key = bytes.fromhex(case["public_key"])
    raw = bytes.fromhex(case["raw"])
    assert raw == hashlib.sha256(public_key).digest()[:20]
    assert address_bytes_from_public_key(public_key) == raw
    assert address_from_public_key(public_key) == case["address"]
    assert address_from_bytes(raw) == case["address"]
    assert address_to_bytes(case["address"]) == raw
    assert is_address(case["address"])


def test_address_shape() -> None:
    address = address_from_public_key(PrivateKey.generate().public_key)
    assert address.startswith("city1") and len(address) == 43 and address == address.lower()
    assert ADDRESS_PREFIX == "city"


def test_wrong_prefix_is_rejected() -> None:
    other = bech32_encode("cosmos", bytes(20))
    with pytest.raises(AddressError, match="prefix is 'cosmos', expected 'city'"):
        address_to_bytes(other)
    assert not is_address(other)


@pytest.mark.parametrize("size", [0, 19, 21, 32])
def test_wrong_length_is_rejected(size: int) -> None:
    encoded = bech32_encode("city", bytes(size))
    with pytest.raises(AddressError, match=f"carries {size} bytes, expected 20"):
        address_to_bytes(encoded)
    assert not is_address(encoded)
    with pytest.raises(AddressError, match="20 bytes"):
        address_from_bytes(bytes(size))


def test_uppercase_form_is_not_accepted() -> None:
    address = ADDRESS_VECTORS[0]["address"]
    with pytest.raises(AddressError, match="lowercase"):
        address_to_bytes(address.upper())
    assert not is_address(address.upper())


def test_changed_character_is_rejected() -> None:
    address = ADDRESS_VECTORS[0]["address"]
    changed = address[:-1] + ("q" if address[-1] != "q" else "p")
    with pytest.raises(AddressError, match="checksum"):
        address_to_bytes(changed)


@pytest.mark.parametrize("bad", ["", "city1", "city", "hello world", "city1" + "q" * 90])
def test_garbage_is_not_an_address(bad: str) -> None:
    assert not is_address(bad)
    with pytest.raises(AddressError):
        address_to_bytes(bad)


def test_non_str_is_not_an_address() -> None:
    assert not is_address(b"city1...")  # type: ignore[arg-type]
    assert not is_address(None)  # type: ignore[arg-type]


def test_public_key_must_be_32_bytes() -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        address_from_public_key(bytes(31))
