"""``bench/attacks.py``: issue 13's attacks re-run against a running node while an honest client
pays (docs/hardening-bench.md).

The run:

1. a target: a fresh solo node (default), ``--network N`` CometBFT validators, or a node that
   is already running (``--api URL --home DIR``); its genesis funds the honest payers and, with
   ``--state-keys``, makes the state big enough for a scan to cost something;
2. a battery registered by the manufacturer key for the replay section;
3. in the background for the whole run: the honest client (``attacks_honest``: ``--rate``
   payments a second, each submitted with mode=commit, its latency from submission to commit),
   a ``GET /health`` probe and the RSS of the node's processes (``attacks_watch``);
4. ``--quiet-seconds`` without an attack, then each attack in turn, bounded by its options
   (``attacks_http``, ``attacks_flood``, ``attacks_ws``, ``attacks_jam``), then quiet again;
5. per section: what was sent, how the node answered (counted), the honest payments sent,
   committed and failed with p50/p99 latency, /health's latency, the largest RSS; and the
   issue's goals: honest payments keep committing, p99 under 3 s, memory under 1 GB.

The script measures; it does not expect any answer. Exit status 0 when it ran (1 with ``--check``
when a goal was missed, 2 on bad arguments).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from citychain.benchmarks import machine_info
from citychain.benchmarks.attacks_context import (
    AttackContext,
    AttackOptions,
    default_attacker_address,
)
from citychain.benchmarks.attacks_flood import flood
from citychain.benchmarks.attacks_honest import HonestPayer, payment_figures
from citychain.benchmarks.attacks_http import bodies, replay, scans
from citychain.benchmarks.attacks_jam import jam
from citychain.benchmarks.attacks_report import finish, format_report, goals, log_to_stderr
from citychain.benchmarks.attacks_target import (
    PUBLIC_LOOPBACK,
    Target,
    TargetOptions,
    attached_target,
    network_target,
    register_batteries,
    solo_target,
)
from citychain.benchmarks.attacks_watch import HealthProbe, RssSampler, rss_bytes
from citychain.benchmarks.attacks_ws import websockets
from citychain.benchmarks.payments import MAX_NETWORK_VALIDATORS

__all__ = ["ATTACKS", "build_parser", "main", "run"]

Attack = Callable[[AttackContext], dict[str, Any]]
Mark = Callable[[], None]


def junk(ctx: AttackContext) -> dict[str, Any]:
    """Proposer junk needs a proposer that builds its own blocks, i.e. a modified node."""
    return {
        "sent": "nothing",
        "answers": {},
        "skipped": "a proposer including transactions that fail the ante checks needs a "
        "modified node; the process_proposal regression tests cover it, not this script",
    }


ATTACKS: dict[str, tuple[str, Attack]] = {
    "bodies": ("oversized request bodies", bodies),
    "flood": ("many concurrent requests from one client", flood),
    "websockets": ("WebSocket connections from one client", websockets),
    "scans": ("scans of the whole state", scans),
    "replay": ("replayed battery read requests", replay),
    "junk": ("free junk in blocks (proposer)", junk),
    "jam": ("mempool jam by unfunded keys", jam),
}
MIN_SENDERS_PER_RATE = 2  # honest keys per payment a second: the slowest commit is ~2 s


@dataclass
class Section:
    name: str
    title: str
    start: float
    end: float
    result: dict[str, Any] = field(default_factory=dict)
    alive: bool = True


def _alive(target: Target) -> bool:
    return all(rss_bytes(pid) is not None for pid in target.processes.values())


def _run_section(name: str, ctx: AttackContext, target: Target, mark: Mark) -> Section:
    title, attack = ATTACKS[name]
    ctx.log(f"--- {name}: {title}")
    start = time.monotonic()
    mark()
    try:
        result = attack(ctx)
    except Exception as exc:  # one attack's failure must not end the run: it is a finding
        traceback.print_exc(file=sys.stderr)
        result = {"sent": "(the attack stopped)", "answers": {}, "error": f"{exc!r}"}
    mark()
    return Section(name, title, start, time.monotonic(), result, _alive(target))


def _quiet(name: str, seconds: float, target: Target, mark: Mark) -> Section:
    start = time.monotonic()
    mark()
    time.sleep(seconds)
    mark()
    result = {"sent": "nothing (honest payments only)", "answers": {}}
    return Section(name, "no attack", start, time.monotonic(), result, _alive(target))


@contextlib.contextmanager
def _target(options: AttackOptions, args: argparse.Namespace, log: Any) -> Iterator[Target]:
    target_options = TargetOptions(
        honest_keys=options.honest_keys,
        state_keys=options.state_keys,
        api=args.api,
        home=args.home,
        password=args.password,
        funder=args.funder,
        pid=args.pid,
        node_config=args.node_config,
        workdir=args.workdir,
        log=log,
    )
    if args.api is not None or args.home is not None:
        with attached_target(target_options) as target:
            yield target
    elif args.network:
        with network_target(target_options, args.network) as target:
            yield target
    else:
        with solo_target(target_options) as target:
            yield target


def _figures(
    section: Section, payer: HonestPayer, probe: HealthProbe, rss: RssSampler
) -> dict[str, Any]:
    payments, skipped = payer.window(section.start, section.end)
    return {
        "name": section.name,
        "title": section.title,
        "seconds": round(section.end - section.start, 1),
        **section.result,
        "honest": payment_figures(payments, skipped),
        "health": probe.figures(section.start, section.end),
        "rss_max_mb": {k: round(v, 1) for k, v in rss.max_mb(section.start, section.end).items()},
        "node_alive_after": section.alive,
    }


def _attack_all(ctx: AttackContext, target: Target, names: list[str], mark: Mark) -> list[Section]:
    o = ctx.options
    sections = [_quiet("before", o.quiet_seconds, target, mark)]
    for name in names:
        time.sleep(o.gap_seconds)
        sections.append(_run_section(name, ctx, target, mark))
    time.sleep(o.gap_seconds)
    sections.append(_quiet("after", o.quiet_seconds, target, mark))
    return sections


def run(
    options: AttackOptions, args: argparse.Namespace, names: list[str], log: Any
) -> dict[str, Any]:
    report: dict[str, Any] = {"benchmark": "attacks", "machine": machine_info()}
    with _target(options, args, log) as target:
        batteries = register_batteries(target, 1, log) if "replay" in names else []
        battery = batteries[0] if batteries else None
        address = (
            options.attacker_address
            if options.attacker_address is not None
            else default_attacker_address(target.urls[0])
        )
        ctx = AttackContext(target.urls[0], target.chain_id, options, address or None, battery, log)
        rss = RssSampler(target.processes).start()
        probe = HealthProbe(target.urls[0]).start()
        payer = HonestPayer(
            [target.urls[0]],
            target.honest_keys,
            target.chain_id,
            rate=options.rate,
            timeout=options.payment_timeout,
        ).start()
        try:
            sections = _attack_all(ctx, target, names, rss.sample)
        finally:
            payer.stop()
            probe.stop()
            rss.stop()
        report.update(
            engine=target.engine,
            url=target.urls[0],
            nodes=len(target.urls),
            state_keys=target.state_keys,
            attacker_address=ctx.local_address,
            processes=sorted(target.processes),
            notes=target.notes,
        )
    report["options"] = {f.name: getattr(options, f.name) for f in fields(options)}
    report["sections"] = [_figures(s, payer, probe, rss) for s in sections]
    report["honest_total"] = payment_figures(*payer.window(sections[0].start, sections[-1].end))
    report["goals"] = goals(report["sections"], report["honest_total"])
    report["loadavg_after"] = machine_info()["loadavg"]
    return report


# --- command line -------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    d = AttackOptions()
    p = argparse.ArgumentParser(
        prog="bench/attacks.py",
        description="Issue 13's attacks against a running node while an honest client pays "
        "(docs/hardening-bench.md). Measures and prints; --check exits 1 if a goal is missed.",
    )
    target = p.add_argument_group("target (default: a fresh solo node)")
    target.add_argument("--network", type=int, default=0, metavar="N", help="N CometBFT nodes")
    target.add_argument("--api", default=None, metavar="URL", help="attach to a running node")
    target.add_argument("--home", type=Path, default=None, help="the attached node's home")
    target.add_argument("--password", default="bench", help="its keystore's password")
    target.add_argument("--funder", default="issuer", help="its key that funds the payers")
    target.add_argument("--pid", type=int, default=None, help="its process id (else node.json)")
    target.add_argument("--attacker-address", default=None, help="source address; '' = any")
    target.add_argument(
        "--node-config",
        action="append",
        default=[],
        metavar="KEY=JSON",
        help="a config.json key of the nodes this run creates (repeatable); by default "
        "api_rate_trusted=[] (loopback clients are rate-limited like any other)",
    )
    target.add_argument("--workdir", type=Path, default=None, help="keep the homes here")
    h = p.add_argument_group("honest client")
    h.add_argument("--rate", type=float, default=d.rate, help="payments per second")
    h.add_argument("--honest-keys", type=int, default=d.honest_keys, help="payer keys")
    h.add_argument("--payment-timeout", type=float, default=d.payment_timeout, help="seconds")
    a = p.add_argument_group("attacks")
    a.add_argument("--only", default=None, help=f"comma-separated among {','.join(ATTACKS)}")
    a.add_argument("--skip", default="", help="comma-separated attacks to leave out")
    for name in (
        "quiet_seconds", "gap_seconds", "chunked_mib", "json_mib", "flood_connections",
        "flood_seconds", "ws", "ws_hold", "ws_open_concurrency", "scan_seconds",
        "scan_concurrency", "state_keys", "replays", "jam_large_keys", "jam_keys",
        "jam_nonces", "jam_observe",
    ):  # fmt: skip
        default = getattr(d, name)
        a.add_argument(f"--{name.replace('_', '-')}", type=type(default), default=default,
                       help=f"default {default:g}")  # fmt: skip
    a.add_argument("--ws-origin", default=None, help="Origin header of the WebSockets")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--check", action="store_true", help="exit 1 when a goal is missed")
    return p


def _node_config(pairs: list[str]) -> dict[str, Any] | str:
    config: dict[str, Any] = dict(PUBLIC_LOOPBACK)
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            return f"--node-config {pair!r}: expected KEY=JSON"
        try:
            config[key] = json.loads(value)
        except ValueError:
            return f"--node-config {pair!r}: the value after '=' must be JSON"
    return config


def _names(args: argparse.Namespace) -> list[str] | str:
    chosen = args.only.split(",") if args.only else list(ATTACKS)
    skipped = [s for s in args.skip.split(",") if s]
    unknown = [n for n in [*chosen, *skipped] if n not in ATTACKS]
    if unknown:
        return f"unknown attack {unknown[0]!r}; choose among {', '.join(ATTACKS)}"
    return [n for n in chosen if n not in skipped]


def _options(args: argparse.Namespace) -> AttackOptions | str:
    values = {f.name: getattr(args, f.name) for f in fields(AttackOptions) if hasattr(args, f.name)}
    options = AttackOptions(**values)
    if options.rate <= 0 or options.honest_keys < 1:
        return "--rate must be positive and --honest-keys at least 1"
    if options.honest_keys < options.rate * MIN_SENDERS_PER_RATE:
        options.honest_keys = int(options.rate * MIN_SENDERS_PER_RATE) + 1
    numbers = [getattr(options, f.name) for f in fields(options)]
    if any(isinstance(v, (int, float)) and v < 0 for v in numbers):
        return "sizes and durations must not be negative"
    if not 0 <= args.network <= MAX_NETWORK_VALIDATORS:
        return f"--network takes 1 to {MAX_NETWORK_VALIDATORS} validators"
    if args.network and (args.api or args.home):
        return "--network starts its own nodes; --api/--home attach to one"
    return options


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    names, options, config = _names(args), _options(args), _node_config(args.node_config)
    for problem in (names, options, config):
        if isinstance(problem, str):
            print(f"error: {problem}", file=sys.stderr)
            return 2
    assert isinstance(names, list) and isinstance(options, AttackOptions)
    assert isinstance(config, dict)
    args.node_config = config
    return finish(
        lambda: run(options, args, names, log_to_stderr), format_report, args, "attack run"
    )


if __name__ == "__main__":
    sys.exit(main())
