"""Offline verification of proof bundles (docs/proofs.md); needs no node and no database.

A bundle is valid when, in this order:

1. its header decodes canonically and is for the bundle's chain;
2. the header's proposer is a validator the verifier trusts (from a genesis file the verifier
   holds, else the set carried in the bundle, which the result then says it trusted);
3. the proposer's signature over the header verifies;
4. the Merkle proof shows ``key -> value`` (or the key's absence) under the header's app hash;
5. the human-readable claim (a balance, say) is what the key and value encode.

Each failure names the step, so a user learns exactly why a bundle is refused.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from citychain.block import Header, header_signature_valid
from citychain.codec import DecodeError, decode
from citychain.light.bundle import verify_cometbft_bundle
from citychain.light.claims import VerifyResult, hex_field, proven_claim_failure, utc_text
from citychain.state import Proof, ProofFormatError

__all__ = ["VerifyResult", "verify_bundle"]


def _fail(reason: str, **details: Any) -> VerifyResult:
    return VerifyResult(False, reason, details)


def verify_bundle(
    bundle: Any, trusted_validators: Iterable[tuple[bytes, int]] | None = None
) -> VerifyResult:
    """Check a proof bundle of either engine against the (public key, power) pairs of the
    validators of a genesis you trust; None trusts the bundle's own validators."""
    if not isinstance(bundle, dict):
        return _fail("malformed bundle: expected a JSON object")
    if bundle.get("engine") == "cometbft":
        return verify_cometbft_bundle(bundle, trusted_validators)
    trusted = None if trusted_validators is None else [key for key, _ in trusted_validators]
    return _verify_solo_bundle(bundle, trusted)


def _verify_solo_bundle(
    bundle: dict[str, Any], trusted_validators: list[bytes] | None
) -> VerifyResult:
    try:
        key = hex_field(bundle, "key")
        value = hex_field(bundle, "value", optional=True)
        header_bytes = hex_field(bundle, "header")
        signature = hex_field(bundle, "signature")
        proof = Proof.from_json(bundle.get("proof"))
    except (ValueError, ProofFormatError) as exc:
        return _fail(f"malformed bundle: {exc}")
    assert key is not None and header_bytes is not None and signature is not None
    try:
        header = decode(header_bytes, Header)
    except DecodeError as exc:
        return _fail(f"header does not decode: {exc}")
    chain_id = bundle.get("chain_id")
    if chain_id != header.chain_id:
        return _fail(f"header is for chain {header.chain_id!r}, bundle says {chain_id!r}")
    if trusted_validators is None:
        source = "bundle"
        try:
            trusted = {bytes.fromhex(str(v["public_key"])) for v in bundle.get("validators", [])}
        except (TypeError, KeyError, ValueError):
            return _fail("malformed bundle: validators must be objects with a hex public_key")
    else:
        source = "genesis"
        trusted = set(trusted_validators)
    if header.proposer not in trusted:
        return _fail(f"header is signed by {header.proposer.hex()}, not a trusted validator")
    if not header_signature_valid(header, signature):
        return _fail("header signature does not verify")
    failure = proven_claim_failure(header.app_hash, key, value, proof, bundle)
    if failure:
        return _fail(failure)
    return VerifyResult(
        True,
        "valid",
        {
            "chain_id": header.chain_id,
            "height": header.height,
            "time": utc_text(header.time_ms // 1000),
            "app_hash": header.app_hash.hex(),
            "validators_from": source,
            "claim": bundle.get("claim") or {},
            "present": value is not None,
        },
    )
