"""Admission control in the solo mempool (citychain/engines/solo/mempool.py; docs/network.md,
"Mempool admission and block limits"): who may queue a transaction behind a nonce gap, the
global caps on queued entries, their expiry, and that queued entries give way to executable
ones.

The first test replays issue 13's "mempool jam": keys nobody funded each queue nonces 1..64
until the pool is full, after which a funded transfer was refused and no block was made.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from helpers import ALICE, BOB, CAROL, CCY, DAVE, VALIDATOR, Chain, addr, code_of, error_of, key

from citychain.crypto.keys import PrivateKey
from citychain.engines.interface import BlockLimits
from citychain.engines.solo.engine import SoloEngine
from citychain.engines.solo.mempool import AddResult, Mempool
from citychain.modules.bank.messages import MsgSend
from citychain.tx import errors as tx_errors

QUEUE_DEPTH = 64  # nonces 1..64, the per-sender queue's default limit


def send(to: PrivateKey | bytes, amount: int) -> MsgSend:
    return MsgSend(recipient=addr(to), denom=CCY, amount=amount)


def add(pool: Mempool, raw: bytes) -> AddResult:
    return pool.add(raw, hashlib.sha256(raw).digest())


def commit(chain: Chain, pool: Mempool, *txs: bytes) -> int:
    """Commit ``txs`` as the next block (as another proposer might), then update the pool."""
    evicted = pool.update(chain.block(*txs).tx_hashes)
    queued = [entry.raw for waiting in pool.queued.values() for entry in waiting.values()]
    assert pool.queued_bytes == sum(map(len, queued))
    assert pool.pending_bytes == sum(map(len, pool.pending.values()))
    return evicted


def queued_nonces(pool: Mempool, who: PrivateKey) -> list[int]:
    return sorted(pool.queued.get(addr(who), {}))


def test_unfunded_keys_cannot_jam_the_pool(chain: Chain) -> None:
    """Issue 13, "mempool jam": before admission control every one of these was queued until
    the pool was full, and the funded transfer below got tx/14."""
    pool = Mempool(chain.app, max_txs=512)
    engine = SoloEngine(chain.app, pool, VALIDATOR)
    spammers = [key(f"jam-{i}") for i in range(12)]  # 12 x 64 = 768 > 512
    refused = [
        add(pool, chain.tx(spammer, send(BOB, 1), nonce=nonce))
        for spammer in spammers
        for nonce in range(1, QUEUE_DEPTH + 1)
    ]
    assert {error_of(r) for r in refused} == {code_of(tx_errors.FEE_UNPAYABLE)}
    assert pool.size() == 0
    payment = chain.tx(ALICE, send(BOB, 250))
    assert add(pool, payment).ok
    block = engine.produce_block()
    assert block is not None
    assert block.result.tx_raws == [payment]
    assert [r.ok for r in block.result.tx_results] == [True]
    assert chain.balance(BOB) == 10_250


def test_funded_senders_filling_the_queue_never_block_an_executable_transfer(
    tmp_path: Path,
) -> None:
    spammers = [key(f"rich-{i}") for i in range(8)]
    chain = Chain.create(tmp_path, {ALICE: 50_000, BOB: 10_000, **dict.fromkeys(spammers, 1000)})
    pool = Mempool(chain.app, max_txs=40, max_queued=20)
    for nonce in range(20):
        assert add(pool, chain.tx(ALICE, send(CAROL, 1), nonce=nonce)).ok
    for spammer in spammers:
        for nonce in range(1, 9):
            add(pool, chain.tx(spammer, send(BOB, 1), nonce=nonce))
    assert len(pool.queued_hashes) == 20 and pool.size() == pool.max_txs  # full
    payment = chain.tx(BOB, send(CAROL, 5))
    assert add(pool, payment).ok
    assert len(pool.queued_hashes) == 19 and pool.size() == pool.max_txs
    engine = SoloEngine(chain.app, pool, VALIDATOR)
    block = engine.produce_block()
    assert block is not None and block.result.tx_raws[-1] == payment
    assert all(r.ok for r in block.result.tx_results)


def test_queued_bytes_are_capped_and_give_way_too(chain: Chain) -> None:
    first = chain.tx(BOB, send(ALICE, 1), nonce=1)
    size = len(first)
    pool = Mempool(chain.app, max_bytes=2 * size + size // 2, max_queued_bytes=2 * size)
    assert add(pool, first).queued
    assert add(pool, chain.tx(BOB, send(ALICE, 1), nonce=2)).queued
    third = add(pool, chain.tx(BOB, send(ALICE, 1), nonce=3))
    assert error_of(third) == code_of(tx_errors.MEMPOOL_FULL)
    assert add(pool, chain.tx(ALICE, send(BOB, 1))).ok
    # The pending transfer and two queued ones do not fit: BOB's highest nonce gave way.
    assert queued_nonces(pool, BOB) == [1]


def test_a_sender_must_afford_the_fees_of_all_its_queued_transactions(chain: Chain) -> None:
    pool = Mempool(chain.app)
    # CAROL holds 1,000; her pending transfer leaves 1,000 - 500 - 300 = 200.
    assert add(pool, chain.tx(CAROL, send(BOB, 500), nonce=0, fee=300)).ok
    refused = add(pool, chain.tx(CAROL, send(BOB, 1), nonce=1, fee=201))
    assert error_of(refused) == code_of(tx_errors.FEE_UNPAYABLE)
    assert add(pool, chain.tx(CAROL, send(BOB, 1), nonce=2, fee=120)).queued
    assert add(pool, chain.tx(CAROL, send(BOB, 1), nonce=3, fee=80)).queued  # 200 in all
    refused = add(pool, chain.tx(CAROL, send(BOB, 1), nonce=4, fee=1))
    assert error_of(refused) == code_of(tx_errors.FEE_UNPAYABLE)
    assert queued_nonces(pool, CAROL) == [2, 3]


def test_a_key_without_an_account_cannot_queue_even_when_fees_are_zero(tmp_path: Path) -> None:
    chain = Chain.create(tmp_path, min_fee=0)
    pool = Mempool(chain.app)
    refused = add(pool, chain.tx(DAVE, send(BOB, 1), nonce=1, fee=0))
    assert error_of(refused) == code_of(tx_errors.FEE_UNPAYABLE)
    assert add(pool, chain.tx(CAROL, send(BOB, 1), nonce=1, fee=0)).queued


def test_queued_entries_expire_after_queued_ttl_blocks(chain: Chain) -> None:
    pool = Mempool(chain.app, queued_ttl_blocks=2)
    assert add(pool, chain.tx(BOB, send(ALICE, 1), nonce=5)).queued
    assert commit(chain, pool, chain.tx(ALICE, send(CAROL, 1), nonce=0)) == 0
    assert queued_nonces(pool, BOB) == [5]
    assert commit(chain, pool, chain.tx(ALICE, send(CAROL, 1), nonce=1)) == 1
    assert pool.size() == 0 and pool.queued == {}


def test_queued_entry_leaves_once_its_own_expiry_height_has_passed(chain: Chain) -> None:
    pool = Mempool(chain.app)
    assert add(pool, chain.tx(BOB, send(ALICE, 1), nonce=2, expiry_height=1)).queued
    assert add(pool, chain.tx(BOB, send(ALICE, 1), nonce=3)).queued
    assert commit(chain, pool, chain.tx(ALICE, send(CAROL, 1))) == 1  # next height 2 > 1
    assert queued_nonces(pool, BOB) == [3]


def test_a_sender_who_can_no_longer_pay_loses_its_highest_nonces(chain: Chain) -> None:
    pool = Mempool(chain.app)
    for nonce in (2, 3, 4):
        assert add(pool, chain.tx(CAROL, send(BOB, 1), nonce=nonce, fee=40)).queued
    # A block spends CAROL's nonce 0 on 900 (+ fee 1): 99 left, enough for two fees of 40.
    assert commit(chain, pool, chain.tx(CAROL, send(BOB, 900))) == 1
    assert queued_nonces(pool, CAROL) == [2, 3]


def test_a_newcomer_takes_room_only_from_senders_with_more_queued(chain: Chain) -> None:
    pool = Mempool(chain.app, max_queued=4)
    for nonce in range(1, 5):
        assert add(pool, chain.tx(BOB, send(ALICE, 1), nonce=nonce)).queued
    assert add(pool, chain.tx(ALICE, send(BOB, 1), nonce=1)).queued
    assert queued_nonces(pool, BOB) == [1, 2, 3]  # the highest nonce gave way
    assert add(pool, chain.tx(CAROL, send(BOB, 1), nonce=1)).queued
    assert queued_nonces(pool, BOB) == [1, 2]
    # ALICE would hold 2, as many as BOB: nobody has more, so the pool is full for her.
    refused = add(pool, chain.tx(ALICE, send(BOB, 1), nonce=2))
    assert error_of(refused) == code_of(tx_errors.MEMPOOL_FULL)
    assert pool.size() == 4


def test_promotion_after_eviction_keeps_the_counts_right(chain: Chain) -> None:
    pool = Mempool(chain.app, max_queued=3)
    for nonce in (1, 2, 3):
        assert add(pool, chain.tx(BOB, send(ALICE, 1), nonce=nonce)).queued
    assert add(pool, chain.tx(ALICE, send(BOB, 1), nonce=1)).queued  # BOB's 3 gives way
    assert add(pool, chain.tx(BOB, send(ALICE, 1), nonce=0)).ok  # promotes BOB's 1 and 2
    assert queued_nonces(pool, BOB) == [] and len(pool) == 3
    assert add(pool, chain.tx(CAROL, send(BOB, 1), nonce=1)).queued
    assert add(pool, chain.tx(CAROL, send(BOB, 1), nonce=2)).queued
    assert pool.size() == 6 and len(pool.queued_hashes) == 3


def test_solo_engine_reports_its_block_limits(chain: Chain) -> None:
    engine = SoloEngine(chain.app, Mempool(chain.app), VALIDATOR, max_block_txs=100)
    limits = engine.block_limits()
    assert isinstance(limits, BlockLimits)
    assert limits == (100, engine.max_block_bytes) == (limits.max_txs, limits.max_bytes)
