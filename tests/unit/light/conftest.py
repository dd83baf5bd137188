"""Fixtures that run real CometBFT 0.38 nodes on loopback (see light_cometbft_nodes.py).

Every process is started here and stopped here, whatever the test did; tests that use these
fixtures are marked `network` and skip when the set-up did not install .tools/bin/cometbft.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator

import pytest
from light_cometbft_nodes import Network, Node, free_port, require_cometbft, tune_config


@pytest.fixture(scope="module")
def single_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Network]:
    """One validator (power 10), kvstore, at height 2 or more."""
    binary = require_cometbft()
    home = tmp_path_factory.mktemp("cometbft")
    subprocess.run([str(binary), "init", "--home", str(home)], check=True, capture_output=True)
    tune_config(home)
    network = Network([Node(home, free_port(), free_port())])
    try:
        network.nodes[0].start()
        network.nodes[0].wait_for_height(2)
        yield network
    finally:
        for node in network.nodes:
            node.stop()


@pytest.fixture(scope="module")
def four_validators(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Network]:
    """Four validators of power 1 (`cometbft testnet --v 4`), peered on loopback, height >= 3."""
    binary = require_cometbft()
    root = tmp_path_factory.mktemp("testnet")
    subprocess.run(
        [str(binary), "testnet", "--v", "4", "--o", str(root),
         "--starting-ip-address", "127.0.0.1", "--populate-persistent-peers=false"],
        check=True, capture_output=True,
    )  # fmt: skip
    network = Network([Node(root / f"node{i}", free_port(), free_port()) for i in range(4)])
    try:
        for node in network.nodes:
            tune_config(node.home)
        addresses = [f"{n.node_id}@127.0.0.1:{n.p2p_port}" for n in network.nodes]
        for i, node in enumerate(network.nodes):
            node.start(",".join(a for j, a in enumerate(addresses) if j != i))
        network.nodes[0].wait_for_height(3, timeout=25)
        yield network
    finally:
        for node in network.nodes:
            node.stop()
