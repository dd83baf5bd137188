"""The light client against a live CometBFT 0.38 node (node0 of the four validators of power 1
in conftest.py, built-in kvstore app): CometBFT's own headers, commits and validator sets,
fetched over its RPC. The validator set change made with kvstore's `val=` transaction is the
test of test_light_cometbft_testnet.py marked changes_validator_set, which runs last."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import pytest
from light_cases import TAMPERS, refusal
from light_cometbft_nodes import Network

from citychain.light import (
    Check,
    LightClientError,
    fetch_signed_header,
    fetch_validators,
    header_hash,
    parse_light_block,
    parse_signed_header,
    validator_set_hash,
    verify_commit,
)
from citychain.net.ports import claim_ports

pytestmark = [pytest.mark.network, pytest.mark.xdist_group("network")]


def run(coroutine: Any) -> Any:
    return asyncio.run(coroutine)


async def _fetch(url: str, height: int, **kwargs: Any) -> dict[str, Any]:
    async with httpx.AsyncClient(timeout=10) as client:
        return {
            "signed_header": await fetch_signed_header(url, height, client, **kwargs),
            "validators": await fetch_validators(url, height, client, **kwargs),
        }


@pytest.fixture(scope="module")
def tx_block(kvstore_network: Network) -> dict[str, Any]:
    """The block after the one holding tx "a=b": its header carries the state after the tx."""
    node = kvstore_network.nodes[0]
    height = node.broadcast("a=b")
    block = run(_fetch(node.rpc_url, height + 1))  # may not be committed yet: fetch waits
    block["before"] = run(_fetch(node.rpc_url, height))
    return block


def test_live_header_hash_and_set_hash_are_cometbfts(tx_block: dict[str, Any]) -> None:
    block = parse_light_block(tx_block)
    header = block.signed_header.header
    assert header_hash(header) == block.signed_header.commit.block_id.hash
    assert validator_set_hash(block.validators) == header.validators_hash
    tally = verify_commit(header.chain_id, block.signed_header, block.validators)
    # four validators of power 1; a commit holds at least the 3 precommits of a quorum
    assert tally.total_power == 4 and 3 <= tally.signed_power <= 4


def test_the_tx_changes_the_app_hash_of_the_next_header(tx_block: dict[str, Any]) -> None:
    after = parse_signed_header(tx_block["signed_header"]).header
    before = parse_signed_header(tx_block["before"]["signed_header"]).header
    assert after.height == before.height + 1
    assert after.app_hash != before.app_hash


@pytest.mark.parametrize("name", sorted(TAMPERS))
def test_tampered_live_data_fails_with_its_own_check(tx_block: dict[str, Any], name: str) -> None:
    assert refusal(tx_block["signed_header"], tx_block["validators"], name) == TAMPERS[name][1]


def test_fetch_waits_for_a_height_not_committed_yet(kvstore_network: Network) -> None:
    node = kvstore_network.nodes[0]
    wanted = node.height() + 3
    started = time.monotonic()
    block = run(_fetch(node.rpc_url, wanted, wait=10))
    assert parse_signed_header(block["signed_header"]).header.height == wanted
    assert time.monotonic() - started < 10


def test_fetch_gives_up_after_the_wait(kvstore_network: Network) -> None:
    node = kvstore_network.nodes[0]
    with pytest.raises(LightClientError) as raised:
        run(_fetch(node.rpc_url, node.height() + 10_000, wait=0.5))
    assert raised.value.check == Check.RPC
    assert "not committed after waiting 0.5 s" in str(raised.value)


def test_fetch_reports_an_unreachable_node() -> None:
    with pytest.raises(LightClientError) as raised:
        run(_fetch(f"http://127.0.0.1:{claim_ports()}", 1, wait=0.2))  # ours: nobody listens
    assert raised.value.check == Check.RPC
