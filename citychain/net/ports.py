"""Loopback ports for local networks and test services that several runs on one machine share.

Blocks of 100 ports (10 per node, ``layout.NodeSpec.at``) lie below Linux's ephemeral range
(32768-60999), so that no outgoing connection and no ``bind(port 0)`` takes a port a node is
about to listen on. A block is claimed by an flock on ``$TMPDIR/citychain-net-ports-BASE.lock``
and then checked by binding its ports: the lock keeps two runs (two pytest-xdist workers, a test
suite and a benchmark, say) from picking the same port between the check and the listener's own
bind, and the bind check skips ports some other program already uses.

``reserved_ports`` holds a block while its caller uses it (a network); ``claim_ports`` hands out
single ports (a broker, a metrics listener) from blocks this process holds until it exits, so a
port stays ours across a restart of what listens on it.
"""

from __future__ import annotations

import contextlib
import fcntl
import random
import socket
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from citychain.net.layout import PORTS_PER_NODE, NetError

__all__ = ["PORT_BLOCK", "claim_ports", "hold_lock", "port_free", "reserved_ports"]

PORT_BLOCK = 100
PORT_LOW, PORT_HIGH = 20_000, 32_700


def port_free(port: int, host: str = "127.0.0.1") -> bool:
    """Whether a listener could bind ``host:port`` now. SO_REUSEADDR, as the node and CometBFT
    listeners set it, so that a port a stopped node left in TIME_WAIT counts as free."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def _blocks(prefer: int | None) -> list[int]:
    """Every block's base port: from ``prefer`` upwards then the rest, or in a random order."""
    blocks = list(range(PORT_LOW, PORT_HIGH - PORT_BLOCK, PORT_BLOCK))
    if prefer is None:
        random.shuffle(blocks)
        return blocks
    return [b for b in blocks if b >= prefer] + [b for b in blocks if b < prefer]


def hold_lock(path: Path) -> IO[str] | None:
    """``path`` opened and flocked, or None when another holder has it. The lock goes when the
    file is closed or its holder dies."""
    lock = open(path, "w")  # noqa: SIM115 - returned, held
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        lock.close()
        return None
    return lock


def _lock(base: int) -> IO[str] | None:
    """The held lock of block ``base``, or None when another holder has it."""
    return hold_lock(Path(tempfile.gettempdir()) / f"citychain-net-ports-{base}.lock")


@contextlib.contextmanager
def reserved_ports(nodes: int, *, prefer: int | None = None) -> Iterator[int]:
    """A base port whose ``nodes`` nodes' ports are free, their blocks held until the block
    exits (more than 10 nodes take consecutive blocks). ``prefer``: try the block starting there
    first, then those above it."""
    count = PORTS_PER_NODE * nodes
    span = -(-count // PORT_BLOCK)  # blocks
    for base in _blocks(prefer):
        if base + span * PORT_BLOCK > PORT_HIGH:
            continue
        with contextlib.ExitStack() as held:
            for block in range(base, base + span * PORT_BLOCK, PORT_BLOCK):
                lock = _lock(block)
                if lock is None:
                    break
                held.callback(lock.close)
            else:
                if all(port_free(port) for port in range(base, base + count)):
                    yield base
                    return
    raise NetError(f"no free range of {count} ports in {PORT_LOW}..{PORT_HIGH}")


@dataclass
class _Held:
    """A block this process holds until it exits, and the first port it has not handed out."""

    lock: IO[str]
    next: int
    end: int


_HELD: list[_Held] = []
_GUARD = threading.Lock()


def _take(held: _Held, count: int) -> int | None:
    start = held.next
    while start + count <= held.end:
        busy = [port for port in range(start, start + count) if not port_free(port)]
        if not busy:
            held.next = start + count
            return start
        start = busy[-1] + 1
    held.next = held.end
    return None


def claim_ports(count: int = 1) -> int:
    """The first of ``count`` consecutive free loopback ports, ours until this process exits:
    no other caller of ``claim_ports`` or ``reserved_ports``, here or in another process, gets
    them. For a listener whose port must be known before it starts (and kept across a restart)."""
    if not 1 <= count <= PORT_BLOCK:
        raise ValueError(f"count must be 1..{PORT_BLOCK}, got {count}")
    with _GUARD:
        for held in _HELD:
            port = _take(held, count)
            if port is not None:
                return port
        for base in _blocks(None):
            lock = _lock(base)
            if lock is None:
                continue
            held = _Held(lock, base, base + PORT_BLOCK)
            _HELD.append(held)
            port = _take(held, count)
            if port is not None:
                return port
    raise NetError(f"no {count} free consecutive ports in {PORT_LOW}..{PORT_HIGH}")
