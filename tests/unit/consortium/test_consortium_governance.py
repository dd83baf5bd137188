"""Consortium governance through the whole Application (citychain/modules/consortium,
docs/modules/consortium.md): proposals, votes, validator updates and roles.

Four members of power 10 (total 40) unless a test says otherwise: a proposal passes with 30 yes
(30 * 3 > 40 * 2), so with its proposer and two more members, and is rejected once 20 vote no.
Every block is followed by every module's invariants (helpers.Chain.block).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from governance_chain import (
    BATTERY_WORKS,
    CITY_BANK,
    CITY_HALL,
    FOUR,
    REGULATOR,
    UNIVERSITY,
    Org,
    admit,
    event,
    event_types,
    governed_chain,
    member_status,
    pass_proposal,
    proposal,
    propose,
    vote,
)
from helpers import (
    ALICE,
    CAROL,
    CCY,
    ISSUER,
    Chain,
    addr,
    assert_fails_paying_fee,
    assert_refused_free,
    changed_keys,
)

from citychain.crypto.address import address_from_bytes
from citychain.modules.bank.messages import MsgMint
from citychain.modules.base import ValidatorUpdate
from citychain.modules.consortium import errors
from citychain.modules.consortium.messages import (
    AdmitMember,
    GrantRole,
    MsgPropose,
    MsgVote,
    RemoveMember,
    RevokeRole,
)
from citychain.modules.consortium.queries import members_view, proposal_view, roles_view
from citychain.modules.consortium.roles import ISSUER as ISSUER_ROLE
from citychain.modules.consortium.roles import REGISTRAR
from citychain.modules.consortium.state import (
    MEMBER_ACTIVE,
    MEMBER_REMOVED,
    PROPOSAL_EXECUTED,
    PROPOSAL_EXPIRED,
    PROPOSAL_FAILED,
    PROPOSAL_OPEN,
    PROPOSAL_REJECTED,
    get_member,
    has_role,
)
from citychain.tx import errors as tx_errors


@pytest.fixture
def chain(tmp_path: Path) -> Chain:
    return governed_chain(tmp_path)


# --- admitting and removing a member ------------------------------------------------------------


def test_four_members_vote_a_fifth_in_and_out_with_validator_updates(chain: Chain) -> None:
    result, proposal_id = propose(chain, CITY_HALL, admit(UNIVERSITY))
    assert result.ok, result.log
    assert proposal_id == 1
    assert event_types(result) == ["proposal_submitted", "proposal_voted"]
    assert event(result, "proposal_voted")["yes_power"] == 10

    block = chain.block(chain.tx(CITY_BANK.operator, MsgVote(proposal_id, True)))
    assert block.tx_results[0].ok
    assert block.validator_updates == []  # 20 of 40 is not enough
    assert proposal(chain, proposal_id).status == PROPOSAL_OPEN

    block = chain.block(chain.tx(BATTERY_WORKS.operator, MsgVote(proposal_id, True)))
    passed = block.tx_results[0]
    assert passed.ok, passed.log
    assert event_types(passed) == [
        "proposal_voted",
        "proposal_passed",
        "member_admitted",
        "proposal_executed",
    ]
    assert event(passed, "member_admitted") == {
        "name": "University",
        "operator": addr(UNIVERSITY.operator),
        "validator_public_key": UNIVERSITY.validator_key,
        "power": 10,
    }
    assert block.validator_updates == [ValidatorUpdate(UNIVERSITY.validator_key, 10)]
    assert member_status(chain, UNIVERSITY) == MEMBER_ACTIVE
    assert members_view(chain.app.committed)["total_power"] == 50

    # Now five members, 50 power: removal needs yes * 3 > 100, so four votes of 10.
    result, removal = propose(chain, CITY_HALL, RemoveMember("University"))
    assert result.ok, result.log
    for org in (CITY_BANK, BATTERY_WORKS):
        assert vote(chain, org, removal).ok
        assert proposal(chain, removal).status == PROPOSAL_OPEN
    block = chain.block(chain.tx(REGULATOR.operator, MsgVote(removal, True)))
    assert block.tx_results[0].ok, block.tx_results[0].log
    assert block.validator_updates == [ValidatorUpdate(UNIVERSITY.validator_key, 0)]
    assert event(block.tx_results[0], "member_removed")["name"] == "University"
    assert member_status(chain, UNIVERSITY) == MEMBER_REMOVED
    # The next block carries no update: end_block cleared the staged list.
    assert chain.block().validator_updates == []


def test_the_admitted_member_votes_at_once_and_its_removal_stops_its_operator(chain: Chain) -> None:
    pass_proposal(chain, admit(UNIVERSITY))
    result, proposal_id = propose(chain, UNIVERSITY, GrantRole(REGISTRAR, addr(CAROL)))
    assert result.ok, result.log
    # Removal of University (5 members, 50 power): City Hall, City Bank, Battery Works, Regulator.
    _, removal = propose(chain, CITY_HALL, RemoveMember("University"))
    for org in (CITY_BANK, BATTERY_WORKS, REGULATOR):
        assert vote(chain, org, removal).ok
    assert member_status(chain, UNIVERSITY) == MEMBER_REMOVED
    assert_fails_paying_fee(
        chain, UNIVERSITY.operator, MsgVote(proposal_id, True), error=errors.NOT_A_MEMBER
    )
    # University's own yes no longer counts: 3 more yes of 10 are needed out of 40.
    assert vote(chain, CITY_HALL, proposal_id).ok
    assert vote(chain, CITY_BANK, proposal_id).ok
    assert proposal(chain, proposal_id).status == PROPOSAL_OPEN
    assert vote(chain, BATTERY_WORKS, proposal_id).ok
    assert proposal(chain, proposal_id).status == PROPOSAL_EXECUTED
    assert has_role(chain.app.committed, addr(CAROL), REGISTRAR)


def test_a_member_admitted_again_starts_a_new_term_and_loses_its_old_votes(
    chain: Chain,
) -> None:
    pass_proposal(chain, admit(UNIVERSITY))
    _, pending = propose(chain, CITY_HALL, GrantRole(REGISTRAR, addr(CAROL)))
    assert vote(chain, UNIVERSITY, pending).ok
    _, removal = propose(chain, CITY_HALL, RemoveMember("University"))
    for org in (CITY_BANK, BATTERY_WORKS, REGULATOR):
        assert vote(chain, org, removal).ok
    height_before = chain.height
    pass_proposal(chain, admit(UNIVERSITY))
    member = get_member(chain.app.committed, "University")
    assert member is not None
    assert (member.status, member.term) == (MEMBER_ACTIVE, 2)
    assert member.admitted_height > height_before
    # Its yes from the first term no longer counts, and it may vote again.
    assert proposal_view(chain.app.committed, pending)["tally"]["yes"] == 10  # type: ignore[index]
    assert vote(chain, UNIVERSITY, pending).ok
    assert proposal(chain, pending).tally.yes == 20


# --- proposals that do not pass -----------------------------------------------------------------


def test_a_proposal_without_enough_votes_changes_nothing_and_expires(tmp_path: Path) -> None:
    chain = governed_chain(tmp_path, voting_period_blocks=3)
    result, proposal_id = propose(chain, CITY_HALL, GrantRole(ISSUER_ROLE, addr(CAROL)))
    submitted_at = chain.height
    assert proposal(chain, proposal_id).voting_end_height == submitted_at + 2
    assert vote(chain, CITY_BANK, proposal_id).ok  # 20 of 40
    chain.advance(1)  # the last voting height passes
    assert chain.height == submitted_at + 2
    expired = proposal(chain, proposal_id)
    assert expired.status == PROPOSAL_EXPIRED
    assert (expired.tally.yes, expired.tally.total) == (20, 40)
    result = assert_fails_paying_fee(
        chain, BATTERY_WORKS.operator, MsgVote(proposal_id, True), error=errors.PROPOSAL_EXPIRED
    )
    assert f"ended at height {submitted_at + 2}" in result.log
    assert not has_role(chain.app.committed, addr(CAROL), ISSUER_ROLE)
    view = proposal_view(chain.app.committed, proposal_id)
    assert view is not None
    assert view["status"] == "expired"


def test_a_vote_on_the_last_voting_height_still_counts(tmp_path: Path) -> None:
    chain = governed_chain(tmp_path, voting_period_blocks=3)
    _, proposal_id = propose(chain, CITY_HALL, GrantRole(ISSUER_ROLE, addr(CAROL)))
    assert vote(chain, CITY_BANK, proposal_id).ok
    assert chain.height + 1 == proposal(chain, proposal_id).voting_end_height
    assert vote(chain, BATTERY_WORKS, proposal_id).ok
    assert proposal(chain, proposal_id).status == PROPOSAL_EXECUTED


def test_no_votes_reject_a_proposal_once_it_cannot_pass(chain: Chain) -> None:
    _, proposal_id = propose(chain, CITY_HALL, GrantRole(ISSUER_ROLE, addr(CAROL)))
    assert vote(chain, CITY_BANK, proposal_id, approve=False).ok
    assert proposal(chain, proposal_id).status == PROPOSAL_OPEN  # 30 could still say yes
    result = vote(chain, BATTERY_WORKS, proposal_id, approve=False)
    assert result.ok
    assert event_types(result) == ["proposal_voted", "proposal_rejected"]
    assert proposal(chain, proposal_id).status == PROPOSAL_REJECTED
    assert_fails_paying_fee(
        chain, REGULATOR.operator, MsgVote(proposal_id, True), error=errors.PROPOSAL_CLOSED
    )
    assert not has_role(chain.app.committed, addr(CAROL), ISSUER_ROLE)


def test_a_passed_proposal_that_can_no_longer_run_fails_and_changes_nothing(chain: Chain) -> None:
    _, first = propose(chain, CITY_HALL, GrantRole(REGISTRAR, addr(CAROL)))
    _, second = propose(chain, CITY_BANK, GrantRole(REGISTRAR, addr(CAROL)))
    assert vote(chain, CITY_BANK, first).ok
    assert vote(chain, BATTERY_WORKS, first).ok
    assert proposal(chain, first).status == PROPOSAL_EXECUTED
    assert vote(chain, CITY_HALL, second).ok
    before = dict(chain.app.committed.values)
    result = vote(chain, BATTERY_WORKS, second)
    assert result.ok, result.log
    assert event_types(result) == ["proposal_voted", "proposal_passed", "proposal_failed"]
    assert event(result, "proposal_failed")["code"] == errors.ROLE_ALREADY_HELD.code
    failed = proposal(chain, second)
    assert failed.status == PROPOSAL_FAILED
    assert "already holds" in failed.log
    assert roles_view(chain.app.committed)[REGISTRAR] == [address_from_bytes(addr(CAROL))]
    changed = changed_keys(before, chain.app.committed.values)
    assert not any(k.startswith((b"cons/r/", b"cons/h/", b"cons/m/")) for k in changed)


# --- roles and the privileged bank message ------------------------------------------------------


def test_grant_and_revoke_issuer_gates_mint(chain: Chain) -> None:
    mint = MsgMint(recipient=addr(ALICE), denom=CCY, amount=500)
    assert_refused_free(chain, chain.tx(CAROL, mint), tx_errors.UNAUTHORIZED)

    pass_proposal(chain, GrantRole(ISSUER_ROLE, addr(CAROL)))
    assert has_role(chain.app.committed, addr(CAROL), ISSUER_ROLE)
    balance = chain.balance(ALICE)
    assert chain.run(CAROL, mint).ok
    assert chain.balance(ALICE) == balance + 500

    proposal_id = pass_proposal(chain, RevokeRole(ISSUER_ROLE, addr(CAROL)))
    assert not has_role(chain.app.committed, addr(CAROL), ISSUER_ROLE)
    assert_refused_free(chain, chain.tx(CAROL, mint), tx_errors.UNAUTHORIZED)
    view = proposal_view(chain.app.committed, proposal_id)
    assert view is not None
    assert view["action"] == {
        "kind": "revoke_role",
        "role": "issuer",
        "address": address_from_bytes(addr(CAROL)),
    }
    assert roles_view(chain.app.committed)["issuer"] == [address_from_bytes(addr(ISSUER))]


# --- validator updates within one block ---------------------------------------------------------


def test_admitted_and_removed_in_one_block_gives_no_validator_update(tmp_path: Path) -> None:
    """A key added and removed in one block was never in CometBFT's set: power 0 for it would
    halt the node, so the pair cancels out."""
    # With 100 of the power City Hall decides alone, even beside a newcomer of power 10.
    chain = governed_chain(tmp_path, members=(Org("City Hall", power=100),))
    operator = CITY_HALL.operator
    nonce = chain.nonce(operator)
    block = chain.block(
        chain.tx(operator, MsgPropose(admit(UNIVERSITY)), nonce=nonce),
        chain.tx(operator, MsgPropose(RemoveMember("University")), nonce=nonce + 1),
    )
    assert all(r.ok for r in block.tx_results), [r.log for r in block.tx_results]
    assert member_status(chain, UNIVERSITY) == MEMBER_REMOVED
    assert block.validator_updates == []


def test_removed_and_readmitted_in_one_block_gives_one_update_with_the_new_power(
    tmp_path: Path,
) -> None:
    chain = governed_chain(tmp_path, members=(Org("City Hall", power=100), CITY_BANK))
    hall = CITY_HALL.operator
    nonce = chain.nonce(hall)
    stronger = AdmitMember("City Bank", addr(CITY_BANK.operator), CITY_BANK.validator_key, 7)
    block = chain.block(
        chain.tx(hall, MsgPropose(RemoveMember("City Bank")), nonce=nonce),
        chain.tx(hall, MsgPropose(stronger), nonce=nonce + 1),
    )
    assert all(r.ok for r in block.tx_results), [r.log for r in block.tx_results]
    assert block.validator_updates == [ValidatorUpdate(CITY_BANK.validator_key, 7)]


def test_updates_in_one_block_are_sorted_by_key(tmp_path: Path) -> None:
    chain = governed_chain(tmp_path, members=(Org("City Hall", power=100),))
    operator = CITY_HALL.operator
    nonce = chain.nonce(operator)
    newcomers = [Org("University"), Org("Hospital", power=3), Org("Airport", power=4)]
    block = chain.block(
        *(
            chain.tx(operator, MsgPropose(admit(org)), nonce=nonce + i)
            for i, org in enumerate(newcomers)
        )
    )
    assert all(r.ok for r in block.tx_results)
    expected = sorted(
        (ValidatorUpdate(o.validator_key, o.power) for o in newcomers), key=lambda u: u.public_key
    )
    assert block.validator_updates == expected


# --- determinism --------------------------------------------------------------------------------


def test_two_nodes_given_the_same_blocks_agree(tmp_path: Path) -> None:
    """ABCI Requirements 11-12: the same blocks give the same app hashes and validator updates."""
    one, two = governed_chain(tmp_path / "one"), governed_chain(tmp_path / "two")
    assert one.app.app_hash == two.app.app_hash
    hall, bank, works = CITY_HALL.operator, CITY_BANK.operator, BATTERY_WORKS.operator
    blocks = [
        [one.tx(hall, MsgPropose(admit(UNIVERSITY))), one.tx(ALICE, MsgVote(1, True))],
        [one.tx(bank, MsgVote(1, True)), one.tx(works, MsgVote(1, True))],
        [one.tx(hall, MsgPropose(GrantRole(ISSUER_ROLE, addr(CAROL))), nonce=1)],
        [one.tx(bank, MsgVote(2, False), nonce=1), one.tx(works, MsgVote(2, False), nonce=1)],
    ]
    for txs in blocks:
        first, second = one.block(*txs), two.block(*txs)
        assert first.app_hash == second.app_hash
        assert first.validator_updates == second.validator_updates
        assert [r.consensus_hash() for r in first.tx_results] == [
            r.consensus_hash() for r in second.tx_results
        ]
    assert proposal(one, 1).status == PROPOSAL_EXECUTED
    assert proposal(one, 2).status == PROPOSAL_REJECTED
    assert len(members_view(one.app.committed)["members"]) == len(FOUR) + 1
