"""Battery message handlers (docs/modules/battery.md §3): check everything, then write.

Roles: registration needs ``manufacturer`` and telemetry needs ``oracle`` (both checked by the
ante step through the route); ownership, leases and lifecycle depend on the battery, so their
handlers check the sender against the battery itself.
"""

from __future__ import annotations

from msgspec import structs

from citychain.modules.base import Context
from citychain.modules.battery import errors
from citychain.modules.battery.errors import BatteryError
from citychain.modules.battery.messages import (
    MsgAttestPrediction,
    MsgLease,
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
    ORIGINAL,
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
    Prediction,
    battery_id_of,
    get_battery,
    get_health,
    get_params,
    lease_active,
    set_battery,
    set_health,
    set_prediction,
)
from citychain.modules.consortium import MANUFACTURER, has_role
from citychain.modules.devices import is_anchored

# Rated energy must equal capacity x nominal voltage within this many per mille: a pack's
# declared figures differ by rounding and cell-level vs pack-level voltage, never by 10 %, while
# a unit slip (kWh for Wh, Ah for mAh, V for mV) is off by a factor of 1000.
RATING_TOLERANCE_PERMILLE = 100


def _change(
    ctx: Context, action: str, battery: Battery, party: bytes = b"", end_height: int = 0
) -> Change:
    return Change(action, ctx.sender, ctx.height, ctx.tx_hash, battery.status, party, end_height)


def _existing(ctx: Context, battery_id: bytes) -> Battery:
    battery = get_battery(ctx.state, battery_id)
    if battery is None:
        raise BatteryError(errors.BATTERY_NOT_FOUND, f"no battery {battery_id.hex()}")
    return battery


def _owned(ctx: Context, battery_id: bytes) -> Battery:
    battery = _existing(ctx, battery_id)
    if ctx.sender != battery.owner:
        raise BatteryError(errors.NOT_OWNER, f"battery {battery_id.hex()} has another owner")
    return battery


def _alive(battery_id: bytes, battery: Battery) -> None:
    if battery.status == WASTE:
        raise BatteryError(errors.BATTERY_IS_WASTE, f"battery {battery_id.hex()} is waste")


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
    """Register a battery under the id its printed identifier hashes to; once only."""
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
        bms_device_id=msg.bms_device_id or b"",
        legitimate_interest_commitment=msg.legitimate_interest_commitment,
        authority_commitment=msg.authority_commitment,
        status=ORIGINAL,
        owner=msg.owner,
        lessee=b"",
        lease_end_height=0,
        registered_height=ctx.height,
        history=(),
    )
    set_battery(
        ctx.state,
        battery_id,
        structs.replace(battery, history=(_change(ctx, REGISTERED, battery, msg.owner),)),
    )
    ctx.emit(
        "battery_registered",
        battery_id=battery_id,
        identifier=msg.passport.identifier,
        manufacturer=ctx.sender,
        owner=msg.owner,
    )


def handle_set_status(ctx: Context, msg: MsgSetStatus) -> None:
    """Move the battery along its lifecycle. The owner decides every step but one:
    ``remanufactured`` is declared by a holder of the manufacturer role, who restored it."""
    battery = _existing(ctx, msg.battery_id)
    target = STATUS_NAMES.index(msg.status)
    if target == REMANUFACTURED:
        if not has_role(ctx.state, ctx.sender, MANUFACTURER):
            raise BatteryError(
                errors.STATUS_NOT_PERMITTED, "only a manufacturer declares a battery remanufactured"
            )
    elif ctx.sender != battery.owner:
        raise BatteryError(errors.NOT_OWNER, f"battery {msg.battery_id.hex()} has another owner")
    if target not in TRANSITIONS[battery.status]:
        allowed = ", ".join(STATUS_NAMES[s] for s in TRANSITIONS[battery.status]) or "none"
        raise BatteryError(
            errors.BAD_TRANSITION,
            f"{STATUS_NAMES[battery.status]} -> {msg.status}; allowed: {allowed}",
        )
    history = battery.history
    lessee = battery.lessee
    if target == WASTE and lessee:
        # Nobody uses a discarded battery: its lease ends with its life.
        history = (*history, _change(ctx, LEASE_ENDED, battery, lessee))
    changed = structs.replace(battery, status=target)
    if target == WASTE:
        changed = structs.replace(changed, lessee=b"", lease_end_height=0)
    set_battery(
        ctx.state,
        msg.battery_id,
        structs.replace(changed, history=(*history, _change(ctx, STATUS_CHANGED, changed))),
    )
    if target == WASTE and lessee:
        ctx.emit("battery_lease_ended", battery_id=msg.battery_id, lessee=lessee)
    ctx.emit(
        "battery_status_changed",
        battery_id=msg.battery_id,
        previous=STATUS_NAMES[battery.status],
        status=msg.status,
        actor=ctx.sender,
    )


