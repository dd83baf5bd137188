"""The light client against headers recorded from a real CometBFT 0.38.26 node
(light_cometbft_vectors.json; how they were made is in its "about"). These run without the
binary; test_light_cometbft_node.py repeats the essentials against a live node."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from light_cases import TAMPERS, refusal

from citychain.crypto.keys import PrivateKey
from citychain.light import (
    Check,
    LightBlock,
    LightClientError,
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
from citychain.light.encoding import block_id_bytes, header_leaves, vote_sign_bytes
from citychain.light.rpc_render import signed_header_to_json, validators_to_json
from citychain.light.types import BlockIDFlag
from citychain.state import MerkleTree

VECTORS = json.loads((Path(__file__).parent / "light_cometbft_vectors.json").read_text())
CHAIN_ID: str = VECTORS["chain_id"]
BLOCKS: dict[int, dict[str, Any]] = {b["height"]: b for b in VECTORS["blocks"]}
TX_HEIGHT, CHANGE_HEIGHT = 1126, 1128


def light_block(height: int) -> LightBlock:
    return parse_light_block(BLOCKS[height])


@pytest.mark.parametrize("height", sorted(BLOCKS))
def test_header_hash_is_the_block_id_cometbft_signed(height: int) -> None:
    block = light_block(height)
    header = block.signed_header.header
    assert header_hash(header) == block.signed_header.commit.block_id.hash
    assert validator_set_hash(block.validators) == header.validators_hash


@pytest.mark.parametrize("height", sorted(BLOCKS))
def test_commit_verifies_and_counts_only_commit_slots(height: int) -> None:
    block = light_block(height)
    tally = verify_commit(CHAIN_ID, block.signed_header, block.validators)
    assert tally.total_power == (11 if height >= CHANGE_HEIGHT else 10)
    assert tally.signed_power == 10  # the added validator (power 1) never runs a node


@pytest.mark.parametrize("height", sorted(BLOCKS))
def test_rendering_parsed_rpc_json_gives_it_back(height: int) -> None:
    block = BLOCKS[height]
    assert (
        signed_header_to_json(parse_signed_header(block["signed_header"])) == block["signed_header"]
    )
    assert validators_to_json(parse_validators(block["validators"])) == block["validators"]


def test_first_block_has_an_empty_last_block_id_encoded_as_gogoproto_does() -> None:
    header = light_block(1).signed_header.header
    assert header.last_block_id.is_zero()
    # hash omitted, part_set_header (non-nullable) written empty: field 2, length 0
    assert block_id_bytes(header.last_block_id) == b"\x12\x00"
    assert header_leaves(header)[4] == b"\x12\x00"


def test_precommit_sign_bytes_layout() -> None:
    commit = light_block(2).signed_header.commit
    message = vote_sign_bytes(CHAIN_ID, commit, 0)
    assert message[0] == len(message) - 1  # varint length prefix (one byte here)
    body = message[1:]
    assert body[:2] == b"\x08\x02"  # type = SIGNED_MSG_TYPE_PRECOMMIT
    assert body[2:11] == b"\x11" + (2).to_bytes(8, "little")  # height, sfixed64
    # round 0 is omitted; the block ID follows (field 4)
    assert body[11] == 0x22
    assert body.endswith(b"\x32" + bytes([len(CHAIN_ID)]) + CHAIN_ID.encode())


def test_the_change_block_has_an_absent_slot_sorted_after_the_stronger_validator() -> None:
    block = light_block(CHANGE_HEIGHT)
    powers = [v.voting_power for v in block.validators.validators]
    assert powers == [10, 1]
    flags = [s.block_id_flag for s in block.signed_header.commit.signatures]
    assert flags == [BlockIDFlag.COMMIT, BlockIDFlag.ABSENT]
    before = light_block(CHANGE_HEIGHT - 1).signed_header.header
    assert before.next_validators_hash == validator_set_hash(block.validators)
    assert before.validators_hash != before.next_validators_hash


def test_genesis_file_gives_the_set_of_height_one() -> None:
    genesis = parse_genesis_validators(VECTORS["genesis"])
    assert validator_set_hash(genesis) == light_block(1).signed_header.header.validators_hash


@pytest.mark.parametrize(
    "heights",
    [
        [1],
        [CHANGE_HEIGHT],  # skipping from genesis straight over the change
        [TX_HEIGHT, CHANGE_HEIGHT - 1, CHANGE_HEIGHT, CHANGE_HEIGHT + 1],  # adjacent links
        [TX_HEIGHT, CHANGE_HEIGHT + 1],  # skipping over the change from a trusted header
        [1, 2, CHANGE_HEIGHT],
    ],
)
def test_chain_from_genesis_verifies(heights: list[int]) -> None:
    genesis = parse_genesis_validators(VECTORS["genesis"])
    header = verify_chain(CHAIN_ID, genesis, [light_block(h) for h in heights])
    assert header.height == heights[-1]


@pytest.mark.parametrize("name", sorted(TAMPERS))
@pytest.mark.parametrize("height", [2, TX_HEIGHT, CHANGE_HEIGHT])
def test_each_tamper_is_refused_by_its_own_check(height: int, name: str) -> None:
    block = BLOCKS[height]
    assert refusal(block["signed_header"], block["validators"], name) == TAMPERS[name][1]


def test_dropping_the_absent_validator_changes_the_set_hash() -> None:
    block = BLOCKS[CHANGE_HEIGHT]
    with pytest.raises(LightClientError) as raised:
        verify_commit(
            CHAIN_ID,
            parse_signed_header(block["signed_header"]),
            parse_validators(block["validators"][:1]),
        )
    assert raised.value.check == Check.VALIDATORS_HASH


def test_chain_reports_the_hop_and_check_that_failed() -> None:
    genesis = parse_genesis_validators(VECTORS["genesis"])
    hops = [light_block(TX_HEIGHT), light_block(CHANGE_HEIGHT - 1), light_block(CHANGE_HEIGHT)]
    bad = BLOCKS[CHANGE_HEIGHT]["validators"][:1]
    hops[2] = parse_light_block({**BLOCKS[CHANGE_HEIGHT], "validators": bad})
    with pytest.raises(LightClientError) as raised:
        verify_chain(CHAIN_ID, genesis, hops)
    assert (raised.value.hop, raised.value.height) == (2, CHANGE_HEIGHT)
    assert raised.value.check == Check.VALIDATORS_HASH
    assert str(raised.value).startswith(f"hop 2 (height {CHANGE_HEIGHT}): validators_hash: ")


def _real_bundle(**changes: Any) -> dict[str, Any]:
    """A bundle around real headers. kvstore's app hash is not our Merkle root, so the proof
    step must fail: reaching it shows the header chain verified."""
    tree = MerkleTree()
    tree.set(b"k", b"v")
    target = BLOCKS[CHANGE_HEIGHT + 1]
    bundle = {
        "version": 2,
        "engine": "cometbft",
        "chain_id": CHAIN_ID,
        "height": CHANGE_HEIGHT,
        "key": b"k".hex(),
        "value": b"v".hex(),
        "claim": {},
        "proof": tree.prove(b"k").to_json(),
        "signed_header": target["signed_header"],
        "validators": target["validators"],
        "trust_chain": [BLOCKS[CHANGE_HEIGHT]],
    }
    bundle.update(changes)
    return bundle


def test_real_bundle_passes_the_header_chain_and_stops_at_the_proof() -> None:
    genesis = [
        (v.pub_key, v.voting_power) for v in parse_genesis_validators(VECTORS["genesis"]).validators
    ]
    result = verify_cometbft_bundle(_real_bundle(), genesis)
    assert not result.valid
    assert result.reason.startswith("Merkle proof does not verify against app hash 0400")


def test_real_bundle_from_an_untrusted_genesis_is_refused_at_hop_zero() -> None:
    stranger = hashlib.sha256(b"not a validator").digest()
    result = verify_cometbft_bundle(
        _real_bundle(), [(PrivateKey.from_seed(stranger).public_key, 10)]
    )
    assert not result.valid
    assert result.details["check"] == "trust_level"
    assert result.details["hop"] == 0
    assert result.reason.startswith(f"trust_chain[0] (height {CHANGE_HEIGHT}): trust_level: ")
