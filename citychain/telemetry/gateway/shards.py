"""``citychain gateway --shards N``: N gateway processes (shards) and one anchorer.

Why processes: one gateway is one Python process, and its core is the limit (MQTT packet
handling and ingest hold the GIL; only Ed25519 verification runs beside it). N shards use N
cores. Shard k is ``citychain gateway --shard k/N --no-anchor --exit-with-parent`` with its own
store (``DIR/shard-k``) and MQTT session (client id ``...-kofN``); it subscribes to its buckets of
device topics only (citychain.telemetry.gateway.service.subscriptions), so that all of a
device's reports, and its replay counter, stay in one shard.

This process signs every anchor transaction, for every shard's store (``Anchorer``): one key
gives one nonce sequence, which two processes signing with it would fight over. One gateway
device serves all shards; their batch ids differ anyway (each hashes its own Merkle root).

A shard dies with this process: it watches its stdin, a pipe from here, and leaves at its end,
which comes also when this process is SIGKILLed. A shard that dies alone is restarted. A
restarted shard waits for its store's lock until its predecessor is gone, so two processes never
ingest into one store.
"""

from __future__ import annotations

import json
import logging
import select
import signal
import subprocess
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from citychain.telemetry.gateway.service import Anchorer
from citychain.telemetry.gateway.store import SHARDS_FILE

__all__ = ["ShardProcess", "ShardSupervisor", "write_layout"]

log = logging.getLogger("citychain.telemetry.gateway.shards")

ANCHOR_POLL_S = 0.1  # the shards cut batches in other processes: look for new ones this often
RESTART_DELAY_S = 1.0


def write_layout(root: Path, shards: int) -> None:
    """Record ``--shards N`` in ``root``, or refuse a different N (or an unsharded store there):
    a device's replay counter is in the store of the shard its bucket maps to, so the mapping
    must not change under existing stores."""
    root.mkdir(parents=True, exist_ok=True)
    layout = root / SHARDS_FILE
    if layout.exists():
        recorded = int(json.loads(layout.read_text())["shards"])
        if recorded != shards:
            raise ValueError(f"{root} holds a gateway of {recorded} shards, not {shards}")
        return
    if (root / "gateway.sqlite").exists():
        raise ValueError(f"{root} holds an unsharded gateway store; give a new --store")
    layout.write_text(json.dumps({"shards": shards}) + "\n")


class ShardProcess:
    """One shard: a child process running ``argv``, ready once it prints its "running" line."""

    def __init__(self, shard: int, argv: Sequence[str], env: dict[str, str]) -> None:
        self.shard = shard
        self.argv = list(argv)
        self.env = env
        self.process: subprocess.Popen[bytes] | None = None

    def spawn(self) -> None:
        # stdin is the pipe the shard watches; stderr (its log) is ours.
        self.process = subprocess.Popen(
            self.argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=self.env
        )

    def wait_ready(self, timeout: float) -> None:
        process = self.process
        assert process is not None and process.stdout is not None
        ready, _, _ = select.select([process.stdout], [], [], timeout)
        line = process.stdout.readline() if ready else b""
        try:
            running = bool(line) and json.loads(line).get("gateway") == "running"
        except ValueError:
            running = False
        if not running:
            self.kill()
            raise RuntimeError(f"shard {self.shard} did not start (exit {process.returncode})")

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def terminate(self) -> None:
        if self.alive():
            assert self.process is not None
            self.process.send_signal(signal.SIGTERM)

    def wait(self, timeout: float) -> None:
        process = self.process
        if process is None:
            return
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        self._close(process)

    def kill(self) -> None:
        process = self.process
        if process is not None:
            if process.poll() is None:
                process.kill()
                process.wait()
            self._close(process)

    def _close(self, process: subprocess.Popen[bytes]) -> None:
        for pipe in (process.stdin, process.stdout):
            if pipe is not None:
                pipe.close()
        self.process = None


class ShardSupervisor:
    """Starts the shards, restarts one that dies, and anchors every shard's batches."""

    def __init__(self, shards: Sequence[ShardProcess], anchorer: Anchorer) -> None:
        self.shards = list(shards)
        self.anchorer = anchorer
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._anchor_thread = threading.Thread(
            target=lambda: anchorer.loop(self._stop, self._wake, ANCHOR_POLL_S),
            name="gateway-anchor",
            daemon=True,
        )

    def start(self, timeout: float = 60.0) -> ShardSupervisor:
        self._anchor_thread.start()
        for shard in self.shards:  # all at once: each spends its first second importing
            shard.spawn()
        try:
            for shard in self.shards:
                shard.wait_ready(timeout)
        except RuntimeError:
            self.stop()
            raise
        return self

    def watch(self, done: threading.Event) -> None:
        """Until ``done``: restart any shard that exited."""
        while not done.wait(0.5):
            for shard in self.shards:
                if shard.alive() or done.is_set():
                    continue
                code = shard.process.returncode if shard.process is not None else None
                log.error("shard %d exited (%s); restarting it", shard.shard, code)
                shard.kill()
                time.sleep(RESTART_DELAY_S)
                try:
                    shard.spawn()
                    shard.wait_ready(60.0)
                except (OSError, RuntimeError):
                    log.exception("shard %d did not restart; trying again", shard.shard)

    def stop(self) -> None:
        """Stop the shards (each finishes its group and cuts nothing more), then anchor what
        they left pending, then stop anchoring."""
        for shard in self.shards:
            shard.terminate()
        for shard in self.shards:
            shard.wait(30.0)
        self._stop.set()
        self._wake.set()
        if self._anchor_thread.is_alive():
            self._anchor_thread.join(timeout=60)
        for store in self.anchorer.stores:
            store.close()
