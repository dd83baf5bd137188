"""Proof bundles under CometBFT: the value and its Merkle proof at height H, with CometBFT's
signed header H+1 and the validator sets to trust it (docs/proofs.md, version 2; checked
offline by ``citychain.light.verify_cometbft_bundle``)."""

from __future__ import annotations

from typing import Any

import httpx

from citychain.app import Application
from citychain.light import (
    LightClientError,
    build_trust_chain,
    fetch_signed_header,
    fetch_validators,
)
from citychain.light.bundle import BUNDLE_ENGINE, BUNDLE_VERSION

__all__ = ["cometbft_proof_bundle"]


async def cometbft_proof_bundle(
    app: Application,
    rpc_url: str,
    client: httpx.AsyncClient,
    key: bytes,
    claim: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Prove ``key`` at the last committed height H against CometBFT's signed header H+1.

    Header H+1 carries the app hash of the state after block H; it is signed by the commit of
    H+1, which exists once block H+2 is decided (a few seconds at most with empty blocks on).
    The value is read before the first await, so it belongs to the state the caller read just
    before.
    """
    if app.height < 1:
        raise LookupError("no block committed yet: a proof needs a signed header")
    height, chain_id = app.height, app.chain_id
    value, proof = app.prove(key)
    changes = [h for h in app.valset_changes if h <= height + 1]
    try:
        signed_header = await fetch_signed_header(rpc_url, height + 1, client)
        validators = await fetch_validators(rpc_url, height + 1, client)
        trust_chain = await build_trust_chain(rpc_url, changes, client)
    except (LightClientError, httpx.HTTPError) as exc:
        raise LookupError(
            f"cannot fetch the signed header for height {height + 1}: {exc}"
        ) from None
    return {
        "version": BUNDLE_VERSION,
        "engine": BUNDLE_ENGINE,
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
