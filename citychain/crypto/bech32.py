"""Bech32 strings (BIP-173, "Bech32" section): the original checksum, not bech32m (BIP-350).

A bech32 string is `hrp + "1" + data + checksum`:

    city1qfz9z0xk...  hrp "city", separator "1", then 5-bit words in the alphabet below,
                      the last six of which are the BCH checksum over hrp and data.

`bech32_encode`/`bech32_decode` carry raw bytes, regrouped 8 bits -> 5 bits, most significant
bit first, the last group padded with zero bits (BIP-173, "Segwit address format"):

    bytes  |76543210|76543210|76543210|...
    words  |43210|43210|43210|43210|4...   (final word padded with 0 bits)

`bech32_encode_words`/`bech32_decode_words` carry the 5-bit words themselves, and
`bytes_to_words`/`words_to_bytes` do the regrouping.
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Iterable, Sequence

from citychain.crypto.errors import AddressError

CHARSET = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
"""Word value -> character, BIP-173 table (q = 0, p = 1, ..., l = 31)."""

MAX_LENGTH = 90
"""A bech32 string is at most 90 characters (BIP-173)."""

CHECKSUM_LENGTH = 6
SEPARATOR = "1"
MAX_HRP_LENGTH = 83
# the characters a bech32 string may hold: US-ASCII 33-126 (BIP-173)
FIRST_CHAR, LAST_CHAR = 33, 126
WORD_BITS = 5
WORD_MAX = (1 << WORD_BITS) - 1
BYTE_BITS = 8

_CHAR_TO_WORD = {char: value for value, char in enumerate(CHARSET)}
_GENERATOR = (0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3)
_BECH32_CONSTANT = 1
# BIP-350's constant: recognised only to say "this is bech32m" instead of "bad checksum".
_BECH32M_CONSTANT = 0x2BC830A3


# For each value of the 5 bits shifted out, the XOR of the generators they select: BIP-173's
# inner loop over those bits done once, ahead of time (genesis decodes millions of addresses).
_SHIFTED_OUT = tuple(
    functools.reduce(operator.xor, (g for i, g in enumerate(_GENERATOR) if (top >> i) & 1), 0)
    for top in range(32)
)


def _polymod(values: Iterable[int]) -> int:
    """BIP-173 `bech32_polymod`: the BCH code's remainder over GF(32)."""
    checksum = 1
    shifted_out = _SHIFTED_OUT
    for value in values:
        checksum = ((checksum & 0x1FFFFFF) << 5 ^ value) ^ shifted_out[checksum >> 25]
    return checksum


def _hrp_expand(hrp: str) -> list[int]:
    """BIP-173 `bech32_hrp_expand`: high bits of each hrp character, 0, then the low bits."""
    return [ord(c) >> 5 for c in hrp] + [0] + [ord(c) & 31 for c in hrp]


def _create_checksum(hrp: str, words: Sequence[int]) -> list[int]:
    polymod = _polymod([*_hrp_expand(hrp), *words, 0, 0, 0, 0, 0, 0]) ^ _BECH32_CONSTANT
    return [(polymod >> 5 * (5 - i)) & 31 for i in range(CHECKSUM_LENGTH)]


def _check_hrp(hrp: str) -> None:
    if not 1 <= len(hrp) <= MAX_HRP_LENGTH:
        raise AddressError(f"human-readable part must be 1 to 83 characters, got {len(hrp)}")
    for position, char in enumerate(hrp):
        if not FIRST_CHAR <= ord(char) <= LAST_CHAR:
            raise AddressError(
                f"human-readable part has character {char!r} at position {position}, "
                "outside US-ASCII 33-126"
            )
    if hrp.lower() != hrp:
        raise AddressError(f"human-readable part {hrp!r} must be lowercase to encode")


def bech32_encode_words(hrp: str, words: Sequence[int]) -> str:
    """Return the bech32 string of `hrp` and 5-bit `words` (BIP-173), in lowercase.

    Raises AddressError for an hrp outside 1-83 lowercase US-ASCII 33-126 characters, a word
    outside 0-31, or a result longer than 90 characters.
    """
    _check_hrp(hrp)
    for position, word in enumerate(words):
        if not 0 <= word <= WORD_MAX:
            raise AddressError(f"word {position} is {word}, outside 0-31")
    length = len(hrp) + 1 + len(words) + CHECKSUM_LENGTH
    if length > MAX_LENGTH:
        raise AddressError(f"bech32 string would be {length} characters, over {MAX_LENGTH}")
    checksum = _create_checksum(hrp, words)
    return hrp + SEPARATOR + "".join(CHARSET[w] for w in [*words, *checksum])