def handle_transfer(ctx: Context, msg: MsgTransfer) -> None:
    """Hand the battery to ``new_owner``. A running lease must end first, so that a lessee's
    rights never change hands without the lessee seeing it; a waste battery may still go to a
    recycler."""
    battery = _owned(ctx, msg.battery_id)
    if msg.new_owner == battery.owner:
        raise BatteryError(errors.SAME_OWNER, "the battery already belongs to this address")
    if lease_active(battery, ctx.height):
        raise BatteryError(
            errors.BATTERY_LEASED, f"leased to {battery.lessee.hex()} until the lease ends"
        )
    # A lease that ran out is dropped with the ownership it belonged to.
    changed = structs.replace(battery, owner=msg.new_owner, lessee=b"", lease_end_height=0)
    set_battery(
        ctx.state,
        msg.battery_id,
        structs.replace(
            changed,
            history=(*battery.history, _change(ctx, TRANSFERRED, changed, msg.new_owner)),
        ),
    )
    ctx.emit(
        "battery_transferred",
        battery_id=msg.battery_id,
        previous_owner=battery.owner,
        new_owner=msg.new_owner,
    )


def handle_lease(ctx: Context, msg: MsgLease) -> None:
    """Lease the battery to ``lessee`` through ``end_height``, or end the running lease."""
    battery = _owned(ctx, msg.battery_id)
    _alive(msg.battery_id, battery)
    active = lease_active(battery, ctx.height)
    if msg.lessee is None:
        if msg.end_height is not None:
            raise BatteryError(errors.BAD_LEASE, "ending a lease takes no end height")
        if not active:
            raise BatteryError(errors.NO_LEASE, f"battery {msg.battery_id.hex()} is not leased")
        changed = structs.replace(battery, lessee=b"", lease_end_height=0)
        set_battery(
            ctx.state,
            msg.battery_id,
            structs.replace(
                changed,
                history=(*battery.history, _change(ctx, LEASE_ENDED, changed, battery.lessee)),
            ),
        )
        ctx.emit("battery_lease_ended", battery_id=msg.battery_id, lessee=battery.lessee)
        return
    if msg.lessee == battery.owner:
        raise BatteryError(errors.BAD_LEASE, "the owner cannot lease its own battery to itself")
    if msg.end_height is not None and msg.end_height < ctx.height:
        raise BatteryError(
            errors.BAD_LEASE, f"end height {msg.end_height} is before this block {ctx.height}"
        )
    end = msg.end_height or 0
    changed = structs.replace(battery, lessee=msg.lessee, lease_end_height=end)
    history = battery.history
    if active:
        # A new lease replaces the running one: record that the old lessee's rights ended.
        history = (*history, _change(ctx, LEASE_ENDED, battery, battery.lessee))
        ctx.emit("battery_lease_ended", battery_id=msg.battery_id, lessee=battery.lessee)
    set_battery(
        ctx.state,
        msg.battery_id,
        structs.replace(
            changed, history=(*history, _change(ctx, LEASED, changed, msg.lessee, end))
        ),
    )
    ctx.emit("battery_leased", battery_id=msg.battery_id, lessee=msg.lessee, end_height=end)


def handle_update_health(ctx: Context, msg: MsgUpdateHealth) -> None:
    """Record the commitment to the battery's latest dynamic data, once per block.

    The values are Annex XIII point 4 data and never reach the ledger, so their ranges and the
    monotone counters are checked where they are opened (citychain/passport/openings.py); the
    ledger fixes which values the oracle vouched for, and when.
    """
    battery = _existing(ctx, msg.battery_id)
    _alive(msg.battery_id, battery)
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
    battery = _existing(ctx, msg.battery_id)
    _alive(msg.battery_id, battery)
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
            owner=battery.owner,
            eol_day=msg.eol_day,
            days_left=max(days_left, 0),
            horizon_days=horizon,
        )
