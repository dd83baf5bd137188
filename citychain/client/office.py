"""A registrar office's own register, encrypted at rest, in the office's own folder
(docs/modules/registry.md §8, "The office's register").

The ledger holds only a salted commitment to each record; the content (names, dates, parents)
and the salt that opens the commitment are the office's, and live here, never in a node's home:
whoever operates a node must not hold the citizens' data. The folder is the office's choice
(``citychain registry ... --office DIR``, ``$CITYCHAIN_OFFICE_DIR``, default
``~/.citychain-office``) and may not be inside a node's home.

Layout (folder mode 0700, files 0600)::

    DIR/office.json           {"format", "kdf": {"name": "argon2id", "opslimit", "memlimit",
                               "salt"}, "cipher": "xchacha20poly1305-ietf", "check"}
    DIR/records/<id>.rec      nonce (24 bytes) || XChaCha20-Poly1305(JSON entry)

The key is Argon2id(passphrase NFKD UTF-8, salt, opslimit, memlimit) (libsodium crypto_pwhash);
each record is sealed with libsodium's XChaCha20-Poly1305 AEAD under a fresh random nonce, its
record id bound in the associated data, so a file changed, truncated or renamed to another
record's id fails to open (``OfficeTampered``). ``check`` seals a fixed text, so a wrong
passphrase is told at once, before anything is submitted to the ledger.
"""

from __future__ import annotations

import json
import stat
import unicodedata
from pathlib import Path
from typing import Any

import nacl.exceptions
import nacl.utils
from nacl.bindings import (
    crypto_aead_xchacha20poly1305_ietf_decrypt,
    crypto_aead_xchacha20poly1305_ietf_encrypt,
    crypto_aead_xchacha20poly1305_ietf_KEYBYTES,
    crypto_aead_xchacha20poly1305_ietf_NPUBBYTES,
)
from nacl.pwhash import argon2id

from citychain.client.errors import ClientError
from citychain.crypto.private_files import write_new_private
from citychain.home import Home

__all__ = [
    "DEFAULT_OFFICE_DIR",
    "OFFICE_DIR_ENV",
    "OFFICE_PASSPHRASE_ENV",
    "OfficeError",
    "OfficeRegister",
    "OfficeTampered",
    "enclosing_node_home",
    "is_office",
]

FORMAT = "citychain/registry-office/v1"
CIPHER = "xchacha20poly1305-ietf"
HEADER_FILE = "office.json"
RECORDS_DIR = "records"
RECORD_SUFFIX = ".rec"
OFFICE_DIR_ENV = "CITYCHAIN_OFFICE_DIR"
OFFICE_PASSPHRASE_ENV = "CITYCHAIN_OFFICE_PASSPHRASE"
DEFAULT_OFFICE_DIR = Path("~/.citychain-office")
"""Where the office keeps its register unless told otherwise: the user's own folder, apart
from any node home."""

FOLDER_MODE = 0o700
PRIVATE_BITS = stat.S_IRWXG | stat.S_IRWXO
SALT_SIZE = argon2id.SALTBYTES
KEY_SIZE = crypto_aead_xchacha20poly1305_ietf_KEYBYTES
NONCE_SIZE = crypto_aead_xchacha20poly1305_ietf_NPUBBYTES
RECORD_ID_SIZE = 32
MAX_RECORD_BYTES = 1 << 20
"""A sealed entry is under 2 KiB; a bigger file is not one and is not read."""
CHECK_TEXT = b"citychain registry office"

DEFAULT_OPSLIMIT: int = argon2id.OPSLIMIT_INTERACTIVE
"""Argon2id passes for a new office (as the keystore's). Read at call time: tests lower it."""
DEFAULT_MEMLIMIT: int = argon2id.MEMLIMIT_INTERACTIVE
MIN_OPSLIMIT, MAX_OPSLIMIT = argon2id.OPSLIMIT_MIN, argon2id.OPSLIMIT_SENSITIVE
MIN_MEMLIMIT, MAX_MEMLIMIT = argon2id.MEMLIMIT_MIN, argon2id.MEMLIMIT_SENSITIVE


