"""Keystore: round trips, file format, and refusal of wrong passwords and modified files."""

from __future__ import annotations

import itertools
import json
import os
import stat
import unicodedata
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from nacl.pwhash import argon2id

import citychain.crypto.keystore as keystore_module
from citychain.crypto.address import address_from_public_key
from citychain.crypto.errors import (
    InvalidKeyNameError,
    KeyExistsError,
    KeyNotFoundError,
    KeystoreError,
    WrongPasswordError,
)
from citychain.crypto.keys import PrivateKey
from citychain.crypto.keystore import KeyInfo, Keystore
from citychain.crypto.mnemonic import private_key_from_mnemonic

ALICE_KEY = PrivateKey.from_seed(bytes(range(32)))
BOB_KEY = PrivateKey.from_seed(bytes(range(1, 33)))
WORDS = "legal winner thank year wave sausage worth useful legal winner thank yellow"


@pytest.fixture
def store(tmp_path: Path) -> Keystore:
    return Keystore(
        tmp_path / "keys", opslimit=argon2id.OPSLIMIT_MIN, memlimit=argon2id.MEMLIMIT_MIN
    )


def _document(store: Keystore, name: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((store.path / f"{name}.json").read_text())
    return document


def _rewrite(store: Keystore, name: str, document: object) -> None:
    (store.path / f"{name}.json").write_text(json.dumps(document))


def test_add_show_load_round_trip(store: Keystore) -> None:
    info = store.add("alice", "correct horse", ALICE_KEY)
    expected = KeyInfo("alice", address_from_public_key(ALICE_KEY.public_key), ALICE_KEY.public_key)
    assert info == expected and info.mnemonic is None
    assert store.show("alice") == expected
    assert store.show("alice").public_key_hex == ALICE_KEY.public_key.hex()
    assert store.load("alice", "correct horse") == ALICE_KEY


def test_add_without_key_returns_the_mnemonic_once(store: Keystore) -> None:
    info = store.add("fresh", "pw")
    assert info.mnemonic is not None and len(info.mnemonic.split()) == 24
    derived = private_key_from_mnemonic(info.mnemonic)
    assert info.public_key == derived.public_key
    assert store.load("fresh", "pw") == derived
    assert store.show("fresh").mnemonic is None
    assert info.mnemonic not in repr(info)
    content = (store.path / "fresh.json").read_text()
    # Single words can occur by chance (a field name, or "face" inside hex); no two adjacent
    # words of the phrase can.
    words = info.mnemonic.split()
    assert all(f"{a} {b}" not in content for a, b in itertools.pairwise(words))


def test_import_mnemonic(store: Keystore) -> None:
    info = store.import_mnemonic("imported", "pw", WORDS)
    assert info.public_key == private_key_from_mnemonic(WORDS).public_key
    assert store.load("imported", "pw") == private_key_from_mnemonic(WORDS)
    other = store.import_mnemonic("account2", "pw", WORDS, passphrase="x", account=2)
    assert store.load("account2", "pw") == private_key_from_mnemonic(WORDS, "x", 2)
    assert other.public_key != info.public_key


def test_list_is_sorted_and_ignores_foreign_files(store: Keystore) -> None:
    assert store.list() == []  # the directory does not exist yet
    for name in ["carol", "Alice", "bob"]:
        store.add(name, "pw", PrivateKey.generate())
    (store.path / ".bob.abc123.tmp").write_text("half-written")
    (store.path / "notes.txt").write_text("not a key")
    (store.path / "bad name.json").write_text("{}")
    assert [info.name for info in store.list()] == ["Alice", "bob", "carol"]


def test_file_format_and_permissions(store: Keystore) -> None:
    store.add("alice", "pw", ALICE_KEY)
    path = store.path / "alice.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(store.path.stat().st_mode) == 0o700
    assert sorted(os.listdir(store.path)) == ["alice.json"]  # no temporary file left
    document = _document(store, "alice")
    assert document["version"] == 1
    assert document["name"] == "alice"
    assert document["address"] == address_from_public_key(ALICE_KEY.public_key)
    assert document["public_key"] == ALICE_KEY.public_key.hex()
    assert document["kdf"]["name"] == "argon2id"
    assert document["kdf"]["opslimit"] == argon2id.OPSLIMIT_MIN
    assert document["kdf"]["memlimit"] == argon2id.MEMLIMIT_MIN
    assert len(bytes.fromhex(document["kdf"]["salt"])) == 16
    assert document["cipher"]["name"] == "xsalsa20poly1305"
    assert len(bytes.fromhex(document["cipher"]["nonce"])) == 24
    assert len(bytes.fromhex(document["ciphertext"])) == 48
    assert ALICE_KEY.seed.hex() not in path.read_text()
    assert set(document) == {
        "version", "name", "address", "public_key", "kdf", "cipher", "ciphertext"
    }  # fmt: skip


def test_each_write_uses_fresh_salt_and_nonce(store: Keystore) -> None:
    store.add("one", "pw", ALICE_KEY)
    store.add("two", "pw", ALICE_KEY)
    one, two = _document(store, "one"), _document(store, "two")
    assert one["kdf"]["salt"] != two["kdf"]["salt"]
    assert one["cipher"]["nonce"] != two["cipher"]["nonce"]
    assert one["ciphertext"] != two["ciphertext"]


def test_default_cost_is_interactive(tmp_path: Path) -> None:
    store = Keystore(tmp_path)
    store.add("alice", "pw", ALICE_KEY)
    kdf = _document(store, "alice")["kdf"]
    assert (kdf["opslimit"], kdf["memlimit"]) == (
        argon2id.OPSLIMIT_INTERACTIVE,
        argon2id.MEMLIMIT_INTERACTIVE,
    )
    assert store.load("alice", "pw") == ALICE_KEY


def test_module_level_cost_override(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(keystore_module, "DEFAULT_OPSLIMIT", argon2id.OPSLIMIT_MIN)
    monkeypatch.setattr(keystore_module, "DEFAULT_MEMLIMIT", argon2id.MEMLIMIT_MIN)
    store = Keystore(tmp_path)
    store.add("alice", "pw", ALICE_KEY)
    kdf = _document(store, "alice")["kdf"]
    assert (kdf["opslimit"], kdf["memlimit"]) == (argon2id.OPSLIMIT_MIN, argon2id.MEMLIMIT_MIN)


@pytest.mark.parametrize(
    ("opslimit", "memlimit"),
    [(0, argon2id.MEMLIMIT_MIN), (5, argon2id.MEMLIMIT_MIN), (1, 1024), (1, 2**31)],
)
def test_cost_outside_bounds_is_refused(tmp_path: Path, opslimit: int, memlimit: int) -> None:
    with pytest.raises(KeystoreError, match="limit must be"):
        Keystore(tmp_path, opslimit=opslimit, memlimit=memlimit)


def test_wrong_password(store: Keystore) -> None:
    store.add("alice", "right", ALICE_KEY)
    with pytest.raises(WrongPasswordError, match="wrong password for key 'alice'"):
        store.load("alice", "wrong")
    with pytest.raises(WrongPasswordError):
        store.load("alice", "")


def test_password_is_unicode_normalised(store: Keystore) -> None:
    composed = "caf\u00e9"
    store.add("alice", composed, ALICE_KEY)
    assert store.load("alice", unicodedata.normalize("NFD", composed)) == ALICE_KEY


def test_existing_name_is_refused_and_kept(store: Keystore) -> None:
    store.add("alice", "first", ALICE_KEY)
    with pytest.raises(KeyExistsError, match="'alice' already exists"):
        store.add("alice", "second", BOB_KEY)
    with pytest.raises(KeyExistsError):
        store.import_mnemonic("alice", "second", WORDS)
    assert store.load("alice", "first") == ALICE_KEY


def test_racing_writer_cannot_overwrite(store: Keystore, monkeypatch: pytest.MonkeyPatch) -> None:
    """The early existence check can be raced; the final link(2) must still refuse."""
    store.add("alice", "first", ALICE_KEY)
    monkeypatch.setattr(Keystore, "_refuse_existing", lambda self, name: None)
    with pytest.raises(KeyExistsError):
        store.add("alice", "second", BOB_KEY)
    assert store.load("alice", "first") == ALICE_KEY
    assert sorted(os.listdir(store.path)) == ["alice.json"]


def test_missing_key(store: Keystore) -> None:
    for call in (
        lambda: store.show("ghost"),
        lambda: store.load("ghost", "pw"),
        lambda: store.delete("ghost"),
    ):
        with pytest.raises(KeyNotFoundError, match="no key named 'ghost'"):
            call()


def test_delete(store: Keystore) -> None:
    store.add("alice", "pw", ALICE_KEY)
    store.add("bob", "pw", BOB_KEY)
    store.delete("alice")
    assert [info.name for info in store.list()] == ["bob"]
    with pytest.raises(KeyNotFoundError):
        store.load("alice", "pw")
    store.add("alice", "new", BOB_KEY)  # the name is free again
    assert store.load("alice", "new") == BOB_KEY


@pytest.mark.parametrize(
    "name", ["", "a" * 65, "../evil", "a/b", "name\n", "n\u00e4me", " alice", "a b", "x.json/"]
)
def test_invalid_names_are_refused_everywhere(store: Keystore, tmp_path: Path, name: str) -> None:
    calls: list[Callable[[], object]] = [
        lambda: store.add(name, "pw", ALICE_KEY),
        lambda: store.import_mnemonic(name, "pw", WORDS),
        lambda: store.show(name),
        lambda: store.load(name, "pw"),
        lambda: store.delete(name),
    ]
    for call in calls:
        with pytest.raises(InvalidKeyNameError, match="invalid key name"):
            call()
    assert not (tmp_path / "evil.json").exists()


@pytest.mark.parametrize("name", ["a", "A" * 64, "alice.2024", "node-1_validator", "..."])
def test_valid_names(store: Keystore, name: str) -> None:
    store.add(name, "pw", ALICE_KEY)
    assert store.show(name).name == name
    assert [info.name for info in store.list()] == [name]


# Each entry changes one thing in a valid key file; load and show must raise KeystoreError
# naming the problem, never a lower-level exception.
Mutation = Callable[[dict[str, Any]], object]


def _set(path: str, value: object) -> Mutation:
    def mutate(document: dict[str, Any]) -> object:
        *parents, last = path.split(".")
        target = document
        for parent in parents:
            target = target[parent]
        target[last] = value
        return document

    return mutate


def _drop(path: str) -> Mutation:
    def mutate(document: dict[str, Any]) -> object:
        *parents, last = path.split(".")
        target = document
        for parent in parents:
            target = target[parent]
        del target[last]
        return document

    return mutate


OTHER_ADDRESS = address_from_public_key(BOB_KEY.public_key)
CORRUPTIONS: list[tuple[str, Mutation, str]] = [
    ("version 2", _set("version", 2), "version 2; this citychain reads version 1"),
    ("version as string", _set("version", "1"), "field version must be a JSON integer"),
    ("version missing", _drop("version"), "field version is missing"),
    ("other name", _set("name", "bob"), "is for a key named 'bob', not 'alice'"),
    ("address changed", _set("address", OTHER_ADDRESS), "is not the address of its public key"),
    ("public key not hex", _set("public_key", "zz" * 32), "public_key must be 32 bytes"),
    ("public key uppercase", _set("public_key", ALICE_KEY.public_key.hex().upper()), "lowercase"),
    ("public key short", _set("public_key", "00" * 31), "public_key must be 32 bytes"),
    ("kdf not object", _set("kdf", "argon2id"), "field kdf must be a JSON object"),
    ("kdf scrypt", _set("kdf.name", "scrypt"), "kdf.name must be 'argon2id'"),
    ("opslimit huge", _set("kdf.opslimit", 2**32 - 1), "opslimit must be 1..4"),
    ("opslimit bool", _set("kdf.opslimit", True), "kdf.opslimit must be a JSON integer"),
    ("memlimit 4 TiB", _set("kdf.memlimit", 2**42), "memlimit must be"),
    ("memlimit float", _set("kdf.memlimit", 8192.0), "kdf.memlimit must be a JSON integer"),
    ("salt short", _set("kdf.salt", "00" * 15), "kdf.salt must be 16 bytes"),
    ("salt missing", _drop("kdf.salt"), "kdf.salt is missing"),
    ("cipher aes", _set("cipher.name", "aes-256-gcm"), "cipher.name must be 'xsalsa20poly1305'"),
    ("nonce spaced hex", _set("cipher.nonce", "00 " * 23 + "00"), "cipher.nonce must be 24 bytes"),
    ("ciphertext short", _set("ciphertext", "00" * 47), "ciphertext must be 48 bytes"),
    ("ciphertext null", _set("ciphertext", None), "ciphertext must be a JSON string"),
    ("top level list", lambda document: [document], "is not a JSON object"),
]


@pytest.mark.parametrize(
    ("mutate", "message"),
    [(mutate, message) for _, mutate, message in CORRUPTIONS],
    ids=[label for label, _, _ in CORRUPTIONS],
)
def test_corrupt_fields_give_clear_keystore_errors(
    store: Keystore, mutate: Mutation, message: str
) -> None:
    store.add("alice", "pw", ALICE_KEY)
    _rewrite(store, "alice", mutate(_document(store, "alice")))
    for call in (lambda: store.show("alice"), lambda: store.load("alice", "pw")):
        with pytest.raises(KeystoreError, match=message) as raised:
            call()
        assert type(raised.value) is KeystoreError
        assert "alice.json" in str(raised.value)
    with pytest.raises(KeystoreError):
        store.list()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "not valid JSON"),
        (b"{", "not valid JSON"),
        (b"\xff\xfe\x00garbage", "not valid JSON"),
        (b"[" * 60000, "not valid JSON"),
        (b" " * (64 * 1024 + 1), "over 65536 bytes"),
    ],
    ids=["empty", "truncated", "binary", "deeply nested", "too large"],
)
def test_unreadable_files_give_clear_keystore_errors(
    store: Keystore, content: bytes, message: str
) -> None:
    store.add("alice", "pw", ALICE_KEY)
    (store.path / "alice.json").write_bytes(content)
    with pytest.raises(KeystoreError, match=message):
        store.load("alice", "pw")


