"""Birth certificates as SD-JWT VCs: issue, present, verify, and every refusal's reason."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import re

import pytest

from citychain.credentials import (
    VCT,
    CredentialError,
    Reason,
    VerificationFailure,
    VerifiedCredential,
    canonical_content,
    issue_birth_credential,
    present,
    sdjwt,
    verify_presentation,
)
from citychain.credentials.birth import SD_SLOTS, age_over_18
from citychain.crypto.address import address_from_public_key
from citychain.crypto.keys import PrivateKey
from citychain.modules.registry import commit

REGISTRAR = PrivateKey.from_seed(bytes(range(32)))
RECORD_ID = hashlib.sha256(b"record-1").digest()
SALT = hashlib.sha256(b"salt-1").digest()
ISSUED_AT = int(dt.datetime(2026, 12, 1, tzinfo=dt.UTC).timestamp())
CONTENT = {
    "given_name": "Ada",
    "family_name": "Lovelace",
    "date_of_birth": "2001-04-17",
    "place_of_birth": "Citychain",
    "sex": "F",
    "parent_1_name": "Annabella Milbanke",
    "parent_2_name": "George Byron",
}
PERSONAL = ["Ada", "Lovelace", "2001-04-17", "Annabella", "Milbanke", "George", "Byron"]


def _issue(content: dict[str, str] | None = None, key: PrivateKey = REGISTRAR) -> str:
    return issue_birth_credential(key, RECORD_ID, content or CONTENT, SALT, issued_at=ISSUED_AT)


def _ok(result: VerifiedCredential | VerificationFailure) -> VerifiedCredential:
    assert isinstance(result, VerifiedCredential), result
    return result


def _reason(presentation: str, key: bytes = REGISTRAR.public_key) -> Reason:
    result = verify_presentation(presentation, key)
    assert isinstance(result, VerificationFailure), result
    return result.reason


def _b64_pieces(text: str) -> list[bytes]:
    """Every base64url run in ``text`` decoded (at each of the 4 alignments)."""
    out = []
    for run in re.findall(r"[A-Za-z0-9_-]+", text):
        for shift in range(4):
            chunk = run[shift:]
            chunk = chunk[: len(chunk) - len(chunk) % 4]
            out.append(base64.urlsafe_b64decode(chunk))
    return out


def _resign(presentation: str, mutate: object) -> str:
    """Re-encode the payload after ``mutate(payload)`` keeping the old signature."""
    jwt, disclosures = sdjwt.split(presentation)
    h, p, s = jwt.split(".")
    payload = json.loads(sdjwt.b64url_decode(p))
    mutate(payload)  # type: ignore[operator]
    p2 = sdjwt.b64url_encode(json.dumps(payload).encode())
    return sdjwt.join(f"{h}.{p2}.{s}", disclosures)


def test_predicates_only_presentation_hides_everything_else() -> None:
    credential = _issue()
    presentation = present(credential, ["age_over_18", "born_in_city"])
    got = _ok(verify_presentation(presentation, REGISTRAR.public_key))
    assert got.claims == {"age_over_18": True, "born_in_city": True}
    assert got.record_id == RECORD_ID
    assert got.commitment == commit(canonical_content(CONTENT), SALT)
    assert got.iss == address_from_public_key(REGISTRAR.public_key)
    assert got.iat == ISSUED_AT
    assert got.vct == VCT
    decoded = _b64_pieces(presentation)
    for value in PERSONAL:
        assert value not in presentation
        assert not any(value.encode() in piece for piece in decoded), value
    # ...while the full credential does carry them (the search above is not vacuous)
    assert any(b"Lovelace" in piece for piece in _b64_pieces(credential))


def test_full_presentation_verifies_every_field() -> None:
    got = _ok(verify_presentation(_issue(), REGISTRAR.public_key))
    assert got.claims == {**CONTENT, "born_in_city": True, "age_over_18": True}
    everything = present(_issue(), list(got.claims))
    assert _ok(verify_presentation(everything, REGISTRAR.public_key)).claims == got.claims


def test_commitment_is_the_registry_commitment_of_content_and_salt() -> None:
    got = _ok(verify_presentation(present(_issue(), []), REGISTRAR.public_key))
    expected = hashlib.sha256(
        b"citychain/registry/commitment/v1\x00"
        + SALT
        + json.dumps(CONTENT, sort_keys=True, separators=(",", ":")).encode()
    ).digest()
    assert got.commitment == expected == commit(canonical_content(CONTENT), SALT)
    assert got.claims == {}


def test_header_typ_alg_and_padded_sd() -> None:
    jwt, disclosures = sdjwt.split(_issue())
    header = sdjwt.decode_segment(jwt.split(".")[0])
    assert header == {"alg": "EdDSA", "typ": "dc+sd-jwt"}
    payload = sdjwt.decode_segment(jwt.split(".")[1])
    assert len(payload["_sd"]) == SD_SLOTS
    assert payload["_sd_alg"] == "sha-256"
    one_parent = {k: v for k, v in CONTENT.items() if k != "parent_2_name"}
    payload2 = sdjwt.decode_segment(sdjwt.split(_issue(one_parent))[0].split(".")[1])
    assert len(payload2["_sd"]) == SD_SLOTS
    assert len(disclosures) == 9


def test_derived_claims() -> None:
    minor = {**CONTENT, "date_of_birth": "2008-12-02", "place_of_birth": "Elsewhere"}
    got = _ok(verify_presentation(_issue(minor), REGISTRAR.public_key))
    assert got.claims["age_over_18"] is False
    assert got.claims["born_in_city"] is False
    exactly = {**CONTENT, "date_of_birth": "2008-12-01"}
    assert _ok(verify_presentation(_issue(exactly), REGISTRAR.public_key)).claims["age_over_18"]
    assert not age_over_18(dt.date(2008, 2, 29), dt.date(2026, 2, 28))
    assert age_over_18(dt.date(2008, 2, 29), dt.date(2026, 3, 1))


def test_tampered_payload_character_fails_signature() -> None:
    presentation = present(_issue(), ["age_over_18"])
    jwt, disclosures = sdjwt.split(presentation)
    h, p, s = jwt.split(".")
    i = len(p) // 2
    flipped = p[:i] + ("A" if p[i] != "A" else "B") + p[i + 1 :]
    assert _reason(sdjwt.join(f"{h}.{flipped}.{s}", disclosures)) == Reason.BAD_SIGNATURE

    def older(payload: dict[str, object]) -> None:
        payload["iat"] = ISSUED_AT - 1

    assert _reason(_resign(presentation, older)) == Reason.BAD_SIGNATURE


def test_tampered_signature_character_fails() -> None:
    jwt, disclosures = sdjwt.split(present(_issue(), ["born_in_city"]))
    h, p, s = jwt.split(".")
    flipped = ("B" if s[0] != "B" else "C") + s[1:]
    assert _reason(sdjwt.join(f"{h}.{p}.{flipped}", disclosures)) == Reason.BAD_SIGNATURE


def test_tampered_disclosure() -> None:
    jwt, [disclosure] = sdjwt.split(present(_issue(), ["family_name"]))
    # a broken character: no longer a JSON array
    broken = "X" + disclosure[1:]
    assert _reason(sdjwt.join(jwt, [broken])) == Reason.MALFORMED_DISCLOSURE
    # a well-formed disclosure with a changed value: its digest is not in _sd
    salt, name, _ = sdjwt.parse_disclosure(disclosure)
    forged = sdjwt.b64url_encode(json.dumps([salt, name, "Byron"]).encode())
    assert _reason(sdjwt.join(jwt, [forged])) == Reason.DISCLOSURE_NOT_IN_CREDENTIAL


def test_disclosure_from_another_credential() -> None:
    jwt, _ = sdjwt.split(present(_issue(), []))
    _, [foreign] = sdjwt.split(present(_issue(), ["age_over_18"]))
    assert _reason(sdjwt.join(jwt, [foreign])) == Reason.DISCLOSURE_NOT_IN_CREDENTIAL


def test_duplicate_disclosure() -> None:
    jwt, [d] = sdjwt.split(present(_issue(), ["sex"]))
    assert _reason(sdjwt.join(jwt, [d, d])) == Reason.DUPLICATE_DISCLOSURE


def test_wrong_registrar_key() -> None:
    presentation = present(_issue(), ["age_over_18"])
    other = PrivateKey.from_seed(bytes(32))
    assert _reason(presentation, other.public_key) == Reason.WRONG_ISSUER_KEY
    # signed by another key but claiming our registrar's address
    impostor = issue_birth_credential(other, RECORD_ID, CONTENT, SALT, issued_at=ISSUED_AT)

    def claim_ours(payload: dict[str, object]) -> None:
        payload["iss"] = address_from_public_key(REGISTRAR.public_key)

    assert _reason(_resign(impostor, claim_ours)) == Reason.BAD_SIGNATURE


def test_wrong_typ_and_alg_and_malformed() -> None:
    jwt, disclosures = sdjwt.split(_issue())
    _, p, s = jwt.split(".")

    def with_header(header: dict[str, str]) -> str:
        h = sdjwt.b64url_encode(json.dumps(header).encode())
        return sdjwt.join(f"{h}.{p}.{s}", disclosures)

    assert _reason(with_header({"alg": "EdDSA", "typ": "JWT"})) == Reason.WRONG_TYP
    assert _reason(with_header({"alg": "none", "typ": "dc+sd-jwt"})) == Reason.WRONG_ALG
    assert _reason(jwt) == Reason.MALFORMED
    assert _reason(_issue() + "kb.jwt.sig") == Reason.MALFORMED


def test_present_rejects_unknown_or_absent_claims() -> None:
    credential = _issue()
    with pytest.raises(CredentialError, match="unknown birth claim 'national_id'"):
        present(credential, ["national_id"])
    one_parent = _issue({k: v for k, v in CONTENT.items() if k != "parent_2_name"})
    with pytest.raises(CredentialError, match="no 'parent_2_name'"):
        present(one_parent, ["parent_2_name"])
    with pytest.raises(CredentialError, match="twice"):
        present(credential, ["sex", "sex"])


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"nickname": "A"}, "unknown birth field"),
        ({"given_name": 3}, "given_name must be a string"),
        ({"given_name": ""}, "given_name must be non-empty"),
        ({"date_of_birth": "17/04/2001"}, "date_of_birth must be a date"),
        ({"date_of_birth": "2001-02-30"}, "date_of_birth must be a date"),
        ({"sex": "female"}, "sex must be one of"),
        ({"family_name": "x\n"}, "family_name must be non-empty without surrounding"),
    ],
)
def test_content_validation(change: dict[str, object], message: str) -> None:
    with pytest.raises(CredentialError, match=message):
        _issue({**CONTENT, **change})  # type: ignore[dict-item]


def test_content_missing_field_and_bad_ids() -> None:
    with pytest.raises(CredentialError, match="missing birth field"):
        _issue({k: v for k, v in CONTENT.items() if k != "sex"})
    with pytest.raises(CredentialError, match="record_id"):
        issue_birth_credential(REGISTRAR, b"short", CONTENT, SALT, issued_at=ISSUED_AT)
    with pytest.raises(CredentialError, match="salt"):
        issue_birth_credential(REGISTRAR, RECORD_ID, CONTENT, b"short", issued_at=ISSUED_AT)


def _signed(extra: dict[str, object]) -> str:
    """A credential signed by REGISTRAR whose only disclosures are ``extra``."""
    disclosures = [sdjwt.make_disclosure(k, v) for k, v in extra.items()]
    payload = {
        "iss": address_from_public_key(REGISTRAR.public_key),
        "iat": ISSUED_AT,
        "vct": VCT,
        "record_id": RECORD_ID.hex(),
        "commitment": SALT.hex(),
        "_sd_alg": "sha-256",
        "_sd": [sdjwt.disclosure_digest(d) for d in disclosures],
    }
    jwt = sdjwt.sign_jwt(REGISTRAR, {"alg": "EdDSA", "typ": "dc+sd-jwt"}, payload)
    return sdjwt.join(jwt, disclosures)


def test_signed_but_outside_the_schema() -> None:
    assert _reason(_signed({"national_id": "123"})) == Reason.UNKNOWN_CLAIM
    assert _reason(_signed({"age_over_18": "yes"})) == Reason.INVALID_CLAIM_VALUE
    assert _reason(_signed({"date_of_birth": "1990"})) == Reason.INVALID_CLAIM_VALUE
    assert _ok(verify_presentation(_signed({"sex": "X"}), REGISTRAR.public_key)).claims == {
        "sex": "X"
    }


def test_signed_with_bad_visible_claims() -> None:
    jwt, _ = sdjwt.split(_issue())
    _, p, _ = jwt.split(".")
    payload = sdjwt.decode_segment(p)
    for mutate in (
        lambda d: d.pop("record_id"),
        lambda d: d.update(vct="https://example.com/other"),
        lambda d: d.update(iat="today"),
        lambda d: d.update(_sd_alg="sha-512"),
    ):
        changed = dict(payload)
        mutate(changed)
        resigned = sdjwt.sign_jwt(REGISTRAR, {"alg": "EdDSA", "typ": "dc+sd-jwt"}, changed)
        assert _reason(resigned + "~") == Reason.INVALID_CLAIMS


def test_jws_is_plain_ed25519_under_the_citychain_key() -> None:
    from citychain.crypto.keys import verify

    h, p, s = sdjwt.split(_issue())[0].split(".")
    assert verify(REGISTRAR.public_key, f"{h}.{p}".encode(), sdjwt.b64url_decode(s))


def test_present_rejects_garbage() -> None:
    with pytest.raises(CredentialError, match="not a certificate credential"):
        present("not-an-sd-jwt", [])
    assert _reason("") == Reason.MALFORMED
    assert _reason("a.b~") == Reason.MALFORMED