class OfficeError(ClientError):
    """The office's register cannot be used: where it is, its passphrase, its files."""


class OfficeTampered(OfficeError):
    """A register file does not open under the office's key: changed, swapped or foreign."""


def enclosing_node_home(path: Path) -> Path | None:
    """The node home that ``path`` is, or is inside of; None when there is none."""
    resolved = path.expanduser().resolve()
    for candidate in (resolved, *resolved.parents):
        if Home(candidate).exists():
            return candidate
    return None


def is_office(path: Path) -> bool:
    """Whether ``path`` holds an office register (opening it needs its passphrase)."""
    return (path.expanduser() / HEADER_FILE).is_file()


def _derive_key(passphrase: str, salt: bytes, opslimit: int, memlimit: int) -> bytes:
    if not isinstance(passphrase, str) or not passphrase:
        raise OfficeError("the office passphrase is empty")
    secret = unicodedata.normalize("NFKD", passphrase).encode("utf-8")
    return bytes(argon2id.kdf(KEY_SIZE, secret, salt, opslimit=opslimit, memlimit=memlimit))


def _associated(label: bytes) -> bytes:
    return FORMAT.encode() + b"\x00" + label


def _seal(key: bytes, label: bytes, plain: bytes) -> bytes:
    nonce = nacl.utils.random(NONCE_SIZE)
    return nonce + crypto_aead_xchacha20poly1305_ietf_encrypt(plain, _associated(label), nonce, key)


def _open(key: bytes, label: bytes, sealed: bytes) -> bytes | None:
    nonce, body = sealed[:NONCE_SIZE], sealed[NONCE_SIZE:]
    try:
        return bytes(
            crypto_aead_xchacha20poly1305_ietf_decrypt(body, _associated(label), nonce, key)
        )
    except (nacl.exceptions.CryptoError, ValueError, TypeError):
        return None


def _check_private(path: Path) -> None:
    mode = path.stat().st_mode
    if mode & PRIVATE_BITS:
        raise OfficeError(
            f"{path} is open to other users (mode {stat.S_IMODE(mode):o}); the office register "
            f"must be private: chmod {'700' if path.is_dir() else '600'} {path}"
        )


