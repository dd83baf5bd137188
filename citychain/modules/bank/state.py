"""Bank keys under ``bank/`` and their typed accessors; no other file builds these keys.

| key                          | value                                   |
| ---------------------------- | --------------------------------------- |
| bank/b/<addr20><denom>       | balance, u64 big-endian; zero = absent  |
| bank/s/<denom>               | total supply, u64 big-endian            |
| bank/d/<denom>               | DenomInfo                               |
| bank/denoms                  | tuple of all denominations, sorted      |
| bank/p                       | BankParams                              |
| bank/t/<addr20>              | wallet tier, 1 byte; tier 0 = absent    |
| bank/f/<addr20>              | frozen flag; absent = not frozen        |
| bank/r/<id16>                | PaymentRequest                          |
"""

from __future__ import annotations

import hashlib

from citychain.codec import U64, Address20, Struct, decode, encode
from citychain.state.overlay import Overlay, StateReader

PREFIX = b"bank/"
BALANCE_PREFIX = b"bank/b/"
SUPPLY_PREFIX = b"bank/s/"
_DENOM = b"bank/d/"
DENOMS_KEY = b"bank/denoms"
_PARAMS = b"bank/p"
_TIER = b"bank/t/"
_FROZEN = b"bank/f/"
_REQUEST = b"bank/r/"

# Fees are paid to this module account; it is no one's key, so nobody can spend it by signature.
FEE_COLLECTOR = hashlib.sha256(b"module/fee_collector").digest()[:20]

REQUEST_OPEN = 0
REQUEST_PAID = 1
REQUEST_CANCELLED = 2
REQUEST_REFUNDED = 3
REQUEST_STATUS_NAMES = ("open", "paid", "cancelled", "refunded")


class DenomInfo(Struct, frozen=True):
    decimals: int
    tiered: bool  # wallet-tier limits apply to this denomination


class TierLimits(Struct, frozen=True):
    name: str
    max_balance: U64
    max_payment: U64


class BankParams(Struct, frozen=True):
    fee_denom: str
    min_fee: U64
    tiers: tuple[TierLimits, ...]


class PaymentRequest(Struct, frozen=True):
    merchant: Address20
    denom: str
    amount: U64
    memo: str
    expiry_height: U64
    payer: bytes  # b"" = anyone
    status: int
    paid_by: bytes
    refunded: U64
    created_height: U64


def balance_key(address: bytes, denom: str) -> bytes:
    return BALANCE_PREFIX + address + denom.encode()


def split_balance_key(key: bytes) -> tuple[bytes, str]:
    rest = key[len(BALANCE_PREFIX) :]
    return rest[:20], rest[20:].decode()


def get_balance(state: StateReader, address: bytes, denom: str) -> int:
    raw = state.get(BALANCE_PREFIX + address + denom.encode())
    return int.from_bytes(raw, "big") if raw is not None else 0


def set_balance(state: Overlay, address: bytes, denom: str, amount: int) -> None:
    key = BALANCE_PREFIX + address + denom.encode()
    if amount:
        state.set(key, amount.to_bytes(8, "big"))
    else:
        state.delete(key)


def split_supply_key(key: bytes) -> str:
    """The denomination a ``bank/s/`` key holds the supply of."""
    return key[len(SUPPLY_PREFIX) :].decode()


def get_supply(state: StateReader, denom: str) -> int:
    raw = state.get(SUPPLY_PREFIX + denom.encode())
    return int.from_bytes(raw, "big") if raw is not None else 0


def set_supply(state: Overlay, denom: str, amount: int) -> None:
    key = SUPPLY_PREFIX + denom.encode()
    if amount:
        state.set(key, amount.to_bytes(8, "big"))
    else:
        state.delete(key)


# Parameters and denominations are read by every transaction and change rarely; decoded values
# are remembered by their exact bytes, so a cache hit is the same answer a decode would give.
# The caches are bounded (entries) so that a chain whose parameters keep changing cannot grow
# them without limit; a chain has a handful of denominations and one parameter set at a time.
_decoded_params: dict[bytes, BankParams] = {}
_decoded_denoms: dict[bytes, DenomInfo] = {}
_MAX_DECODED_PARAMS = 64
_MAX_DECODED_DENOMS = 1024


def get_denom(state: StateReader, denom: str) -> DenomInfo | None:
    raw = state.get(_DENOM + denom.encode())
    if raw is None:
        return None
    info = _decoded_denoms.get(raw)
    if info is None:
        if len(_decoded_denoms) > _MAX_DECODED_DENOMS:
            _decoded_denoms.clear()
        info = _decoded_denoms[raw] = decode(raw, DenomInfo)
    return info


def set_denom(state: Overlay, denom: str, info: DenomInfo) -> None:
    state.set(_DENOM + denom.encode(), encode(info))
    denoms = set(list_denoms(state))
    denoms.add(denom)
    state.set(DENOMS_KEY, encode(tuple(sorted(denoms))))


def list_denoms(state: StateReader) -> tuple[str, ...]:
    return decode_denoms(state.get(DENOMS_KEY))


def decode_denoms(raw: bytes | None) -> tuple[str, ...]:
    """The value stored under ``DENOMS_KEY`` (None: no denomination yet)."""
    return decode(raw, tuple[str, ...]) if raw is not None else ()


def get_params(state: StateReader) -> BankParams:
    raw = state.get(_PARAMS)
    if raw is None:
        raise LookupError("bank params missing: the chain has no bank genesis")
    params = _decoded_params.get(raw)
    if params is None:
        if len(_decoded_params) > _MAX_DECODED_PARAMS:
            _decoded_params.clear()
        params = _decoded_params[raw] = decode(raw, BankParams)
    return params


def set_params(state: Overlay, params: BankParams) -> None:
    state.set(_PARAMS, encode(params))


def get_tier(state: StateReader, address: bytes) -> int:
    raw = state.get(_TIER + address)
    return raw[0] if raw is not None else 0


def set_tier(state: Overlay, address: bytes, tier: int) -> None:
    if tier:
        state.set(_TIER + address, bytes([tier]))
    else:
        state.delete(_TIER + address)


def is_frozen(state: StateReader, address: bytes) -> bool:
    return state.get(_FROZEN + address) is not None


def set_frozen(state: Overlay, address: bytes, frozen: bool) -> None:
    if frozen:
        state.set(_FROZEN + address, b"\x01")
    else:
        state.delete(_FROZEN + address)


def get_request(state: StateReader, request_id: bytes) -> PaymentRequest | None:
    raw = state.get(_REQUEST + request_id)
    return decode(raw, PaymentRequest) if raw is not None else None


def set_request(state: Overlay, request_id: bytes, request: PaymentRequest) -> None:
    state.set(_REQUEST + request_id, encode(request))


def new_request_id(tx_hash: bytes, msg_index: int) -> bytes:
    """Derived from the creating transaction, so every node computes the same id."""
    return hashlib.sha256(b"bank/request" + tx_hash + msg_index.to_bytes(4, "big")).digest()[:16]
