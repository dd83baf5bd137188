"""Consortium genesis: ``{"roles": {"issuer": ["city1..."], ...}}``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from citychain.crypto.address import address_to_bytes
from citychain.modules.consortium.roles import ALL_ROLES
from citychain.modules.consortium.state import grant_role
from citychain.state.overlay import Overlay


def init_genesis(state: Overlay, section: Mapping[str, Any]) -> None:
    roles = section.get("roles", {})
    if not isinstance(roles, Mapping):
        raise ValueError("consortium.roles must be an object of role -> [address]")
    for role in sorted(roles):
        if role not in ALL_ROLES:
            raise ValueError(f"unknown role {role!r}; known: {', '.join(ALL_ROLES)}")
        holders = roles[role]
        if not isinstance(holders, list):
            raise ValueError(f"consortium.roles.{role} must be a list of addresses")
        for holder in holders:
            grant_role(state, address_to_bytes(str(holder)), role)
