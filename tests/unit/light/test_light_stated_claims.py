"""A proof file is valid only when everything it states is what it proves (issue 13, "Proof
files say more than they prove"): a balance answer whose ``balance`` says 251 while the proof
shows 250, a claim whose ``amount``, ``address`` or ``denom`` was changed, a field no check
covers, a solo bundle whose height or validator list says something else than its header and
the trusted genesis. Each is refused, on both engines' bundles, alone and inside the answer
``query bank balance --prove`` prints; the untampered ones are valid."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest
from light_synth import members, signed_block
from test_light_bundle_cometbft import (
    HOLDER_ADDRESS,
    SET_B,
    STATE_HEIGHT,
    genesis_of,
    make_bundle,
)

from citychain.block import Header, sign_header
from citychain.codec import encode
from citychain.crypto.address import address_from_public_key, address_to_bytes
from citychain.crypto.keys import PrivateKey
from citychain.light import verify_bundle, verify_document
from citychain.light.rpc_render import light_block_to_json
from citychain.modules.bank import balance_key
from citychain.state import MerkleTree

BALANCE = 250
OTHER_ADDRESS = address_from_public_key(PrivateKey.from_seed(b"\x43" * 32).public_key)
SOLO_VALIDATOR = PrivateKey.from_seed(b"\x07" * 32)
SOLO_HEIGHT = 5
SOLO_CHAIN = "citychain-claims-test"

Trusted = list[tuple[bytes, int]]


def _solo_bundle() -> tuple[dict[str, Any], Trusted]:
    """A version-1 bundle as the solo engine writes it: Alice's 250 ccy under a header its
    one validator signed."""
    tree = MerkleTree()
    key = balance_key(address_to_bytes(HOLDER_ADDRESS), "ccy")
    value = BALANCE.to_bytes(8, "big")
    tree.set(key, value)
    tree.set(b"other/key", b"other value")
    header = Header(
        chain_id=SOLO_CHAIN,
        height=SOLO_HEIGHT,
        time_ms=1_800_000_000_000,
        prev_hash=bytes(32),
        txs_hash=bytes(32),
        results_hash=bytes(32),
        app_hash=tree.root(),
        proposer=SOLO_VALIDATOR.public_key,
    )
    validator = SOLO_VALIDATOR.public_key
    bundle = {
        "version": 1,
        "chain_id": SOLO_CHAIN,
        "height": SOLO_HEIGHT,
        "key": key.hex(),
        "value": value.hex(),
        "claim": {"kind": "balance", "address": HOLDER_ADDRESS, "denom": "ccy", "amount": BALANCE},
        "proof": tree.prove(key).to_json(),
        "header": encode(header).hex(),
        "signature": sign_header(SOLO_VALIDATOR, header).hex(),
        "validators": [{"name": "solo", "public_key": validator.hex(), "power": 1}],
    }
    return bundle, [(validator, 1)]


def _cometbft_bundle() -> tuple[dict[str, Any], Trusted]:
    bundle = make_bundle()
    trusted = genesis_of(bundle)
    key = bytes.fromhex(bundle["key"])
    # make_bundle proves 1250; make it the 250 of the example.
    tree = MerkleTree()
    tree.set(key, BALANCE.to_bytes(8, "big"))
    tree.set(b"other/key", b"other value")
    target = light_block_to_json(
        signed_block(members(SET_B), STATE_HEIGHT + 1, app_hash=tree.root())
    )
    bundle.update(
        value=BALANCE.to_bytes(8, "big").hex(),
        proof=tree.prove(key).to_json(),
        signed_header=target["signed_header"],
        validators=target["validators"],
    )
    bundle["claim"]["amount"] = BALANCE
    return bundle, trusted


ENGINES: dict[str, Callable[[], tuple[dict[str, Any], Trusted]]] = {
    "solo": _solo_bundle,
    "cometbft": _cometbft_bundle,
}


def _answer(bundle: dict[str, Any]) -> dict[str, Any]:
    """What GET /accounts/{address}/balances/ccy?prove=true answers (and the CLI prints)."""
    return {
        "address": HOLDER_ADDRESS,
        "denom": "ccy",
        "balance": BALANCE,
        "height": bundle["height"],
        "proof": bundle,
    }


@pytest.fixture(params=sorted(ENGINES))
def engine(request: pytest.FixtureRequest) -> tuple[dict[str, Any], Trusted]:
    return ENGINES[request.param]()


def test_the_untampered_bundle_and_answer_are_valid(
    engine: tuple[dict[str, Any], Trusted],
) -> None:
    bundle, trusted = engine
    for trust in (trusted, None):
        for document in (bundle, _answer(bundle)):
            result = verify_document(copy.deepcopy(document), trust)
            assert result.valid, result.reason
            assert result.details["claim"] == {
                "kind": "balance",
                "address": HOLDER_ADDRESS,
                "denom": "ccy",
                "amount": BALANCE,
            }


CLAIM_TAMPERINGS: dict[str, tuple[Callable[[dict[str, Any]], None], str]] = {
    "amount 250 -> 251": (
        lambda c: c.update(amount=BALANCE + 1),
        f"claim says balance {BALANCE + 1}, the proof shows {BALANCE}",
    ),
    "amount as a string": (lambda c: c.update(amount=str(BALANCE)), "claim says balance '250'"),
    "amount as true": (lambda c: c.update(amount=True), "claim says balance True"),
    "another address": (lambda c: c.update(address=OTHER_ADDRESS), "claim says address"),
    "another denom": (lambda c: c.update(denom="eur"), "claim says denom 'eur'"),
    "a field more": (lambda c: c.update(note="paid in full"), "claim states 'note'"),
    "a field less": (lambda c: c.pop("amount"), "claim says balance None"),
    "another kind": (lambda c: c.update(kind="device"), "claim is of kind 'device'"),
    "a kind that is a list": (lambda c: c.update(kind=["balance"]), "claim is of kind"),
}


@pytest.mark.parametrize("what", sorted(CLAIM_TAMPERINGS))
def test_a_changed_claim_is_refused(engine: tuple[dict[str, Any], Trusted], what: str) -> None:
    bundle, trusted = engine
    change, reason = CLAIM_TAMPERINGS[what]
    change(bundle["claim"])
    for trust in (trusted, None):
        for document in (bundle, _answer(bundle)):
            result = verify_document(copy.deepcopy(document), trust)
            assert not result.valid, f"{what}: accepted"
            assert reason in result.reason, result.reason


ANSWER_TAMPERINGS: dict[str, tuple[str, Any, str]] = {
    "balance 250 -> 251": ("balance", BALANCE + 1, "the answer says balance 251, its proof shows"),
    "balance as a string": ("balance", "250", "the answer says balance '250'"),
    "another address": ("address", OTHER_ADDRESS, "the answer says address"),
    "another denom": ("denom", "eur", "the answer says denom 'eur'"),
    "another height": ("height", 999, "the answer says height 999"),
    "an unproven field": ("owner", HOLDER_ADDRESS, "the answer states 'owner'"),
}


@pytest.mark.parametrize("what", sorted(ANSWER_TAMPERINGS))
def test_a_changed_answer_is_refused(engine: tuple[dict[str, Any], Trusted], what: str) -> None:
    bundle, trusted = engine
    name, value, reason = ANSWER_TAMPERINGS[what]
    answer = _answer(bundle)
    answer[name] = value
    for trust in (trusted, None):
        result = verify_document(copy.deepcopy(answer), trust)
        assert not result.valid, f"{what}: accepted"
        assert reason in result.reason, result.reason


def test_balance_and_claim_changed_together_are_refused(
    engine: tuple[dict[str, Any], Trusted],
) -> None:
    """The issue's file: balance and claim amount both 251; before, 'valid' printing 250."""
    bundle, trusted = engine
    bundle["claim"]["amount"] = BALANCE + 1
    answer = _answer(bundle)
    answer["balance"] = BALANCE + 1
    result = verify_document(answer, trusted)
    assert not result.valid and "251" in result.reason


