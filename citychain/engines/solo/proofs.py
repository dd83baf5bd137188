"""Proof bundles of the solo engine: a value, its Merkle proof and the header it is proven
against, signed by the node's validator key.

The bundle is self-contained JSON (docs/proofs.md, version 1) that ``citychain verify proof``
checks offline: the header's signature by a trusted validator, then the Merkle proof against the
header's app hash.
"""

from __future__ import annotations

from typing import Any

from citychain.app import Application
from citychain.store.sqlite import BlockRecord

__all__ = ["BUNDLE_VERSION", "proof_bundle"]

BUNDLE_VERSION = 1


def proof_bundle(
    app: Application, key: bytes, claim: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Prove ``key`` at the last committed block; raises LookupError before the first block."""
    record: BlockRecord | None = app.last_block
    if record is None:
        raise LookupError("no block committed yet: a proof needs a signed header")
    value, proof = app.prove(key)
    genesis = app.genesis
    validators = (
        [
            {"name": v.name, "public_key": v.public_key.hex(), "power": v.power}
            for v in genesis.validators
        ]
        if genesis
        else []
    )
    return {
        "version": BUNDLE_VERSION,
        "chain_id": app.chain_id,
        "height": record.height,
        "key": key.hex(),
        "value": value.hex() if value is not None else None,
        "claim": claim or {},
        "proof": proof.to_json(),
        "header": record.header.hex(),
        "signature": record.signature.hex(),
        "validators": validators,
    }
