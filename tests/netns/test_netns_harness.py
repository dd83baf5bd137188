"""The namespaced network's own parts: the delaying relay (run as the harness runs it, on
loopback, no root needed) and the sweep of what a dead run left behind (root)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import netns_harness
import pytest
from netns_harness import (
    BRIDGE_PREFIX,
    NS_PREFIX,
    RELAY,
    SLOTS,
    _ip,
    _lock,
    _namespaces,
    _ours,
    claim_slot,
    netns_unavailable,
    sweep_stale,
)
from netns_relay import source_for
from netutil import wait_until

from citychain.net.ports import claim_ports

DELAY_MS = 60
MESSAGE = b"ping"


@contextlib.contextmanager
def _echo_server() -> Iterator[tuple[int, list[str]]]:
    """A loopback echo server; yields its port and the client addresses it saw."""
    seen: list[str] = []
    server = socket.create_server(("127.0.0.1", claim_ports()))

    def serve() -> None:
        while True:
            try:
                conn, peer = server.accept()
            except OSError:
                return
            seen.append(peer[0])
            with conn:
                while data := conn.recv(1024):
                    conn.sendall(data)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield server.getsockname()[1], seen
    finally:
        server.close()


def _round_trip_ms(port: int) -> float:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        started = time.monotonic()
        sock.sendall(MESSAGE)
        assert sock.recv(16) == MESSAGE
        return (time.monotonic() - started) * 1000


def _set(control: Path, version: int, delay_ms: int) -> None:
    control.write_text(json.dumps({"version": version, "delay_ms": delay_ms}))
    applied = control.with_name(control.name + ".applied")
    wait_until(
        lambda: applied.exists() and int(applied.read_text() or 0) >= version,
        10,
        f"the relay to apply version {version}",
    )


def test_the_relay_delays_each_direction_and_changes_its_delay_while_running(
    tmp_path: Path,
) -> None:
    listen, control = claim_ports(), tmp_path / "relay.json"
    control.write_text(json.dumps({"version": 1, "delay_ms": DELAY_MS}))
    with _echo_server() as (target, seen):
        relay = subprocess.Popen(
            [sys.executable, str(RELAY), "--listen", f"127.0.0.1:{listen}",
             "--target", f"127.0.0.1:{target}", "--control", str(control)],
        )  # fmt: skip
        try:
            _set(control, 1, DELAY_MS)
            # There and back: two crossings of the relay, each delayed.
            assert _round_trip_ms(listen) >= 2 * DELAY_MS
            _set(control, 2, 0)
            assert min(_round_trip_ms(listen) for _ in range(3)) < DELAY_MS
        finally:
            relay.send_signal(signal.SIGTERM)
            relay.wait(10)
    # The target sees the client through a loopback address made from the client's own.
    assert seen and set(seen) == {source_for("127.0.0.1")}


def test_each_peer_reaches_the_node_from_its_own_loopback_address() -> None:
    assert source_for("10.213.7.3") == "127.213.7.3"
    assert source_for("10.213.7.4") != source_for("10.213.7.3")
    assert source_for("fd00::1") is None


def _free(slot: int) -> bool:
    lock = _lock(slot)
    if lock is None:
        return False
    lock.close()
    return True


def test_a_dead_runs_namespaces_links_and_processes_are_swept() -> None:
    reason = netns_unavailable()
    if reason is not None:
        pytest.skip(reason)
    # A slot from the top: live runs claim from the bottom, so none takes it meanwhile.
    slot = next(s for s in reversed(range(SLOTS)) if s not in _ours() and _free(s))
    namespace, bridge = f"{NS_PREFIX}{slot}-0", f"{BRIDGE_PREFIX}{slot}"
    _ip("netns", "add", namespace)
    _ip("link", "add", bridge, "type", "bridge")
    sleeper = subprocess.Popen(["ip", "netns", "exec", namespace, "sleep", "300"])
    try:
        wait_until(lambda: _ip("netns", "pids", namespace).stdout.split(), 10, "the sleeper")
        assert slot in sweep_stale()
        assert namespace not in _namespaces()
        assert _ip("link", "show", bridge, check=False).returncode != 0
        assert sleeper.wait(10) == -signal.SIGKILL
    finally:
        if sleeper.poll() is None:
            os.kill(sleeper.pid, signal.SIGKILL)
        _ip("netns", "del", namespace, check=False)
        _ip("link", "del", bridge, check=False)


def test_a_live_runs_slot_is_left_alone() -> None:
    reason = netns_unavailable()
    if reason is not None:
        pytest.skip(reason)
    slot, lock = claim_slot()
    namespace = f"{NS_PREFIX}{slot}-0"
    try:
        _ip("netns", "add", namespace)
        assert slot not in sweep_stale()
        assert namespace in _namespaces()
        other, other_lock = claim_slot()  # and a second run gets another slot
        other_lock.close()
        assert other != slot
    finally:
        _ip("netns", "del", namespace, check=False)
        lock.close()


def test_without_root_the_namespaced_tests_skip_saying_why(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(netns_harness, "_UNAVAILABLE", [])
    monkeypatch.setattr(netns_harness.os, "geteuid", lambda: 1000)
    reason = netns_harness.netns_unavailable()
    assert reason is not None and "need root" in reason
