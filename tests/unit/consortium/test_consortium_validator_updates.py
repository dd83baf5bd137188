"""Validator updates staged during a block and drained by end_block
(citychain/modules/consortium/validator_updates.py), and the vote-counting rule (tally.py).

CometBFT halts on an update list with a duplicate key, power 0 for a key outside its set, or
one that empties the set; the properties below drive the staging with any sequence of
admissions and removals that governance allows and check that none of these can come out.
"""

from __future__ import annotations

from fractions import Fraction

from hypothesis import given
from hypothesis import strategies as st

from citychain.modules.base import ValidatorUpdate
from citychain.modules.consortium.state import STAGED_UPDATES, Tally
from citychain.modules.consortium.tally import can_still_pass, passes
from citychain.modules.consortium.validator_updates import (
    drain_validator_updates,
    stage_validator_update,
)
from citychain.state.overlay import Committed, Overlay

A, B, C = (bytes([n]) * 32 for n in (3, 1, 2))


def fresh() -> Overlay:
    return Overlay(Overlay(Committed()))


def test_nothing_staged_gives_nothing_and_writes_nothing() -> None:
    state = fresh()
    assert drain_validator_updates(state) == []
    assert state.writes == {}


def test_last_write_per_key_wins_and_the_list_is_sorted_by_key() -> None:
    state = fresh()
    stage_validator_update(state, A, 5)
    stage_validator_update(state, C, 0)  # C was in the set: its removal stays
    stage_validator_update(state, B, 1)
    stage_validator_update(state, A, 7)
    assert drain_validator_updates(state) == [
        ValidatorUpdate(B, 1),
        ValidatorUpdate(C, 0),
        ValidatorUpdate(A, 7),
    ]
    assert state.get(STAGED_UPDATES) is None
    assert drain_validator_updates(state) == []


def test_added_then_removed_in_one_block_cancels_out() -> None:
    state = fresh()
    stage_validator_update(state, A, 5)
    stage_validator_update(state, A, 0)
    assert drain_validator_updates(state) == []


def test_removed_then_added_again_is_a_power_change() -> None:
    state = fresh()
    stage_validator_update(state, A, 0)
    stage_validator_update(state, A, 9)
    assert drain_validator_updates(state) == [ValidatorUpdate(A, 9)]


POOL = [bytes([n]) * 32 for n in range(6)]


@st.composite
def governance_blocks(draw: st.DrawFn) -> tuple[dict[bytes, int], list[tuple[bytes, int]]]:
    """A starting set (what CometBFT has) and a block's admissions and removals, each allowed by
    governance at its point: admit only an inactive key, remove only an active one, never the
    last."""
    start_keys = draw(st.lists(st.sampled_from(POOL), min_size=1, max_size=4, unique=True))
    start = {k: draw(st.integers(1, 5)) for k in start_keys}
    active = dict(start)
    changes: list[tuple[bytes, int]] = []
    for _ in range(draw(st.integers(0, 12))):
        key = draw(st.sampled_from(POOL))
        if key in active:
            if len(active) == 1:
                continue
            del active[key]
            changes.append((key, 0))
        else:
            power = draw(st.integers(1, 5))
            active[key] = power
            changes.append((key, power))
    return start, changes


@given(governance_blocks())
def test_drained_updates_are_valid_for_cometbft_and_reach_the_active_set(
    block: tuple[dict[bytes, int], list[tuple[bytes, int]]],
) -> None:
    start, changes = block
    state = fresh()
    for key, power in changes:
        stage_validator_update(state, key, power)
    updates = drain_validator_updates(state)
    keys = [u.public_key for u in updates]
    assert keys == sorted(set(keys))  # sorted, no duplicates
    assert all(u.public_key in start for u in updates if u.power == 0)  # no unknown removals
    result = dict(start)
    for update in updates:
        if update.power == 0:
            del result[update.public_key]
        else:
            result[update.public_key] = update.power
    expected = dict(start)
    for key, power in changes:
        if power == 0:
            del expected[key]
        else:
            expected[key] = power
    assert result == expected
    assert result  # never empties the set


@given(st.integers(1, 10**6), st.integers(0, 10**6), st.integers(0, 10**6))
def test_passing_is_more_than_two_thirds_of_the_total(total: int, yes: int, no: int) -> None:
    yes, no = min(yes, total), min(no, total - min(yes, total))
    tally = Tally(yes=yes, no=no, total=total)
    assert passes(tally) == (Fraction(yes, total) > Fraction(2, 3))
    assert can_still_pass(tally) == (Fraction(total - no, total) > Fraction(2, 3))
    assert not (passes(tally) and not can_still_pass(tally))


@given(st.lists(st.tuples(st.integers(1, 50), st.booleans()), min_size=1, max_size=12))
def test_a_proposal_is_decided_at_most_once_as_votes_arrive(votes: list[tuple[int, bool]]) -> None:
    """Adding votes never turns 'cannot pass' back into 'can pass', nor 'passes' into 'fails'."""
    total = sum(power for power, _ in votes)
    yes = no = 0
    was_passing, was_possible = False, True
    for power, approve in votes:
        yes, no = (yes + power, no) if approve else (yes, no + power)
        tally = Tally(yes=yes, no=no, total=total)
        assert passes(tally) or not was_passing
        assert was_possible or not can_still_pass(tally)
        was_passing, was_possible = passes(tally), can_still_pass(tally)
    assert passes(tally) == (yes * 3 > total * 2)
