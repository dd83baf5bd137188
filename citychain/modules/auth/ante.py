"""The ante step: what every transaction must pass before its messages run.

The checks run in this order, and the first that fails is the transaction's result (its code is
consensus data, so the order is too):

1. ``tx/3``  the body names this chain;
2. ``tx/4``  the signature verifies (the caller's cache may already know it does);
3. ``tx/7``  the transaction has not expired at this height;
4. ``tx/8``  the fee is at least the bank's minimum;
5. ``tx/5``, ``tx/6``  the nonce is exactly the sender's next one;
6. for each message in order: ``tx/10`` its type is routed, ``tx/12`` the sender holds the
   route's role (checked before decoding: the role depends on the type alone), ``tx/15`` its
   body decodes;
7. ``tx/9``  the sender can pay the fee.

Then the one state change: the fee moves to the bank's collector (step 7 is that move) and the
nonce advances. Both stay even if a message later fails, so a refused transaction still pays.
The bank and the consortium are reached through their ``__init__`` (DESIGN.md, Modules).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import msgspec

from citychain.codec import DecodeError, decode
from citychain.errors import CityError
from citychain.modules.auth.state import get_nonce, set_nonce
from citychain.modules.bank import min_fee, pay_fee
from citychain.modules.base import MessageRoute
from citychain.modules.consortium import has_role
from citychain.state.overlay import Overlay, StateReader
from citychain.tx import errors as tx_errors
from citychain.tx.envelope import DecodedTx, TxBody

__all__ = ["RoutedMessage", "SignatureCheck", "run_ante"]

# A decoded message and the route that will handle it.
RoutedMessage = tuple[MessageRoute, Any]
# Whether a transaction's signature verifies; the application remembers verified hashes.
SignatureCheck = Callable[[DecodedTx], bool]


def run_ante(
    state: Overlay,
    tx: DecodedTx,
    *,
    chain_id: str,
    height: int,
    routes: Mapping[str, MessageRoute],
    signature_valid: SignatureCheck,
) -> list[RoutedMessage]:
    """Check ``tx`` for a block at ``height``, charge its fee, advance its sender's nonce, and
    return its messages decoded, each with its route. Raises CityError (codespace ``tx``) and
    writes nothing when a check fails."""
    body = tx.body
    _check_chain(body, chain_id)
    _check_signature(tx, signature_valid)
    _check_expiry(body, height)
    _check_fee(state, body)
    nonce = _check_nonce(state, tx)
    routed = [_route(state, tx.sender, routes, entry) for entry in body.messages]
    _charge_fee(state, tx)
    set_nonce(state, tx.sender, nonce + 1)
    return routed


def _check_chain(body: TxBody, chain_id: str) -> None:
    if body.chain_id != chain_id:
        raise CityError(tx_errors.WRONG_CHAIN, f"chain {body.chain_id!r} != {chain_id!r}")


def _check_signature(tx: DecodedTx, signature_valid: SignatureCheck) -> None:
    if not signature_valid(tx):
        raise CityError(tx_errors.BAD_SIGNATURE)


def _check_expiry(body: TxBody, height: int) -> None:
    # Expiry height 0 means the transaction never expires.
    if body.expiry_height and height > body.expiry_height:
        raise CityError(tx_errors.EXPIRED, f"expired at {body.expiry_height}, now {height}")


def _check_fee(state: StateReader, body: TxBody) -> None:
    least = min_fee(state)
    if body.fee < least:
        raise CityError(tx_errors.FEE_TOO_LOW, f"fee {body.fee} < minimum {least}")


def _check_nonce(state: StateReader, tx: DecodedTx) -> int:
    """The sender's next nonce, which ``tx`` must carry exactly."""
    nonce = get_nonce(state, tx.sender)
    if tx.body.nonce < nonce:
        raise CityError(tx_errors.NONCE_USED, f"nonce {tx.body.nonce} < next nonce {nonce}")
    if tx.body.nonce > nonce:
        raise CityError(tx_errors.NONCE_GAP, f"nonce {tx.body.nonce} > next nonce {nonce}")
    return nonce


def _route(
    state: StateReader,
    sender: bytes,
    routes: Mapping[str, MessageRoute],
    entry: tuple[str, msgspec.Raw],
) -> RoutedMessage:
    type_name, raw_message = entry
    route = routes.get(type_name)
    if route is None:
        raise CityError(tx_errors.UNKNOWN_MESSAGE, f"unknown message type {type_name!r}")
    # The role depends on the message type alone: refuse before decoding its body.
    if route.role is not None and not has_role(state, sender, route.role):
        raise CityError(tx_errors.UNAUTHORIZED, f"{type_name} needs role {route.role!r}")
    try:
        message = decode(raw_message, route.cls)
    except DecodeError as exc:
        raise CityError(tx_errors.BAD_MESSAGE, f"{type_name}: {exc}") from None
    return route, message


def _charge_fee(state: Overlay, tx: DecodedTx) -> None:
    try:
        pay_fee(state, tx.sender, tx.body.fee)
    except CityError as exc:
        raise CityError(tx_errors.FEE_UNPAYABLE, exc.message) from None
