"""Offline verification of CometBFT proof bundles (docs/light-client.md).

A bundle (version 2, engine "cometbft") proves that `key -> value` (or the key's absence) is in
the app's state after block H. CometBFT puts that state's root, the app hash, in the header of
block H + 1, so the bundle carries that header with its commit and validator set, and the
headers where the validator set changed since genesis (`trust_chain`). It is valid when, in
this order:

1. it is well formed: the fields below, the RPC JSON of every header and validator set;
2. the target header is for the bundle's chain and at height H + 1;
3. the chain of headers verifies from the trusted validators (a genesis set the verifier holds,
   else the first hop's own set, which the result then says it trusted), each hop by CometBFT's
   skipping rule (`citychain.light.verifier.verify_chain`);
4. the Merkle proof shows `key -> value` under the target header's app hash;
5. the human-readable claim (a balance, say) is exactly what the key and value encode, and the
   bundle has no field besides those below (`BUNDLE_FIELDS`): nothing it states goes unchecked.

Each failure names the step, and for step 3 the hop and the check.
"""

from __future__ import annotations

from collections.abc import Iterable
from fractions import Fraction
from typing import Any

from citychain.light.claims import (
    VerifyResult,
    derived_claim,
    hex_field,
    proven_claim_failure,
    unknown_fields_failure,
    utc_text,
)
from citychain.light.encoding import header_hash
from citychain.light.errors import Check, LightClientError
from citychain.light.rpc_parse import parse_light_block
from citychain.light.types import Header, LightBlock, ValidatorSet, make_validator_set
from citychain.light.verifier import DEFAULT_TRUST_LEVEL, verify_chain
from citychain.state import Proof, ProofFormatError

__all__ = ["BUNDLE_ENGINE", "BUNDLE_FIELDS", "BUNDLE_VERSION", "verify_cometbft_bundle"]

BUNDLE_VERSION = 2
"""The bundle format this module reads; version 1 is the solo engine's (citychain.light.verify)."""

BUNDLE_ENGINE = "cometbft"

BUNDLE_FIELDS = (
    "version",
    "engine",
    "chain_id",
    "height",
    "key",
    "value",
    "claim",
    "proof",
    "signed_header",
    "validators",
    "trust_chain",
)
"""Every field of a version-2 bundle; any other is refused."""


def _fail(reason: str, **details: Any) -> VerifyResult:
    return VerifyResult(False, reason, details)


def _hops(bundle: dict[str, Any]) -> list[LightBlock]:
    """trust_chain's hops, then the target ({signed_header, validators} of height H + 1)."""
    trust_chain = bundle.get("trust_chain", [])
    if not isinstance(trust_chain, list):
        raise LightClientError(Check.MALFORMED, "trust_chain must be a list")
    hops = [parse_light_block(hop, f"trust_chain[{i}]") for i, hop in enumerate(trust_chain)]
    hops.append(
        parse_light_block(
            {"signed_header": bundle.get("signed_header"), "validators": bundle.get("validators")},
            "bundle",
        )
    )
    return hops


def _hop_label(hops: list[LightBlock], index: int | None) -> str:
    if index is None:
        return "chain"
    return "signed_header" if index == len(hops) - 1 else f"trust_chain[{index}]"


class _Invalid(Exception):
    """A failed step of verify_cometbft_bundle: its reason and details."""

    def __init__(self, reason: str, **details: Any) -> None:
        super().__init__(reason)
        self.result = _fail(reason, **details)


def _envelope(bundle: Any) -> tuple[str, int]:
    """The bundle's chain id and state height, once its version and engine are this module's."""
    if not isinstance(bundle, dict):
        raise _Invalid("malformed bundle: expected a JSON object")
    if bundle.get("version") != BUNDLE_VERSION or isinstance(bundle.get("version"), bool):
        raise _Invalid(f"malformed bundle: version must be {BUNDLE_VERSION}")
    if bundle.get("engine") != BUNDLE_ENGINE:
        raise _Invalid(f"malformed bundle: engine must be {BUNDLE_ENGINE!r}")
    chain_id, height = bundle.get("chain_id"), bundle.get("height")
    if not isinstance(chain_id, str):
        raise _Invalid("malformed bundle: chain_id must be a string")
    if not isinstance(height, int) or isinstance(height, bool) or height < 0:
        raise _Invalid("malformed bundle: height must be a non-negative integer")
    unknown = unknown_fields_failure(bundle, BUNDLE_FIELDS)
    if unknown:
        raise _Invalid(unknown)
    return chain_id, height


