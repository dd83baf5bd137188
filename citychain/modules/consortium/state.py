"""Consortium keys under ``cons/`` and their typed accessors; no other file builds these keys.

| key                          | value                                                      |
| ---------------------------- | ---------------------------------------------------------- |
| cons/r/<role>/<addr20>       | role grant flag; absent = not held                         |
| cons/h/<role>                | holders of the role, tuple of addr20 sorted; none = absent |
| cons/m/<name>                | Member (active or removed)                                 |
| cons/n                       | names of every member ever admitted, sorted                |
| cons/o/<addr20>              | name of the active member this account operates            |
| cons/k/<key32>               | name of the active member with this validator key          |
| cons/g                       | ConsortiumParams                                           |
| cons/c                       | next proposal id, u64 big-endian; absent = 1               |
| cons/p/<id u64 BE>           | Proposal                                                   |
| cons/e/<height u64 BE>       | ids of proposals whose voting ends at that height          |
| cons/u                       | this block's validator updates; absent between blocks      |

Handlers cannot scan a prefix inside a block, so every list a handler or a query needs (role
holders, member names, proposals ending at a height) is kept as its own small index key.
"""

from __future__ import annotations

from citychain.codec import U64, Address20, Bytes32, Struct, decode, encode
from citychain.modules.consortium.messages import Action
from citychain.state.overlay import Overlay, StateReader

PREFIX = b"cons/"
ROLE_PREFIX = b"cons/r/"
HOLDERS_PREFIX = b"cons/h/"
MEMBER_PREFIX = b"cons/m/"
MEMBER_NAMES = b"cons/n"
OPERATOR_PREFIX = b"cons/o/"
VALIDATOR_KEY_PREFIX = b"cons/k/"
PARAMS = b"cons/g"
NEXT_PROPOSAL_ID = b"cons/c"
PROPOSAL_PREFIX = b"cons/p/"
EXPIRY_PREFIX = b"cons/e/"
STAGED_UPDATES = b"cons/u"
_GRANTED = b"\x01"

MEMBER_ACTIVE = 0
MEMBER_REMOVED = 1
MEMBER_STATUS_NAMES = ("active", "removed")

PROPOSAL_OPEN = 0
PROPOSAL_EXECUTED = 1  # passed and its action was applied
PROPOSAL_REJECTED = 2  # the no votes made passing impossible
PROPOSAL_EXPIRED = 3  # the voting period ended without a decision
PROPOSAL_FAILED = 4  # passed, but the action was no longer valid when it ran (see ``log``)
PROPOSAL_STATUS_NAMES = ("open", "executed", "rejected", "expired", "failed")


# One day at CometBFT's default one-second commit timeout: long enough for every organisation
# to have someone look at a proposal, short enough that a stale one does not linger.
DEFAULT_VOTING_PERIOD_BLOCKS = 86_400


class ConsortiumParams(Struct, frozen=True):
    voting_period_blocks: U64  # a proposal is open this many blocks, its own included


class Member(Struct, frozen=True):
    name: str
    operator: Address20
    validator_public_key: Bytes32
    power: U64
    status: int
    # How many times this name has been admitted. A vote counts only if cast in the member's
    # current term, so an organisation removed and admitted again does not keep its old votes.
    term: U64
    admitted_height: U64  # 0 = genesis
    removed_height: U64  # 0 while active


class Vote(Struct, frozen=True):
    member: str
    term: U64
    approve: bool
    height: U64


class Tally(Struct, frozen=True):
    """Voting power for, against, and of all active members, as of the last vote or close."""

    yes: U64
    no: U64
    total: U64


class Proposal(Struct, frozen=True):
    id: U64
    proposer: str  # the member's name
    action: Action
    submit_height: U64
    voting_end_height: U64  # the last height at which votes are accepted
    status: int
    votes: tuple[Vote, ...]  # sorted by member name, one per member
    tally: Tally
    log: str  # why a passed proposal failed to execute; "" otherwise


class StagedUpdate(Struct, frozen=True):
    """A validator-set change made in this block; see validator_updates.py."""

    public_key: Bytes32
    power: U64
    in_set_before_block: bool


def _u64(value: int) -> bytes:
    return value.to_bytes(8, "big")


# --- roles --------------------------------------------------------------------------------------


def role_key(role: str, address: bytes) -> bytes:
    return ROLE_PREFIX + role.encode() + b"/" + address


def has_role(state: StateReader, address: bytes, role: str) -> bool:
    return state.get(role_key(role, address)) is not None


def role_holders(state: StateReader, role: str) -> tuple[bytes, ...]:
    raw = state.get(HOLDERS_PREFIX + role.encode())
    return decode(raw, tuple[bytes, ...]) if raw is not None else ()


def _set_holders(state: Overlay, role: str, holders: set[bytes]) -> None:
    key = HOLDERS_PREFIX + role.encode()
    if holders:
        state.set(key, encode(tuple(sorted(holders))))
    else:
        state.delete(key)


