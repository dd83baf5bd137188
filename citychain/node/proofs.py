"""Proof bundles: a value, its Merkle proof and the signed header it is proven against.

The bundle is self-contained JSON (docs/proofs.md) that ``citychain verify proof`` checks
offline: the header's signature by a trusted validator, then the Merkle proof against the
header's app hash.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

from citychain.app import Application
from citychain.home import Home, HomeError
from citychain.light import (
    LightClientError,
    build_trust_chain,
    fetch_signed_header,
    fetch_validators,
)
from citychain.net.layout import NetError, validator_public_key
from citychain.store.sqlite import BlockRecord

if TYPE_CHECKING:
    from citychain.engines.cometbft.engine import CometEngine

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


def cometbft_validator_key(home: Home) -> bytes:
    """This node's consensus public key, from CometBFT's priv_validator_key.json."""
    path = Path(str(home.config().get("cometbft_home", home.path / "cometbft")))
    try:
        return validator_public_key(path)
    except NetError as exc:
        raise HomeError(str(exc)) from None


async def cometbft_proof_bundle(
    engine: CometEngine, key: bytes, claim: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Prove ``key`` at the last committed height H against CometBFT's signed header H+1.

    Header H+1 carries the app hash of the state after block H; it is signed by the commit of
    H+1, which exists once block H+2 is decided (a few seconds at most with empty blocks on).
    """
    app = engine.app
    if app.height < 1:
        raise LookupError("no block committed yet: a proof needs a signed header")
    height, chain_id = app.height, app.chain_id
    value, proof = app.prove(key)
    changes = [h for h in app.valset_changes if h <= height + 1]
    client = engine.http()
    try:
        signed_header = await fetch_signed_header(engine.rpc_url, height + 1, client)
        validators = await fetch_validators(engine.rpc_url, height + 1, client)
        trust_chain = await build_trust_chain(engine.rpc_url, changes, client)
    except (LightClientError, httpx.HTTPError) as exc:
        raise LookupError(
            f"cannot fetch the signed header for height {height + 1}: {exc}"
        ) from None
    return {
        "version": 2,
        "engine": "cometbft",
        "chain_id": chain_id,
        "height": height,
        "key": key.hex(),
        "value": value.hex() if value is not None else None,
        "claim": claim or {},
        "proof": proof.to_json(),
        "signed_header": signed_header,
        "validators": validators,
        "trust_chain": trust_chain,
    }
