"""The light client against four real CometBFT 0.38 validators (`cometbft testnet --v 4`, power
1 each, conftest.py): several real precommit signatures per commit, a set ordered by address
alone, and last a validator set change made with kvstore's `val=` transaction.

The set change runs last on the network (marked ``changes_validator_set``; conftest.py orders
it): from then on every block needs all four original validators, since the fifth never runs."""

from __future__ import annotations

import asyncio
import base64
import copy
from typing import Any

import httpx
import pytest
from light_cometbft_nodes import Network

from citychain.crypto.keys import PrivateKey
from citychain.light import (
    Check,
    LightClientError,
    build_trust_chain,
    fetch_signed_header,
    fetch_validators,
    find_validator_set_changes,
    make_validator_set,
    parse_genesis_validators,
    parse_light_block,
    parse_signed_header,
    parse_validators,
    verify_chain,
    verify_cometbft_bundle,
    verify_commit,
    verify_commit_trusting,
)
from citychain.light.encoding import precommit_sign_bytes
from citychain.light.types import BlockIDFlag, CommitSig, LightBlock, SignedHeader, Timestamp
from citychain.state import MerkleTree

pytestmark = [pytest.mark.network, pytest.mark.xdist_group("network")]

NEW_VALIDATOR = PrivateKey.from_seed(b"\x07" * 32)


async def _fetch(url: str, heights: list[int]) -> list[dict[str, Any]]:
    async with httpx.AsyncClient(timeout=10) as client:
        return [
            {
                "signed_header": await fetch_signed_header(url, h, client),
                "validators": await fetch_validators(url, h, client),
            }
            for h in heights
        ]


@pytest.fixture(scope="module")
def blocks(kvstore_network: Network) -> list[dict[str, Any]]:
    return asyncio.run(_fetch(kvstore_network.nodes[0].rpc_url, [2, 3]))


def _signers(block: LightBlock) -> list[int]:
    sigs = block.signed_header.commit.signatures
    return [i for i, s in enumerate(sigs) if s.block_id_flag == BlockIDFlag.COMMIT]


def test_four_validator_commits_verify(blocks: list[dict[str, Any]]) -> None:
    for raw in blocks:
        block = parse_light_block(raw)
        addresses = [v.address for v in block.validators.validators]
        assert len(addresses) == 4 and addresses == sorted(addresses)  # equal power: by address
        tally = verify_commit(
            block.signed_header.header.chain_id, block.signed_header, block.validators
        )
        assert tally.total_power == 4 and tally.signed_power >= 3
        assert len(_signers(block)) == tally.signed_power


def test_chain_from_the_testnet_genesis(
    kvstore_network: Network, blocks: list[dict[str, Any]]
) -> None:
    genesis = parse_genesis_validators(kvstore_network.genesis)
    hops = [parse_light_block(b) for b in blocks]
    assert verify_chain(kvstore_network.genesis["chain_id"], genesis, hops).height == 3


def _refusal(raw: dict[str, Any], change: Any) -> Check:
    signed_header = copy.deepcopy(raw["signed_header"])
    change(signed_header["commit"]["signatures"])
    try:
        verify_commit(
            signed_header["header"]["chain_id"],
            parse_signed_header(signed_header),
            parse_validators(raw["validators"]),
        )
    except LightClientError as exc:
        return exc.check
    raise AssertionError("not refused")


def _flip(index: int) -> Any:
    def change(signatures: list[dict[str, Any]]) -> None:
        raw = bytearray(base64.b64decode(signatures[index]["signature"]))
        raw[-1] ^= 0x80
        signatures[index]["signature"] = base64.b64encode(bytes(raw)).decode()

    return change


def test_a_flipped_byte_in_any_signature_is_caught(blocks: list[dict[str, Any]]) -> None:
    raw = blocks[0]
    signers = _signers(parse_light_block(raw))
    for index in signers:
        assert _refusal(raw, _flip(index)) == Check.SIGNATURE
    first, second = signers[:2]

    def swap(signatures: list[dict[str, Any]]) -> None:
        signatures[first], signatures[second] = signatures[second], signatures[first]

    assert _refusal(raw, swap) == Check.VALIDATOR_ADDRESS


