"""Birth certificates verified offline with their ledger status (docs/modules/registry.md §7):
a presentation bundled with a solo proof of reg/r/<record_id>, on an in-process chain."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers import DEFAULT_BALANCES, VALIDATOR, Chain, key

from citychain.app import TxResult
from citychain.credentials import (
    CertificateResult,
    Check,
    content_commitment,
    issue_birth_credential,
    present,
    verify_certificate,
)
from citychain.crypto.keys import PrivateKey
from citychain.engines.solo.engine import SoloEngine
from citychain.engines.solo.mempool import Mempool
from citychain.engines.solo.proofs import proof_bundle
from citychain.modules.registry.messages import MsgAmend, MsgRegister, MsgRevoke
from citychain.modules.registry.state import record_key
from citychain.tx.envelope import Message

NORTH = key("certificate/registrar/north")
SOUTH = key("certificate/registrar/south")
ISSUED_AT = int(dt.datetime(2026, 12, 1, tzinfo=dt.UTC).timestamp())
CONTENT = {
    "given_name": "Ada",
    "family_name": "Lovelace",
    "date_of_birth": "2001-04-17",
    "place_of_birth": "Citychain",
    "sex": "F",
    "parent_1_name": "Annabella Milbanke",
}
CORRECTED = {**CONTENT, "family_name": "King"}


def rid(name: str) -> bytes:
    return hashlib.sha256(b"certificate/record/" + name.encode()).digest()


def salt(name: str) -> bytes:
    return hashlib.sha256(b"certificate/salt/" + name.encode()).digest()


BIRTH, BIRTH_V2, OTHER = rid("birth"), rid("birth/v2"), rid("other")


class SignedChain(Chain):
    """A Chain whose blocks the solo engine makes, so each has a header signed by VALIDATOR
    (``proof_bundle`` needs one)."""

    engine: SoloEngine

    def run(self, signer: PrivateKey, *messages: Message, **options: Any) -> TxResult:
        raw = self.tx(signer, *messages, **options)
        assert self.engine.mempool.add(raw, hashlib.sha256(raw).digest()).ok
        committed = self.engine.produce_block()
        assert committed is not None and self.app.check_invariants() == []
        return committed.result.tx_results[0]


def signed_chain(tmp_path: Path) -> SignedChain:
    """A chain where NORTH and SOUTH hold the registrar role, blocks made by the solo engine."""
    balances = {**DEFAULT_BALANCES, NORTH: 1_000, SOUTH: 1_000}
    signed = SignedChain.create(tmp_path, balances, registrars=(NORTH, SOUTH))
    assert isinstance(signed, SignedChain)
    signed.engine = SoloEngine(signed.app, Mempool(signed.app), VALIDATOR)
    return signed


@pytest.fixture
def chain(tmp_path: Path) -> Iterator[SignedChain]:
    yield signed_chain(tmp_path)


def trusted(chain: Chain) -> list[tuple[bytes, int]]:
    genesis = chain.app.genesis
    assert genesis is not None
    return [(v.public_key, v.power) for v in genesis.validators]


def register(
    chain: Chain,
    record_id: bytes = BIRTH,
    content: dict[str, str] = CONTENT,
    signer: PrivateKey = NORTH,
    name: str = "birth",
) -> None:
    commitment = content_commitment(content, salt(name))
    result = chain.run(signer, MsgRegister("birth", record_id, commitment, None, ()))
    assert result.ok, result.log


def credential(
    record_id: bytes = BIRTH,
    content: dict[str, str] = CONTENT,
    name: str = "birth",
    registrar: PrivateKey = NORTH,
) -> str:
    return issue_birth_credential(registrar, record_id, content, salt(name), issued_at=ISSUED_AT)


def certificate(chain: Chain, cred: str, proven_id: bytes = BIRTH) -> dict[str, Any]:
    return {
        "presentation": present(cred, ["given_name", "age_over_18"]),
        "record_proof": proof_bundle(chain.app, record_key(proven_id)),
    }


def check(chain: Chain, bundle: Any, registrar: PrivateKey = NORTH) -> CertificateResult:
    return verify_certificate(bundle, registrar.public_key, trusted(chain))


def test_registered_birth_certificate_is_valid(chain: Chain) -> None:
    register(chain)
    result = check(chain, certificate(chain, credential()))
    assert (result.valid, result.status, result.check) == (True, "valid", Check.OK)
    assert result.claims == {"given_name": "Ada", "age_over_18": True}
    assert result.record_id == BIRTH and result.height == chain.height == 1
    assert result.superseded_by is None and result.revocation_reason is None


def test_bundle_as_json_text_and_bundle_validators(chain: Chain) -> None:
    register(chain)
    bundle = certificate(chain, credential())
    assert check(chain, json.dumps(bundle)).valid
    # None trusts the validators the proof carries.
    assert verify_certificate(bundle, NORTH.public_key, None).valid


def test_amended_old_certificate_superseded_new_valid(chain: Chain) -> None:
    register(chain)
    old = credential()
    assert check(chain, certificate(chain, old)).valid
    corrected = content_commitment(CORRECTED, salt("birth/v2"))
    result = chain.run(NORTH, MsgAmend(BIRTH, BIRTH_V2, corrected))
    assert result.ok, result.log

    stale = check(chain, certificate(chain, old))  # a fresh proof, after the amendment
    assert (stale.valid, stale.status, stale.check) == (False, "superseded", Check.SUPERSEDED)
    assert stale.superseded_by == BIRTH_V2 and BIRTH_V2.hex() in stale.reason
    assert stale.height == chain.height == 2

    new = credential(BIRTH_V2, CORRECTED, "birth/v2")
    fresh = check(chain, certificate(chain, new, BIRTH_V2))
    assert (fresh.valid, fresh.status, fresh.record_id) == (True, "valid", BIRTH_V2)


def test_revoked_certificate_names_the_reason(chain: Chain) -> None:
    register(chain)
    cred = credential()
    result = chain.run(SOUTH, MsgRevoke(BIRTH, 3))
    assert result.ok, result.log
    revoked = check(chain, certificate(chain, cred))
    assert (revoked.valid, revoked.status, revoked.check) == (False, "revoked", Check.REVOKED)
    assert revoked.revocation_reason == "fraud" and "fraud" in revoked.reason


def test_tampered_presentation(chain: Chain) -> None:
    register(chain)
    bundle = certificate(chain, credential())
    jwt, rest = bundle["presentation"].split("~", 1)
    header, payload, signature = jwt.split(".")
    flipped = signature[:-2] + ("AA" if signature[-2:] != "AA" else "BA")
    bundle["presentation"] = f"{header}.{payload}.{flipped}~{rest}"
    result = check(chain, bundle)
    assert (result.valid, result.status, result.check) == (False, None, Check.PRESENTATION)
    assert "bad_signature" in result.reason and result.record_id is None


def test_presentation_of_another_registrar(chain: Chain) -> None:
    register(chain)
    result = check(chain, certificate(chain, credential(registrar=SOUTH)))
    assert result.check == Check.PRESENTATION and "wrong_issuer_key" in result.reason


def test_proof_with_altered_value(chain: Chain) -> None:
    register(chain)
    bundle = certificate(chain, credential())
    value = bytearray(bytes.fromhex(bundle["record_proof"]["value"]))
    value[-1] ^= 1
    bundle["record_proof"]["value"] = value.hex()
    result = check(chain, bundle)
    assert (result.valid, result.check) == (False, Check.RECORD_PROOF)
    assert "Merkle proof does not verify" in result.reason


def test_proof_of_another_records_key(chain: Chain) -> None:
    register(chain)
    register(chain, OTHER, CORRECTED, name="other")
    result = check(chain, certificate(chain, credential(), proven_id=OTHER))
    assert (result.valid, result.check) == (False, Check.WRONG_RECORD_KEY)
    assert BIRTH.hex() in result.reason


def test_untrusted_validators(chain: Chain) -> None:
    register(chain)
    bundle = certificate(chain, credential())
    stranger = key("certificate/stranger-validator")
    result = verify_certificate(bundle, NORTH.public_key, [(stranger.public_key, 10)])
    assert (result.valid, result.check) == (False, Check.RECORD_PROOF)
    assert "not a trusted validator" in result.reason


def test_commitment_mismatch(chain: Chain) -> None:
    register(chain, content=CORRECTED)  # the ledger holds other content under this id
    result = check(chain, certificate(chain, credential()))
    assert (result.valid, result.status, result.check) == (False, None, Check.COMMITMENT_MISMATCH)
    assert "commitment" in result.reason


def test_absent_record(chain: Chain) -> None:
    register(chain, OTHER, name="other")  # a block, but not the credential's record
    result = check(chain, certificate(chain, credential()))
    assert (result.valid, result.check) == (False, Check.NO_RECORD)
    assert "no such record on the ledger" in result.reason


def test_record_of_another_office(chain: Chain) -> None:
    register(chain, signer=SOUTH)  # SOUTH registered it; NORTH issues the credential
    result = check(chain, certificate(chain, credential()))
    assert (result.valid, result.check) == (False, Check.WRONG_OFFICE)


def test_amended_by_another_office_its_new_certificate_is_valid(chain: Chain) -> None:
    register(chain)  # NORTH registered the birth
    corrected = content_commitment(CORRECTED, salt("birth/v2"))
    assert chain.run(SOUTH, MsgAmend(BIRTH, BIRTH_V2, corrected)).ok  # SOUTH corrects it
    new = credential(BIRTH_V2, CORRECTED, "birth/v2", registrar=SOUTH)
    fresh = check(chain, certificate(chain, new, BIRTH_V2), registrar=SOUTH)
    assert (fresh.valid, fresh.status) == (True, "valid"), fresh.reason
    # The office that did not write this version cannot certify it.
    by_north = credential(BIRTH_V2, CORRECTED, "birth/v2", registrar=NORTH)
    refused = check(chain, certificate(chain, by_north, BIRTH_V2), registrar=NORTH)
    assert (refused.valid, refused.check) == (False, Check.WRONG_OFFICE)


@pytest.mark.parametrize(
    "bundle", [None, "not json", {"presentation": 1}, {"presentation": "x", "record_proof": 2}]
)
def test_malformed_bundle(chain: Chain, bundle: Any) -> None:
    result = check(chain, bundle)
    assert (result.valid, result.check) == (False, Check.MALFORMED_BUNDLE)
