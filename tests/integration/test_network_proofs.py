"""A balance proof taken from any node of a real 4-validator network verifies offline against
the header signed by the validators of the genesis, and fails, each with its own reason, when a
signature, the validator set or the Merkle proof is altered.

It runs first on the session's shared network (tests/integration/conftest.py): the proofs must
come from a chain whose validator set never changed since the genesis."""

from __future__ import annotations

import base64
import copy
import io
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from netutil import PASSWORD, Network, requires_cometbft

from citychain.cli.main import main as cli
from citychain.client import verify_bundle
from citychain.client.office import OFFICE_DIR_ENV, OFFICE_PASSPHRASE_ENV
from citychain.crypto.keystore import Keystore
from citychain.genesis import Genesis
from citychain.home import Home

pytestmark = [
    pytest.mark.network,
    pytest.mark.slow,
    pytest.mark.xdist_group("network"),
    requires_cometbft,
]

BIRTH = {
    "given_name": "Margaret",
    "family_name": "Hamilton",
    "date_of_birth": "2003-08-17",
    "place_of_birth": "Citychain",
    "sex": "F",
    "parent_1_name": "Ruth Heafield",
}


def _flip_b64(text: str) -> str:
    raw = bytearray(base64.b64decode(text))
    raw[0] ^= 1
    return base64.b64encode(bytes(raw)).decode()


def _tampered(bundle: dict[str, Any]) -> dict[str, tuple[dict[str, Any], str]]:
    """name -> (altered bundle, a phrase its failure must contain)."""
    cases: dict[str, tuple[dict[str, Any], str]] = {}

    signature = copy.deepcopy(bundle)
    sigs = signature["signed_header"]["commit"]["signatures"]
    first = next(s for s in sigs if s["signature"])
    first["signature"] = _flip_b64(first["signature"])
    cases["signature"] = (signature, "signature")

    validators = copy.deepcopy(bundle)
    validators["validators"][0]["voting_power"] = str(
        int(validators["validators"][0]["voting_power"]) + 1
    )
    cases["validator set"] = (validators, "validators_hash")

    proof = copy.deepcopy(bundle)
    proof["value"] = (
        (int(bundle["value"], 16) + 1).to_bytes(len(bytes.fromhex(bundle["value"])), "big").hex()
    )
    cases["proven value"] = (proof, "Merkle proof")

    app_hash = copy.deepcopy(bundle)
    header = app_hash["signed_header"]["header"]
    header["app_hash"] = ("00" if header["app_hash"][:2] != "00" else "11") + header["app_hash"][2:]
    cases["app hash"] = (app_hash, "block_id")
    return cases


def _stated_tamperings(answer: dict[str, Any], net: Network) -> list[tuple[dict[str, Any], str]]:
    """The answer with one stated field changed, and a phrase of its refusal."""
    another = Keystore(net.node_dir(0) / "keys").show("registrar").address
    balance, claim_amount, address = (copy.deepcopy(answer) for _ in range(3))
    balance["balance"] += 1
    claim_amount["proof"]["claim"]["amount"] += 1
    address["address"] = another
    return [
        (balance, f"the answer says balance {answer['balance'] + 1}"),
        (claim_amount, f"claim says balance {answer['balance'] + 1}"),
        (address, "the answer says address"),
    ]


def _verify_stdin(
    monkeypatch: pytest.MonkeyPatch,
    document: dict[str, Any],
    net: Network,
    capsys: pytest.CaptureFixture[str],
    expect: int,
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(json.dumps(document)))
    code = cli(["verify", "proof", "-", "--home", str(net.node_dir(1))])
    if code != expect:
        pytest.fail(f"verify proof exited {code}, expected {expect}: {capsys.readouterr()}")