def test_trust_level_boundary_on_real_signatures(blocks: list[dict[str, Any]]) -> None:
    block = parse_light_block(blocks[0])
    chain_id = block.signed_header.header.chain_id
    commit = block.signed_header.commit
    real = [block.validators.validators[i] for i in _signers(block)]
    strangers = [PrivateKey.from_seed(bytes([200 + i]) * 32).public_key for i in range(2)]
    # one real signer among three trusted validators of equal power: exactly 1/3, refused
    one_third = make_validator_set([(real[0].pub_key, 1)] + [(k, 1) for k in strangers])
    with pytest.raises(LightClientError) as raised:
        verify_commit_trusting(chain_id, one_third, commit)
    assert raised.value.check == Check.TRUST_LEVEL
    # two real signers among three: 2/3, accepted
    two_thirds = make_validator_set([(v.pub_key, 1) for v in real[:2]] + [(strangers[0], 1)])
    assert verify_commit_trusting(chain_id, two_thirds, commit).signed_power == 2


# --- last: the validator set changes for good ----------------------------------------------------
@pytest.mark.changes_validator_set
def test_validator_set_change_trust_chain_and_bundle(kvstore_network: Network) -> None:
    node = kvstore_network.nodes[0]
    pub = base64.b64encode(NEW_VALIDATOR.public_key).decode()
    tx_height = node.broadcast(f"val=ed25519!{pub}!1")
    target_height = tx_height + 3  # the new set signs from tx_height + 2
    node.wait_for_height(target_height, timeout=60)

    async def gather() -> tuple[list[int], list[dict[str, Any]], dict[str, Any]]:
        async with httpx.AsyncClient(timeout=10) as client:
            changes = await find_validator_set_changes(node.rpc_url, 1, target_height, client)
            chain = await build_trust_chain(node.rpc_url, changes, client)
        (target,) = await _fetch(node.rpc_url, [target_height])
        return changes, chain, target

    changes, trust_chain, target = asyncio.run(gather())
    assert changes == [tx_height + 2]
    hop = parse_light_block(trust_chain[0])
    validators = hop.validators.validators
    assert [v.voting_power for v in validators] == [1] * 5
    assert [v.address for v in validators] == sorted(v.address for v in validators)
    new = next(i for i, v in enumerate(validators) if v.pub_key == NEW_VALIDATOR.public_key)
    # More than 2/3 of 5 is 4: every original validator signed, the new one (never started) not.
    flags = [s.block_id_flag for s in hop.signed_header.commit.signatures]
    assert flags == [BlockIDFlag.ABSENT if i == new else BlockIDFlag.COMMIT for i in range(5)]

    genesis = parse_genesis_validators(kvstore_network.genesis)
    chain_id = kvstore_network.genesis["chain_id"]
    hops = [hop, parse_light_block(target)]
    assert verify_chain(chain_id, genesis, hops).height == target_height

    # Our precommit sign bytes for CometBFT's real block ID: fill the absent slot ourselves.
    sh = hop.signed_header
    vote_time = Timestamp(sh.header.time.seconds + 1, 0)
    message = precommit_sign_bytes(chain_id, sh.commit.height, sh.commit.round,
                                   sh.commit.block_id, vote_time)  # fmt: skip
    filled = CommitSig(
        BlockIDFlag.COMMIT, validators[new].address, vote_time, NEW_VALIDATOR.sign(message)
    )
    signatures = tuple(filled if i == new else s for i, s in enumerate(sh.commit.signatures))
    commit = type(sh.commit)(sh.commit.height, sh.commit.round, sh.commit.block_id, signatures)
    tally = verify_commit(chain_id, SignedHeader(sh.header, commit), hop.validators)
    assert (tally.signed_power, tally.total_power) == (5, 5)

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
