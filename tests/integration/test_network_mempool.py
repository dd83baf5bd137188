"""CometBFT's mempool on the shared consortium: what a block made invalid leaves every mempool.

Issue 13, "free junk in blocks": PrepareProposal now leaves out transactions that fail the ante
step, so one that a block made invalid after CheckTx admitted it (the loser of a double spend
sent to two nodes at once) would otherwise stay in CometBFT's mempool for ever. CometBFT's
recheck (``[mempool] recheck = true``) asks the app again after each block, and the app refuses
what its rebased check state dropped (docs/network.md, "Mempool admission and block limits").
"""

from __future__ import annotations

import base64
from concurrent.futures import ThreadPoolExecutor

import pytest
from netutil import (
    CHAIN_ID,
    FEE,
    Account,
    Ledger,
    Network,
    fixed_key,
    mint,
    requires_cometbft,
    wait_until,
)

from citychain.modules.bank.messages import MsgSend
from citychain.tx.envelope import sign_tx

pytestmark = [
    pytest.mark.network,
    pytest.mark.slow,
    pytest.mark.xdist_group("network"),
    pytest.mark.timeout(300),
    requires_cometbft,
]

VALIDATORS = 4
ATTEMPTS = 5  # the two spends must reach two nodes before gossip carries either across
BLOCKS_TO_SETTLE = 3


def _spend(payer: Account, nonce: int, amount: int) -> bytes:
    message = MsgSend(bytes(20), "ccy", amount)
    return sign_tx(payer.key, chain_id=CHAIN_ID, nonce=nonce, messages=[message], fee=FEE)


def _in_mempool(net: Network, index: int) -> set[bytes]:
    answer = net.rpc(index, "unconfirmed_txs", limit="100")
    return {base64.b64decode(tx) for tx in answer.get("txs") or []}


@pytest.mark.consortium("read-only")
def test_the_loser_of_a_double_spend_leaves_every_mempool(consortium: Network) -> None:
    net = consortium
    payer = Account(fixed_key("mempool-double-spender"))
    if net.balance(0, payer.address) == 0:
        mint(net, Ledger(), [payer.address], 10_000)
    payer.nonce = net.client(0).nonce(payer.address)
    everyone = list(range(VALIDATORS))
    for _ in range(ATTEMPTS):
        nonce = payer.nonce
        first, second = _spend(payer, nonce, 1), _spend(payer, nonce, 2)
        with ThreadPoolExecutor(2) as pool:
            calls = [
                pool.submit(net.rpc, i, "broadcast_tx_sync", tx=base64.b64encode(raw).decode())
                for i, raw in ((0, first), (1, second))
            ]
            codes = [call.result()["code"] for call in calls]
        net.wait_for_height(net.common_height(everyone) + BLOCKS_TO_SETTLE, everyone)
        payer.nonce = net.client(0).nonce(payer.address)
        assert payer.nonce == nonce + 1  # exactly one of the two spends committed
        if codes == [0, 0]:
            break
    else:
        pytest.skip("gossip carried one spend across before the other arrived, every time")

    def drained() -> bool:
        return all(not ({first, second} & _in_mempool(net, i)) for i in everyone)

    wait_until(drained, 30, "the double spend to leave every mempool")
    # The network goes on: the next nonce commits.
    result = net.client(1).broadcast(_spend(payer, payer.nonce, 3), wait=True)
    assert (result["code"], result["height"] is not None) == (0, True)
