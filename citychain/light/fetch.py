"""Fetch what a proof bundle carries from a CometBFT node's RPC (cometbft/rpc/core).

- `fetch_signed_header`: `result.signed_header` of `/commit?height=H`;
- `fetch_validators`: `result.validators` of `/validators?height=H`, every page;
- `build_trust_chain`: both, for each height where the validator set changed;
- `find_validator_set_changes`: those heights, from the headers `/blockchain` lists.

The app hash of state height H is in the header of H + 1, which may not be committed yet when a
proof is asked for; a height above the node's tip is then polled for, up to `wait` seconds.
Documents are parsed (and so checked) before they are returned, but returned as the RPC's JSON,
which is what a bundle carries. Every failure is a LightClientError (Check.RPC or MALFORMED).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

import httpx

from citychain.light.errors import Check, LightClientError
from citychain.light.rpc_parse import parse_header, parse_signed_header, parse_validators

__all__ = [
    "DEFAULT_POLL_INTERVAL",
    "DEFAULT_WAIT",
    "VALIDATORS_PER_PAGE",
    "build_trust_chain",
    "fetch_signed_header",
    "fetch_validators",
    "find_validator_set_changes",
]

DEFAULT_WAIT = 10.0
"""Seconds to wait for a height that is not committed yet; a few block times."""

DEFAULT_POLL_INTERVAL = 0.2
"""Seconds between polls for such a height."""

VALIDATORS_PER_PAGE = 100
"""The most validators CometBFT's RPC returns per page (rpc/core maxPerPage)."""

BLOCKCHAIN_PAGE = 20
"""The most block metas one `/blockchain` call returns (rpc/core/blocks.go)."""

_NOT_YET = "must be less than or equal to the current blockchain height"
"""What CometBFT's RPC says (rpc/core/env.go, getHeight) of a height above its tip."""


class _NotCommittedYet(Exception):
    pass


async def _rpc(
    client: httpx.AsyncClient, rpc_url: str, method: str, params: dict[str, Any]
) -> dict[str, Any]:
    url = f"{rpc_url.rstrip('/')}/{method}"
    try:
        response = await client.get(url, params=params)
        body = response.json()
    except httpx.HTTPError as exc:
        raise LightClientError(Check.RPC, f"{method}: {exc!r}") from None
    except ValueError:
        raise LightClientError(
            Check.RPC, f"{method}: HTTP {response.status_code}, not JSON"
        ) from None
    if not isinstance(body, dict):
        raise LightClientError(Check.RPC, f"{method}: expected a JSON-RPC object")
    error = body.get("error")
    if error is not None:
        if not isinstance(error, dict):
            raise LightClientError(Check.RPC, f"{method}: {error!r}")
        text = f"{error.get('message', '')} {error.get('data', '')}".strip()
        if _NOT_YET in text:
            raise _NotCommittedYet(text)
        raise LightClientError(Check.RPC, f"{method}: {text or error}")
    result = body.get("result")
    if not isinstance(result, dict):
        raise LightClientError(Check.RPC, f"{method}: the answer has no result object")
    return result


async def _rpc_waiting(
    client: httpx.AsyncClient,
    rpc_url: str,
    method: str,
    params: dict[str, Any],
    wait: float,
    poll_interval: float,
) -> dict[str, Any]:
    """Call `method`, polling while its height is above the node's tip, for up to `wait` s."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait
    while True:
        try:
            return await _rpc(client, rpc_url, method, params)
        except _NotCommittedYet as exc:
            if loop.time() + poll_interval > deadline:
                raise LightClientError(
                    Check.RPC, f"{method}: not committed after waiting {wait:g} s: {exc}"
                ) from None
        await asyncio.sleep(poll_interval)


async def fetch_signed_header(
    rpc_url: str,
    height: int,
    client: httpx.AsyncClient,
    *,
    wait: float = DEFAULT_WAIT,
    poll_interval: float = DEFAULT_POLL_INTERVAL,
) -> dict[str, Any]:
    """Return `result.signed_header` of `/commit?height=height`, waiting up to `wait` seconds
    for the height to be committed."""
    result = await _rpc_waiting(
        client, rpc_url, "commit", {"height": str(height)}, wait, poll_interval
    )
    signed_header = result.get("signed_header")
    parsed = parse_signed_header(signed_header)
    if parsed.header.height != height:
        raise LightClientError(
            Check.RPC, f"asked for the commit at {height}, got {parsed.header.height}"
        )
    assert isinstance(signed_header, dict)
    return signed_header


async def fetch_validators(
    rpc_url: str,
    height: int,
    client: httpx.AsyncClient,
    *,
    wait: float = DEFAULT_WAIT,
    poll_interval: float = DEFAULT_POLL_INTERVAL,
) -> list[dict[str, Any]]:
    """Return the validator set at `height` as `/validators` lists it (all pages, in order)."""
    validators: list[dict[str, Any]] = []
    page = 1
    while True:
        params = {"height": str(height), "page": str(page), "per_page": str(VALIDATORS_PER_PAGE)}
        result = await _rpc_waiting(client, rpc_url, "validators", params, wait, poll_interval)
        items, total = result.get("validators"), result.get("total")
        if not isinstance(items, list) or not isinstance(total, str | int):
            raise LightClientError(Check.RPC, "validators: the answer lacks validators or total")
        validators.extend(items)
        if len(validators) >= int(total) or not items:
            break
        page += 1
    parse_validators(validators)
    return validators


async def build_trust_chain(
    rpc_url: str,
    change_heights: Iterable[int],
    client: httpx.AsyncClient,
    *,
    wait: float = DEFAULT_WAIT,
) -> list[dict[str, Any]]:
    """Return the bundle's `trust_chain`: `{"signed_header", "validators"}` at each height of
    `change_heights`, ascending, each height once."""
    chain = []
    for height in sorted(set(change_heights)):
        chain.append(
            {
                "signed_header": await fetch_signed_header(rpc_url, height, client, wait=wait),
                "validators": await fetch_validators(rpc_url, height, client, wait=wait),
            }
        )
    return chain


async def find_validator_set_changes(
    rpc_url: str, first_height: int, last_height: int, client: httpx.AsyncClient
) -> list[int]:
    """Return the heights in (first_height, last_height] whose header's validators_hash differs
    from the previous header's: where a trust chain needs a hop. Reads `/blockchain`, 20 headers
    a call."""
    previous: bytes | None = None
    changes: list[int] = []
    low = first_height
    while low <= last_height:
        high = min(low + BLOCKCHAIN_PAGE - 1, last_height)
        result = await _rpc(
            client, rpc_url, "blockchain", {"minHeight": str(low), "maxHeight": str(high)}
        )
        metas = result.get("block_metas")
        if not isinstance(metas, list) or len(metas) != high - low + 1:
            raise LightClientError(
                Check.RPC, f"blockchain: expected the {high - low + 1} headers {low}..{high}"
            )
        headers = sorted(
            (
                parse_header(meta.get("header") if isinstance(meta, dict) else None)
                for meta in metas
            ),
            key=lambda header: header.height,
        )
        for header in headers:
            if previous is not None and header.validators_hash != previous:
                changes.append(header.height)
            previous = header.validators_hash
        low = high + 1
    return changes
