"""Bech32 against BIP-173's published vectors, plus round trips and decoder fuzzing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from citychain.crypto.bech32 import (
    CHARSET,
    MAX_LENGTH,
    bech32_decode,
    bech32_decode_words,
    bech32_encode,
    bech32_encode_words,
    bytes_to_words,
    words_to_bytes,
)
from citychain.crypto.errors import AddressError

VECTORS: dict[str, Any] = json.loads(
    (Path(__file__).parents[2] / "vectors" / "bech32.json").read_text(encoding="utf-8")
)


@pytest.mark.parametrize("bech", VECTORS["bip173_valid"])
def test_bip173_valid_strings_decode_and_reencode(bech: str) -> None:
    hrp, words = bech32_decode_words(bech)
    assert hrp == bech[: bech.rfind("1")].lower()
    assert bech32_encode_words(hrp, words) == bech.lower()


@pytest.mark.parametrize("bech", VECTORS["bip173_valid"])
def test_bip173_valid_strings_fail_after_one_character_changes(bech: str) -> None:
    # BIP-173's checksum detects any single substitution in the data part.
    separator = bech.rfind("1")
    lowered = bech.lower()
    for position in range(separator + 1, len(bech)):
        other = CHARSET[(CHARSET.index(lowered[position]) + 1) % 32]
        changed = lowered[:position] + other + lowered[position + 1 :]
        with pytest.raises(AddressError, match="checksum"):
            bech32_decode_words(changed)


@pytest.mark.parametrize(
    "case", VECTORS["bip173_invalid"], ids=[c["reason"] for c in VECTORS["bip173_invalid"]]
)
def test_bip173_invalid_strings_are_rejected(case: dict[str, str]) -> None:
    with pytest.raises(AddressError):
        bech32_decode_words(case["string"])
    with pytest.raises(AddressError):
        bech32_decode(case["string"])


@pytest.mark.parametrize(
    ("bech", "message"),
    [
        (VECTORS["bip173_invalid"][0]["string"], "outside US-ASCII 33-126"),
        (VECTORS["bip173_invalid"][3]["string"], "91 characters, over 90"),
        ("pzry9x0s0muk", "no separator"),
        ("1pzry9x0s0muk", "empty human-readable part"),
        ("x1b4n0q5v", "'b' at position 2 is not in the bech32 alphabet"),
        ("li1dgmt3", "shorter than the 6-character checksum"),
        ("A1G7SGD8", "checksum does not match"),
        ("a12UEL5L", "mixes upper and lower case"),
        ("a1lqfn3a", "bech32m"),  # BIP-350's valid bech32m vector
    ],
)
def test_errors_say_which_rule_failed(bech: str, message: str) -> None:
    with pytest.raises(AddressError, match=message):
        bech32_decode_words(bech)


def _script_pubkey(version: int, program: bytes) -> bytes:
    opcode = 0x50 + version if version else 0
    return bytes([opcode, len(program)]) + program


@pytest.mark.parametrize("case", VECTORS["bip173_segwit_valid"], ids=lambda c: c["address"][:12])
def test_bip173_segwit_vectors_check_the_8_to_5_bit_regrouping(case: dict[str, str]) -> None:
    """A segwit address is [version word] + bytes_to_words(program): these vectors pin the
    bit order and padding of our 8 <-> 5 bit conversion to BIP-173's."""
    hrp, words = bech32_decode_words(case["address"])
    program = words_to_bytes(words[1:])
    assert _script_pubkey(words[0], program).hex() == case["script_pubkey"]
    assert bech32_encode_words(hrp, [words[0], *bytes_to_words(program)]) == case["address"].lower()


@pytest.mark.parametrize(
    ("case", "message"),
    list(zip(VECTORS["bip173_segwit_bad_padding"], ["7 bits of padding", "not zero"], strict=True)),
)
def test_bip173_bad_padding_is_rejected(case: dict[str, str], message: str) -> None:
    _, words = bech32_decode_words(case["address"])  # the checksum itself is fine
    with pytest.raises(AddressError, match=message):
        words_to_bytes(words[1:])


def test_bech32_encode_decode_bytes_known_value() -> None:
    program = bytes.fromhex("751e76e8199196d454941c45d1b3a323f1433bd6")
    assert bech32_decode(bech32_encode("bc", program)) == ("bc", program)
    assert bech32_encode("a", b"") == "a12uel5l"


def test_encode_rejects_bad_hrp_words_and_length() -> None:
    with pytest.raises(AddressError, match="1 to 83"):
        bech32_encode("", b"")
    with pytest.raises(AddressError, match="lowercase"):
        bech32_encode("City", b"")
    with pytest.raises(AddressError, match="outside US-ASCII"):
        bech32_encode("c ty", b"")
    with pytest.raises(AddressError, match="outside 0-31"):
        bech32_encode_words("a", [32])
    with pytest.raises(AddressError, match="over 90"):
        bech32_encode("a", bytes(52))  # 1 + 1 + 84 + 6 = 92 characters
    assert len(bech32_encode("a", bytes(51))) == 1 + 1 + 82 + 6


def test_uppercase_string_decodes_like_lowercase() -> None:
    assert bech32_decode("A12UEL5L") == bech32_decode("a12uel5l") == ("a", b"")


@given(
    hrp=st.text(
        alphabet=st.characters(min_codepoint=33, max_codepoint=126), min_size=1, max_size=20
    ).map(str.lower),
    data=st.binary(max_size=40),
)
def test_round_trip(hrp: str, data: bytes) -> None:
    encoded = bech32_encode(hrp, data)
    assert len(encoded) <= MAX_LENGTH
    assert bech32_decode(encoded) == (hrp, data)
    assert bech32_decode(encoded.upper()) == (hrp, data)


@given(st.text(max_size=100))
def test_decoder_raises_address_error_or_round_trips(text: str) -> None:
    try:
        hrp, data = bech32_decode(text)
    except AddressError:
        return
    assert bech32_encode(hrp, data) == text.lower()


@given(
    prefix=st.sampled_from(["city", "a", "tb"]),
    data=st.binary(min_size=1, max_size=30),
    position=st.integers(min_value=0),
    replacement=st.sampled_from(CHARSET),
)
def test_single_substitution_is_always_detected(
    prefix: str, data: bytes, position: int, replacement: str
) -> None:
    encoded = bech32_encode(prefix, data)
    index = len(prefix) + 1 + position % (len(encoded) - len(prefix) - 1)
    if encoded[index] == replacement:
        return
    changed = encoded[:index] + replacement + encoded[index + 1 :]
    with pytest.raises(AddressError):
        bech32_decode(changed)
