"""Bank message handlers: parse, check, call the keeper, emit an event (docs/modules/bank.md)."""

from __future__ import annotations

from msgspec import structs

from citychain.codec import U64_MAX
from citychain.modules.bank import errors, keeper
from citychain.modules.bank.errors import BankError
from citychain.modules.bank.messages import (
    MAX_OUTPUTS,
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
    get_balance,
    get_params,
    get_request,
    new_request_id,
    set_request,
    set_tier,
)
from citychain.modules.base import Context


def handle_send(ctx: Context, msg: MsgSend) -> None:
    """Move msg.amount of msg.denom from the signer to msg.recipient."""
    keeper.transfer(ctx.state, ctx.sender, msg.recipient, msg.denom, msg.amount)
    ctx.emit(
        "transfer", sender=ctx.sender, recipient=msg.recipient, denom=msg.denom, amount=msg.amount
    )


def handle_multi_send(ctx: Context, msg: MsgMultiSend) -> None:
    """Pay several recipients at once; any failing output fails the whole message.

    The sender's wallet-tier payment limit applies to the message's total, so splitting a
    payment into outputs cannot get round it.
    """
    if not 1 <= len(msg.outputs) <= MAX_OUTPUTS:
        raise BankError(errors.TOO_MANY_OUTPUTS, f"{len(msg.outputs)} outputs")
    total = sum(amount for _, amount in msg.outputs)
    if total > U64_MAX:
        raise BankError(errors.BALANCE_OVERFLOW, f"outputs sum to {total}")
    info = keeper.require_denom(ctx.state, msg.denom)
    balance = get_balance(ctx.state, ctx.sender, msg.denom)
    if balance < total:
        raise BankError(errors.INSUFFICIENT_FUNDS, f"{balance} < {total} {msg.denom}")
    if info.tiered:
        keeper.check_payment_limit(ctx.state, ctx.sender, total)
    for recipient, amount in msg.outputs:
        keeper.transfer(ctx.state, ctx.sender, recipient, msg.denom, amount, payment=False)
        ctx.emit("transfer", sender=ctx.sender, recipient=recipient, denom=msg.denom, amount=amount)


def handle_mint(ctx: Context, msg: MsgMint) -> None:
    keeper.mint(ctx.state, msg.recipient, msg.denom, msg.amount)
    ctx.emit("mint", issuer=ctx.sender, recipient=msg.recipient, denom=msg.denom, amount=msg.amount)


def handle_burn(ctx: Context, msg: MsgBurn) -> None:
    keeper.burn(ctx.state, ctx.sender, msg.denom, msg.amount)
    ctx.emit("burn", issuer=ctx.sender, denom=msg.denom, amount=msg.amount)


def handle_set_tier(ctx: Context, msg: MsgSetTier) -> None:
    tiers = get_params(ctx.state).tiers
    if msg.tier >= len(tiers):
        raise BankError(errors.INVALID_TIER, f"tier {msg.tier}; tiers are 0..{len(tiers) - 1}")
    set_tier(ctx.state, msg.account, msg.tier)
    ctx.emit("set_tier", verifier=ctx.sender, account=msg.account, tier=msg.tier)


def handle_create_request(ctx: Context, msg: MsgCreateRequest) -> bytes:
    """Open a payment request; its id (the result data) is derived from this transaction."""
    if msg.amount <= 0:
        raise BankError(errors.INVALID_AMOUNT, f"amount must be positive, got {msg.amount}")
    keeper.require_denom(ctx.state, msg.denom)
    if msg.expiry_height <= ctx.height:
        raise BankError(
            errors.INVALID_EXPIRY, f"expiry {msg.expiry_height} <= current height {ctx.height}"
        )
    if len(msg.payer) not in (0, 20):
        raise BankError(errors.PAYER_NOT_ALLOWED, "payer must be empty or a 20-byte address")
    request_id = new_request_id(ctx.tx_hash, ctx.msg_index)
    set_request(
        ctx.state,
        request_id,
        PaymentRequest(
            merchant=ctx.sender,
            denom=msg.denom,
            amount=msg.amount,
            memo=msg.memo,
            expiry_height=msg.expiry_height,
            payer=msg.payer,
            status=REQUEST_OPEN,
            paid_by=b"",
            refunded=0,
            created_height=ctx.height,
        ),
    )
    ctx.emit(
        "payment_request", id=request_id, merchant=ctx.sender, denom=msg.denom, amount=msg.amount
    )
    return request_id


