"""A directory of password-encrypted Ed25519 keys, one JSON file per key name.

`<dir>/<name>.json`, mode 0600, version 1 (docs/keys.md, "Keystore file format"):

    {
      "version": 1,
      "name": "alice",
      "address": "city1...",
      "public_key": "<32 bytes, lowercase hex>",
      "kdf": {"name": "argon2id", "opslimit": 2, "memlimit": 67108864, "salt": "<16 bytes hex>"},
      "cipher": {"name": "xsalsa20poly1305", "nonce": "<24 bytes hex>"},
      "ciphertext": "<48 bytes hex: the 32-byte Ed25519 seed + 16-byte Poly1305 tag>"
    }

The secret-box key is Argon2id(password NFKD-normalised and UTF-8 encoded, salt, opslimit,
memlimit) from libsodium's `crypto_pwhash`; the cipher is libsodium's `crypto_secretbox`.
Name, address and public key are readable without the password. They are not covered by the
Poly1305 tag, so `load` checks that the decrypted seed yields the recorded public key, and
every read checks that the address is the public key's.
"""

from __future__ import annotations

import builtins
import hmac
import json
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import nacl.exceptions
import nacl.utils
from nacl.pwhash import argon2id
from nacl.secret import SecretBox

from citychain.crypto.address import address_from_public_key
from citychain.crypto.errors import (
    InvalidKeyNameError,
    KeyExistsError,
    KeyNotFoundError,
    KeystoreError,
    WrongPasswordError,
)
from citychain.crypto.keys import PUBLIC_KEY_SIZE, SEED_SIZE, PrivateKey
from citychain.crypto.mnemonic import generate_mnemonic, private_key_from_mnemonic
from citychain.crypto.private_files import fsync_directory, write_new_private

KEYSTORE_VERSION = 1
KDF_NAME = "argon2id"
CIPHER_NAME = "xsalsa20poly1305"

DEFAULT_OPSLIMIT: int = argon2id.OPSLIMIT_INTERACTIVE
"""Argon2id passes for new key files (libsodium INTERACTIVE: 2). Read at call time, so tests
may lower it (to argon2id.OPSLIMIT_MIN) for the whole module."""

DEFAULT_MEMLIMIT: int = argon2id.MEMLIMIT_INTERACTIVE
"""Argon2id memory for new key files, in bytes (libsodium INTERACTIVE: 64 MiB)."""

MIN_OPSLIMIT: int = argon2id.OPSLIMIT_MIN
MIN_MEMLIMIT: int = argon2id.MEMLIMIT_MIN
MAX_OPSLIMIT: int = argon2id.OPSLIMIT_SENSITIVE
"""Largest accepted opslimit (libsodium SENSITIVE: 4). A bound, so that a modified file cannot
make `load` run for hours."""
MAX_MEMLIMIT: int = argon2id.MEMLIMIT_SENSITIVE
"""Largest accepted memlimit (libsodium SENSITIVE: 1 GiB), so a file cannot ask for 4 TiB."""

MAX_FILE_SIZE = 64 * 1024
"""A version 1 key file is under 1 KiB; anything over 64 KiB is not one and is not parsed."""

_NAME_PATTERN = re.compile(r"[A-Za-z0-9_.-]{1,64}")
_HEX_PATTERN = re.compile(r"[0-9a-f]*")
_SUFFIX = ".json"

_T = TypeVar("_T")


@dataclass(frozen=True)
class KeyInfo:
    """What the keystore tells without a password: name, address and public key.

    `mnemonic` is set only in the result of `Keystore.add` when the keystore generated the key:
    it is the one chance to show the words to the user. It is never stored and never printed
    by `repr()`.
    """

    name: str
    address: str
    public_key: bytes
    mnemonic: str | None = field(default=None, repr=False, compare=False)

    @property
    def public_key_hex(self) -> str:
        """The public key as lowercase hex, as in the key file."""
        return self.public_key.hex()


