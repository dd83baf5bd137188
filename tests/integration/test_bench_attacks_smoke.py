"""``bench/attacks.py`` end to end at a tiny size against a fresh solo node: every section ran
and reported its figures, and the soak's goal windows (docs/hardening-bench.md).

Never a timed test, and not a test of the defences: what the node answers (and whether the
issue's goals are met) is the benchmark's to print, so nothing here asserts on it; only that
each attack was sent, each answer counted and each figure is present and consistent.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from citychain.benchmarks import attacks
from citychain.benchmarks.soak_report import windows

pytestmark = pytest.mark.timeout(300)

TINY = [
    "--rate", "4", "--honest-keys", "8", "--payment-timeout", "10",
    "--quiet-seconds", "1", "--gap-seconds", "0.2",
    "--chunked-mib", "2", "--json-mib", "1",
    "--flood-connections", "8", "--flood-seconds", "1",
    "--ws", "24", "--ws-hold", "0.5", "--ws-open-concurrency", "8",
    "--scan-seconds", "1", "--scan-concurrency", "2", "--state-keys", "50",
    "--replays", "2",
    "--jam-large-keys", "1", "--jam-keys", "3", "--jam-nonces", "3", "--jam-observe", "0.5",
    "--json",
]  # fmt: skip
SECTIONS = ["before", *attacks.ATTACKS, "after"]
LATENCIES = ("p50_ms", "p99_ms", "max_ms")


def run(capsys: pytest.CaptureFixture[str], argv: list[str]) -> tuple[int, dict[str, Any]]:
    code = attacks.main(argv)
    out = capsys.readouterr().out
    doc = json.loads(out)  # exactly one JSON object on stdout
    assert isinstance(doc, dict)
    return code, doc


def check_section(section: dict[str, Any]) -> None:
    assert isinstance(section["sent"], str) and section["sent"]
    assert isinstance(section["answers"], dict)
    assert all(isinstance(n, int) and n >= 0 for n in section["answers"].values())
    assert section["seconds"] >= 0
    honest = section["honest"]
    assert honest["sent"] == honest["committed"] + honest["failed"]
    assert sum(honest["outcomes"].values()) == honest["sent"]
    assert 0 <= honest["p50_ms"] <= honest["p99_ms"] <= honest["max_ms"]
    health = section["health"]
    assert 0 <= health["not_ok"] <= health["probes"]
    assert all(health[k] >= 0 for k in LATENCIES)
    assert all(mb > 0 for mb in section["rss_max_mb"].values())
    assert isinstance(section["node_alive_after"], bool)


def test_every_attack_runs_and_reports_its_figures(capsys: pytest.CaptureFixture[str]) -> None:
    code, r = run(capsys, TINY)
    assert code == 0  # it ran; without --check the goals do not decide the exit status
    assert r["benchmark"] == "attacks" and r["engine"] == "solo" and r["nodes"] == 1
    assert [s["name"] for s in r["sections"]] == SECTIONS
    for section in r["sections"]:
        check_section(section)
    by_name = {s["name"]: s for s in r["sections"]}
    # each attack sent what it says and counted every answer
    bodies = by_name["bodies"]
    assert sum(bodies["answers"].values()) == 2  # one chunked body, one JSON body
    assert 0 < bodies["figures"]["chunked_mib_sent"] <= 2.1
    assert sum(by_name["flood"]["answers"].values()) > 0
    assert by_name["flood"]["figures"]["answers_per_s"] > 0
    ws = by_name["websockets"]["answers"]
    opened = ws.get("accepted", 0)
    refused = sum(
        n for k, n in ws.items() if k != "accepted" and not k.startswith(("closed", "still"))
    )
    assert opened + refused == 24
    assert sum(n for k, n in ws.items() if k.startswith(("closed", "still"))) == opened
    assert sum(by_name["scans"]["answers"].values()) > 0
    assert by_name["scans"]["figures"]  # latency of both scans
    replay = by_name["replay"]
    assert replay.get("skipped") or sum(replay["answers"].values()) == 1 + 3 * 2
    assert by_name["junk"]["skipped"]
    jam = by_name["jam"]
    assert jam["figures"]["large_tx_bytes"] > 0
    assert sum(jam["answers"].values()) >= 1 * 3 + 3 * 3  # every transaction counted once
    # the honest client paid throughout, and the whole run adds up
    total = r["honest_total"]
    assert total["sent"] > 0
    assert total["sent"] >= sum(s["honest"]["sent"] for s in r["sections"])
    assert any(s["rss_max_mb"].get("node") for s in r["sections"])  # memory was sampled
    assert set(r["goals"]) == {"payments_commit", "p99_under_3s", "memory_under_1gb"}
    assert all(isinstance(g["met"], bool) and g["detail"] for g in r["goals"].values())


def test_bad_arguments_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert attacks.main(["--only", "nonsense"]) == 2
    assert "unknown attack" in capsys.readouterr().err
    assert attacks.main(["--rate", "0"]) == 2
    assert attacks.main(["--node-config", "novalue"]) == 2
    assert attacks.main(["--network", "4", "--api", "http://127.0.0.1:1"]) == 2


def test_soak_goal_windows_scale_with_the_run() -> None:
    # the 10th against 60th minute, each side 3 minutes wide; shorter runs scale
    assert windows(60) == (range(8, 11), range(58, 61))
    assert windows(3) == (range(1, 2), range(3, 4))
    assert windows(1) == (range(1, 2), range(1, 2))
