"""The light client against a live CometBFT 0.38 node (one validator, built-in kvstore app):
CometBFT's own headers, commits and validator sets, fetched over its RPC, including a validator
set change made with kvstore's `val=` transaction."""

from __future__ import annotations

import asyncio
import base64
import time
from typing import Any

import httpx
import pytest
from light_cases import TAMPERS, refusal
from light_cometbft_nodes import Network, free_port

from citychain.crypto.keys import PrivateKey
from citychain.light import (
    Check,
    LightClientError,
    build_trust_chain,
    fetch_signed_header,
    fetch_validators,
    find_validator_set_changes,
    header_hash,
    parse_genesis_validators,
    parse_light_block,
    parse_signed_header,
    parse_validators,
    validator_set_hash,
    verify_chain,
    verify_cometbft_bundle,
    verify_commit,
)
from citychain.light.encoding import precommit_sign_bytes
from citychain.light.types import BlockIDFlag, CommitSig, SignedHeader, Timestamp
from citychain.state import MerkleTree

pytestmark = pytest.mark.network

NEW_VALIDATOR = PrivateKey.from_seed(b"\x07" * 32)


def run(coroutine: Any) -> Any:
    return asyncio.run(coroutine)


async def _fetch(url: str, height: int, **kwargs: Any) -> dict[str, Any]:
    async with httpx.AsyncClient(timeout=10) as client:
        return {
            "signed_header": await fetch_signed_header(url, height, client, **kwargs),
            "validators": await fetch_validators(url, height, client, **kwargs),
        }


@pytest.fixture(scope="module")
def tx_block(single_node: Network) -> dict[str, Any]:
    """The block after the one holding tx "a=b": its header carries the state after the tx."""
    node = single_node.nodes[0]
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
    assert (tally.signed_power, tally.total_power) == (10, 10)


def test_the_tx_changes_the_app_hash_of_the_next_header(tx_block: dict[str, Any]) -> None:
    after = parse_signed_header(tx_block["signed_header"]).header
    before = parse_signed_header(tx_block["before"]["signed_header"]).header
    assert after.height == before.height + 1
    assert after.app_hash != before.app_hash


@pytest.mark.parametrize("name", sorted(TAMPERS))
def test_tampered_live_data_fails_with_its_own_check(tx_block: dict[str, Any], name: str) -> None:
    assert refusal(tx_block["signed_header"], tx_block["validators"], name) == TAMPERS[name][1]


def test_fetch_waits_for_a_height_not_committed_yet(single_node: Network) -> None:
    node = single_node.nodes[0]
    wanted = node.height() + 3
    started = time.monotonic()
    block = run(_fetch(node.rpc_url, wanted, wait=10))
    assert parse_signed_header(block["signed_header"]).header.height == wanted
    assert time.monotonic() - started < 10


def test_fetch_gives_up_after_the_wait(single_node: Network) -> None:
    node = single_node.nodes[0]
    with pytest.raises(LightClientError) as raised:
        run(_fetch(node.rpc_url, node.height() + 10_000, wait=0.5))
    assert raised.value.check == Check.RPC
    assert "not committed after waiting 0.5 s" in str(raised.value)


def test_fetch_reports_an_unreachable_node() -> None:
    with pytest.raises(LightClientError) as raised:
        run(_fetch(f"http://127.0.0.1:{free_port()}", 1, wait=0.2))
    assert raised.value.check == Check.RPC


def test_validator_set_change_trust_chain_and_bundle(single_node: Network) -> None:
    node = single_node.nodes[0]
    pub = base64.b64encode(NEW_VALIDATOR.public_key).decode()
    tx_height = node.broadcast(f"val=ed25519!{pub}!1")
    target_height = tx_height + 3  # the new set signs from tx_height + 2
    node.wait_for_height(target_height)

    async def gather() -> tuple[list[int], list[dict[str, Any]], dict[str, Any]]:
        async with httpx.AsyncClient(timeout=10) as client:
            changes = await find_validator_set_changes(node.rpc_url, 1, target_height, client)
            chain = await build_trust_chain(node.rpc_url, changes, client)
        return changes, chain, await _fetch(node.rpc_url, target_height)

    changes, trust_chain, target = run(gather())
    assert changes == [tx_height + 2]
    hop = parse_light_block(trust_chain[0])
    assert [v.voting_power for v in hop.validators.validators] == [10, 1]
    assert [s.block_id_flag for s in hop.signed_header.commit.signatures] == [
        BlockIDFlag.COMMIT,
        BlockIDFlag.ABSENT,
    ]

    genesis = parse_genesis_validators(single_node.genesis)
    chain_id = single_node.genesis["chain_id"]
    hops = [hop, parse_light_block(target)]
    assert verify_chain(chain_id, genesis, hops).height == target_height

    # Our precommit sign bytes for CometBFT's real block ID: fill the absent slot ourselves.
    sh = hop.signed_header
    vote_time = Timestamp(sh.header.time.seconds + 1, 0)
    message = precommit_sign_bytes(chain_id, sh.commit.height, sh.commit.round,
                                   sh.commit.block_id, vote_time)  # fmt: skip
    filled = CommitSig(
        BlockIDFlag.COMMIT,
        hop.validators.validators[1].address,
        vote_time,
        NEW_VALIDATOR.sign(message),
    )
    signatures = (sh.commit.signatures[0], filled)
    commit = type(sh.commit)(sh.commit.height, sh.commit.round, sh.commit.block_id, signatures)
    tally = verify_commit(chain_id, SignedHeader(sh.header, commit), hop.validators)
    assert (tally.signed_power, tally.total_power) == (11, 11)

    # A bundle over real headers: kvstore's app hash is not our Merkle root, so the bundle
    # must get through the whole header chain and stop at the proof.
    tree = MerkleTree()
    tree.set(b"a", b"b")
    bundle = {
        "version": 2,
        "engine": "cometbft",
        "chain_id": chain_id,
        "height": target_height - 1,
        "key": b"a".hex(),
        "value": b"b".hex(),
        "claim": {},
        "proof": tree.prove(b"a").to_json(),
        **target,
        "trust_chain": trust_chain,
    }
    genesis_keys = [(v.pub_key, v.voting_power) for v in genesis.validators]
    result = verify_cometbft_bundle(bundle, genesis_keys)
    assert result.reason.startswith("Merkle proof does not verify against app hash"), result
    stranger = [(PrivateKey.from_seed(b"\x08" * 32).public_key, 10)]
    refused = verify_cometbft_bundle(bundle, stranger)
    assert (refused.details["check"], refused.details["hop"]) == ("trust_level", 0)
    assert parse_validators(target["validators"]) == hop.validators
