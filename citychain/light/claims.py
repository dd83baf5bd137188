"""What a proof bundle claims, and the result of checking one (shared by both bundle versions)."""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field
from typing import Any

from citychain.crypto.address import address_to_bytes
from citychain.crypto.errors import AddressError
from citychain.modules.bank import balance_key
from citychain.state import Proof, verify_proof

__all__ = ["VerifyResult", "check_claim", "hex_field", "proven_claim_failure", "utc_text"]


@dataclass(frozen=True)
class VerifyResult:
    valid: bool
    reason: str
    details: dict[str, Any] = field(default_factory=dict)


def check_claim(claim: Any, key: bytes, value: bytes | None) -> str | None:
    if not isinstance(claim, dict):
        return "claim must be an object"
    if claim.get("kind") != "balance":
        return None
    try:
        expected_key = balance_key(address_to_bytes(str(claim["address"])), str(claim["denom"]))
        amount = int(claim["amount"])
    except (KeyError, ValueError, TypeError, AddressError) as exc:
        return f"malformed balance claim: {exc}"
    if expected_key != key:
        return "claim names another account or denomination than the proven key"
    proven = int.from_bytes(value, "big") if value is not None else 0
    if proven != amount:
        return f"claim says balance {amount}, the proof shows {proven}"
    return None


def hex_field(bundle: dict[str, Any], name: str, optional: bool = False) -> bytes | None:
    """A bundle's hex-encoded field; ValueError naming the field when it is missing or not hex."""
    value = bundle.get(name)
    if value is None and optional:
        return None
    if not isinstance(value, str):
        raise ValueError(f"field {name!r} must be a hex string")
    try:
        return bytes.fromhex(value)
    except ValueError:
        raise ValueError(f"field {name!r} is not hex") from None


def utc_text(unix_seconds: int) -> str:
    """A header time as the verifier shows it: RFC 3339 UTC to the second."""
    moment = _dt.datetime.fromtimestamp(max(0, min(unix_seconds, 253402300799)), _dt.UTC)
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


def proven_claim_failure(
    app_hash: bytes, key: bytes, value: bytes | None, proof: Proof, bundle: dict[str, Any]
) -> str | None:
    """Why a bundle's proof or claim fails against an app hash its header chain vouched for
    (the last two steps of either bundle version), or None when both hold."""
    if not verify_proof(app_hash, key, value, proof):
        return f"Merkle proof does not verify against app hash {app_hash.hex()}"
    return check_claim(bundle.get("claim") or {}, key, value)
