"""The solo engine's mempool (citychain/engines/solo/mempool.py): admission, per-sender nonce order,
limits, and the recheck after every block."""

from __future__ import annotations

import hashlib

from helpers import ALICE, BOB, CAROL, CCY, VALIDATOR, Chain, addr, code_of, error_of

from citychain.block import Header, header_signature_valid
from citychain.codec import decode
from citychain.crypto.keys import PrivateKey
from citychain.engines.solo.engine import SoloEngine
from citychain.engines.solo.mempool import AddResult, Mempool
from citychain.modules.bank import errors as bank_errors
from citychain.modules.bank.messages import MsgSend
from citychain.tx import errors as tx_errors
from citychain.tx.envelope import decode_tx


def send(to: PrivateKey | bytes, amount: int) -> MsgSend:
    return MsgSend(recipient=addr(to), denom=CCY, amount=amount)


def add(pool: Mempool, raw: bytes) -> AddResult:
    return pool.add(raw, hashlib.sha256(raw).digest())


def nonces(raws: list[bytes]) -> list[int]:
    return [decode_tx(raw).body.nonce for raw in raws]


def assert_byte_count(pool: Mempool) -> None:
    queued = [entry.raw for waiting in pool.queued.values() for entry in waiting.values()]
    assert pool.pending_bytes == sum(map(len, pool.pending.values()))
    assert pool.queued_bytes == sum(map(len, queued))
    assert (
        pool.size()
        == len(pool.pending) + len(queued)
        == len(pool.pending) + len(pool.queued_hashes)
    )


def commit(chain: Chain, pool: Mempool, *txs: bytes) -> int:
    """Commit ``txs`` as the next block (as another proposer might), then update the pool."""
    result = chain.block(*txs)
    evicted = pool.update(result.tx_hashes)
    assert_byte_count(pool)
    return evicted


def test_valid_transactions_are_admitted_in_arrival_order(chain: Chain) -> None:
    pool = Mempool(chain.app)
    txs = [
        chain.tx(ALICE, send(BOB, 1)),
        chain.tx(BOB, send(CAROL, 1)),
        chain.tx(CAROL, send(ALICE, 1)),
    ]
    assert all(add(pool, raw).ok for raw in txs)
    assert pool.reap(100, 1 << 20) == txs
    assert_byte_count(pool)


def test_out_of_order_nonces_are_queued_then_promoted(chain: Chain) -> None:
    pool = Mempool(chain.app)
    by_nonce = [chain.tx(ALICE, send(BOB, 10 + n), nonce=n) for n in range(4)]
    for n in (3, 1, 2):
        result = add(pool, by_nonce[n])
        assert result.ok and result.queued
    assert len(pool) == 0 and pool.size() == 3
    assert_byte_count(pool)
    result = add(pool, by_nonce[0])
    assert result.ok and not result.queued
    assert len(pool) == 4 and pool.queued == {}
    reaped = pool.reap(100, 1 << 20)
    assert nonces(reaped) == [0, 1, 2, 3]
    assert_byte_count(pool)
    results = chain.block(*reaped).tx_results
    assert all(r.ok for r in results)
    assert chain.nonce(ALICE) == 4


def test_queued_transaction_is_promoted_after_a_block_closes_the_gap(chain: Chain) -> None:
    pool = Mempool(chain.app)
    later = chain.tx(ALICE, send(BOB, 2), nonce=1)
    assert add(pool, later).queued
    # Nonce 0 reaches a block without passing through this pool (another node's proposal).
    assert commit(chain, pool, chain.tx(ALICE, send(BOB, 1), nonce=0)) == 0
    assert pool.reap(100, 1 << 20) == [later]


def test_invalid_duplicate_pending(chain: Chain) -> None:
    pool = Mempool(chain.app)
    raw = chain.tx(ALICE, send(BOB, 1))
    assert add(pool, raw).ok
    assert error_of(add(pool, raw)) == code_of(tx_errors.DUPLICATE)
    assert len(pool) == 1


