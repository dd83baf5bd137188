"""Bank messages through the whole Application (citychain/modules/bank, docs/modules/bank.md).

One `test_invalid_*` per validity rule, each expecting its exact code from
citychain/modules/bank/errors.py (or citychain/tx/errors.py for the role and decoding checks).
A message that fails after the ante step still pays its fee and uses its nonce and changes no
other key (`assert_fails_paying_fee`); one refused by the ante step changes nothing at all
(`assert_refused_free`). Every block is followed by the bank invariants (helpers.Chain.block).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from helpers import (
    ALICE,
    BOB,
    CAROL,
    CCY,
    DAVE,
    ISSUER,
    KYC,
    TIER0_MAX_BALANCE,
    TIER0_MAX_PAYMENT,
    Chain,
    addr,
    assert_fails_paying_fee,
    assert_refused_free,
    code_of,
    error_of,
)

from citychain.codec import U64_MAX
from citychain.crypto.keys import PrivateKey
from citychain.errors import CityError
from citychain.modules.bank import errors, handlers
from citychain.modules.bank.keeper import freeze_account
from citychain.modules.bank.messages import (
    MsgBurn,
    MsgCancelRequest,
    MsgCreateRequest,
    MsgMint,
    MsgMultiSend,
    MsgPayRequest,
    MsgRefund,
    MsgSend,
    MsgSetTier,
)
from citychain.modules.bank.state import (
    REQUEST_CANCELLED,
    REQUEST_OPEN,
    REQUEST_PAID,
    REQUEST_REFUNDED,
    PaymentRequest,
    get_request,
    get_tier,
    new_request_id,
)
from citychain.modules.base import Context
from citychain.state.overlay import Overlay
from citychain.tx import errors as tx_errors
from citychain.tx.envelope import tx_hash


def send(to: PrivateKey | bytes, amount: int, denom: str = CCY) -> MsgSend:
    return MsgSend(recipient=addr(to), denom=denom, amount=amount)


def request_state(chain: Chain, request_id: bytes) -> PaymentRequest:
    request = get_request(chain.app.committed, request_id)
    assert request is not None
    return request


def open_request(
    chain: Chain,
    merchant: PrivateKey = BOB,
    amount: int = 2_500,
    *,
    payer: bytes = b"",
    expires_in: int = 10,
) -> bytes:
    """Create a payment request in its own block; return its id (the transaction's data)."""
    expiry_height = chain.height + 1 + expires_in  # the request is created in the next block
    message = MsgCreateRequest(CCY, amount, "two coffees", expiry_height, payer)
    raw = chain.tx(merchant, message)
    result = chain.block(raw).tx_results[0]
    assert result.ok, result.log
    assert result.data == new_request_id(tx_hash(raw), 0)
    return result.data


def paid_request(chain: Chain, amount: int = 2_500) -> bytes:
    """A request from BOB that ALICE has paid."""
    request_id = open_request(chain, BOB, amount)
    assert chain.run(ALICE, MsgPayRequest(request_id, CCY, amount)).ok
    return request_id


# --- send ----------------------------------------------------------------------------------------


def test_send_moves_funds_and_emits_transfer(chain: Chain) -> None:
    result = chain.run(ALICE, send(BOB, 1_234))
    assert result.ok
    assert (chain.balance(ALICE), chain.balance(BOB)) == (50_000 - 1_234 - 1, 11_234)
    (event,) = result.events
    assert event.type == "transfer"
    assert dict(event.attributes) == {
        "sender": addr(ALICE),
        "recipient": addr(BOB),
        "denom": CCY,
        "amount": 1_234,
    }


def test_send_to_oneself_changes_only_the_fee(chain: Chain) -> None:
    assert chain.run(ALICE, send(ALICE, 10_000)).ok
    assert chain.balance(ALICE) == 50_000 - 1


def test_send_of_the_whole_balance_deletes_the_key(chain: Chain) -> None:
    assert chain.run(CAROL, send(BOB, 999)).ok
    assert chain.balance(CAROL) == 0
    assert chain.app.check_invariants() == []  # zero-balances: no zero is stored


def test_invalid_send_overdraft(chain: Chain) -> None:
    assert_fails_paying_fee(chain, CAROL, send(BOB, 1_000), error=errors.INSUFFICIENT_FUNDS)


def test_invalid_send_zero_amount(chain: Chain) -> None:
    assert_fails_paying_fee(chain, ALICE, send(BOB, 0), error=errors.INVALID_AMOUNT)


def test_invalid_send_unknown_denom(chain: Chain) -> None:
    assert_fails_paying_fee(chain, ALICE, send(BOB, 1, "eur"), error=errors.UNKNOWN_DENOM)


def test_invalid_send_denom_not_matching_the_pattern(chain: Chain) -> None:
    assert_refused_free(chain, chain.tx(ALICE, send(BOB, 1, "CCY")), tx_errors.BAD_MESSAGE)


@pytest.mark.parametrize("bad_denom", ["c", "a" * 17, "1cc", "cçy", "ccy\n"])
def test_invalid_send_denom_outside_the_pattern(chain: Chain, bad_denom: str) -> None:
    """Denominations are 2 to 16 of a-z0-9, starting with a letter (regression: a trailing
    newline used to pass, because Python's $ matches before one)."""
    assert_refused_free(chain, chain.tx(ALICE, send(BOB, 1, bad_denom)), tx_errors.BAD_MESSAGE)


def test_invalid_send_recipient_not_20_bytes(chain: Chain) -> None:
    raw = chain.tx(ALICE, MsgSend(recipient=bytes(19), denom=CCY, amount=1))
    assert_refused_free(chain, raw, tx_errors.BAD_MESSAGE)


# --- multi-send --------------------------------------------------------------------------------


def test_multi_send_pays_every_output(chain: Chain) -> None:
    outputs = ((addr(BOB), 100), (addr(CAROL), 200), (addr(DAVE), 300))
    result = chain.run(ALICE, MsgMultiSend(CCY, outputs))
    assert result.ok
    assert [chain.balance(k) for k in (BOB, CAROL, DAVE)] == [10_100, 1_200, 300]
    assert chain.balance(ALICE) == 50_000 - 600 - 1
    assert [e.type for e in result.events] == ["transfer"] * 3


def test_multi_send_to_the_same_recipient_twice(chain: Chain) -> None:
    assert chain.run(ALICE, MsgMultiSend(CCY, ((addr(DAVE), 5), (addr(DAVE), 6)))).ok
    assert chain.balance(DAVE) == 11


def test_invalid_multi_send_without_outputs(chain: Chain) -> None:
    assert_fails_paying_fee(chain, ALICE, MsgMultiSend(CCY, ()), error=errors.TOO_MANY_OUTPUTS)


def test_invalid_multi_send_with_101_outputs(chain: Chain) -> None:
    outputs = tuple((addr(DAVE), 1) for _ in range(101))
    assert_fails_paying_fee(chain, ALICE, MsgMultiSend(CCY, outputs), error=errors.TOO_MANY_OUTPUTS)


def test_invalid_multi_send_one_output_overdraws_and_nothing_moves(chain: Chain) -> None:
    outputs = ((addr(BOB), 20_000), (addr(CAROL), 20_000), (addr(DAVE), 10_000))
    assert_fails_paying_fee(
        chain, ALICE, MsgMultiSend(CCY, outputs), error=errors.INSUFFICIENT_FUNDS
    )
    assert (chain.balance(BOB), chain.balance(CAROL), chain.balance(DAVE)) == (10_000, 1_000, 0)


def test_invalid_multi_send_outputs_summing_past_u64(chain: Chain) -> None:
    outputs = ((addr(BOB), 2**63), (addr(CAROL), 2**63))
    assert_fails_paying_fee(chain, ALICE, MsgMultiSend(CCY, outputs), error=errors.BALANCE_OVERFLOW)


def test_invalid_multi_send_splitting_a_payment_past_the_tier_0_limit(chain: Chain) -> None:
    # Each output is within tier 0's 20,000 limit; together they are not.
    outputs = ((addr(BOB), 15_000), (addr(CAROL), 15_000))
    assert_fails_paying_fee(
        chain, ALICE, MsgMultiSend(CCY, outputs), error=errors.TIER_PAYMENT_LIMIT
    )
    assert (chain.balance(BOB), chain.balance(CAROL)) == (10_000, 1_000)


def test_invalid_multi_send_output_of_zero(chain: Chain) -> None:
    outputs = ((addr(BOB), 5), (addr(CAROL), 0))
    assert_fails_paying_fee(chain, ALICE, MsgMultiSend(CCY, outputs), error=errors.INVALID_AMOUNT)


# --- mint and burn (issuer role) ---------------------------------------------------------------


def test_mint_by_the_issuer_grows_supply(chain: Chain) -> None:
    supply = chain.supply()
    result = chain.run(ISSUER, MsgMint(addr(DAVE), CCY, 7_000))
    assert result.ok
    assert chain.balance(DAVE) == 7_000
    assert chain.supply() == supply + 7_000
    assert [e.type for e in result.events] == ["mint"]


def test_invalid_mint_without_the_issuer_role(chain: Chain) -> None:
    raw = chain.tx(ALICE, MsgMint(addr(ALICE), CCY, 7_000))
    assert_refused_free(chain, raw, tx_errors.UNAUTHORIZED)


def test_invalid_mint_zero(chain: Chain) -> None:
    assert_fails_paying_fee(chain, ISSUER, MsgMint(addr(DAVE), CCY, 0), error=errors.INVALID_AMOUNT)


def test_invalid_mint_unknown_denom(chain: Chain) -> None:
    message = MsgMint(addr(DAVE), "eur", 1)
    assert_fails_paying_fee(chain, ISSUER, message, error=errors.UNKNOWN_DENOM)


def test_invalid_mint_past_the_u64_supply(chain: Chain) -> None:
    message = MsgMint(addr(DAVE), CCY, U64_MAX)
    assert_fails_paying_fee(chain, ISSUER, message, error=errors.SUPPLY_OVERFLOW)


def test_invalid_mint_past_the_recipient_tier_balance_limit(chain: Chain) -> None:
    message = MsgMint(addr(DAVE), CCY, TIER0_MAX_BALANCE + 1)
    assert_fails_paying_fee(chain, ISSUER, message, error=errors.TIER_BALANCE_LIMIT)


def test_burn_by_the_issuer_shrinks_supply(chain: Chain) -> None:
    supply = chain.supply()
    assert chain.run(ISSUER, MsgBurn(CCY, 500)).ok
    assert chain.balance(ISSUER) == 1_000 - 1 - 500
    # The fee moved to the collector, so it stays in the supply; only the burn leaves it.
    assert chain.supply() == supply - 500


def test_invalid_burn_without_the_issuer_role(chain: Chain) -> None:
    assert_refused_free(chain, chain.tx(ALICE, MsgBurn(CCY, 1)), tx_errors.UNAUTHORIZED)


def test_invalid_burn_more_than_held(chain: Chain) -> None:
    # 1 000 held, 1 paid as fee before the burn runs.
    assert_fails_paying_fee(chain, ISSUER, MsgBurn(CCY, 1_000), error=errors.INSUFFICIENT_FUNDS)


# --- wallet tiers ------------------------------------------------------------------------------


def test_set_tier_by_the_kyc_verifier(chain: Chain) -> None:
    result = chain.run(KYC, MsgSetTier(addr(ALICE), 1))
    assert result.ok
    assert get_tier(chain.app.committed, addr(ALICE)) == 1


def test_set_tier_back_to_zero_deletes_the_key(chain: Chain) -> None:
    assert chain.run(KYC, MsgSetTier(addr(ALICE), 1)).ok
    before = dict(chain.app.committed.values)
    assert chain.run(KYC, MsgSetTier(addr(ALICE), 0)).ok
    assert len(chain.app.committed.values) == len(before) - 1


def test_invalid_set_tier_without_the_kyc_role(chain: Chain) -> None:
    raw = chain.tx(ISSUER, MsgSetTier(addr(ALICE), 2))
    assert_refused_free(chain, raw, tx_errors.UNAUTHORIZED)


def test_invalid_set_tier_to_a_tier_that_does_not_exist(chain: Chain) -> None:
    assert_fails_paying_fee(chain, KYC, MsgSetTier(addr(ALICE), 3), error=errors.INVALID_TIER)


def test_invalid_set_tier_past_one_byte(chain: Chain) -> None:
    assert_refused_free(chain, chain.tx(KYC, MsgSetTier(addr(ALICE), 256)), tx_errors.BAD_MESSAGE)


def test_tier_0_may_pay_exactly_its_limit(chain: Chain) -> None:
    assert chain.run(ALICE, send(BOB, TIER0_MAX_PAYMENT)).ok


def test_invalid_payment_past_the_tier_0_limit(chain: Chain) -> None:
    message = send(BOB, TIER0_MAX_PAYMENT + 1)
    assert_fails_paying_fee(chain, ALICE, message, error=errors.TIER_PAYMENT_LIMIT)


def test_tier_0_may_hold_exactly_its_limit(chain: Chain) -> None:
    assert chain.run(ISSUER, MsgMint(addr(DAVE), CCY, TIER0_MAX_BALANCE)).ok


def test_invalid_payment_past_the_recipient_tier_0_balance(chain: Chain) -> None:
    assert chain.run(ISSUER, MsgMint(addr(DAVE), CCY, TIER0_MAX_BALANCE - 10)).ok
    assert_fails_paying_fee(chain, ALICE, send(DAVE, 11), error=errors.TIER_BALANCE_LIMIT)


def test_verified_tier_lifts_both_limits(chain: Chain) -> None:
    assert chain.run(KYC, MsgSetTier(addr(ALICE), 1)).ok
    assert chain.run(KYC, MsgSetTier(addr(DAVE), 1)).ok
    assert chain.run(ISSUER, MsgMint(addr(ALICE), CCY, 80_000)).ok  # 130 000 > tier 0's cap
    assert chain.run(ALICE, send(DAVE, 120_000)).ok  # > tier 0's payment limit and balance cap
    assert chain.balance(DAVE) == 120_000


def test_invalid_payment_past_the_payers_limit_even_to_a_verified_wallet(chain: Chain) -> None:
    assert chain.run(KYC, MsgSetTier(addr(DAVE), 1)).ok
    message = send(DAVE, TIER0_MAX_PAYMENT + 1)
    assert_fails_paying_fee(chain, ALICE, message, error=errors.TIER_PAYMENT_LIMIT)


def test_lowering_a_tier_keeps_the_balance_but_blocks_further_receipts(chain: Chain) -> None:
    assert chain.run(KYC, MsgSetTier(addr(DAVE), 1)).ok
    assert chain.run(ISSUER, MsgMint(addr(DAVE), CCY, 150_000)).ok
    assert chain.run(KYC, MsgSetTier(addr(DAVE), 0)).ok
    assert chain.balance(DAVE) == 150_000
    assert_fails_paying_fee(chain, ALICE, send(DAVE, 1), error=errors.TIER_BALANCE_LIMIT)


# --- payment requests ----------------------------------------------------------------------------


def test_create_request_records_an_open_request(chain: Chain) -> None:
    request_id = open_request(chain, BOB, 2_500, payer=addr(ALICE))
    request = request_state(chain, request_id)
    assert (request.merchant, request.amount, request.status) == (addr(BOB), 2_500, REQUEST_OPEN)
    assert (request.payer, request.created_height, request.expiry_height) == (addr(ALICE), 1, 11)


def test_two_requests_in_one_tx_get_distinct_ids(chain: Chain) -> None:
    message = MsgCreateRequest(CCY, 100, "", 50, b"")
    raw = chain.tx(BOB, message, message)
    result = chain.block(raw).tx_results[0]
    assert result.ok
    ids = [e for e in result.events if e.type == "payment_request"]
    assert [dict(e.attributes)["id"] for e in ids] == [
        new_request_id(tx_hash(raw), 0),
        new_request_id(tx_hash(raw), 1),
    ]


def test_invalid_create_request_zero_amount(chain: Chain) -> None:
    message = MsgCreateRequest(CCY, 0, "", 10, b"")
    assert_fails_paying_fee(chain, BOB, message, error=errors.INVALID_AMOUNT)


def test_invalid_create_request_unknown_denom(chain: Chain) -> None:
    message = MsgCreateRequest("eur", 10, "", 10, b"")
    assert_fails_paying_fee(chain, BOB, message, error=errors.UNKNOWN_DENOM)


def test_invalid_create_request_expiring_now(chain: Chain) -> None:
    message = MsgCreateRequest(CCY, 10, "", 1, b"")  # the block being made is height 1
    assert_fails_paying_fee(chain, BOB, message, error=errors.INVALID_EXPIRY)


def test_invalid_create_request_payer_of_5_bytes(chain: Chain) -> None:
    message = MsgCreateRequest(CCY, 10, "", 10, b"short")
    assert_fails_paying_fee(chain, BOB, message, error=errors.PAYER_NOT_ALLOWED)


def test_invalid_create_request_memo_past_140_characters(chain: Chain) -> None:
    raw = chain.tx(BOB, MsgCreateRequest(CCY, 10, "x" * 141, 10, b""))
    assert_refused_free(chain, raw, tx_errors.BAD_MESSAGE)


def test_pay_request_moves_the_amount_and_marks_it_paid(chain: Chain) -> None:
    request_id = open_request(chain, BOB, 2_500)
    result = chain.run(ALICE, MsgPayRequest(request_id, CCY, 2_500))
    assert result.ok
    assert (chain.balance(ALICE), chain.balance(BOB)) == (50_000 - 2_501, 10_000 - 1 + 2_500)
    request = request_state(chain, request_id)
    assert (request.status, request.paid_by) == (REQUEST_PAID, addr(ALICE))
    assert [e.type for e in result.events] == ["request_paid"]


def test_invalid_pay_request_twice(chain: Chain) -> None:
    request_id = paid_request(chain)
    message = MsgPayRequest(request_id, CCY, 2_500)
    assert_fails_paying_fee(chain, CAROL, message, error=errors.REQUEST_NOT_OPEN)
    assert_fails_paying_fee(chain, ALICE, message, error=errors.REQUEST_NOT_OPEN)


def test_invalid_pay_request_wrong_amount(chain: Chain) -> None:
    request_id = open_request(chain, BOB, 2_500)
    for amount in (2_499, 2_501):
        message = MsgPayRequest(request_id, CCY, amount)
        assert_fails_paying_fee(chain, ALICE, message, error=errors.AMOUNT_MISMATCH)


def test_invalid_pay_request_wrong_denom(chain: Chain) -> None:
    request_id = open_request(chain, BOB, 2_500)
    message = MsgPayRequest(request_id, "eur", 2_500)
    assert_fails_paying_fee(chain, ALICE, message, error=errors.AMOUNT_MISMATCH)


def test_pay_request_at_its_expiry_height(chain: Chain) -> None:
    request_id = open_request(chain, BOB, 2_500, expires_in=3)  # created at 1, expires at 4
    chain.advance(2)
    assert chain.run(ALICE, MsgPayRequest(request_id, CCY, 2_500)).ok
    assert chain.height == 4


def test_invalid_pay_request_expired(chain: Chain) -> None:
    request_id = open_request(chain, BOB, 2_500, expires_in=3)
    chain.advance(3)
    message = MsgPayRequest(request_id, CCY, 2_500)
    assert_fails_paying_fee(chain, ALICE, message, error=errors.REQUEST_EXPIRED)


def test_invalid_pay_request_addressed_to_another_payer(chain: Chain) -> None:
    request_id = open_request(chain, BOB, 500, payer=addr(CAROL))
    message = MsgPayRequest(request_id, CCY, 500)
    assert_fails_paying_fee(chain, ALICE, message, error=errors.PAYER_NOT_ALLOWED)
    assert chain.run(CAROL, message).ok


def test_invalid_pay_request_unknown_id(chain: Chain) -> None:
    message = MsgPayRequest(bytes(16), CCY, 1)
    assert_fails_paying_fee(chain, ALICE, message, error=errors.REQUEST_NOT_FOUND)


def test_invalid_pay_request_overdraft(chain: Chain) -> None:
    request_id = open_request(chain, BOB, 2_500)
    message = MsgPayRequest(request_id, CCY, 2_500)
    assert_fails_paying_fee(chain, CAROL, message, error=errors.INSUFFICIENT_FUNDS)
    assert request_state(chain, request_id).status == REQUEST_OPEN


def test_invalid_pay_request_past_the_payers_tier_limit(chain: Chain) -> None:
    request_id = open_request(chain, BOB, TIER0_MAX_PAYMENT + 1)
    message = MsgPayRequest(request_id, CCY, TIER0_MAX_PAYMENT + 1)
    assert_fails_paying_fee(chain, ALICE, message, error=errors.TIER_PAYMENT_LIMIT)


def test_cancel_request_by_the_merchant(chain: Chain) -> None:
    request_id = open_request(chain)
    assert chain.run(BOB, MsgCancelRequest(request_id)).ok
    assert request_state(chain, request_id).status == REQUEST_CANCELLED
    message = MsgPayRequest(request_id, CCY, 2_500)
    assert_fails_paying_fee(chain, ALICE, message, error=errors.REQUEST_NOT_OPEN)


def test_invalid_cancel_request_by_someone_else(chain: Chain) -> None:
    request_id = open_request(chain)
    message = MsgCancelRequest(request_id)
    assert_fails_paying_fee(chain, ALICE, message, error=errors.NOT_MERCHANT)


def test_invalid_cancel_request_already_paid(chain: Chain) -> None:
    request_id = paid_request(chain)
    message = MsgCancelRequest(request_id)
    assert_fails_paying_fee(chain, BOB, message, error=errors.REQUEST_NOT_OPEN)


def test_invalid_cancel_request_unknown_id(chain: Chain) -> None:
    message = MsgCancelRequest(bytes(16))
    assert_fails_paying_fee(chain, BOB, message, error=errors.REQUEST_NOT_FOUND)


def test_refund_partial_then_full(chain: Chain) -> None:
    request_id = paid_request(chain, 2_500)
    alice = chain.balance(ALICE)
    assert chain.run(BOB, MsgRefund(request_id, 1_000)).ok
    request = request_state(chain, request_id)
    assert (request.status, request.refunded) == (REQUEST_PAID, 1_000)
    assert chain.run(BOB, MsgRefund(request_id, 1_500)).ok
    request = request_state(chain, request_id)
    assert (request.status, request.refunded) == (REQUEST_REFUNDED, 2_500)
    assert chain.balance(ALICE) == alice + 2_500


def test_invalid_refund_past_what_was_paid(chain: Chain) -> None:
    request_id = paid_request(chain, 2_500)
    message = MsgRefund(request_id, 2_501)
    assert_fails_paying_fee(chain, BOB, message, error=errors.REFUND_EXCEEDS)


def test_invalid_refund_past_what_remains(chain: Chain) -> None:
    request_id = paid_request(chain, 2_500)
    assert chain.run(BOB, MsgRefund(request_id, 2_000)).ok
    message = MsgRefund(request_id, 501)
    assert_fails_paying_fee(chain, BOB, message, error=errors.REFUND_EXCEEDS)


def test_invalid_refund_after_a_full_refund(chain: Chain) -> None:
    request_id = paid_request(chain, 2_500)
    assert chain.run(BOB, MsgRefund(request_id, 2_500)).ok
    message = MsgRefund(request_id, 1)
    assert_fails_paying_fee(chain, BOB, message, error=errors.REFUND_EXCEEDS)


def test_invalid_refund_of_zero(chain: Chain) -> None:
    request_id = paid_request(chain)
    assert_fails_paying_fee(chain, BOB, MsgRefund(request_id, 0), error=errors.REFUND_EXCEEDS)


def test_invalid_refund_by_someone_else(chain: Chain) -> None:
    request_id = paid_request(chain)
    message = MsgRefund(request_id, 100)
    assert_fails_paying_fee(chain, ALICE, message, error=errors.NOT_MERCHANT)


def test_invalid_refund_of_an_unpaid_request(chain: Chain) -> None:
    request_id = open_request(chain)
    message = MsgRefund(request_id, 100)
    assert_fails_paying_fee(chain, BOB, message, error=errors.REQUEST_NOT_PAID)


def test_invalid_refund_of_a_cancelled_request(chain: Chain) -> None:
    request_id = open_request(chain)
    assert chain.run(BOB, MsgCancelRequest(request_id)).ok
    message = MsgRefund(request_id, 100)
    assert_fails_paying_fee(chain, BOB, message, error=errors.REQUEST_NOT_PAID)


def test_refund_is_not_limited_by_the_merchants_payment_tier(chain: Chain) -> None:
    """A tier-0 merchant refunds more than tier 0 may pay: refunds are not payments."""
    assert chain.run(KYC, MsgSetTier(addr(ALICE), 1)).ok
    amount = TIER0_MAX_PAYMENT + 5_000
    request_id = open_request(chain, BOB, amount)
    assert chain.run(ALICE, MsgPayRequest(request_id, CCY, amount)).ok
    assert chain.run(BOB, MsgRefund(request_id, amount)).ok


def test_invalid_refund_overdraft(chain: Chain) -> None:
    request_id = paid_request(chain, 2_500)
    assert chain.run(BOB, send(CAROL, 11_400)).ok  # BOB keeps 10 000 - 2 + 2 500 - 11 400
    message = MsgRefund(request_id, 2_000)
    assert_fails_paying_fee(chain, BOB, message, error=errors.INSUFFICIENT_FUNDS)


# --- handlers called directly: validate everything before the first write ------------------------


def frozen_context(chain: Chain, sender: PrivateKey, *frozen: PrivateKey) -> Context:
    block = Overlay(chain.app.committed)
    for account in frozen:
        freeze_account(block, addr(account))
    return Context(
        Overlay(block),
        chain_id=chain.app.chain_id,
        height=chain.height + 1,
        time_ms=0,
        sender=addr(sender),
        tx_hash=bytes(32),
    )


@pytest.mark.parametrize(
    ("handler", "sender", "message", "frozen"),
    [
        pytest.param(handlers.handle_send, ALICE, send(BOB, 1), ALICE, id="send from frozen"),
        pytest.param(handlers.handle_send, ALICE, send(BOB, 1), BOB, id="send to frozen"),
        pytest.param(
            handlers.handle_mint, ISSUER, MsgMint(addr(BOB), CCY, 1), BOB, id="mint to frozen"
        ),
        pytest.param(
            handlers.handle_multi_send,
            ALICE,
            MsgMultiSend(CCY, ((addr(CAROL), 1), (addr(BOB), 1))),
            BOB,
            id="multi-send with a frozen second output",
        ),
    ],
)
def test_invalid_frozen_account(
    chain: Chain,
    handler: Callable[[Context, Any], object],
    sender: PrivateKey,
    message: object,
    frozen: PrivateKey,
) -> None:
    ctx = frozen_context(chain, sender, frozen)
    with pytest.raises(CityError) as raised:
        handler(ctx, message)
    assert (raised.value.codespace, raised.value.code) == code_of(errors.ACCOUNT_FROZEN)
    if handler is not handlers.handle_multi_send:
        assert ctx.state.writes == {}
        assert ctx.events == []


def test_multi_send_relies_on_the_transaction_branch_to_undo_earlier_outputs(chain: Chain) -> None:
    """handle_multi_send writes output by output; a later failure leaves the earlier writes in
    the message's overlay, which the application then discards (see test_app)."""
    ctx = frozen_context(chain, ALICE, BOB)
    with pytest.raises(CityError):
        handlers.handle_multi_send(ctx, MsgMultiSend(CCY, ((addr(CAROL), 1), (addr(BOB), 1))))
    assert ctx.state.writes != {}
    result = chain.run(ALICE, MsgMultiSend(CCY, ((addr(CAROL), 1), (addr(DAVE), 0))))
    assert error_of(result) == code_of(errors.INVALID_AMOUNT)
    assert chain.balance(CAROL) == 1_000
