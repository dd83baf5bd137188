"""Offline verification of a birth or death certificate together with its ledger status
(docs/modules/registry.md §7).

A *certificate bundle* is the JSON object a holder hands a verifier::

    {"presentation": <SD-JWT presentation string (certificate.present)>,
     "record_proof": <proof bundle of the state key reg/r/<record_id>: solo
                      (citychain.node.proofs.proof_bundle) or CometBFT v2>,
     "issuer_key":   <the registrar's Ed25519 public key, hex; optional>}

``issuer_key`` saves the verifier looking the registrar's key up: it is only trusted once it
hashes to the credential's ``iss`` and the proven record names ``iss`` as its signer, so a
bundle cannot smuggle in a key of its own choosing.

`verify_certificate` needs no node: it checks, in this order, each failure with its own
`Check` code and a sentence saying why:

1. the presentation verifies under the registrar's public key (`verify_presentation`);
2. the record proof verifies (`citychain.light.verify.verify_bundle`) against the validators
   the verifier trusts;
3. the proven key is exactly ``reg/r/<record_id>`` of the credential;
4. the record exists (an absence proof means "no such record on the ledger") and decodes as a
   record of the credential's kind (a birth certificate needs a birth record);
5. the record's commitment equals the credential's ``commitment``;
6. the registrar that signed this version of the record (``Record.registrar``: the office that
   registered it, or the office that made this amendment) is the credential's ``iss`` address;
7. the record's status: valid → the certificate is valid; superseded → refused, naming the
   newer version's id; revoked → refused, naming the revocation reason.

The registrar's role: the ledger accepts a register / amend / revoke only from an address
holding the ``registrar`` role at that height (the registry handlers check it when the record
is written), and the record stores the signer of each version. So a proven record version
signed by the credential's ``iss`` shows that ``iss`` held the role when it wrote that
version; the verifier does not need a separate proof of the role. (Whether the office still
holds the role today is not part of a certificate's validity.)
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from citychain.codec import DecodeError, decode
from citychain.credentials.certificate import (
    VerificationFailure,
    VerifiedCredential,
    verify_presentation,
)
from citychain.credentials.sdjwt import loads_bounded
from citychain.crypto.address import address_from_bytes
from citychain.light.verify import verify_bundle
from citychain.modules.registry import (
    KIND_NAMES,
    REVOCATION_REASONS,
    STATUS_NAMES,
    STATUS_REVOKED,
    STATUS_SUPERSEDED,
    STATUS_VALID,
    Record,
    record_key,
)

__all__ = ["CertificateResult", "Check", "verify_certificate"]


class Check(enum.StrEnum):
    """Which check decided the result; ``OK`` when the certificate is valid."""

    OK = "ok"
    MALFORMED_BUNDLE = "malformed_bundle"  # not {"presentation": str, "record_proof": object}
    PRESENTATION = "presentation"  # verify_presentation refused it (see the reason)
    RECORD_PROOF = "record_proof"  # verify_bundle refused the proof bundle
    WRONG_RECORD_KEY = "wrong_record_key"  # the proof is of another key than reg/r/<record_id>
    NO_RECORD = "no_record"  # the proof shows the record is absent
    MALFORMED_RECORD = "malformed_record"  # the proven value is not a record of this kind
    COMMITMENT_MISMATCH = "commitment_mismatch"  # record commitment != credential commitment
    WRONG_OFFICE = "wrong_office"  # the record version's registrar is not the credential's iss
    SUPERSEDED = "superseded"  # the record was amended: a newer version replaced it
    REVOKED = "revoked"  # the record was revoked
    UNKNOWN_STATUS = "unknown_status"  # a status code this verifier does not know


@dataclass(frozen=True, slots=True)
class CertificateResult:
    """The verdict on a certificate bundle.

    ``status`` is the record's ledger status ("valid", "superseded", "revoked") once the proof
    and record checks pass, else None. ``claims`` are the disclosed claims (empty when the
    presentation fails); ``record_id`` and ``height`` (the proven state's height) are set once
    the presentation, respectively the proof, verify.
    """

    valid: bool
    status: str | None
    reason: str
    check: Check
    claims: dict[str, Any] = field(default_factory=dict)
    record_id: bytes | None = None
    height: int | None = None
    superseded_by: bytes | None = None
    revocation_reason: str | None = None
    kind: str | None = None
    time: str | None = None

    def as_json(self) -> dict[str, Any]:
        """The verdict as ``citychain verify certificate --json`` and the API print it."""
        return {
            "valid": self.valid,
            "status": self.status,
            "reason": self.reason,
            "check": self.check.value,
            "kind": self.kind,
            "record_id": self.record_id.hex() if self.record_id else None,
            "height": self.height,
            "time": self.time,
            "claims": self.claims,
            "superseded_by": self.superseded_by.hex() if self.superseded_by else None,
            "revocation_reason": self.revocation_reason,
        }


def _parse_bundle(bundle: Any) -> tuple[str, dict[str, Any], bytes | None] | str:
    if isinstance(bundle, (str, bytes)):
        try:
            bundle = loads_bounded(bundle)
        except ValueError as exc:
            return f"the certificate bundle is not JSON: {exc}"
    if not isinstance(bundle, dict):
        return "the certificate bundle must be a JSON object"
    presentation, proof = bundle.get("presentation"), bundle.get("record_proof")
    if not isinstance(presentation, str):
        return "the certificate bundle has no 'presentation' string"
    if not isinstance(proof, dict):
        return "the certificate bundle has no 'record_proof' object"
    issuer_key = bundle.get("issuer_key")
    if issuer_key is None:
        return presentation, proof, None
    try:
        if not isinstance(issuer_key, str):
            raise ValueError("not a string")
        return presentation, proof, bytes.fromhex(issuer_key)
    except ValueError as exc:
        return f"the certificate bundle's 'issuer_key' is not hex: {exc}"


class _Failed(Exception):
    """A failed check of verify_certificate, after the presentation verified."""

    def __init__(self, check: Check, reason: str) -> None:
        super().__init__(reason)
        self.check = check
        self.reason = reason


def _proven_at(
    proof: dict[str, Any], trusted_validators: Iterable[tuple[bytes, int]] | None
) -> tuple[int | None, str | None]:
    """The height and time of the state the record proof verifies against (check 2)."""
    try:
        verdict = verify_bundle(proof, trusted_validators)
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise _Failed(
            Check.RECORD_PROOF, f"the record proof does not verify: malformed: {exc}"
        ) from exc
    if not verdict.valid:
        raise _Failed(Check.RECORD_PROOF, f"the record proof does not verify: {verdict.reason}")
    height_value, time_value = verdict.details.get("height"), verdict.details.get("time")
    height = height_value if isinstance(height_value, int) else None
    time = time_value if isinstance(time_value, str) else None
    return height, time


def _proven_record(
    proof: dict[str, Any], record_id: bytes, kind: str | None, height: int | None
) -> Record:
    """The proven record of the credential, of its kind (checks 3 and 4)."""
    expected_key = record_key(record_id)
    proven_key = proof.get("key")
    if proven_key != expected_key.hex():
        raise _Failed(
            Check.WRONG_RECORD_KEY,
            f"the proof is of key {proven_key}, not of the credential's record "
            f"reg/r/{record_id.hex()}",
        )
    value_hex = proof.get("value")
    if value_hex is None:
        raise _Failed(
            Check.NO_RECORD,
            f"no such record on the ledger: reg/r/{record_id.hex()} is absent at height {height}",
        )
    try:
        record = decode(bytes.fromhex(str(value_hex)), Record)
    except (ValueError, DecodeError) as exc:
        raise _Failed(Check.MALFORMED_RECORD, f"the proven value is not a record: {exc}") from exc
    record_kind = KIND_NAMES[record.kind] if record.kind < len(KIND_NAMES) else str(record.kind)
    if record_kind != kind:
        raise _Failed(
            Check.MALFORMED_RECORD,
            f"the record is a {record_kind} record, the credential a {kind} certificate",
        )
    return record


def _check_signed_by_issuer(record: Record, credential: VerifiedCredential) -> None:
    """The record is the credential's, written by the credential's issuer (checks 5 and 6)."""
    if record.commitment != credential.commitment:
        raise _Failed(
            Check.COMMITMENT_MISMATCH,
            f"the record's commitment {record.commitment.hex()} is not the credential's "
            f"{credential.commitment.hex()}",
        )
    signer = address_from_bytes(record.registrar)
    if signer != credential.iss:
        raise _Failed(
            Check.WRONG_OFFICE,
            f"this version of the record was written by registrar {signer}, the credential is "
            f"issued by {credential.iss}",
        )


def _by_status(
    record: Record, credential: VerifiedCredential, height: int | None, time: str | None
) -> CertificateResult:
    """The verdict of the record's status (check 7)."""
    claims, record_id, kind = credential.claims, credential.record_id, credential.kind
    status = STATUS_NAMES[record.status] if record.status < len(STATUS_NAMES) else None
    if record.status == STATUS_VALID:
        return CertificateResult(
            True,
            status,
            f"valid: record {record_id.hex()} is the valid version at height {height}"
            + (f" ({time})" if time else ""),
            Check.OK,
            claims,
            record_id,
            height,
            kind=kind,
            time=time,
        )
    if record.status == STATUS_SUPERSEDED:
        return CertificateResult(
            False,
            status,
            f"superseded: record {record_id.hex()} was amended; the valid version is "
            f"{record.superseded_by.hex()}",
            Check.SUPERSEDED,
            claims,
            record_id,
            height,
            superseded_by=record.superseded_by,
            kind=kind,
            time=time,
        )
    if record.status == STATUS_REVOKED:
        why = REVOCATION_REASONS.get(record.revocation_reason, f"code {record.revocation_reason}")
        return CertificateResult(
            False,
            status,
            f"revoked: record {record_id.hex()} was revoked ({why})",
            Check.REVOKED,
            claims,
            record_id,
            height,
            revocation_reason=why,
            kind=kind,
            time=time,
        )
    return CertificateResult(
        False,
        None,
        f"the record has unknown status {record.status}",
        Check.UNKNOWN_STATUS,
        claims,
        record_id,
        height,
        kind=kind,
        time=time,
    )


def verify_certificate(
    bundle: Any,
    registrar_public_key: bytes | None,
    trusted_validators: Iterable[tuple[bytes, int]] | None,
) -> CertificateResult:
    """Verify a certificate bundle (a dict, or its JSON text) offline.

    ``registrar_public_key`` is the issuing registrar's Ed25519 key, or None to take the
    bundle's ``issuer_key``; ``trusted_validators`` the (public key, power) pairs of a genesis
    the verifier trusts, or None to trust the validators the proof bundle carries (which then
    proves only self-consistency).
    """
    parsed = _parse_bundle(bundle)
    if isinstance(parsed, str):
        return CertificateResult(False, None, parsed, Check.MALFORMED_BUNDLE)
    presentation, proof, bundled_key = parsed
    key = registrar_public_key if registrar_public_key is not None else bundled_key
    if key is None:
        return CertificateResult(
            False,
            None,
            "no registrar key: the bundle has no 'issuer_key' and none was given",
            Check.MALFORMED_BUNDLE,
        )
    credential = verify_presentation(presentation, key)
    if isinstance(credential, VerificationFailure):
        return CertificateResult(
            False,
            None,
            f"the presentation does not verify ({credential.reason}): {credential.detail}",
            Check.PRESENTATION,
        )
    height: int | None = None
    time: str | None = None
    try:
        height, time = _proven_at(proof, trusted_validators)
        record = _proven_record(proof, credential.record_id, credential.kind, height)
        _check_signed_by_issuer(record, credential)
    except _Failed as failed:
        return CertificateResult(
            False,
            None,
            failed.reason,
            failed.check,
            credential.claims,
            credential.record_id,
            height,
            kind=credential.kind,
            time=time,
        )
    return _by_status(record, credential, height, time)
