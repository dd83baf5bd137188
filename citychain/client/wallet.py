"""A wallet: one key, its nonce, and the bank's messages as methods."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from citychain.client.errors import TxFailed
from citychain.client.http import Client
from citychain.crypto.address import address_from_public_key, address_to_bytes
from citychain.crypto.keys import PrivateKey
from citychain.modules.bank import (
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
from citychain.tx.envelope import Message, sign_tx

__all__ = ["DEFAULT_DENOM", "DEFAULT_FEE", "Wallet"]

DEFAULT_DENOM = "ccy"
DEFAULT_FEE = 1


class Wallet:
    def __init__(
        self,
        key: PrivateKey,
        client: Client,
        *,
        chain_id: str | None = None,
        fee: int = DEFAULT_FEE,
    ) -> None:
        self.key = key
        self.client = client
        self.address = address_from_public_key(key.public_key)
        self.fee = fee
        self._chain_id = chain_id
        self._nonce: int | None = None

    @property
    def chain_id(self) -> str:
        if self._chain_id is None:
            self._chain_id = str(self.client.status()["chain_id"])
        return self._chain_id

    def next_nonce(self) -> int:
        if self._nonce is None:
            self._nonce = self.client.nonce(self.address)
        return self._nonce

    def set_nonce(self, nonce: int) -> None:
        """Take ``nonce`` as the next nonce without asking the node.

        For a key known to be new, skipping the account look-up.
        """
        self._nonce = nonce

    def resync(self) -> None:
        """Forget the cached nonce (after a refused transaction), so the node's is used."""
        self._nonce = None

    def sign(self, messages: Sequence[Message], memo: str = "", expiry_height: int = 0) -> bytes:
        """Sign with the next nonce and advance it locally."""
        raw = sign_tx(
            self.key,
            chain_id=self.chain_id,
            nonce=self.next_nonce(),
            messages=messages,
            fee=self.fee,
            expiry_height=expiry_height,
            memo=memo,
        )
        self._nonce = self.next_nonce() + 1
        return raw

    def submit(
        self,
        messages: Sequence[Message],
        *,
        wait: bool = True,
        memo: str = "",
        expiry_height: int = 0,
    ) -> dict[str, Any]:
        """Sign, broadcast and (by default) wait for the commit; raise TxFailed on failure."""
        raw = self.sign(messages, memo=memo, expiry_height=expiry_height)
        result = self.client.broadcast(raw, wait=wait)
        if result.get("code", 0) != 0:
            if result.get("height") is None:
                self.resync()
            raise TxFailed(result)
        return result

    # --- bank -----------------------------------------------------------------------------
    def send(
        self, recipient: str, amount: int, denom: str = DEFAULT_DENOM, **kw: Any
    ) -> dict[str, Any]:
        return self.submit([MsgSend(address_to_bytes(recipient), denom, amount)], **kw)

    def multi_send(
        self, outputs: Sequence[tuple[str, int]], denom: str = DEFAULT_DENOM, **kw: Any
    ) -> dict[str, Any]:
        msg = MsgMultiSend(denom, tuple((address_to_bytes(a), n) for a, n in outputs))
        return self.submit([msg], **kw)

    def mint(
        self, recipient: str, amount: int, denom: str = DEFAULT_DENOM, **kw: Any
    ) -> dict[str, Any]:
        return self.submit([MsgMint(address_to_bytes(recipient), denom, amount)], **kw)

    def burn(self, amount: int, denom: str = DEFAULT_DENOM, **kw: Any) -> dict[str, Any]:
        return self.submit([MsgBurn(denom, amount)], **kw)

    def set_tier(self, account: str, tier: int, **kw: Any) -> dict[str, Any]:
        return self.submit([MsgSetTier(address_to_bytes(account), tier)], **kw)

    def request_payment(
        self,
        amount: int,
        *,
        expiry_height: int,
        memo: str = "",
        payer: str | None = None,
        denom: str = DEFAULT_DENOM,
    ) -> str:
        """Open a payment request; returns its id (hex) from the committed receipt."""
        msg = MsgCreateRequest(
            denom, amount, memo, expiry_height, address_to_bytes(payer) if payer else b""
        )
        result = self.submit([msg], wait=True)
        receipt = self.client.tx(str(result["hash"]))
        return str(receipt["result"]["data"])

    def pay_request(self, request_id: str, **kw: Any) -> dict[str, Any]:
        request = self.client.payment_request(request_id)
        msg = MsgPayRequest(
            bytes.fromhex(request_id), str(request["denom"]), int(request["amount"])
        )
        return self.submit([msg], **kw)

    def cancel_request(self, request_id: str, **kw: Any) -> dict[str, Any]:
        return self.submit([MsgCancelRequest(bytes.fromhex(request_id))], **kw)

    def refund(self, request_id: str, amount: int, **kw: Any) -> dict[str, Any]:
        return self.submit([MsgRefund(bytes.fromhex(request_id), amount)], **kw)
