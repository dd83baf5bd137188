"""Verifiable credentials issued from ledger records: birth and death certificates as SD-JWT
VCs (RFC 9901, typ ``dc+sd-jwt``), signed by a registrar's Ed25519 key. See `certificate`."""

from citychain.credentials.birth import BIRTH
from citychain.credentials.certificate import (
    SCHEMAS,
    Reason,
    VerificationFailure,
    VerifiedCredential,
    canonical_content,
    content_commitment,
    credential_schema,
    issue_birth_credential,
    issue_credential,
    issue_death_credential,
    present,
    schema_for,
    verify_presentation,
)
from citychain.credentials.death import DEATH
from citychain.credentials.schema import CertificateSchema, CredentialError
from citychain.credentials.status import CertificateResult, Check, verify_certificate

VCT = BIRTH.vct

__all__ = [
    "BIRTH",
    "DEATH",
    "SCHEMAS",
    "VCT",
    "CertificateResult",
    "CertificateSchema",
    "Check",
    "CredentialError",
    "Reason",
    "VerificationFailure",
    "VerifiedCredential",
    "canonical_content",
    "content_commitment",
    "credential_schema",
    "issue_birth_credential",
    "issue_credential",
    "issue_death_credential",
    "present",
    "schema_for",
    "verify_certificate",
    "verify_presentation",
]
