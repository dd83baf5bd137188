"""The battery passport's HTTP routes (docs/battery-api.md, docs/modules/battery.md §2).

Public (Annex XIII point 1, anyone): ``GET /battery/{id}`` and ``GET /battery/lookup?identifier=``.
The public record holds nothing of point 4, so it may be proven (``?prove=true``).

Restricted (point 4: the individual battery's status, owner, history, health, prediction; its
owner, running lessee and manufacturer only): ``/battery/{id}/status``, ``/history``,
``/health``, ``/prediction`` and ``/battery/fleet``. Each needs the passport service's signed
read request in the ``X-Citychain-Read-Request`` header, as hex of
``SignedReadRequest.to_bytes()``, for this node and route: part ``health`` and this battery's
id, or, for the fleet, part ``fleet`` and 32 zero bytes (the gate: battery_access.py). Status
and history are the battery's holding, which the ledger does not link to the battery: the
request carries the holding secret (its ``holding`` field), and the node checks it against the
public record's commitment. Each refusal is ``{"error": {"code", "codespace", "message"}}``
with the passport service's code (codespace ``passport``) where there is one.

Openings of the restricted parts (points 2 and 3, and the health values) are delivered to and
served by this node beside the chain: battery_openings.py.

Writes (register, open_holding, transfer, set_status, lease, health, prediction) are signed
transactions through ``POST /txs`` like every module's.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query
from starlette import status

from citychain.modules.battery import (
    DAY_MS,
    HEALTH,
    MAX_PAGE,
    BatteryError,
    Readable,
    battery_id_of,
    battery_key,
    fleet_view,
    get_params,
    health_key,
    health_record,
    history_page,
    holding_key,
    holding_view,
    passport_view,
    prediction_key,
    prediction_record,
)
from citychain.node.routes.battery_access import (
    GATED,
    BatteryId,
    ReadRequestHeader,
    Refused,
    fleet_reader,
    known_battery,
    parse_read_request,
    reader_of,
)
from citychain.node.routes.deps import EngineRoute, NodeDep, proof_of, settled_reads
from citychain.node.service import Node

__all__ = ["router"]

# The health curve holds at most this many of a battery's newest opened updates.
MAX_SERIES = 2_000
SERIES_FIELDS = ("soh_permyriad", "equivalent_full_cycles_x100", "remaining_capacity_mah")
# A fleet cursor: the index (o: owned, l: leased) and holding id of the last entry given.
FLEET_CURSOR = "^[ol]:[0-9a-fA-F]{64}$"
# An answer and the state key a proof of it proves.
Answer = tuple[dict[str, Any], bytes]

router = APIRouter(prefix="/battery", tags=["battery"], route_class=EngineRoute)


def _today(node: Node) -> int | None:
    """The day of the last block (days since the epoch), the clock of ``days_left``."""
    latest = node.app.last_block
    return latest.time_ms // DAY_MS if latest is not None else None


# --- public ---------------------------------------------------------------------------------
@router.get("/lookup", responses={status.HTTP_404_NOT_FOUND: GATED[status.HTTP_404_NOT_FOUND]})
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
    node: NodeDep,
) -> dict[str, Any]:
    """The public passport of the battery printed with ``identifier``."""
    await settled_reads(node)
    view = passport_view(node.app.committed, battery_id_of(identifier))
    if view is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no battery with identifier {identifier!r}")
    return {**view, "height": node.app.height}


@router.get("/fleet", responses=GATED)
async def fleet(
    node: NodeDep,
    read_request: ReadRequestHeader = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
    after: Annotated[
        str | None, Query(pattern=FLEET_CURSOR, description="the `next` cursor")
    ] = None,
) -> Any:
    """The battery holdings the signer owns, then those it leases while the lease runs (the
    owner and lessee indexes: a range read, then one state read per entry). Battery ids are
    not given: the ledger does not link a holding to its battery (the holder's holding files
    do)."""
    await settled_reads(node)
    app = node.app
    try:
        reader = fleet_reader(node, read_request)
    except Refused as refusal:
        return refusal.response
    # The indexes read as ranges of the store's ordered state table: settled_reads just made
    # the store hold exactly app.committed, and nothing awaits in between.
    view = fleet_view(
        app.committed, app.store.state_keys_after, reader, app.height, after=after, limit=limit
    )
    return {**view, "height": app.height}


@router.get(
    "/{battery_id}", responses={status.HTTP_404_NOT_FOUND: GATED[status.HTTP_404_NOT_FOUND]}
)
async def passport(battery_id: BatteryId, node: NodeDep, prove: bool = False) -> dict[str, Any]:
    """Annex XIII point 1: the public passport, its manufacturer and the commitments to
    points 2 and 3 and to its holding; with ``prove``, a proof of the public record
    (``bat/b/<id>``), which holds nothing else."""
    await settled_reads(node)
    raw = bytes.fromhex(battery_id)
    view = passport_view(node.app.committed, raw)
    if view is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no battery {battery_id.lower()}")
    out = {**view, "height": node.app.height}
    if prove:
        out["proof"] = await proof_of(node, battery_key(raw))
    return out


# --- restricted (Annex XIII point 4) --------------------------------------------------------
async def _gated(
    node: Node,
    route: str,
    battery_id: str,
    read_request: str | None,
    prove: bool,
    build: Callable[[Node, Readable], Answer],
) -> Any:
    """One restricted read of ``route`` (its name: status, history, health, prediction): the
    battery must exist, the signed read request must be for this node and route and let its
    signer read this battery's point-4 data, then ``build(node, readable)`` answers with what
    the request was authorised for (the holding its secret opens), with a proof of the key it
    names when asked."""
    await settled_reads(node)
    app = node.app
    raw = known_battery(app, battery_id)
    try:
        # authorise() (through reader_of) refuses status and history without a holding secret,
        # before the request's nonce is spent.
        admitted = reader_of(node, parse_read_request(read_request), raw, route)
    except Refused as refusal:
        return refusal.response
    try:
        answer, key = build(node, admitted)
    except BatteryError as exc:
        return Refused(status.HTTP_403_FORBIDDEN, exc.code, exc.codespace, exc.message).response
    out = {**answer, "height": app.height}
    if prove:
        out["proof"] = await proof_of(node, key)
    return out


def _status_answer(node: Node, r: Readable) -> Answer:
    holding_id, holding = r.held()
    view = holding_view(holding_id, holding, node.app.height)
    return {"id": r.battery_id.hex(), **view}, holding_key(holding_id)


def _history_answer(after: int | None, limit: int) -> Callable[[Node, Readable], Answer]:
    def build(node: Node, r: Readable) -> Answer:
        holding_id, holding = r.held()
        page = history_page(node.app.committed, holding_id, holding, after, limit)
        return (
            {"id": r.battery_id.hex(), "holding_id": holding_id.hex(), **page},
            holding_key(holding_id),
        )

    return build


def _health_answer(node: Node, r: Readable) -> Answer:
    app = node.app
    raw = r.battery_id
    ledger = health_record(app.committed, raw)
    latest = None
    if ledger is not None:
        opening = node.openings.get(raw, HEALTH, bytes.fromhex(ledger["commitment"]))
        latest = {**ledger, "opened": opening is not None}
        if opening is not None:
            latest.update(opening.fields, salt=opening.salt.hex())
    openings, complete = node.openings.series(raw, HEALTH, MAX_SERIES)
    answer = {
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
        "capacity_threshold_permille": r.battery.passport.capacity_threshold_permille,
        "expected_lifetime_cycles": r.battery.passport.expected_lifetime_cycles,
    }
    return answer, health_key(raw)


def _prediction_answer(node: Node, r: Readable) -> Answer:
    app = node.app
    view = prediction_record(app.committed, r.battery_id)
    horizon = get_params(app.committed).horizon_days
    day = _today(node)
    if view is not None and day is not None:
        view["days_left"] = view["eol_day"] - day
        view["due"] = view["days_left"] <= horizon
    answer = {
        "id": r.battery_id.hex(),
        "prediction": view,
        "horizon_days": horizon,
        "today_day": day,
    }
    return answer, prediction_key(r.battery_id)


# Named "status" (its operation id) but not so in Python, where that is starlette's module.
@router.get("/{battery_id}/status", responses=GATED, name="status")
async def battery_status(
    battery_id: BatteryId,
    node: NodeDep,
    read_request: ReadRequestHeader = None,
    prove: bool = False,
) -> Any:
    """Lifecycle status, owner, running lease and BMS device: the battery's holding, named by
    the holding secret in the read request (403 without it); ``prove`` proves ``bat/k/<holding
    id>``."""
    return await _gated(node, "status", battery_id, read_request, prove, _status_answer)


@router.get("/{battery_id}/history", responses=GATED)
async def history(
    battery_id: BatteryId,
    node: NodeDep,
    read_request: ReadRequestHeader = None,
    prove: bool = False,
    after: Annotated[
        int | None, Query(ge=0, description="the `next` of the previous page (a `seq`)")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = MAX_PAGE,
) -> Any:
    """The holding's registration, status changes, transfers and leases, oldest first, one
    page (``next``: the ``after`` of the following page, null at the end). Needs the holding
    secret in the read request, like ``status``."""
    build = _history_answer(after, limit)
    return await _gated(node, "history", battery_id, read_request, prove, build)


@router.get("/{battery_id}/health", responses=GATED)
async def health(
    battery_id: BatteryId,
    node: NodeDep,
    read_request: ReadRequestHeader = None,
    prove: bool = False,
) -> Any:
    """The latest health update (``health``, null before the first): the ledger's record
    (commitment, telemetry batch, height, oracle) and, when this node holds its opening,
    the values and salt (``opened``). ``series``: the state of health over cycles and time
    from the openings this node holds, oldest first (``series_complete`` false when only
    the newest are given)."""
    return await _gated(node, "health", battery_id, read_request, prove, _health_answer)


@router.get("/{battery_id}/prediction", responses=GATED)
async def prediction(
    battery_id: BatteryId,
    node: NodeDep,
    read_request: ReadRequestHeader = None,
    prove: bool = False,
) -> Any:
    """The latest attested end of life with its 80 % interval in cycles (null before the
    first), and ``days_left``/``due`` against the chain's replacement horizon."""
    return await _gated(node, "prediction", battery_id, read_request, prove, _prediction_answer)
