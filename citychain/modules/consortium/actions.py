"""What a proposal does: the validity rules of each action, and its state change.

``check_action`` runs twice: when the proposal is submitted (so that a proposal that could never
run is refused outright) and again when it passes, because other proposals may have changed the
consortium in between. ``apply_action`` assumes a successful ``check_action`` in the same state
and cannot fail, so a passing proposal never leaves half an action behind.

Removing a member revokes none of the roles held by its operator or any other account: roles
belong to accounts and are granted and revoked by their own proposals, so a removal proposal
does exactly one thing. Voters who want both propose both.
"""

from __future__ import annotations

from msgspec import structs

from citychain.crypto.address import address_from_bytes
from citychain.modules.base import Context
from citychain.modules.consortium import errors
from citychain.modules.consortium.errors import ConsortiumError
from citychain.modules.consortium.messages import (
    Action,
    AdmitMember,
    GrantRole,
    RemoveMember,
    RevokeRole,
)
from citychain.modules.consortium.roles import ALL_ROLES, is_role
from citychain.modules.consortium.state import (
    MEMBER_ACTIVE,
    MEMBER_REMOVED,
    Member,
    active_member_by_operator,
    active_members,
    get_member,
    grant_role,
    has_role,
    revoke_role,
    set_member,
    validator_key_holder,
)
from citychain.modules.consortium.validator_updates import stage_validator_update
from citychain.state.overlay import StateReader

__all__ = ["MAX_TOTAL_POWER", "apply_action", "check_action"]

# CometBFT's MaxTotalVotingPower (types/validator_set.go): a larger total halts the node.
MAX_TOTAL_POWER = (2**63 - 1) // 8


def check_action(state: StateReader, action: Action) -> None:
    """Raise ConsortiumError if ``action`` cannot run in ``state``; write nothing."""
    if isinstance(action, AdmitMember):
        _check_admit(state, action)
    elif isinstance(action, RemoveMember):
        _check_remove(state, action)
    else:
        _check_role_change(state, action)


def _check_admit(state: StateReader, action: AdmitMember) -> None:
    total = sum(m.power for m in active_members(state))
    if not 0 < action.power <= MAX_TOTAL_POWER - total:
        raise ConsortiumError(
            errors.INVALID_POWER,
            f"power {action.power}: must be at least 1 and keep the total power "
            f"({total} now) at most {MAX_TOTAL_POWER}",
        )
    existing = get_member(state, action.name)
    if existing is not None and existing.status == MEMBER_ACTIVE:
        raise ConsortiumError(errors.DUPLICATE_NAME, f"{action.name!r} is already a member")
    holder = validator_key_holder(state, action.validator_public_key)
    if holder is not None:
        raise ConsortiumError(
            errors.DUPLICATE_VALIDATOR_KEY,
            f"validator key {action.validator_public_key.hex()} belongs to {holder!r}",
        )
    operator = active_member_by_operator(state, action.operator)
    if operator is not None:
        raise ConsortiumError(
            errors.DUPLICATE_OPERATOR,
            f"{address_from_bytes(action.operator)} already operates {operator.name!r}",
        )


def _check_remove(state: StateReader, action: RemoveMember) -> None:
    members = active_members(state)
    if not any(m.name == action.name for m in members):
        raise ConsortiumError(errors.MEMBER_NOT_FOUND, f"no active member named {action.name!r}")
    # Every active member is a validator with power > 0, so this also keeps CometBFT's
    # validator set from emptying.
    if len(members) == 1:
        raise ConsortiumError(
            errors.LAST_MEMBER, f"{action.name!r} is the last member and the last validator"
        )


def _check_role_change(state: StateReader, action: GrantRole | RevokeRole) -> None:
    if not is_role(action.role):
        raise ConsortiumError(
            errors.UNKNOWN_ROLE, f"unknown role {action.role!r}; roles: {', '.join(ALL_ROLES)}"
        )
    held = has_role(state, action.address, action.role)
    who = address_from_bytes(action.address)
    if isinstance(action, GrantRole) and held:
        raise ConsortiumError(errors.ROLE_ALREADY_HELD, f"{who} already holds {action.role!r}")
    if isinstance(action, RevokeRole) and not held:
        raise ConsortiumError(errors.ROLE_NOT_HELD, f"{who} does not hold {action.role!r}")


def apply_action(ctx: Context, action: Action) -> None:
    """Carry out ``action`` (already checked) and emit what changed."""
    state = ctx.state
    if isinstance(action, AdmitMember):
        previous = get_member(state, action.name)
        member = Member(
            name=action.name,
            operator=action.operator,
            validator_public_key=action.validator_public_key,
            power=action.power,
            status=MEMBER_ACTIVE,
            term=previous.term + 1 if previous is not None else 1,
            admitted_height=ctx.height,
            removed_height=0,
        )
        set_member(state, member)
        stage_validator_update(state, member.validator_public_key, member.power)
        ctx.emit(
            "member_admitted",
            name=member.name,
            operator=member.operator,
            validator_public_key=member.validator_public_key,
            power=member.power,
        )
    elif isinstance(action, RemoveMember):
        current = get_member(state, action.name)
        if current is None:  # check_action found it active; this only satisfies the types
            raise ConsortiumError(errors.MEMBER_NOT_FOUND, action.name)
        removed = structs.replace(current, status=MEMBER_REMOVED, removed_height=ctx.height)
        set_member(state, removed)
        stage_validator_update(state, removed.validator_public_key, 0)
        ctx.emit(
            "member_removed",
            name=removed.name,
            operator=removed.operator,
            validator_public_key=removed.validator_public_key,
        )
    elif isinstance(action, GrantRole):
        grant_role(state, action.address, action.role)
        ctx.emit("role_granted", role=action.role, address=action.address)
    else:
        revoke_role(state, action.address, action.role)
        ctx.emit("role_revoked", role=action.role, address=action.address)
