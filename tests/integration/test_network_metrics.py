"""Each member's CometBFT serves the consensus metrics that docs/prometheus-alerts.yml watches.

`net keygen` turns on CometBFT's Prometheus listener on loopback (``[instrumentation]``); the
alert rules name ``cometbft_consensus_height``, ``cometbft_p2p_peers`` and
``cometbft_consensus_missing_validators``, so each must be there on a running network.
"""

from __future__ import annotations

import tomllib

import httpx
import pytest
from netutil import Network, requires_cometbft, wait_until

pytestmark = [
    pytest.mark.network,
    pytest.mark.slow,
    pytest.mark.xdist_group("network"),
    pytest.mark.timeout(300),
    requires_cometbft,
]

WATCHED = (
    "cometbft_consensus_height",
    "cometbft_p2p_peers",
    "cometbft_consensus_missing_validators",
)


def _metrics_address(net: Network, index: int) -> str:
    config = net.node_dir(index) / "cometbft" / "config" / "config.toml"
    with open(config, "rb") as handle:
        instrumentation = tomllib.load(handle)["instrumentation"]
    assert instrumentation["prometheus"] is True
    return str(instrumentation["prometheus_listen_addr"])


def _scrape(address: str) -> str:
    try:
        answer = httpx.get(f"http://{address}/metrics", timeout=5)
    except httpx.HTTPError:
        return ""
    return answer.text if answer.status_code == httpx.codes.OK else ""


@pytest.mark.consortium("read-only")
def test_every_member_serves_the_watched_consensus_metrics(consortium: Network) -> None:
    for index in consortium.everyone:
        address = _metrics_address(consortium, index)
        assert address.startswith("127.0.0.1:"), "metrics stay on loopback"
        text = wait_until(
            lambda address=address: (
                t if all(name in (t := _scrape(address)) for name in WATCHED) else None
            ),
            60,
            f"node{index}'s CometBFT metrics",
        )
        assert "cometbft_consensus_height" in text
