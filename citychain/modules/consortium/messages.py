"""Consortium messages (docs/modules/consortium.md): a member proposes, members vote.

``MsgPropose.action`` is a tagged union: on the wire it is an array whose first element names the
action (``"admit_member"``, ``"remove_member"``, ``"grant_role"``, ``"revoke_role"``) followed by
the action's fields in declared order, so every action has one canonical byte form.
"""

from __future__ import annotations

from typing import Annotated

import msgspec

from citychain.codec import U64, Address20, Bytes32, Struct
from citychain.tx.envelope import Message

# Printable ASCII words separated by single spaces ("City Hall"): one spelling per name, no
# look-alike Unicode, no leading or trailing blanks. \Z, not $ (see bank/messages.py).
MAX_MEMBER_NAME_LENGTH = 64  # characters (= bytes: ASCII only)
MemberName = Annotated[
    str,
    msgspec.Meta(min_length=1, max_length=MAX_MEMBER_NAME_LENGTH, pattern="^[!-~]+( [!-~]+)*\\Z"),
]
# Any short string: the handler checks it against ALL_ROLES so that the error can list them.
RoleName = Annotated[str, msgspec.Meta(min_length=1, max_length=32)]


class AdmitMember(Struct, frozen=True, tag="admit_member"):
    """Add an organisation: its operator account votes, its validator key joins consensus."""

    name: MemberName
    operator: Address20
    validator_public_key: Bytes32  # Ed25519, the member's CometBFT consensus key
    power: U64  # 1..MAX_TOTAL_POWER, checked by the handler


class RemoveMember(Struct, frozen=True, tag="remove_member"):
    name: MemberName


class GrantRole(Struct, frozen=True, tag="grant_role"):
    role: RoleName
    address: Address20


class RevokeRole(Struct, frozen=True, tag="revoke_role"):
    role: RoleName
    address: Address20


Action = AdmitMember | RemoveMember | GrantRole | RevokeRole


class MsgPropose(Message, frozen=True):
    """Submit a proposal; the proposer's submission counts as its member's yes vote."""

    TYPE = "consortium/propose"
    action: Action


class MsgVote(Message, frozen=True):
    TYPE = "consortium/vote"
    proposal_id: U64
    approve: bool


ALL_MESSAGES: tuple[type[Message], ...] = (MsgPropose, MsgVote)


def action_kind(action: Action) -> str:
    """The action's wire tag, e.g. ``"admit_member"``."""
    return str(action.__struct_config__.tag)
