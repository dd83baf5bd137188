"""Consortium refusals through the whole Application (docs/modules/consortium.md, section 3):
who may not propose or vote, and one `test_invalid_*` per validity rule of a proposal, each
expecting its exact code. A refused message pays its fee, uses its nonce and changes no other
key (`assert_fails_paying_fee`); a malformed one is refused before it may pay."""

from __future__ import annotations

from pathlib import Path

import pytest
from governance_chain import (
    BATTERY_WORKS,
    CITY_BANK,
    CITY_HALL,
    REGULATOR,
    UNIVERSITY,
    admit,
    governed_chain,
    pass_proposal,
    proposal,
    propose,
    vote,
)
from helpers import (
    ALICE,
    CAROL,
    ISSUER,
    Chain,
    addr,
    assert_fails_paying_fee,
    assert_refused_free,
    code_of,
    error_of,
)

from citychain.modules.consortium import errors
from citychain.modules.consortium.messages import (
    AdmitMember,
    GrantRole,
    MsgPropose,
    MsgVote,
    RemoveMember,
    RevokeRole,
)
from citychain.modules.consortium.queries import proposal_view
from citychain.modules.consortium.roles import ISSUER as ISSUER_ROLE
from citychain.tx import errors as tx_errors


@pytest.fixture
def chain(tmp_path: Path) -> Chain:
    return governed_chain(tmp_path)


# --- who may propose and vote -------------------------------------------------------------------


def test_a_non_member_cannot_propose(chain: Chain) -> None:
    assert_fails_paying_fee(
        chain, ALICE, MsgPropose(GrantRole(ISSUER_ROLE, addr(ALICE))), error=errors.NOT_A_MEMBER
    )


def test_a_validator_key_cannot_stand_in_for_the_operator(tmp_path: Path) -> None:
    """Only the operator account speaks for a member; its consensus key's account does not."""
    chain = governed_chain(tmp_path, funded=(CITY_HALL.validator,))
    assert_fails_paying_fee(
        chain,
        CITY_HALL.validator,
        MsgPropose(GrantRole(ISSUER_ROLE, addr(ALICE))),
        error=errors.NOT_A_MEMBER,
    )


def test_a_non_member_cannot_vote(chain: Chain) -> None:
    _, proposal_id = propose(chain, CITY_HALL, GrantRole(ISSUER_ROLE, addr(CAROL)))
    assert_fails_paying_fee(chain, ALICE, MsgVote(proposal_id, True), error=errors.NOT_A_MEMBER)


def test_double_voting_is_refused(chain: Chain) -> None:
    _, proposal_id = propose(chain, CITY_HALL, GrantRole(ISSUER_ROLE, addr(CAROL)))
    # The proposer's submission was its yes vote.
    assert_fails_paying_fee(
        chain, CITY_HALL.operator, MsgVote(proposal_id, True), error=errors.ALREADY_VOTED
    )
    assert vote(chain, CITY_BANK, proposal_id, approve=False).ok
    result = assert_fails_paying_fee(
        chain, CITY_BANK.operator, MsgVote(proposal_id, True), error=errors.ALREADY_VOTED
    )
    assert "voted no" in result.log
    tally = proposal(chain, proposal_id).tally
    assert (tally.yes, tally.no) == (10, 10)


def test_two_votes_from_one_member_in_one_block_count_once(chain: Chain) -> None:
    _, proposal_id = propose(chain, CITY_HALL, GrantRole(ISSUER_ROLE, addr(CAROL)))
    operator = CITY_BANK.operator
    block = chain.block(
        chain.tx(operator, MsgVote(proposal_id, True)),
        chain.tx(operator, MsgVote(proposal_id, True), nonce=chain.nonce(operator) + 1),
    )
    assert [error_of(r) for r in block.tx_results] == [("", 0), code_of(errors.ALREADY_VOTED)]
    assert proposal(chain, proposal_id).tally.yes == 20


def test_vote_on_an_unknown_proposal(chain: Chain) -> None:
    assert_fails_paying_fee(
        chain, CITY_HALL.operator, MsgVote(99, True), error=errors.PROPOSAL_NOT_FOUND
    )


# --- every invalid proposal is refused at submission with its own code --------------------------

INVALID = {
    "duplicate name": (
        AdmitMember("City Bank", addr(UNIVERSITY.operator), UNIVERSITY.validator_key, 10),
        errors.DUPLICATE_NAME,
    ),
    "duplicate validator key": (
        AdmitMember("University", addr(UNIVERSITY.operator), CITY_BANK.validator_key, 10),
        errors.DUPLICATE_VALIDATOR_KEY,
    ),
    "duplicate operator": (
        AdmitMember("University", addr(CITY_BANK.operator), UNIVERSITY.validator_key, 10),
        errors.DUPLICATE_OPERATOR,
    ),
    "zero power": (
        AdmitMember("University", addr(UNIVERSITY.operator), UNIVERSITY.validator_key, 0),
        errors.INVALID_POWER,
    ),
    "power past CometBFT's total": (
        AdmitMember("University", addr(UNIVERSITY.operator), UNIVERSITY.validator_key, 2**60),
        errors.INVALID_POWER,
    ),
    "remove an unknown member": (RemoveMember("Nobody"), errors.MEMBER_NOT_FOUND),
    "unknown role": (GrantRole("mayor", addr(CAROL)), errors.UNKNOWN_ROLE),
    "revoke an unknown role": (RevokeRole("mayor", addr(ISSUER)), errors.UNKNOWN_ROLE),
    "grant a role already held": (GrantRole(ISSUER_ROLE, addr(ISSUER)), errors.ROLE_ALREADY_HELD),
    "revoke a role not held": (RevokeRole(ISSUER_ROLE, addr(CAROL)), errors.ROLE_NOT_HELD),
}


@pytest.mark.parametrize("case", sorted(INVALID))
def test_invalid_proposal(chain: Chain, case: str) -> None:
    action, error = INVALID[case]
    assert_fails_paying_fee(chain, CITY_HALL.operator, MsgPropose(action), error=error)
    assert proposal_view(chain.app.committed, 1) is None  # no id was used


def test_invalid_proposal_to_remove_the_last_member(tmp_path: Path) -> None:
    chain = governed_chain(tmp_path, members=(CITY_HALL,))
    assert_fails_paying_fee(
        chain, CITY_HALL.operator, MsgPropose(RemoveMember("City Hall")), error=errors.LAST_MEMBER
    )


def test_invalid_member_name_is_refused_on_decode(chain: Chain) -> None:
    action = AdmitMember(" City", addr(UNIVERSITY.operator), UNIVERSITY.validator_key, 1)
    assert_refused_free(
        chain, chain.tx(CITY_HALL.operator, MsgPropose(action)), tx_errors.BAD_MESSAGE
    )


def test_a_removed_members_key_and_operator_may_serve_a_new_member(chain: Chain) -> None:
    """Uniqueness is among active members: a removed member's key and operator are free."""
    pass_proposal(chain, admit(UNIVERSITY))
    _, removal = propose(chain, CITY_HALL, RemoveMember("University"))
    for org in (CITY_BANK, BATTERY_WORKS, REGULATOR):
        assert vote(chain, org, removal).ok
    other = AdmitMember("Polytechnic", addr(UNIVERSITY.operator), UNIVERSITY.validator_key, 5)
    result, _ = propose(chain, CITY_HALL, other)
    assert result.ok, result.log
