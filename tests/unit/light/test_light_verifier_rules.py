"""The verification rules on synthetic headers signed with PyNaCl keys: the 2/3 and trust-level
thresholds at their exact boundaries, and skipping, adjacent and chain verification."""

from __future__ import annotations

from dataclasses import replace
from fractions import Fraction

import pytest
from light_synth import ABSENT, CHAIN_ID, NIL, key, members, sign_slot, signed_block

from citychain.light import Check, LightClientError
from citychain.light.types import Commit, CommitSig, LightBlock, SignedHeader, Timestamp
from citychain.light.verifier import (
    verify_adjacent,
    verify_chain,
    verify_commit,
    verify_commit_trusting,
    verify_non_adjacent,
)


def _check(call: object) -> Check:
    assert callable(call)
    with pytest.raises(LightClientError) as raised:
        call()
    return raised.value.check


# ---- more than 2/3 of the set's own power --------------------------------------------------


@pytest.mark.parametrize(
    ("powers", "signing", "passes"),
    [
        ({1: 1, 2: 1, 3: 1}, {1, 2, 3}, True),
        ({1: 1, 2: 1, 3: 1}, {1, 2}, False),  # exactly 2/3 is not enough
        ({1: 1, 2: 1, 3: 1, 4: 1}, {1, 2, 3}, True),  # 3/4
        ({1: 1, 2: 1, 3: 1, 4: 1}, {1, 2}, False),
        ({1: 10, 2: 5}, {1}, False),  # 10/15 = 2/3 exactly
        ({1: 7, 2: 3}, {1}, True),  # 7/10
        ({1: 200, 2: 100, 3: 1}, {1, 3}, True),  # 201/301 > 2/3
        ({1: 200, 2: 100, 3: 1}, {1}, False),  # 200/301
    ],
)
def test_more_than_two_thirds_of_the_power_must_sign(
    powers: dict[int, int], signing: set[int], passes: bool
) -> None:
    group = members(powers)
    flags = {group.index_of(n): ABSENT for n in powers if n not in signing}
    block = signed_block(group, 5, flags=flags)
    if passes:
        tally = verify_commit(CHAIN_ID, block.signed_header, group.validators)
        assert tally.signed_power == sum(powers[n] for n in signing)
        assert tally.total_power == sum(powers.values())
    else:
        assert _check(lambda: verify_commit(CHAIN_ID, block.signed_header, group.validators)) == (
            Check.VOTING_POWER
        )


def test_nil_precommits_do_not_count() -> None:
    group = members({1: 1, 2: 1, 3: 1, 4: 1})
    block = signed_block(group, 5, flags={0: NIL, 1: NIL})
    assert _check(lambda: verify_commit(CHAIN_ID, block.signed_header, group.validators)) == (
        Check.VOTING_POWER
    )
    one_nil = signed_block(group, 5, flags={0: NIL})
    assert verify_commit(CHAIN_ID, one_nil.signed_header, group.validators).signed_power == 3


def test_a_bad_signature_is_refused_even_when_the_rest_suffice() -> None:
    group = members({1: 1, 2: 1, 3: 1, 4: 1, 5: 1})
    block = signed_block(group, 5)
    forged = sign_slot(block, group.index_of(4), key(1))  # key(1) signs key(4)'s slot
    assert _check(lambda: verify_commit(CHAIN_ID, forged.signed_header, group.validators)) == (
        Check.VALIDATOR_ADDRESS
    )
    commit = block.signed_header.commit
    sigs = list(commit.signatures)
    sigs[4] = CommitSig(sigs[4].block_id_flag, sigs[4].validator_address, sigs[4].timestamp,
                        bytes(64))  # fmt: skip
    bad = SignedHeader(
        block.signed_header.header,
        Commit(commit.height, commit.round, commit.block_id, tuple(sigs)),
    )
    assert _check(lambda: verify_commit(CHAIN_ID, bad, group.validators)) == Check.SIGNATURE