@pytest.mark.consortium("genesis-set")
def test_a_proof_from_any_node_verifies_offline_and_tampering_fails(
    consortium: Network,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CITYCHAIN_PASSWORD", PASSWORD)
    # The registrar office's register: its own folder, apart from every node's home.
    monkeypatch.setenv(OFFICE_DIR_ENV, str(tmp_path / "office"))
    monkeypatch.setenv(OFFICE_PASSPHRASE_ENV, "the office's passphrase")
    net = consortium
    genesis = Genesis.load(Home(net.node_dir(0)).genesis_file)
    trusted = [(v.public_key, v.power) for v in genesis.validators]
    first = ["--node-dir", str(net.node_dir(0))]
    assert cli(["tx", "bank", "mint", "issuer", "777", "--from", "issuer", *first]) == 0
    capsys.readouterr()
    issuer = Keystore(net.node_dir(0) / "keys").show("issuer").address
    bundles = []
    for node in net.everyone:
        out = tmp_path / f"proof{node}.json"
        where = ["--node-dir", str(net.node_dir(node))]
        code = cli(["query", "bank", "balance", issuer, "--prove", "--out", str(out), *where])
        printed = capsys.readouterr()
        assert code == 0, printed.err
        # What the command prints and what --out writes are one document.
        assert out.read_text() == printed.out
        bundles.append(json.loads(out.read_text())["proof"])
        # The CLI verifies it offline against the genesis of another member's home.
        other = str(net.node_dir((node + 1) % net.size))
        assert cli(["verify", "proof", str(out), "--home", other]) == 0, capsys.readouterr()
        assert "valid:" in capsys.readouterr().out
    # The printed answer, piped to `verify proof -`, is accepted too (it was refused as a
    # malformed bundle); with its balance, claim amount or address changed it is not.
    answer = json.loads(out.read_text())
    _verify_stdin(monkeypatch, answer, net, capsys, expect=0)
    assert f"holds {answer['balance']} ccy" in capsys.readouterr().out
    for change, phrase in _stated_tamperings(answer, net):
        _verify_stdin(monkeypatch, change, net, capsys, expect=1)
        assert phrase in capsys.readouterr().err

    for bundle in bundles:
        result = verify_bundle(bundle, trusted)
        assert result.valid, result.reason
        assert result.details["validators_from"] == "genesis"

    bundle = bundles[-1]
    for name, (altered, phrase) in _tampered(bundle).items():
        result = verify_bundle(altered, trusted)
        assert not result.valid, f"altered {name} still verifies"
        assert phrase in result.reason, f"{name}: {result.reason}"

    # A genesis with other validators (a forged chain's) is not trusted.
    strangers = [(bytes([i]) * 32, 10) for i in range(1, 5)]
    forged = verify_bundle(bundle, strangers)
    assert not forged.valid
    # And the CLI says why and exits 1 on a tampered file.
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(_tampered(bundle)["signature"][0]))
    assert cli(["verify", "proof", str(bad), "--home", str(net.node_dir(0))]) == 1
    assert "signature: precommit" in capsys.readouterr().err

    # A birth registered through one member's node is a certificate that verifies
    # offline against another member's genesis: the CometBFT proof of its record, with
    # the commit of >2/3 of the validators; also as a QR code when zbarimg is there.
    birth, certificate = tmp_path / "birth.json", tmp_path / "certificate.json"
    birth.write_text(json.dumps(BIRTH))
    assert cli(["registry", "register-birth", "--data", str(birth), "--from", "registrar",
                "--out", str(certificate), *first]) == 0, capsys.readouterr()  # fmt: skip
    capsys.readouterr()
    other = ["--home", str(net.node_dir(2))]
    assert cli(["verify", "certificate", str(certificate), "--json", *other]) == 0
    verdict = json.loads(capsys.readouterr().out)
    assert (verdict["status"], verdict["claims"]["family_name"]) == ("valid", "Hamilton")
    shown = tmp_path / "shown.json"
    where = ["--node-dir", str(net.node_dir(3))]
    assert cli(["registry", "present", str(certificate), "--disclose", "age_over_18",
                "--out", str(shown), "--qr", str(tmp_path / "shown.png"), "--json",
                *where]) == 0  # fmt: skip
    images = json.loads(capsys.readouterr().out)["qr"]
    assert cli(["verify", "certificate", str(shown), *other]) == 0, capsys.readouterr()
    if shutil.which("zbarimg"):
        assert cli(["verify", "certificate", *images, *other]) == 0, capsys.readouterr()
