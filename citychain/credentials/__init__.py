"""Verifiable credentials issued from ledger records: birth certificates as SD-JWT VCs
(RFC 9901, typ ``dc+sd-jwt``), signed by a registrar's Ed25519 key. See `birth`."""

from citychain.credentials.birth import (
    VCT,
    CredentialError,
    Reason,
    VerificationFailure,
    VerifiedCredential,
    content_commitment,
    issue_birth_credential,
    present,
    verify_presentation,
)
from citychain.credentials.status import CertificateResult, Check, verify_certificate

__all__ = [
    "VCT",
    "CertificateResult",
    "Check",
    "CredentialError",
    "Reason",
    "VerificationFailure",
    "VerifiedCredential",
    "content_commitment",
    "issue_birth_credential",
    "present",
    "verify_certificate",
    "verify_presentation",
]
