"""Builders for the battery tests: a chain whose genesis grants the manufacturer, oracle and
regulator roles, the parties of a battery's life, and a valid passport."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from helpers import CHAIN_ID, DEFAULT_BALANCES, Chain, addr, key, make_genesis

from citychain.app import Application, TxResult
from citychain.crypto.address import address_from_public_key, address_to_bytes
from citychain.crypto.keys import PrivateKey
from citychain.genesis import Genesis
from citychain.modules.battery.commitment import commit_part
from citychain.modules.battery.holding import holding_commitment, holding_id_of
from citychain.modules.battery.messages import (
    MsgLease,
    MsgOpenHolding,
    MsgRegisterBattery,
    Passport,
)
from citychain.modules.battery.state import battery_id_of
from citychain.modules.devices import device_id_of, possession_statement
from citychain.modules.devices.messages import MsgAnchorBatch, MsgRegisterDevice
from citychain.store.sqlite import BlockStore
from citychain.telemetry.gateway.store import batch_id_of
from citychain.tx.envelope import Message

MAKER = key("battery/maker")  # manufacturer role: registers the batteries
OTHER_MAKER = key("battery/other-maker")  # manufacturer role, but not of these batteries
ORACLE = key("battery/oracle")  # oracle role: health and predictions
REGULATOR = key("battery/regulator")  # regulator role: market surveillance
FLEET = key("battery/fleet")  # the first owner, a fleet operator
DRIVER = key("battery/driver")  # a lessee
RECYCLER = key("battery/recycler")  # a later owner
STRANGER = key("battery/stranger")  # nobody to the battery
GATEWAY = key("battery/gateway")  # MAKER's telemetry gateway device

PARTIES = (MAKER, OTHER_MAKER, ORACLE, REGULATOR, FLEET, DRIVER, RECYCLER, STRANGER)
BATTERY_BALANCES: dict[PrivateKey, int] = {**DEFAULT_BALANCES, **{k: 1_000 for k in PARTIES}}

# The chain's first block is at 2023-11-14 (helpers.FIRST_BLOCK_TIME_MS), day 19675.
FIRST_DAY = 19_675

# Restricted parts as the manufacturer keeps them, with fixed salts (a service draws random).
COMPOSITION_FIELDS: dict[str, Any] = {
    "cathode": "LiNi0.8Mn0.1Co0.1O2",
    "anode": "graphite-SiOx",
    "electrolyte": "LiPF6 in EC:EMC",
    "part_numbers": ["MOD-7731", "BMS-220"],
    "dismantling": "remove 24 M6 bolts, lift the lid, unplug the HV bus bar",
}
TEST_REPORT_FIELDS: dict[str, Any] = {
    "report": "UN38.3 T1-T8 passed",
    "notified_body": "NB 0123",
    "abuse_test_peak_temp_dc": 612,
}
GATEWAY_ID = device_id_of(GATEWAY.public_key)
TELEMETRY_ROOT = hashlib.sha256(b"one BMS report").digest()
TELEMETRY_BATCH = batch_id_of(GATEWAY_ID, TELEMETRY_ROOT, 1)
SALT_COMPOSITION = bytes(range(100, 132))
SALT_TESTS = bytes(range(140, 172))


def health_values(**changes: int) -> dict[str, int]:
    """Health values an oracle commits to (never on the ledger), for a 150 Ah battery."""
    fields = {
        "soh_permyriad": 9_700,
        "remaining_capacity_mah": 145_500,
        "capacity_fade_permille": 30,
        "resistance_increase_permille": 40,
        "energy_throughput_wh": 9_000_000,
        "equivalent_full_cycles_x100": 15_000,
        "extreme_temperature_s": 7_200,
        "deep_discharge_events": 1,
    }
    fields.update(changes)
    return fields


def passport(identifier: str = "VC-EV-0001", **changes: Any) -> Passport:
    fields: dict[str, Any] = {
        "identifier": identifier,
        "model": "Voltcell EV60",
        "category": "ev",
        "chemistry": "nmc",
        "rated_capacity_mah": 150_000,  # 150 Ah
        "rated_energy_wh": 60_000,  # 60 kWh = 150 Ah x 400 V
        "nominal_voltage_mv": 400_000,
        "weight_g": 420_000,
        "expected_lifetime_cycles": 2_000,
        "capacity_threshold_permille": 700,
        "manufacturing_day": 19_600,
        "manufacturing_place": "Voltcell plant 2, Citychain",
        "carbon_footprint_g_per_kwh": 75_000,
        "recycled_cobalt_permille": 160,
        "recycled_lead_permille": 0,
        "recycled_lithium_permille": 60,
        "recycled_nickel_permille": 60,
        "hazardous_substances": ("21324-40-3",),
    }
    fields.update(changes)
    return Passport(**fields)


def secret(identifier: str = "VC-EV-0001") -> bytes:
    """The battery's holding secret (fixed here; the manufacturer's client draws it)."""
    return hashlib.sha256(b"holding/" + identifier.encode()).digest()


def bms(identifier: str = "VC-EV-0001") -> bytes:
    return hashlib.sha256(b"bms/" + identifier.encode()).digest()


def register_msg(identifier: str = "VC-EV-0001", **changes: Any) -> MsgRegisterBattery:
    """The public record: passport and commitments, the holding's among them."""
    return MsgRegisterBattery(
        passport=passport(identifier, **changes),
        legitimate_interest_commitment=commit_part(
            "composition", COMPOSITION_FIELDS, SALT_COMPOSITION
        ),
        authority_commitment=commit_part("test_reports", TEST_REPORT_FIELDS, SALT_TESTS),
        holding_commitment=holding_commitment(bid(identifier), secret(identifier)),
    )


