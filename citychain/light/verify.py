"""Offline verification of proof bundles (docs/proofs.md); needs no node and no database.

A solo (version 1) bundle is valid when, in this order:

1. it is well formed, of version 1, with no field besides ``SOLO_FIELDS``; its header decodes
   canonically and is for the bundle's chain and at the bundle's height;
2. the header's proposer is a validator the verifier trusts (from a genesis file the verifier
   holds, else the set carried in the bundle, which the result then says it trusted); with a
   genesis, the set the bundle lists must be the genesis' (keys and powers);
3. the proposer's signature over the header verifies;
4. the Merkle proof shows ``key -> value`` (or the key's absence) under the header's app hash;
5. the human-readable claim (a balance, say) is exactly what the key and value encode.

Each failure names the step, so a user learns exactly why a bundle is refused. A CometBFT
(version 2) bundle goes to ``citychain.light.bundle``; a node's answer that carries a bundle
under ``"proof"`` to ``citychain.light.answer``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from citychain.block import Header, header_signature_valid
from citychain.codec import DecodeError, decode
from citychain.light.bundle import BUNDLE_ENGINE, verify_cometbft_bundle
from citychain.light.claims import (
    VerifyResult,
    derived_claim,
    hex_field,
    proven_claim_failure,
    unknown_fields_failure,
    utc_text,
)
from citychain.state import Proof, ProofFormatError

__all__ = ["SOLO_FIELDS", "SOLO_VERSION", "VerifyResult", "verify_bundle"]

SOLO_VERSION = 1
SOLO_FIELDS = (
    "version",
    "chain_id",
    "height",
    "key",
    "value",
    "claim",
    "proof",
    "header",
    "signature",
    "validators",
)
"""Every field of a version-1 bundle; any other is refused."""

VALIDATOR_FIELDS = frozenset({"name", "public_key", "power"})
PUBLIC_KEY_SIZE = 32


class _Invalid(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _fail(reason: str, **details: Any) -> VerifyResult:
    return VerifyResult(False, reason, details)


def verify_bundle(
    bundle: Any, trusted_validators: Iterable[tuple[bytes, int]] | None = None
) -> VerifyResult:
    """Check a proof bundle of either engine against the (public key, power) pairs of the
    validators of a genesis you trust; None trusts the bundle's own validators."""
    if not isinstance(bundle, dict):
        return _fail("malformed bundle: expected a JSON object")
    if bundle.get("engine") == BUNDLE_ENGINE:
        return verify_cometbft_bundle(bundle, trusted_validators)
    trusted = None if trusted_validators is None else list(trusted_validators)
    try:
        return _verify_solo_bundle(bundle, trusted)
    except _Invalid as invalid:
        return _fail(invalid.reason)


def _listed_validators(bundle: dict[str, Any]) -> list[tuple[bytes, int]]:
    """The bundle's (public key, power) list; each entry {name?, public_key, power}."""
    listed = bundle.get("validators", [])
    if not isinstance(listed, list):
        raise _Invalid("malformed bundle: validators must be a list")
    pairs = []
    for entry in listed:
        try:
            if not isinstance(entry, dict) or set(entry) - VALIDATOR_FIELDS:
                raise ValueError("an entry has other fields than name, public_key and power")
            public_key = bytes.fromhex(entry["public_key"])
            power = entry["power"]
            if len(public_key) != PUBLIC_KEY_SIZE or type(power) is not int or power <= 0:
                raise ValueError("a public key is 32 bytes and a power a positive integer")
            if not isinstance(entry.get("name", ""), str):
                raise ValueError("a validator's name is a string")
        except (KeyError, TypeError, ValueError) as exc:
            raise _Invalid(f"malformed bundle: validators: {exc}") from None
        pairs.append((public_key, power))
    return pairs


def _trusted_keys(
    listed: list[tuple[bytes, int]], trusted_validators: list[tuple[bytes, int]] | None
) -> tuple[str, set[bytes]]:
    """Where the trusted keys come from ("genesis" or "bundle"), and the keys (step 2)."""
    if trusted_validators is None:
        return "bundle", {key for key, _ in listed}
    return "genesis", {bytes(key) for key, _ in trusted_validators}


def _check_listed(
    listed: list[tuple[bytes, int]], trusted_validators: list[tuple[bytes, int]] | None
) -> None:
    """With a trusted genesis, the validators the bundle lists must be its validators."""
    if trusted_validators is None:
        return
    if sorted(listed) != sorted((bytes(k), int(p)) for k, p in trusted_validators):
        raise _Invalid(
            "the bundle's validator list is not the trusted genesis' validators (keys and powers)"
        )


def _header(bundle: dict[str, Any], header_bytes: bytes) -> Header:
    """The decoded header, of the bundle's version, chain and height (step 1)."""
    version = bundle.get("version")
    if type(version) is not int or version != SOLO_VERSION:
        raise _Invalid(f"malformed bundle: version must be {SOLO_VERSION}")
    unknown = unknown_fields_failure(bundle, SOLO_FIELDS)
    if unknown:
        raise _Invalid(unknown)
    try:
        header = decode(header_bytes, Header)
    except DecodeError as exc:
        raise _Invalid(f"header does not decode: {exc}") from None
    chain_id = bundle.get("chain_id")
    if chain_id != header.chain_id:
        raise _Invalid(f"header is for chain {header.chain_id!r}, bundle says {chain_id!r}")
    height = bundle.get("height")
    if type(height) is not int or height != header.height:
        raise _Invalid(f"header is at height {header.height}, bundle says {height!r}")
    return header


def _verify_solo_bundle(
    bundle: dict[str, Any], trusted_validators: list[tuple[bytes, int]] | None
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
    header = _header(bundle, header_bytes)
    listed = _listed_validators(bundle)
    source, trusted = _trusted_keys(listed, trusted_validators)
    if header.proposer not in trusted:
        return _fail(f"header is signed by {header.proposer.hex()}, not a trusted validator")
    if not header_signature_valid(header, signature):
        return _fail("header signature does not verify")
    _check_listed(listed, trusted_validators)
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
            "claim": derived_claim(key, value),
            "present": value is not None,
        },
    )
