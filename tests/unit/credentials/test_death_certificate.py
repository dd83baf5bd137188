"""Death certificates (issue 4): the death schema, its ledger status, and the kind check that
keeps a death certificate from riding on a birth record's proof and the other way round."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_certificate_status import (
    BIRTH,
    ISSUED_AT,
    NORTH,
    SignedChain,
    check,
    credential,
    register,
    rid,
    salt,
    signed_chain,
)

from citychain.credentials import (
    DEATH,
    Check,
    CredentialError,
    content_commitment,
    issue_death_credential,
    present,
    verify_presentation,
)
from citychain.engines.solo.proofs import proof_bundle
from citychain.modules.registry.messages import MsgRegister
from citychain.modules.registry.state import record_key

DEATH_CONTENT = {
    "given_name": "Charles",
    "family_name": "Babbage",
    "date_of_birth": "1951-12-26",
    "date_of_death": "2026-11-18",
    "place_of_death": "Citychain",
    "sex": "M",
    "cause_of_death": "I21.9",
}
DEATH_ID = rid("death")


@pytest.fixture
def chain(tmp_path: Path) -> SignedChain:
    return signed_chain(tmp_path)


def register_death(chain: SignedChain, linked: bytes | None = None) -> str:
    commitment = content_commitment(DEATH_CONTENT, salt("death"), "death")
    result = chain.run(NORTH, MsgRegister("death", DEATH_ID, commitment, linked, ()))
    assert result.ok, result.log
    return issue_death_credential(
        NORTH, DEATH_ID, DEATH_CONTENT, salt("death"), issued_at=ISSUED_AT
    )


def test_death_certificate_valid_with_derived_claim(chain: SignedChain) -> None:
    cred = register_death(chain)
    bundle = {
        "presentation": present(cred, ["died_in_city", "date_of_death"]),
        "record_proof": proof_bundle(chain.app, record_key(DEATH_ID)),
    }
    result = check(chain, bundle)
    assert (result.valid, result.status, result.kind) == (True, "valid", "death")
    assert result.claims == {"died_in_city": True, "date_of_death": "2026-11-18"}


def test_kinds_cannot_be_swapped(chain: SignedChain) -> None:
    register(chain)
    death = register_death(chain, linked=BIRTH)
    # A death credential shown with the proof of a birth record (and the reverse).
    birth_proof = proof_bundle(chain.app, record_key(BIRTH))
    swapped = check(chain, {"presentation": death, "record_proof": birth_proof})
    assert swapped.check == Check.WRONG_RECORD_KEY
    forged_birth = credential(record_id=DEATH_ID)
    death_proof = proof_bundle(chain.app, record_key(DEATH_ID))
    result = check(chain, {"presentation": forged_birth, "record_proof": death_proof})
    assert result.check == Check.MALFORMED_RECORD and "death record" in result.reason


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"date_of_death": "1951-12-25"}, "before date_of_birth"),
        ({"date_of_death": "2026-02-30"}, "date_of_death must be a date"),
        ({"place_of_birth": "Citychain"}, r"unknown death field\(s\) place_of_birth"),
        ({"sex": "female"}, "sex must be one of F, M, X"),
        ({"cause_of_death": ""}, "cause_of_death must be non-empty"),
    ],
)
def test_death_content_validation(change: dict[str, str], message: str) -> None:
    with pytest.raises(CredentialError, match=message):
        DEATH.validate({**DEATH_CONTENT, **change})


def test_cause_of_death_is_optional_and_birth_claims_are_not_death_claims() -> None:
    content = {k: v for k, v in DEATH_CONTENT.items() if k != "cause_of_death"}
    cred = issue_death_credential(NORTH, DEATH_ID, content, salt("d"), issued_at=ISSUED_AT)
    with pytest.raises(CredentialError, match="has no 'cause_of_death' claim"):
        present(cred, ["cause_of_death"])
    with pytest.raises(CredentialError, match="unknown death claim 'age_over_18'"):
        present(cred, ["age_over_18"])
    verified = verify_presentation(cred, NORTH.public_key)
    assert not isinstance(verified, Exception) and verified.kind == "death"
    assert "cause_of_death" not in verified.claims
