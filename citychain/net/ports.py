"""Loopback port blocks for local networks that several runs on one machine can share.

Blocks of 100 ports (10 per node, ``layout.NodeSpec.at``) lie below Linux's ephemeral range
(32768-60999), so that no outgoing connection takes a port a node is about to listen on. A
block is claimed by an flock on ``$TMPDIR/citychain-net-ports-BASE.lock``, held while the
caller uses it, and then checked by binding every port: the lock keeps two runs (a test suite
and a benchmark, say) from picking the same block between the check and the nodes' own binds,
and the bind check skips ports some other program already uses.
"""

from __future__ import annotations

import contextlib
import fcntl
import random
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path

from citychain.net.layout import PORTS_PER_NODE, NetError

__all__ = ["PORT_BLOCK", "port_free", "reserved_ports"]

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


@contextlib.contextmanager
def reserved_ports(nodes: int) -> Iterator[int]:
    """A base port whose ``nodes`` nodes' ports are free, held until the block exits."""
    count = PORTS_PER_NODE * nodes
    if count > PORT_BLOCK:
        raise NetError(f"at most {PORT_BLOCK // PORTS_PER_NODE} nodes fit a port block")
    blocks = list(range(PORT_LOW, PORT_HIGH - PORT_BLOCK, PORT_BLOCK))
    random.shuffle(blocks)
    for base in blocks:
        lock = open(Path(tempfile.gettempdir()) / f"citychain-net-ports-{base}.lock", "w")  # noqa: SIM115 - held for the block
        try:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue
            if all(port_free(port) for port in range(base, base + count)):
                yield base
                return
        finally:
            lock.close()
    raise NetError(f"no free block of {count} ports in {PORT_LOW}..{PORT_HIGH}")