@dataclass(frozen=True)
class _KeyFile:
    info: KeyInfo
    opslimit: int
    memlimit: int
    salt: bytes
    nonce: bytes
    ciphertext: bytes


def validate_key_name(name: str) -> None:
    """Raise InvalidKeyNameError unless `name` is 1 to 64 characters of A-Za-z0-9 _ . -"""
    if not isinstance(name, str) or not _NAME_PATTERN.fullmatch(name):
        shown = repr(name[:70]) if isinstance(name, str) else type(name).__name__
        raise InvalidKeyNameError(
            f"invalid key name {shown}: use 1 to 64 characters from A-Z a-z 0-9 _ . -"
        )


def _check_limits(opslimit: int, memlimit: int) -> None:
    if isinstance(opslimit, bool) or not MIN_OPSLIMIT <= opslimit <= MAX_OPSLIMIT:
        raise KeystoreError(f"opslimit must be {MIN_OPSLIMIT}..{MAX_OPSLIMIT}, got {opslimit}")
    if isinstance(memlimit, bool) or not MIN_MEMLIMIT <= memlimit <= MAX_MEMLIMIT:
        raise KeystoreError(f"memlimit must be {MIN_MEMLIMIT}..{MAX_MEMLIMIT}, got {memlimit}")


def _secret_box(password: str, salt: bytes, opslimit: int, memlimit: int) -> SecretBox:
    if not isinstance(password, str):
        raise TypeError(f"password must be str, got {type(password).__name__}")
    secret = unicodedata.normalize("NFKD", password).encode("utf-8")
    try:
        key = argon2id.kdf(SecretBox.KEY_SIZE, secret, salt, opslimit=opslimit, memlimit=memlimit)
    except nacl.exceptions.CryptoError as error:
        raise KeystoreError(f"argon2id key derivation failed: {error}") from None
    return SecretBox(key)


