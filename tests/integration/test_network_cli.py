"""``citychain net init`` refuses a folder that already holds something, and touches nothing.

These start no process; the commands on a running network are tested in
test_network_consortium.py, which shares one network between its tests.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from netutil import cli, requires_cometbft

EXIT_FAILURE = 1


def _tree(path: Path) -> dict[str, bytes]:
    return {str(p.relative_to(path)): p.read_bytes() for p in path.rglob("*") if p.is_file()}


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
def test_net_init_refuses_an_existing_network(tmp_path: Path) -> None:
    target = tmp_path / "net"
    first = cli("net", "init", "--dir", target, "--validators", "1", "--base-port", "29100")
    assert first.returncode == 0, first.stderr
    before = _tree(target)
    again = cli("net", "init", "--dir", target, "--validators", "1", "--base-port", "29200")
    assert again.returncode == EXIT_FAILURE, (again.stdout, again.stderr)
    assert again.stderr.strip() == f"error: {target} is not empty; choose another --dir"
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
    tmp_path: Path, args: list[str], message: str
) -> None:
    target = tmp_path / "net"
    run = cli("net", "init", "--dir", target, *args)
    assert run.returncode == EXIT_FAILURE, (run.stdout, run.stderr)
    assert message in run.stderr and "Traceback" not in run.stderr
    assert not target.exists()