def test_a_changed_key_or_an_extra_field_is_refused(
    engine: tuple[dict[str, Any], Trusted],
) -> None:
    bundle, trusted = engine
    other = copy.deepcopy(bundle)
    other["key"] = balance_key(address_to_bytes(OTHER_ADDRESS), "ccy").hex()
    other["claim"]["address"] = OTHER_ADDRESS
    assert "Merkle proof does not verify" in verify_document(other, trusted).reason
    extra = copy.deepcopy(bundle)
    extra["note"] = "certified by the mayor"
    refused = verify_document(extra, trusted)
    assert not refused.valid and "field(s) 'note'" in refused.reason


def test_a_raw_or_empty_claim_states_nothing_and_the_result_says_what_is_proven(
    engine: tuple[dict[str, Any], Trusted],
) -> None:
    bundle, trusted = engine
    for claim in ({"kind": "raw"}, {}):
        bundle["claim"] = claim
        result = verify_bundle(copy.deepcopy(bundle), trusted)
        assert result.valid, result.reason
        assert result.details["claim"]["amount"] == BALANCE


SOLO_TAMPERINGS: dict[str, tuple[Callable[[dict[str, Any]], None], str]] = {
    "height": (lambda b: b.update(height=SOLO_HEIGHT + 1), "header is at height 5"),
    "version": (lambda b: b.update(version=7), "version must be 1"),
    "engine": (lambda b: b.update(engine="solo"), "field(s) 'engine'"),
    "power": (lambda b: b["validators"][0].update(power=9), "not the trusted genesis'"),
    "another validator listed": (
        lambda b: b["validators"].append(
            {"name": "x", "public_key": (b"\x01" * 32).hex(), "power": 1}
        ),
        "not the trusted genesis'",
    ),
    "validator field": (lambda b: b["validators"][0].update(city="x"), "validators:"),
}