def test_invalid_duplicate_queued(chain: Chain) -> None:
    pool = Mempool(chain.app)
    raw = chain.tx(ALICE, send(BOB, 1), nonce=2)
    assert add(pool, raw).queued
    assert error_of(add(pool, raw)) == code_of(tx_errors.DUPLICATE)


def test_invalid_second_queued_tx_with_the_same_nonce(chain: Chain) -> None:
    pool = Mempool(chain.app)
    assert add(pool, chain.tx(ALICE, send(BOB, 1), nonce=2)).queued
    other = chain.tx(ALICE, send(BOB, 2), nonce=2)
    assert error_of(add(pool, other)) == code_of(tx_errors.DUPLICATE)
    assert_byte_count(pool)


def test_invalid_second_pending_tx_with_the_same_nonce(chain: Chain) -> None:
    pool = Mempool(chain.app)
    assert add(pool, chain.tx(ALICE, send(BOB, 1), nonce=0)).ok
    other = chain.tx(ALICE, send(BOB, 2), nonce=0)
    assert error_of(add(pool, other)) == code_of(tx_errors.NONCE_USED)


def test_invalid_committed_transaction_resubmitted(chain: Chain) -> None:
    pool = Mempool(chain.app)
    raw = chain.tx(ALICE, send(BOB, 1))
    commit(chain, pool, raw)
    assert error_of(add(pool, raw)) == code_of(tx_errors.NONCE_USED)


def test_invalid_nonce_too_far_ahead(chain: Chain) -> None:
    pool = Mempool(chain.app, max_queued_per_sender=2)
    assert add(pool, chain.tx(ALICE, send(BOB, 1), nonce=2)).queued
    result = add(pool, chain.tx(ALICE, send(BOB, 1), nonce=3))
    assert error_of(result) == code_of(tx_errors.NONCE_GAP)
    assert pool.size() == 1


def test_invalid_mempool_full_by_count(chain: Chain) -> None:
    pool = Mempool(chain.app, max_txs=2)
    assert add(pool, chain.tx(ALICE, send(BOB, 1))).ok
    assert add(pool, chain.tx(BOB, send(ALICE, 1), nonce=0)).ok
    result = add(pool, chain.tx(CAROL, send(ALICE, 1)))
    assert error_of(result) == code_of(tx_errors.MEMPOOL_FULL)
    assert pool.size() == 2


def test_queued_transactions_count_but_give_way_to_executable_ones(chain: Chain) -> None:
    pool = Mempool(chain.app, max_txs=2, max_queued=2)
    assert add(pool, chain.tx(ALICE, send(BOB, 1))).ok
    assert add(pool, chain.tx(BOB, send(ALICE, 1), nonce=5)).queued  # queued ones count too
    assert error_of(add(pool, chain.tx(CAROL, send(ALICE, 1), nonce=3))) == code_of(
        tx_errors.MEMPOOL_FULL
    )
    # An executable transaction takes the queued one's place.
    assert add(pool, chain.tx(CAROL, send(ALICE, 1))).ok
    assert pool.size() == 2 and pool.queued == {}
    assert_byte_count(pool)


def test_invalid_mempool_full_by_bytes(chain: Chain) -> None:
    first = chain.tx(ALICE, send(BOB, 1))
    pool = Mempool(chain.app, max_bytes=len(first) + 10)
    assert add(pool, first).ok
    result = add(pool, chain.tx(BOB, send(ALICE, 1)))
    assert error_of(result) == code_of(tx_errors.MEMPOOL_FULL)


def test_invalid_transactions_are_refused_with_their_code(chain: Chain) -> None:
    pool = Mempool(chain.app)
    assert error_of(add(pool, b"\x00")) == code_of(tx_errors.MALFORMED)
    overdraft = chain.tx(CAROL, send(BOB, 5_000))
    assert error_of(add(pool, overdraft)) == code_of(bank_errors.INSUFFICIENT_FUNDS)
    assert pool.size() == 0
    # The refused payment used neither the nonce nor the fee: the corrected one gets in.
    assert add(pool, chain.tx(CAROL, send(BOB, 999))).ok


