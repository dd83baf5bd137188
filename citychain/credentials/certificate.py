"""Certificates as SD-JWT VCs: issuer, holder and verifier (docs/modules/registry.md §7).

The registrar issues a credential whose personal fields are selectively disclosable claims and
whose always-visible claims only point at the ledger record::

    header   {"alg": "EdDSA", "typ": "dc+sd-jwt"}
    payload  {"iss": <registrar's city1... address>, "iat": <unix seconds>, "vct": <schema vct>,
              "record_id": <hex>, "commitment": <hex>, "_sd_alg": "sha-256",
              "_sd": [<digests of the disclosures, padded with decoys to the schema's slots>]}

- ``vct`` names the schema (`birth.BIRTH`, `death.DEATH`); a verifier accepts only those.
- ``iss`` is the registrar's citychain address (the same ``city1...`` string that holds the
  ``registrar`` role on the ledger), not a did:key: the verifier is given the registrar's
  public key and checks that it hashes to ``iss``, and the ledger tells whether that address
  wrote the record (which it may only do holding the role).
- ``commitment`` is ``citychain.modules.registry.commit(canonical_content(content), salt)``:
  the ledger commitment of the record. The registry salt is *not* in the credential (it would
  let anyone holding a partial presentation confirm guesses of the hidden fields).
- ``_sd`` is padded with decoy digests to a fixed size, so the number of digests does not tell
  whether optional fields are present.
"""

from __future__ import annotations

import enum
import hmac
from dataclasses import dataclass
from typing import Any

from citychain.credentials import sdjwt
from citychain.credentials.birth import BIRTH, CITY
from citychain.credentials.death import DEATH
from citychain.credentials.schema import CertificateSchema, CredentialError
from citychain.crypto.address import address_from_public_key
from citychain.crypto.keys import PUBLIC_KEY_SIZE, PrivateKey
from citychain.modules.registry import SALT_SIZE, commit

TYP = "dc+sd-jwt"
ALG = "EdDSA"
RECORD_ID_SIZE = 32
HASH_SIZE = 32  # record ids and commitments are sha256 digests (hex in the credential)
JWS_SEGMENTS = 3  # header.payload.signature (RFC 7515 §7.1, compact serialisation)
SCHEMAS: dict[str, CertificateSchema] = {s.kind: s for s in (BIRTH, DEATH)}
"""Every certificate type, by the registry record kind it certifies."""
_BY_VCT = {s.vct: s for s in SCHEMAS.values()}
_VISIBLE = ("iss", "iat", "vct", "record_id", "commitment", "_sd_alg", "_sd")


class Reason(enum.StrEnum):
    """Why a presentation was refused; one code per check, in the order they run."""

    MALFORMED = "malformed"  # not '<jwt>~<disclosures>~', a key-binding JWT, bad JWT segments
    WRONG_TYP = "wrong_typ"  # header typ is not dc+sd-jwt
    WRONG_ALG = "wrong_alg"  # header alg is not EdDSA
    WRONG_ISSUER_KEY = "wrong_issuer_key"  # iss is not the given registrar key's address
    BAD_SIGNATURE = "bad_signature"  # the JWS does not verify under the registrar key
    INVALID_CLAIMS = "invalid_claims"  # visible claims missing, of the wrong type, unknown vct
    MALFORMED_DISCLOSURE = "malformed_disclosure"  # not base64url JSON [salt, name, value]
    DUPLICATE_DISCLOSURE = "duplicate_disclosure"  # the same disclosure twice
    DISCLOSURE_NOT_IN_CREDENTIAL = "disclosure_not_in_credential"  # digest not in _sd
    DUPLICATE_CLAIM = "duplicate_claim"  # two disclosures of one claim name
    UNKNOWN_CLAIM = "unknown_claim"  # a claim name outside the certificate's schema
    INVALID_CLAIM_VALUE = "invalid_claim_value"  # a disclosed value of the wrong type/format


@dataclass(frozen=True, slots=True)
class VerificationFailure:
    reason: Reason
    detail: str


@dataclass(frozen=True, slots=True)
class VerifiedCredential:
    """What a verifier learns from a valid presentation: the disclosed claims and the
    always-visible ones (enough to look the record up on the ledger)."""

    iss: str
    iat: int
    vct: str
    record_id: bytes
    commitment: bytes
    claims: dict[str, Any]

    @property
    def kind(self) -> str:
        return _BY_VCT[self.vct].kind


