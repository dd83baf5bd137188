"""Exceptions raised by citychain.crypto.

One hierarchy, rooted at `CryptoError`. Parsing errors (`AddressError`, `MnemonicError`,
`InvalidKeyNameError`) are also `ValueError`s, so callers that validate user input can catch
either. Keystore errors never wrap a low-level exception without saying, in words, which file
and which field was at fault.

These errors are local (wallet and client side). They are not consensus data and carry no
code; a module that rejects a transaction for a bad address maps the failure to its own coded
error at the boundary.
"""


class CryptoError(Exception):
    """Base class of every error raised by citychain.crypto."""


class AddressError(CryptoError, ValueError):
    """A bech32 string or citychain address is malformed (BIP-173 rules, prefix, length)."""


class MnemonicError(CryptoError, ValueError):
    """A BIP-39 mnemonic is malformed: word count, unknown word, or checksum."""


class KeystoreError(CryptoError):
    """Base class of keystore errors; raised as-is for a corrupt or modified key file."""


class InvalidKeyNameError(KeystoreError, ValueError):
    """A key name is not 1 to 64 characters of A-Z, a-z, 0-9, '_', '.', '-'."""


class KeyExistsError(KeystoreError):
    """A key of that name is already in the keystore."""


class KeyNotFoundError(KeystoreError):
    """No key of that name is in the keystore."""


class WrongPasswordError(KeystoreError):
    """The password does not decrypt the key (or the ciphertext was modified)."""
