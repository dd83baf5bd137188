"""ABCI socket framing: each protobuf message is preceded by its length as an unsigned varint.

This is CometBFT's ``protoio`` delimited format (abci/types/messages.go), used on every one of
the four connections CometBFT opens to the application.
"""

from __future__ import annotations

__all__ = ["MAX_MESSAGE_BYTES", "FrameDecoder", "FrameError", "frame"]

# CometBFT allows up to 2 GiB; a block is at most 100 MiB (types.MaxBlockSizeBytes), so anything
# larger is a broken peer, not a request we could serve.
MAX_MESSAGE_BYTES = 128 * 1024 * 1024
# A varint carries 7 bits a byte, low groups first; the high bit says another byte follows.
MORE = 0x80
LOW_BITS = 0x7F
MAX_SHIFT = 63  # a uint64 fits in 10 bytes: shifts 0, 7, ..., 63


class FrameError(ValueError):
    """The byte stream is not a sequence of length-delimited messages."""


def uvarint(value: int) -> bytes:
    out = bytearray()
    while value >= MORE:
        out.append((value & LOW_BITS) | MORE)
        value >>= 7
    out.append(value)
    return bytes(out)


def frame(message: bytes) -> bytes:
    return uvarint(len(message)) + message


class FrameDecoder:
    """Accumulates bytes from a stream and yields the complete messages in it."""

    def __init__(self, max_message: int = MAX_MESSAGE_BYTES) -> None:
        self._buffer = bytearray()
        self._max = max_message

    def feed(self, data: bytes) -> list[bytes]:
        buffer = self._buffer
        buffer += data
        messages: list[bytes] = []
        pos = 0
        end = len(buffer)
        while pos < end:
            length = 0
            shift = 0
            cursor = pos
            while True:
                if cursor >= end:
                    length = -1  # the varint itself is incomplete
                    break
                byte = buffer[cursor]
                cursor += 1
                length |= (byte & LOW_BITS) << shift
                if not byte & MORE:
                    break
                shift += 7
                if shift > MAX_SHIFT:
                    raise FrameError("length prefix is longer than 10 bytes")
            if length < 0:
                break
            if length > self._max:
                raise FrameError(f"message of {length} bytes exceeds {self._max}")
            if cursor + length > end:
                break
            messages.append(bytes(buffer[cursor : cursor + length]))
            pos = cursor + length
        if pos:
            del buffer[:pos]
        return messages

    @property
    def pending(self) -> int:
        return len(self._buffer)
