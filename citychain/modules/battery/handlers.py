"""Battery message handlers (docs/modules/battery.md §3): check everything, then write.

Roles: registration and opening a holding need ``manufacturer``, telemetry needs ``oracle``
(both checked by the ante step through the route); ownership, leases and lifecycle depend on
the holding, so their handlers check the sender against the holding itself.

The public record (by battery id) and the holding (by holding id) never meet in one message:
the ledger cannot tell which holding is which battery's (holding.py). So the rules that join
them are the readers' (a node checks the holding proof of a read request), and the health and
prediction handlers, which name the battery, cannot see its holding's status.
"""

from __future__ import annotations

from msgspec import structs

from citychain.modules.base import Context
from citychain.modules.battery import errors
from citychain.modules.battery.errors import BatteryError
from citychain.modules.battery.messages import (
    MsgAttestPrediction,
    MsgLease,
    MsgOpenHolding,
    MsgRegisterBattery,
    MsgSetStatus,
    MsgTransfer,
    MsgUpdateHealth,
)
from citychain.modules.battery.state import (
    BASIS_NAMES,
    DAY_MS,
    LEASE_ENDED,
    LEASED,
    LESSEE,
    ORIGINAL,
    OWNER,
    REGISTERED,
    REMANUFACTURED,
    STATUS_CHANGED,
    STATUS_NAMES,
    TRANSFERRED,
    TRANSITIONS,
    WASTE,
    Battery,
    Change,
    Health,
    Holding,
    Prediction,
    append_change,
    battery_id_of,
    get_battery,
    get_health,
    get_holding,
    get_params,
    index_add,
    index_remove,
    lease_active,
    set_battery,
    set_health,
    set_holding,
    set_prediction,
)
from citychain.modules.consortium import MANUFACTURER, has_role
from citychain.modules.devices import is_anchored

# Rated energy must equal capacity x nominal voltage within this many per mille: a pack's
# declared figures differ by rounding and cell-level vs pack-level voltage, never by 10 %, while
# a unit slip (kWh for Wh, Ah for mAh, V for mV) is off by a factor of 1000.
RATING_TOLERANCE_PERMILLE = 100


def _record(
    ctx: Context,
    holding_id: bytes,
    holding: Holding,
    action: str,
    party: bytes = b"",
    end_height: int = 0,
) -> Holding:
    """Append one history entry (with the holding's status as it is now) and return the
    holding with its counter advanced; the caller stores it."""
    change = Change(action, ctx.sender, ctx.height, ctx.tx_hash, holding.status, party, end_height)
    return append_change(ctx.state, holding_id, holding, change)


def _existing_battery(ctx: Context, battery_id: bytes) -> Battery:
    battery = get_battery(ctx.state, battery_id)
    if battery is None:
        raise BatteryError(errors.BATTERY_NOT_FOUND, f"no battery {battery_id.hex()}")
    return battery


def _existing(ctx: Context, holding_id: bytes) -> Holding:
    holding = get_holding(ctx.state, holding_id)
    if holding is None:
        raise BatteryError(errors.HOLDING_NOT_FOUND, f"no battery holding {holding_id.hex()}")
    return holding


def _owned(ctx: Context, holding_id: bytes) -> Holding:
    holding = _existing(ctx, holding_id)
    if ctx.sender != holding.owner:
        raise BatteryError(errors.NOT_OWNER, f"holding {holding_id.hex()} has another owner")
    return holding


def _alive(holding_id: bytes, holding: Holding) -> None:
    if holding.status == WASTE:
        raise BatteryError(errors.BATTERY_IS_WASTE, f"holding {holding_id.hex()} is waste")


def _check_rating(msg: MsgRegisterBattery) -> None:
    p = msg.passport
    # Wh x 10^6 and mAh x mV are both in micro-watt-hours: compare without division.
    declared = p.rated_energy_wh * 1_000_000
    computed = p.rated_capacity_mah * p.nominal_voltage_mv
    if abs(declared - computed) * 1_000 > computed * RATING_TOLERANCE_PERMILLE:
        raise BatteryError(
            errors.WRONG_UNITS,
            f"rated energy {p.rated_energy_wh} Wh but {p.rated_capacity_mah} mAh x "
            f"{p.nominal_voltage_mv} mV = {computed // 1_000_000} Wh",
        )


