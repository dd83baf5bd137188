"""Ed25519 keys and verify: RFC 8032 vectors, tampering, and libsodium's strict rules."""

from __future__ import annotations

import dataclasses

import pytest

from citychain.crypto.keys import PrivateKey, verify

# RFC 8032, section 7.1, TEST 1, TEST 2 and TEST 3: (secret key, public key, message, signature).
RFC8032_VECTORS = [
    (
        "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
        "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
        "",
        "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
    ),
    (
        "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
        "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
        "72",
        "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00",
    ),
    (
        "c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
        "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025",
        "af82",
        "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a",
    ),
]

# Order of the Ed25519 base point (RFC 8032, section 5.1: L).
GROUP_ORDER = 2**252 + 27742317777372353535851937790883648493
IDENTITY_POINT = bytes([1]) + bytes(31)  # y = 1, x = 0: the neutral element, order 1


@pytest.mark.parametrize(("secret", "public", "message", "signature"), RFC8032_VECTORS)
def test_rfc8032_vectors(secret: str, public: str, message: str, signature: str) -> None:
    key = PrivateKey.from_seed(bytes.fromhex(secret))
    assert key.seed == bytes.fromhex(secret)
    assert key.public_key == bytes.fromhex(public)
    assert key.sign(bytes.fromhex(message)) == bytes.fromhex(signature)
    assert verify(key.public_key, bytes.fromhex(message), bytes.fromhex(signature))


def test_generate_makes_distinct_working_keys() -> None:
    first, second = PrivateKey.generate(), PrivateKey.generate()
    assert first.seed != second.seed and len(first.seed) == 32
    assert len(first.public_key) == 32
    signature = first.sign(b"pay 5 to bob")
    assert len(signature) == 64
    assert verify(first.public_key, b"pay 5 to bob", signature)
    assert not verify(second.public_key, b"pay 5 to bob", signature)


def test_signing_is_deterministic() -> None:
    key = PrivateKey.from_seed(bytes(range(32)))
    assert key.sign(b"m") == key.sign(b"m") == PrivateKey.from_seed(bytes(range(32))).sign(b"m")


@pytest.mark.parametrize("length", [0, 16, 31, 33, 64])
def test_from_seed_rejects_wrong_length(length: int) -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        PrivateKey.from_seed(bytes(length))


def test_from_seed_accepts_bytearray_and_rejects_str() -> None:
    assert PrivateKey.from_seed(bytearray(32)) == PrivateKey.from_seed(bytes(32))  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        PrivateKey.from_seed("0" * 32)  # type: ignore[arg-type]


def test_private_key_is_frozen_and_hides_seed() -> None:
    key = PrivateKey.from_seed(bytes.fromhex(RFC8032_VECTORS[0][0]))
    with pytest.raises(dataclasses.FrozenInstanceError):
        key.seed = bytes(32)  # type: ignore[misc]
    assert RFC8032_VECTORS[0][0] not in repr(key)
    assert RFC8032_VECTORS[0][1] in repr(key)


def test_equality_and_hash_follow_the_seed() -> None:
    assert PrivateKey.from_seed(bytes(32)) == PrivateKey.from_seed(bytes(32))
    assert PrivateKey.from_seed(bytes(32)) != PrivateKey.from_seed(bytes(31) + b"\x01")
    assert len({PrivateKey.from_seed(bytes(32)), PrivateKey.from_seed(bytes(32))}) == 1


def _signed() -> tuple[bytes, bytes, bytes]:
    _, public, message, signature = RFC8032_VECTORS[2]
    return bytes.fromhex(public), bytes.fromhex(message), bytes.fromhex(signature)


def _flip(data: bytes, index: int) -> bytes:
    return data[:index] + bytes([data[index] ^ 0x01]) + data[index + 1 :]


@pytest.mark.parametrize("index", [0, 31, 32, 63])
def test_verify_rejects_a_flipped_signature_bit(index: int) -> None:
    public, message, signature = _signed()
    assert not verify(public, message, _flip(signature, index))


def test_verify_rejects_changed_message_and_key() -> None:
    public, message, signature = _signed()
    assert not verify(public, _flip(message, 0), signature)
    assert not verify(public, message + b"\x00", signature)
    assert not verify(_flip(public, 5), message, signature)


@pytest.mark.parametrize(
    ("public_length", "signature_length"),
    [(0, 64), (31, 64), (33, 64), (32, 0), (32, 63), (32, 65)],
)
def test_verify_returns_false_on_wrong_lengths(public_length: int, signature_length: int) -> None:
    public, message, signature = _signed()
    padded_public = (public + bytes(1))[:public_length]
    padded_signature = (signature + bytes(1))[:signature_length]
    assert verify(padded_public, message, padded_signature) is False


@pytest.mark.parametrize("bad", [None, "text", 7, 3.5, [1, 2], object()])
def test_verify_returns_false_on_non_bytes(bad: object) -> None:
    public, message, signature = _signed()
    assert verify(bad, message, signature) is False  # type: ignore[arg-type]
    assert verify(public, bad, signature) is False  # type: ignore[arg-type]
    assert verify(public, message, bad) is False  # type: ignore[arg-type]


def test_verify_accepts_bytes_like_arguments() -> None:
    public, message, signature = _signed()
    assert verify(bytearray(public), memoryview(message), bytearray(signature))  # type: ignore[arg-type]


def test_verify_rejects_non_canonical_s() -> None:
    """S + L satisfies the verification equation too; accepting it would make signatures (and
    so transaction hashes) malleable. libsodium requires S < L."""
    public, message, signature = _signed()
    s = int.from_bytes(signature[32:], "little")
    malleated = signature[:32] + (s + GROUP_ORDER).to_bytes(32, "little")
    assert verify(public, message, signature)
    assert not verify(public, message, malleated)


def test_verify_rejects_small_order_key_and_r() -> None:
    """With A = R = identity and S = 0, [S]B = R + [k]A holds for every message; the strict
    rules reject small-order points, so this forgery fails."""
    forged = IDENTITY_POINT + bytes(32)
    assert not verify(IDENTITY_POINT, b"anything", forged)


def test_verify_rejects_non_canonical_or_invalid_key() -> None:
    _, message, signature = _signed()
    assert not verify(b"\xff" * 32, message, signature)
    assert not verify(bytes(32), message, signature)
