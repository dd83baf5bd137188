"""``citychain net init`` refuses a folder that already holds something, and touches nothing.

These start no process; the commands on a running network are tested in
test_network_consortium.py, on the session's shared network. The first test runs the command as
a user's shell does (exit status, stderr, no traceback); the others call the CLI's ``main`` in
this process.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from netutil import PASSWORD, cli, requires_cometbft

from citychain.cli.main import main

EXIT_FAILURE = 1


def _tree(path: Path) -> dict[str, bytes]:
    return {str(p.relative_to(path)): p.read_bytes() for p in path.rglob("*") if p.is_file()}


def _run(capsys: pytest.CaptureFixture[str], *args: str | Path) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main([str(a) for a in args])
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture(autouse=True)
def _password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CITYCHAIN_PASSWORD", PASSWORD)


def test_net_init_refuses_a_non_empty_dir(tmp_path: Path) -> None:
    target = tmp_path / "net"
    target.mkdir()
    (target / "notes.txt").write_text("someone's file\n")
    run = cli("net", "init", "--dir", target, "--validators", "2", "--base-port", "29000")
    assert run.returncode == EXIT_FAILURE, (run.stdout, run.stderr)
    assert run.stderr.strip() == f"error: {target} is not empty; choose another --dir"
    assert "Traceback" not in run.stderr
    assert _tree(target) == {"notes.txt": b"someone's file\n"}


@requires_cometbft  # the first init runs `cometbft init`
def test_net_init_refuses_an_existing_network(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "net"
    code, _, err = _run(capsys, "net", "init", "--dir", target, "--validators", "1",
                        "--base-port", "29100")  # fmt: skip
    assert code == 0, err
    before = _tree(target)
    code, out, err = _run(capsys, "net", "init", "--dir", target, "--validators", "1",
                          "--base-port", "29200")  # fmt: skip
    assert code == EXIT_FAILURE, (out, err)
    assert err.strip() == f"error: {target} is not empty; choose another --dir"
    assert _tree(target) == before


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--validators", "65"], "--validators must be 1..64"),
        (["--chain-id", "has space"], "chain id must be 1..50"),
        (["--chain-id", "x" * 51], "chain id must be 1..50"),
    ],
)
def test_net_init_refuses_what_cometbft_would_refuse_before_writing_anything(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    target = tmp_path / "net"
    code, out, err = _run(capsys, "net", "init", "--dir", target, *args)
    assert code == EXIT_FAILURE, (out, err)
    assert message in err and "Traceback" not in err
    assert not target.exists()