def handle_register(ctx: Context, msg: MsgRegisterBattery) -> None:
    """Register a battery's public record under the id its printed identifier hashes to;
    once only. Who holds it is the holding's business (``handle_open_holding``)."""
    battery_id = battery_id_of(msg.passport.identifier)
    if get_battery(ctx.state, battery_id) is not None:
        raise BatteryError(
            errors.BATTERY_EXISTS,
            f"battery {msg.passport.identifier!r} ({battery_id.hex()}) is already registered",
        )
    _check_rating(msg)
    battery = Battery(
        passport=msg.passport,
        manufacturer=ctx.sender,
        legitimate_interest_commitment=msg.legitimate_interest_commitment,
        authority_commitment=msg.authority_commitment,
        holding_commitment=msg.holding_commitment,
        registered_height=ctx.height,
    )
    set_battery(ctx.state, battery_id, battery)
    ctx.emit(
        "battery_registered",
        battery_id=battery_id,
        identifier=msg.passport.identifier,
        manufacturer=ctx.sender,
    )


def handle_open_holding(ctx: Context, msg: MsgOpenHolding) -> None:
    """Open a battery's holding for its first owner: status ``original``, once per id."""
    if get_holding(ctx.state, msg.holding_id) is not None:
        raise BatteryError(
            errors.HOLDING_EXISTS, f"battery holding {msg.holding_id.hex()} is already open"
        )
    holding = Holding(
        manufacturer=ctx.sender,
        status=ORIGINAL,
        owner=msg.owner,
        lessee=b"",
        lease_end_height=0,
        bms_device_id=msg.bms_device_id or b"",
        opened_height=ctx.height,
        changes=0,
    )
    index_add(ctx.state, OWNER, msg.owner, msg.holding_id)
    holding = _record(ctx, msg.holding_id, holding, REGISTERED, msg.owner)
    set_holding(ctx.state, msg.holding_id, holding)
    ctx.emit(
        "battery_holding_opened",
        holding_id=msg.holding_id,
        manufacturer=ctx.sender,
        owner=msg.owner,
    )


def _check_status_sender(ctx: Context, holding_id: bytes, holding: Holding, target: int) -> None:
    """The owner decides every step but one: ``remanufactured`` is declared by a producer
    (a holder of the manufacturer role) that holds the battery, as its owner or as the
    lessee the owner handed it to for the work; never by any other manufacturer."""
    if target != REMANUFACTURED:
        if ctx.sender != holding.owner:
            raise BatteryError(errors.NOT_OWNER, f"holding {holding_id.hex()} has another owner")
        return
    if not has_role(ctx.state, ctx.sender, MANUFACTURER):
        raise BatteryError(
            errors.STATUS_NOT_PERMITTED, "only a manufacturer declares a battery remanufactured"
        )
    holder = ctx.sender == holding.owner or (
        ctx.sender == holding.lessee and lease_active(holding, ctx.height)
    )
    if not holder:
        raise BatteryError(
            errors.NOT_OWNER,
            f"a manufacturer declares holding {holding_id.hex()} remanufactured only while it "
            "holds the battery: as its owner or its lessee",
        )


def _drop_lessee(ctx: Context, holding_id: bytes, holding: Holding) -> Holding:
    """The holding without its lessee, and the lessee's index without the holding."""
    index_remove(ctx.state, LESSEE, holding.lessee, holding_id)
    return structs.replace(holding, lessee=b"", lease_end_height=0)


