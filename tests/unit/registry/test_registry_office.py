"""The registrar office's own register (citychain/client/office.py; issue 13, "Personal data in
the node's home"): each record sealed with XChaCha20-Poly1305 under an Argon2id key of the
office's passphrase, in the office's folder (0700, files 0600), never inside a node home; no
name or date in any file; a wrong passphrase, a changed byte, a file swapped for another
record's are each refused."""

from __future__ import annotations

import json
import stat
from pathlib import Path
from typing import Any

import pytest
from nacl.pwhash import argon2id

from citychain.client import office as office_module
from citychain.client.office import (
    HEADER_FILE,
    RECORDS_DIR,
    OfficeError,
    OfficeRegister,
    OfficeTampered,
    enclosing_node_home,
)
from citychain.home import Home

PASSPHRASE = "the office's long passphrase"
ADA, GRACE = bytes([1]) * 32, bytes([2]) * 32
ENTRY: dict[str, Any] = {
    "kind": "birth",
    "record_id": ADA.hex(),
    "salt": (b"\x09" * 32).hex(),
    "content": {
        "given_name": "Ada",
        "family_name": "Lovelace",
        "date_of_birth": "2026-11-20",
        "parent_1_name": "Annabella Milbanke",
    },
    "height": 7,
    "tx_hash": "ab" * 32,
    "amends": None,
}
PERSONAL = [b"Ada", b"Lovelace", b"2026-11-20", b"Annabella", b"Milbanke"]


@pytest.fixture(autouse=True)
def cheap_kdf(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(office_module, "DEFAULT_OPSLIMIT", argon2id.OPSLIMIT_MIN)
    monkeypatch.setattr(office_module, "DEFAULT_MEMLIMIT", argon2id.MEMLIMIT_MIN)


@pytest.fixture
def office(tmp_path: Path) -> OfficeRegister:
    register = OfficeRegister.open(tmp_path / "office", PASSPHRASE)
    register.keep(ADA, ENTRY)
    register.keep(GRACE, {**ENTRY, "record_id": GRACE.hex(), "content": {"given_name": "Grace"}})
    return register


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_an_entry_is_read_back_with_the_passphrase_and_nowhere_in_clear(
    office: OfficeRegister, tmp_path: Path
) -> None:
    again = OfficeRegister.open(tmp_path / "office", PASSPHRASE, create=False)
    assert again.read(ADA) == ENTRY
    assert again.record_ids() == [ADA, GRACE]
    files = [p for p in (tmp_path / "office").rglob("*") if p.is_file()]
    assert len(files) == 3  # the header and two records
    for path in files:
        data = path.read_bytes()
        assert not [p for p in PERSONAL if p in data], path
        assert b"Grace" not in data and ENTRY["salt"].encode() not in data
        assert _mode(path) == 0o600, path
    for folder in (tmp_path / "office", tmp_path / "office" / RECORDS_DIR):
        assert _mode(folder) == 0o700, folder
    header = json.loads((tmp_path / "office" / HEADER_FILE).read_text())
    assert header["kdf"]["name"] == "argon2id" and len(bytes.fromhex(header["kdf"]["salt"])) == 16


def test_a_wrong_passphrase_is_refused(office: OfficeRegister, tmp_path: Path) -> None:
    with pytest.raises(OfficeError, match="wrong passphrase"):
        OfficeRegister.open(tmp_path / "office", PASSPHRASE + "!")


def test_a_changed_byte_is_detected(office: OfficeRegister) -> None:
    path = office.path / RECORDS_DIR / f"{ADA.hex()}.rec"
    sealed = bytearray(path.read_bytes())
    for index in (0, 30, len(sealed) - 1):  # the nonce, the ciphertext, the tag
        changed = bytearray(sealed)
        changed[index] ^= 1
        path.write_bytes(bytes(changed))
        with pytest.raises(OfficeTampered):
            office.read(ADA)
    path.write_bytes(bytes(sealed[:-1]))
    with pytest.raises(OfficeTampered):
        office.read(ADA)


def test_a_record_swapped_for_another_is_detected(office: OfficeRegister) -> None:
    records = office.path / RECORDS_DIR
    (records / f"{ADA.hex()}.rec").write_bytes((records / f"{GRACE.hex()}.rec").read_bytes())
    with pytest.raises(OfficeTampered):
        office.read(ADA)


def test_another_offices_record_does_not_open(office: OfficeRegister, tmp_path: Path) -> None:
    other = OfficeRegister.open(tmp_path / "other", PASSPHRASE)  # same passphrase, other salt
    (other.path / RECORDS_DIR / f"{ADA.hex()}.rec").write_bytes(
        (office.path / RECORDS_DIR / f"{ADA.hex()}.rec").read_bytes()
    )
    with pytest.raises(OfficeTampered):
        other.read(ADA)


def test_a_record_is_written_once(office: OfficeRegister) -> None:
    with pytest.raises(OfficeError, match="already holds"):
        office.keep(ADA, ENTRY)


def _fake_home(path: Path) -> Path:
    home = Home(path)
    path.mkdir(parents=True)
    home.config_file.write_text("{}")
    home.genesis_file.write_text("{}")
    assert home.exists()
    return path


def test_a_folder_inside_a_node_home_is_refused(tmp_path: Path) -> None:
    home = _fake_home(tmp_path / "node")
    for inside in (home, home / "registry-office", home / "data" / "deep" / "office"):
        assert enclosing_node_home(inside) == home.resolve()
        with pytest.raises(OfficeError, match="inside the node home"):
            OfficeRegister.open(inside, PASSPHRASE)
    assert not (home / "registry-office").exists()
    assert enclosing_node_home(tmp_path / "office") is None


def test_a_register_open_to_others_or_a_foreign_folder_is_refused(
    office: OfficeRegister, tmp_path: Path
) -> None:
    office.path.chmod(0o755)
    with pytest.raises(OfficeError, match="open to other users"):
        OfficeRegister.open(office.path, PASSPHRASE)
    office.path.chmod(0o700)
    foreign = tmp_path / "photos"
    foreign.mkdir()
    (foreign / "cat.jpg").write_bytes(b"\xff\xd8")
    with pytest.raises(OfficeError, match="not empty"):
        OfficeRegister.open(foreign, PASSPHRASE)
    with pytest.raises(OfficeError, match="holds no office register"):
        OfficeRegister.open(tmp_path / "absent", PASSPHRASE, create=False)


def test_a_header_asking_for_unbounded_work_is_refused(
    office: OfficeRegister, tmp_path: Path
) -> None:
    header = office.path / HEADER_FILE
    doc = json.loads(header.read_text())
    doc["kdf"]["memlimit"] = 1 << 42
    header.write_text(json.dumps(doc))
    with pytest.raises(OfficeError, match="KDF bounds"):
        OfficeRegister.open(office.path, PASSPHRASE)
