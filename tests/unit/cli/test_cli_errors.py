"""Bad input to the ``citychain`` command: exit 2 (usage) or 1 (failure), ``error: ...`` on
stderr, and never a traceback. Most cases call ``main()`` in-process (fast); a few run the real
process to check what a user's shell sees. None needs a running node.
"""

from __future__ import annotations

import json
import os
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
# One character of VALID_ADDRESS changed: the bech32 checksum fails.
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


def run(capsys: pytest.CaptureFixture[str], *args: str | Path) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    assert "Traceback" not in err and "Traceback" not in out
    return code, out, err


def expect(capsys: pytest.CaptureFixture[str], status: int, message: str, *args: str | Path) -> str:
    code, _, err = run(capsys, *args)
    assert code == status, f"exit {code}, wanted {status}: {err}"
    assert "error: " in err and message in err, err
    return err


def test_address_constants_are_what_they_say() -> None:
    assert is_address(VALID_ADDRESS)
    assert not is_address(BAD_CHECKSUM)


# --- usage errors: exit 2 -----------------------------------------------------------------------


def test_no_command_and_unknown_command(capsys: pytest.CaptureFixture[str]) -> None:
    expect(capsys, 2, "required")
    expect(capsys, 2, "invalid choice", "frobnicate")
    expect(capsys, 2, "invalid choice", "tx", "bank", "steal", "x", "1")


@pytest.mark.parametrize("amount", ["-5", "1.5", "0", "abc", "1e3", str(2**64), ""])
def test_bad_amounts(capsys: pytest.CaptureFixture[str], home: Path, amount: str) -> None:
    err = expect(
        capsys,
        2,
        "argument AMOUNT",
        "tx",
        "bank",
        "send",
        VALID_ADDRESS,
        amount,
        "--from",
        "alice",
        "--home",
        home,
    )
    assert "usage:" in err


def test_bad_multi_send_output(capsys: pytest.CaptureFixture[str], home: Path) -> None:
    expect(
        capsys,
        2,
        "ADDRESS:AMOUNT",
        "tx",
        "bank",
        "multi-send",
        "alice",
        "--from",
        "alice",
        "--home",
        home,
    )
    expect(
        capsys,
        2,
        "amount must be",
        "tx",
        "bank",
        "multi-send",
        "alice:-1",
        "--from",
        "alice",
        "--home",
        home,
    )


def test_malformed_address(capsys: pytest.CaptureFixture[str], home: Path) -> None:
    err = expect(
        capsys,
        2,
        "invalid address",
        "tx",
        "bank",
        "send",
        BAD_CHECKSUM,
        "10",
        "--from",
        "alice",
        "--home",
        home,
    )
    assert "checksum" in err
    expect(capsys, 2, "invalid address", "query", "account", "city1xyz", "--home", home)


def test_unknown_name_as_address(capsys: pytest.CaptureFixture[str], home: Path) -> None:
    expect(
        capsys,
        2,
        "'carol' is neither a city1... address nor a key",
        "tx",
        "bank",
        "mint",
        "carol",
        "10",
        "--from",
        "issuer",
        "--home",
        home,
    )
    # Without a home there is no keystore to look names up in; the message says so.
    expect(
        capsys, 2, "give --home to use key names", "query", "account", "alice", "--node", DEAD_API
    )


def test_missing_home(capsys: pytest.CaptureFixture[str]) -> None:
    expect(capsys, 2, "--home DIR is required", "keys", "list")
    expect(
        capsys,
        2,
        "--home DIR is required",
        "tx",
        "bank",
        "send",
        VALID_ADDRESS,
        "1",
        "--from",
        "alice",
    )
    expect(capsys, 2, "--home DIR is required", "init")
    expect(capsys, 2, "--node URL", "status")


