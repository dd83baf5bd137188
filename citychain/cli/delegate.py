"""``citychain demo`` and ``citychain bench payments``: thin doors into the simulator and the
benchmarks, imported only when run so that every other command works without them."""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Callable, Sequence
from typing import Any, cast

from citychain.cli.common import CliFailure

__all__ = ["DELEGATED", "register", "run_delegated"]

# command words -> the module whose main(argv) runs them
DELEGATED: dict[tuple[str, ...], str] = {
    ("demo",): "citychain.sim.demo",
    ("bench", "payments"): "citychain.benchmarks.payments",
    ("bench", "attacks"): "citychain.benchmarks.attacks",
    ("bench", "soak"): "citychain.benchmarks.soak",
    ("oracle",): "citychain.oracle.service",
}

# name -> (its line in --help, what it takes), for the commands and for the benchmarks
COMMANDS: dict[str, tuple[str, str]] = {
    "demo": (
        "a fresh chain with a simulated city's payments (what make demo runs)",
        "passed to the demo",
    ),
    "oracle": (
        "anchored BMS telemetry -> battery health and end-of-life predictions on the ledger",
        "--home H --gateway-store DIR ...",
    ),
}
BENCHMARKS: dict[str, tuple[str, str]] = {
    "payments": (
        "signed transfers through the HTTP ingress: committed tps, p50/p99, ratio",
        "--txs N --accounts M --json ...",
    ),
    "attacks": (
        "issue 13's attacks while an honest client pays: answers, p99, RSS",
        "--network N --only ... --check",
    ),
    "soak": ("mixed load on 4 validators, sampled each minute", "--minutes M --json --check"),
}


def _list(group: Any, doors: dict[str, tuple[str, str]]) -> None:
    for name, (summary, takes) in doors.items():
        door = group.add_parser(name, add_help=False, help=summary)
        door.add_argument("args", nargs=argparse.REMAINDER, help=takes)


def register(commands: Any, parents: dict[str, argparse.ArgumentParser]) -> None:
    """Listed for --help; main() hands these argument lists over before argparse sees them."""
    _list(commands, COMMANDS)
    bench = commands.add_parser("bench", help="benchmarks")
    benchmarks = bench.add_subparsers(dest="bench_command", required=True, metavar="BENCHMARK")
    _list(benchmarks, BENCHMARKS)


def delegated_command(argv: Sequence[str]) -> tuple[str, list[str]] | None:
    """(module, remaining args) when argv starts with a delegated command's words."""
    for words, module in DELEGATED.items():
        if tuple(argv[: len(words)]) == words:
            return module, list(argv[len(words) :])
    return None


def run_delegated(module_name: str, argv: list[str]) -> int:
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name is not None and module_name.startswith(exc.name):
            raise CliFailure(
                f"this installation has no {module_name} (the command is not available)"
            ) from None
        raise CliFailure(f"{module_name} needs {exc.name}, which is not installed") from None
    main = cast(Callable[[list[str]], Any], module.main)
    code = main(argv)
    return int(code or 0)
