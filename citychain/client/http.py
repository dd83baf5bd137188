"""A synchronous HTTP client for the node API (see the OpenAPI document at /openapi.json).

``https://`` URLs are verified against the system's authorities, or against ``ca_file`` (else
``$CITYCHAIN_CA_FILE``): a bundle of authorities, or a node's own self-signed certificate.
``operator_token`` (the node's HOME/operator-token) is sent only to the operator routes.
"""

from __future__ import annotations

import os
import ssl
from http import HTTPStatus
from pathlib import Path
from typing import Any

import httpx

from citychain.client.errors import ApiError

__all__ = ["CA_FILE_ENV", "Client", "tls_context"]

CA_FILE_ENV = "CITYCHAIN_CA_FILE"
# One POST /txs/batch: at most the solo engine's default block of transactions, and bytes whose
# hex, with the JSON around it, stays under the API's default 4 MiB body limit.
BATCH_MAX_TXS = 5_000
BATCH_MAX_BYTES = 1_536 * 1024
READ_REQUEST_HEADER = "X-Citychain-Read-Request"  # a battery read request (docs/battery-api.md)


def _batches(raws: list[bytes]) -> list[list[bytes]]:
    batches: list[list[bytes]] = [[]]
    size = 0
    for raw in raws:
        current = batches[-1]
        if current and (len(current) >= BATCH_MAX_TXS or size + len(raw) > BATCH_MAX_BYTES):
            batches.append([])
            size = 0
        batches[-1].append(raw)
        size += len(raw)
    return batches if raws else []


def tls_context(ca_file: str | Path | None) -> ssl.SSLContext:
    """Verification of a node's certificate: against ``ca_file`` when given (where a
    certificate that is not an authority's, such as a node's self-signed one, is trusted as
    it is), else against the system's authorities."""
    if ca_file is None:
        return ssl.create_default_context()
    try:
        context = ssl.create_default_context(cafile=str(ca_file))
    except (OSError, ssl.SSLError) as exc:
        raise ApiError(0, f"cannot use the CA file {ca_file}: {exc}") from None
    context.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN
    return context