class OfficeRegister:
    """The register in folder ``path``, opened with its key. Build one with ``open``."""

    __slots__ = ("_key", "path")

    def __init__(self, path: Path, key: bytes) -> None:
        self.path = path
        self._key = key

    def __repr__(self) -> str:
        return f"OfficeRegister({str(self.path)!r})"

    # --- opening ------------------------------------------------------------------------------
    @classmethod
    def open(cls, path: Path, passphrase: str, *, create: bool = True) -> OfficeRegister:
        """Open the office register in ``path``, creating it (with this passphrase) when the
        folder is absent or empty and ``create``. Refuses a folder inside a node's home, one
        open to other users, and a wrong passphrase (OfficeError)."""
        path = path.expanduser().absolute()
        home = enclosing_node_home(path)
        if home is not None:
            raise OfficeError(
                f"{path} is inside the node home {home}: keep the office register apart from "
                "the node's data (give --office another folder)"
            )
        header = path / HEADER_FILE
        if not header.exists():
            if not create:
                raise OfficeError(f"{path} holds no office register ({HEADER_FILE} is missing)")
            return cls._create(path, passphrase)
        _check_private(path)
        _check_private(header)
        return cls(path, cls._key_from_header(header, passphrase))

    @classmethod
    def _create(cls, path: Path, passphrase: str) -> OfficeRegister:
        if path.exists() and (not path.is_dir() or any(path.iterdir())):
            raise OfficeError(f"{path} is not empty and holds no office register; choose another")
        path.mkdir(mode=FOLDER_MODE, parents=True, exist_ok=True)
        path.chmod(FOLDER_MODE)
        salt = nacl.utils.random(SALT_SIZE)
        opslimit, memlimit = DEFAULT_OPSLIMIT, DEFAULT_MEMLIMIT
        key = _derive_key(passphrase, salt, opslimit, memlimit)
        doc = {
            "format": FORMAT,
            "kdf": {
                "name": "argon2id",
                "opslimit": opslimit,
                "memlimit": memlimit,
                "salt": salt.hex(),
            },
            "cipher": CIPHER,
            "check": _seal(key, b"check", CHECK_TEXT).hex(),
        }
        (path / RECORDS_DIR).mkdir(mode=FOLDER_MODE)
        write_new_private(path / HEADER_FILE, (json.dumps(doc, indent=2) + "\n").encode())
        return cls(path, key)

    @staticmethod
    def _key_from_header(header: Path, passphrase: str) -> bytes:
        try:
            doc = json.loads(header.read_text(encoding="utf-8"))
            kdf = doc["kdf"]
            salt, opslimit, memlimit = bytes.fromhex(kdf["salt"]), kdf["opslimit"], kdf["memlimit"]
            check = bytes.fromhex(doc["check"])
            valid = (
                doc["format"] == FORMAT
                and doc["cipher"] == CIPHER
                and kdf["name"] == "argon2id"
                and len(salt) == SALT_SIZE
                and type(opslimit) is int
                and MIN_OPSLIMIT <= opslimit <= MAX_OPSLIMIT
                and type(memlimit) is int
                and MIN_MEMLIMIT <= memlimit <= MAX_MEMLIMIT
            )
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise OfficeError(f"{header} is not an office register header: {exc}") from None
        if not valid:
            raise OfficeError(f"{header} is not a {FORMAT} header within its KDF bounds")
        key = _derive_key(passphrase, salt, opslimit, memlimit)
        if _open(key, b"check", check) != CHECK_TEXT:
            raise OfficeError(f"wrong passphrase for the office register in {header.parent}")
        return key

    # --- records ------------------------------------------------------------------------------
    def _file(self, record_id: bytes) -> Path:
        if len(record_id) != RECORD_ID_SIZE:
            raise OfficeError(f"a record id is {RECORD_ID_SIZE} bytes")
        return self.path / RECORDS_DIR / f"{record_id.hex()}{RECORD_SUFFIX}"

    def keep(self, record_id: bytes, entry: dict[str, Any]) -> Path:
        """Seal ``entry`` (JSON) as the record ``record_id``'s; a record is written once."""
        path = self._file(record_id)
        plain = json.dumps(entry, sort_keys=True, ensure_ascii=False).encode("utf-8")
        try:
            write_new_private(path, _seal(self._key, record_id, plain))
        except FileExistsError:
            raise OfficeError(f"the register already holds record {record_id.hex()}") from None
        return path

    def read(self, record_id: bytes) -> dict[str, Any]:
        """The entry of ``record_id``; OfficeTampered when its file does not open."""
        path = self._file(record_id)
        try:
            with path.open("rb") as source:
                sealed = source.read(MAX_RECORD_BYTES + 1)
        except FileNotFoundError:
            raise OfficeError(f"the register holds no record {record_id.hex()}") from None
        plain = _open(self._key, record_id, sealed) if len(sealed) <= MAX_RECORD_BYTES else None
        if plain is None:
            raise OfficeTampered(
                f"{path} does not open under this office's key: it was changed, or is another "
                "record's or another office's"
            )
        entry: dict[str, Any] = json.loads(plain)
        return entry

    def record_ids(self) -> list[bytes]:
        """The ids of the records the register holds, in order."""
        ids = []
        for path in sorted((self.path / RECORDS_DIR).glob(f"*{RECORD_SUFFIX}")):
            try:
                ids.append(bytes.fromhex(path.name[: -len(RECORD_SUFFIX)]))
            except ValueError:
                continue
        return ids