def test_reap_respects_count_and_byte_limits(chain: Chain) -> None:
    pool = Mempool(chain.app)
    txs = [chain.tx(ALICE, send(BOB, 1), nonce=n) for n in range(5)]
    for raw in txs:
        assert add(pool, raw).ok
    assert pool.reap(2, 1 << 20) == txs[:2]
    assert pool.reap(100, len(txs[0]) * 3) == txs[:3]


def test_expired_transactions_are_evicted_after_a_block(chain: Chain) -> None:
    pool = Mempool(chain.app)
    expiring = chain.tx(BOB, send(ALICE, 1), expiry_height=1)
    included = chain.tx(ALICE, send(BOB, 1))
    assert add(pool, expiring).ok and add(pool, included).ok
    assert commit(chain, pool, included) == 1  # height 2 is past the expiry height 1
    assert pool.size() == 0


def test_recheck_keeps_transactions_that_are_still_valid(chain: Chain) -> None:
    pool = Mempool(chain.app)
    txs = [chain.tx(ALICE, send(BOB, 1), nonce=n) for n in range(3)]
    for raw in txs:
        assert add(pool, raw).ok
    assert commit(chain, pool, *pool.reap(1, 1 << 20)) == 0
    assert pool.reap(100, 1 << 20) == txs[1:]
    assert all(r.ok for r in chain.block(*txs[1:]).tx_results)


def test_recheck_evicts_transactions_a_block_made_invalid(chain: Chain) -> None:
    pool = Mempool(chain.app)
    pending = chain.tx(CAROL, send(BOB, 900))
    assert add(pool, pending).ok
    # Another proposer's block spends CAROL's money with the same nonce.
    conflicting = chain.tx(CAROL, send(ALICE, 900))
    assert commit(chain, pool, conflicting) == 1
    assert pool.size() == 0


def test_recheck_evicts_a_tx_whose_sender_can_no_longer_pay(chain: Chain) -> None:
    pool = Mempool(chain.app)
    first, second = (chain.tx(CAROL, send(BOB, 400), nonce=n) for n in (0, 1))
    assert add(pool, first).ok and add(pool, second).ok
    # A block with a different nonce-0 transaction that drains CAROL: second now overdraws.
    assert commit(chain, pool, chain.tx(CAROL, send(ALICE, 990))) == 2
    assert pool.size() == 0


def test_queued_transactions_the_chain_passed_are_evicted(chain: Chain) -> None:
    pool = Mempool(chain.app)
    assert add(pool, chain.tx(ALICE, send(BOB, 1), nonce=1)).queued
    other = [chain.tx(ALICE, send(CAROL, 2), nonce=n) for n in (0, 1)]
    assert commit(chain, pool, *other) == 1
    assert pool.size() == 0 and pool.queued == {}


def test_byte_count_survives_updates_with_queued_transactions(chain: Chain) -> None:
    """Regression: update() used to reset the byte count to the pending transactions only, so
    queued ones were no longer counted and the count could go negative."""
    pool = Mempool(chain.app)
    zero, one, two = (chain.tx(BOB, send(ALICE, 10), nonce=n) for n in range(3))
    assert add(pool, zero).ok and add(pool, two).queued
    commit(chain, pool, zero)
    assert pool.total_bytes == len(two)
    assert add(pool, one).ok
    assert pool.total_bytes == len(one) + len(two)
    assert_byte_count(pool)


def test_solo_engine_builds_a_signed_block_from_the_pool(chain: Chain) -> None:
    pool = Mempool(chain.app)
    engine = SoloEngine(chain.app, pool, VALIDATOR)
    later = chain.tx(ALICE, send(BOB, 2), nonce=1)
    assert add(pool, later).queued
    assert add(pool, chain.tx(ALICE, send(BOB, 1), nonce=0)).ok
    committed = engine.produce_block()
    assert committed is not None
    assert [r.ok for r in committed.result.tx_results] == [True, True]
    assert chain.app.check_invariants() == []
    stored = chain.app.store.block(1)
    assert stored is not None and stored.hash == committed.record.hash
    header = decode(stored.header, Header)
    assert header.app_hash == chain.app.app_hash
    assert header_signature_valid(header, stored.signature)
    assert pool.size() == 0
    assert engine.produce_block() is None  # no empty blocks
