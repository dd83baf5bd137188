"""The simulator tells a request that expired while its transaction was in flight (the chain
outpaced a loaded client) from a wrong prediction: only the ledger's own expiry rule, applied
to the height of the block that carried it, excuses the difference."""

from __future__ import annotations

from typing import Any

import pytest

from citychain.crypto.address import address_from_public_key
from citychain.crypto.keys import PrivateKey
from citychain.sim.model import Account, CreateRequest, Merchant, PayRequest, Request, Send
from citychain.sim.transactions import NEVER_CREATED, OK, Planned, _expired_in_flight

ADDRESS = address_from_public_key(PrivateKey.from_seed(bytes(32)).public_key)
MERCHANT = Merchant(Account("m", ADDRESS, 1), None)  # type: ignore[arg-type]
REQUEST = Request(MERCHANT, 500, expiry=22, memo="tea")


def planned(op: Any, expected: str = OK) -> Planned:
    return Planned("merchant", MERCHANT.account, (op,), b"", "00", expected)


@pytest.mark.parametrize(
    ("op", "actual", "height", "late"),
    [
        (CreateRequest(REQUEST), "bank/18", 22, True),  # expiry 22 <= height 22
        (CreateRequest(REQUEST), "bank/18", 21, False),  # the rule would have allowed it
        (PayRequest(REQUEST, 500), "bank/10", 23, True),  # height 23 > expiry 22
        (PayRequest(REQUEST, 500), "bank/10", 22, False),  # still payable at 22: a real surprise
        (PayRequest(REQUEST, 500), "bank/3", 30, False),  # another refusal is never excused
        (Send(MERCHANT.account, 5), "bank/18", 30, False),
    ],
)
def test_only_the_expiry_rule_excuses_a_failure(
    op: Any, actual: str, height: int, late: bool
) -> None:
    assert _expired_in_flight(planned(op), actual, {"height": height}) is late


def test_refused_before_a_block_only_if_the_node_has_reached_the_expiry() -> None:
    create = planned(CreateRequest(REQUEST))
    # CheckTx ran at some height <= the node's height asked afterwards.
    assert _expired_in_flight(create, "bank/18", {"height": None}, latest_height=22)
    assert not _expired_in_flight(create, "bank/18", {"height": None}, latest_height=21)
    assert not _expired_in_flight(create, "bank/18", {"height": None})


def test_not_when_predicted_to_fail() -> None:
    assert not _expired_in_flight(
        planned(CreateRequest(REQUEST), expected="bank/18"), "bank/3", {"height": 30}
    )


def test_one_expired_request_explains_a_merchants_bundle() -> None:
    later = Request(MERCHANT, 700, expiry=40, memo="bread")
    bundle = Planned(
        "merchant", MERCHANT.account, (CreateRequest(later), CreateRequest(REQUEST)), b"", "00", OK
    )
    assert _expired_in_flight(bundle, "bank/18", {"height": 25})
    assert not _expired_in_flight(bundle, "bank/18", {"height": 21})


def test_a_payment_of_a_request_that_was_never_created() -> None:
    lost = Request(MERCHANT, 900, expiry=40, memo="soup", status=NEVER_CREATED)
    assert _expired_in_flight(planned(PayRequest(lost, 900)), "bank/8", {"height": 25})
    assert not _expired_in_flight(planned(PayRequest(REQUEST, 500)), "bank/8", {"height": 25})
