"""The benchmarks' command lines without a node: bad arguments exit 2 with the limit they
broke, and how an attack or soak run ends (docs/hardening-bench.md)."""

from __future__ import annotations

import argparse
from typing import Any

import pytest

from citychain.benchmarks import attacks, payments, soak
from citychain.benchmarks.attacks_report import finish
from citychain.cli import delegate


def test_payments_names_the_batch_limit_it_enforces(capsys: pytest.CaptureFixture[str]) -> None:
    # the API takes one block's worth in a batch: the message names that limit, not an old one
    assert payments.main(["--batch", str(payments.MAX_BATCH + 1)]) == 2
    assert f"--batch is at most {payments.MAX_BATCH:,}" in capsys.readouterr().err


def test_network_sizes_share_one_bound(capsys: pytest.CaptureFixture[str]) -> None:
    too_many = str(payments.MAX_NETWORK_VALIDATORS + 1)
    assert soak.main(["--validators", too_many]) == 2
    assert f"--validators takes 1 to {payments.MAX_NETWORK_VALIDATORS}" in capsys.readouterr().err
    assert attacks.main(["--network", too_many]) == 2
    assert "--network takes 1 to" in capsys.readouterr().err


def _args(*, check: bool, json: bool = False) -> argparse.Namespace:
    return argparse.Namespace(check=check, json=json)


def _report(met: bool) -> dict[str, Any]:
    return {"goals": {"p99": {"met": met, "detail": "-"}}}


def test_finish_exit_status(capsys: pytest.CaptureFixture[str]) -> None:
    assert finish(lambda: _report(False), lambda r: "text", _args(check=False), "run") == 0
    assert capsys.readouterr().out == "text\n"
    assert finish(lambda: _report(False), lambda r: "text", _args(check=True), "run") == 1
    assert finish(lambda: _report(True), lambda r: "text", _args(check=True), "run") == 0
    capsys.readouterr()
    assert finish(lambda: _report(True), str, _args(check=False, json=True), "run") == 0
    assert capsys.readouterr().out.startswith('{"goals"')

    def broken() -> dict[str, Any]:
        raise OSError("no port")

    assert finish(broken, str, _args(check=False), "soak") == 1
    assert "error: the soak could not start or finish: no port" in capsys.readouterr().err


def test_the_benchmarks_are_listed_in_order() -> None:
    parser = argparse.ArgumentParser()
    commands = parser.add_subparsers(dest="command")
    delegate.register(commands, {})
    assert list(commands.choices) == ["demo", "oracle", "bench"]
    bench = commands.choices["bench"]
    assert "payments" in bench.format_help() and "soak" in bench.format_help()
