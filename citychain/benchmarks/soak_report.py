"""The soak's goal check and its table (docs/hardening-bench.md).

Goal (issue 13, "Soak"): memory and p99 flat, a rise of under 10 % from the 10th to the 60th
minute. With ``--minutes M`` the early minute is M/6 (rounded, at least 1) and the late one M;
each side is a window of M/20 minutes (rounded, at least 1) ending there: memory is the mean of
each process's per-minute mean RSS in the window, p99 that of every payment sent in it.
"""

from __future__ import annotations

from typing import Any, Protocol

from citychain.benchmarks.attacks_honest import Payment, payment_figures

__all__ = ["GOAL_RISE", "format_soak", "soak_goals", "windows"]

GOAL_RISE = 0.10
EARLY_FRACTION = 6  # minute 10 of 60
WINDOW_FRACTION = 20  # 3 minutes of 60


class _Payments(Protocol):
    def window(self, start: float, end: float) -> tuple[list[Payment], int]: ...


def windows(minutes: int) -> tuple[range, range]:
    """The early and late windows (1-based minutes) of a run of ``minutes``."""
    early_end = max(1, round(minutes / EARLY_FRACTION))
    width = max(1, round(minutes / WINDOW_FRACTION))
    return range(max(1, early_end - width + 1), early_end + 1), range(
        max(1, minutes - width + 1), minutes + 1
    )


def _rise(early: float, late: float) -> float:
    return (late - early) / early if early > 0 else 0.0


def _memory(rows: list[dict[str, Any]], early: range, late: range) -> dict[str, Any]:
    def mean(window: range, group: str) -> float:
        values = [r["rss_mean_mb"][group] for r in rows if r["minute"] in window]
        values = [v for v in values if v]
        return sum(values) / len(values) if values else 0.0

    groups = sorted({g for r in rows for g in r["rss_mean_mb"]})
    rises = {g: (mean(early, g), mean(late, g)) for g in groups}
    if not rises:
        return {"met": False, "detail": "no memory sampled", "per_process": {}}
    worst = max(rises, key=lambda g: _rise(*rises[g]))
    rise = _rise(*rises[worst])
    return {
        "met": rise < GOAL_RISE,
        "detail": f"worst {worst}: {rises[worst][0]:,.0f} -> {rises[worst][1]:,.0f} MiB "
        f"({rise:+.1%})",
        "per_process": {
            g: {"early_mb": round(a, 1), "late_mb": round(b, 1), "rise": round(_rise(a, b), 4)}
            for g, (a, b) in rises.items()
        },
    }


def soak_goals(
    rows: list[dict[str, Any]], payer: _Payments, started: float, minute_seconds: float
) -> dict[str, dict[str, Any]]:
    minutes = len(rows)
    if not minutes:
        return {"memory_flat": {"met": False, "detail": "no minute completed"}}
    early, late = windows(minutes)

    def p99(window: range) -> float:
        start = started + (window.start - 1) * minute_seconds
        end = started + (window.stop - 1) * minute_seconds
        payments, skipped = payer.window(start, end)
        return float(payment_figures(payments, skipped)["p99_ms"])

    before, after = p99(early), p99(late)
    span = f"minutes {early.start}-{early.stop - 1} vs {late.start}-{late.stop - 1}"
    return {
        "memory_flat": {**_memory(rows, early, late), "windows": span},
        "p99_flat": {
            "met": before > 0 and _rise(before, after) < GOAL_RISE,
            "detail": f"{before:,.0f} -> {after:,.0f} ms ({_rise(before, after):+.1%})",
            "windows": span,
        },
    }


def _cell(value: float | None, fmt: str = ",.0f") -> str:
    return "-" if value is None else format(value, fmt)


def _row(row: dict[str, Any], apps: list[str]) -> str:
    p, reads, writes, rss = row["payments"], row["reads"], row["writes"], row["rss_mean_mb"]
    comet = [v for k, v in rss.items() if k.endswith("cometbft")]
    return (
        f"{row['minute']:>3}  {p['committed']:>4}/{p['sent']:<5}  {p['p50_ms']:>6,.0f}  "
        f"{p['p99_ms']:>6,.0f}  {_cell(row['block_s'], '.2f'):>7}  "
        f"{reads['count']:>5}({reads['failed']:>4})  "
        f"{writes['count']:>4}({writes['failed']:>3})    "
        + "  ".join(f"{_cell(rss.get(a)):>7}" for a in apps)
        + f"  {_cell(max(comet) if comet else None):>12}"
    )


def format_soak(r: dict[str, Any]) -> str:
    o = r["options"]
    apps = [p for p in r["processes"] if p.endswith(" app")]
    lines = [
        f"soak: {r['nodes']} CometBFT validators, {o['minutes']} x {o['minute_seconds']:g} s; "
        f"payments {o['rate']:g}/s, reads {o['read_rate']:g}/s, a write cycle every "
        f"{o['write_every']:g} s; {o['state_keys']:,} extra accounts",
        f"machine: {r['machine']['cpus']} cores, load {r['machine']['loadavg']} before, "
        f"{r['loadavg_after']} after",
        *[f"note: {note}" for note in r["notes"]],
        "",
        "min  paid/sent   p50 ms  p99 ms  block s  reads(bad)   writes(bad)  "
        + "  ".join(f"{a.split()[0]:>7}" for a in apps)
        + "  cometbft max  (RSS MiB, mean)",
    ]
    lines += [_row(row, apps) for row in r["minutes"]]
    failures: dict[str, int] = {}
    for row in r["minutes"]:
        for part in ("reads", "writes"):
            for key, count in row[part]["failures"].items():
                failures[key] = failures.get(key, 0) + count
    if failures:
        lines += [
            "",
            "failed reads and writes: " + ", ".join(f"{k} x{v}" for k, v in failures.items()),
        ]
    lines += ["", "goals (issue 13, soak):"]
    for name, goal in r["goals"].items():
        where = f" [{goal['windows']}]" if "windows" in goal else ""
        lines.append(
            f"  {name:<12} {'met' if goal['met'] else 'MISSED':<7} {goal['detail']}{where}"
        )
    return "\n".join(lines)
