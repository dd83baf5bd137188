"""Canonical binary encoding (docs/encoding.md).

citychain encodes every signed or hashed structure as MessagePack under one strict profile:

- a struct is an array of its fields in declared order (never a map);
- integers use the shortest MessagePack form; all are unsigned 64-bit unless stated;
- byte strings are ``bin``, text is ``str`` (UTF-8);
- a decoder accepts an input only if encoding the decoded value gives back exactly the same bytes.

The last rule makes the encoding canonical: every value has one byte form, so two nodes that agree
on a value agree on its hash and signature. Any MessagePack library in any language can implement
the profile; the golden vectors in ``tests/vectors/`` pin it.
"""

from __future__ import annotations

from typing import Annotated, Any, TypeVar

import msgspec

__all__ = [
    "U64",
    "U64_MAX",
    "Address20",
    "Bytes32",
    "DecodeError",
    "Struct",
    "decode",
    "encode",
]

U64_MAX = 2**64 - 1

# MessagePack cannot carry an integer past 2**64 - 1, so ge=0 is the whole bound.
U64 = Annotated[int, msgspec.Meta(ge=0)]
Bytes32 = Annotated[bytes, msgspec.Meta(min_length=32, max_length=32)]
Address20 = Annotated[bytes, msgspec.Meta(min_length=20, max_length=20)]

T = TypeVar("T")

_encoder = msgspec.msgpack.Encoder()
_decoders: dict[Any, msgspec.msgpack.Decoder[Any]] = {}


class Struct(msgspec.Struct, array_like=True, frozen=True, forbid_unknown_fields=True):
    """Base of every encoded structure: an immutable array of fields in declared order."""


class DecodeError(ValueError):
    """Bytes that are not the canonical encoding of the expected type."""


def encode(value: Any) -> bytes:
    """The canonical bytes of ``value``."""
    return _encoder.encode(value)


def decode(data: bytes | msgspec.Raw, type_: type[T]) -> T:
    """Decode ``data`` as ``type_``; raise DecodeError unless ``data`` is canonical."""
    if not isinstance(data, bytes):
        data = memoryview(data).tobytes()
    decoder = _decoders.get(type_)
    if decoder is None:
        decoder = _decoders[type_] = msgspec.msgpack.Decoder(type_)
    try:
        value: T = decoder.decode(data)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise DecodeError(str(exc)) from None
    except (ValueError, TypeError, OverflowError, RecursionError) as exc:
        raise DecodeError(f"undecodable: {exc}") from None
    if _encoder.encode(value) != data:
        raise DecodeError("non-canonical encoding: re-encoding gives different bytes")
    return value
