"""The battery passport's HTTP routes (docs/battery-api.md, docs/modules/battery.md §2).

Public (Annex XIII point 1, anyone): ``GET /battery/{id}`` and ``GET /battery/lookup?identifier=``.

Restricted (point 4: the individual battery's status, owner, history, health, prediction; its
owner, running lessee and manufacturer only): ``/battery/{id}/status``, ``/history``,
``/health``, ``/prediction`` and ``/battery/fleet``. Each needs the passport service's signed
read request (citychain/passport/restricted.py) in the ``X-Citychain-Read-Request`` header, as
hex of ``SignedReadRequest.to_bytes()``: part ``health`` and this battery's id, or, for the
fleet, part ``fleet`` and 32 zero bytes. Missing → 401; malformed → 400; a bad signature,
another chain or a stale request → 401; a request for another battery or part, or a signer the
regulation does not name → 403; each ``{"error": {"code", "codespace", "message"}}`` with the
passport service's code (codespace ``passport``) where there is one.

Writes (register, transfer, set_status, lease, health, prediction) are signed transactions
through ``POST /txs`` like every module's.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import partial
from typing import Annotated, Any

from fastapi import APIRouter, Header, HTTPException, Path, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from citychain.errors import CityError
from citychain.modules.battery.access import HEALTH
from citychain.modules.battery.queries import (
    MAX_PAGE,
    fleet_view,
    health_view,
    history_view,
    passport_view,
    prediction_view,
    status_view,
)
from citychain.modules.battery.state import (
    DAY_MS,
    battery_id_of,
    battery_key,
    get_battery,
    get_params,
    health_key,
    prediction_key,
)
from citychain.node.reads import settled_reads
from citychain.node.service import Node
from citychain.passport import errors as passport_errors
from citychain.passport.errors import RestrictedReadError
from citychain.passport.openings import Opening
from citychain.passport.restricted import (
    FLEET_ID,
    FLEET_PART,
    READ_HEADER,
    SignedReadRequest,
    authenticate,
    authorise,
)

__all__ = ["battery_router"]

BatteryId = Annotated[
    str, Path(pattern="^[0-9a-fA-F]{64}$", description="battery id: 64 hex characters")
]
ReadRequestHeader = Annotated[
    str | None,
    Header(
        alias=READ_HEADER,
        max_length=2_000,
        description="hex of a SignedReadRequest (citychain battery read-request); "
        "required for Annex XIII point 4 data",
    ),
]
MAX_OPENINGS = 1_000  # per POST /battery/openings: an oracle's pass sends one batch a group
# The health curve holds at most this many of a battery's newest opened updates.
MAX_SERIES = 2_000
SERIES_FIELDS = ("soh_permyriad", "equivalent_full_cycles_x100", "remaining_capacity_mah")

GATED: dict[int | str, dict[str, Any]] = {
    400: {"description": 'a malformed read request: {"error": {...}}'},
    401: {"description": 'no read request, a bad signature or a stale one: {"error": {...}}'},
    403: {"description": 'the signer may not read this battery\'s point-4 data: {"error": {...}}'},
    404: {"description": 'no battery with this id: {"error": {...}}'},
}
STATUS_OF: dict[int, int] = {
    passport_errors.MALFORMED_REQUEST.code: 400,
    passport_errors.BAD_SIGNATURE.code: 401,
    passport_errors.WRONG_CHAIN.code: 401,
    passport_errors.STALE_REQUEST.code: 401,
    passport_errors.UNKNOWN_BATTERY.code: 404,
    passport_errors.UNKNOWN_PART.code: 403,
    passport_errors.NOT_AUTHORISED.code: 403,
    passport_errors.REPLAYED_REQUEST.code: 401,
    passport_errors.PART_NOT_HELD.code: 404,
}


# Refusals of a delivered opening: the request is wrong (400) or does not fit the ledger (409).
OPENING_STATUS: dict[int, int] = {
    passport_errors.UNKNOWN_PART.code: 400,
    passport_errors.BAD_VALUES.code: 400,
    passport_errors.COMMITMENT_MISMATCH.code: 409,
    passport_errors.NOT_COMMITTED.code: 409,
    passport_errors.NOT_MONOTONE.code: 409,
}
OPENING_REFUSALS: dict[int | str, dict[str, Any]] = {
    400: {"description": 'an unknown part, a bad salt or bad values: {"error": {...}}'},
    404: {"description": "no battery with this id"},
    409: {
        "description": "the fields do not open the ledger's current commitment, there is "
        'none yet, or a counter went down: {"error": {...}}'
    },
}


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


class Refused(Exception):
    """A restricted read refused: carries the API's error response."""

    def __init__(self, status: int, code: int, codespace: str, message: str) -> None:
        super().__init__(message)
        self.response = JSONResponse(
            status_code=status,
            content={"error": {"code": code, "codespace": codespace, "message": message}},
        )