def test_truncated_real_file(store: Keystore) -> None:
    store.add("alice", "pw", ALICE_KEY)
    path = store.path / "alice.json"
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(KeystoreError, match="not valid JSON"):
        store.show("alice")


def test_directory_in_place_of_a_file(store: Keystore) -> None:
    store.path.mkdir(parents=True)
    (store.path / "alice.json").mkdir()
    with pytest.raises(KeystoreError, match="cannot read key file"):
        store.show("alice")


@pytest.mark.parametrize("index", [0, 20, 47])
def test_modified_ciphertext_is_a_wrong_password(store: Keystore, index: int) -> None:
    store.add("alice", "pw", ALICE_KEY)
    document = _document(store, "alice")
    ciphertext = bytearray(bytes.fromhex(document["ciphertext"]))
    ciphertext[index] ^= 0x01
    document["ciphertext"] = ciphertext.hex()
    _rewrite(store, "alice", document)
    with pytest.raises(WrongPasswordError):
        store.load("alice", "pw")


def test_modified_salt_is_a_wrong_password(store: Keystore) -> None:
    store.add("alice", "pw", ALICE_KEY)
    _rewrite(store, "alice", _set("kdf.salt", "00" * 16)(_document(store, "alice")))
    with pytest.raises(WrongPasswordError):
        store.load("alice", "pw")


def test_swapped_public_key_is_detected_on_load(store: Keystore) -> None:
    """Public key and address are outside the Poly1305 tag: replacing both consistently
    passes show(), but load() must notice that the decrypted seed is another key."""
    store.add("alice", "pw", ALICE_KEY)
    document = _document(store, "alice")
    document["public_key"] = BOB_KEY.public_key.hex()
    document["address"] = OTHER_ADDRESS
    _rewrite(store, "alice", document)
    assert store.show("alice").address == OTHER_ADDRESS
    with pytest.raises(KeystoreError, match="does not match the recorded public key"):
        store.load("alice", "pw")


def test_corrupt_file_does_not_hide_the_others(store: Keystore) -> None:
    store.add("alice", "pw", ALICE_KEY)
    store.add("bob", "pw", BOB_KEY)
    (store.path / "alice.json").write_text("{")
    assert store.load("bob", "pw") == BOB_KEY
    with pytest.raises(KeystoreError, match=r"alice\.json"):
        store.list()