def open_msg(identifier: str = "VC-EV-0001", owner: bytes | None = None) -> MsgOpenHolding:
    """The battery's holding, for ``owner`` (default FLEET), in a transaction of its own."""
    return MsgOpenHolding(hid(identifier), addr(FLEET) if owner is None else owner, bms(identifier))


def bid(identifier: str = "VC-EV-0001") -> bytes:
    return battery_id_of(identifier)


def hid(identifier: str = "VC-EV-0001") -> bytes:
    """The battery's holding id: what transfers, leases and status changes name."""
    return holding_id_of(bid(identifier), secret(identifier))


HOLDING_SECRET = secret()  # VC-EV-0001's: what an owner's read request carries


def battery_genesis(section: dict[str, Any] | None = None) -> Genesis:
    base = make_genesis(BATTERY_BALANCES)
    roles = dict(base.app_state["consortium"]["roles"])
    roles["manufacturer"] = [address_from_public_key(k.public_key) for k in (MAKER, OTHER_MAKER)]
    roles["oracle"] = [address_from_public_key(ORACLE.public_key)]
    roles["regulator"] = [address_from_public_key(REGULATOR.public_key)]
    app_state = {**base.app_state, "consortium": {"roles": roles}}
    if section is not None:
        app_state["battery"] = section
    return Genesis.from_dict(
        {
            "chain_id": base.chain_id,
            "genesis_time": base.genesis_time,
            "validators": [
                {"name": v.name, "public_key": v.public_key.hex(), "power": v.power}
                for v in base.validators
            ],
            "app_state": app_state,
        }
    )


def battery_chain(directory: Path, section: dict[str, Any] | None = None) -> Chain:
    directory.mkdir(parents=True, exist_ok=True)
    app = Application(BlockStore(directory / "chain.sqlite"))
    app.init_chain(battery_genesis(section))
    assert app.check_invariants() == []
    return Chain(app)


def anchor_messages() -> list[Message]:
    """MAKER registers GATEWAY and anchors ``TELEMETRY_BATCH`` (one report): the telemetry a
    health update must name."""
    owner = address_to_bytes(address_from_public_key(MAKER.public_key))
    statement = possession_statement(CHAIN_ID, owner, GATEWAY_ID, GATEWAY.public_key)
    return [
        MsgRegisterDevice(GATEWAY.public_key, "gateway", bytes(32), GATEWAY.sign(statement)),
        MsgAnchorBatch(TELEMETRY_BATCH, TELEMETRY_ROOT, 1, GATEWAY_ID),
    ]


def register(chain: Chain, identifier: str = "VC-EV-0001", owner: bytes | None = None) -> None:
    """MAKER registers the battery, then opens its holding in another transaction."""
    result = chain.run(MAKER, register_msg(identifier))
    assert result.ok, result.log
    result = chain.run(MAKER, open_msg(identifier, owner))
    assert result.ok, result.log


def registered_chain(directory: Path) -> Chain:
    """A chain with battery VC-EV-0001 registered by MAKER, owned by FLEET, and one anchored
    telemetry batch (``TELEMETRY_BATCH``)."""
    chain = battery_chain(directory)
    result = chain.run(MAKER, *anchor_messages())
    assert result.ok, result.log
    register(chain)
    return chain


def leased_chain(directory: Path) -> Chain:
    """``registered_chain`` with VC-EV-0001 leased by FLEET to DRIVER, open-ended."""
    chain = registered_chain(directory)
    result = chain.run(FLEET, MsgLease(hid(), addr(DRIVER), None))
    assert result.ok, result.log
    return chain


def events(result: TxResult, type_: str) -> list[dict[str, Any]]:
    return [dict(e.attributes) for e in result.events if e.type == type_]


def event(result: TxResult, type_: str) -> dict[str, Any]:
    found = events(result, type_)
    assert len(found) == 1, [e.type for e in result.events]
    return found[0]
