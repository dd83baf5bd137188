"""A node's answer that carries a proof bundle under ``"proof"`` (docs/proofs.md, "Answers").

``citychain query bank balance --prove`` prints, and with ``--out`` writes, the answer of
``GET /accounts/{address}/balances/{denom}?prove=true``: ``{"address", "denom", "balance",
"height", "proof": <bundle>}``; ``GET /state/{key}?prove=true`` answers ``{"key", "value",
"height", "proof"}``. Such a document is valid when its bundle is, and every other field it has
is what the bundle proves (``proven_fields``); a field the proof does not show (a device's
owner, say, decoded by the node) is refused: verify the bundle under ``"proof"`` alone, and
decode its value yourself.

A bundle is told from an answer by its ``version`` field, which no answer has; a document
without one is an answer only when it carries a bundle (with a ``version``) under ``"proof"``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from citychain.light.claims import VerifyResult, derived_claim, same_value
from citychain.light.verify import verify_bundle

__all__ = ["bundle_of", "proven_fields", "verify_document"]

BUNDLE_FIELD = "proof"


def bundle_of(document: Any) -> Any:
    """The bundle a document carries when it is an answer (no ``version`` of its own, a bundle
    with one under ``"proof"``), else the document itself, checked as a bundle."""
    if isinstance(document, dict) and "version" not in document:
        inner = document.get(BUNDLE_FIELD)
        if isinstance(inner, dict) and "version" in inner:
            return inner
    return document


def proven_fields(bundle: dict[str, Any], result: VerifyResult) -> dict[str, Any]:
    """The answer fields a valid ``bundle`` proves, as the node writes them."""
    key = bytes.fromhex(bundle["key"])
    value_hex = bundle.get("value")
    value = bytes.fromhex(value_hex) if isinstance(value_hex, str) else None
    height = result.details["height"]
    claim = derived_claim(key, value)
    if claim["kind"] == "balance":
        return {
            "address": claim["address"],
            "denom": claim["denom"],
            "balance": claim["amount"],
            "height": height,
        }
    return {"key": key.hex(), "value": value.hex() if value is not None else None, "height": height}


def _answer_failure(answer: dict[str, Any], proven: dict[str, Any]) -> str | None:
    for name in sorted(set(answer) - {BUNDLE_FIELD}):
        if name not in proven:
            return (
                f"the answer states {name!r}, which its proof does not show; verify the bundle "
                f"under {BUNDLE_FIELD!r} alone"
            )
        if not same_value(answer[name], proven[name]):
            return f"the answer says {name} {answer[name]!r}, its proof shows {proven[name]!r}"
    return None


def verify_document(
    document: Any, trusted_validators: Iterable[tuple[bytes, int]] | None = None
) -> VerifyResult:
    """Check a bundle, or an answer carrying one, as ``verify_bundle`` does; an answer is
    refused too when a field of it is not what the bundle proves."""
    bundle = bundle_of(document)
    if bundle is document:
        return verify_bundle(document, trusted_validators)
    result = verify_bundle(bundle, trusted_validators)
    if not result.valid:
        return result
    failure = _answer_failure(document, proven_fields(bundle, result))
    if failure:
        return VerifyResult(False, failure, result.details)
    return result
