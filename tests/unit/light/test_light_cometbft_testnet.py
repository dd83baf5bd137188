"""The light client against four real CometBFT 0.38 validators (`cometbft testnet --v 4`, power
1 each): several real precommit signatures per commit, and a set ordered by address alone."""

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
    fetch_signed_header,
    fetch_validators,
    make_validator_set,
    parse_genesis_validators,
    parse_light_block,
    parse_signed_header,
    parse_validators,
    verify_chain,
    verify_commit,
    verify_commit_trusting,
)
from citychain.light.types import BlockIDFlag, LightBlock

pytestmark = pytest.mark.network


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
def blocks(four_validators: Network) -> list[dict[str, Any]]:
    return asyncio.run(_fetch(four_validators.nodes[0].rpc_url, [2, 3]))


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
    four_validators: Network, blocks: list[dict[str, Any]]
) -> None:
    genesis = parse_genesis_validators(four_validators.genesis)
    hops = [parse_light_block(b) for b in blocks]
    assert verify_chain(four_validators.genesis["chain_id"], genesis, hops).height == 3


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
