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

from citychain.light.claims import VerifyResult, derived_claim, hex_field, stated_failure
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
    """The answer fields a valid ``bundle`` proves, as the node writes them: the key, value and
    height of ``GET /state/{key}``, and for a balance key those of the balance route too."""
    key, value = bytes.fromhex(bundle["key"]), hex_field(bundle, "value", optional=True)
    proven: dict[str, Any] = {
        "key": key.hex(),
        "value": value.hex() if value is not None else None,
        "height": result.details["height"],
    }
    claim = derived_claim(key, value)
    if claim["kind"] == "balance":
        proven.update(address=claim["address"], denom=claim["denom"], balance=claim["amount"])
    return proven


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
    stated = {name: value for name, value in document.items() if name != BUNDLE_FIELD}
    failure = stated_failure(
        "the answer",
        stated,
        proven_fields(bundle, result),
        proof="its proof",
        hint=f"; verify the bundle under {BUNDLE_FIELD!r} alone",
    )
    if failure:
        return VerifyResult(False, failure, result.details)
    return result
