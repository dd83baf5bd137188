"""One network of real CometBFT 0.38 nodes on loopback (see light_cometbft_nodes.py), shared by
test_light_cometbft_node.py and test_light_cometbft_testnet.py.

Four validators of power 1 (`cometbft testnet --v 4`), kvstore, peered on loopback. It is
started once per session (per pytest-xdist worker: its tests are in the xdist group "network",
so one worker runs them), at the first test that asks for it, and stopped as soon as no next
test does, whatever the tests did. The tests only read it, except those marked
``changes_validator_set`` (kvstore's ``val=`` transaction adds a validator), which run last
(pytest_collection_modifyitems below). Tests that use the network are marked `network` and skip
when the set-up did not install .tools/bin/cometbft.
"""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Iterator

import pytest
from light_cometbft_nodes import Network, Node, require_cometbft, tune_config

from citychain.net.ports import reserved_ports

VALIDATORS = 4
FIXTURE = "kvstore_network"
LAST = "changes_validator_set"  # the marker of the tests that must run last on the network


class _Shared:
    """The session's network, stopped between uses and started again if a later test asks."""

    def __init__(self) -> None:
        self.forget()

    def forget(self) -> None:
        self.network: Network | None = None
        self.stopped = False
        self.top = 3  # every node has committed this height, once started
        self.changed = False  # a test changed the validator set

    def start(self) -> None:
        assert self.network is not None
        nodes = self.network.nodes
        addresses = [f"{n.node_id}@127.0.0.1:{n.p2p_port}" for n in nodes]
        for i, node in enumerate(nodes):
            node.start(",".join(a for j, a in enumerate(addresses) if j != i))
        for node in nodes:
            node.wait_for_height(self.top, timeout=60)
        self.stopped = False

    def stop(self) -> None:
        if self.network is not None and not self.stopped:
            with contextlib.suppress(Exception):
                self.top = max(node.height() for node in self.network.nodes)
            for node in self.network.nodes:
                node.stop()
            self.stopped = True


_SHARED = _Shared()


@pytest.fixture(scope="session")
def kvstore_network(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Network]:
    """Four validators of power 1, peered on loopback, at height 3 or more."""
    binary = require_cometbft()
    root = tmp_path_factory.mktemp("testnet")
    subprocess.run(
        [str(binary), "testnet", "--v", str(VALIDATORS), "--o", str(root),
         "--starting-ip-address", "127.0.0.1", "--populate-persistent-peers=false"],
        check=True, capture_output=True,
    )  # fmt: skip
    # Each node's RPC and P2P ports: two of its block of ten, the block held until the end.
    with reserved_ports(VALIDATORS) as base:
        network = Network(
            [Node(root / f"node{i}", base + 10 * i, base + 10 * i + 1) for i in range(VALIDATORS)]
        )
        _SHARED.network = network
        try:
            for node in network.nodes:
                tune_config(node.home)
            _SHARED.start()
            yield network
        finally:
            _SHARED.stop()
            _SHARED.forget()


def _uses_network(item: pytest.Item) -> bool:
    return FIXTURE in getattr(item, "fixturenames", ())


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Put the network's tests together, where the first of them was, those marked
    ``changes_validator_set`` last (the others expect the genesis validators)."""
    users = [item for item in items if _uses_network(item)]
    if not users:
        return
    first = items.index(users[0])
    ordered = sorted(users, key=lambda item: item.get_closest_marker(LAST) is not None)
    chosen = set(map(id, users))
    rest = [item for item in items if id(item) not in chosen]
    items[:] = rest[:first] + ordered + rest[first:]


def pytest_runtest_setup(item: pytest.Item) -> None:
    if not _uses_network(item):
        return
    assert not _SHARED.changed, (
        f"{item.nodeid} runs after a test changed the validator set of the shared network"
    )
    if item.get_closest_marker(LAST):
        _SHARED.changed = True
    if _SHARED.stopped:
        _SHARED.start()


@pytest.hookimpl(trylast=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> None:
    """Stop the network once no next test needs it: its nodes would go on making blocks beside
    the rest of the suite."""
    if FIXTURE not in getattr(item, "fixturenames", ()):
        return
    if nextitem is None or FIXTURE not in getattr(nextitem, "fixturenames", ()):
        _SHARED.stop()
