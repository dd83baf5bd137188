"""The ABCI layer: framing, and each request type answered as CometBFT 0.38 expects.

The handler is driven in-process with the generated protobuf types; the socket test sends framed
bytes over a real TCP connection, as CometBFT does, including garbage.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from pathlib import Path

import pytest
from helpers import (
    ALICE,
    BOB,
    CCY,
    CHAIN_ID,
    ISSUER,
    KYC,
    addr,
    key,
    make_genesis,
    sign_body,
    unsigned_body,
)
from hypothesis import given
from hypothesis import strategies as st

from citychain.app import Application
from citychain.codec import encode
from citychain.engines.cometbft.handler import AbciHandler, FinalizedBlock
from citychain.engines.cometbft.server import AbciServer
from citychain.engines.cometbft.wire import FrameDecoder, FrameError, frame
from citychain.genesis import Genesis
from citychain.modules.bank.messages import MsgSend
from citychain.modules.bank.state import balance_key
from citychain.pb.tendermint.abci import types_pb2 as abci
from citychain.pb.tendermint.crypto import keys_pb2
from citychain.state import Proof, verify_proof
from citychain.store.sqlite import BlockStore

VALIDATOR_KEY = bytes(range(32))
KEYLESS = key("abci-keyless")  # never funded


def genesis_doc() -> Genesis:
    base = make_genesis({ALICE: 50_000, BOB: 10_000, ISSUER: 1_000, KYC: 1_000}, issuers=[ISSUER])
    doc = json.loads(base.raw)
    doc["validators"] = [{"name": "City Hall", "public_key": VALIDATOR_KEY.hex(), "power": 10}]
    return Genesis.from_dict(doc)


def init_request(genesis: Genesis, chain_id: str = CHAIN_ID, power: int = 10) -> abci.Request:
    return abci.Request(
        init_chain=abci.RequestInitChain(
            chain_id=chain_id,
            app_state_bytes=genesis.raw,
            initial_height=1,
            validators=[
                abci.ValidatorUpdate(pub_key=keys_pb2.PublicKey(ed25519=VALIDATOR_KEY), power=power)
            ],
        )
    )


def transfer(nonce: int, amount: int = 100) -> bytes:
    message = MsgSend(recipient=addr(BOB), denom=CCY, amount=amount)
    body = unsigned_body(ALICE, [(MsgSend.TYPE, encode(message))], nonce=nonce)
    return sign_body(ALICE, body)


def run(coro):  # type: ignore[no-untyped-def]
    return asyncio.run(coro)


@pytest.fixture
def handler(tmp_path: Path) -> AbciHandler:
    return AbciHandler(Application(BlockStore(tmp_path / "chain.sqlite")))


async def finalize_and_commit(
    handler: AbciHandler, height: int, txs: list[bytes]
) -> abci.ResponseFinalizeBlock:
    request = abci.Request(
        finalize_block=abci.RequestFinalizeBlock(
            height=height, txs=txs, hash=hashlib.sha256(b"%d" % height).digest()
        )
    )
    request.finalize_block.time.seconds = 1_700_000_000 + height
    finalized = (await handler.handle(request)).finalize_block
    commit = await handler.handle(abci.Request(commit=abci.RequestCommit()))
    assert commit.WhichOneof("value") == "commit"
    # Commit answers before the block is durable; the node's readers wait for this write.
    assert handler.writing is not None
    await handler.writing
    await asyncio.sleep(0)  # the write's completion callback (on_block) runs on the loop
    return finalized


# --- framing ------------------------------------------------------------------------------------
@given(st.lists(st.binary(max_size=300), max_size=20), st.integers(1, 64))
def test_frames_survive_any_split(messages: list[bytes], chunk: int) -> None:
    stream = b"".join(frame(m) for m in messages)
    decoder = FrameDecoder()
    out: list[bytes] = []
    for i in range(0, len(stream), chunk):
        out.extend(decoder.feed(stream[i : i + chunk]))
    assert out == messages
    assert decoder.pending == 0


def test_oversized_or_endless_length_prefix_is_refused() -> None:
    with pytest.raises(FrameError, match="exceeds"):
        FrameDecoder(max_message=10).feed(frame(b"x" * 11))
    with pytest.raises(FrameError, match="longer than 10 bytes"):
        FrameDecoder().feed(b"\xff" * 11)


# --- genesis and info ---------------------------------------------------------------------------
def test_info_before_and_after_init_chain(handler: AbciHandler) -> None:
    info = run(handler.handle(abci.Request(info=abci.RequestInfo()))).info
    assert (info.last_block_height, info.last_block_app_hash) == (0, b"")
    genesis = genesis_doc()
    response = run(handler.handle(init_request(genesis)))
    assert response.init_chain.app_hash == handler.app.app_hash != b""
    # A crash before block 1 makes CometBFT ask again: same answer, not an error.
    again = run(handler.handle(init_request(genesis)))
    assert again.init_chain.app_hash == response.init_chain.app_hash


@pytest.mark.parametrize(
    ("chain_id", "power", "message"),
    [("other-chain", 10, "CometBFT runs 'other-chain'"), (CHAIN_ID, 11, "validators differ")],
)
def test_init_chain_refuses_a_genesis_that_disagrees_with_cometbft(
    tmp_path: Path, chain_id: str, power: int, message: str
) -> None:
    failures: list[str] = []
    handler = AbciHandler(
        Application(BlockStore(tmp_path / "c.sqlite")), on_failure=failures.append
    )
    response = run(handler.handle(init_request(genesis_doc(), chain_id, power)))
    assert response.WhichOneof("value") == "exception"
    assert message in response.exception.error
    assert failures and handler.app.height == -1


# --- blocks -------------------------------------------------------------------------------------
def test_blocks_execute_commit_and_survive_a_restart(tmp_path: Path) -> None:
    blocks: list[FinalizedBlock] = []
    store = BlockStore(tmp_path / "chain.sqlite")
    handler = AbciHandler(Application(store), on_block=blocks.append)

    async def scenario() -> abci.ResponseFinalizeBlock:
        await handler.handle(init_request(genesis_doc()))
        return await finalize_and_commit(handler, 1, [transfer(0), transfer(0), b"\x00junk"])

    finalized = run(scenario())
    codes = [r.code for r in finalized.tx_results]
    assert codes[0] == 0 and codes[1] != 0 and codes[2] != 0  # replayed nonce; undecodable
    assert finalized.app_hash == handler.app.app_hash
    assert [b.record.height for b in blocks] == [1]
    handler.close()
    store.close()
    restarted = Application(BlockStore(tmp_path / "chain.sqlite"))
    info = AbciHandler(restarted).info()
    assert (info.last_block_height, info.last_block_app_hash) == (1, finalized.app_hash)
    assert restarted.get(balance_key(addr(BOB), CCY)) is not None


def test_check_tx_and_recheck(handler: AbciHandler) -> None:
    seen: list[tuple[bytes, int]] = []
    handler.on_check = lambda h, r: seen.append((h, r.code))
    run(handler.handle(init_request(genesis_doc())))
    tx0, tx1 = transfer(0), transfer(1)
    ok = run(handler.handle(abci.Request(check_tx=abci.RequestCheckTx(tx=tx0))))
    gap = run(handler.handle(abci.Request(check_tx=abci.RequestCheckTx(tx=transfer(5)))))
    assert ok.check_tx.code == 0
    assert gap.check_tx.code != 0 and "nonce" in gap.check_tx.log
    assert seen == [
        (hashlib.sha256(tx0).digest(), 0),
        (hashlib.sha256(transfer(5)).digest(), gap.check_tx.code),
    ]
    # After a block holding tx0, tx1 is still waiting: the app rebases its check state
    # itself at Commit, so tx2 follows tx1 without a nonce gap.
    run(handler.handle(abci.Request(check_tx=abci.RequestCheckTx(tx=tx1))))
    run(finalize_and_commit(handler, 1, [tx0]))
    assert handler.app.next_nonce(addr(ALICE)) == 2
    tx2 = transfer(2)
    assert (
        run(handler.handle(abci.Request(check_tx=abci.RequestCheckTx(tx=tx2)))).check_tx.code == 0
    )
    # CometBFT's recheck asks again: the answer must not apply tx1 twice.
    recheck = abci.RequestCheckTx(tx=tx1, type=abci.RECHECK)
    assert run(handler.handle(abci.Request(check_tx=recheck))).check_tx.code == 0
    assert handler.app.next_nonce(addr(ALICE)) == 3
    assert len(seen) == 4  # rechecks answer no submitter


def test_rebase_forgets_what_a_block_made_stale(handler: AbciHandler) -> None:
    run(handler.handle(init_request(genesis_doc())))
    waiting = transfer(0, 100)
    assert handler.app.check_tx(waiting).ok
    # Another transaction with the same nonce (a different amount) wins the block.
    run(finalize_and_commit(handler, 1, [transfer(0, 200)]))
    assert not handler.app.is_pending(hashlib.sha256(waiting).digest())
    assert handler.app.next_nonce(addr(ALICE)) == 1


def test_check_tx_refuses_unfunded_senders_and_nonce_gaps(handler: AbciHandler) -> None:
    """Under CometBFT nothing waits for a nonce gap: CheckTx runs the whole ante step, so a
    sender must exist, afford its fee and use its next nonce (docs/network.md)."""
    run(handler.handle(init_request(genesis_doc())))
    message = MsgSend(recipient=addr(BOB), denom=CCY, amount=1)
    unfunded = sign_body(KEYLESS, unsigned_body(KEYLESS, [(MsgSend.TYPE, encode(message))]))
    for raw, code in ((unfunded, 9), (transfer(1), 6)):
        answer = run(handler.handle(abci.Request(check_tx=abci.RequestCheckTx(tx=raw))))
        assert (answer.check_tx.codespace, answer.check_tx.code) == ("tx", code)


def test_recheck_evicts_what_a_block_made_invalid(handler: AbciHandler) -> None:
    """CometBFT runs with recheck on: after each block it asks again about every waiting
    transaction and drops those refused, so nothing invalid stays in its mempool (where
    PrepareProposal would only have to leave it out, block after block)."""
    run(handler.handle(init_request(genesis_doc())))
    waiting, later = transfer(0, 100), transfer(1, 100)
    assert handler.app.check_tx(waiting).ok and handler.app.check_tx(later).ok
    run(finalize_and_commit(handler, 1, [transfer(0, 200)]))  # nonce 0 used by another tx
    recheck = [abci.RequestCheckTx(tx=raw, type=abci.RECHECK) for raw in (waiting, later)]
    codes = [run(handler.handle(abci.Request(check_tx=r))).check_tx.code for r in recheck]
    assert codes == [5, 0]  # the replay goes; nonce 1 is now next and stays


def test_proposals_keep_only_well_formed_signed_transactions(handler: AbciHandler) -> None:
    run(handler.handle(init_request(genesis_doc())))
    good = transfer(0)
    forged = bytearray(transfer(1))
    forged[-1] ^= 1
    txs = [good, bytes(forged), b"garbage"]
    prepared = run(
        handler.handle(
            abci.Request(prepare_proposal=abci.RequestPrepareProposal(max_tx_bytes=10_000, txs=txs))
        )
    ).prepare_proposal
    assert list(prepared.txs) == [good]
    small = abci.RequestPrepareProposal(max_tx_bytes=len(good) - 1, txs=[good])
    assert (
        list(run(handler.handle(abci.Request(prepare_proposal=small))).prepare_proposal.txs) == []
    )
    accept = abci.Request(process_proposal=abci.RequestProcessProposal(txs=[good]))
    reject = abci.Request(process_proposal=abci.RequestProcessProposal(txs=txs))
    assert (
        run(handler.handle(accept)).process_proposal.status == abci.ResponseProcessProposal.ACCEPT
    )
    assert (
        run(handler.handle(reject)).process_proposal.status == abci.ResponseProcessProposal.REJECT
    )


def test_query_proves_a_balance(handler: AbciHandler) -> None:
    run(handler.handle(init_request(genesis_doc())))
    run(finalize_and_commit(handler, 1, [transfer(0, 250)]))
    key = balance_key(addr(BOB), CCY)
    query = abci.Request(query=abci.RequestQuery(path="store/key", data=key, prove=True))
    response = run(handler.handle(query)).query
    assert response.code == 0 and response.height == 1
    proof = Proof.from_json(json.loads(response.proof_ops.ops[0].data))
    assert int.from_bytes(response.value, "big") == 10_250
    assert verify_proof(handler.app.app_hash, key, response.value, proof)
    old = abci.Request(query=abci.RequestQuery(path="store/key", data=key, height=5))
    assert "only the latest height" in run(handler.handle(old)).query.log
    unknown = abci.Request(query=abci.RequestQuery(path="p2p/filter/id/x"))
    assert run(handler.handle(unknown)).query.code != 0


def test_snapshots_echo_and_vote_extensions(handler: AbciHandler) -> None:
    def ask(**kwargs: object) -> abci.Response:
        return run(handler.handle(abci.Request(**kwargs)))  # type: ignore[arg-type]

    assert list(ask(list_snapshots=abci.RequestListSnapshots()).list_snapshots.snapshots) == []
    offer = ask(offer_snapshot=abci.RequestOfferSnapshot()).offer_snapshot
    assert offer.result == abci.ResponseOfferSnapshot.REJECT
    assert ask(echo=abci.RequestEcho(message="hi")).echo.message == "hi"
    assert ask(extend_vote=abci.RequestExtendVote()).extend_vote.vote_extension == b""
    verify = ask(verify_vote_extension=abci.RequestVerifyVoteExtension()).verify_vote_extension
    assert verify.status == abci.ResponseVerifyVoteExtension.ACCEPT
    assert ask(flush=abci.RequestFlush()).WhichOneof("value") == "flush"


# --- over a real socket -------------------------------------------------------------------------
def test_socket_server_answers_in_order_and_survives_garbage(handler: AbciHandler) -> None:
    async def scenario() -> list[abci.Response]:
        server = AbciServer("tcp://127.0.0.1:0", handler.handle)
        await server.start()
        assert server._server is not None
        port = server._server.sockets[0].getsockname()[1]
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        requests = [
            abci.Request(echo=abci.RequestEcho(message="one")),
            abci.Request(info=abci.RequestInfo()),
            abci.Request(flush=abci.RequestFlush()),
        ]
        payload = b"".join(frame(r.SerializeToString()) for r in requests)
        writer.write(payload[:3])  # split mid-message, as TCP may
        await writer.drain()
        writer.write(payload[3:] + frame(b"\xff\xff\xff"))  # then bytes that are no Request
        await writer.drain()
        decoder = FrameDecoder()
        answers: list[abci.Response] = []
        while len(answers) < 4:
            for raw in decoder.feed(await asyncio.wait_for(reader.read(65536), 5)):
                response = abci.Response()
                response.ParseFromString(raw)
                answers.append(response)
        writer.close()
        await server.close()
        return answers

    answers = run(scenario())
    assert [a.WhichOneof("value") for a in answers] == ["echo", "info", "flush", "exception"]
    assert answers[0].echo.message == "one"
    assert "does not decode" in answers[3].exception.error


def test_rebase_runs_waiting_transactions_again_so_an_overdraft_is_still_refused(
    handler: AbciHandler,
) -> None:
    def from_bob(nonce: int, amount: int) -> bytes:
        message = MsgSend(recipient=addr(ALICE), denom=CCY, amount=amount)
        return sign_body(BOB, unsigned_body(BOB, [(MsgSend.TYPE, encode(message))], nonce=nonce))

    run(handler.handle(init_request(genesis_doc())))
    app = handler.app
    small, large = from_bob(0, 100), from_bob(1, 9_000)
    assert app.check_tx(small).ok and app.check_tx(large).ok  # Bob's 10,000 cover both
    # Another node's block spends Bob's nonce 0 on a bigger transfer.
    run(finalize_and_commit(handler, 1, [from_bob(0, 5_000)]))
    for raw in (small, large):  # nonce used; then 9,000 no longer covered
        assert not app.is_pending(hashlib.sha256(raw).digest())
    assert app.next_nonce(addr(BOB)) == 1
    assert not app.check_tx(from_bob(1, 9_000)).ok
    assert app.check_tx(from_bob(1, 4_000)).ok