def schema_for(kind: str) -> CertificateSchema:
    schema = SCHEMAS.get(kind)
    if schema is None:
        raise CredentialError(f"unknown certificate kind {kind!r}; known: {', '.join(SCHEMAS)}")
    return schema


def canonical_content(content: dict[str, str], kind: str = "birth") -> bytes:
    """The bytes the ledger commitment covers: JCS (RFC 8785) of the validated content."""
    return sdjwt.canonical_json(schema_for(kind).validate(content))


def content_commitment(content: dict[str, str], salt: bytes, kind: str = "birth") -> bytes:
    """The registry commitment (docs/modules/registry.md §3) of a record's content."""
    return commit(canonical_content(content, kind), salt)


# --- issuer ----------------------------------------------------------------------------------


def issue_credential(
    kind: str,
    registrar_key: PrivateKey,
    record_id: bytes,
    content: dict[str, str],
    salt: bytes,
    *,
    issued_at: int,
    city: str = CITY,
) -> str:
    """Issue the SD-JWT VC of a ``kind`` record (serialized with all its disclosures).

    ``record_id`` and ``salt`` are the record's ledger id and the registry salt (32 bytes
    each); ``content`` is the record's fields; ``issued_at`` is unix seconds. Raises
    CredentialError on invalid input.
    """
    schema = schema_for(kind)
    if not isinstance(registrar_key, PrivateKey):
        raise CredentialError("registrar_key must be a citychain PrivateKey")
    if not isinstance(record_id, bytes) or len(record_id) != RECORD_ID_SIZE:
        raise CredentialError(f"record_id must be {RECORD_ID_SIZE} bytes")
    if not isinstance(salt, bytes) or len(salt) != SALT_SIZE:
        raise CredentialError(f"salt must be {SALT_SIZE} bytes")
    if type(issued_at) is not int or issued_at < 0:
        raise CredentialError("issued_at must be a non-negative int (unix seconds)")
    fields = schema.validate(content)
    claims: dict[str, object] = {**fields, **schema.derive(fields, issued_at, city)}
    disclosures = [sdjwt.make_disclosure(name, value) for name, value in claims.items()]
    digests = [sdjwt.disclosure_digest(d) for d in disclosures]
    digests += [sdjwt.decoy_digest() for _ in range(schema.sd_slots - len(digests))]
    payload = {
        "iss": address_from_public_key(registrar_key.public_key),
        "iat": issued_at,
        "vct": schema.vct,
        "record_id": record_id.hex(),
        "commitment": commit(sdjwt.canonical_json(fields), salt).hex(),
        "_sd_alg": sdjwt.SD_ALG,
        "_sd": sorted(digests),
    }
    jwt = sdjwt.sign_jwt(registrar_key, {"alg": ALG, "typ": TYP}, payload)
    return sdjwt.join(jwt, disclosures)


def issue_birth_credential(
    registrar_key: PrivateKey,
    record_id: bytes,
    content: dict[str, str],
    salt: bytes,
    *,
    issued_at: int,
    city: str = CITY,
) -> str:
    return issue_credential(
        "birth", registrar_key, record_id, content, salt, issued_at=issued_at, city=city
    )


def issue_death_credential(
    registrar_key: PrivateKey,
    record_id: bytes,
    content: dict[str, str],
    salt: bytes,
    *,
    issued_at: int,
    city: str = CITY,
) -> str:
    return issue_credential(
        "death", registrar_key, record_id, content, salt, issued_at=issued_at, city=city
    )


# --- holder ----------------------------------------------------------------------------------


def credential_schema(credential: str) -> CertificateSchema:
    """The schema named by a credential's (unverified) ``vct``; CredentialError if none."""
    try:
        jwt, _ = sdjwt.split(credential)
        vct = sdjwt.decode_segment(_jwt_segments(jwt)[1]).get("vct")
    except ValueError as exc:
        raise CredentialError(f"not a certificate credential: {exc}") from exc
    schema = _BY_VCT.get(vct) if isinstance(vct, str) else None
    if schema is None:
        raise CredentialError(f"not a citychain certificate: vct {vct!r}")
    return schema


