"""Mnemonic phrases (BIP-39, English) and hierarchical Ed25519 keys (SLIP-0010).

A citychain account key is derived as:

    words --BIP-39 PBKDF2-HMAC-SHA512, passphrase--> 64-byte seed
          --SLIP-0010 ed25519, path m/44'/8888'/account'/0'/0'--> 32-byte Ed25519 seed

44' is the BIP-44 purpose and 8888' the coin type chosen for citychain. SLIP-0010 allows only
hardened children for ed25519, so every level is hardened.

Words are normalised before use: Unicode NFKD (as BIP-39 does), lowercase, single spaces.
So "Abandon  abandon ..." and "abandon abandon ..." give the same key. A phrase already in
canonical form (lowercase words, single spaces) is unchanged, so its seed is the one every
BIP-39 wallet derives; normalising only admits spellings that would otherwise be rejected.
"""

from __future__ import annotations

import hashlib
import hmac
import unicodedata
from collections.abc import Sequence
from functools import lru_cache

from mnemonic import Mnemonic

from citychain.crypto.errors import MnemonicError
from citychain.crypto.keys import PrivateKey

HARDENED = 0x8000_0000
"""Child indices at or above 2^31 are hardened (BIP-32)."""

MAX_INDEX = 0xFFFF_FFFF
"""A child index is a 32-bit number (BIP-32 ser32)."""

PURPOSE = 44
"""BIP-44 purpose level."""

COIN_TYPE = 8888
"""The BIP-44 coin type level used for citychain keys."""

STRENGTHS = (128, 160, 192, 224, 256)
"""Entropy sizes in bits that BIP-39 allows; 256 bits gives 24 words."""

WORD_COUNTS = (12, 15, 18, 21, 24)
"""Word counts that BIP-39 allows (one per entropy size)."""

_SLIP10_ED25519_KEY = b"ed25519 seed"


@lru_cache(maxsize=1)
def _english() -> Mnemonic:
    return Mnemonic("english")


@lru_cache(maxsize=1)
def _english_words() -> frozenset[str]:
    return frozenset(_english().wordlist)


def _normalize(words: str) -> str:
    return " ".join(unicodedata.normalize("NFKD", words).lower().split())


def generate_mnemonic(strength_bits: int = 256) -> str:
    """Return a new English BIP-39 mnemonic from `strength_bits` of CSPRNG entropy.

    256 bits (24 words) by default; MnemonicError unless one of 128, 160, 192, 224, 256.
    """
    if strength_bits not in STRENGTHS:
        raise MnemonicError(
            f"mnemonic strength must be one of {', '.join(map(str, STRENGTHS))} bits, "
            f"got {strength_bits}"
        )
    return _english().generate(strength_bits)


def validate_mnemonic(words: str) -> None:
    """Raise MnemonicError unless `words` is a valid English BIP-39 mnemonic.

    Checks, in order: the word count, that every word is in the English wordlist (the error
    gives positions, not the words, as the phrase is a secret), and the checksum.
    """
    if not isinstance(words, str):
        raise MnemonicError(f"mnemonic must be str, got {type(words).__name__}")
    word_list = _normalize(words).split()
    if not word_list:
        raise MnemonicError("mnemonic is empty")
    if len(word_list) not in WORD_COUNTS:
        raise MnemonicError(
            f"mnemonic has {len(word_list)} words; BIP-39 mnemonics have "
            f"{', '.join(map(str, WORD_COUNTS))} words"
        )
    wordlist = _english_words()
    unknown = [str(i + 1) for i, word in enumerate(word_list) if word not in wordlist]
    if unknown:
        noun = "word" if len(unknown) == 1 else "words"
        raise MnemonicError(
            f"{noun} {', '.join(unknown)} not in the BIP-39 English wordlist (counting from 1)"
        )
    if not _english().check(" ".join(word_list)):
        raise MnemonicError(
            "mnemonic checksum does not match: a word is wrong or words are out of order"
        )


def mnemonic_to_seed(words: str, passphrase: str = "") -> bytes:
    """Return the 64-byte BIP-39 seed of a valid mnemonic and optional passphrase."""
    validate_mnemonic(words)
    return Mnemonic.to_seed(_normalize(words), passphrase)


def slip10_ed25519_master(seed: bytes) -> tuple[bytes, bytes]:
    """Return (private key, chain code) of the SLIP-0010 ed25519 master key of `seed`.

    SLIP-0010, "Master key generation": I = HMAC-SHA512(key=b"ed25519 seed", data=seed),
    key = I[:32], chain code = I[32:]. Every 32-byte string is a valid ed25519 key, so there
    is no retry.
    """
    digest = hmac.digest(_SLIP10_ED25519_KEY, seed, hashlib.sha512)
    return digest[:32], digest[32:]


def slip10_ed25519_child(key: bytes, chain_code: bytes, index: int) -> tuple[bytes, bytes]:
    """Return (private key, chain code) of hardened child `index` (>= 2^31) of a SLIP-0010
    ed25519 key: I = HMAC-SHA512(key=chain code, data=0x00 || key || ser32(index)).

    Raises ValueError for a non-hardened index: SLIP-0010 defines none for ed25519.
    """
    if not HARDENED <= index <= MAX_INDEX:
        raise ValueError(
            f"ed25519 derivation is hardened only: index {index} is not in 2^31..2^32-1"
        )
    digest = hmac.digest(chain_code, b"\x00" + key + index.to_bytes(4, "big"), hashlib.sha512)
    return digest[:32], digest[32:]


def slip10_ed25519_derive(seed: bytes, path: Sequence[int]) -> tuple[bytes, bytes]:
    """Return (private key, chain code) at `path` (indices, each already + HARDENED)."""
    key, chain_code = slip10_ed25519_master(seed)
    for index in path:
        key, chain_code = slip10_ed25519_child(key, chain_code, index)
    return key, chain_code


def derivation_path(account: int = 0) -> tuple[int, ...]:
    """Return the indices of m/44'/8888'/account'/0'/0'; ValueError unless 0 <= account < 2^31."""
    if isinstance(account, bool) or not isinstance(account, int) or not 0 <= account < HARDENED:
        raise ValueError(f"account must be an integer in 0..2^31-1, got {account!r}")
    return tuple(HARDENED + level for level in (PURPOSE, COIN_TYPE, account, 0, 0))


def private_key_from_mnemonic(words: str, passphrase: str = "", account: int = 0) -> PrivateKey:
    """Return the Ed25519 key of `account` for a BIP-39 mnemonic and passphrase.

    BIP-39 seed, then SLIP-0010 ed25519 along m/44'/8888'/account'/0'/0'. Raises MnemonicError
    for an invalid mnemonic and ValueError for an account outside 0..2^31-1.
    """
    path = derivation_path(account)
    key, _ = slip10_ed25519_derive(mnemonic_to_seed(words, passphrase), path)
    return PrivateKey.from_seed(key)