def handle_set_status(ctx: Context, msg: MsgSetStatus) -> None:
    """Move the battery along its lifecycle (``_check_status_sender`` says who may)."""
    holding = _existing(ctx, msg.holding_id)
    target = STATUS_NAMES.index(msg.status)
    _check_status_sender(ctx, msg.holding_id, holding, target)
    if target not in TRANSITIONS[holding.status]:
        allowed = ", ".join(STATUS_NAMES[s] for s in TRANSITIONS[holding.status]) or "none"
        raise BatteryError(
            errors.BAD_TRANSITION,
            f"{STATUS_NAMES[holding.status]} -> {msg.status}; allowed: {allowed}",
        )
    previous = holding.status
    lessee = holding.lessee
    changed = holding
    if target == WASTE and lessee:
        # Nobody uses a discarded battery: its lease ends with its life.
        changed = _record(ctx, msg.holding_id, changed, LEASE_ENDED, lessee)
        changed = _drop_lessee(ctx, msg.holding_id, changed)
    changed = structs.replace(changed, status=target)
    changed = _record(ctx, msg.holding_id, changed, STATUS_CHANGED)
    set_holding(ctx.state, msg.holding_id, changed)
    if target == WASTE and lessee:
        ctx.emit("battery_lease_ended", holding_id=msg.holding_id, lessee=lessee)
    ctx.emit(
        "battery_status_changed",
        holding_id=msg.holding_id,
        previous=STATUS_NAMES[previous],
        status=msg.status,
        actor=ctx.sender,
    )


def handle_transfer(ctx: Context, msg: MsgTransfer) -> None:
    """Hand the battery to ``new_owner``. A running lease must end first, so that a lessee's
    rights never change hands without the lessee seeing it; a waste battery may still go to a
    recycler."""
    holding = _owned(ctx, msg.holding_id)
    if msg.new_owner == holding.owner:
        raise BatteryError(errors.SAME_OWNER, "the battery already belongs to this address")
    if lease_active(holding, ctx.height):
        raise BatteryError(
            errors.BATTERY_LEASED, f"leased to {holding.lessee.hex()} until the lease ends"
        )
    changed = holding
    if changed.lessee:
        # A lease that ran out is dropped with the ownership it belonged to.
        changed = _drop_lessee(ctx, msg.holding_id, changed)
    index_remove(ctx.state, OWNER, holding.owner, msg.holding_id)
    index_add(ctx.state, OWNER, msg.new_owner, msg.holding_id)
    changed = structs.replace(changed, owner=msg.new_owner)
    changed = _record(ctx, msg.holding_id, changed, TRANSFERRED, msg.new_owner)
    set_holding(ctx.state, msg.holding_id, changed)
    ctx.emit(
        "battery_transferred",
        holding_id=msg.holding_id,
        previous_owner=holding.owner,
        new_owner=msg.new_owner,
    )


def _end_lease(ctx: Context, msg: MsgLease, holding: Holding, active: bool) -> None:
    if msg.end_height is not None:
        raise BatteryError(errors.BAD_LEASE, "ending a lease takes no end height")
    if not active:
        raise BatteryError(errors.NO_LEASE, f"holding {msg.holding_id.hex()} is not leased")
    changed = _drop_lessee(ctx, msg.holding_id, holding)
    changed = _record(ctx, msg.holding_id, changed, LEASE_ENDED, holding.lessee)
    set_holding(ctx.state, msg.holding_id, changed)
    ctx.emit("battery_lease_ended", holding_id=msg.holding_id, lessee=holding.lessee)


def handle_lease(ctx: Context, msg: MsgLease) -> None:
    """Lease the battery to ``lessee`` through ``end_height``, or end the running lease."""
    holding = _owned(ctx, msg.holding_id)
    _alive(msg.holding_id, holding)
    active = lease_active(holding, ctx.height)
    if msg.lessee is None:
        _end_lease(ctx, msg, holding, active)
        return
    if msg.lessee == holding.owner:
        raise BatteryError(errors.BAD_LEASE, "the owner cannot lease its own battery to itself")
    if msg.end_height is not None and msg.end_height < ctx.height:
        raise BatteryError(
            errors.BAD_LEASE, f"end height {msg.end_height} is before this block {ctx.height}"
        )
    end = msg.end_height or 0
    changed = holding
    if active:
        # A new lease replaces the running one: record that the old lessee's rights ended.
        changed = _record(ctx, msg.holding_id, changed, LEASE_ENDED, holding.lessee)
        ctx.emit("battery_lease_ended", holding_id=msg.holding_id, lessee=holding.lessee)
    if changed.lessee:
        changed = _drop_lessee(ctx, msg.holding_id, changed)
    index_add(ctx.state, LESSEE, msg.lessee, msg.holding_id)
    changed = structs.replace(changed, lessee=msg.lessee, lease_end_height=end)
    changed = _record(ctx, msg.holding_id, changed, LEASED, msg.lessee, end)
    set_holding(ctx.state, msg.holding_id, changed)
    ctx.emit("battery_leased", holding_id=msg.holding_id, lessee=msg.lessee, end_height=end)