def present(credential: str, disclose: list[str]) -> str:
    """A presentation of ``credential`` keeping only the disclosures of the claims named in
    ``disclose``. Raises CredentialError for a name outside the schema's claims, a name the
    credential does not carry (e.g. an absent ``parent_2_name``), or a name given twice."""
    schema = credential_schema(credential)
    try:
        jwt, disclosures = sdjwt.split(credential)
        by_name = {sdjwt.parse_disclosure(d)[1]: d for d in disclosures}
    except ValueError as exc:
        raise CredentialError(f"not a certificate credential: {exc}") from exc
    if isinstance(disclose, str):
        raise CredentialError("disclose must be a list of claim names, not a string")
    chosen: list[str] = []
    for name in disclose:
        if name not in schema.disclosable:
            raise CredentialError(
                f"unknown {schema.kind} claim {name!r}; disclosable: "
                f"{', '.join(schema.disclosable)}"
            )
        if name not in by_name:
            raise CredentialError(f"the credential has no {name!r} claim")
        if by_name[name] in chosen:
            raise CredentialError(f"claim {name!r} listed twice")
        chosen.append(by_name[name])
    return sdjwt.join(jwt, chosen)


# --- verifier --------------------------------------------------------------------------------


def _hex32(payload: dict[str, Any], name: str) -> bytes:
    value = payload.get(name)
    if not isinstance(value, str) or len(value) != 2 * HASH_SIZE or value != value.lower():
        raise ValueError(f"{name} must be 64 lowercase hex characters")
    return bytes.fromhex(value)


class _Refused(Exception):
    """A failed check of verify_presentation: the reason it returns."""

    def __init__(self, reason: Reason, detail: str) -> None:
        super().__init__(detail)
        self.failure = VerificationFailure(reason, detail)


@dataclass(frozen=True, slots=True)
class _Visible:
    """The always-visible claims of a credential whose signature verified."""

    iss: object
    iat: int
    schema: CertificateSchema
    sd: list[str]
    record_id: bytes
    commitment: bytes


def _jwt_segments(jwt: str) -> list[str]:
    segments = jwt.split(".")
    if len(segments) != JWS_SEGMENTS:
        raise ValueError("the JWT must have three '.'-separated segments")
    return segments


def _parse(presentation: str) -> tuple[str, list[str], list[str], dict[str, Any]]:
    """(JWT, disclosures, the JWT's segments, its header); MALFORMED if it is not that."""
    try:
        jwt, disclosures = sdjwt.split(presentation)
        segments = _jwt_segments(jwt)
        header = sdjwt.decode_segment(segments[0])
    except ValueError as exc:
        raise _Refused(Reason.MALFORMED, str(exc)) from exc
    return jwt, disclosures, segments, header


def _check_header(header: dict[str, Any]) -> None:
    if header.get("typ") != TYP:
        raise _Refused(Reason.WRONG_TYP, f"typ is {header.get('typ')!r}, expected {TYP!r}")
    if header.get("alg") != ALG:
        raise _Refused(Reason.WRONG_ALG, f"alg is {header.get('alg')!r}, expected {ALG!r}")
    if set(header) - {"typ", "alg", "kid"}:
        raise _Refused(Reason.MALFORMED, f"unexpected header parameters {sorted(set(header))}")


def _expected_issuer(registrar_public_key: bytes) -> str:
    if not isinstance(registrar_public_key, bytes) or len(registrar_public_key) != PUBLIC_KEY_SIZE:
        raise _Refused(Reason.WRONG_ISSUER_KEY, "the registrar public key must be 32 bytes")
    return address_from_public_key(registrar_public_key)


def _check_signature(
    jwt: str, segments: list[str], registrar_public_key: bytes, expected_iss: str
) -> None:
    if sdjwt.verify_jwt_signature(jwt, registrar_public_key):
        return
    # Tell a credential of another registrar apart from a forged or damaged one: read the
    # (unverified) iss only to choose the reason.
    try:
        claimed_iss = sdjwt.decode_segment(segments[1]).get("iss")
    except ValueError:
        claimed_iss = None
    if isinstance(claimed_iss, str) and claimed_iss != expected_iss:
        raise _Refused(
            Reason.WRONG_ISSUER_KEY, f"issued by {claimed_iss}, the given key is {expected_iss}'s"
        )
    raise _Refused(Reason.BAD_SIGNATURE, "the issuer signature does not verify")


