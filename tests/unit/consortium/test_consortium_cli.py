"""``citychain tx consortium`` and ``citychain query consortium`` (citychain/cli/consortium.py):
usage errors exit 2 before any key is read; a good command line builds exactly the message it
names; query output is readable, and JSON with --json. No node runs: the SDK's network calls
are replaced, so these tests see what the command would send and print."""

from __future__ import annotations

import argparse
import shlex
from pathlib import Path
from typing import Any

import pytest

from citychain.cli import common, consortium, query, tx
from citychain.cli.common import Parser
from citychain.cli.main import _parents, run
from citychain.client import ApiError, Client, Wallet
from citychain.crypto.address import address_from_bytes, address_to_bytes
from citychain.crypto.keystore import Keystore
from citychain.modules.consortium.messages import (
    AdmitMember,
    GrantRole,
    MsgPropose,
    MsgVote,
    RemoveMember,
    RevokeRole,
)

PASSWORD = "pw-for-tests"
FAST_KDF = (1, 8192)
OPERATOR = address_from_bytes(bytes(range(20)))
KEY_HEX = "ab" * 32


def parser() -> Parser:
    """The citychain parser with only the commands these tests need, as main.py will wire it."""
    built = Parser(prog="citychain")
    commands = built.add_subparsers(dest="command", required=True, metavar="COMMAND")
    parents = _parents()
    for module in (tx, query, consortium):
        module.register(commands, parents)
    return built


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "home"
    keystore = Keystore(path / "keys", opslimit=FAST_KDF[0], memlimit=FAST_KDF[1])
    keystore.add("hall", PASSWORD)
    keystore.add("carol", PASSWORD)
    monkeypatch.setenv(common.PASSWORD_ENV, PASSWORD)
    monkeypatch.delenv(common.HOME_ENV, raising=False)
    return path