def handle_update_health(ctx: Context, msg: MsgUpdateHealth) -> None:
    """Record the commitment to the battery's latest dynamic data, once per block.

    The values are Annex XIII point 4 data and never reach the ledger, so their ranges and the
    monotone counters are checked where they are opened (citychain/passport/openings.py); the
    ledger fixes which values the oracle vouched for, and when. The battery's status is in its
    holding, which the ledger cannot link to it: an update of a waste battery is not refused
    here (its BMS falls silent and its oracle stops).
    """
    _existing_battery(ctx, msg.battery_id)
    if not is_anchored(ctx.state, msg.telemetry_batch):
        # Health comes from telemetry on the ledger: the batch it names must be anchored, so
        # an auditor can prove the reports behind every update.
        raise BatteryError(
            errors.BATCH_NOT_ANCHORED,
            f"telemetry batch {msg.telemetry_batch.hex()} is not anchored (devices/anchor)",
        )
    previous = get_health(ctx.state, msg.battery_id)
    if previous is not None and previous.updated_height == ctx.height:
        raise BatteryError(
            errors.ALREADY_UPDATED, f"battery {msg.battery_id.hex()} updated at {ctx.height}"
        )
    set_health(
        ctx.state,
        msg.battery_id,
        Health(
            commitment=msg.commitment,
            telemetry_batch=msg.telemetry_batch,
            updates=(previous.updates if previous is not None else 0) + 1,
            updated_height=ctx.height,
            updated_time_ms=ctx.time_ms,
            oracle=ctx.sender,
        ),
    )
    ctx.emit(
        "battery_health_updated",
        battery_id=msg.battery_id,
        commitment=msg.commitment,
        telemetry_batch=msg.telemetry_batch,
        oracle=ctx.sender,
    )


def handle_attest_prediction(ctx: Context, msg: MsgAttestPrediction) -> None:
    """Store the latest end-of-life prediction; announce it when replacement is due within the
    horizon of the block's day (or overdue)."""
    _existing_battery(ctx, msg.battery_id)
    if not msg.interval_low_cycles <= msg.eol_cycle <= msg.interval_high_cycles:
        raise BatteryError(
            errors.BAD_INTERVAL,
            f"cycle {msg.eol_cycle} outside [{msg.interval_low_cycles}, "
            f"{msg.interval_high_cycles}]",
        )
    set_prediction(
        ctx.state,
        msg.battery_id,
        Prediction(
            eol_cycle=msg.eol_cycle,
            eol_day=msg.eol_day,
            interval_low_cycles=msg.interval_low_cycles,
            interval_high_cycles=msg.interval_high_cycles,
            model_hash=msg.model_hash,
            inputs_ref=msg.inputs_ref,
            attested_height=ctx.height,
            attested_time_ms=ctx.time_ms,
            oracle=ctx.sender,
            basis=BASIS_NAMES.index(msg.basis),
        ),
    )
    ctx.emit(
        "battery_prediction_attested",
        battery_id=msg.battery_id,
        model_hash=msg.model_hash,
        basis=msg.basis,
        oracle=ctx.sender,
    )
    # The block time is the only clock: days left may be negative (overdue), so compare signed.
    days_left = msg.eol_day - ctx.time_ms // DAY_MS
    horizon = get_params(ctx.state).horizon_days
    if days_left <= horizon:
        ctx.emit(
            "battery_replacement_due",
            battery_id=msg.battery_id,
            eol_day=msg.eol_day,
            days_left=max(days_left, 0),
            horizon_days=horizon,
        )
