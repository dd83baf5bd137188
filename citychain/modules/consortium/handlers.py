"""Consortium message handlers: members propose and vote; a decided proposal runs at once.

A proposal's life (docs/modules/consortium.md):

1. An active member's operator submits it (``MsgPropose``). The submission is the member's yes
   vote, so a member with more than two thirds of the power decides alone, as it already could
   by signing blocks alone. It is open for ``voting_period_blocks`` blocks, its own included:
   votes are accepted up to ``voting_end_height = submit_height + voting_period_blocks - 1``.
2. Each active member votes once (``MsgVote``), weighted by its power (tally.py).
3. When yes power * 3 > total active power * 2, it passes and its action runs in the same
   transaction; if the action is no longer valid then, the proposal is ``failed`` and nothing
   else changes. When even all remaining votes could not make it pass, it is ``rejected``.
4. Still open after its last voting height, it is ``expired`` by ``end_block`` and changes
   nothing; a later vote is refused with PROPOSAL_EXPIRED.
"""

from __future__ import annotations

from msgspec import structs

from citychain.modules.base import Context
from citychain.modules.consortium import errors
from citychain.modules.consortium.actions import apply_action, check_action
from citychain.modules.consortium.errors import ConsortiumError
from citychain.modules.consortium.messages import MsgPropose, MsgVote, action_kind
from citychain.modules.consortium.state import (
    PROPOSAL_EXECUTED,
    PROPOSAL_EXPIRED,
    PROPOSAL_FAILED,
    PROPOSAL_OPEN,
    PROPOSAL_REJECTED,
    PROPOSAL_STATUS_NAMES,
    Member,
    Proposal,
    Vote,
    active_member_by_operator,
    add_proposal_ending_at,
    clear_proposals_ending_at,
    get_params,
    get_proposal,
    next_proposal_id,
    proposals_ending_at,
    set_next_proposal_id,
    set_proposal,
)
from citychain.modules.consortium.tally import can_still_pass, count_votes, passes
from citychain.state.overlay import Overlay, StateReader

__all__ = ["expire_proposals", "handle_propose", "handle_vote"]


def _sender_member(state: StateReader, sender: bytes) -> Member:
    member = active_member_by_operator(state, sender)
    if member is None:
        raise ConsortiumError(errors.NOT_A_MEMBER)
    return member


def handle_propose(ctx: Context, msg: MsgPropose) -> bytes:
    """Open a proposal; the transaction's data is its id, 8 bytes big-endian."""
    state = ctx.state
    member = _sender_member(state, ctx.sender)
    check_action(state, msg.action)
    proposal_id = next_proposal_id(state)
    voting_end_height = ctx.height + get_params(state).voting_period_blocks - 1
    votes = (Vote(member.name, member.term, True, ctx.height),)
    proposal = Proposal(
        id=proposal_id,
        proposer=member.name,
        action=msg.action,
        submit_height=ctx.height,
        voting_end_height=voting_end_height,
        status=PROPOSAL_OPEN,
        votes=votes,
        tally=count_votes(state, votes),
        log="",
    )
    set_next_proposal_id(state, proposal_id + 1)
    add_proposal_ending_at(state, voting_end_height, proposal_id)
    ctx.emit(
        "proposal_submitted",
        proposal_id=proposal_id,
        proposer=member.name,
        operator=ctx.sender,
        kind=action_kind(msg.action),
        voting_end_height=voting_end_height,
    )
    _emit_vote(ctx, proposal, member, approve=True)
    _decide(ctx, proposal)
    return proposal_id.to_bytes(8, "big")