@pytest.mark.parametrize("what", sorted(SOLO_TAMPERINGS))
def test_a_solo_bundle_states_its_header_height_version_and_genesis_set(what: str) -> None:
    bundle, trusted = _solo_bundle()
    change, reason = SOLO_TAMPERINGS[what]
    change(bundle)
    result = verify_bundle(bundle, trusted)
    assert not result.valid, f"{what}: accepted"
    assert reason in result.reason, f"{what}: {result.reason}"


def test_the_state_answer_of_a_balance_key_states_only_what_is_proven(
    engine: tuple[dict[str, Any], Trusted],
) -> None:
    """``GET /state/{key}?prove=true`` of a balance key answers its key, value and height with a
    raw claim: each proven, though the key is a balance's; a changed value is refused."""
    bundle, trusted = engine
    bundle["claim"] = {"kind": "raw"}
    answer = {"key": bundle["key"], "value": bundle["value"], "height": bundle["height"]}
    answer["proof"] = bundle
    result = verify_document(copy.deepcopy(answer), trusted)
    assert result.valid, result.reason
    answer["value"] = (BALANCE + 1).to_bytes(8, "big").hex()
    refused = verify_document(answer, trusted)
    assert not refused.valid and "the answer says value" in refused.reason, refused.reason


def test_a_claim_that_is_not_an_object_is_refused(
    engine: tuple[dict[str, Any], Trusted],
) -> None:
    bundle, trusted = engine
    bundle["claim"] = "balance 250"
    result = verify_document(bundle, trusted)
    assert not result.valid and result.reason == "claim must be an object"


def test_an_answer_without_a_bundle_is_malformed() -> None:
    result = verify_document({"address": HOLDER_ADDRESS, "balance": 1, "proof": "x"})
    assert not result.valid and result.reason.startswith("malformed")
