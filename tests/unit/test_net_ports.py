"""Loopback ports that two processes on one machine (two pytest-xdist workers, a suite and a
benchmark) never both take: ``claim_ports`` and ``reserved_ports`` (citychain/net/ports.py)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from citychain.net.layout import PORTS_PER_NODE
from citychain.net.ports import (
    PORT_BLOCK,
    PORT_HIGH,
    PORT_LOW,
    claim_ports,
    port_free,
    reserved_ports,
)

EPHEMERAL_LOW = 32_768  # Linux's default ip_local_port_range starts here


def _in_another_process(code: str) -> object:
    """Run ``code`` (which prints one JSON value) in a fresh interpreter; its value."""
    done = subprocess.run(
        [sys.executable, "-c", f"import json\nfrom citychain.net.ports import *\n{code}"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return json.loads(done.stdout)


def _block(port: int) -> int:
    return port - (port - PORT_LOW) % PORT_BLOCK


def test_claimed_ports_are_free_distinct_and_below_the_ephemeral_range() -> None:
    single = [claim_ports() for _ in range(5)]
    run = claim_ports(3)
    ports = [*single, run, run + 1, run + 2]
    assert len(set(ports)) == len(ports)
    assert all(PORT_LOW <= p < PORT_HIGH < EPHEMERAL_LOW for p in ports)
    assert all(port_free(p) for p in ports)
    with pytest.raises(ValueError):
        claim_ports(PORT_BLOCK + 1)


def test_another_process_never_gets_a_claimed_or_reserved_port() -> None:
    claimed = claim_ports()
    with reserved_ports(4) as base:
        theirs = _in_another_process(
            "ports = [claim_ports() for _ in range(20)]\n"
            f"with reserved_ports(4, prefer={base}) as a, "
            f"reserved_ports(4, prefer={_block(claimed)}) as b:\n"
            "    print(json.dumps({'claimed': ports, 'reserved': [a, b]}))"
        )
    assert isinstance(theirs, dict)
    taken = {_block(claimed), base}
    assert not {_block(p) for p in theirs["claimed"]} & taken, theirs
    assert not set(theirs["reserved"]) & taken, theirs


def test_more_than_ten_nodes_take_consecutive_blocks_held_together() -> None:
    nodes = 16  # citychain demo --network 16 (+1 for a member added later)
    with reserved_ports(nodes + 1) as base:
        assert base + PORTS_PER_NODE * (nodes + 1) <= PORT_HIGH
        assert all(port_free(p) for p in range(base, base + PORTS_PER_NODE * (nodes + 1)))
        second = base + PORT_BLOCK
        theirs = _in_another_process(
            f"with reserved_ports(1, prefer={second}) as b:\n    print(json.dumps(b))"
        )
    assert theirs not in (base, second)