def _visible_claims(payload_segment: str) -> _Visible:
    """The signed payload's claims, each of its type; INVALID_CLAIMS otherwise."""
    try:
        payload = sdjwt.decode_segment(payload_segment)
        iss, iat, vct = payload.get("iss"), payload.get("iat"), payload.get("vct")
        schema = _BY_VCT.get(vct) if isinstance(vct, str) else None
        if schema is None:
            raise ValueError(f"vct is {vct!r}, expected one of {', '.join(_BY_VCT)}")
        if type(iat) is not int or iat < 0:
            raise ValueError("iat must be a non-negative integer")
        if payload.get("_sd_alg") != sdjwt.SD_ALG:
            raise ValueError(f"_sd_alg must be {sdjwt.SD_ALG!r}")
        sd = payload.get("_sd")
        if not isinstance(sd, list) or not all(isinstance(d, str) for d in sd):
            raise ValueError("_sd must be a list of digests")
        if len(set(sd)) != len(sd):
            raise ValueError("_sd has duplicate digests")
        record_id, commitment = _hex32(payload, "record_id"), _hex32(payload, "commitment")
        extra = set(payload) - set(_VISIBLE)
        if extra:
            raise ValueError(f"unexpected claims {sorted(extra)}")
    except ValueError as exc:
        raise _Refused(Reason.INVALID_CLAIMS, str(exc)) from exc
    return _Visible(iss, iat, schema, sd, record_id, commitment)


def _disclosed_claim(
    disclosure: str,
    digests: set[str],
    seen: set[str],
    claims: dict[str, Any],
    schema: CertificateSchema,
) -> tuple[str, Any]:
    """One disclosure's (name, value), checked against the credential and those before it."""
    try:
        _, name, value = sdjwt.parse_disclosure(disclosure)
    except (ValueError, UnicodeDecodeError) as exc:
        raise _Refused(Reason.MALFORMED_DISCLOSURE, f"{disclosure[:16]}...: {exc}") from exc
    digest = sdjwt.disclosure_digest(disclosure)
    if digest in seen:
        raise _Refused(Reason.DUPLICATE_DISCLOSURE, f"disclosure of {name!r} given twice")
    seen.add(digest)
    if digest not in digests:
        raise _Refused(
            Reason.DISCLOSURE_NOT_IN_CREDENTIAL,
            f"the disclosure of {name!r} is not one this credential's issuer signed",
        )
    if name in claims:
        raise _Refused(Reason.DUPLICATE_CLAIM, f"two disclosures of {name!r}")
    if name not in schema.disclosable:
        raise _Refused(Reason.UNKNOWN_CLAIM, f"{name!r} is not a {schema.kind}-certificate claim")
    try:
        schema.check_claim(name, value)
    except CredentialError as exc:
        raise _Refused(Reason.INVALID_CLAIM_VALUE, str(exc)) from exc
    return name, value


def verify_presentation(
    presentation: str, registrar_public_key: bytes
) -> VerifiedCredential | VerificationFailure:
    """Verify a certificate presentation against the registrar's Ed25519 public key.

    Returns the disclosed claims with the visible ones, or the first failed check with its
    `Reason`. Does not consult the ledger (record status, the registrar's role): that is the
    caller's next step, using ``record_id``, ``commitment`` and ``iss``.
    """
    try:
        jwt, disclosures, segments, header = _parse(presentation)
        _check_header(header)
        expected_iss = _expected_issuer(registrar_public_key)
        _check_signature(jwt, segments, registrar_public_key, expected_iss)
        visible = _visible_claims(segments[1])
        iss = visible.iss
        if not isinstance(iss, str) or not hmac.compare_digest(iss, expected_iss):
            raise _Refused(
                Reason.WRONG_ISSUER_KEY, f"iss is {iss!r}, the given key is {expected_iss}'s"
            )
        digests, seen = set(visible.sd), set[str]()
        claims: dict[str, Any] = {}
        for disclosure in disclosures:
            name, value = _disclosed_claim(disclosure, digests, seen, claims, visible.schema)
            claims[name] = value
    except _Refused as refused:
        return refused.failure
    return VerifiedCredential(
        iss=iss,
        iat=visible.iat,
        vct=visible.schema.vct,
        record_id=visible.record_id,
        commitment=visible.commitment,
        claims=claims,
    )
