"""Keys, signatures, addresses, mnemonics and the encrypted keystore (docs/keys.md).

- keys: Ed25519 `PrivateKey` and `verify` (RFC 8032, libsodium rules).
- bech32: BIP-173 bech32 strings.
- address: `city1...` addresses, sha256(public key)[:20].
- mnemonic: BIP-39 phrases and SLIP-0010 ed25519 derivation, m/44'/8888'/account'/0'/0'.
- keystore: password-encrypted key files (Argon2id + XSalsa20-Poly1305).
- errors: the exception hierarchy, rooted at `CryptoError`.
"""

from citychain.crypto.address import (
    ADDRESS_PREFIX,
    ADDRESS_SIZE,
    address_bytes_from_public_key,
    address_from_bytes,
    address_from_public_key,
    address_to_bytes,
    is_address,
)
from citychain.crypto.bech32 import bech32_decode, bech32_encode
from citychain.crypto.errors import (
    AddressError,
    CryptoError,
    InvalidKeyNameError,
    KeyExistsError,
    KeyNotFoundError,
    KeystoreError,
    MnemonicError,
    WrongPasswordError,
)
from citychain.crypto.keys import PUBLIC_KEY_SIZE, SEED_SIZE, SIGNATURE_SIZE, PrivateKey, verify
from citychain.crypto.keystore import KeyInfo, Keystore
from citychain.crypto.mnemonic import (
    generate_mnemonic,
    private_key_from_mnemonic,
    validate_mnemonic,
)

__all__ = [
    "ADDRESS_PREFIX",
    "ADDRESS_SIZE",
    "PUBLIC_KEY_SIZE",
    "SEED_SIZE",
    "SIGNATURE_SIZE",
    "AddressError",
    "CryptoError",
    "InvalidKeyNameError",
    "KeyExistsError",
    "KeyInfo",
    "KeyNotFoundError",
    "Keystore",
    "KeystoreError",
    "MnemonicError",
    "PrivateKey",
    "WrongPasswordError",
    "address_bytes_from_public_key",
    "address_from_bytes",
    "address_from_public_key",
    "address_to_bytes",
    "bech32_decode",
    "bech32_encode",
    "generate_mnemonic",
    "is_address",
    "private_key_from_mnemonic",
    "validate_mnemonic",
    "verify",
]
