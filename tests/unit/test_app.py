"""The Application: the envelope and ante rules (one `test_invalid_*` per rule,
citychain/app/application.py `_ante` and citychain/tx/errors.py), block semantics, check_tx,
and restart.

A transaction refused by decoding or by the ante step pays nothing and changes nothing; one that
passes the ante step pays its fee and uses its nonce even if a message then fails.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import msgspec
import pytest
from helpers import (
    ALICE,
    BOB,
    CAROL,
    CCY,
    CHAIN_ID,
    DAVE,
    Chain,
    addr,
    assert_fails_paying_fee,
    assert_refused_free,
    code_of,
    error_of,
    sign_body,
    unsigned_body,
)

from citychain.app import Application, StateCorruptedError
from citychain.codec import encode
from citychain.crypto.keys import PrivateKey
from citychain.genesis import GenesisError
from citychain.modules.bank import errors as bank_errors
from citychain.modules.bank.messages import MsgSend
from citychain.modules.bank.state import balance_key
from citychain.state import verify_proof
from citychain.store.sqlite import BlockStore
from citychain.tx import errors as tx_errors
from citychain.tx.envelope import TxBody, sign_tx, tx_hash


def send(to: PrivateKey | bytes, amount: int, denom: str = CCY) -> MsgSend:
    return MsgSend(recipient=addr(to), denom=denom, amount=amount)


# --- a valid transfer ---------------------------------------------------------------------------


def test_send_moves_funds_pays_fee_and_bumps_nonce(chain: Chain) -> None:
    result = chain.run(ALICE, send(BOB, 300), fee=2)
    assert result.ok, result.log
    assert (chain.balance(ALICE), chain.balance(BOB)) == (50_000 - 300 - 2, 10_000 + 300)
    assert chain.fees_collected() == 2
    assert chain.nonce(ALICE) == 1
    assert chain.height == 1


def test_each_block_changes_the_app_hash_and_proves_balances(chain: Chain) -> None:
    genesis_hash = chain.app.app_hash
    chain.run(ALICE, send(BOB, 1))
    assert chain.app.app_hash != genesis_hash
    value, proof = chain.app.prove(balance_key(addr(BOB), CCY))
    assert value == (10_001).to_bytes(8, "big")
    assert verify_proof(chain.app.app_hash, balance_key(addr(BOB), CCY), value, proof)
    absent, proof = chain.app.prove(balance_key(addr(DAVE), CCY))
    assert absent is None
    assert verify_proof(chain.app.app_hash, balance_key(addr(DAVE), CCY), None, proof)


def test_same_blocks_give_the_same_app_hash_on_two_nodes(tmp_path: Path) -> None:
    """ABCI Requirements 11-12: state after a block depends only on the state and the block."""
    one, two = Chain.create(tmp_path / "one"), Chain.create(tmp_path / "two")
    blocks = [
        [one.tx(ALICE, send(BOB, 10)), one.tx(BOB, send(CAROL, 99_999))],
        [one.tx(ALICE, send(CAROL, 7), nonce=1), b"\x00garbage"],
    ]
    for txs in blocks:
        first, second = one.block(*txs), two.block(*txs)
        assert first.app_hash == second.app_hash
        assert [encode(r) for r in first.tx_results] == [encode(r) for r in second.tx_results]


# --- envelope and ante rules ------------------------------------------------------------------


def test_invalid_wrong_chain_id(chain: Chain) -> None:
    raw = chain.tx(ALICE, send(BOB, 1), chain_id="another-city")
    assert_refused_free(chain, raw, tx_errors.WRONG_CHAIN)
    assert chain.nonce(ALICE) == 0


def test_invalid_bad_signature(chain: Chain) -> None:
    body = unsigned_body(ALICE, [(MsgSend.TYPE, encode(send(BOB, 1)))])
    assert_refused_free(chain, sign_body(BOB, body), tx_errors.BAD_SIGNATURE)


def test_invalid_signature_over_other_bytes(chain: Chain) -> None:
    """A signature is over SIGN_DOMAIN + body: one over the bare body does not verify."""
    body = unsigned_body(ALICE, [(MsgSend.TYPE, encode(send(BOB, 1)))])
    raw = msgspec.msgpack.encode((body, ALICE.sign(body)))
    assert_refused_free(chain, raw, tx_errors.BAD_SIGNATURE)


def test_invalid_replayed_nonce_in_a_later_block(chain: Chain) -> None:
    raw = chain.tx(ALICE, send(BOB, 100))
    assert chain.block(raw).tx_results[0].ok
    assert_refused_free(chain, raw, tx_errors.NONCE_USED)
    assert (chain.balance(ALICE), chain.balance(BOB)) == (50_000 - 101, 10_100)
    # The store keeps the first, successful inclusion under the hash (regression: a replayed
    # transaction in a block used to make commit fail on the unique hash, halting the node).
    stored = chain.app.store.tx(tx_hash(raw))
    assert stored is not None and stored.height == 1


def test_invalid_replayed_nonce_in_the_same_block(chain: Chain) -> None:
    raw = chain.tx(ALICE, send(BOB, 100))
    first, second = chain.block(raw, raw).tx_results
    assert first.ok
    assert error_of(second) == code_of(tx_errors.NONCE_USED)
    assert chain.balance(BOB) == 10_100


def test_invalid_nonce_gap(chain: Chain) -> None:
    assert_refused_free(chain, chain.tx(ALICE, send(BOB, 1), nonce=1), tx_errors.NONCE_GAP)


def test_nonces_in_one_block_must_be_consecutive(chain: Chain) -> None:
    txs = [chain.tx(ALICE, send(BOB, 1), nonce=n) for n in (0, 1, 3, 2)]
    codes = [error_of(r) for r in chain.block(*txs).tx_results]
    assert codes == [("", 0), ("", 0), code_of(tx_errors.NONCE_GAP), ("", 0)]
    assert chain.nonce(ALICE) == 3


def test_invalid_expired(chain: Chain) -> None:
    chain.advance(2)
    assert_refused_free(chain, chain.tx(ALICE, send(BOB, 1), expiry_height=2), tx_errors.EXPIRED)


def test_expiry_height_is_the_last_height_that_may_include_the_tx(chain: Chain) -> None:
    chain.advance(2)
    assert chain.run(ALICE, send(BOB, 1), expiry_height=3).ok
    assert chain.height == 3


def test_invalid_fee_too_low(chain: Chain) -> None:
    assert_refused_free(chain, chain.tx(ALICE, send(BOB, 1), fee=0), tx_errors.FEE_TOO_LOW)


def test_invalid_fee_unpayable_by_an_empty_account(chain: Chain) -> None:
    assert_refused_free(chain, chain.tx(DAVE, send(BOB, 1)), tx_errors.FEE_UNPAYABLE)


def test_invalid_fee_unpayable_past_the_balance(chain: Chain) -> None:
    raw = chain.tx(CAROL, send(BOB, 1), fee=1_001)
    assert_refused_free(chain, raw, tx_errors.FEE_UNPAYABLE)


def test_invalid_unknown_message_type(chain: Chain) -> None:
    body = unsigned_body(ALICE, [("bank/steal", encode(send(ALICE, 1)))])
    assert_refused_free(chain, sign_body(ALICE, body), tx_errors.UNKNOWN_MESSAGE)


def test_invalid_no_messages(chain: Chain) -> None:
    raw = sign_tx(ALICE, chain_id=CHAIN_ID, nonce=0, messages=[], fee=1)
    result = assert_refused_free(chain, raw, tx_errors.NO_MESSAGES)
    assert result.events == ()


def test_invalid_undecodable_bytes_in_a_block_do_not_stop_it(chain: Chain) -> None:
    good = chain.tx(ALICE, send(BOB, 5))
    results = chain.block(b"\x92\xc4", good).tx_results
    assert error_of(results[0]) == code_of(tx_errors.MALFORMED)
    assert results[1].ok
    assert chain.balance(BOB) == 10_005


def test_invalid_memo_past_256_bytes(chain: Chain) -> None:
    raw = chain.tx(ALICE, send(BOB, 1), memo="é" * 129)  # 258 bytes of UTF-8
    assert_refused_free(chain, raw, tx_errors.MALFORMED)


def test_invalid_negative_nonce_in_a_hand_made_body(chain: Chain) -> None:
    # msgspec does not check constraints when a struct is built, only when it is decoded.
    body = encode(
        TxBody(CHAIN_ID, ALICE.public_key, -1, 1, 0, "", ((MsgSend.TYPE, msgspec.Raw(b"\x90")),))
    )
    assert_refused_free(chain, sign_body(ALICE, body), tx_errors.MALFORMED)


# --- amounts at and past the u64 bound ------------------------------------------------------


def test_amount_past_u64_cannot_be_encoded() -> None:
    with pytest.raises(OverflowError):
        sign_tx(ALICE, chain_id=CHAIN_ID, nonce=0, messages=[send(BOB, 2**64)], fee=1)


def test_fee_past_u64_cannot_be_encoded() -> None:
    with pytest.raises(OverflowError):
        sign_tx(ALICE, chain_id=CHAIN_ID, nonce=0, messages=[send(BOB, 1)], fee=2**64)


def test_invalid_negative_amount_built_locally(chain: Chain) -> None:
    """A negative int encodes (as a signed MessagePack int) but no message may carry one."""
    raw = chain.tx(ALICE, send(BOB, -5))
    assert_refused_free(chain, raw, tx_errors.BAD_MESSAGE)


@pytest.mark.parametrize(
    "amount_bytes",
    [
        pytest.param(b"\xd3\xff\xff\xff\xff\xff\xff\xff\xff", id="int64 -1"),
        pytest.param(b"\xcb\x43\xf0\x00\x00\x00\x00\x00\x00", id="float64 2^64"),
        pytest.param(b"\xcf\x00\x00\x00\x00\x00\x00\x00\x05", id="5 as uint64, not fixint"),
        pytest.param(b"\xa15", id="str '5'"),
        pytest.param(b"\xc0", id="nil"),
    ],
)
def test_invalid_hand_made_amount(chain: Chain, amount_bytes: bytes) -> None:
    message = b"\x93\xc4\x14" + addr(BOB) + b"\xa3ccy" + amount_bytes
    body = unsigned_body(ALICE, [(MsgSend.TYPE, message)])
    assert_refused_free(chain, sign_body(ALICE, body), tx_errors.BAD_MESSAGE)


def test_invalid_message_with_an_extra_field(chain: Chain) -> None:
    message = b"\x94\xc4\x14" + addr(BOB) + b"\xa3ccy\x05\x00"
    body = unsigned_body(ALICE, [(MsgSend.TYPE, message)])
    assert_refused_free(chain, sign_body(ALICE, body), tx_errors.BAD_MESSAGE)


def test_largest_amount_encodes_and_fails_only_for_lack_of_funds(chain: Chain) -> None:
    assert_fails_paying_fee(
        chain, ALICE, send(BOB, 2**64 - 1), error=bank_errors.INSUFFICIENT_FUNDS
    )


# --- a failing transaction inside a block -----------------------------------------------------


def test_failing_message_reverts_earlier_messages_but_keeps_fee_and_nonce(chain: Chain) -> None:
    result = assert_fails_paying_fee(
        chain, ALICE, send(BOB, 100), send(CAROL, 1_000_000), error=bank_errors.INSUFFICIENT_FUNDS
    )
    assert result.events == ()
    assert (chain.balance(BOB), chain.balance(CAROL)) == (10_000, 1_000)


def test_fee_is_taken_before_the_messages_run(chain: Chain) -> None:
    """CAROL holds 1 000; fee 1 leaves 999, so sending all 1 000 is an overdraft."""
    assert_fails_paying_fee(chain, CAROL, send(BOB, 1_000), error=bank_errors.INSUFFICIENT_FUNDS)
    assert chain.run(CAROL, send(BOB, 998)).ok
    assert chain.balance(CAROL) == 0


def test_a_failed_tx_does_not_affect_the_next_one_in_the_block(chain: Chain) -> None:
    failing = chain.tx(ALICE, send(BOB, 1_000_000))
    following = chain.tx(ALICE, send(BOB, 10), nonce=1)
    first, second = chain.block(failing, following).tx_results
    assert error_of(first) == code_of(bank_errors.INSUFFICIENT_FUNDS)
    assert second.ok
    assert chain.balance(ALICE) == 50_000 - 2 - 10


# --- check_tx -----------------------------------------------------------------------------------


def test_check_tx_changes_no_committed_state(chain: Chain) -> None:
    before, app_hash = dict(chain.app.committed.values), chain.app.app_hash
    assert chain.app.check_tx(chain.tx(ALICE, send(BOB, 10))).ok
    assert chain.app.committed.values == before
    assert chain.app.app_hash == app_hash


def test_check_tx_accepts_consecutive_nonces_before_a_block(chain: Chain) -> None:
    assert chain.app.check_tx(chain.tx(ALICE, send(BOB, 10), nonce=0)).ok
    assert chain.app.check_tx(chain.tx(ALICE, send(BOB, 10), nonce=1)).ok
    assert chain.app.next_nonce(addr(ALICE)) == 2
    assert chain.app.committed_nonce(addr(ALICE)) == 0


def test_check_tx_refusal_does_not_use_the_nonce_or_the_fee(chain: Chain) -> None:
    """A wallet whose payment was refused retries with the same nonce (regression: the refused
    transaction's fee and nonce used to stay in the mempool's view of state)."""
    refused = chain.app.check_tx(chain.tx(ALICE, send(BOB, 1_000_000)))
    assert error_of(refused) == code_of(bank_errors.INSUFFICIENT_FUNDS)
    assert chain.app.next_nonce(addr(ALICE)) == 0
    retry = chain.tx(ALICE, send(BOB, 20_000))
    assert chain.app.check_tx(retry).ok


def test_check_tx_reports_decode_errors(chain: Chain) -> None:
    result = chain.app.check_tx(b"\xff")
    assert error_of(result) == code_of(tx_errors.MALFORMED)
    assert result.tx is None


# --- lifecycle ---------------------------------------------------------------------------------


def test_init_chain_twice_is_refused(chain: Chain) -> None:
    assert chain.app.genesis is not None
    with pytest.raises(GenesisError):
        chain.app.init_chain(chain.app.genesis)


def test_finalize_block_at_the_wrong_height_is_refused(chain: Chain) -> None:
    with pytest.raises(ValueError):
        chain.app.finalize_block(2, 0, [])


def test_commit_without_finalize_is_refused(chain: Chain) -> None:
    with pytest.raises(RuntimeError):
        chain.app.commit()


def test_restart_recovers_height_app_hash_and_state(tmp_path: Path) -> None:
    chain = Chain.create(tmp_path)
    chain.run(ALICE, send(BOB, 100))
    chain.block(chain.tx(BOB, send(CAROL, 50)), chain.tx(ALICE, send(CAROL, 1), nonce=1))
    height, app_hash = chain.height, chain.app.app_hash
    state = dict(chain.app.committed.values)
    chain.app.store.close()

    reopened = Chain(Application(BlockStore(tmp_path / "chain.sqlite")))
    assert reopened.app.info().height == height == 2
    assert reopened.app.app_hash == app_hash
    assert reopened.app.chain_id == CHAIN_ID
    assert reopened.app.committed.values == state
    assert reopened.nonce(ALICE) == 2
    assert reopened.app.check_invariants() == []
    # It carries on from there: replays are still refused and the next nonce works.
    old = sign_tx(ALICE, chain_id=CHAIN_ID, nonce=1, messages=[send(CAROL, 1)], fee=1)
    assert error_of(reopened.block(old).tx_results[0]) == code_of(tx_errors.NONCE_USED)
    assert reopened.run(ALICE, send(CAROL, 1)).ok
    assert reopened.height == 4


def test_restart_refuses_state_that_does_not_match_the_app_hash(tmp_path: Path) -> None:
    chain = Chain.create(tmp_path)
    chain.run(ALICE, send(BOB, 100))
    chain.app.store.close()
    db = sqlite3.connect(tmp_path / "chain.sqlite")
    db.execute(
        "UPDATE state SET value=? WHERE key=?",
        ((10**9).to_bytes(8, "big"), balance_key(addr(BOB), CCY)),
    )
    db.commit()
    db.close()
    with pytest.raises(StateCorruptedError):
        Application(BlockStore(tmp_path / "chain.sqlite"))
