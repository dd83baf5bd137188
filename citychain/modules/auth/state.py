"""Account nonces (replay protection). Prefix ``auth/``; a nonce of 0 is not stored."""

from __future__ import annotations

from citychain.state.overlay import Overlay, StateReader

PREFIX = b"auth/"
_NONCE = b"auth/n/"


def nonce_key(address: bytes) -> bytes:
    return _NONCE + address


def get_nonce(state: StateReader, address: bytes) -> int:
    raw = state.get(_NONCE + address)
    return int.from_bytes(raw, "big") if raw is not None else 0


def set_nonce(state: Overlay, address: bytes, nonce: int) -> None:
    state.set(_NONCE + address, nonce.to_bytes(8, "big"))
