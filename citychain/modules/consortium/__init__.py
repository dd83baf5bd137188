"""Consortium module: the member organisations, their governance votes, and the roles they grant
(docs/modules/consortium.md)."""

from citychain.modules.base import MessageRoute, Module
from citychain.modules.consortium import handlers, invariants
from citychain.modules.consortium.end_block import end_block
from citychain.modules.consortium.genesis import check_genesis, genesis_validators, init_genesis
from citychain.modules.consortium.messages import MsgPropose, MsgVote
from citychain.modules.consortium.state import grant_role, has_role, revoke_role

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

__all__ = ["MODULE", "genesis_validators", "grant_role", "has_role", "revoke_role"]