def test_signatures_for_another_chain_do_not_verify() -> None:
    group = members({1: 1})
    block = signed_block(group, 5, chain_id="other")
    # Same header and block ID for CHAIN_ID, but precommits signed for "other".
    relabelled = signed_block(group, 5)
    mixed = SignedHeader(relabelled.signed_header.header, block.signed_header.commit)
    assert _check(lambda: verify_commit(CHAIN_ID, mixed, group.validators)) == Check.BLOCK_ID
    same_id = SignedHeader(
        relabelled.signed_header.header,
        replace(block.signed_header.commit, block_id=relabelled.signed_header.commit.block_id),
    )
    assert _check(lambda: verify_commit(CHAIN_ID, same_id, group.validators)) == Check.SIGNATURE


# ---- the trusted set's share (skipping) ----------------------------------------------------


@pytest.mark.parametrize(
    ("trusted", "new", "passes"),
    [
        ({1: 1, 2: 1, 3: 1}, {1: 1, 4: 1, 5: 1, 6: 1}, False),  # 1/3 exactly is not enough
        ({1: 1, 2: 1, 3: 1}, {1: 1, 2: 1, 4: 1, 5: 1}, True),  # 2/3
        ({1: 3, 2: 3, 3: 2}, {1: 3, 4: 1}, True),  # 3/8 > 1/3
        ({1: 2, 2: 2, 3: 2}, {1: 2, 4: 1}, False),  # 2/6
        ({1: 1, 2: 1, 3: 1}, {7: 1, 8: 1}, False),  # no overlap at all
    ],
)
def test_more_than_the_trust_level_of_the_trusted_set_must_sign(
    trusted: dict[int, int], new: dict[int, int], passes: bool
) -> None:
    trusted_group, new_group = members(trusted), members(new)
    commit = signed_block(new_group, 9).signed_header.commit
    if passes:
        tally = verify_commit_trusting(CHAIN_ID, trusted_group.validators, commit)
        assert tally.total_power == sum(trusted.values())
    else:
        assert _check(
            lambda: verify_commit_trusting(CHAIN_ID, trusted_group.validators, commit)
        ) == (Check.TRUST_LEVEL)


def test_trust_level_is_configurable_within_one_third_and_one() -> None:
    trusted = members({1: 1, 2: 1, 3: 1})
    commit = signed_block(members({1: 1, 2: 1, 4: 1}), 9).signed_header.commit
    verify_commit_trusting(CHAIN_ID, trusted.validators, commit, Fraction(1, 2))
    assert _check(
        lambda: verify_commit_trusting(CHAIN_ID, trusted.validators, commit, Fraction(2, 3))
    ) == (Check.TRUST_LEVEL)
    full = signed_block(trusted, 9).signed_header.commit
    # As in CometBFT, level 1 is accepted but needs more than all the power: nothing passes.
    assert _check(
        lambda: verify_commit_trusting(CHAIN_ID, trusted.validators, full, Fraction(1))
    ) == (Check.TRUST_LEVEL)
    for level in (Fraction(1, 4), Fraction(4, 3)):
        with pytest.raises(ValueError, match="trust level"):
            verify_commit_trusting(CHAIN_ID, trusted.validators, full, level)


def test_a_trusted_validator_signing_two_slots_is_a_double_vote() -> None:
    new = members({1: 1, 2: 1, 3: 1})
    block = signed_block(new, 9)
    doubled = sign_slot(block, new.index_of(2), key(1))
    trusted = members({1: 1, 5: 1, 6: 1})
    assert _check(
        lambda: verify_commit_trusting(CHAIN_ID, trusted.validators, doubled.signed_header.commit)
    ) == (Check.DOUBLE_VOTE)


def test_nil_votes_of_trusted_validators_do_not_count() -> None:
    new = members({1: 1, 2: 1, 3: 1, 4: 1})
    trusted = members({1: 1, 2: 1, 7: 1})
    block = signed_block(new, 9, flags={new.index_of(2): NIL})
    assert _check(
        lambda: verify_commit_trusting(CHAIN_ID, trusted.validators, block.signed_header.commit)
    ) == (Check.TRUST_LEVEL)