class Sent:
    """Replaces Wallet.submit and the client's reads; records what the command sent."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.messages: list[Any] = []
        self.gets: list[tuple[str, dict[str, Any]]] = []
        self.answer: dict[str, Any] = {}

        def submit(wallet: Wallet, messages: list[Any], **kw: Any) -> dict[str, Any]:
            self.messages.extend(messages)
            return {"hash": "cd" * 32, "code": 0, "codespace": "", "log": "", "height": 7}

        def get_tx(client: Client, tx_hash: str) -> dict[str, Any]:
            return {"result": {"data": (3).to_bytes(8, "big").hex()}}

        def request(client: Client, method: str, path: str, **kw: Any) -> Any:
            self.gets.append((path, kw.get("params", {})))
            return self.answer

        monkeypatch.setattr(Wallet, "submit", submit)
        monkeypatch.setattr(Client, "tx", get_tx)
        monkeypatch.setattr(Client, "_request", request)


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> Sent:
    return Sent(monkeypatch)


def cli(line: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    try:
        args: argparse.Namespace = parser().parse_args(shlex.split(line))
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    else:
        code = run(args)
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out, err


TX = "--from hall --home {home} --node 127.0.0.1:1"


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (
            f"tx consortium propose admit-member --name 'City Hall' --operator {OPERATOR} "
            f"--validator-key {'ab' * 31} --power 1 " + TX,
            "validator key must be 64 hex",
        ),
        (
            f"tx consortium propose admit-member --name ' City' --operator {OPERATOR} "
            f"--validator-key {KEY_HEX} --power 1 " + TX,
            "member name must be",
        ),
        (
            f"tx consortium propose admit-member --name Uni --operator {OPERATOR} "
            f"--validator-key {KEY_HEX} --power 0 " + TX,
            "at least 1",
        ),
        ("tx consortium propose admit-member --name Uni " + TX, "required"),
        (
            f"tx consortium propose grant-role --role mayor --address {OPERATOR} " + TX,
            "invalid choice: 'mayor'",
        ),
        ("tx consortium propose fire-everyone " + TX, "invalid choice"),
        ("tx consortium vote 1 " + TX, "one of the arguments --yes --no is required"),
        ("tx consortium vote 1 --yes --no " + TX, "not allowed with argument"),
        ("tx consortium vote 0 --yes " + TX, "at least 1"),
        ("query consortium proposal x", "expected a whole number"),
        ("query consortium proposals --limit 201", "at most 200"),
        ("query consortium everything", "invalid choice"),
    ],
)
def test_usage_errors_exit_2(
    home: Path, sent: Sent, capsys: pytest.CaptureFixture[str], line: str, message: str
) -> None:
    code, _, err = cli(line.format(home=home), capsys)
    assert code == 2, err
    assert message in err
    assert sent.messages == []


def test_an_operator_that_is_neither_address_nor_key_exits_2(
    home: Path, sent: Sent, capsys: pytest.CaptureFixture[str]
) -> None:
    line = (
        f"tx consortium propose admit-member --name Uni --operator nobody "
        f"--validator-key {KEY_HEX} --power 3 " + TX
    )
    code, _, err = cli(line.format(home=home), capsys)
    assert code == 2
    assert "neither a city1... address nor a key" in err
    assert sent.messages == []


def test_propose_admit_member_builds_the_message_and_prints_the_proposal_id(
    home: Path, sent: Sent, capsys: pytest.CaptureFixture[str]
) -> None:
    line = (
        f"tx consortium propose admit-member --name 'City Hall' --operator carol "
        f"--validator-key {KEY_HEX.upper()} --power 12 " + TX
    )
    code, out, err = cli(line.format(home=home), capsys)
    assert code == 0, err
    carol = Keystore(home / "keys").show("carol").address
    assert sent.messages == [
        MsgPropose(AdmitMember("City Hall", address_to_bytes(carol), bytes.fromhex(KEY_HEX), 12))
    ]
    assert "height      7" in out
    assert "proposal_id 3" in out


@pytest.mark.parametrize(
    ("words", "message"),
    [
        ("propose remove-member --name 'City Bank'", MsgPropose(RemoveMember("City Bank"))),
        (
            f"propose grant-role --role issuer --address {OPERATOR}",
            MsgPropose(GrantRole("issuer", address_to_bytes(OPERATOR))),
        ),
        (
            f"propose revoke-role --role kyc --address {OPERATOR}",
            MsgPropose(RevokeRole("kyc", address_to_bytes(OPERATOR))),
        ),
        ("vote 5 --yes", MsgVote(5, True)),
        ("vote 5 --no", MsgVote(5, False)),
    ],
)
def test_each_command_builds_its_message(
    home: Path, sent: Sent, capsys: pytest.CaptureFixture[str], words: str, message: Any
) -> None:
    code, out, err = cli(f"tx consortium {words} {TX} --json".format(home=home), capsys)
    assert code == 0, err
    assert sent.messages == [message]
    assert '"height": 7' in out


def test_query_members_readable_and_json(sent: Sent, capsys: pytest.CaptureFixture[str]) -> None:
    sent.answer = {
        "height": 4,
        "active": 1,
        "total_power": 10,
        "members": [
            {
                "name": "City Hall",
                "operator": OPERATOR,
                "validator_public_key": KEY_HEX,
                "power": 10,
                "status": "active",
            }
        ],
    }
    code, out, _ = cli("query consortium members --node 127.0.0.1:1", capsys)
    assert code == 0
    assert "1 active, total power 10" in out
    assert "City Hall" in out and OPERATOR in out and KEY_HEX in out
    code, out, _ = cli("query consortium members --node 127.0.0.1:1 --json", capsys)
    assert '"total_power": 10' in out
    assert sent.gets[0][0] == "/consortium/members"


def test_query_proposals_passes_paging(sent: Sent, capsys: pytest.CaptureFixture[str]) -> None:
    sent.answer = {"proposals": [], "height": 1}
    code, out, _ = cli("query consortium proposals --limit 5 --before 9 --node 127.0.0.1:1", capsys)
    assert code == 0
    assert "no proposals" in out
    assert sent.gets == [("/consortium/proposals", {"limit": 5, "before": 9})]


def test_query_one_proposal_and_roles(sent: Sent, capsys: pytest.CaptureFixture[str]) -> None:
    sent.answer = {
        "id": 2,
        "proposer": "City Hall",
        "status": "open",
        "action": {"kind": "grant_role", "role": "issuer", "address": OPERATOR},
        "submit_height": 3,
        "voting_end_height": 12,
        "votes": [{"member": "City Hall", "vote": "yes", "height": 3}],
        "tally": {"yes": 10, "no": 0, "total": 40, "needed": 27},
        "log": "",
    }
    code, out, _ = cli("query consortium proposal 2 --node 127.0.0.1:1", capsys)
    assert code == 0
    assert f"#2     open      grant_role     issuer -> {OPERATOR}" in out
    assert "yes 10/40 (needs 27)" in out
    assert sent.gets[-1][0] == "/consortium/proposals/2"
    sent.answer = {"roles": {"issuer": [OPERATOR], "kyc": []}, "height": 1}
    code, out, _ = cli("query consortium roles --node 127.0.0.1:1", capsys)
    assert out.splitlines() == [f"issuer: {OPERATOR}", "kyc: (nobody)"]


def test_a_committed_proposal_whose_receipt_cannot_be_read_still_succeeds(
    home: Path, sent: Sent, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken_tx(client: Client, tx_hash: str) -> dict[str, Any]:
        raise ApiError(500, "internal error")

    monkeypatch.setattr(Client, "tx", broken_tx)
    line = "tx consortium propose remove-member --name Uni " + TX
    code, out, err = cli(line.format(home=home), capsys)
    assert code == 0, err
    assert "height      7" in out
    assert "proposal_id unknown" in out
