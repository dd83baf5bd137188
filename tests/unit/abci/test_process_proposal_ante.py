"""The ante step in PrepareProposal and ProcessProposal (citychain/engines/cometbft/handler.py,
docs/network.md, "ABCI").

Issue 13, "free junk in blocks": a proposer could include transactions that decode and are
signed but fail the ante step (no funds for the fee, a nonce gap, a replay): they pay no fee and
stay in the chain for ever. ProcessProposal now runs the block's transactions in order on a
scratch branch of the committed state and REJECTs such a block; PrepareProposal leaves them
out, so an honest proposal is always accepted. Signatures are verified off the event loop.
FinalizeBlock of the block a proposal check ran takes that run rather than running it again.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import json
import threading
from pathlib import Path
from typing import Any

import pytest
from helpers import ALICE, BOB, CCY, CHAIN_ID, DAVE, addr, key, make_genesis

from citychain.app import Application
from citychain.crypto.keys import PrivateKey
from citychain.engines.cometbft.engine import (
    DEFAULT_BLOCK_MAX_BYTES,
    DEFAULT_EVIDENCE_MAX_BYTES,
    CometEngine,
    block_tx_bytes,
)
from citychain.engines.cometbft.handler import MAX_PROPOSAL_TXS, AbciHandler
from citychain.genesis import Genesis
from citychain.modules.bank.messages import MsgSend
from citychain.modules.base import Context
from citychain.pb.tendermint.abci import types_pb2 as abci
from citychain.pb.tendermint.crypto import keys_pb2
from citychain.store.sqlite import BlockStore
from citychain.tx.envelope import DecodedTx, sign_tx

VALIDATOR_KEY = bytes(range(32))
ACCEPT = abci.ResponseProcessProposal.ACCEPT
REJECT = abci.ResponseProcessProposal.REJECT
BLOCK_TIME_S = 1_700_000_000


def genesis_doc() -> Genesis:
    doc = json.loads(make_genesis({ALICE: 50_000, BOB: 10_000}).raw)
    doc["validators"] = [{"name": "City Hall", "public_key": VALIDATOR_KEY.hex(), "power": 10}]
    return Genesis.from_dict(doc)


def pay(
    signer: PrivateKey,
    nonce: int,
    amount: int = 100,
    *,
    to: PrivateKey = BOB,
    chain_id: str = CHAIN_ID,
    expiry_height: int = 0,
) -> bytes:
    message = MsgSend(recipient=addr(to), denom=CCY, amount=amount)
    return sign_tx(
        signer,
        chain_id=chain_id,
        nonce=nonce,
        messages=[message],
        fee=1,
        expiry_height=expiry_height,
    )


def run(coro):  # type: ignore[no-untyped-def]
    return asyncio.run(coro)


@pytest.fixture
def handler(tmp_path: Path) -> AbciHandler:
    return started(tmp_path / "chain.sqlite")


def started(db_file: Path) -> AbciHandler:
    """A handler over a new Application after InitChain."""
    handler = AbciHandler(Application(BlockStore(db_file)))
    genesis = genesis_doc()
    init = abci.RequestInitChain(
        chain_id=CHAIN_ID,
        app_state_bytes=genesis.raw,
        initial_height=1,
        validators=[
            abci.ValidatorUpdate(pub_key=keys_pb2.PublicKey(ed25519=VALIDATOR_KEY), power=10)
        ],
    )
    run(handler.handle(abci.Request(init_chain=init)))
    return handler


def process(handler: AbciHandler, txs: list[bytes], height: int = 1) -> int:
    request = abci.RequestProcessProposal(txs=txs, height=height)
    request.time.seconds = BLOCK_TIME_S + height
    response = run(handler.handle(abci.Request(process_proposal=request)))
    assert response.WhichOneof("value") == "process_proposal"
    status: int = response.process_proposal.status
    return status


def prepare(handler: AbciHandler, txs: list[bytes], height: int = 1) -> list[bytes]:
    request = abci.RequestPrepareProposal(txs=txs, height=height, max_tx_bytes=1 << 20)
    request.time.seconds = BLOCK_TIME_S + height
    response = run(handler.handle(abci.Request(prepare_proposal=request)))
    return list(response.prepare_proposal.txs)


def commit_block(handler: AbciHandler, height: int, txs: list[bytes]) -> abci.ResponseFinalizeBlock:
    async def scenario() -> abci.ResponseFinalizeBlock:
        request = abci.RequestFinalizeBlock(
            height=height, txs=txs, hash=hashlib.sha256(b"%d" % height).digest()
        )
        request.time.seconds = BLOCK_TIME_S + height
        finalized = await handler.handle(abci.Request(finalize_block=request))
        await handler.handle(abci.Request(commit=abci.RequestCommit()))
        assert handler.writing is not None
        await handler.writing
        return finalized.finalize_block

    response: abci.ResponseFinalizeBlock = run(scenario())
    return response


def count_transfers(handler: AbciHandler) -> list[bytes]:
    """The hash of each transaction whose transfer the Application runs, from now on."""
    calls: list[bytes] = []
    app = handler.app
    route = app.routes[MsgSend.TYPE]

    def counting(ctx: Context, message: Any) -> bytes | None:
        calls.append(ctx.tx_hash)
        return route.handler(ctx, message)

    app.routes[MsgSend.TYPE] = dataclasses.replace(route, handler=counting)
    return calls


def test_a_good_proposal_is_accepted(handler: AbciHandler) -> None:
    assert process(handler, [pay(ALICE, 0), pay(BOB, 0, to=ALICE)]) == ACCEPT
    assert process(handler, []) == ACCEPT


def test_two_consecutive_nonces_of_one_sender_are_accepted(handler: AbciHandler) -> None:
    assert process(handler, [pay(ALICE, 0), pay(ALICE, 1), pay(ALICE, 2)]) == ACCEPT


def test_invalid_unfunded_sender(handler: AbciHandler) -> None:
    assert process(handler, [pay(ALICE, 0), pay(DAVE, 0, 1)]) == REJECT


def test_fee_paid_from_money_received_earlier_in_the_block(handler: AbciHandler) -> None:
    # Messages run too, in order: DAVE can pay once ALICE's transfer has reached him.
    assert process(handler, [pay(ALICE, 0, 100, to=DAVE), pay(DAVE, 0, 10)]) == ACCEPT
    assert process(handler, [pay(DAVE, 0, 10), pay(ALICE, 0, 100, to=DAVE)]) == REJECT


def test_invalid_fee_unpayable_after_an_earlier_transfer_spent_everything(
    handler: AbciHandler,
) -> None:
    assert process(handler, [pay(BOB, 0, 9_999, to=ALICE), pay(BOB, 1, 1, to=ALICE)]) == REJECT


def test_invalid_nonce_gap(handler: AbciHandler) -> None:
    assert process(handler, [pay(ALICE, 1)]) == REJECT
    assert process(handler, [pay(ALICE, 0), pay(ALICE, 2)]) == REJECT


def test_invalid_duplicate_transaction(handler: AbciHandler) -> None:
    tx = pay(ALICE, 0)
    assert process(handler, [tx, tx]) == REJECT


def test_invalid_replay_of_a_committed_transaction(handler: AbciHandler) -> None:
    tx = pay(ALICE, 0)
    commit_block(handler, 1, [tx])
    assert process(handler, [tx], height=2) == REJECT
    assert process(handler, [pay(ALICE, 1)], height=2) == ACCEPT


def test_invalid_wrong_chain(handler: AbciHandler) -> None:
    assert process(handler, [pay(ALICE, 0, chain_id="another-city")]) == REJECT


def test_invalid_expired(handler: AbciHandler) -> None:
    commit_block(handler, 1, [pay(BOB, 0, to=ALICE)])
    assert process(handler, [pay(ALICE, 0, expiry_height=1)], height=2) == REJECT
    assert process(handler, [pay(ALICE, 0, expiry_height=2)], height=2) == ACCEPT


def test_a_message_that_fails_after_the_fee_is_paid_is_not_junk(handler: AbciHandler) -> None:
    # The overdraft fails in its message but pays its fee and uses its nonce: a valid block.
    assert process(handler, [pay(ALICE, 0, 10**9), pay(ALICE, 1)]) == ACCEPT


def test_prepare_drops_what_process_would_reject(handler: AbciHandler) -> None:
    forged = bytearray(pay(BOB, 1, to=ALICE))
    forged[-1] ^= 1
    good = [pay(ALICE, 0), pay(ALICE, 1), pay(BOB, 0, to=ALICE)]
    mempool = [
        good[0],
        pay(DAVE, 0, 1),  # unfunded
        good[0],  # duplicate
        pay(ALICE, 3),  # gap
        good[1],
        bytes(forged),
        b"garbage",
        pay(ALICE, 0, chain_id="another-city"),
        good[2],
    ]
    assert process(handler, mempool) == REJECT
    prepared = prepare(handler, mempool)
    assert prepared == good
    assert process(handler, prepared) == ACCEPT


def test_prepare_caps_the_number_of_transactions(handler: AbciHandler) -> None:
    handler.max_proposal_txs = 2
    assert prepare(handler, [pay(ALICE, n) for n in range(4)]) == [pay(ALICE, 0), pay(ALICE, 1)]


def test_signatures_of_a_proposal_are_verified_off_the_event_loop(
    handler: AbciHandler, monkeypatch: pytest.MonkeyPatch
) -> None:
    threads: list[threading.Thread] = []
    original = DecodedTx.signature_valid

    def recording(self: DecodedTx) -> bool:
        threads.append(threading.current_thread())
        return original(self)

    monkeypatch.setattr(DecodedTx, "signature_valid", recording)
    strangers = [key(f"stranger-{i}") for i in range(3)]
    txs = [pay(ALICE, 0), *(pay(s, 0) for s in strangers)]
    assert process(handler, txs) == REJECT  # the strangers hold nothing
    assert len(threads) == len(txs)
    assert threading.main_thread() not in threads
    # Known now: a second look verifies nothing again.
    assert process(handler, txs[:1]) == ACCEPT
    assert len(threads) == len(txs)


def test_engine_block_limits_follow_the_cometbft_genesis(tmp_path: Path) -> None:
    expected_default = DEFAULT_BLOCK_MAX_BYTES - DEFAULT_EVIDENCE_MAX_BYTES - 64 * 1024
    assert block_tx_bytes(None) == block_tx_bytes(tmp_path / "missing.json") == expected_default
    config = tmp_path / "cometbft" / "config"
    config.mkdir(parents=True)
    params = {"block": {"max_bytes": "4194304"}, "evidence": {"max_bytes": "1048576"}}
    (config / "genesis.json").write_text(json.dumps({"consensus_params": params}))
    engine = CometEngine(
        Application(BlockStore(tmp_path / "c.sqlite")),
        abci_address="tcp://127.0.0.1:0",
        rpc_url="http://cometbft.invalid",
        cometbft_home=tmp_path / "cometbft",
    )
    assert engine.block_limits() == (MAX_PROPOSAL_TXS, 4194304 - 1048576 - 64 * 1024)


# --- a proposal's run is the block's ------------------------------------------------------------
def a_block() -> list[bytes]:
    """A block whose transfers, fees and a failing message all move money between them."""
    return [pay(ALICE, 0, 100, to=DAVE), pay(DAVE, 0, 10), pay(ALICE, 1, 10**9), pay(BOB, 0)]


def test_finalize_takes_the_run_of_the_proposal_it_accepted(
    handler: AbciHandler, tmp_path: Path
) -> None:
    """ProcessProposal ran the block's transactions already: FinalizeBlock of that block does
    not run them again, and answers exactly what a node that never saw the proposal computes
    (a block replayed after a crash)."""
    txs = a_block()
    transfers = count_transfers(handler)
    assert process(handler, txs) == ACCEPT
    assert len(transfers) == len(txs)
    finalized = commit_block(handler, 1, txs)
    assert len(transfers) == len(txs)  # not run again
    replayed = commit_block(started(tmp_path / "replay.sqlite"), 1, txs)
    assert finalized == replayed
    # The third fails in its message (an overdraft) after paying its fee.
    assert [r.code == 0 for r in finalized.tx_results] == [True, True, False, True]


def test_the_proposer_runs_its_block_once(handler: AbciHandler, tmp_path: Path) -> None:
    mempool = [*a_block(), pay(DAVE, 5)]  # a nonce gap PrepareProposal leaves out
    transfers = count_transfers(handler)
    proposed = prepare(handler, mempool)
    assert proposed == mempool[:-1]
    assert process(handler, proposed) == ACCEPT
    finalized = commit_block(handler, 1, proposed)
    assert transfers == [hashlib.sha256(raw).digest() for raw in proposed]
    assert finalized == commit_block(started(tmp_path / "replay.sqlite"), 1, proposed)


def test_a_block_other_than_the_proposal_is_run_again(handler: AbciHandler, tmp_path: Path) -> None:
    txs = a_block()
    transfers = count_transfers(handler)
    assert process(handler, txs) == ACCEPT  # round 0's proposal
    assert process(handler, txs[:2]) == ACCEPT  # round 1's
    decided = txs[:1]  # round 2's, decided without this node's ProcessProposal
    before = len(transfers)
    finalized = commit_block(handler, 1, decided)
    assert len(transfers) == before + len(decided)
    assert finalized == commit_block(started(tmp_path / "replay.sqlite"), 1, decided)
    # The same transactions at another time are another block.
    later = [pay(ALICE, 1)]
    assert process(handler, later, height=2) == ACCEPT
    before = len(transfers)
    request = abci.RequestFinalizeBlock(height=2, txs=later)
    request.time.seconds = BLOCK_TIME_S + 99
    run(handler.handle(abci.Request(finalize_block=request)))
    assert len(transfers) == before + len(later)
