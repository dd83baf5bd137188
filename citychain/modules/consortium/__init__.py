"""Consortium module: the member organisations, their governance votes, and the roles they grant
(docs/modules/consortium.md). The names below are its public surface (docs/modules/README.md).
"""

from citychain.modules.base import MessageRoute, Module
from citychain.modules.consortium import handlers, invariants
from citychain.modules.consortium.end_block import end_block
from citychain.modules.consortium.errors import ConsortiumError
from citychain.modules.consortium.genesis import check_genesis, genesis_validators, init_genesis
from citychain.modules.consortium.keeper import has_role, role_holders
from citychain.modules.consortium.messages import (
    Action,
    AdmitMember,
    GrantRole,
    MsgPropose,
    MsgVote,
    RemoveMember,
    RevokeRole,
)
from citychain.modules.consortium.queries import (
    members_view,
    proposal_view,
    proposals_view,
    roles_view,
)
from citychain.modules.consortium.roles import (
    ALL_ROLES,
    ELECTION_AUTHORITY,
    ISSUER,
    KYC_VERIFIER,
    MANUFACTURER,
    ORACLE,
    REGISTRAR,
    REGULATOR,
    is_role,
)

MODULE = Module(
    name="consortium",
    # Membership is checked by the handlers (the sender must operate an active member), not by a
    # role: a role belongs to any account, membership to an organisation's operator account.
    routes=(
        MessageRoute(MsgPropose, handlers.handle_propose),
        MessageRoute(MsgVote, handlers.handle_vote),
    ),
    init_genesis=init_genesis,
    invariants=(
        invariants.active_member_power,
        invariants.member_indexes,
        invariants.role_holder_index,
        invariants.open_proposals_expire,
        invariants.validator_updates_drained,
    ),
    genesis_order=10,
    end_block=end_block,
    check_genesis=check_genesis,
)

__all__ = [
    "ALL_ROLES",
    "ELECTION_AUTHORITY",
    "ISSUER",
    "KYC_VERIFIER",
    "MANUFACTURER",
    "MODULE",
    "ORACLE",
    "REGISTRAR",
    "REGULATOR",
    "Action",
    "AdmitMember",
    "ConsortiumError",
    "GrantRole",
    "MsgPropose",
    "MsgVote",
    "RemoveMember",
    "RevokeRole",
    "genesis_validators",
    "has_role",
    "is_role",
    "members_view",
    "proposal_view",
    "proposals_view",
    "role_holders",
    "roles_view",
]
