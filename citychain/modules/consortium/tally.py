"""Counting a proposal's votes: weighted by power, two thirds of all active power to pass.

The threshold is the one CometBFT uses for commits (more than 2/3 of the voting power), so
governance needs the same coalition that could already rewrite blocks, and no smaller one.
Integer arithmetic only: ``yes * 3 > total * 2``, never a fraction.

Votes are counted against the members active *now*, not a snapshot taken at submission: a
removed member's vote stops counting, a newly admitted member may vote, and a vote cast in an
earlier term of the same name (removed, then admitted again) does not count.
"""

from __future__ import annotations

from collections.abc import Iterable

from citychain.modules.consortium.state import Tally, Vote, active_members
from citychain.state.overlay import StateReader

__all__ = ["can_still_pass", "count_votes", "passes"]


def count_votes(state: StateReader, votes: Iterable[Vote]) -> Tally:
    members = {m.name: m for m in active_members(state)}
    yes = no = 0
    for vote in votes:
        member = members.get(vote.member)
        if member is None or vote.term != member.term:
            continue
        if vote.approve:
            yes += member.power
        else:
            no += member.power
    return Tally(yes=yes, no=no, total=sum(m.power for m in members.values()))


def passes(tally: Tally) -> bool:
    return tally.yes * 3 > tally.total * 2


def can_still_pass(tally: Tally) -> bool:
    """Whether the proposal would pass if every member yet to vote voted yes."""
    return (tally.total - tally.no) * 3 > tally.total * 2