def handle_vote(ctx: Context, msg: MsgVote) -> None:
    state = ctx.state
    member = _sender_member(state, ctx.sender)
    proposal = get_proposal(state, msg.proposal_id)
    if proposal is None:
        raise ConsortiumError(errors.PROPOSAL_NOT_FOUND, f"no proposal {msg.proposal_id}")
    # The height check matters only if end_block has not run yet for the last voting height,
    # which cannot happen in a block; it keeps the rule true on its own.
    if proposal.status == PROPOSAL_EXPIRED or (
        proposal.status == PROPOSAL_OPEN and ctx.height > proposal.voting_end_height
    ):
        raise ConsortiumError(
            errors.PROPOSAL_EXPIRED,
            f"voting on proposal {proposal.id} ended at height {proposal.voting_end_height}; "
            f"this is height {ctx.height}",
        )
    if proposal.status != PROPOSAL_OPEN:
        raise ConsortiumError(
            errors.PROPOSAL_CLOSED,
            f"proposal {proposal.id} is {PROPOSAL_STATUS_NAMES[proposal.status]}",
        )
    earlier = [v for v in proposal.votes if v.member == member.name]
    if earlier and earlier[0].term == member.term:
        choice = "yes" if earlier[0].approve else "no"
        raise ConsortiumError(
            errors.ALREADY_VOTED,
            f"{member.name!r} voted {choice} on proposal {proposal.id} at height "
            f"{earlier[0].height}",
        )
    # A vote from an earlier term of the same name no longer counts and is replaced.
    votes = tuple(
        sorted(
            (
                *(v for v in proposal.votes if v.member != member.name),
                Vote(member.name, member.term, msg.approve, ctx.height),
            ),
            key=lambda v: v.member,
        )
    )
    proposal = structs.replace(proposal, votes=votes, tally=count_votes(state, votes))
    _emit_vote(ctx, proposal, member, approve=msg.approve)
    _decide(ctx, proposal)


def _emit_vote(ctx: Context, proposal: Proposal, member: Member, *, approve: bool) -> None:
    ctx.emit(
        "proposal_voted",
        proposal_id=proposal.id,
        member=member.name,
        operator=member.operator,
        vote="yes" if approve else "no",
        yes_power=proposal.tally.yes,
        no_power=proposal.tally.no,
        total_power=proposal.tally.total,
    )


def _decide(ctx: Context, proposal: Proposal) -> None:
    """Pass and execute, reject, or leave open ``proposal``; then store it."""
    tally = proposal.tally
    if passes(tally):
        ctx.emit(
            "proposal_passed",
            proposal_id=proposal.id,
            yes_power=tally.yes,
            total_power=tally.total,
        )
        try:
            check_action(ctx.state, proposal.action)
        except ConsortiumError as exc:
            proposal = structs.replace(proposal, status=PROPOSAL_FAILED, log=str(exc))
            ctx.emit(
                "proposal_failed",
                proposal_id=proposal.id,
                codespace=exc.codespace,
                code=exc.code,
                log=exc.message,
            )
        else:
            apply_action(ctx, proposal.action)
            proposal = structs.replace(proposal, status=PROPOSAL_EXECUTED)
            ctx.emit(
                "proposal_executed", proposal_id=proposal.id, kind=action_kind(proposal.action)
            )
    elif not can_still_pass(tally):
        proposal = structs.replace(proposal, status=PROPOSAL_REJECTED)
        ctx.emit(
            "proposal_rejected",
            proposal_id=proposal.id,
            no_power=tally.no,
            total_power=tally.total,
        )
    set_proposal(ctx.state, proposal)


def expire_proposals(state: Overlay, height: int) -> list[int]:
    """Mark expired the proposals whose last voting height is ``height`` and still open.

    Runs in end_block, after the block's votes; returns the ids it expired.
    """
    ending = proposals_ending_at(state, height)
    if not ending:
        return []  # no write at all, so an idle block stores nothing for the consortium
    expired: list[int] = []
    for proposal_id in ending:
        proposal = get_proposal(state, proposal_id)
        if proposal is not None and proposal.status == PROPOSAL_OPEN:
            # The stored tally is recounted so that the record shows the final standing.
            tally = count_votes(state, proposal.votes)
            set_proposal(state, structs.replace(proposal, status=PROPOSAL_EXPIRED, tally=tally))
            expired.append(proposal_id)
    clear_proposals_ending_at(state, height)
    return expired
