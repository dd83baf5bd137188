"""Consortium keys: role grants. Prefix ``cons/``."""

from __future__ import annotations

from citychain.state.overlay import Overlay, StateReader

PREFIX = b"cons/"
_ROLE = b"cons/r/"
_GRANTED = b"\x01"


def role_key(role: str, address: bytes) -> bytes:
    return _ROLE + role.encode() + b"/" + address


def has_role(state: StateReader, address: bytes, role: str) -> bool:
    return state.get(role_key(role, address)) is not None


def grant_role(state: Overlay, address: bytes, role: str) -> None:
    state.set(role_key(role, address), _GRANTED)


def revoke_role(state: Overlay, address: bytes, role: str) -> None:
    state.delete(role_key(role, address))