# ---- adjacent, non-adjacent and chains ------------------------------------------------------

GENESIS = {1: 1, 2: 1, 3: 1, 4: 1}
SET_A = {1: 1, 2: 1, 3: 1, 5: 1}  # 3/4 of genesis
SET_B = {3: 1, 5: 1, 6: 1, 7: 1}  # 2/4 of SET_A, 1/4 of genesis


def test_chain_follows_validator_set_changes() -> None:
    genesis, a, b = members(GENESIS), members(SET_A), members(SET_B)
    hops = [signed_block(a, 10), signed_block(b, 20), signed_block(b, 30, app_hash=b"\x07" * 32)]
    header = verify_chain(CHAIN_ID, genesis.validators, hops)
    assert (header.height, header.app_hash) == (30, b"\x07" * 32)


def test_skipping_too_far_at_once_fails_at_that_hop() -> None:
    genesis, b = members(GENESIS), members(SET_B)
    with pytest.raises(LightClientError) as raised:
        verify_chain(CHAIN_ID, genesis.validators, [signed_block(b, 20)])
    assert (raised.value.check, raised.value.hop, raised.value.height) == (
        Check.TRUST_LEVEL,
        0,
        20,
    )


def test_adjacent_headers_link_by_next_validators_hash_even_with_no_overlap() -> None:
    a, c = members(SET_A), members({8: 1, 9: 1, 10: 1})
    trusted = signed_block(a, 10, next_signers=c)
    verify_adjacent(CHAIN_ID, trusted.signed_header, signed_block(c, 11))
    header = verify_chain(CHAIN_ID, a.validators, [trusted, signed_block(c, 11)])
    assert header.height == 11
    stale = signed_block(a, 10)  # says the next set is A again
    assert _check(lambda: verify_adjacent(CHAIN_ID, stale.signed_header, signed_block(c, 11))) == (
        Check.NEXT_VALIDATORS_HASH
    )


def test_new_set_must_itself_sign_with_more_than_two_thirds() -> None:
    genesis = members(GENESIS)
    wide = members({1: 1, 2: 1, 3: 1, 5: 1, 6: 1, 7: 1})
    flags = {wide.index_of(n): ABSENT for n in (5, 6, 7)}
    block = signed_block(wide, 10, flags=flags)
    assert _check(lambda: verify_non_adjacent(CHAIN_ID, None, genesis.validators, block)) == (
        Check.VOTING_POWER
    )


def test_supplied_set_must_be_the_one_the_header_names() -> None:
    genesis, a = members(GENESIS), members(SET_A)
    block = signed_block(a, 10)
    wrong = LightBlock(block.signed_header, genesis.validators)
    with pytest.raises(LightClientError) as raised:
        verify_chain(CHAIN_ID, genesis.validators, [wrong])
    assert raised.value.check == Check.VALIDATORS_HASH


def test_heights_must_increase_and_times_must_advance() -> None:
    a = members(SET_A)
    assert _check(
        lambda: verify_chain(CHAIN_ID, a.validators, [signed_block(a, 10), signed_block(a, 8)])
    ) == (Check.HEIGHT_ORDER)
    early = signed_block(a, 12, time=Timestamp(1, 0))
    with pytest.raises(LightClientError) as raised:
        verify_chain(CHAIN_ID, a.validators, [signed_block(a, 10), early])
    assert (raised.value.check, raised.value.hop) == (Check.TIME_ORDER, 1)


def test_a_hop_of_another_chain_is_named() -> None:
    a = members(SET_A)
    hops = [signed_block(a, 10), signed_block(a, 12, chain_id="fork"), signed_block(a, 14)]
    with pytest.raises(LightClientError) as raised:
        verify_chain(CHAIN_ID, a.validators, hops)
    assert (raised.value.check, raised.value.hop, raised.value.height) == (Check.CHAIN_ID, 1, 12)


def test_empty_chain_is_malformed() -> None:
    assert _check(lambda: verify_chain(CHAIN_ID, members(GENESIS).validators, [])) == (
        Check.MALFORMED
    )
