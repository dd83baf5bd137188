"""Every privileged message of every module checks its role in the consortium module.

The list of privileged messages is read from the Application's routes, so a module added later
is covered without touching this test: for each route that names a role, a transaction from a
member organisation's operator (a member, but without that role) and from an account that is no
member at all is refused with tx/UNAUTHORIZED before it can pay or change anything.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from governance_chain import CITY_HALL, governed_chain
from helpers import ALICE, Chain, addr, assert_refused_free, sign_body, unsigned_body

from citychain.app import DEFAULT_MODULES
from citychain.crypto.keys import PrivateKey
from citychain.modules.consortium.state import has_role
from citychain.tx import errors as tx_errors

PRIVILEGED = sorted(
    (route.type, route.role) for module in DEFAULT_MODULES for route in module.routes if route.role
)


def test_the_kernel_has_privileged_messages() -> None:
    # The current modules' privileged messages; a failure here means the list below grew.
    assert {t for t, _ in PRIVILEGED} >= {"bank/mint", "bank/burn", "bank/set_tier"}


@pytest.mark.parametrize(("message_type", "role"), PRIVILEGED)
@pytest.mark.parametrize("who", ["member without the role", "non-member"])
def test_privileged_message_is_refused_without_its_role(
    tmp_path: Path, message_type: str, role: str, who: str
) -> None:
    chain: Chain = governed_chain(tmp_path)
    signer: PrivateKey = CITY_HALL.operator if who == "member without the role" else ALICE
    assert not has_role(chain.app.committed, addr(signer), role)
    # The body does not matter: the role is checked first, from the message type alone.
    raw = sign_body(
        signer, unsigned_body(signer, [(message_type, b"\xc0")], nonce=chain.nonce(signer))
    )
    result = assert_refused_free(chain, raw, tx_errors.UNAUTHORIZED)
    assert f"needs role {role!r}" in result.log
