"""A CometBFT restarted under a running app (``kill -9`` of CometBFT alone) starts with an
empty mempool: what the old one's mempool held must not stay pending in the app's check
state, or the same transaction handed over again (by its payer, or the node's ingress
journal) is refused as a replay and its payer's later nonces are admitted here but never fit
a block."""

from __future__ import annotations

import asyncio
import hashlib
import json
from pathlib import Path

from helpers import ALICE, BOB, CCY, ISSUER, KYC, addr, make_genesis, sign_body, unsigned_body

from citychain.app import Application
from citychain.codec import encode
from citychain.engines.cometbft.handler import AbciHandler
from citychain.genesis import Genesis
from citychain.modules.bank.messages import MsgSend
from citychain.pb.tendermint.abci import types_pb2 as abci
from citychain.pb.tendermint.crypto import keys_pb2
from citychain.store.sqlite import BlockStore

VALIDATOR_KEY = bytes(range(32))


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


def test_a_new_cometbft_handshake_forgets_what_the_old_mempool_held(tmp_path: Path) -> None:
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
    first = _transfer(0)
    assert _check(handler, first).code == 0
    assert handler.app.is_pending(hashlib.sha256(first).digest())
    # CometBFT dies with ``first`` in its mempool, not gossiped; a new one connects.
    asyncio.run(handler.handle(abci.Request(info=abci.RequestInfo())))
    assert not handler.app.is_pending(hashlib.sha256(first).digest())
    assert handler.app.next_nonce(addr(ALICE)) == 0
    again = _check(handler, first)
    assert (again.codespace, again.code) == ("", 0), again.log
    # And the payer's next nonce follows it, as it would in a block.
    assert _check(handler, _transfer(1)).code == 0
