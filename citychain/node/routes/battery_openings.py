"""The openings of a battery's restricted parts on the node's API (docs/battery-api.md): the
clear values and salt of a commitment the ledger holds (Annex XIII points 2 and 3, and each
health update), delivered by the manufacturer and the oracle and served to the readers the
regulation names. They are kept beside the chain, never on it (citychain/passport/openings.py).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path
from pydantic import BaseModel, ConfigDict, Field
from starlette import status

from citychain.node.routes.battery_access import (
    GATED,
    BatteryId,
    ReadRequestHeader,
    Refused,
    known_battery,
    now_ms,
    parse_read_request,
    refused,
)
from citychain.node.routes.deps import EngineRoute, NodeDep, settled_reads
from citychain.passport import errors as passport_errors
from citychain.passport.errors import RestrictedReadError
from citychain.passport.openings import Opening

__all__ = ["router"]

MAX_OPENINGS = 1_000  # per POST /battery/openings/batch: an oracle's pass sends one batch a group

# Refusals of a delivered opening: the request is wrong (400) or does not fit the ledger (409).
OPENING_STATUS: dict[int, int] = {
    passport_errors.UNKNOWN_PART.code: status.HTTP_400_BAD_REQUEST,
    passport_errors.BAD_VALUES.code: status.HTTP_400_BAD_REQUEST,
    passport_errors.COMMITMENT_MISMATCH.code: status.HTTP_409_CONFLICT,
    passport_errors.NOT_COMMITTED.code: status.HTTP_409_CONFLICT,
    passport_errors.NOT_MONOTONE.code: status.HTTP_409_CONFLICT,
}
OPENING_REFUSALS: dict[int | str, dict[str, Any]] = {
    status.HTTP_400_BAD_REQUEST: {
        "description": 'an unknown part, a bad salt or bad values: {"error": {...}}'
    },
    status.HTTP_404_NOT_FOUND: {"description": "no battery with this id"},
    status.HTTP_409_CONFLICT: {
        "description": "the fields do not open the ledger's current commitment, there is "
        'none yet, or a counter went down: {"error": {...}}'
    },
}

router = APIRouter(prefix="/battery", tags=["battery"], route_class=EngineRoute)


class OpeningBody(BaseModel):
    """An opening: the part's fields as committed and the salt, 64 hex characters."""

    model_config = ConfigDict(extra="forbid")
    part: str = Field(max_length=32)
    fields: dict[str, Any]
    salt: str = Field(pattern="^[0-9a-fA-F]{64}$")


class OpeningItem(OpeningBody):
    battery_id: str = Field(pattern="^[0-9a-fA-F]{64}$")


class OpeningsBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    openings: list[OpeningItem] = Field(min_length=1, max_length=MAX_OPENINGS)


def _opening_view(opening: Opening) -> dict[str, Any]:
    return {
        "battery_id": opening.battery_id.hex(),
        "part": opening.part,
        "commitment": opening.commitment.hex(),
        "committed_height": opening.height,
        "fields": dict(opening.fields),
        "salt": opening.salt.hex(),
    }


def _receipt(opening: Opening) -> dict[str, Any]:
    """An opening kept: what it opens, without the fields and salt it was delivered with."""
    view = _opening_view(opening)
    del view["fields"], view["salt"]
    return view


@router.get("/{battery_id}/parts/{part}", responses=GATED)
async def part(
    battery_id: BatteryId,
    part: Annotated[str, Path(pattern="^[a-z_]{1,32}$")],
    node: NodeDep,
    read_request: ReadRequestHeader = None,
) -> Any:
    """A restricted part in clear (``composition``: Annex XIII point 2; ``test_reports``:
    point 3; ``health``: the latest health values) with the salt that opens the ledger's
    current commitment, for a signed read request for this node, exactly this battery and
    part and its route, whose signer the regulation names, answered once; 404 (code 8) when
    this node holds no opening of it."""
    await settled_reads(node)
    app = node.app
    raw = known_battery(node.app, battery_id)
    try:
        signed = parse_read_request(read_request)
    except Refused as refusal:
        return refusal.response
    if signed.request.battery_id != raw or signed.request.part != part:
        return Refused(
            status.HTTP_403_FORBIDDEN,
            passport_errors.NOT_AUTHORISED.code,
            passport_errors.CODESPACE,
            f"the read request is for part {signed.request.part!r} of "
            f"{signed.request.battery_id.hex()}, not {part!r} of {raw.hex()}",
        ).response
    try:
        served = node.passport_service.serve(
            signed, app.committed, app.height, now_ms=now_ms(), chain_id=app.chain_id
        )
    except RestrictedReadError as exc:
        return refused(exc).response
    return {**_opening_view(served), "height": app.height}


# Three path segments: "/battery/openings" would also match GET /battery/{battery_id}, and
# its Allow header would then name GET only.
@router.post(
    "/openings/batch",
    responses={
        status.HTTP_400_BAD_REQUEST: {"description": 'a body that is not JSON: {"error": {...}}'},
        status.HTTP_422_UNPROCESSABLE_CONTENT: {"description": "a malformed body"},
    },
)
async def deliver_openings(body: OpeningsBody, node: NodeDep) -> dict[str, Any]:
    """Deliver up to 1,000 openings at once (the oracle's daily pass): each is checked as
    by ``POST /battery/{id}/openings`` and answered in order, kept or refused with its
    error; one refusal does not stop the others."""
    await settled_reads(node)
    results: list[dict[str, Any]] = []
    for item in body.openings:
        raw = bytes.fromhex(item.battery_id)
        try:
            opening = node.openings.accept(
                node.app.committed, raw, item.part, item.fields, bytes.fromhex(item.salt)
            )
        except RestrictedReadError as exc:
            error = {"code": exc.code, "codespace": exc.codespace, "message": exc.message}
            results.append({"battery_id": item.battery_id, "error": error})
            continue
        results.append(_receipt(opening))
    return {"results": results, "kept": sum("error" not in r for r in results)}


@router.post(
    "/{battery_id}/openings", status_code=status.HTTP_201_CREATED, responses=OPENING_REFUSALS
)
async def deliver_opening(battery_id: BatteryId, body: OpeningBody, node: NodeDep) -> Any:
    """Deliver the opening of a commitment the ledger holds now (the manufacturer after
    registration, the oracle after each health update). Anyone may: the node keeps it
    only if the fields and salt open the ledger's commitment, and, for the health, the
    values are within range and the counters have not gone down."""
    await settled_reads(node)
    raw = known_battery(node.app, battery_id)
    try:
        salt = bytes.fromhex(body.salt)
    except ValueError:
        salt = b""
    try:
        opening = node.openings.accept(node.app.committed, raw, body.part, body.fields, salt)
    except RestrictedReadError as exc:
        return Refused(
            OPENING_STATUS.get(exc.code, status.HTTP_400_BAD_REQUEST),
            exc.code,
            exc.codespace,
            exc.message,
        ).response
    return _receipt(opening)