def _open_request(ctx: Context, request_id: bytes) -> PaymentRequest:
    request = get_request(ctx.state, request_id)
    if request is None:
        raise BankError(errors.REQUEST_NOT_FOUND, f"no payment request {request_id.hex()}")
    return request


def handle_pay_request(ctx: Context, msg: MsgPayRequest) -> None:
    """Pay a request once, exactly as asked, before it expires."""
    request = _open_request(ctx, msg.request_id)
    if request.status != REQUEST_OPEN:
        raise BankError(errors.REQUEST_NOT_OPEN, f"request is {request.status}")
    if ctx.height > request.expiry_height:
        raise BankError(errors.REQUEST_EXPIRED, f"expired at height {request.expiry_height}")
    if (msg.denom, msg.amount) != (request.denom, request.amount):
        raise BankError(
            errors.AMOUNT_MISMATCH,
            f"paying {msg.amount} {msg.denom}; requested {request.amount} {request.denom}",
        )
    if request.payer and request.payer != ctx.sender:
        raise BankError(errors.PAYER_NOT_ALLOWED, "request is addressed to another payer")
    keeper.transfer(ctx.state, ctx.sender, request.merchant, request.denom, request.amount)

    set_request(
        ctx.state, msg.request_id, structs.replace(request, status=REQUEST_PAID, paid_by=ctx.sender)
    )
    ctx.emit(
        "request_paid",
        id=msg.request_id,
        payer=ctx.sender,
        merchant=request.merchant,
        denom=request.denom,
        amount=request.amount,
    )


def handle_cancel_request(ctx: Context, msg: MsgCancelRequest) -> None:
    request = _open_request(ctx, msg.request_id)
    if request.merchant != ctx.sender:
        raise BankError(errors.NOT_MERCHANT, "only the merchant may cancel")
    if request.status != REQUEST_OPEN:
        raise BankError(errors.REQUEST_NOT_OPEN, f"request is {request.status}")

    set_request(ctx.state, msg.request_id, structs.replace(request, status=REQUEST_CANCELLED))
    ctx.emit("request_cancelled", id=msg.request_id, merchant=ctx.sender)


def handle_refund(ctx: Context, msg: MsgRefund) -> None:
    """Return part or all of a paid request to its payer; tier payment limits do not apply."""
    request = _open_request(ctx, msg.request_id)
    if request.merchant != ctx.sender:
        raise BankError(errors.NOT_MERCHANT, "only the merchant may refund")
    if request.status not in (REQUEST_PAID, REQUEST_REFUNDED):
        raise BankError(errors.REQUEST_NOT_PAID, "nothing was paid")
    remaining = request.amount - request.refunded
    if msg.amount <= 0 or msg.amount > remaining:
        raise BankError(errors.REFUND_EXCEEDS, f"refund {msg.amount}; refundable {remaining}")
    keeper.transfer(
        ctx.state, ctx.sender, request.paid_by, request.denom, msg.amount, payment=False
    )
    refunded = request.refunded + msg.amount
    status = REQUEST_REFUNDED if refunded == request.amount else request.status

    set_request(
        ctx.state, msg.request_id, structs.replace(request, refunded=refunded, status=status)
    )
    ctx.emit(
        "refund",
        id=msg.request_id,
        merchant=ctx.sender,
        payer=request.paid_by,
        denom=request.denom,
        amount=msg.amount,
    )
