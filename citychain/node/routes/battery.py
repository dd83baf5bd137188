"""The battery passport's HTTP routes (docs/battery-api.md, docs/modules/battery.md §2).

Public (Annex XIII point 1, anyone): ``GET /battery/{id}`` and ``GET /battery/lookup?identifier=``.

Restricted (point 4: the individual battery's status, owner, history, health, prediction; its
owner, running lessee and manufacturer only): ``/battery/{id}/status``, ``/history``,
``/health``, ``/prediction`` and ``/battery/fleet``. Each needs the passport service's signed
read request in the ``X-Citychain-Read-Request`` header, as hex of
``SignedReadRequest.to_bytes()``: part ``health`` and this battery's id, or, for the fleet, part
``fleet`` and 32 zero bytes (the gate: battery_access.py). Each refusal is
``{"error": {"code", "codespace", "message"}}`` with the passport service's code (codespace
``passport``) where there is one.

Openings of the restricted parts (points 2 and 3, and the health values) are delivered to and
served by this node beside the chain: battery_openings.py.

Writes (register, transfer, set_status, lease, health, prediction) are signed transactions
through ``POST /txs`` like every module's.
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
    battery_id_of,
    battery_key,
    fleet_view,
    get_battery,
    get_params,
    health_key,
    health_view,
    history_view,
    passport_view,
    prediction_key,
    prediction_view,
    status_view,
)
from citychain.node.routes.battery_access import (
    GATED,
    BatteryId,
    ReadRequestHeader,
    Refused,
    fleet_reader,
    known_battery,
    reader_of,
)
from citychain.node.routes.deps import NodeDep, proof_of, settled_reads
from citychain.node.service import Node

__all__ = ["router"]

# The health curve holds at most this many of a battery's newest opened updates.
MAX_SERIES = 2_000
SERIES_FIELDS = ("soh_permyriad", "equivalent_full_cycles_x100", "remaining_capacity_mah")

router = APIRouter(prefix="/battery", tags=["battery"])


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
        str | None, Query(pattern="^([0-9a-fA-F]{2}){36}$", description="the `next` cursor")
    ] = None,
) -> Any:
    """The batteries whose point-4 data the signer may read (as owner, running lessee or
    manufacturer), soonest predicted end of life first, each with ``days_left`` from the
    last block's day and ``due`` when within the chain's horizon (default 30 days)."""
    await settled_reads(node)
    app = node.app
    try:
        reader = fleet_reader(app, read_request)
    except Refused as refusal:
        return refusal.response
    view = fleet_view(
        app.committed,
        lambda prefix: list(app.committed.items_with_prefix(prefix)),
        reader,
        app.height,
        after=after,
        limit=limit,
    )
    horizon = get_params(app.committed).horizon_days
    day = _today(node)
    for entry in view["batteries"]:
        days_left = entry["eol_day"] - day if day is not None else None
        entry["days_left"] = days_left
        entry["due"] = days_left is not None and days_left <= horizon
    return {**view, "today_day": day, "horizon_days": horizon, "height": app.height}


@router.get(
    "/{battery_id}", responses={status.HTTP_404_NOT_FOUND: GATED[status.HTTP_404_NOT_FOUND]}
)
async def passport(battery_id: BatteryId, node: NodeDep) -> dict[str, Any]:
    """Annex XIII point 1: the public passport, its manufacturer and the commitments to
    points 2 and 3. No proof here: the proven state value holds point-4 data too."""
    await settled_reads(node)
    view = passport_view(node.app.committed, bytes.fromhex(battery_id))
    if view is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no battery {battery_id.lower()}")
    return {**view, "height": node.app.height}


# --- restricted (Annex XIII point 4) --------------------------------------------------------
async def _gated(
    node: Node,
    battery_id: str,
    read_request: str | None,
    prove: bool,
    key_of: Callable[[bytes], bytes],
    build: Callable[[Node, bytes, bytes], dict[str, Any]],
) -> Any:
    """One restricted read: the battery must exist, the signed read request must let its
    signer read this battery's point-4 data, then ``build(node, raw_id, reader)`` answers,
    with a proof of ``key_of(raw_id)`` when asked."""
    await settled_reads(node)
    raw = known_battery(node.app, battery_id)
    try:
        reader = reader_of(node.app, read_request, raw)
    except Refused as refusal:
        return refusal.response
    out = {**build(node, raw, reader), "height": node.app.height}
    if prove:
        out["proof"] = await proof_of(node, key_of(raw))
    return out


def _status_answer(node: Node, raw: bytes, reader: bytes) -> dict[str, Any]:
    return status_view(node.app.committed, raw, reader, node.app.height)


def _history_answer(node: Node, raw: bytes, reader: bytes) -> dict[str, Any]:
    return {
        "id": raw.hex(),
        "history": history_view(node.app.committed, raw, reader, node.app.height),
    }


def _health_answer(node: Node, raw: bytes, reader: bytes) -> dict[str, Any]:
    app = node.app
    battery = get_battery(app.committed, raw)
    assert battery is not None  # known_battery() checked it
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


def _prediction_answer(node: Node, raw: bytes, reader: bytes) -> dict[str, Any]:
    view = prediction_view(node.app.committed, raw, reader, node.app.height)
    horizon = get_params(node.app.committed).horizon_days
    day = _today(node)
    if view is not None and day is not None:
        view["days_left"] = view["eol_day"] - day
        view["due"] = view["days_left"] <= horizon
    return {"id": raw.hex(), "prediction": view, "horizon_days": horizon, "today_day": day}


# Named "status" (its operation id) but not so in Python, where that is starlette's module.
@router.get("/{battery_id}/status", responses=GATED, name="status")
async def battery_status(
    battery_id: BatteryId,
    node: NodeDep,
    read_request: ReadRequestHeader = None,
    prove: bool = False,
) -> Any:
    """Lifecycle status, owner and running lease."""
    return await _gated(node, battery_id, read_request, prove, battery_key, _status_answer)


@router.get("/{battery_id}/history", responses=GATED)
async def history(
    battery_id: BatteryId,
    node: NodeDep,
    read_request: ReadRequestHeader = None,
    prove: bool = False,
) -> Any:
    """Registration, status changes, transfers and leases, oldest first."""
    return await _gated(node, battery_id, read_request, prove, battery_key, _history_answer)


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
    return await _gated(node, battery_id, read_request, prove, health_key, _health_answer)


@router.get("/{battery_id}/prediction", responses=GATED)
async def prediction(
    battery_id: BatteryId,
    node: NodeDep,
    read_request: ReadRequestHeader = None,
    prove: bool = False,
) -> Any:
    """The latest attested end of life with its 80 % interval in cycles (null before the
    first), and ``days_left``/``due`` against the chain's replacement horizon."""
    return await _gated(node, battery_id, read_request, prove, prediction_key, _prediction_answer)
