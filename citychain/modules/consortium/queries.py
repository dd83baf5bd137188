"""Consortium read paths: JSON-ready views of members, proposals and role holders.

Each view reads a handful of keys named in state.py, so any of them can be proven against the
app hash with the application's ``prove``.
"""

from __future__ import annotations

from typing import Any

from citychain.crypto.address import address_from_bytes
from citychain.modules.consortium.messages import Action, AdmitMember, RemoveMember, action_kind
from citychain.modules.consortium.roles import ALL_ROLES
from citychain.modules.consortium.state import (
    MEMBER_ACTIVE,
    MEMBER_STATUS_NAMES,
    PROPOSAL_OPEN,
    PROPOSAL_STATUS_NAMES,
    Member,
    Proposal,
    Tally,
    get_member,
    get_proposal,
    member_names,
    next_proposal_id,
    role_holders,
)
from citychain.modules.consortium.tally import count_votes
from citychain.state.overlay import StateReader

__all__ = [
    "action_view",
    "member_view",
    "members_view",
    "proposal_view",
    "proposals_view",
    "roles_view",
]


def member_view(member: Member) -> dict[str, Any]:
    return {
        "name": member.name,
        "operator": address_from_bytes(member.operator),
        "validator_public_key": member.validator_public_key.hex(),
        "power": member.power,
        "status": MEMBER_STATUS_NAMES[member.status],
        "term": member.term,
        "admitted_height": member.admitted_height,
        "removed_height": member.removed_height or None,
    }


def members_view(state: StateReader) -> dict[str, Any]:
    """Every member ever admitted, in name order, and the active members' total power."""
    members = [m for m in (get_member(state, n) for n in member_names(state)) if m is not None]
    active = [m for m in members if m.status == MEMBER_ACTIVE]
    return {
        "members": [member_view(m) for m in members],
        "active": len(active),
        "total_power": sum(m.power for m in active),
    }


def action_view(action: Action) -> dict[str, Any]:
    view: dict[str, Any] = {"kind": action_kind(action)}
    if isinstance(action, AdmitMember):
        view.update(
            name=action.name,
            operator=address_from_bytes(action.operator),
            validator_public_key=action.validator_public_key.hex(),
            power=action.power,
        )
    elif isinstance(action, RemoveMember):
        view["name"] = action.name
    else:
        view.update(role=action.role, address=address_from_bytes(action.address))
    return view


def _tally_view(tally: Tally) -> dict[str, int]:
    # "needed": the least yes power that passes, from yes * 3 > total * 2.
    return {
        "yes": tally.yes,
        "no": tally.no,
        "total": tally.total,
        "needed": tally.total * 2 // 3 + 1,
    }


def _proposal(state: StateReader, proposal: Proposal) -> dict[str, Any]:
    # An open proposal is recounted against today's members; a closed one keeps its final count.
    tally = (
        count_votes(state, proposal.votes) if proposal.status == PROPOSAL_OPEN else proposal.tally
    )
    return {
        "id": proposal.id,
        "proposer": proposal.proposer,
        "action": action_view(proposal.action),
        "status": PROPOSAL_STATUS_NAMES[proposal.status],
        "submit_height": proposal.submit_height,
        "voting_end_height": proposal.voting_end_height,
        "votes": [
            {"member": v.member, "vote": "yes" if v.approve else "no", "height": v.height}
            for v in proposal.votes
        ],
        "tally": _tally_view(tally),
        "log": proposal.log,
    }


def proposal_view(state: StateReader, proposal_id: int) -> dict[str, Any] | None:
    proposal = get_proposal(state, proposal_id)
    return _proposal(state, proposal) if proposal is not None else None


def proposals_view(
    state: StateReader, limit: int = 50, before: int | None = None
) -> list[dict[str, Any]]:
    """Up to ``limit`` proposals, newest first, with ids below ``before`` if given."""
    last = next_proposal_id(state) - 1
    if before is not None:
        last = min(last, before - 1)
    views = []
    for proposal_id in range(last, max(last - limit, 0), -1):
        view = proposal_view(state, proposal_id)
        if view is not None:
            views.append(view)
    return views


def roles_view(state: StateReader) -> dict[str, list[str]]:
    """Every role, with its holders' addresses in byte order (empty list: nobody holds it)."""
    return {role: [address_from_bytes(a) for a in role_holders(state, role)] for role in ALL_ROLES}
