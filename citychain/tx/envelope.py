"""The signed transaction envelope (docs/encoding.md, section "Transactions").

A transaction on the wire is ``TxRaw = [body_bytes, signature]``. ``body_bytes`` is the canonical
encoding of ``TxBody``; the signature is Ed25519 over ``SIGN_DOMAIN || body_bytes``, so signers
and verifiers never re-encode anything. The transaction hash is SHA-256 of the whole ``TxRaw``.

Each message is ``[type, body]``: ``type`` names it (``bank/send``) and ``body`` is the message
struct's own canonical encoding, decoded later by the module that owns the type.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, ClassVar

import msgspec

from citychain.codec import U64, Bytes32, DecodeError, Struct, decode, encode
from citychain.crypto.keys import PrivateKey, verify
from citychain.errors import CityError
from citychain.tx import errors

SIGN_DOMAIN = b"citychain/tx/v1\x00"
MAX_TX_BYTES = 16 * 1024
MAX_MESSAGES = 64
MAX_MEMO_BYTES = 256

Bytes64 = Annotated[bytes, msgspec.Meta(min_length=64, max_length=64)]
ChainId = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
TypeName = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]


class Message(Struct, frozen=True):
    """Base class of every module message; ``TYPE`` is its registered name."""

    TYPE: ClassVar[str] = ""


class TxBody(Struct, frozen=True):
    chain_id: ChainId
    public_key: Bytes32
    nonce: U64
    fee: U64
    expiry_height: U64  # last height at which the transaction may be included; 0 = none
    memo: str
    messages: tuple[tuple[TypeName, msgspec.Raw], ...]


class TxRaw(Struct, frozen=True):
    body: bytes
    signature: Bytes64


@dataclass(frozen=True, slots=True)
class DecodedTx:
    """A transaction decoded once; later stages read these fields, never the bytes again."""

    raw: bytes
    hash: bytes
    body_bytes: bytes
    body: TxBody
    signature: bytes
    sender: bytes  # 20-byte address derived from body.public_key

    def signature_valid(self) -> bool:
        return verify(self.body.public_key, SIGN_DOMAIN + self.body_bytes, self.signature)


def address_of(public_key: bytes) -> bytes:
    """The 20 raw bytes of an account address (docs/keys.md)."""
    return hashlib.sha256(public_key).digest()[:20]


def tx_hash(raw: bytes) -> bytes:
    return hashlib.sha256(raw).digest()


def decode_tx(raw: bytes) -> DecodedTx:
    """Decode an envelope; raise CityError(tx/1, tx/2 or tx/11) for bytes that are not one."""
    if len(raw) > MAX_TX_BYTES:
        raise CityError(errors.TOO_LARGE, f"{len(raw)} bytes > {MAX_TX_BYTES}")
    try:
        outer = decode(raw, TxRaw)
        body = decode(outer.body, TxBody)
    except DecodeError as exc:
        raise CityError(errors.MALFORMED, str(exc)) from None
    if not 1 <= len(body.messages) <= MAX_MESSAGES:
        raise CityError(errors.NO_MESSAGES, f"{len(body.messages)} messages; 1..{MAX_MESSAGES}")
    if len(body.memo.encode()) > MAX_MEMO_BYTES:
        raise CityError(errors.MALFORMED, f"memo longer than {MAX_MEMO_BYTES} bytes")
    return DecodedTx(
        raw=raw,
        hash=hashlib.sha256(raw).digest(),
        body_bytes=outer.body,
        body=body,
        signature=outer.signature,
        sender=hashlib.sha256(body.public_key).digest()[:20],
    )


def build_body(
    *,
    chain_id: str,
    public_key: bytes,
    nonce: int,
    messages: Sequence[Message],
    fee: int,
    expiry_height: int = 0,
    memo: str = "",
) -> bytes:
    return encode(
        TxBody(
            chain_id=chain_id,
            public_key=public_key,
            nonce=nonce,
            fee=fee,
            expiry_height=expiry_height,
            memo=memo,
            messages=tuple((m.TYPE, msgspec.Raw(encode(m))) for m in messages),
        )
    )


def sign_tx(
    key: PrivateKey,
    *,
    chain_id: str,
    nonce: int,
    messages: Sequence[Message],
    fee: int,
    expiry_height: int = 0,
    memo: str = "",
) -> bytes:
    """The wire bytes of a transaction signed by ``key``."""
    body = build_body(
        chain_id=chain_id,
        public_key=key.public_key,
        nonce=nonce,
        messages=messages,
        fee=fee,
        expiry_height=expiry_height,
        memo=memo,
    )
    return encode(TxRaw(body=body, signature=key.sign(SIGN_DOMAIN + body)))