def test_no_password_source_without_terminal(
    capsys: pytest.CaptureFixture[str], home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(common.PASSWORD_ENV)
    expect(
        capsys,
        2,
        "no key password",
        "tx",
        "bank",
        "send",
        VALID_ADDRESS,
        "1",
        "--from",
        "alice",
        "--home",
        home,
    )
    expect(capsys, 2, "no key password", "keys", "add", "bob", "--home", home)


def test_unreadable_or_empty_password_file(
    capsys: pytest.CaptureFixture[str], home: Path, tmp_path: Path
) -> None:
    expect(
        capsys,
        2,
        "cannot read --password-file",
        "keys",
        "add",
        "bob",
        "--home",
        home,
        "--password-file",
        tmp_path / "missing",
    )
    empty = tmp_path / "empty"
    empty.write_text("")
    expect(capsys, 2, "is empty", "keys", "add", "bob", "--home", home, "--password-file", empty)


def test_bad_hashes_ids_and_denoms(capsys: pytest.CaptureFixture[str], home: Path) -> None:
    expect(capsys, 2, "transaction hash must be 64 hex", "query", "tx", "00", "--home", home)
    expect(capsys, 2, "request id must be 32 hex", "query", "request", "zz", "--home", home)
    expect(
        capsys,
        2,
        "request id must be 32 hex",
        "tx",
        "bank",
        "pay",
        "12",
        "--from",
        "alice",
        "--home",
        home,
    )
    expect(
        capsys,
        2,
        "denomination must be",
        "query",
        "bank",
        "balance",
        VALID_ADDRESS,
        "--denom",
        "CCY",
        "--home",
        home,
    )
    expect(
        capsys,
        2,
        "tier must be",
        "tx",
        "bank",
        "set-tier",
        VALID_ADDRESS,
        "300",
        "--from",
        "kyc",
        "--home",
        home,
    )
    expect(capsys, 2, "expected HOST:PORT", "init", "--home", home / "x", "--api", "nowhere")
    expect(
        capsys,
        2,
        "--expiry-height",
        "tx",
        "bank",
        "request",
        "5",
        "--from",
        "alice",
        "--home",
        home,
    )


def test_key_delete_needs_yes_without_terminal(
    capsys: pytest.CaptureFixture[str], home: Path
) -> None:
    expect(capsys, 2, "add --yes", "keys", "delete", "alice", "--home", home)
    code, out, _ = run(capsys, "keys", "delete", "alice", "--yes", "--home", home)
    assert code == 0 and "deleted key 'alice'" in out
    expect(capsys, 1, "no key named 'alice'", "keys", "show", "alice", "--home", home)


# --- failures: exit 1 ---------------------------------------------------------------------------


def test_unknown_key_name(capsys: pytest.CaptureFixture[str], home: Path) -> None:
    expect(capsys, 1, "no key named 'nobody'", "keys", "show", "nobody", "--home", home)
    expect(
        capsys,
        1,
        "no key named 'nobody'",
        "tx",
        "bank",
        "send",
        VALID_ADDRESS,
        "1",
        "--from",
        "nobody",
        "--home",
        home,
    )
    expect(capsys, 1, "no key named 'nobody'", "keys", "delete", "nobody", "--yes", "--home", home)
    expect(capsys, 1, "invalid key name", "keys", "add", "bad/name", "--home", home)


def test_wrong_password(
    capsys: pytest.CaptureFixture[str], home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(common.PASSWORD_ENV, "not the password")
    expect(
        capsys,
        1,
        "wrong password for key 'alice'",
        "tx",
        "bank",
        "send",
        VALID_ADDRESS,
        "1",
        "--from",
        "alice",
        "--home",
        home,
    )


def test_password_file_wins_over_environment(
    capsys: pytest.CaptureFixture[str], home: Path, tmp_path: Path
) -> None:
    wrong = tmp_path / "wrong"
    wrong.write_text("nope\n")
    expect(
        capsys,
        1,
        "wrong password",
        "tx",
        "bank",
        "send",
        VALID_ADDRESS,
        "1",
        "--from",
        "alice",
        "--home",
        home,
        "--password-file",
        wrong,
    )
    right = tmp_path / "right"
    right.write_text(PASSWORD + "\n")
    # The right password gets as far as the node, which is not running.
    expect(
        capsys,
        1,
        "cannot reach the node",
        "tx",
        "bank",
        "send",
        VALID_ADDRESS,
        "1",
        "--from",
        "alice",
        "--home",
        home,
        "--password-file",
        right,
    )


def test_node_not_running(capsys: pytest.CaptureFixture[str], home: Path) -> None:
    err = expect(capsys, 1, "cannot reach the node at http://127.0.0.1:1", "status", "--home", home)
    assert "citychain start --home" in err
    expect(capsys, 1, "cannot reach the node", "query", "bank", "balance", "alice", "--home", home)
    expect(capsys, 1, "cannot reach the node", "query", "supply", "--node", DEAD_API)


def test_not_a_home(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    expect(capsys, 1, "is not a citychain home", "status", "--home", tmp_path / "nothing")
    expect(capsys, 1, "is not a citychain home", "start", "--home", tmp_path / "nothing")


def test_init_refuses_an_existing_home(capsys: pytest.CaptureFixture[str], home: Path) -> None:
    expect(capsys, 1, "already holds a chain", "init", "--home", home)


def test_key_add_twice_and_bad_mnemonics(
    capsys: pytest.CaptureFixture[str], home: Path, tmp_path: Path
) -> None:
    expect(capsys, 1, "already exists", "keys", "add", "alice", "--home", home)
    words = tmp_path / "words"
    words.write_text("abandon " * 11 + "zebra\n")
    expect(
        capsys,
        1,
        "mnemonic checksum does not match",
        "keys",
        "add",
        "carol",
        "--recover",
        "--mnemonic-file",
        words,
        "--home",
        home,
    )
    expect(capsys, 2, "--recover", "keys", "add", "carol", "--mnemonic-file", words, "--home", home)


def test_recover_gives_back_the_same_address(
    capsys: pytest.CaptureFixture[str], home: Path, tmp_path: Path
) -> None:
    code, out, _ = run(capsys, "keys", "add", "dave", "--home", home, "--json")
    assert code == 0
    created = json.loads(out)
    words = tmp_path / "words"
    words.write_text(created["mnemonic"] + "\n")
    code, out, _ = run(
        capsys, "keys", "add", "dave2", "--recover", "--mnemonic-file", words, "--home", home
    )
    assert code == 0 and out.strip() == created["address"]


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ("this is not json", "is not JSON"),
        ("[1, 2, 3]", "malformed bundle"),
        ('{"proof": {"branches": []}}', "malformed bundle"),
        ('{"key": "zz", "header": "00", "signature": "00", "proof": {}}', "malformed bundle"),
        (
            '{"key": "00", "header": "00", "signature": "00",'
            ' "proof": {"branches": [], "leaf": null}}',
            "header does not decode",
        ),
        ('{"key": 5, "header": [], "proof": "x", "validators": 7}', "malformed bundle"),
    ],
)
def test_malformed_proof_files(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, content: str, reason: str
) -> None:
    path = tmp_path / "bundle.json"
    path.write_text(content)
    expect(capsys, 1, reason, "verify", "proof", path)
    code, out, _ = run(capsys, "verify", "proof", path, "--json")
    assert code == 1
    if reason != "is not JSON":
        assert json.loads(out)["valid"] is False


def test_verify_missing_files(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    expect(capsys, 1, "cannot read proof file", "verify", "proof", tmp_path / "absent.json")
    bundle = tmp_path / "bundle.json"
    bundle.write_text("{}")
    expect(
        capsys,
        1,
        "cannot read genesis",
        "verify",
        "proof",
        bundle,
        "--genesis",
        tmp_path / "absent-genesis.json",
    )
    expect(
        capsys,
        2,
        "not allowed with argument",
        "verify",
        "proof",
        bundle,
        "--genesis",
        "g",
        "--home",
        "h",
    )


# --- demo and bench hand over their arguments ---------------------------------------------------


def test_delegated_commands(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[list[str]] = []
    fake = types.ModuleType("fake_bench")
    fake.main = lambda argv: seen.append(argv) or 3  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "fake_bench", fake)
    monkeypatch.setitem(delegate.DELEGATED, ("bench", "payments"), "fake_bench")
    code, _, _ = run(capsys, "bench", "payments", "--txs", "10", "--json", "--help")
    assert code == 3 and seen == [["--txs", "10", "--json", "--help"]]

    monkeypatch.setitem(delegate.DELEGATED, ("demo",), "citychain_no_such_module.demo")
    expect(capsys, 1, "the command is not available", "demo", "--fast")


def test_an_unexpected_error_prints_no_traceback(
    capsys: pytest.CaptureFixture[str], home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def explode(_: object) -> int:
        raise RuntimeError("boom")

    monkeypatch.setattr(Keystore, "list", explode)
    expect(capsys, 1, "unexpected RuntimeError: boom", "keys", "list", "--home", home)


# --- the real process: what a shell sees --------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "status"),
    [
        (["tx", "bank", "send", "city1notanaddress", "10", "--from", "alice"], 2),
        (["tx", "bank", "send", VALID_ADDRESS, "-3", "--from", "alice"], 2),
        (["keys", "show", "nobody"], 1),
        (["status"], 1),
        (["verify", "proof", "HOME/genesis.json"], 1),
    ],
)
def test_process_exit_status_and_no_traceback(home: Path, args: list[str], status: int) -> None:
    args = [a.replace("HOME", str(home)) for a in args]
    if args[0] != "verify":
        args += ["--home", str(home)]
    completed = subprocess.run(
        [sys.executable, "-m", "citychain.cli.main", *args],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        env={**os.environ, common.PASSWORD_ENV: PASSWORD},
        timeout=60,
    )
    assert completed.returncode == status, completed.stderr
    assert "error:" in completed.stderr
    assert "Traceback" not in completed.stderr