def _check_characters(bech: str) -> None:
    first, last = FIRST_CHAR, LAST_CHAR  # locals: a genesis decodes millions of addresses
    for position, char in enumerate(bech):
        if not first <= ord(char) <= last:
            raise AddressError(
                f"character {char!r} at position {position} is outside US-ASCII 33-126"
            )


def _data_words(data_part: str, start: int) -> list[int]:
    """The words of the data part, which starts at position ``start`` of the string."""
    words = []
    for offset, char in enumerate(data_part):
        word = _CHAR_TO_WORD.get(char)
        if word is None:
            raise AddressError(
                f"character {char!r} at position {start + offset} is not in the bech32 alphabet"
            )
        words.append(word)
    return words


def bech32_decode_words(bech: str) -> tuple[str, list[int]]:
    """Return (hrp, 5-bit data words without the checksum) of a bech32 string (BIP-173).

    The hrp is returned in lowercase. An all-uppercase string is accepted, as BIP-173 requires.
    Raises AddressError, saying which rule failed, for: a string over 90 characters, a character
    outside US-ASCII 33-126, mixed case, no separator, an empty hrp, a data part under six
    characters, a character outside the bech32 alphabet, or a checksum that does not verify.
    """
    if not isinstance(bech, str):
        raise AddressError(f"bech32 string must be str, got {type(bech).__name__}")
    if len(bech) > MAX_LENGTH:
        raise AddressError(f"bech32 string is {len(bech)} characters, over {MAX_LENGTH}")
    _check_characters(bech)
    lowered = bech.lower()
    if lowered != bech and bech.upper() != bech:
        raise AddressError("bech32 string mixes upper and lower case")
    separator = lowered.rfind(SEPARATOR)
    if separator == -1:
        raise AddressError("bech32 string has no separator '1'")
    if separator == 0:
        raise AddressError("bech32 string has an empty human-readable part")
    hrp, data_part = lowered[:separator], lowered[separator + 1 :]
    if len(data_part) < CHECKSUM_LENGTH:
        raise AddressError(
            f"data part is {len(data_part)} characters, shorter than the "
            f"{CHECKSUM_LENGTH}-character checksum"
        )
    words = _data_words(data_part, separator + 1)
    residue = _polymod(_hrp_expand(hrp) + words)
    if residue == _BECH32M_CONSTANT:
        raise AddressError("checksum is bech32m (BIP-350); expected bech32 (BIP-173)")
    if residue != _BECH32_CONSTANT:
        raise AddressError("bech32 checksum does not match (a character is wrong or missing)")
    return hrp, words[:-CHECKSUM_LENGTH]


def bytes_to_words(data: bytes) -> list[int]:
    """Regroup bytes into 5-bit words, padding the last word with zero bits (BIP-173)."""
    accumulator, bits, words = 0, 0, []
    word_bits, word_max, byte_bits = WORD_BITS, WORD_MAX, BYTE_BITS  # locals: every address
    for byte in data:
        accumulator = (accumulator << byte_bits) | byte
        bits += byte_bits
        while bits >= word_bits:
            bits -= word_bits
            words.append((accumulator >> bits) & word_max)
    if bits:
        words.append((accumulator << (word_bits - bits)) & word_max)
    return words


def words_to_bytes(words: Sequence[int]) -> bytes:
    """Regroup 5-bit words into bytes; the leftover must be at most 4 zero bits (BIP-173)."""
    accumulator, bits, out = 0, 0, bytearray()
    word_bits, word_max, byte_bits = WORD_BITS, WORD_MAX, BYTE_BITS  # locals: every address
    for position, word in enumerate(words):
        if not 0 <= word <= word_max:
            raise AddressError(f"word {position} is {word}, outside 0-31")
        accumulator = ((accumulator << word_bits) | word) & 0xFFF
        bits += word_bits
        if bits >= byte_bits:
            bits -= byte_bits
            out.append((accumulator >> bits) & 0xFF)
    if bits >= word_bits:
        raise AddressError(f"data has {bits} bits of padding; at most 4 are allowed")
    if accumulator & ((1 << bits) - 1):
        raise AddressError("data padding bits are not zero")
    return bytes(out)


def bech32_encode(hrp: str, data: bytes) -> str:
    """Return the bech32 string of `hrp` and raw bytes `data` (regrouped into 5-bit words)."""
    return bech32_encode_words(hrp, bytes_to_words(data))


def bech32_decode(bech: str) -> tuple[str, bytes]:
    """Return (hrp, raw bytes) of a bech32 string; the inverse of `bech32_encode`.

    Raises AddressError for every error `bech32_decode_words` reports, and for padding that is
    5 bits or longer or not all zero bits.
    """
    hrp, words = bech32_decode_words(bech)
    return hrp, words_to_bytes(words)
