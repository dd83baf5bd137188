"""The goals of issue 13 ("Must show") against ``bench/attacks.py``'s figures, and the text
report (docs/hardening-bench.md).

- **honest payments keep committing**: every section in which the honest client paid saw
  payments commit, and at least 99 % of all it tried (sent, or skipped because every payer
  key was still waiting) committed;
- **p99 under 3 s** in every section, over the committed payments and the ones never answered;
- **memory under 1 GB**: every sampled process tree of the node stayed under 1 GiB.

``finish`` ends a run of either script (``bench/soak.py`` too): the report printed, the exit
status.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from typing import Any

from citychain.client import ClientError
from citychain.crypto import KeystoreError
from citychain.net.layout import NetError

__all__ = [
    "GOAL_COMMITTED_SHARE",
    "GOAL_MEMORY_MB",
    "GOAL_P99_MS",
    "finish",
    "format_report",
    "goals",
    "log_to_stderr",
]

GOAL_P99_MS = 3_000.0
GOAL_MEMORY_MB = 1_024.0
GOAL_COMMITTED_SHARE = 0.99
MAX_ANSWERS_SHOWN = 12


def goals(sections: list[dict[str, Any]], total: dict[str, Any]) -> dict[str, dict[str, Any]]:
    tried = total["sent"] + total["skipped"]
    share = total["committed"] / tried if tried else 0.0
    stalled = [s["name"] for s in sections if s["honest"]["sent"] and not s["honest"]["committed"]]
    if not tried:
        stalled = ["(no payment was sent)"]
    p99 = {s["name"]: s["honest"]["p99_ms"] for s in sections if s["honest"]["sent"]}
    worst_p99 = max(p99, key=lambda name: p99[name]) if p99 else None
    memory = {(s["name"], group): mb for s in sections for group, mb in s["rss_max_mb"].items()}
    worst_memory = max(memory, key=lambda key: memory[key]) if memory else None
    return {
        "payments_commit": {
            "met": not stalled and share >= GOAL_COMMITTED_SHARE,
            "detail": f"{total['committed']:,} of {tried:,} committed ({share:.1%}); "
            + (f"none committed in: {', '.join(stalled)}" if stalled else "every section"),
        },
        "p99_under_3s": {
            "met": worst_p99 is not None
            and not stalled
            and all(v < GOAL_P99_MS for v in p99.values()),
            "detail": f"worst p99 {p99[worst_p99]:,.0f} ms in {worst_p99}"
            if worst_p99
            else "no payment",
        },
        "memory_under_1gb": {
            "met": worst_memory is not None and memory[worst_memory] < GOAL_MEMORY_MB,
            "detail": f"max {memory[worst_memory]:,.0f} MiB ({worst_memory[1]}, {worst_memory[0]})"
            if worst_memory
            else "not sampled (no process id)",
        },
    }


def _answers(answers: dict[str, int]) -> str:
    if not answers:
        return "-"
    items = list(answers.items())
    shown = ", ".join(f"{name} x{count:,}" for name, count in items[:MAX_ANSWERS_SHOWN])
    more = len(items) - MAX_ANSWERS_SHOWN
    return shown + (f", and {more} more" if more > 0 else "")


def _honest(h: dict[str, Any]) -> str:
    failed = ", ".join(f"{k} x{v}" for k, v in h["outcomes"].items() if k != "committed")
    return (
        f"{h['sent']} sent, {h['committed']} committed, {h['failed']} failed"
        + (f" ({failed})" if failed else "")
        + (f", {h['skipped']} skipped (all payers waiting)" if h["skipped"] else "")
        + f"; p50 {h['p50_ms']:,.0f} ms, p99 {h['p99_ms']:,.0f} ms, max {h['max_ms']:,.0f} ms"
    )


def _section(s: dict[str, Any]) -> list[str]:
    rss = ", ".join(f"{name} {mb:,.0f}" for name, mb in s["rss_max_mb"].items()) or "not sampled"
    health = s["health"]
    lines = [
        f"== {s['name']}: {s['title']} ({s['seconds']:.1f} s)",
        f"   sent:     {s['sent']}",
        f"   answered: {_answers(s['answers'])}",
    ]
    if s.get("figures"):
        lines.append("   figures:  " + ", ".join(f"{k} {v}" for k, v in s["figures"].items()))
    for label, log in s.get("samples", {}).items():
        lines.append(f"   log:      {label}: {log}")
    for key in ("skipped", "error"):
        if s.get(key):
            lines.append(f"   {key}:  {s[key]}")
    lines += [
        f"   honest:   {_honest(s['honest'])}",
        f"   /health:  p50 {health['p50_ms']:,.0f} ms, p99 {health['p99_ms']:,.0f} ms, max "
        f"{health['max_ms']:,.0f} ms, {health['not_ok']} of {health['probes']} not 200",
        f"   max RSS:  {rss} MiB" + ("" if s["node_alive_after"] else "; A NODE PROCESS EXITED"),
    ]
    return lines


def format_report(r: dict[str, Any]) -> str:
    lines = [
        f"attacks on a {r['engine']} node ({r['nodes']} node(s)), attacked API {r['url']}, "
        f"attacker address {r['attacker_address'] or 'any'}, "
        + (f"{r['state_keys']:,} extra" if r["state_keys"] is not None else "its own")
        + f" accounts in state; honest client {r['options']['rate']:g} payments/s",
        f"machine: {r['machine']['cpus']} cores, load {r['machine']['loadavg']} before, "
        f"{r['loadavg_after']} after",
    ]
    lines += [f"note: {note}" for note in r["notes"]]
    for section in r["sections"]:
        lines += ["", *_section(section)]
    lines += [
        "",
        f"honest client, whole run: {_honest(r['honest_total'])}",
        "",
        "goals (issue 13):",
    ]
    for name, goal in r["goals"].items():
        lines.append(f"  {name:<18} {'met' if goal['met'] else 'MISSED':<7} {goal['detail']}")
    return "\n".join(lines)


# --- how a run ends -------------------------------------------------------------------------
RUN_ERRORS = (RuntimeError, ValueError, OSError, ClientError, KeystoreError, NetError)


def log_to_stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def finish(
    run: Callable[[], dict[str, Any]],
    text: Callable[[dict[str, Any]], str],
    args: argparse.Namespace,
    what: str,
) -> int:
    """Run, print the report (``--json``: one JSON object) and give the exit status: 1 when the
    run could not start or finish, or with ``--check`` when one of ``report["goals"]`` was
    missed; else 0."""
    try:
        report = run()
    except RUN_ERRORS as exc:
        print(f"error: the {what} could not start or finish: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(report) if args.json else text(report))
    missed = [name for name, goal in report["goals"].items() if not goal["met"]]
    return 1 if args.check and missed else 0
