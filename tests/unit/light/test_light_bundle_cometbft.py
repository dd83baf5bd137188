"""Version-2 (CometBFT) proof bundles, end to end on a synthetic chain: a real Merkle state
whose root is the app hash of a header signed by PyNaCl validators, through set changes."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from light_synth import CHAIN_ID, members, signed_block

from citychain.crypto.address import address_from_public_key, address_to_bytes
from citychain.crypto.keys import PrivateKey
from citychain.light import verify_cometbft_bundle
from citychain.light.rpc_render import light_block_to_json
from citychain.modules.bank.state import balance_key
from citychain.state import MerkleTree

GENESIS = {1: 1, 2: 1, 3: 1, 4: 1}
SET_A = {1: 1, 2: 1, 3: 1, 5: 1}
SET_B = {3: 1, 5: 1, 6: 1, 7: 1}
HOLDER = PrivateKey.from_seed(b"\x42" * 32).public_key
HOLDER_ADDRESS = address_from_public_key(HOLDER)
STATE_HEIGHT = 29
AMOUNT = 1250


def _state() -> tuple[MerkleTree, bytes, bytes]:
    tree = MerkleTree()
    key = balance_key(address_to_bytes(HOLDER_ADDRESS), "ccy")
    value = AMOUNT.to_bytes(8, "big")
    tree.set(key, value)
    tree.set(b"other/key", b"other value")
    return tree, key, value


def make_bundle() -> dict[str, Any]:
    tree, key, value = _state()
    genesis, a, b = members(GENESIS), members(SET_A), members(SET_B)
    target = signed_block(b, STATE_HEIGHT + 1, app_hash=tree.root())
    target_json = light_block_to_json(target)
    return {
        "version": 2,
        "engine": "cometbft",
        "chain_id": CHAIN_ID,
        "height": STATE_HEIGHT,
        "key": key.hex(),
        "value": value.hex(),
        "claim": {"kind": "balance", "address": HOLDER_ADDRESS, "denom": "ccy", "amount": AMOUNT},
        "proof": tree.prove(key).to_json(),
        "signed_header": target_json["signed_header"],
        "validators": target_json["validators"],
        "trust_chain": [
            light_block_to_json(signed_block(a, 10, next_signers=a)),
            light_block_to_json(signed_block(b, 20)),
        ],
        "_genesis": genesis,
    }


@pytest.fixture
def bundle() -> dict[str, Any]:
    return make_bundle()


def genesis_of(bundle: dict[str, Any]) -> list[tuple[bytes, int]]:
    return [(v.pub_key, v.voting_power) for v in bundle.pop("_genesis").validators.validators]


def test_valid_bundle_from_genesis(bundle: dict[str, Any]) -> None:
    genesis = genesis_of(bundle)
    json.dumps(bundle)  # a bundle is plain JSON
    result = verify_cometbft_bundle(bundle, genesis)
    assert result.valid, result.reason
    assert result.details["validators_from"] == "genesis"
    assert (result.details["height"], result.details["header_height"]) == (29, 30)
    assert result.details["hops"] == 3
    assert result.details["present"] is True


def test_without_genesis_the_bundle_trusts_its_own_first_set(bundle: dict[str, Any]) -> None:
    bundle.pop("_genesis")
    result = verify_cometbft_bundle(bundle, None)
    assert result.valid, result.reason
    assert result.details["validators_from"] == "bundle"


def test_missing_trust_chain_fails_the_skip_from_genesis(bundle: dict[str, Any]) -> None:
    genesis = genesis_of(bundle)
    bundle["trust_chain"] = []
    result = verify_cometbft_bundle(bundle, genesis)
    assert not result.valid
    assert result.details["check"] == "trust_level"
    assert result.reason.startswith("signed_header (height 30): trust_level: ")


def test_another_genesis_is_refused_at_the_first_hop(bundle: dict[str, Any]) -> None:
    bundle.pop("_genesis")
    stranger = [(PrivateKey.from_seed(b"\x55" * 32).public_key, 5)]
    result = verify_cometbft_bundle(bundle, stranger)
    assert not result.valid
    assert (result.details["check"], result.details["hop"]) == ("trust_level", 0)
    assert result.reason.startswith("trust_chain[0] (height 10): ")


def test_a_changed_value_breaks_the_proof(bundle: dict[str, Any]) -> None:
    genesis = genesis_of(bundle)
    bundle["value"] = (AMOUNT + 1).to_bytes(8, "big").hex()
    bundle["claim"]["amount"] = AMOUNT + 1
    result = verify_cometbft_bundle(bundle, genesis)
    assert not result.valid
    assert result.reason.startswith("Merkle proof does not verify")


def test_a_wrong_claim_is_refused(bundle: dict[str, Any]) -> None:
    genesis = genesis_of(bundle)
    bundle["claim"]["amount"] = AMOUNT + 1
    result = verify_cometbft_bundle(bundle, genesis)
    assert not result.valid
    assert result.reason == f"claim says balance {AMOUNT + 1}, the proof shows {AMOUNT}"


def test_the_header_must_be_at_state_height_plus_one(bundle: dict[str, Any]) -> None:
    genesis = genesis_of(bundle)
    bundle["height"] = STATE_HEIGHT + 1
    result = verify_cometbft_bundle(bundle, genesis)
    assert not result.valid
    assert result.details["check"] == "height"


def test_the_chain_id_must_be_the_headers(bundle: dict[str, Any]) -> None:
    genesis = genesis_of(bundle)
    bundle["chain_id"] = "another-chain"
    result = verify_cometbft_bundle(bundle, genesis)
    assert not result.valid
    assert result.details["check"] == "chain_id"


def test_a_tampered_hop_is_named(bundle: dict[str, Any]) -> None:
    genesis = genesis_of(bundle)
    bundle["trust_chain"][1]["signed_header"]["header"]["app_hash"] = "00" * 32
    result = verify_cometbft_bundle(bundle, genesis)
    assert not result.valid
    assert (result.details["check"], result.details["hop"]) == ("block_id", 1)
    assert result.reason.startswith("trust_chain[1] (height 20): block_id: commit signs block")


def _deep_set(obj: Any, path: tuple[Any, ...], value: Any) -> None:
    for part in path[:-1]:
        obj = obj[part]
    obj[path[-1]] = value


MALFORMED: list[tuple[tuple[Any, ...], Any]] = [
    (("version",), 1),
    (("version",), True),
    (("engine",), "solo"),
    (("chain_id",), 7),
    (("height",), "29"),
    (("height",), -1),
    (("key",), "zz"),
    (("value",), 12),
    (("proof",), "nope"),
    (("signed_header",), None),
    (("signed_header", "header", "height"), "x"),
    (("signed_header", "header", "time"), "yesterday"),
    (("signed_header", "header", "app_hash"), "abc"),
    (("signed_header", "commit", "signatures"), []),
    (("signed_header", "commit", "signatures", 0, "signature"), "!!"),
    (("signed_header", "commit", "signatures", 0, "block_id_flag"), 9),
    (("signed_header", "commit", "block_id", "hash"), "AB"),
    (("validators",), {}),
    (("validators",), []),
    (("validators", 0, "pub_key", "type"), "tendermint/PubKeySecp256k1"),
    (("validators", 0, "pub_key", "value"), "AAAA"),
    (("validators", 0, "voting_power"), "0"),
    (("validators", 0, "voting_power"), "99999999999999999999"),
    (("validators", 0, "address"), "00" * 20),
    (("trust_chain",), {}),
    (("trust_chain", 0), []),
    (("trust_chain", 0, "validators", 1), None),
]


@pytest.mark.parametrize(("path", "value"), MALFORMED, ids=[str(p) for p, _ in MALFORMED])
def test_malformed_bundles_give_a_reason_not_a_traceback(
    bundle: dict[str, Any], path: tuple[Any, ...], value: Any
) -> None:
    genesis = genesis_of(bundle)
    _deep_set(bundle, path, value)
    result = verify_cometbft_bundle(bundle, genesis)
    assert not result.valid
    assert result.reason.startswith("malformed bundle: "), result.reason


def test_duplicate_validators_are_malformed(bundle: dict[str, Any]) -> None:
    genesis = genesis_of(bundle)
    bundle["validators"].append(copy.deepcopy(bundle["validators"][0]))
    result = verify_cometbft_bundle(bundle, genesis)
    assert result.reason.startswith("malformed bundle: bundle.validators: validator ")


@pytest.mark.parametrize("junk", [None, [], "bundle", 3, {"version": 2}])
def test_junk_is_refused(junk: Any) -> None:
    result = verify_cometbft_bundle(junk, None)
    assert not result.valid and result.reason.startswith("malformed bundle")


def test_bad_genesis_validators_are_reported(bundle: dict[str, Any]) -> None:
    bundle.pop("_genesis")
    result = verify_cometbft_bundle(bundle, [(b"short", 1)])
    assert not result.valid and result.reason.startswith("genesis validators are malformed")
