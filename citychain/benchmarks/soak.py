"""``bench/soak.py``: mixed load on N CometBFT validators for ``--minutes`` (issue 13, "Soak";
docs/hardening-bench.md). Not part of ``make test``.

The run: a network of ``--validators`` (default 4) made and started as ``bench payments
--network`` makes its own (``attacks_target.network_target``); a few batteries, birth records and
a gateway device set up; then, for ``--minutes``, honest payments at ``--rate`` a second round
robin over the nodes (``attacks_honest``), readers and a writer (``soak_load``), and the RSS of
every node's app and CometBFT sampled four times a second (``attacks_watch``).

Each minute: payments sent and committed with p50/p99 submission-to-commit latency, mean block
time (from the headers' times), reads and writes and their failures, each process's mean RSS.
The goal: memory and p99 flat, a rise under 10 % from the 10th to the 60th minute; for another
length the minutes scale (``--minutes M``: minute M/6 against minute M), each side the mean of a
window of M/20 minutes (at least one).

Exit status 0 when it ran (1 with ``--check`` when a goal was missed, 2 on bad arguments).
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass, fields
from typing import Any

import httpx

from citychain.benchmarks import machine_info
from citychain.benchmarks.attacks_honest import HonestPayer, payment_figures
from citychain.benchmarks.attacks_report import finish, log_to_stderr
from citychain.benchmarks.attacks_target import TargetOptions, network_target, register_batteries
from citychain.benchmarks.attacks_watch import MS, RssSampler, latency_figures
from citychain.benchmarks.payments import MAX_NETWORK_VALIDATORS
from citychain.benchmarks.soak_load import Op, Reader, Writer, prepare_world
from citychain.benchmarks.soak_report import format_soak, soak_goals

__all__ = ["SoakOptions", "main", "run"]

STATUS_TIMEOUT_S = 10.0


@dataclass
class SoakOptions:
    minutes: int = 60
    minute_seconds: float = 60.0  # a "minute" of the table (shorter only to try the script)
    validators: int = 4
    rate: float = 10.0  # honest payments per second
    honest_keys: int = 40
    read_rate: float = 10.0
    readers: int = 4
    write_every: float = 5.0
    batteries: int = 4
    records: int = 4
    state_keys: int = 1_000


@dataclass
class _Mark:
    at: float
    height: int | None
    block_time_ms: int | None


def _status(url: str) -> tuple[int | None, int | None]:
    try:
        doc = httpx.get(f"{url}/status", timeout=STATUS_TIMEOUT_S).json()
        return int(doc["height"]), doc.get("latest_block_time_ms")
    except (httpx.HTTPError, ValueError, KeyError, TypeError):
        return None, None


def _ops(ops: list[Op], start: float, end: float) -> dict[str, Any]:
    window = [op for op in list(ops) if start <= op.at < end]
    failed: dict[str, int] = {}
    for op in window:
        if not op.ok:
            key = f"{op.kind}: {op.answer}"
            failed[key] = failed.get(key, 0) + 1
    return {
        "count": len(window),
        "failed": sum(failed.values()),
        "failures": failed,
        **latency_figures(op.seconds for op in window if op.ok),
    }


def _block_seconds(first: _Mark, last: _Mark) -> float | None:
    if None in (first.height, last.height, first.block_time_ms, last.block_time_ms):
        return None
    assert first.height is not None and last.height is not None
    assert first.block_time_ms is not None and last.block_time_ms is not None
    blocks = last.height - first.height
    return (last.block_time_ms - first.block_time_ms) / blocks / MS if blocks > 0 else None


def _minute_row(
    minute: int,
    marks: tuple[_Mark, _Mark],
    payer: HonestPayer,
    reader: Reader,
    writer: Writer,
    rss: RssSampler,
) -> dict[str, Any]:
    first, last = marks
    payments, skipped = payer.window(first.at, last.at)
    return {
        "minute": minute,
        "payments": payment_figures(payments, skipped),
        "block_s": _block_seconds(first, last),
        "blocks": (last.height or 0) - (first.height or 0),
        "reads": _ops(reader.ops, first.at, last.at),
        "writes": _ops(writer.ops, first.at, last.at),
        "rss_mean_mb": {k: round(v, 1) for k, v in rss.mean_mb(first.at, last.at).items()},
        "rss_max_mb": {k: round(v, 1) for k, v in rss.max_mb(first.at, last.at).items()},
    }


def run(options: SoakOptions, log: Any) -> dict[str, Any]:
    report: dict[str, Any] = {"benchmark": "soak", "machine": machine_info()}
    target_options = TargetOptions(
        honest_keys=options.honest_keys, state_keys=options.state_keys, log=log
    )
    with network_target(target_options, options.validators) as target:
        batteries = register_batteries(target, options.batteries, log, prefix="BENCH-SOAK")
        world = prepare_world(target, batteries, options.records, log)
        rss = RssSampler(target.processes).start()
        payer = HonestPayer(target.urls, target.honest_keys, target.chain_id, rate=options.rate)
        reader = Reader(target, world, options.read_rate, options.readers)
        writer = Writer(target, world, options.write_every)
        marks = [_Mark(time.monotonic(), *_status(target.urls[0]))]
        for part in (payer, reader, writer):
            part.start()
        try:
            for minute in range(1, options.minutes + 1):
                time.sleep(
                    max(0.0, marks[0].at + minute * options.minute_seconds - time.monotonic())
                )
                marks.append(_Mark(time.monotonic(), *_status(target.urls[0])))
                log(f"minute {minute}/{options.minutes}: height {marks[-1].height}")
        finally:
            for part in (payer, reader, writer):
                part.stop()
            rss.stop()
        report.update(
            nodes=len(target.urls), processes=sorted(target.processes), notes=target.notes
        )
    report["options"] = {f.name: getattr(options, f.name) for f in fields(options)}
    report["minutes"] = [
        _minute_row(i, (marks[i - 1], marks[i]), payer, reader, writer, rss)
        for i in range(1, len(marks))
    ]
    report["goals"] = soak_goals(report["minutes"], payer, marks[0].at, options.minute_seconds)
    report["loadavg_after"] = machine_info()["loadavg"]
    return report


def build_parser() -> argparse.ArgumentParser:
    d = SoakOptions()
    p = argparse.ArgumentParser(
        prog="bench/soak.py",
        description="Mixed load on N CometBFT validators, sampled each minute; goal: memory "
        "and p99 flat (docs/hardening-bench.md). --check exits 1 when a goal is missed.",
    )
    for f in fields(SoakOptions):
        default = getattr(d, f.name)
        p.add_argument(
            f"--{f.name.replace('_', '-')}",
            type=type(default),
            default=default,
            help=f"default {default:g}",
        )
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--check", action="store_true", help="exit 1 when a goal is missed")
    return p


def _problem(o: SoakOptions) -> str:
    if o.minutes < 1 or o.minute_seconds <= 0:
        return "--minutes must be at least 1 and --minute-seconds positive"
    if not 1 <= o.validators <= MAX_NETWORK_VALIDATORS:
        return f"--validators takes 1 to {MAX_NETWORK_VALIDATORS}"
    if o.rate <= 0 or o.read_rate <= 0 or o.write_every <= 0:
        return "--rate, --read-rate and --write-every must be positive"
    if min(o.honest_keys, o.readers) < 1 or min(o.batteries, o.records, o.state_keys) < 0:
        return "--honest-keys and --readers must be at least 1, counts not negative"
    return ""


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    options = SoakOptions(**{f.name: getattr(args, f.name) for f in fields(SoakOptions)})
    problem = _problem(options)
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    return finish(lambda: run(options, log_to_stderr), format_soak, args, "soak")


if __name__ == "__main__":
    sys.exit(main())