def _contents(bundle: dict[str, Any]) -> tuple[bytes, bytes | None, Proof, list[LightBlock]]:
    """(key, value, Merkle proof, hops) of a bundle (step 1)."""
    try:
        key = hex_field(bundle, "key")
        value = hex_field(bundle, "value", optional=True)
        proof = Proof.from_json(bundle.get("proof"))
        hops = _hops(bundle)
    except (ValueError, ProofFormatError) as exc:
        raise _Invalid(f"malformed bundle: {exc}") from exc
    except LightClientError as exc:
        raise _Invalid(f"malformed bundle: {exc.message}", check=exc.check.value) from exc
    assert key is not None
    return key, value, proof, hops


def _trusted(
    genesis_validators: Iterable[tuple[bytes, int]] | ValidatorSet | None,
    hops: list[LightBlock],
) -> tuple[str, ValidatorSet]:
    """Where the trusted validators come from ("genesis" or "bundle"), and the set."""
    if genesis_validators is None:
        return "bundle", hops[0].validators
    try:
        trusted = (
            genesis_validators
            if isinstance(genesis_validators, ValidatorSet)
            else make_validator_set(genesis_validators)
        )
    except (LightClientError, TypeError, ValueError) as exc:
        raise _Invalid(f"genesis validators are malformed: {exc}") from exc
    return "genesis", trusted


def _check_target(target: Header, chain_id: str, height: int) -> None:
    """The target header is of the bundle's chain, at height H + 1 (step 2)."""
    if target.chain_id != chain_id:
        raise _Invalid(
            f"header is for chain {target.chain_id!r}, bundle says {chain_id!r}",
            check=Check.CHAIN_ID.value,
        )
    if target.height != height + 1:
        raise _Invalid(
            f"header is at height {target.height}; the app hash of state height {height} is in "
            f"the header at {height + 1}",
            check="height",
        )


def _check_chain(
    chain_id: str,
    trusted: ValidatorSet,
    hops: list[LightBlock],
    trust_level: Fraction,
    source: str,
) -> None:
    """Every hop verifies from the trusted validators (step 3)."""
    try:
        verify_chain(chain_id, trusted, hops, trust_level)
    except LightClientError as exc:
        label = _hop_label(hops, exc.hop)
        where = f"{label} (height {exc.height})" if exc.height is not None else label
        raise _Invalid(
            f"{where}: {exc.check.value}: {exc.message}",
            check=exc.check.value,
            hop=exc.hop,
            height=exc.height,
            validators_from=source,
        ) from exc


def verify_cometbft_bundle(
    bundle: Any,
    genesis_validators: Iterable[tuple[bytes, int]] | ValidatorSet | None = None,
    trust_level: Fraction = DEFAULT_TRUST_LEVEL,
) -> VerifyResult:
    """Check a version-2 CometBFT proof bundle; never raises on bad input.

    `genesis_validators` are (Ed25519 public key, voting power) pairs from a genesis the
    verifier trusts (or a ValidatorSet). Without them, the first hop's own validator set is
    trusted and the result's details say `validators_from="bundle"`: the bundle then proves
    only that its headers are consistent and signed by the set it carries.
    """
    try:
        chain_id, height = _envelope(bundle)
        key, value, proof, hops = _contents(bundle)
        source, trusted = _trusted(genesis_validators, hops)
        target = hops[-1].signed_header.header
        _check_target(target, chain_id, height)
        _check_chain(chain_id, trusted, hops, trust_level, source)
    except _Invalid as invalid:
        return invalid.result
    failure = proven_claim_failure(target.app_hash, key, value, proof, bundle)
    if failure:
        return _fail(failure)
    return VerifyResult(
        True,
        "valid",
        {
            "chain_id": chain_id,
            "height": height,
            "header_height": target.height,
            "time": utc_text(target.time.seconds),
            "app_hash": target.app_hash.hex(),
            "block_hash": header_hash(target).hex(),
            "validators_from": source,
            "hops": len(hops),
            "trust_level": str(trust_level),
            "claim": derived_claim(key, value),
            "present": value is not None,
        },
    )