def grant_role(state: Overlay, address: bytes, role: str) -> None:
    """Grant ``role`` to ``address``; granting a held role changes nothing."""
    state.set(role_key(role, address), _GRANTED)
    _set_holders(state, role, set(role_holders(state, role)) | {address})


def revoke_role(state: Overlay, address: bytes, role: str) -> None:
    """Revoke ``role`` from ``address``; revoking a role not held changes nothing."""
    state.delete(role_key(role, address))
    _set_holders(state, role, set(role_holders(state, role)) - {address})


# --- members ------------------------------------------------------------------------------------


def member_key(name: str) -> bytes:
    return MEMBER_PREFIX + name.encode()


def get_member(state: StateReader, name: str) -> Member | None:
    raw = state.get(member_key(name))
    return decode(raw, Member) if raw is not None else None


def member_names(state: StateReader) -> tuple[str, ...]:
    raw = state.get(MEMBER_NAMES)
    return decode(raw, tuple[str, ...]) if raw is not None else ()


def set_member(state: Overlay, member: Member) -> None:
    """Write ``member`` and keep the name, operator and validator-key indexes in step."""
    state.set(member_key(member.name), encode(member))
    names = member_names(state)
    if member.name not in names:
        state.set(MEMBER_NAMES, encode(tuple(sorted((*names, member.name)))))
    operator_key = OPERATOR_PREFIX + member.operator
    validator_key = VALIDATOR_KEY_PREFIX + member.validator_public_key
    if member.status == MEMBER_ACTIVE:
        state.set(operator_key, member.name.encode())
        state.set(validator_key, member.name.encode())
    else:
        state.delete(operator_key)
        state.delete(validator_key)


def active_member_by_operator(state: StateReader, operator: bytes) -> Member | None:
    raw = state.get(OPERATOR_PREFIX + operator)
    return get_member(state, raw.decode()) if raw is not None else None


def validator_key_holder(state: StateReader, public_key: bytes) -> str | None:
    raw = state.get(VALIDATOR_KEY_PREFIX + public_key)
    return raw.decode() if raw is not None else None


def active_members(state: StateReader) -> list[Member]:
    """Active members in name order (the consortium is tens of organisations, not thousands)."""
    members = [get_member(state, name) for name in member_names(state)]
    return [m for m in members if m is not None and m.status == MEMBER_ACTIVE]


# --- parameters ---------------------------------------------------------------------------------


def get_params(state: StateReader) -> ConsortiumParams:
    """The parameters; a chain whose genesis had no consortium section gets the defaults."""
    raw = state.get(PARAMS)
    if raw is None:
        return ConsortiumParams(DEFAULT_VOTING_PERIOD_BLOCKS)
    return decode(raw, ConsortiumParams)


def set_params(state: Overlay, params: ConsortiumParams) -> None:
    state.set(PARAMS, encode(params))


# --- proposals ----------------------------------------------------------------------------------


def next_proposal_id(state: StateReader) -> int:
    raw = state.get(NEXT_PROPOSAL_ID)
    return int.from_bytes(raw, "big") if raw is not None else 1


def set_next_proposal_id(state: Overlay, proposal_id: int) -> None:
    state.set(NEXT_PROPOSAL_ID, _u64(proposal_id))


def proposal_key(proposal_id: int) -> bytes:
    return PROPOSAL_PREFIX + _u64(proposal_id)


def get_proposal(state: StateReader, proposal_id: int) -> Proposal | None:
    if not 0 < proposal_id < 2**64:
        return None
    raw = state.get(proposal_key(proposal_id))
    return decode(raw, Proposal) if raw is not None else None


def set_proposal(state: Overlay, proposal: Proposal) -> None:
    state.set(proposal_key(proposal.id), encode(proposal))


def expiry_key(height: int) -> bytes:
    return EXPIRY_PREFIX + _u64(height)


def proposals_ending_at(state: StateReader, height: int) -> tuple[int, ...]:
    raw = state.get(expiry_key(height))
    return decode(raw, tuple[int, ...]) if raw is not None else ()


def add_proposal_ending_at(state: Overlay, height: int, proposal_id: int) -> None:
    ids = proposals_ending_at(state, height)
    state.set(expiry_key(height), encode(tuple(sorted((*ids, proposal_id)))))


def clear_proposals_ending_at(state: Overlay, height: int) -> None:
    state.delete(expiry_key(height))


# --- validator updates staged during a block ----------------------------------------------------


def get_staged_updates(state: StateReader) -> tuple[StagedUpdate, ...]:
    raw = state.get(STAGED_UPDATES)
    return decode(raw, tuple[StagedUpdate, ...]) if raw is not None else ()


def set_staged_updates(state: Overlay, updates: tuple[StagedUpdate, ...]) -> None:
    if updates:
        state.set(STAGED_UPDATES, encode(updates))
    else:
        state.delete(STAGED_UPDATES)
