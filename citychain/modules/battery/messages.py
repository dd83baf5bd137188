"""Battery passport messages (docs/modules/battery.md §3): typed, immutable, validated on decode.

Every quantity is an unsigned integer in the unit its name states, so that no float reaches
state or a hash, and a value out of its physical range never decodes (the ante step refuses it
as ``tx/15``). Dates are whole days since 1970-01-01 (UTC): a block's day is
``time_ms // 86_400_000``, so the ledger compares dates with integer division only.

The public passport fields follow Regulation (EU) 2023/1542, Annex XIII point 1 (through
Annex VI part A and Annex IV) and the DIN DKE SPEC 99100 data model; the restricted parts
(points 2 and 3) and the battery's health (point 4) travel off the ledger and only their
commitments are here.
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from citychain.codec import Address20, Bytes32, Struct
from citychain.tx.envelope import Message

# 1980-01-01 and 2169-12-31 as days since 1970-01-01: no lithium battery predates the first,
# and a date past the second is a unit mistake (milliseconds or YYYYMMDD given as days).
DAY_MIN = 3_652
DAY_MAX = 73_048
MAX_HAZARDOUS_SUBSTANCES = 32

# Bounds are "absurd beyond", not typical values: 10 MAh, 1 GWh, 2 kV and 100 t cover the
# largest stationary storage system, and anything larger is a unit error (e.g. Ah for mAh).
MAX_CAPACITY_MAH = 10_000_000_000
MAX_ENERGY_WH = 1_000_000_000
MAX_VOLTAGE_MV = 2_000_000
MAX_WEIGHT_G = 100_000_000
MAX_LIFETIME_CYCLES = 100_000
# 1 t CO2e per kWh is ten times the worst published cell footprint.
MAX_CARBON_G_PER_KWH = 1_000_000
# State of certified energy may test a little above rated when new; 120 % is the sane ceiling.
MAX_SOH_PERMYRIAD = 12_000
MAX_RESISTANCE_INCREASE_PERMILLE = 100_000
MAX_THROUGHPUT_WH = 10**15
MAX_CYCLES_X100 = 1_000_000_000
MAX_SECONDS = 10_000_000_000
MAX_EVENTS = 1_000_000_000
MAX_EOL_CYCLE = 1_000_000

Day = Annotated[int, msgspec.Meta(ge=DAY_MIN, le=DAY_MAX)]
Permille = Annotated[int, msgspec.Meta(ge=0, le=1_000)]
# ISO/IEC 15459-style unique identifier as printed on the battery and in its QR code.
Identifier = Annotated[
    str, msgspec.Meta(min_length=1, max_length=64, pattern="^[A-Za-z0-9][A-Za-z0-9._:/-]*\\Z")
]
Text = Annotated[str, msgspec.Meta(min_length=1, max_length=128, pattern="^[ -~]+\\Z")]
# CAS registry number, e.g. 7439-93-2 (lithium).
CasNumber = Annotated[str, msgspec.Meta(pattern="^[0-9]{2,7}-[0-9]{2}-[0-9]\\Z")]
Category = Literal["ev", "lmt", "industrial", "sli", "portable"]
Chemistry = Literal["lfp", "nmc", "nca", "lmo", "lco", "lto", "sodium_ion", "lead_acid", "other"]
StatusName = Literal[
    "original", "installed", "swapped", "reused", "repurposed", "remanufactured", "waste"
]
# What a prediction was made from: the battery's own capacity telemetry, or the early-life test
# curves of its lot (Annex XIII point 3) before the telemetry says more (docs/fleet.md §2).
PredictionBasis = Literal["capacity", "curves"]


class Passport(Struct, frozen=True):
    """The public part of the passport (Annex XIII point 1), as the manufacturer declares it."""

    identifier: Identifier
    model: Text
    category: Category
    chemistry: Chemistry
    rated_capacity_mah: Annotated[int, msgspec.Meta(ge=1, le=MAX_CAPACITY_MAH)]
    rated_energy_wh: Annotated[int, msgspec.Meta(ge=1, le=MAX_ENERGY_WH)]
    nominal_voltage_mv: Annotated[int, msgspec.Meta(ge=1, le=MAX_VOLTAGE_MV)]
    weight_g: Annotated[int, msgspec.Meta(ge=1, le=MAX_WEIGHT_G)]
    expected_lifetime_cycles: Annotated[int, msgspec.Meta(ge=1, le=MAX_LIFETIME_CYCLES)]
    # Remaining capacity, in per mille of rated, at which the battery counts as exhausted.
    capacity_threshold_permille: Annotated[int, msgspec.Meta(ge=1, le=999)]
    manufacturing_day: Day
    manufacturing_place: Text
    carbon_footprint_g_per_kwh: Annotated[int, msgspec.Meta(ge=1, le=MAX_CARBON_G_PER_KWH)]
    recycled_cobalt_permille: Permille
    recycled_lead_permille: Permille
    recycled_lithium_permille: Permille
    recycled_nickel_permille: Permille
    hazardous_substances: Annotated[
        tuple[CasNumber, ...], msgspec.Meta(max_length=MAX_HAZARDOUS_SUBSTANCES)
    ]


class MsgRegisterBattery(Message, frozen=True):
    """A manufacturer places a battery on the market (Art. 77): its public passport, once.

    ``legitimate_interest_commitment`` commits to Annex XIII point 2 (composition, part
    numbers, dismantling, safety), ``authority_commitment`` to point 3 (test reports),
    ``holding_commitment`` to the id of the battery's holding (holding.py), which
    ``battery/open_holding`` opens in another transaction: no message names both.
    """

    TYPE = "battery/register"
    passport: Passport
    legitimate_interest_commitment: Bytes32
    authority_commitment: Bytes32
    holding_commitment: Bytes32


class MsgOpenHolding(Message, frozen=True):
    """A manufacturer opens a battery's holding: its first owner and BMS device, status
    ``original``. ``holding_id`` is ``holding_id_of(battery_id, secret)``; the battery is not
    named, so the ledger cannot link the two."""

    TYPE = "battery/open_holding"
    holding_id: Bytes32
    owner: Address20
    bms_device_id: Bytes32 | None


class MsgSetStatus(Message, frozen=True):
    TYPE = "battery/set_status"
    holding_id: Bytes32
    status: StatusName


class MsgTransfer(Message, frozen=True):
    """The owner hands the battery over; the new owner holds every owner right at once (and
    needs the holding secret, handed over off the ledger, to read the battery's data)."""

    TYPE = "battery/transfer"
    holding_id: Bytes32
    new_owner: Address20


class MsgLease(Message, frozen=True):
    """Start (lessee set) or end (lessee None) a lease; ``end_height`` None = open-ended."""

    TYPE = "battery/lease"
    holding_id: Bytes32
    lessee: Address20 | None
    end_height: Annotated[int, msgspec.Meta(ge=1)] | None


class HealthValues(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Dynamic data (Annex XIII point 4, Annex VII part A) from the battery's telemetry.

    Never on the ledger: the oracle commits to these values (``MsgUpdateHealth.commitment``)
    and hands the opening to the nodes that serve it to the parties the regulation names
    (citychain/passport/openings.py). The bounds are checked when a node accepts an opening.
    A JSON object, not an encoded array: it is committed as canonical JSON, never encoded.
    """

    soh_permyriad: Annotated[int, msgspec.Meta(ge=0, le=MAX_SOH_PERMYRIAD)]
    remaining_capacity_mah: Annotated[int, msgspec.Meta(ge=0, le=MAX_CAPACITY_MAH)]
    capacity_fade_permille: Permille
    resistance_increase_permille: Annotated[
        int, msgspec.Meta(ge=0, le=MAX_RESISTANCE_INCREASE_PERMILLE)
    ]
    energy_throughput_wh: Annotated[int, msgspec.Meta(ge=0, le=MAX_THROUGHPUT_WH)]
    equivalent_full_cycles_x100: Annotated[int, msgspec.Meta(ge=0, le=MAX_CYCLES_X100)]
    extreme_temperature_s: Annotated[int, msgspec.Meta(ge=0, le=MAX_SECONDS)]
    deep_discharge_events: Annotated[int, msgspec.Meta(ge=0, le=MAX_EVENTS)]


class MsgUpdateHealth(Message, frozen=True):
    """The oracle's daily health update: a salted commitment to the battery's ``HealthValues``
    (``citychain.modules.battery.commitment.commit_part("health", ...)``), never the values.

    ``telemetry_batch`` names the anchored telemetry batch the values were computed from; the
    ledger treats it as opaque.
    """

    TYPE = "battery/update_health"
    battery_id: Bytes32
    commitment: Bytes32
    telemetry_batch: Bytes32


class MsgAttestPrediction(Message, frozen=True):
    """A predicted end of life: cycle and day, an 80 % interval in cycles, the model's hash
    and a reference to its inputs (both opaque to the ledger), and its ``basis``.

    ``basis`` says in words what ``model_hash`` already pins: ``capacity`` (the battery's
    capacity telemetry; ``inputs_ref`` names its reports) or ``curves`` (its lot's early-life
    test curves in the test report; ``inputs_ref`` names their encoding). The Python default
    keeps callers that predate it working; on the wire it is always present (a message without
    it does not re-encode to the same bytes, so it does not decode).
    """

    TYPE = "battery/attest_prediction"
    battery_id: Bytes32
    eol_cycle: Annotated[int, msgspec.Meta(ge=1, le=MAX_EOL_CYCLE)]
    eol_day: Day
    interval_low_cycles: Annotated[int, msgspec.Meta(ge=1, le=MAX_EOL_CYCLE)]
    interval_high_cycles: Annotated[int, msgspec.Meta(ge=1, le=MAX_EOL_CYCLE)]
    model_hash: Bytes32
    inputs_ref: Bytes32
    basis: PredictionBasis = "capacity"


ALL_MESSAGES: tuple[type[Message], ...] = (
    MsgRegisterBattery,
    MsgOpenHolding,
    MsgSetStatus,
    MsgTransfer,
    MsgLease,
    MsgUpdateHealth,
    MsgAttestPrediction,
)
