"""What a proof bundle states, and the result of checking one (shared by both bundle versions).

A bundle proves one thing: ``key -> value`` (or the key's absence) under an app hash its
header vouches for. Every other field it carries is either part of that proof (the header, the
signatures, the Merkle path) or a restatement of it in words, the ``claim``. A claim is
accepted only when it is exactly what the proven key and value say (``derived_claim``), and a
bundle field this module does not know is refused: a file is never "valid" while saying more
than it proves.
"""

from __future__ import annotations

import datetime as _dt
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from citychain.crypto.address import ADDRESS_SIZE, address_from_bytes
from citychain.modules.bank import balance_key
from citychain.state import Proof, verify_proof

__all__ = [
    "RAW_CLAIM",
    "VerifyResult",
    "check_claim",
    "derived_claim",
    "hex_field",
    "proven_claim_failure",
    "same_value",
    "stated_failure",
    "unknown_fields_failure",
    "utc_text",
]

RAW_CLAIM: dict[str, Any] = {"kind": "raw"}
"""The claim of a bundle that states nothing beyond its key and value."""

BALANCE_PREFIX = balance_key(b"", "")
DENOM = re.compile(r"[a-z][a-z0-9]{1,15}")
"""A denomination as the bank's routes accept it; a key with another tail is not a balance."""

CLAIM_WORDS = {"amount": "balance"}
"""How a failure names a claim's field: its ``amount`` is the balance it states."""

LAST_RFC3339_SECOND = 253402300799
"""9999-12-31T23:59:59Z: the latest time RFC 3339 can write."""


@dataclass(frozen=True)
class VerifyResult:
    valid: bool
    reason: str
    details: dict[str, Any] = field(default_factory=dict)


def same_value(stated: Any, proven: Any) -> bool:
    """Equal and of the same JSON type: ``True`` does not state the amount 1, nor "250" 250."""
    return type(stated) is type(proven) and stated == proven


def _balance_of(key: bytes) -> tuple[bytes, str] | None:
    """(address, denomination) of a bank balance key, or None for any other key."""
    if not key.startswith(BALANCE_PREFIX):
        return None
    rest = key[len(BALANCE_PREFIX) :]
    address, tail = rest[:ADDRESS_SIZE], rest[ADDRESS_SIZE:]
    denom = tail.decode("ascii", errors="replace")
    if len(address) != ADDRESS_SIZE or not DENOM.fullmatch(denom):
        return None
    return address, denom


def derived_claim(key: bytes, value: bytes | None) -> dict[str, Any]:
    """What ``key -> value`` says in words: a balance for a bank balance key (an absent key is
    a balance of 0), else the raw claim."""
    balance = _balance_of(key)
    if balance is None:
        return dict(RAW_CLAIM)
    address, denom = balance
    return {
        "kind": "balance",
        "address": address_from_bytes(address),
        "denom": denom,
        "amount": int.from_bytes(value, "big") if value is not None else 0,
    }


def stated_failure(
    subject: str,
    stated: Mapping[str, Any],
    proven: Mapping[str, Any],
    *,
    proof: str = "the proof",
    words: Mapping[str, str] | None = None,
    hint: str = "",
) -> str | None:
    """Why ``stated`` says more than ``proven``, or something else: the first field that
    ``proven`` lacks, or whose value is not the same (``same_value``); None when every stated
    field is proven. The one check of a bundle's claim and of an answer's fields; ``words``
    names a field in the message (a claim's ``amount`` is a "balance"), ``hint`` ends the
    message of an unproven field."""
    unproven = sorted(set(stated) - set(proven))
    if unproven:
        return (
            f"{subject} states {', '.join(map(repr, unproven))}, which {proof} does not show{hint}"
        )
    for name, shown in proven.items():
        if name in stated and not same_value(stated[name], shown):
            word = (words or {}).get(name, name)
            return f"{subject} says {word} {stated[name]!r}, {proof} shows {shown!r}"
    return None


def check_claim(claim: Any, key: bytes, value: bytes | None) -> str | None:
    """Why ``claim`` says something else than ``key -> value``, or None when it says nothing
    more: it is empty, the raw claim, or exactly ``derived_claim(key, value)`` (a field it
    leaves out is stated as None, so a claim is whole or refused)."""
    if not isinstance(claim, dict):
        return "claim must be an object"
    if not claim or claim == RAW_CLAIM:
        return None
    proven = derived_claim(key, value)
    if not same_value(claim.get("kind"), proven["kind"]):
        return (
            f"claim is of kind {claim.get('kind')!r}, the proven key shows a {proven['kind']} "
            f"claim {proven}"
        )
    return stated_failure("claim", {**dict.fromkeys(proven), **claim}, proven, words=CLAIM_WORDS)


def unknown_fields_failure(bundle: dict[str, Any], known: Iterable[str]) -> str | None:
    """A bundle field outside ``known`` states something no check covers: refuse it."""
    unknown = sorted(set(bundle) - set(known))
    if not unknown:
        return None
    return (
        f"malformed bundle: field(s) {', '.join(map(repr, unknown))} state what the proof does "
        "not show"
    )


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
    moment = _dt.datetime.fromtimestamp(max(0, min(unix_seconds, LAST_RFC3339_SECOND)), _dt.UTC)
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


def proven_claim_failure(
    app_hash: bytes, key: bytes, value: bytes | None, proof: Proof, bundle: dict[str, Any]
) -> str | None:
    """Why a bundle's proof or claim fails against an app hash its header chain vouched for
    (the last two steps of either bundle version), or None when both hold."""
    if not verify_proof(app_hash, key, value, proof):
        return f"Merkle proof does not verify against app hash {app_hash.hex()}"
    claim = bundle.get("claim")
    return check_claim({} if claim is None else claim, key, value)
