"""A holder's certificate files (docs/modules/registry.md §8): build, refresh and present.

A certificate file is a certificate bundle (citychain/credentials/status.py)::

    {"presentation": <SD-JWT: the full credential, or a selective presentation>,
     "record_proof": <proof bundle of reg/r/<record_id>>,
     "issuer_key":   <registrar's public key, hex>}

The file the registrar hands out discloses everything; ``present_bundle`` keeps only the named
claims. The proof says the record's status *at its height*: before showing a certificate the
holder refreshes it from any member's node, so that an amendment or a revocation since shows.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from citychain.client.http import Client
from citychain.credentials import (
    CredentialError,
    VerificationFailure,
    present,
    verify_presentation,
)
from citychain.crypto.keys import PUBLIC_KEY_SIZE

__all__ = ["load_certificate", "make_bundle", "present_bundle", "record_id_of", "refresh_bundle"]


def make_bundle(
    presentation: str, record_proof: dict[str, Any], issuer_key: bytes
) -> dict[str, Any]:
    return {
        "presentation": presentation,
        "record_proof": record_proof,
        "issuer_key": issuer_key.hex(),
    }


def load_certificate(path: Path) -> dict[str, Any]:
    """Read a certificate file; CredentialError saying what is wrong with it."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise CredentialError(f"cannot read {path}: {exc.strerror or exc}") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise CredentialError(f"{path} is not JSON: {exc}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("presentation"), str):
        raise CredentialError(f"{path} is not a certificate file (no 'presentation')")
    return doc


def _issuer_key(bundle: dict[str, Any]) -> bytes:
    key = bundle.get("issuer_key")
    try:
        raw = bytes.fromhex(key) if isinstance(key, str) else b""
    except ValueError:
        raw = b""
    if len(raw) != PUBLIC_KEY_SIZE:
        raise CredentialError("the certificate file has no valid 'issuer_key' (64 hex characters)")
    return raw


def record_id_of(bundle: dict[str, Any]) -> bytes:
    """The record id of a certificate file's presentation, after checking its signature."""
    checked = verify_presentation(bundle["presentation"], _issuer_key(bundle))
    if isinstance(checked, VerificationFailure):
        raise CredentialError(
            f"the certificate's presentation does not verify ({checked.reason}): {checked.detail}"
        )
    return checked.record_id


def refresh_bundle(client: Client, bundle: dict[str, Any]) -> dict[str, Any]:
    """The same certificate with a proof of its record at the node's last block."""
    proof = client.registry_proof(record_id_of(bundle).hex())
    return {**bundle, "record_proof": proof}


def present_bundle(bundle: dict[str, Any], disclose: list[str]) -> dict[str, Any]:
    """A certificate bundle that discloses only ``disclose`` (CredentialError on a bad name)."""
    return {**bundle, "presentation": present(bundle["presentation"], disclose)}
