"""A CometBFT restarted under a running app (``kill -9`` of CometBFT alone) starts with an
empty mempool: what the old one's mempool held must not stay pending in the app's check
state, or the same transaction handed over again (by its payer, or the node's ingress
journal) is refused as a replay and its payer's later nonces are admitted here but never fit
a block. The app learns it when the old CometBFT's mempool connection closes; an ``Info``
request (which CometBFT's RPC ``abci_info`` sends at any time) changes nothing."""

from __future__ import annotations

import asyncio
import hashlib
import json
from pathlib import Path

from helpers import ALICE, BOB, CCY, ISSUER, KYC, addr, make_genesis, sign_body, unsigned_body

from citychain.app import Application
from citychain.codec import encode
from citychain.engines.cometbft.handler import AbciHandler
from citychain.engines.cometbft.server import AbciServer
from citychain.engines.cometbft.wire import FrameDecoder, frame
from citychain.genesis import Genesis
from citychain.modules.bank.messages import MsgSend
from citychain.pb.tendermint.abci import types_pb2 as abci
from citychain.pb.tendermint.crypto import keys_pb2
from citychain.store.sqlite import BlockStore

VALIDATOR_KEY = bytes(range(32))
WAIT_S = 10.0
POLL_S = 0.01


def _genesis() -> Genesis:
    base = make_genesis({ALICE: 50_000, BOB: 10_000, ISSUER: 1_000, KYC: 1_000}, issuers=[ISSUER])
    doc = json.loads(base.raw)
    doc["validators"] = [{"name": "City Hall", "public_key": VALIDATOR_KEY.hex(), "power": 10}]
    return Genesis.from_dict(doc)


def _transfer(nonce: int) -> bytes:
    message = MsgSend(recipient=addr(BOB), denom=CCY, amount=100)
    return sign_body(ALICE, unsigned_body(ALICE, [(MsgSend.TYPE, encode(message))], nonce=nonce))


def _check(handler: AbciHandler, raw: bytes) -> abci.ResponseCheckTx:
    request = abci.Request(check_tx=abci.RequestCheckTx(tx=raw))
    return asyncio.run(handler.handle(request)).check_tx


def _started(tmp_path: Path) -> AbciHandler:
    handler = AbciHandler(Application(BlockStore(tmp_path / "chain.sqlite")))
    genesis = _genesis()
    init = abci.RequestInitChain(
        chain_id=genesis.chain_id,
        app_state_bytes=genesis.raw,
        initial_height=1,
        validators=[
            abci.ValidatorUpdate(pub_key=keys_pb2.PublicKey(ed25519=VALIDATOR_KEY), power=10)
        ],
    )
    asyncio.run(handler.handle(abci.Request(init_chain=init)))
    return handler


async def _check_on(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, raw: bytes
) -> abci.ResponseCheckTx:
    """CheckTx as CometBFT's mempool connection sends it."""
    writer.write(frame(abci.Request(check_tx=abci.RequestCheckTx(tx=raw)).SerializeToString()))
    await writer.drain()
    decoder = FrameDecoder()
    answers: list[bytes] = []
    while not answers:
        answers = decoder.feed(await asyncio.wait_for(reader.read(65536), WAIT_S))
    response = abci.Response()
    response.ParseFromString(answers[0])
    return response.check_tx


def test_a_closed_mempool_connection_forgets_what_that_mempool_held(tmp_path: Path) -> None:
    handler = _started(tmp_path)
    app = handler.app
    first = _transfer(0)
    first_hash = hashlib.sha256(first).digest()

    async def forgotten() -> None:
        while app.is_pending(first_hash):
            await asyncio.sleep(POLL_S)

    async def scenario() -> None:
        server = AbciServer("tcp://127.0.0.1:0", handler.handle, None, handler.mempool_closed)
        await server.start()
        assert server._server is not None
        port = server._server.sockets[0].getsockname()[1]
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            assert (await _check_on(reader, writer, first)).code == 0
            assert app.is_pending(first_hash)
            # CometBFT dies with ``first`` in its mempool, not gossiped: its connection closes.
            writer.close()
            await writer.wait_closed()
            await asyncio.wait_for(forgotten(), WAIT_S)
        finally:
            await server.close()

    asyncio.run(scenario())
    assert app.next_nonce(addr(ALICE)) == 0
    # A new CometBFT connects; the same transaction is handed over again.
    again = _check(handler, first)
    assert (again.codespace, again.code) == ("", 0), again.log
    # And the payer's next nonce follows it, as it would in a block.
    assert _check(handler, _transfer(1)).code == 0


def test_info_forgets_nothing(tmp_path: Path) -> None:
    """CometBFT's RPC ``abci_info`` sends the handshake's very ``Info`` request while the
    mempool still holds what the app checked."""
    handler = _started(tmp_path)
    app = handler.app
    first = _transfer(0)
    assert _check(handler, first).code == 0
    asyncio.run(handler.handle(abci.Request(info=abci.RequestInfo())))
    assert app.is_pending(hashlib.sha256(first).digest())
    assert app.next_nonce(addr(ALICE)) == 1
    assert _check(handler, _transfer(1)).code == 0
