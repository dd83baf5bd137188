"""Bank messages (docs/modules/bank.md): typed, immutable, validated on decode."""

from __future__ import annotations

from typing import Annotated

import msgspec

from citychain.codec import U64, Address20
from citychain.tx.envelope import Message

# \Z, not $: Python's $ also matches before a trailing newline, which would let "ccy\n" through.
Denom = Annotated[str, msgspec.Meta(pattern="^[a-z][a-z0-9]{1,15}\\Z")]
RequestId = Annotated[bytes, msgspec.Meta(min_length=16, max_length=16)]
Memo = Annotated[str, msgspec.Meta(max_length=140)]
OptionalAddress = Annotated[bytes, msgspec.Meta(max_length=20)]  # b"" or 20 bytes
Tier = Annotated[int, msgspec.Meta(ge=0, le=255)]
MAX_OUTPUTS = 100


class MsgSend(Message, frozen=True):
    TYPE = "bank/send"
    recipient: Address20
    denom: Denom
    amount: U64


class MsgMultiSend(Message, frozen=True):
    TYPE = "bank/multi_send"
    denom: Denom
    outputs: tuple[tuple[Address20, U64], ...]


class MsgMint(Message, frozen=True):
    TYPE = "bank/mint"
    recipient: Address20
    denom: Denom
    amount: U64


class MsgBurn(Message, frozen=True):
    TYPE = "bank/burn"
    denom: Denom
    amount: U64


class MsgSetTier(Message, frozen=True):
    TYPE = "bank/set_tier"
    account: Address20
    tier: Tier


class MsgCreateRequest(Message, frozen=True):
    """A merchant asks for ``amount``; ``payer`` empty means anyone may pay it."""

    TYPE = "bank/create_request"
    denom: Denom
    amount: U64
    memo: Memo
    expiry_height: U64
    payer: OptionalAddress


class MsgPayRequest(Message, frozen=True):
    """Pay a request exactly: the payer restates amount and denom so nothing else is paid."""

    TYPE = "bank/pay_request"
    request_id: RequestId
    denom: Denom
    amount: U64


class MsgCancelRequest(Message, frozen=True):
    TYPE = "bank/cancel_request"
    request_id: RequestId


class MsgRefund(Message, frozen=True):
    TYPE = "bank/refund"
    request_id: RequestId
    amount: U64


ALL_MESSAGES: tuple[type[Message], ...] = (
    MsgSend,
    MsgMultiSend,
    MsgMint,
    MsgBurn,
    MsgSetTier,
    MsgCreateRequest,
    MsgPayRequest,
    MsgCancelRequest,
    MsgRefund,
)
