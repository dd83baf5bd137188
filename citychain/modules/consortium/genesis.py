"""Consortium genesis (docs/modules/consortium.md): member organisations, roles, parameters.

```json
{"members": [{"name": "City Hall", "operator": "city1...",
              "validator_public_key": "<64 hex>", "power": 10}, ...],
 "roles": {"issuer": ["city1..."], "kyc": ["city1..."]},
 "params": {"voting_period_blocks": 86400}}
```

Every section is optional; without members nobody can propose, so roles stay as genesis set
them. With members, their validator keys and powers must be exactly the chain's genesis
validators (``genesis_validators`` gives the list the application compares with CometBFT's
InitChain validators), because governance later adds and removes validators by these keys.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from citychain.crypto.address import address_to_bytes
from citychain.crypto.errors import AddressError
from citychain.modules.consortium.actions import MAX_TOTAL_POWER
from citychain.modules.consortium.messages import MAX_MEMBER_NAME_LENGTH
from citychain.modules.consortium.roles import ALL_ROLES
from citychain.modules.consortium.state import (
    DEFAULT_VOTING_PERIOD_BLOCKS,
    MEMBER_ACTIVE,
    ConsortiumParams,
    Member,
    grant_role,
    set_member,
    set_params,
)
from citychain.state.overlay import Overlay

__all__ = ["MAX_VOTING_PERIOD_BLOCKS", "genesis_validators", "init_genesis"]

# About three years of one-second blocks; beyond that a proposal is never going to be decided.
MAX_VOTING_PERIOD_BLOCKS = 100_000_000
_SECTION_FIELDS = {"members", "roles", "params"}
_MEMBER_FIELDS = {"name", "operator", "validator_public_key", "power"}
# The same rule as messages.MemberName: printable ASCII words separated by single spaces.
_NAME = re.compile(r"[!-~]+( [!-~]+)*")
_HEX_KEY = re.compile(r"[0-9a-f]{64}")


def _positive_int(value: Any, what: str, limit: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= limit:
        raise ValueError(f"{what} must be an integer in 1..{limit}, got {value!r}")
    return value


def _parse_member(entry: Any, index: int) -> Member:
    where = f"consortium.members[{index}]"
    if not isinstance(entry, Mapping) or set(entry) != _MEMBER_FIELDS:
        raise ValueError(
            f"{where} must have exactly the fields {', '.join(sorted(_MEMBER_FIELDS))}"
        )
    name = entry["name"]
    if not isinstance(name, str) or len(name) > MAX_MEMBER_NAME_LENGTH or not _NAME.fullmatch(name):
        raise ValueError(
            f"{where}.name must be 1..{MAX_MEMBER_NAME_LENGTH} printable ASCII characters, "
            f"words separated by single spaces, got {name!r}"
        )
    try:
        operator = address_to_bytes(str(entry["operator"]))
    except AddressError as exc:
        raise ValueError(f"{where}.operator: {exc}") from None
    key_hex = entry["validator_public_key"]
    if not isinstance(key_hex, str) or not _HEX_KEY.fullmatch(key_hex):
        raise ValueError(f"{where}.validator_public_key must be 64 lowercase hex characters")
    power = _positive_int(entry["power"], f"{where}.power", MAX_TOTAL_POWER)
    return Member(
        name=name,
        operator=operator,
        validator_public_key=bytes.fromhex(key_hex),
        power=power,
        status=MEMBER_ACTIVE,
        term=1,
        admitted_height=0,
        removed_height=0,
    )


def _parse_members(section: Mapping[str, Any]) -> list[Member]:
    if not isinstance(section, Mapping):
        raise ValueError("the consortium section must be an object")
    entries = section.get("members", [])
    if not isinstance(entries, list):
        raise ValueError("consortium.members must be a list of members")
    members = [_parse_member(entry, i) for i, entry in enumerate(entries)]
    for field in ("name", "operator", "validator_public_key"):
        values = [getattr(m, field) for m in members]
        if len(set(values)) != len(values):
            raise ValueError(f"consortium.members: two members share a {field}")
    total = sum(m.power for m in members)
    if total > MAX_TOTAL_POWER:
        raise ValueError(f"consortium.members: total power {total} exceeds {MAX_TOTAL_POWER}")
    return members


def _parse_params(section: Mapping[str, Any]) -> ConsortiumParams:
    params = section.get("params", {})
    if not isinstance(params, Mapping) or not set(params) <= {"voting_period_blocks"}:
        raise ValueError("consortium.params may only hold voting_period_blocks")
    period = params.get("voting_period_blocks", DEFAULT_VOTING_PERIOD_BLOCKS)
    return ConsortiumParams(
        _positive_int(period, "consortium.params.voting_period_blocks", MAX_VOTING_PERIOD_BLOCKS)
    )


def genesis_validators(section: Mapping[str, Any]) -> list[tuple[str, bytes, int]]:
    """(name, Ed25519 public key, power) of each genesis member, sorted by public key.

    Raises ValueError on a malformed section, as init_genesis does. Empty when the genesis has
    no members (a solo chain without governance).
    """
    members = _parse_members(section)
    return sorted(((m.name, m.validator_public_key, m.power) for m in members), key=lambda v: v[1])


def check_genesis(section: Mapping[str, Any], validators: list[tuple[bytes, int]]) -> None:
    """The members, if any, must be exactly the genesis validators: the same keys, the same
    powers (CometBFT's InitChain validators are checked against the latter)."""
    members = genesis_validators(section)
    if members and sorted((key, power) for _, key, power in members) != validators:
        raise ValueError("members must have exactly the genesis validators' keys and powers")


def init_genesis(state: Overlay, section: Mapping[str, Any]) -> None:
    if not isinstance(section, Mapping):
        raise ValueError("the consortium section must be an object")
    unknown = sorted(set(section) - _SECTION_FIELDS)
    if unknown:
        raise ValueError(f"consortium has unknown fields: {', '.join(unknown)}")
    set_params(state, _parse_params(section))
    for member in _parse_members(section):
        set_member(state, member)
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