class Keystore:
    """Encrypted keys in the directory `path`, created (mode 0700) on the first `add`.

    opslimit and memlimit set the Argon2id cost of keys written by this instance; they default
    to the module's DEFAULT_OPSLIMIT and DEFAULT_MEMLIMIT at the time of each write. Reading
    uses the cost recorded in each file.
    """

    def __init__(
        self, path: Path | str, *, opslimit: int | None = None, memlimit: int | None = None
    ) -> None:
        if opslimit is not None or memlimit is not None:
            _check_limits(
                DEFAULT_OPSLIMIT if opslimit is None else opslimit,
                DEFAULT_MEMLIMIT if memlimit is None else memlimit,
            )
        self._path = Path(path)
        self._opslimit = opslimit
        self._memlimit = memlimit

    @property
    def path(self) -> Path:
        return self._path

    def add(self, name: str, password: str, private_key: PrivateKey | None = None) -> KeyInfo:
        """Encrypt and store a key under `name`; return its KeyInfo.

        With no `private_key`, generate a 24-word mnemonic, derive account 0 from it
        (citychain.crypto.mnemonic) and return the words in `KeyInfo.mnemonic`: they are not
        stored, so this is the caller's only chance to show them. Raises InvalidKeyNameError,
        or KeyExistsError if the name is taken.
        """
        validate_key_name(name)
        self._refuse_existing(name)
        if private_key is not None:
            return self._store(name, password, private_key)
        words = generate_mnemonic()
        info = self._store(name, password, private_key_from_mnemonic(words))
        return KeyInfo(info.name, info.address, info.public_key, mnemonic=words)

    def import_mnemonic(
        self, name: str, password: str, words: str, *, passphrase: str = "", account: int = 0
    ) -> KeyInfo:
        """Store the key that `private_key_from_mnemonic(words, passphrase, account)` derives.

        Raises MnemonicError for invalid words, InvalidKeyNameError or KeyExistsError.
        """
        validate_key_name(name)
        self._refuse_existing(name)
        return self._store(name, password, private_key_from_mnemonic(words, passphrase, account))

    def list(self) -> builtins.list[KeyInfo]:
        """Return every key's KeyInfo, sorted by name (code point order).

        Files whose names are not `<valid key name>.json` (such as an interrupted write's
        temporary file) are ignored; a corrupt key file raises KeystoreError naming it.
        """
        if not self._path.is_dir():
            return []
        names = []
        for entry in self._path.iterdir():
            name = entry.name.removesuffix(_SUFFIX)
            if entry.name.endswith(_SUFFIX) and _NAME_PATTERN.fullmatch(name):
                names.append(name)
        return [self.show(name) for name in sorted(names)]

    def show(self, name: str) -> KeyInfo:
        """Return the name, address and public key of `name`; no password needed.

        Raises KeyNotFoundError, or KeystoreError if the file is corrupt or was modified.
        """
        return self._read(name).info

    def load(self, name: str, password: str) -> PrivateKey:
        """Decrypt and return the private key stored as `name`.

        Raises KeyNotFoundError, WrongPasswordError (the password is wrong, or the ciphertext,
        salt, nonce or cost was modified: the two cannot be told apart), or KeystoreError if
        the file is corrupt or its public key is not the decrypted key's.
        """
        key_file = self._read(name)
        box = _secret_box(password, key_file.salt, key_file.opslimit, key_file.memlimit)
        try:
            seed = box.decrypt(key_file.ciphertext, key_file.nonce)
        except nacl.exceptions.CryptoError:
            raise WrongPasswordError(
                f"wrong password for key {name!r} (or its encrypted part was modified)"
            ) from None
        private_key = PrivateKey.from_seed(seed)
        if not hmac.compare_digest(private_key.public_key, key_file.info.public_key):
            raise KeystoreError(
                f"key file {self._file(name)}: the decrypted key does not match the recorded "
                "public key; the file was modified"
            )
        return private_key

    def delete(self, name: str) -> None:
        """Remove the key `name`; raises KeyNotFoundError if there is none."""
        validate_key_name(name)
        try:
            self._file(name).unlink()
        except FileNotFoundError:
            raise KeyNotFoundError(f"no key named {name!r} in {self._path}") from None
        fsync_directory(self._path)

    def _file(self, name: str) -> Path:
        return self._path / (name + _SUFFIX)

    def _refuse_existing(self, name: str) -> None:
        if self._file(name).exists():
            raise KeyExistsError(f"a key named {name!r} already exists in {self._path}")

    def _store(self, name: str, password: str, private_key: PrivateKey) -> KeyInfo:
        opslimit = DEFAULT_OPSLIMIT if self._opslimit is None else self._opslimit
        memlimit = DEFAULT_MEMLIMIT if self._memlimit is None else self._memlimit
        _check_limits(opslimit, memlimit)
        salt = nacl.utils.random(argon2id.SALTBYTES)
        nonce = nacl.utils.random(SecretBox.NONCE_SIZE)
        box = _secret_box(password, salt, opslimit, memlimit)
        ciphertext = box.encrypt(private_key.seed, nonce).ciphertext
        info = KeyInfo(
            name, address_from_public_key(private_key.public_key), private_key.public_key
        )
        document = {
            "version": KEYSTORE_VERSION,
            "name": name,
            "address": info.address,
            "public_key": info.public_key.hex(),
            "kdf": {
                "name": KDF_NAME,
                "opslimit": opslimit,
                "memlimit": memlimit,
                "salt": salt.hex(),
            },
            "cipher": {"name": CIPHER_NAME, "nonce": nonce.hex()},
            "ciphertext": ciphertext.hex(),
        }
        self._write_new(name, (json.dumps(document, indent=2) + "\n").encode("utf-8"))
        return info

    def _write_new(self, name: str, content: bytes) -> None:
        """Write `<name>.json` atomically, mode 0600, never replacing an existing file
        (crypto/private_files.py)."""
        self._path.mkdir(mode=0o700, parents=True, exist_ok=True)
        try:
            write_new_private(self._file(name), content)
        except FileExistsError:
            raise KeyExistsError(f"a key named {name!r} already exists in {self._path}") from None

    def _read(self, name: str) -> _KeyFile:
        validate_key_name(name)
        path = self._file(name)
        try:
            with path.open("rb") as stream:
                content = stream.read(MAX_FILE_SIZE + 1)
        except FileNotFoundError:
            raise KeyNotFoundError(f"no key named {name!r} in {self._path}") from None
        except OSError as error:
            raise KeystoreError(f"cannot read key file {path}: {error.strerror}") from None
        if len(content) > MAX_FILE_SIZE:
            raise KeystoreError(f"key file {path} is over {MAX_FILE_SIZE} bytes: not a key file")
        try:
            document = json.loads(content)
        except (ValueError, RecursionError) as error:
            raise KeystoreError(f"key file {path} is not valid JSON: {error}") from None
        return _parse_key_file(document, name, path)