class Client:
    def __init__(
        self,
        url: str,
        timeout: float = 60.0,
        *,
        ca_file: str | Path | None = None,
        operator_token: str | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        self.operator_token = operator_token
        if ca_file is None:
            ca_file = os.environ.get(CA_FILE_ENV) or None
        verify = tls_context(ca_file) if self.url.startswith("https://") else True
        self._http = httpx.Client(base_url=self.url, timeout=timeout, verify=verify)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def _request(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise ApiError(0, f"cannot reach the node at {self.url}: {exc}") from None
        try:
            body = response.json()
        except ValueError:
            body = None
        if response.status_code >= HTTPStatus.BAD_REQUEST:
            message = response.text
            if isinstance(body, dict) and isinstance(body.get("error"), dict):
                message = str(body["error"].get("message", message))
            raise ApiError(response.status_code, message)
        if body is None and response.status_code != HTTPStatus.NO_CONTENT:
            return response.text
        return body

    # --- node -----------------------------------------------------------------------------
    def health(self) -> dict[str, Any]:
        result: dict[str, Any] = self._request("GET", "/health")
        return result

    def status(self) -> dict[str, Any]:
        result: dict[str, Any] = self._request("GET", "/status")
        return result

    def metrics(self) -> str:
        """The node's Prometheus metrics (text); an operator route: needs ``operator_token``."""
        headers = {}
        if self.operator_token:
            headers["Authorization"] = f"Bearer {self.operator_token}"
        return str(self._request("GET", "/metrics", headers=headers))

    # --- transactions ---------------------------------------------------------------------
    def broadcast(self, raw: bytes, wait: bool = False) -> dict[str, Any]:
        """Submit one signed transaction; ``wait`` returns only after its block commits."""
        mode = "commit" if wait else "sync"
        result: dict[str, Any] = self._request("POST", "/txs", json={"tx": raw.hex(), "mode": mode})
        return result

    def broadcast_batch(self, raws: list[bytes], wait: bool = False) -> list[dict[str, Any]]:
        """Submit signed transactions, each answered in order. A batch larger than the API
        takes in one request (one block's worth, within its body limit) goes in several."""
        mode = "commit" if wait else "sync"
        results: list[dict[str, Any]] = []
        for part in _batches(raws):
            body = self._request(
                "POST", "/txs/batch", json={"txs": [r.hex() for r in part], "mode": mode}
            )
            results.extend(body["results"])
        return results

    def tx(self, tx_hash: str) -> dict[str, Any]:
        result: dict[str, Any] = self._request("GET", f"/txs/{tx_hash}")
        return result

    # --- blocks and state -----------------------------------------------------------------
    def block(self, height: int | None = None) -> dict[str, Any]:
        path = "/blocks/latest" if height is None else f"/blocks/{height}"
        result: dict[str, Any] = self._request("GET", path)
        return result

    def blocks(self, limit: int = 20) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._request("GET", "/blocks", params={"limit": limit})[
            "blocks"
        ]
        return result

    def account(self, address: str) -> dict[str, Any]:
        result: dict[str, Any] = self._request("GET", f"/accounts/{address}")
        return result

    def account_txs(self, address: str, limit: int = 50) -> list[dict[str, Any]]:
        body = self._request("GET", f"/accounts/{address}/txs", params={"limit": limit})
        result: list[dict[str, Any]] = body["txs"]
        return result

    def balance(self, address: str, denom: str = "ccy", prove: bool = False) -> dict[str, Any]:
        params = {"prove": "true"} if prove else {}
        result: dict[str, Any] = self._request(
            "GET", f"/accounts/{address}/balances/{denom}", params=params
        )
        return result

    def state(self, key: bytes, prove: bool = False) -> dict[str, Any]:
        params = {"prove": "true"} if prove else {}
        result: dict[str, Any] = self._request("GET", f"/state/{key.hex()}", params=params)
        return result

    def payment_request(self, request_id: str) -> dict[str, Any]:
        result: dict[str, Any] = self._request("GET", f"/bank/requests/{request_id}")
        return result

    def supply(self) -> dict[str, int]:
        result: dict[str, int] = self._request("GET", "/bank/supply")["supply"]
        return result

    def nonce(self, address: str) -> int:
        return int(self.account(address)["nonce"])

    # --- consortium (docs/modules/consortium.md) ------------------------------------------
    def consortium_members(self) -> dict[str, Any]:
        result: dict[str, Any] = self._request("GET", "/consortium/members")
        return result

    def consortium_proposals(self, limit: int = 50, before: int | None = None) -> dict[str, Any]:
        params: dict[str, Any] = {"limit": limit}
        if before is not None:
            params["before"] = before
        result: dict[str, Any] = self._request("GET", "/consortium/proposals", params=params)
        return result

    def consortium_proposal(self, proposal_id: int) -> dict[str, Any]:
        result: dict[str, Any] = self._request("GET", f"/consortium/proposals/{proposal_id}")
        return result

    def consortium_roles(self) -> dict[str, Any]:
        result: dict[str, Any] = self._request("GET", "/consortium/roles")
        return result

    # --- registry -------------------------------------------------------------------------
    def registry_record(self, record_id: str) -> dict[str, Any]:
        result: dict[str, Any] = self._request("GET", f"/registry/records/{record_id}")
        return result

    def registry_versions(self, record_id: str) -> list[dict[str, Any]]:
        result = self._request("GET", f"/registry/records/{record_id}/versions")
        versions: list[dict[str, Any]] = result["versions"]
        return versions

    def registry_proof(self, record_id: str) -> dict[str, Any]:
        """A proof bundle of the record version ``record_id`` at the last block."""
        result: dict[str, Any] = self._request("GET", f"/registry/records/{record_id}/proof")
        return result

    def verify_certificate(self, bundle: dict[str, Any]) -> dict[str, Any]:
        """The node's verdict on a certificate bundle (its genesis validators trusted)."""
        result: dict[str, Any] = self._request("POST", "/registry/verify", json=bundle)
        return result

    # --- battery (docs/battery-api.md) ----------------------------------------------------
    # Point-4 reads take ``read_request``: the header value from citychain.client.battery
    # (read_request / fleet_read_request), signed by the owner, lessee or manufacturer.
    def battery_passport(self, battery_id: str) -> dict[str, Any]:
        """The public passport (Annex XIII point 1) of the battery with this 64-hex id."""
        result: dict[str, Any] = self._request("GET", f"/battery/{battery_id}")
        return result

    def battery_lookup(self, identifier: str) -> dict[str, Any]:
        """The public passport of the battery printed with ``identifier``."""
        result: dict[str, Any] = self._request(
            "GET", "/battery/lookup", params={"identifier": identifier}
        )
        return result

    def _read_gated(
        self, path: str, read_request: str, params: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """A GET behind the battery read gate, with the signed ``read_request`` header."""
        result: dict[str, Any] = self._request(
            "GET", path, params=params or {}, headers={READ_REQUEST_HEADER: read_request}
        )
        return result

    def _battery_gated(
        self, battery_id: str, what: str, read_request: str, prove: bool, after: int | None = None
    ) -> dict[str, Any]:
        params: dict[str, Any] = {} if after is None else {"after": after}
        if prove:
            params["prove"] = "true"
        return self._read_gated(f"/battery/{battery_id}/{what}", read_request, params)

    def battery_status(
        self, battery_id: str, read_request: str, prove: bool = False
    ) -> dict[str, Any]:
        return self._battery_gated(battery_id, "status", read_request, prove)

    def battery_history(
        self, battery_id: str, read_request: str, prove: bool = False, after: int | None = None
    ) -> dict[str, Any]:
        """One page of the battery's history (``next``: the ``after`` of the next page)."""
        return self._battery_gated(battery_id, "history", read_request, prove, after)

    def battery_health(
        self, battery_id: str, read_request: str, prove: bool = False
    ) -> dict[str, Any]:
        return self._battery_gated(battery_id, "health", read_request, prove)

    def battery_prediction(
        self, battery_id: str, read_request: str, prove: bool = False
    ) -> dict[str, Any]:
        return self._battery_gated(battery_id, "prediction", read_request, prove)

    def battery_part(self, battery_id: str, part: str, read_request: str) -> dict[str, Any]:
        """A restricted part in clear with its salt (``read_request`` signed for this part);
        check it with ``citychain.passport.restricted.verify_served`` before trusting it."""
        return self._read_gated(f"/battery/{battery_id}/parts/{part}", read_request)

    def deliver_opening(
        self, battery_id: str, part: str, fields: dict[str, Any], salt: bytes
    ) -> dict[str, Any]:
        """Give the node the opening of the ledger's current commitment to ``part``."""
        result: dict[str, Any] = self._request(
            "POST",
            f"/battery/{battery_id}/openings",
            json={"part": part, "fields": fields, "salt": salt.hex()},
        )
        return result

    def deliver_openings(self, openings: list[dict[str, Any]]) -> dict[str, Any]:
        """Give the node many openings at once: each ``{battery_id, part, fields, salt}``
        (salt as hex); the answer lists each one kept or refused, in order."""
        result: dict[str, Any] = self._request(
            "POST", "/battery/openings/batch", json={"openings": openings}
        )
        return result

    def battery_fleet(
        self, read_request: str, limit: int = 50, after: str | None = None
    ) -> dict[str, Any]:
        """One page of the signer's fleet: the battery holdings it owns, then leases."""
        params: dict[str, Any] = {"limit": limit}
        if after is not None:
            params["after"] = after
        return self._read_gated("/battery/fleet", read_request, params)