def _refused(exc: CityError) -> Refused:
    return Refused(STATUS_OF.get(exc.code, 403), exc.code, exc.codespace, exc.message)


def _parse(header: str | None) -> SignedReadRequest:
    if header is None:
        raise Refused(
            401,
            0,
            "api",
            "this is Annex XIII point 4 data (owner, lessee and manufacturer only): send a "
            f"signed read request in the {READ_HEADER} header (citychain battery read-request)",
        )
    try:
        raw = bytes.fromhex(header)
    except ValueError:
        raw = b""
    if not raw or 2 * len(raw) != len(header):
        raise _refused(
            RestrictedReadError(passport_errors.MALFORMED_REQUEST, f"{READ_HEADER} must be hex")
        )
    try:
        return SignedReadRequest.from_bytes(raw)
    except RestrictedReadError as exc:
        raise _refused(exc) from None


def battery_router(node: Node) -> APIRouter:
    router = APIRouter(prefix="/battery", tags=["battery"])
    app = node.app

    settle = partial(settled_reads, node)

    def scan(prefix: bytes) -> list[tuple[bytes, bytes]]:
        return list(app.committed.items_with_prefix(prefix))

    def known(battery_id: str) -> bytes:
        raw = bytes.fromhex(battery_id)
        if get_battery(app.committed, raw) is None:
            raise HTTPException(404, f"no battery {battery_id.lower()}")
        return raw

    def reader_of(header: str | None, battery_id: bytes) -> bytes:
        """The authenticated reader of ``battery_id``'s point-4 data, or Refused."""
        signed = _parse(header)
        request = signed.request
        if request.battery_id != battery_id or request.part != HEALTH:
            raise Refused(
                403,
                passport_errors.NOT_AUTHORISED.code,
                passport_errors.CODESPACE,
                f"the read request is for part {request.part!r} of {request.battery_id.hex()}, "
                f"not {HEALTH!r} of {battery_id.hex()}",
            )
        try:
            return authorise(
                signed,
                app.committed,
                app.height,
                chain_id=app.chain_id,
                now_ms=int(time.time() * 1000),
            )
        except RestrictedReadError as exc:
            raise _refused(exc) from None

    def fleet_reader(header: str | None) -> bytes:
        """The signer of a fresh fleet request: the same checks as ``authorise`` up to the
        battery, which a fleet request has none of."""
        signed = _parse(header)
        request = signed.request
        try:
            reader = authenticate(signed, chain_id=app.chain_id, now_ms=int(time.time() * 1000))
        except RestrictedReadError as exc:
            raise _refused(exc) from None
        if request.part != FLEET_PART or request.battery_id != FLEET_ID:
            raise Refused(
                403,
                passport_errors.UNKNOWN_PART.code,
                passport_errors.CODESPACE,
                f"the fleet needs a request for part {FLEET_PART!r} with a zero battery id, "
                f"got {request.part!r}",
            )
        return reader

    async def proof(key: bytes) -> dict[str, Any]:
        try:
            return await node.prove(key, {"kind": "raw"})
        except LookupError as exc:
            raise HTTPException(404, str(exc)) from None

    def today() -> int | None:
        latest = app.last_block
        return latest.time_ms // DAY_MS if latest is not None else None

    # --- public ---------------------------------------------------------------------------
    @router.get("/lookup", responses={404: GATED[404]})
    async def lookup(
        identifier: Annotated[
            str,
            Query(
                min_length=1,
                max_length=64,
                pattern="^[A-Za-z0-9][A-Za-z0-9._:/-]*$",
                description="the identifier printed on the battery and in its QR code",
            ),
        ],
    ) -> dict[str, Any]:
        """The public passport of the battery printed with ``identifier``."""
        await settle()
        view = passport_view(app.committed, battery_id_of(identifier))
        if view is None:
            raise HTTPException(404, f"no battery with identifier {identifier!r}")
        return {**view, "height": app.height}

    @router.get("/fleet", responses=GATED)
    async def fleet(
        read_request: ReadRequestHeader = None,
        limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
        after: Annotated[
            str | None, Query(pattern="^([0-9a-fA-F]{2}){36}$", description="the `next` cursor")
        ] = None,
    ) -> Any:
        """The batteries whose point-4 data the signer may read (as owner, running lessee or
        manufacturer), soonest predicted end of life first, each with ``days_left`` from the
        last block's day and ``due`` when within the chain's horizon (default 30 days)."""
        await settle()
        try:
            reader = fleet_reader(read_request)
        except Refused as refused:
            return refused.response
        view = fleet_view(app.committed, scan, reader, app.height, after=after, limit=limit)
        horizon = get_params(app.committed).horizon_days
        day = today()
        for entry in view["batteries"]:
            days_left = entry["eol_day"] - day if day is not None else None
            entry["days_left"] = days_left
            entry["due"] = days_left is not None and days_left <= horizon
        return {**view, "today_day": day, "horizon_days": horizon, "height": app.height}

    @router.get("/{battery_id}", responses={404: GATED[404]})
    async def passport(battery_id: BatteryId) -> dict[str, Any]:
        """Annex XIII point 1: the public passport, its manufacturer and the commitments to
        points 2 and 3. No proof here: the proven state value holds point-4 data too."""
        await settle()
        view = passport_view(app.committed, bytes.fromhex(battery_id))
        if view is None:
            raise HTTPException(404, f"no battery {battery_id.lower()}")
        return {**view, "height": app.height}

    # --- restricted (Annex XIII point 4) --------------------------------------------------
    async def gated(
        battery_id: str,
        read_request: str | None,
        prove: bool,
        key_of: Callable[[bytes], bytes],
        build: Callable[[bytes, bytes], dict[str, Any]],
    ) -> Any:
        """One restricted read: the battery must exist, the signed read request must let its
        signer read this battery's point-4 data, then ``build(raw_id, reader)`` answers, with
        a proof of ``key_of(raw_id)`` when asked."""
        await settle()
        raw = known(battery_id)
        try:
            reader = reader_of(read_request, raw)
        except Refused as refused:
            return refused.response
        out = {**build(raw, reader), "height": app.height}
        if prove:
            out["proof"] = await proof(key_of(raw))
        return out

    @router.get("/{battery_id}/status", responses=GATED)
    async def status(
        battery_id: BatteryId, read_request: ReadRequestHeader = None, prove: bool = False
    ) -> Any:
        """Lifecycle status, owner and running lease."""
        return await gated(
            battery_id,
            read_request,
            prove,
            battery_key,
            lambda raw, reader: status_view(app.committed, raw, reader, app.height),
        )

    @router.get("/{battery_id}/history", responses=GATED)
    async def history(
        battery_id: BatteryId, read_request: ReadRequestHeader = None, prove: bool = False
    ) -> Any:
        """Registration, status changes, transfers and leases, oldest first."""
        return await gated(
            battery_id,
            read_request,
            prove,
            battery_key,
            lambda raw, reader: {
                "id": raw.hex(),
                "history": history_view(app.committed, raw, reader, app.height),
            },
        )

    def health_answer(raw: bytes, reader: bytes) -> dict[str, Any]:
        battery = get_battery(app.committed, raw)
        assert battery is not None  # known() checked it
        ledger = health_view(app.committed, raw, reader, app.height)
        latest = None
        if ledger is not None:
            opening = node.openings.get(raw, HEALTH, bytes.fromhex(ledger["commitment"]))
            latest = {**ledger, "opened": opening is not None}
            if opening is not None:
                latest.update(opening.fields, salt=opening.salt.hex())
        openings, complete = node.openings.series(raw, HEALTH, MAX_SERIES)
        return {
            "id": raw.hex(),
            "health": latest,
            "series": [
                {
                    "height": o.height,
                    "time_ms": o.time_ms,
                    "commitment": o.commitment.hex(),
                    **{name: o.fields[name] for name in SERIES_FIELDS},
                }
                for o in openings
            ],
            "series_complete": complete,
            "capacity_threshold_permille": battery.passport.capacity_threshold_permille,
            "expected_lifetime_cycles": battery.passport.expected_lifetime_cycles,
        }

    @router.get("/{battery_id}/health", responses=GATED)
    async def health(
        battery_id: BatteryId, read_request: ReadRequestHeader = None, prove: bool = False
    ) -> Any:
        """The latest health update (``health``, null before the first): the ledger's record
        (commitment, telemetry batch, height, oracle) and, when this node holds its opening,
        the values and salt (``opened``). ``series``: the state of health over cycles and time
        from the openings this node holds, oldest first (``series_complete`` false when only
        the newest are given)."""
        return await gated(battery_id, read_request, prove, health_key, health_answer)

    def prediction_answer(raw: bytes, reader: bytes) -> dict[str, Any]:
        view = prediction_view(app.committed, raw, reader, app.height)
        horizon = get_params(app.committed).horizon_days
        day = today()
        if view is not None and day is not None:
            view["days_left"] = view["eol_day"] - day
            view["due"] = view["days_left"] <= horizon
        return {"id": raw.hex(), "prediction": view, "horizon_days": horizon, "today_day": day}

    @router.get("/{battery_id}/prediction", responses=GATED)
    async def prediction(
        battery_id: BatteryId, read_request: ReadRequestHeader = None, prove: bool = False
    ) -> Any:
        """The latest attested end of life with its 80 % interval in cycles (null before the
        first), and ``days_left``/``due`` against the chain's replacement horizon."""
        return await gated(battery_id, read_request, prove, prediction_key, prediction_answer)

    # --- openings of restricted parts (citychain/passport/openings.py) ----------------------
    @router.get("/{battery_id}/parts/{part}", responses=GATED)
    async def part(
        battery_id: BatteryId,
        part: Annotated[str, Path(pattern="^[a-z_]{1,32}$")],
        read_request: ReadRequestHeader = None,
    ) -> Any:
        """A restricted part in clear (``composition``: Annex XIII point 2; ``test_reports``:
        point 3; ``health``: the latest health values) with the salt that opens the ledger's
        current commitment, for a signed read request for exactly this battery and part whose
        signer the regulation names; 404 (code 8) when this node holds no opening of it."""
        await settle()
        raw = known(battery_id)
        signed = _parse(read_request)
        if signed.request.battery_id != raw or signed.request.part != part:
            return Refused(
                403,
                passport_errors.NOT_AUTHORISED.code,
                passport_errors.CODESPACE,
                f"the read request is for part {signed.request.part!r} of "
                f"{signed.request.battery_id.hex()}, not {part!r} of {raw.hex()}",
            ).response
        try:
            served = node.passport_service.serve(
                signed,
                app.committed,
                app.height,
                now_ms=int(time.time() * 1000),
                chain_id=app.chain_id,
            )
        except RestrictedReadError as exc:
            return _refused(exc).response
        return {**_opening_view(served), "height": app.height}

    # Three path segments: "/battery/openings" would also match GET /battery/{battery_id}, and
    # its Allow header would then name GET only.
    @router.post(
        "/openings/batch",
        responses={
            400: {"description": 'a body that is not JSON: {"error": {...}}'},
            422: {"description": "a malformed body"},
        },
    )
    async def deliver_openings(body: OpeningsBody) -> dict[str, Any]:
        """Deliver up to 1,000 openings at once (the oracle's daily pass): each is checked as
        by ``POST /battery/{id}/openings`` and answered in order, kept or refused with its
        error; one refusal does not stop the others."""
        await settle()
        results: list[dict[str, Any]] = []
        for item in body.openings:
            raw = bytes.fromhex(item.battery_id)
            try:
                opening = node.openings.accept(
                    app.committed, raw, item.part, item.fields, bytes.fromhex(item.salt)
                )
            except RestrictedReadError as exc:
                error = {"code": exc.code, "codespace": exc.codespace, "message": exc.message}
                results.append({"battery_id": item.battery_id, "error": error})
                continue
            view = _opening_view(opening)
            del view["fields"], view["salt"]
            results.append(view)
        return {"results": results, "kept": sum("error" not in r for r in results)}

    @router.post("/{battery_id}/openings", status_code=201, responses=OPENING_REFUSALS)
    async def deliver_opening(battery_id: BatteryId, body: OpeningBody) -> Any:
        """Deliver the opening of a commitment the ledger holds now (the manufacturer after
        registration, the oracle after each health update). Anyone may: the node keeps it
        only if the fields and salt open the ledger's commitment, and, for the health, the
        values are within range and the counters have not gone down."""
        await settle()
        raw = known(battery_id)
        try:
            salt = bytes.fromhex(body.salt)
        except ValueError:
            salt = b""
        try:
            opening = node.openings.accept(app.committed, raw, body.part, body.fields, salt)
        except RestrictedReadError as exc:
            return Refused(
                OPENING_STATUS.get(exc.code, 400), exc.code, exc.codespace, exc.message
            ).response
        view = _opening_view(opening)
        del view["fields"], view["salt"]
        return view

    return router
