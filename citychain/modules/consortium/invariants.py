"""Consortium invariants, checked after every block in tests and the simulator.

They read committed state by prefix scans (O(keys under the prefix)), which handlers cannot do;
that is why the indexes they compare against exist at all.
"""

from __future__ import annotations

from collections import defaultdict

from citychain.codec import decode
from citychain.modules.base import PrefixScan
from citychain.modules.consortium.actions import MAX_TOTAL_POWER
from citychain.modules.consortium.state import (
    EXPIRY_PREFIX,
    HOLDERS_PREFIX,
    MEMBER_ACTIVE,
    MEMBER_NAMES,
    MEMBER_PREFIX,
    NEXT_PROPOSAL_ID,
    OPERATOR_PREFIX,
    PROPOSAL_OPEN,
    PROPOSAL_PREFIX,
    ROLE_PREFIX,
    STAGED_UPDATES,
    VALIDATOR_KEY_PREFIX,
    Member,
    Proposal,
)

__all__ = [
    "active_member_power",
    "member_indexes",
    "open_proposals_expire",
    "role_holder_index",
    "validator_updates_drained",
]


def _members(scan: PrefixScan) -> list[Member]:
    return [decode(value, Member) for _, value in scan(MEMBER_PREFIX)]


def active_member_power(scan: PrefixScan) -> list[str]:
    """active-power: every active member has power > 0, and the total fits CometBFT's bound."""
    active = [m for m in _members(scan) if m.status == MEMBER_ACTIVE]
    broken = [f"active-power: {m.name!r} has power {m.power}" for m in active if m.power <= 0]
    total = sum(m.power for m in active)
    if total > MAX_TOTAL_POWER:
        broken.append(f"active-power: total {total} > {MAX_TOTAL_POWER}")
    return broken


def member_indexes(scan: PrefixScan) -> list[str]:
    """unique-validator-keys, unique-operators, member-names: each index lists exactly the
    active members (so no key or operator belongs to two), and the name list every record."""
    members = _members(scan)
    broken: list[str] = []
    names = decode(dict(scan(MEMBER_NAMES)).get(MEMBER_NAMES, b"\x90"), tuple[str, ...])
    recorded = tuple(sorted(m.name for m in members))
    if names != recorded:
        broken.append(f"member-names: index {names} != records {recorded}")
    active = [m for m in members if m.status == MEMBER_ACTIVE]
    for label, prefix, field in (
        ("unique-validator-keys", VALIDATOR_KEY_PREFIX, "validator_public_key"),
        ("unique-operators", OPERATOR_PREFIX, "operator"),
    ):
        index = {key[len(prefix) :]: value.decode() for key, value in scan(prefix)}
        expected: dict[bytes, str] = {}
        for member in active:
            value = getattr(member, field)
            if value in expected:
                broken.append(
                    f"{label}: {expected[value]!r} and {member.name!r} share {value.hex()}"
                )
            expected[value] = member.name
        if index != expected:
            broken.append(
                f"{label}: index {_hex_keys(index)} != active members {_hex_keys(expected)}"
            )
    return broken


def _hex_keys(mapping: dict[bytes, str]) -> dict[str, str]:
    return {key.hex(): name for key, name in sorted(mapping.items())}


def role_holder_index(scan: PrefixScan) -> list[str]:
    """role-holders: each role's holder list is exactly the accounts with a grant key."""
    granted: dict[str, set[bytes]] = defaultdict(set)
    for key, _ in scan(ROLE_PREFIX):
        role_name, _, address = key[len(ROLE_PREFIX) :].partition(b"/")
        granted[role_name.decode()].add(address)
    listed = {
        key[len(HOLDERS_PREFIX) :].decode(): set(decode(value, tuple[bytes, ...]))
        for key, value in scan(HOLDERS_PREFIX)
    }
    broken = []
    for role in sorted(set(granted) | set(listed)):
        if granted.get(role, set()) != listed.get(role, set()):
            broken.append(
                f"role-holders: {role} grants {sorted(a.hex() for a in granted.get(role, set()))}"
                f" != index {sorted(a.hex() for a in listed.get(role, set()))}"
            )
    return broken


def open_proposals_expire(scan: PrefixScan) -> list[str]:
    """open-proposals: every open proposal is in the expiry index at its last voting height,
    so end_block will close it; and every proposal id is below the next id."""
    raw_next = dict(scan(NEXT_PROPOSAL_ID)).get(NEXT_PROPOSAL_ID)
    next_id = int.from_bytes(raw_next, "big") if raw_next is not None else 1
    ending = {
        int.from_bytes(key[len(EXPIRY_PREFIX) :], "big"): set(decode(value, tuple[int, ...]))
        for key, value in scan(EXPIRY_PREFIX)
    }
    broken = []
    for _, value in scan(PROPOSAL_PREFIX):
        proposal = decode(value, Proposal)
        if proposal.id >= next_id:
            broken.append(f"open-proposals: proposal {proposal.id} >= next id {next_id}")
        if proposal.status == PROPOSAL_OPEN and proposal.id not in ending.get(
            proposal.voting_end_height, set()
        ):
            broken.append(
                f"open-proposals: open proposal {proposal.id} is not indexed at its last voting "
                f"height {proposal.voting_end_height}"
            )
    return broken


def validator_updates_drained(scan: PrefixScan) -> list[str]:
    """staged-updates: end_block hands every staged validator update over and clears the key."""
    if dict(scan(STAGED_UPDATES)).get(STAGED_UPDATES) is not None:
        return ["staged-updates: cons/u survived the end of a block"]
    return []