def _parse_key_file(document: Any, name: str, path: Path) -> _KeyFile:
    """Check every field of a version 1 key file; KeystoreError naming the first bad one."""
    fields = _Fields(document, path, "")
    version = fields.get("version", int)
    if version != KEYSTORE_VERSION:
        raise KeystoreError(
            f"key file {path} has version {version}; this citychain reads version "
            f"{KEYSTORE_VERSION}"
        )
    if fields.get("name", str) != name:
        raise KeystoreError(
            f"key file {path} is for a key named {document['name']!r}, not {name!r}"
        )
    public_key = fields.hex("public_key", PUBLIC_KEY_SIZE)
    address = fields.get("address", str)
    if address != address_from_public_key(public_key):
        raise KeystoreError(
            f"key file {path}: address {address!r} is not the address of its public key; "
            "the file was modified"
        )
    kdf = _Fields(fields.get("kdf", dict), path, "kdf.")
    if kdf.get("name", str) != KDF_NAME:
        raise KeystoreError(f"key file {path}: kdf.name must be {KDF_NAME!r}")
    opslimit, memlimit = kdf.get("opslimit", int), kdf.get("memlimit", int)
    try:
        _check_limits(opslimit, memlimit)
    except KeystoreError as error:
        raise KeystoreError(f"key file {path}: kdf {error}") from None
    salt = kdf.hex("salt", argon2id.SALTBYTES)
    cipher = _Fields(fields.get("cipher", dict), path, "cipher.")
    if cipher.get("name", str) != CIPHER_NAME:
        raise KeystoreError(f"key file {path}: cipher.name must be {CIPHER_NAME!r}")
    nonce = cipher.hex("nonce", SecretBox.NONCE_SIZE)
    ciphertext = fields.hex("ciphertext", SEED_SIZE + SecretBox.MACBYTES)
    return _KeyFile(KeyInfo(name, address, public_key), opslimit, memlimit, salt, nonce, ciphertext)


class _Fields:
    """Typed access to one JSON object of a key file, with errors that name the field."""

    def __init__(self, document: object, path: Path, prefix: str) -> None:
        if not isinstance(document, dict):
            where = f"{prefix.rstrip('.')} " if prefix else ""
            raise KeystoreError(f"key file {path}: {where}is not a JSON object")
        self._document: dict[str, object] = document
        self._path = path
        self._prefix = prefix

    def get(self, key: str, kind: type[_T]) -> _T:
        if key not in self._document:
            raise KeystoreError(f"key file {self._path}: field {self._prefix}{key} is missing")
        value = self._document[key]
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise KeystoreError(
                f"key file {self._path}: field {self._prefix}{key} must be a JSON "
                f"{_JSON_TYPE_NAMES.get(kind, kind.__name__)}"
            )
        return value

    def hex(self, key: str, size: int) -> bytes:
        text = self.get(key, str)
        if len(text) != 2 * size or not _HEX_PATTERN.fullmatch(text):
            raise KeystoreError(
                f"key file {self._path}: field {self._prefix}{key} must be {size} bytes "
                "as lowercase hex"
            )
        return bytes.fromhex(text)


_JSON_TYPE_NAMES: dict[type, str] = {int: "integer", str: "string", dict: "object"}
