"""Bad input to the ``citychain`` command: exit 2 (usage) or 1 (failure), ``error: ...`` on
stderr, and never a traceback. Most cases call ``main()`` in-process (fast); a few run the real
process to check what a user's shell sees. None needs a running node.

Commands are written as shell lines; ``{home}``, ``{tmp}``, ``{addr}``, ``{bad}`` and ``{dead}``
stand for the test home, a scratch folder, a valid address, one with a broken checksum, and an
API address where nothing listens.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import types
from pathlib import Path

import pytest

from citychain.cli import common, delegate
from citychain.cli.main import main
from citychain.crypto.address import address_from_bytes, is_address
from citychain.crypto.keystore import Keystore
from citychain.init_home import init_home

PASSWORD = "pw-for-tests"
DEAD_API = "127.0.0.1:1"  # nothing listens on port 1
VALID_ADDRESS = address_from_bytes(bytes(20))
# The last character of VALID_ADDRESS changed: the bech32 checksum fails.
BAD_CHECKSUM = VALID_ADDRESS[:-1] + ("q" if VALID_ADDRESS[-1] != "q" else "p")
FAST_KDF = (1, 8192)


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """An initialised home whose node is not running, with one extra key 'alice'."""
    path = tmp_path / "home"
    init_home(path, password=PASSWORD, api=DEAD_API, kdf_limits=FAST_KDF)
    Keystore(path / "keys", opslimit=FAST_KDF[0], memlimit=FAST_KDF[1]).add("alice", PASSWORD)
    return path


@pytest.fixture(autouse=True)
def environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(common.PASSWORD_ENV, PASSWORD)
    monkeypatch.delenv(common.HOME_ENV, raising=False)
    monkeypatch.delenv("CITYCHAIN_DEBUG", raising=False)


class Cli:
    """Runs ``main()`` on a command line and keeps what it printed."""

    def __init__(self, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
        self.capsys = capsys
        self.names = {
            "home": str(tmp_path / "home"),
            "tmp": str(tmp_path),
            "addr": VALID_ADDRESS,
            "bad": BAD_CHECKSUM,
            "dead": DEAD_API,
        }

    def run(self, line: str) -> tuple[int, str, str]:
        code = main(shlex.split(line.format(**self.names)))
        out, err = self.capsys.readouterr()
        assert "Traceback" not in err and "Traceback" not in out
        return code, out, err

    def expect(self, status: int, message: str, line: str) -> str:
        code, _, err = self.run(line)
        assert code == status, f"{line}: exit {code}, wanted {status}: {err}"
        assert "error: " in err and message in err, f"{line}: {err}"
        return err


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> Cli:
    return Cli(capsys, tmp_path)


def test_address_constants_are_what_they_say() -> None:
    assert is_address(VALID_ADDRESS)
    assert not is_address(BAD_CHECKSUM)


# --- usage errors: exit 2 -----------------------------------------------------------------------


def test_no_command_and_unknown_command(cli: Cli) -> None:
    cli.expect(2, "required", "")
    cli.expect(2, "invalid choice", "frobnicate")
    cli.expect(2, "invalid choice", "tx bank steal {addr} 1")
    cli.expect(2, "unrecognized arguments", "keys list --home {home} --colour")


@pytest.mark.parametrize("amount", ["-5", "1.5", "0", "abc", "1e3", str(2**64), "''", "1,000"])
def test_bad_amounts(cli: Cli, home: Path, amount: str) -> None:
    err = cli.expect(
        2, "argument AMOUNT", f"tx bank send {{addr}} {amount} --from alice --home {{home}}"
    )
    assert "usage:" in err
    cli.expect(
        2, "argument AMOUNT", f"tx bank refund {'ab' * 16} {amount} --from alice --home {{home}}"
    )


def test_bad_multi_send_outputs(cli: Cli, home: Path) -> None:
    cli.expect(2, "ADDRESS:AMOUNT", "tx bank multi-send alice --from alice --home {home}")
    cli.expect(2, "amount must be", "tx bank multi-send alice:-1 --from alice --home {home}")
    cli.expect(2, "neither", "tx bank multi-send alice:1 nobody:2 --from alice --home {home}")


def test_malformed_address(cli: Cli, home: Path) -> None:
    err = cli.expect(2, "invalid address", "tx bank send {bad} 10 --from alice --home {home}")
    assert "checksum" in err
    cli.expect(2, "invalid address", "query account city1xyz --home {home}")
    cli.expect(2, "invalid address", "query bank balance {bad} --node {dead}")


def test_unknown_name_as_address(cli: Cli, home: Path) -> None:
    cli.expect(
        2,
        "'carol' is neither a city1... address nor a key",
        "tx bank mint carol 10 --from issuer --home {home}",
    )
    # Without a home there is no keystore to look names up in; the message says so.
    cli.expect(2, "give --home to use key names", "query account alice --node {dead}")


def test_missing_home(cli: Cli) -> None:
    cli.expect(2, "--home DIR is required", "keys list")
    cli.expect(2, "--home DIR is required", "keys add bob")
    cli.expect(2, "--home DIR is required", "tx bank send {addr} 1 --from alice")
    cli.expect(2, "--home DIR is required", "init")
    cli.expect(2, "--home DIR is required", "start")
    cli.expect(2, "--node URL", "status")
    cli.expect(2, "--node URL", "query supply")


def test_no_password_source_without_terminal(
    cli: Cli, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(common.PASSWORD_ENV)
    cli.expect(2, "no key password", "tx bank send {addr} 1 --from alice --home {home}")
    cli.expect(2, "no key password", "keys add bob --home {home}")
    cli.expect(2, "no key password", "init --home {tmp}/new-home")


def test_unreadable_or_empty_password_file(cli: Cli, home: Path, tmp_path: Path) -> None:
    cli.expect(
        2, "cannot read --password-file", "keys add bob --home {home} --password-file {tmp}/missing"
    )
    (tmp_path / "empty").write_text("")
    cli.expect(2, "is empty", "keys add bob --home {home} --password-file {tmp}/empty")


def test_bad_hashes_ids_heights_and_denoms(cli: Cli, home: Path) -> None:
    cli.expect(2, "transaction hash must be 64 hex", "query tx 00 --home {home}")
    cli.expect(2, "request id must be 32 hex", "query request zz --home {home}")
    cli.expect(2, "request id must be 32 hex", "tx bank pay 12 --from alice --home {home}")
    cli.expect(2, "denomination must be", "query bank balance {addr} --denom CCY --home {home}")
    cli.expect(2, "tier must be", "tx bank set-tier {addr} 300 --from kyc --home {home}")
    cli.expect(2, "expected HOST:PORT", "init --home {tmp}/x --api nowhere")
    cli.expect(2, "--expiry-height", "tx bank request 5 --from alice --home {home}")
    cli.expect(2, "at least 1", "query block 0 --home {home}")
    cli.expect(2, "at most 200", "query txs alice --limit 500 --home {home}")
    cli.expect(
        2,
        "memo is longer",
        f"tx bank send {{addr}} 1 --memo {'m' * 300} --from alice --home {{home}}",
    )


def test_key_delete_needs_yes_without_terminal(cli: Cli, home: Path) -> None:
    cli.expect(2, "add --yes", "keys delete alice --home {home}")
    code, out, _ = cli.run("keys delete alice --yes --home {home}")
    assert code == 0 and "deleted key 'alice'" in out
    cli.expect(1, "no key named 'alice'", "keys show alice --home {home}")


# --- failures: exit 1 ---------------------------------------------------------------------------


def test_unknown_key_name(cli: Cli, home: Path) -> None:
    cli.expect(1, "no key named 'nobody'", "keys show nobody --home {home}")
    cli.expect(1, "no key named 'nobody'", "tx bank send {addr} 1 --from nobody --home {home}")
    cli.expect(1, "no key named 'nobody'", "keys delete nobody --yes --home {home}")
    cli.expect(1, "invalid key name", "keys add bad/name --home {home}")


def test_wrong_password(cli: Cli, home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(common.PASSWORD_ENV, "not the password")
    cli.expect(
        1, "wrong password for key 'alice'", "tx bank send {addr} 1 --from alice --home {home}"
    )


def test_password_file_wins_over_environment(cli: Cli, home: Path, tmp_path: Path) -> None:
    (tmp_path / "wrong").write_text("nope\n")
    cli.expect(
        1,
        "wrong password",
        "tx bank send {addr} 1 --from alice --home {home} --password-file {tmp}/wrong",
    )
    (tmp_path / "right").write_text(PASSWORD + "\n")
    # The right password gets as far as the node, which is not running.
    cli.expect(
        1,
        "cannot reach the node",
        "tx bank send {addr} 1 --from alice --home {home} --password-file {tmp}/right",
    )


def test_node_not_running(cli: Cli, home: Path) -> None:
    err = cli.expect(1, "cannot reach the node at http://127.0.0.1:1", "status --home {home}")
    assert "citychain start --home" in err
    cli.expect(1, "cannot reach the node", "query bank balance alice --home {home}")
    cli.expect(1, "cannot reach the node", "query supply --node {dead}")
    cli.expect(
        1, "cannot reach the node", "tx bank pay " + "ab" * 16 + " --from alice --home {home}"
    )


def test_not_a_home(cli: Cli) -> None:
    cli.expect(1, "is not a citychain home", "status --home {tmp}/nothing")
    cli.expect(1, "is not a citychain home", "start --home {tmp}/nothing")


def test_init_refuses_an_existing_home(cli: Cli, home: Path) -> None:
    cli.expect(1, "already holds a chain", "init --home {home}")


def test_key_add_twice_and_bad_mnemonics(cli: Cli, home: Path, tmp_path: Path) -> None:
    cli.expect(1, "already exists", "keys add alice --home {home}")
    (tmp_path / "words").write_text("abandon " * 11 + "zebra\n")
    line = "keys add carol --recover --mnemonic-file {tmp}/words --home {home}"
    cli.expect(1, "mnemonic checksum does not match", line)
    cli.expect(2, "--recover", "keys add carol --mnemonic-file {tmp}/words --home {home}")
    cli.expect(
        2,
        "cannot read --mnemonic-file",
        "keys add carol --recover --mnemonic-file {tmp}/none --home {home}",
    )


def test_recover_gives_back_the_same_address(cli: Cli, home: Path, tmp_path: Path) -> None:
    code, out, _ = cli.run("keys add dave --home {home} --json")
    assert code == 0
    created = json.loads(out)
    (tmp_path / "words").write_text(created["mnemonic"] + "\n")
    code, out, _ = cli.run("keys add dave2 --recover --mnemonic-file {tmp}/words --home {home}")
    assert code == 0 and out.strip() == created["address"]


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ("this is not json", "is not JSON"),
        ("[1, 2, 3]", "malformed bundle"),
        ('{"proof": {"branches": []}}', "malformed bundle"),
        ('{"key": "zz", "header": "00", "signature": "00", "proof": {}}', "malformed bundle"),
        (
            '{"version": 1, "key": "00", "header": "00", "signature": "00",'
            ' "proof": {"branches": [], "leaf": null}}',
            "header does not decode",
        ),
        ('{"key": 5, "header": [], "proof": "x", "validators": 7}', "malformed bundle"),
        ('{"balance": 5, "proof": {"header": 7}}', "malformed bundle"),
    ],
)
def test_malformed_proof_files(cli: Cli, tmp_path: Path, content: str, reason: str) -> None:
    (tmp_path / "bundle.json").write_text(content)
    cli.expect(1, reason, "verify proof {tmp}/bundle.json")
    code, out, _ = cli.run("verify proof {tmp}/bundle.json --json")
    assert code == 1
    if reason != "is not JSON":
        assert json.loads(out)["valid"] is False


def test_verify_missing_files_and_conflicting_trust(cli: Cli, tmp_path: Path) -> None:
    cli.expect(1, "cannot read proof file", "verify proof {tmp}/absent.json")
    (tmp_path / "bundle.json").write_text("{}")
    cli.expect(1, "cannot read genesis", "verify proof {tmp}/bundle.json --genesis {tmp}/none.json")
    (tmp_path / "genesis.json").write_text('{"chain_id": 5}')
    cli.expect(1, "genesis", "verify proof {tmp}/bundle.json --genesis {tmp}/genesis.json")
    cli.expect(
        2, "not allowed with argument", "verify proof {tmp}/bundle.json --genesis g --home h"
    )


# --- demo and bench hand over their arguments ---------------------------------------------------


def test_delegated_commands(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[list[str]] = []

    def fake_main(argv: list[str]) -> int:
        seen.append(argv)
        return 3

    fake = types.ModuleType("fake_bench")
    fake.main = fake_main  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "fake_bench", fake)
    monkeypatch.setitem(delegate.DELEGATED, ("bench", "payments"), "fake_bench")
    code, _, _ = cli.run("bench payments --txs 10 --json --help")
    assert code == 3 and seen == [["--txs", "10", "--json", "--help"]]

    monkeypatch.setitem(delegate.DELEGATED, ("demo",), "citychain_no_such_module.demo")
    cli.expect(1, "the command is not available", "demo --fast")
    cli.expect(2, "BENCHMARK", "bench")


def test_an_unexpected_error_prints_no_traceback(
    cli: Cli, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def explode(_: object) -> int:
        raise RuntimeError("boom")

    monkeypatch.setattr(Keystore, "list", explode)
    cli.expect(1, "unexpected RuntimeError: boom", "keys list --home {home}")


# --- the real process: what a shell sees --------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "status"),
    [
        ("tx bank send city1notanaddress 10 --from alice --home {home}", 2),
        ("tx bank send {addr} -3 --from alice --home {home}", 2),
        ("keys show nobody --home {home}", 1),
        ("status --home {home}", 1),
        ("verify proof {home}/genesis.json", 1),
        ("tx bank send {addr} 1 --from alice", 2),
    ],
)
def test_process_exit_status_and_no_traceback(home: Path, line: str, status: int) -> None:
    args = shlex.split(line.format(home=home, addr=VALID_ADDRESS))
    completed = subprocess.run(
        [sys.executable, "-m", "citychain.cli.main", *args],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        env={**os.environ, common.PASSWORD_ENV: PASSWORD},
        timeout=60,
    )
    assert completed.returncode == status, completed.stderr
    assert completed.stderr.count("error:") >= 1
    assert "Traceback" not in completed.stderr
