"""Account addresses: `city1...`, the bech32 form of the first 20 bytes of sha256(public key).

    raw     = sha256(ed25519_public_key)[:20]          20 bytes, used in state and messages
    address = bech32_encode("city", raw)               43 characters, shown to people

State and transactions should carry the 20 raw bytes; the string is for people. The string
has one accepted form, lowercase: an uppercase address (allowed by BIP-173 for QR codes) is
rejected here, so that two spellings of one account never reach state. Clients lowercase user
input before parsing it if they want to accept uppercase.
"""

from __future__ import annotations

import hashlib

from citychain.crypto.bech32 import bech32_decode, bech32_encode
from citychain.crypto.errors import AddressError
from citychain.crypto.keys import PUBLIC_KEY_SIZE

ADDRESS_PREFIX = "city"
"""The bech32 human-readable part of every citychain account address."""

ADDRESS_SIZE = 20
"""Bytes in a raw address: 160 bits, as in Bitcoin and Cosmos account addresses."""


def address_bytes_from_public_key(public_key: bytes) -> bytes:
    """Return the 20-byte raw address of a 32-byte Ed25519 public key: sha256(pk)[:20]."""
    if not isinstance(public_key, bytes) or len(public_key) != PUBLIC_KEY_SIZE:
        raise ValueError(f"an Ed25519 public key is {PUBLIC_KEY_SIZE} bytes")
    return hashlib.sha256(public_key).digest()[:ADDRESS_SIZE]


def address_from_public_key(public_key: bytes) -> str:
    """Return the `city1...` address of a 32-byte Ed25519 public key."""
    return address_from_bytes(address_bytes_from_public_key(public_key))


def address_from_bytes(raw20: bytes) -> str:
    """Return the `city1...` address of a 20-byte raw address; AddressError otherwise."""
    if not isinstance(raw20, bytes) or len(raw20) != ADDRESS_SIZE:
        raise AddressError(f"a raw address is {ADDRESS_SIZE} bytes")
    return bech32_encode(ADDRESS_PREFIX, raw20)


def address_to_bytes(address: str) -> bytes:
    """Return the 20 raw bytes of a `city1...` address.

    Raises AddressError if the string is not valid bech32 (BIP-173), is not lowercase, has a
    prefix other than "city", or does not carry exactly 20 bytes.
    """
    if not isinstance(address, str):
        raise AddressError(f"address must be str, got {type(address).__name__}")
    prefix, raw = bech32_decode(address)
    if address != address.lower():
        raise AddressError("address must be lowercase")
    if prefix != ADDRESS_PREFIX:
        raise AddressError(f"address prefix is {prefix!r}, expected {ADDRESS_PREFIX!r}")
    if len(raw) != ADDRESS_SIZE:
        raise AddressError(f"address carries {len(raw)} bytes, expected {ADDRESS_SIZE}")
    return raw


def is_address(address: str) -> bool:
    """Return True iff `address_to_bytes(address)` would succeed."""
    try:
        address_to_bytes(address)
    except AddressError:
        return False
    return True
