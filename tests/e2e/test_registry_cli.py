"""The civil registry end to end through the ``citychain`` command (issue 4, must-show).

A real node process; the registrar key that ``citychain init`` creates. Birth registered →
certificate verified offline; amended → the old one superseded, the new one valid; revoked →
revoked; tampered credential, proof or header → each its own reason; a selective presentation
(also as a QR code read back with zbarimg) shows the verifier only what the holder chose; a
death freezes the named wallet with its money.

Commands run in this process through ``citychain.cli.main.main`` (cliutil.in_process), and as
real subprocesses where what a user's shell sees is the point: exit 1 for a file that is no
certificate and for an outsider's registration, exit 2 for a malformed record id.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cliutil import PASSWORD, PASSWORD_ENV, Run, cli, in_process, in_process_ok, node_process

from citychain.block import Header, sign_header
from citychain.client.office import OFFICE_DIR_ENV, OFFICE_PASSPHRASE_ENV
from citychain.codec import decode, encode
from citychain.credentials.qr import QR_PART_BYTES
from citychain.crypto.keys import PrivateKey

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
BIRTH = json.loads((EXAMPLES / "birth.json").read_text())
PERSONAL = [BIRTH[k] for k in ("given_name", "family_name", "date_of_birth", "parent_1_name")]


OFFICE_PASSPHRASE = "the registrar office's passphrase"


@dataclass
class Registry:
    home: Path
    work: Path

    @property
    def office(self) -> Path:
        """The office's register: its own folder, beside the node's home, not in it."""
        return self.work / "office"

    def office_env(self) -> dict[str, str | None]:
        return {OFFICE_DIR_ENV: str(self.office), OFFICE_PASSPHRASE_ENV: OFFICE_PASSPHRASE}

    def run(self, *args: str | Path, env: dict[str, str | None] | None = None) -> Run:
        return in_process(*args, "--home", self.home, env={**self.office_env(), **(env or {})})

    def process(self, *args: str | Path) -> Run:
        """A real ``citychain`` process, for the exit status a shell sees."""
        office = {k: v for k, v in self.office_env().items() if v is not None}
        return cli(*args, "--home", self.home, env={**os.environ, PASSWORD_ENV: PASSWORD, **office})

    def verify(self, certificate: Path, *trust: str | Path) -> Run:
        return in_process(
            "verify", "certificate", certificate, *(trust or ("--home", self.home)), "--json"
        )

    def issue_birth(self, name: str, data: Path = EXAMPLES / "birth.json") -> tuple[str, Path]:
        out = self.work / f"{name}.json"
        done = self.run("registry", "register-birth", "--data", data, "--from", "registrar",
                        "--out", out, "--json")  # fmt: skip
        assert done.returncode == 0, done.stderr
        return str(done.json()["record_id"]), out

    def present(self, certificate: Path, name: str, *claims: str) -> Path:
        out = self.work / f"{name}.json"
        done = self.run("registry", "present", certificate, "--disclose", *claims, "--out", out)
        assert done.returncode == 0, done.stderr
        return out


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    work = tmp_path_factory.mktemp("registry-cli")
    home = work / "home"
    init = in_process_ok("init", "--home", home, "--chain-id", "registry-e2e", "--json").json()
    assert "registrar" in init["addresses"]
    with node_process(home, work):
        yield Registry(home, work)


def _verdict(run: Run) -> dict[str, Any]:
    doc: dict[str, Any] = run.json()
    assert run.returncode == (0 if doc["valid"] else 1), run.stderr
    return doc


def _edit(source: Path, target: Path, change: Any) -> Path:
    doc = json.loads(source.read_text())
    change(doc)
    target.write_text(json.dumps(doc))
    return target


def _flip(text: str, at: int) -> str:
    """``text`` with the base64url character at ``at`` replaced by another one."""
    return text[:at] + ("A" if text[at] != "A" else "B") + text[at + 1 :]


def test_birth_amend_revoke_through_the_cli(registry: Registry) -> None:
    record, ada = registry.issue_birth("ada")
    first = _verdict(registry.verify(ada))
    assert (first["valid"], first["status"], first["kind"]) == (True, "valid", "birth")
    assert first["claims"]["family_name"] == BIRTH["family_name"]
    assert first["record_id"] == record

    corrected = registry.work / "corrected.json"
    corrected.write_text(json.dumps({**BIRTH, "family_name": "King"}))
    done = registry.run("registry", "amend", record, "--data", corrected, "--from", "registrar",
                        "--out", registry.work / "ada-v2.json", "--json")  # fmt: skip
    assert done.returncode == 0, done.stderr
    new_record = done.json()["record_id"]

    # The holder of the old certificate refreshes its proof before showing it: superseded.
    old = _verdict(registry.verify(registry.present(ada, "ada-old", "born_in_city")))
    assert (old["valid"], old["status"], old["check"]) == (False, "superseded", "superseded")
    assert old["superseded_by"] == new_record and new_record in old["reason"]
    # Offline, the certificate as issued still proves what was true at its height.
    assert _verdict(registry.verify(ada))["status"] == "valid"
    new = _verdict(registry.verify(registry.work / "ada-v2.json"))
    assert (new["valid"], new["status"], new["claims"]["family_name"]) == (True, "valid", "King")

    shown = registry.run("registry", "show", record, "--versions", "--json")
    versions = shown.json()["versions"]
    assert [v["status"] for v in versions] == ["superseded", "valid"]
    assert not any(p in shown.stdout for p in PERSONAL)

    done = registry.run("registry", "revoke", new_record, "--reason", "fraud",
                        "--from", "registrar")  # fmt: skip
    assert done.returncode == 0, done.stderr
    revoked = _verdict(registry.verify(registry.present(registry.work / "ada-v2.json",
                                                        "ada-revoked", "age_over_18")))  # fmt: skip
    assert (revoked["valid"], revoked["status"]) == (False, "revoked")
    assert revoked["revocation_reason"] == "fraud" and "fraud" in revoked["reason"]


def test_each_tampering_fails_with_its_own_reason(registry: Registry) -> None:
    _, ada = registry.issue_birth("tamper-base")
    work = registry.work
    jwt_end = json.loads(ada.read_text())["presentation"].index("~")

    def presentation(at: int) -> Any:
        return lambda d: d.update(presentation=_flip(d["presentation"], at))

    def disclosure(d: dict[str, Any]) -> None:
        """One letter of a disclosed value (the given name) changed, re-encoded properly."""
        jwt, first, *rest = d["presentation"].split("~")
        salt, name, value = json.loads(base64.urlsafe_b64decode(first + "=" * (-len(first) % 4)))
        changed = [salt, name, value[:-1] + chr(ord(value[-1]) + 1)]
        encoded = base64.urlsafe_b64encode(json.dumps(changed).encode()).rstrip(b"=").decode()
        d["presentation"] = "~".join([jwt, encoded, *rest])

    def record_value(d: dict[str, Any]) -> None:
        value = d["record_proof"]["value"]
        d["record_proof"]["value"] = value[:-2] + ("01" if value[-2:] != "01" else "02")

    stranger = PrivateKey.from_seed(bytes(range(32)))

    def stranger_header(d: dict[str, Any]) -> None:
        proof = d["record_proof"]
        header = decode(bytes.fromhex(proof["header"]), Header)
        forged = Header(**{**{f: getattr(header, f) for f in Header.__struct_fields__},
                           "proposer": stranger.public_key})  # fmt: skip
        proof["header"] = encode(forged).hex()
        proof["signature"] = sign_header(stranger, forged).hex()
        proof["validators"] = [{"name": "x", "public_key": stranger.public_key.hex(), "power": 1}]

    cases = {
        # one character of the signed payload / the signature / a disclosure
        "payload": (presentation(jwt_end // 2), "presentation", "bad_signature"),
        "signature": (presentation(jwt_end - 5), "presentation", "bad_signature"),
        "disclosure": (disclosure, "presentation", "disclosure_not_in_credential"),
        "proof": (record_value, "record_proof", "Merkle proof does not verify"),
        "header": (stranger_header, "record_proof", "not a trusted validator"),
    }
    for name, (change, check, words) in cases.items():
        verdict = _verdict(registry.verify(_edit(ada, work / f"bad-{name}.json", change)))
        assert not verdict["valid"], name
        assert verdict["check"] == check, (name, verdict)
        assert words in verdict["reason"], (name, verdict["reason"])

    # Another chain's genesis trusts other validators: the real header is not theirs.
    other = work / "other-chain"
    in_process_ok("init", "--home", other, "--chain-id", "another-city")
    verdict = _verdict(registry.verify(ada, "--genesis", other / "genesis.json"))
    assert verdict["check"] == "record_proof" and "not a trusted validator" in verdict["reason"]
    # Not a certificate at all: a clear error, exit 1, no traceback (cli() checks that), from a
    # real process.
    (work / "garbage.json").write_text("{not json")
    garbage = registry.process("verify", "certificate", work / "garbage.json")
    assert garbage.returncode == 1 and "neither a certificate JSON file" in garbage.stderr


def _disclosed_names(presentation: str) -> list[str]:
    names = []
    for part in presentation.split("~")[1:-1]:
        padded = part + "=" * (-len(part) % 4)
        names.append(json.loads(base64.urlsafe_b64decode(padded))[1])
    return names


def test_selective_presentation_shows_only_age_and_place(registry: Registry) -> None:
    _, ada = registry.issue_birth("selective")
    shown = registry.present(ada, "age-and-place", "born_in_city", "age_over_18")
    text = shown.read_text()
    received = json.loads(text)
    # What the verifier receives: the two disclosures, and nothing that spells personal data.
    assert sorted(_disclosed_names(received["presentation"])) == ["age_over_18", "born_in_city"]
    decoded = text + "".join(
        base64.urlsafe_b64decode(p + "=" * (-len(p) % 4)).decode("latin-1")
        for p in received["presentation"].replace("~", ".").split(".")
        if p
    )
    assert not [p for p in [*PERSONAL, BIRTH["parent_2_name"]] if p in decoded]
    verdict = _verdict(registry.verify(shown))
    assert verdict["valid"] and verdict["claims"] == {"born_in_city": True, "age_over_18": False}


@pytest.mark.skipif(shutil.which("zbarimg") is None, reason="zbarimg: run make system-deps")
def test_qr_code_verifies_offline(registry: Registry) -> None:
    _, ada = registry.issue_birth("qr")
    image, shown = registry.work / "qr.png", registry.work / "qr-shown.json"
    done = registry.run("registry", "present", ada, "--disclose", "born_in_city", "age_over_18",
                        "--out", shown, "--qr", image, "--json")  # fmt: skip
    assert done.returncode == 0, done.stderr
    images = done.json()["qr"]
    assert len(images) == -(-done.json()["qr_bytes"] // (QR_PART_BYTES - 14))
    verdict = _verdict(in_process("verify", "certificate", *reversed(images),
                                  "--home", registry.home, "--json"))  # fmt: skip
    assert verdict["valid"] and set(verdict["claims"]) == {"born_in_city", "age_over_18"}
    if len(images) > 1:  # one part short: refused, saying which
        short = registry.run("verify", "certificate", *images[1:])
        assert short.returncode == 1 and "missing QR code part(s) 1 of" in short.stderr


def test_death_freezes_the_named_wallet_and_keeps_its_money(registry: Registry) -> None:
    birth_record, _ = registry.issue_birth("babbage-birth")
    heir = registry.run("keys", "add", "babbage-wallet").stdout.strip()
    assert registry.run("tx", "bank", "mint", heir, "7500", "--from", "issuer").returncode == 0
    death = {**json.loads((EXAMPLES / "death.json").read_text()),
             "birth_record": birth_record, "wallets": ["babbage-wallet"]}  # fmt: skip
    data = registry.work / "death.json"
    data.write_text(json.dumps(death))
    done = registry.run("registry", "register-death", "--data", data, "--from", "registrar",
                        "--out", registry.work / "death-cert.json", "--json")  # fmt: skip
    assert done.returncode == 0, done.stderr
    verdict = _verdict(registry.verify(registry.work / "death-cert.json"))
    assert (verdict["valid"], verdict["kind"]) == (True, "death")
    assert verdict["claims"]["died_in_city"] is True

    record = registry.run("registry", "show", done.json()["record_id"], "--json").json()
    assert record["wallets"] == [heir] and record["linked_record"] == birth_record
    birth = registry.run("registry", "show", birth_record, "--json").json()
    assert birth["deceased_by"] == done.json()["record_id"]
    spent = registry.run("tx", "bank", "send", "registrar", "100", "--from", "babbage-wallet")
    assert spent.returncode == 1 and "frozen" in spent.stderr
    balance = registry.run("query", "bank", "balance", heir, "--json").json()
    assert int(balance["balance"]) == 7500


def test_registrar_commands_refuse_bad_input_and_outsiders(registry: Registry) -> None:
    work = registry.work
    record, ada = registry.issue_birth("refusals")
    height = int(registry.run("status", "--json").json()["height"])

    def usage(*args: str | Path) -> str:
        done = registry.run(*args)
        assert done.returncode == 2, (args, done.stderr)
        return done.stderr

    (work / "not-json.json").write_text("{")
    assert "is not JSON" in usage("registry", "register-birth", "--data", work / "not-json.json",
                                  "--from", "registrar", "--out", work / "x1.json")  # fmt: skip
    bad = work / "bad-date.json"
    bad.write_text(json.dumps({**BIRTH, "date_of_birth": "20-11-2026", "shoe_size": 44}))
    assert "unknown birth field(s) shoe_size" in usage(
        "registry", "register-birth", "--data", bad, "--from", "registrar", "--out", work / "x2"
    )
    bad.write_text(json.dumps({**BIRTH, "date_of_birth": "20-11-2026"}))
    assert "date_of_birth must be a date" in usage(
        "registry", "register-birth", "--data", bad, "--from", "registrar", "--out", work / "x3"
    )
    assert "exists" in usage("registry", "register-birth", "--data", EXAMPLES / "birth.json",
                             "--from", "registrar", "--out", ada)  # fmt: skip
    # From a real process too: exit 2, the message, no traceback.
    assert "record id must be 64 hex" in usage("registry", "show", "abc")
    shown = registry.process("registry", "show", "abc")
    assert shown.returncode == 2 and "record id must be 64 hex" in shown.stderr
    assert "invalid choice" in usage("registry", "revoke", record, "--reason", "boredom",
                                     "--from", "registrar")  # fmt: skip
    assert "unknown birth claim 'national_id'" in usage(
        "registry", "present", ada, "--disclose", "national_id", "--out", work / "x4.json"
    )
    # None of those reached the ledger.
    assert int(registry.run("status", "--json").json()["height"]) == height

    outsider = registry.process("registry", "register-birth", "--data", EXAMPLES / "birth.json",
                                "--from", "issuer", "--out", work / "x5.json")  # fmt: skip
    assert outsider.returncode == 1
    assert "needs role 'registrar'" in outsider.stderr
    assert not (work / "x5.json").exists()
    missing = registry.run("registry", "show", "ab" * 32)
    assert missing.returncode == 1 and "not found" in missing.stderr


def _files_holding(folder: Path, words: list[str]) -> list[str]:
    """Every file under ``folder`` whose bytes hold one of ``words`` (UTF-8), with the word."""
    found = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        data = path.read_bytes()
        found += [f"{path}: {w}" for w in words if w.encode() in data]
    return found


def test_the_office_register_is_encrypted_apart_from_the_node(registry: Registry) -> None:
    record, _ = registry.issue_birth("private")
    # The office reads its entry back with its passphrase: the content and the salt.
    entry = registry.run("registry", "office-record", record, "--json")
    assert entry.returncode == 0, entry.stderr
    assert entry.json()["content"]["family_name"] == BIRTH["family_name"]
    assert len(bytes.fromhex(entry.json()["salt"])) == 32

    # No name, date or parent in clear in any file of the office or of the node's home.
    personal = [*PERSONAL, BIRTH["parent_2_name"]]
    assert _files_holding(registry.office, personal) == []
    assert _files_holding(registry.home, personal) == []
    assert not (registry.home / "registry-office").exists()
    assert stat.S_IMODE(registry.office.stat().st_mode) == 0o700
    for path in (p for p in registry.office.rglob("*") if p.is_file()):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path

    # A wrong passphrase is refused before anything reaches the ledger.
    height = int(registry.run("status", "--json").json()["height"])
    wrong = registry.run("registry", "register-birth", "--data", EXAMPLES / "birth.json",
                         "--from", "registrar", "--out", registry.work / "never.json",
                         env={OFFICE_PASSPHRASE_ENV: "guess"})  # fmt: skip
    assert wrong.returncode == 1 and "wrong passphrase" in wrong.stderr
    # So is an office folder inside the node's home (exit 2), and none is made there.
    inside = registry.home / "registry-office"
    refused = registry.run("registry", "register-birth", "--data", EXAMPLES / "birth.json",
                           "--from", "registrar", "--out", registry.work / "never.json",
                           "--office", inside)  # fmt: skip
    assert refused.returncode == 2 and "inside the node home" in refused.stderr
    assert not inside.exists() and not (registry.work / "never.json").exists()
    assert int(registry.run("status", "--json").json()["height"]) == height

    # A changed byte in the entry's file is detected.
    sealed = registry.office / "records" / f"{record}.rec"
    data = bytearray(sealed.read_bytes())
    data[-3] ^= 1
    sealed.write_bytes(bytes(data))
    tampered = registry.run("registry", "office-record", record)
    assert tampered.returncode == 1 and "does not open" in tampered.stderr


def test_an_old_plain_register_is_imported_and_deleted(registry: Registry) -> None:
    legacy = registry.home / "registry-office"
    legacy.mkdir(mode=0o700)
    record = "cd" * 32
    old = {"kind": "birth", "record_id": record, "salt": "00" * 32,
           "content": {"given_name": "Charles", "family_name": "Babbage"},
           "height": 3, "tx_hash": "ef" * 32, "amends": None}  # fmt: skip
    (legacy / f"{record}.json").write_text(json.dumps(old))
    done = registry.run("registry", "office-import")
    assert done.returncode == 0, done.stderr
    assert "imported 1 of 1" in done.stdout and not legacy.exists()
    assert registry.run("registry", "office-record", record, "--json").json() == old
    assert _files_holding(registry.office, ["Babbage"]) == []
