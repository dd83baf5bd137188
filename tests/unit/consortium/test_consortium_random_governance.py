"""Random governance through the whole Application: whatever members propose and vote, block by
block, the validator updates are ones CometBFT accepts, and applying them keeps CometBFT's set
equal to the active members' keys and powers (the property the node's liveness rests on).
Every module invariant is checked after each block by helpers.Chain.block."""

from __future__ import annotations

import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

from governance_chain import FOUR, UNIVERSITY, Org, governed_chain
from helpers import CAROL, addr, examples
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from citychain.modules.consortium.messages import (
    AdmitMember,
    GrantRole,
    MsgPropose,
    MsgVote,
    RemoveMember,
    RevokeRole,
)
from citychain.modules.consortium.state import active_members, next_proposal_id
from citychain.tx.envelope import Message

HOSPITAL = Org("Hospital", power=7)
ORGS = (*FOUR, UNIVERSITY, HOSPITAL)


def _admit(org: Org, power: int) -> AdmitMember:
    return AdmitMember(org.name, addr(org.operator), org.validator_key, power)


proposals = st.one_of(
    # Mostly the two organisations outside the genesis set, so that admissions can succeed.
    st.builds(
        _admit,
        st.sampled_from((UNIVERSITY, HOSPITAL, UNIVERSITY, HOSPITAL, *FOUR)),
        st.integers(1, 20),
    ),
    st.builds(lambda org: RemoveMember(org.name), st.sampled_from(ORGS)),
    st.just(GrantRole("registrar", addr(CAROL))),
    st.just(RevokeRole("registrar", addr(CAROL))),
)
# A step is one of: an organisation proposes; it votes on one of the three newest proposals
# (0 = the newest); or every organisation votes the same way on the newest ("rally"), so that
# proposals often pass and validators really change. Non-members' attempts fail, as they should.
steps = st.one_of(
    st.tuples(st.just("propose"), st.sampled_from(ORGS), proposals),
    st.tuples(st.just("vote"), st.sampled_from(ORGS), st.tuples(st.integers(0, 2), st.booleans())),
    st.tuples(st.just("rally"), st.just(None), st.booleans()),
)
Step = tuple[str, Any, Any]


def _messages(step: Step, newest: int) -> list[tuple[Org, Message]]:
    kind, org, detail = step
    if kind == "propose":
        return [(org, MsgPropose(detail))]
    if kind == "vote":
        offset, approve = detail
        return [(org, MsgVote(max(1, newest - offset), approve))]
    return [(each, MsgVote(max(1, newest), detail)) for each in ORGS]


@settings(max_examples=examples(60), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.lists(steps, min_size=1, max_size=3), min_size=1, max_size=12), st.integers(2, 8)
)
def test_validator_updates_always_keep_cometbft_in_step(
    blocks: list[list[Step]], voting_period: int
) -> None:
    with tempfile.TemporaryDirectory() as directory:
        chain = governed_chain(
            Path(directory), voting_period_blocks=voting_period, funded=(HOSPITAL.operator,)
        )
        comet = {org.validator_key: org.power for org in FOUR}
        for block in blocks:
            used: Counter[bytes] = Counter()
            txs = []
            newest = next_proposal_id(chain.app.committed) - 1
            for step in block:
                # A proposal earlier in this block is most likely the newest by the time of a
                # later vote (it takes the next id if it succeeds).
                newest += step[0] == "propose"
                for org, message in _messages(step, newest):
                    signer = org.operator
                    txs.append(chain.tx(signer, message, nonce=chain.nonce(signer) + used[signer]))
                    used[signer] += 1
            result = chain.block(*txs)
            keys = [u.public_key for u in result.validator_updates]
            assert keys == sorted(set(keys))
            for update in result.validator_updates:
                if update.power == 0:
                    assert update.public_key in comet, "power 0 for a key outside the set"
                    del comet[update.public_key]
                else:
                    comet[update.public_key] = update.power
            assert comet, "the validator set emptied"
            members = active_members(chain.app.committed)
            assert comet == {m.validator_public_key: m.power for m in members}
