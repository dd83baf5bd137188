"""A simulated battery fleet (docs/fleet.md): ageing drawn from real cells, BMS reports over MQTT.

Deterministic from a seed. Each battery's capacity-fade trajectory is one of the real LFP cells'
curves kept in ``citychain/oracle/eol_params.json`` (Severson/Attia 2019: the smoothed
capacity of each training cell every 10 cycles up to its end of life, in 1e-5 of nominal),
stretched in time by a per-battery factor around 1 (the battery ages that much faster or
slower), with measurement noise, as a fraction of the battery's rated capacity. So a battery's
true end of life (first cycle below 80 % of rated) is ``life_of_curve / scale``.

What is modelled and what is assumed (no physics model: PyBaMM needs 80-96 ms a cycle per cell
here, scripts/pybamm_ageing_cost.py, so 2,000 batteries through ~900 cycles would take about
45 CPU hours, and its ageing sets do not reproduce these LFP cells' late knee; the curves are
real measurements):

- capacity: the real curve, time-scaled, with 0.2 % Gaussian measurement noise; beyond the
  curve's end it continues on the slope of its last 50 cycles (the batteries are replaced then);
- usage: a per-battery rate of full equivalent cycles per day, varying ±20 % from day to day;
- temperature: a per-battery mean (15..35 °C) plus daily swings; it does not change ageing
  (the curves come from cells held at 30 °C): an assumption;
- internal resistance: ``R0 · (1 + 2.5 · fade)`` with ``fade = 1 − Q/Q_start`` (so +50 % at
  20 % fade): a modelling assumption typical of LFP, not a measurement;
- energy throughput: cycles × capacity × nominal voltage;
- lot test curves: the source cell's early-life discharge curves and capacity of cycles 2..100
  (``lot_curves.json``, derived from the same data by scripts/derive_lot_curves.py) stand for
  the test station's curves of the battery's lot; they go into the passport's test report
  (Annex XIII point 3) at registration, so the oracle can predict from day one.

Simulated time advances one day per ``day_reports`` call (a compressed clock): day ``d`` is
``start_day + d`` (days since 1970-01-01), each battery sends one report per day.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from citychain.client import Wallet
from citychain.crypto.address import address_to_bytes
from citychain.crypto.keys import PrivateKey
from citychain.modules.battery import (
    DAY_MS,
    TEST_REPORTS,
    MsgOpenHolding,
    MsgRegisterBattery,
    Passport,
    battery_id_of,
    commit_part,
    holding_commitment,
    holding_id_of,
)
from citychain.modules.devices import MsgRegisterDevice, device_id_of, possession_statement
from citychain.passport.lot_curves import (
    LOT_CURVES_FIELD,
    LotCurves,
    lot_curves_fields,
    parse_lot_curves,
)
from citychain.telemetry.report import BmsReadings, ReportBody, sign_report
from citychain.tx.envelope import MAX_MESSAGES, Message

__all__ = [
    "Fleet",
    "FleetBattery",
    "Source",
    "load_curves",
    "load_sources",
    "publish_day",
    "register_fleet",
]

PARAMS_PATH = Path(__file__).resolve().parents[1] / "oracle" / "eol_params.json"
LOT_CURVES_PATH = Path(__file__).with_name("lot_curves.json")
LOT_CURVES_FORMAT = "citychain-lot-curves/1"
OPENINGS_PER_REQUEST = 1_000  # the node's POST /battery/openings/batch takes at most this many
CURVE_STEP = 10  # cycles between stored curve points
CURVE_UNIT = 1e-5  # stored capacity unit, fraction of nominal
NOISE = 0.002  # relative measurement noise of the BMS capacity estimate
RESISTANCE_PER_FADE = 2.5  # assumption: +2.5 ‰ of R0 per ‰ of capacity fade
RATED_MAH = 20_000  # a 16s LFP light-means-of-transport pack: 51.2 V, 20 Ah, 1,024 Wh
NOMINAL_MV = 51_200
HOT_DC, COLD_DC = 450, -100  # outside -10..45 °C counts as extreme temperature
METADATA = hashlib.sha256(b"citychain/sim/fleet/bms-metadata/v1").digest()


def load_curves(path: Path = PARAMS_PATH) -> list[tuple[int, tuple[int, ...]]]:
    """The real cells' compact curves: (end-of-life cycle, capacity every 10 cycles)."""
    doc = json.loads(path.read_text())
    return [(int(t["life"]), tuple(int(v) for v in t["q"])) for t in doc["trajectories"]]


@dataclass(frozen=True)
class Source:
    """A real training cell a battery is drawn from: its capacity trajectory and, when known,
    its early-life test curves (the battery's lot's, in the passport's test report)."""

    cell_id: str
    life: int
    curve: tuple[int, ...]
    lot: LotCurves | None = None


def load_sources(
    params_path: Path = PARAMS_PATH, lot_curves_path: Path = LOT_CURVES_PATH
) -> list[Source]:
    """The training cells in eol_params.json's order, each joined by cell id to its lot test
    curves. The trajectories carry no id: lot_curves.json names each cell's trajectory index
    and life, and a life that differs means the two files come from different data."""
    curves = load_curves(params_path)
    doc = json.loads(lot_curves_path.read_text())
    if doc.get("format") != LOT_CURVES_FORMAT:
        raise ValueError(f"{lot_curves_path}: not a {LOT_CURVES_FORMAT} file")
    by_index: dict[int, tuple[str, LotCurves]] = {}
    for cell_id, entry in doc["cells"].items():
        index = int(entry["trajectory"])
        if not 0 <= index < len(curves) or curves[index][0] != int(entry["life"]):
            raise ValueError(
                f"{lot_curves_path}: {cell_id} names trajectory {index} of life "
                f"{entry['life']}, which {params_path.name} does not hold: regenerate it with "
                "scripts/derive_lot_curves.py"
            )
        by_index[index] = (cell_id, parse_lot_curves(entry["lot_curves"]))
    sources = []
    for i, (life, curve) in enumerate(curves):
        cell_id, lot = by_index.get(i, (f"trajectory-{i}", None))
        sources.append(Source(cell_id, life, curve, lot))
    return sources


@dataclass
class FleetBattery:
    """One battery: its passport identity, BMS key, ageing draw and running counters."""

    index: int
    identifier: str
    key: PrivateKey
    curve_life: int
    curve: tuple[int, ...]
    scale: float  # > 1 ages faster than its source cell
    cycles_per_day: float
    temperature_c: float
    r0_uohm: int
    seed: str
    cell_id: str = ""  # the source cell (its lot's test cell)
    lot: LotCurves | None = None  # the lot's test curves, in the passport's test report
    # running state
    cycles: float = 0.0
    throughput_wh: float = 0.0
    counter: int = 0
    device_id: bytes = field(init=False)
    battery_id: bytes = field(init=False)
    holding_secret: bytes = field(init=False)
    holding_id: bytes = field(init=False)

    def __post_init__(self) -> None:
        self.device_id = device_id_of(self.key.public_key)
        self.battery_id = battery_id_of(self.identifier)
        # Derived from the fleet's seed so that a run is reproducible; a real manufacturer
        # draws it at random (citychain.client.battery.new_holding_secret).
        self.holding_secret = hashlib.sha256(f"{self.seed}/holding/{self.index}".encode()).digest()
        self.holding_id = holding_id_of(self.battery_id, self.holding_secret)

    @property
    def true_eol_cycle(self) -> int:
        """The first cycle below 80 % of rated, noiseless: the source cell's life / scale."""
        return max(1, round(self.curve_life / self.scale))

    def capacity_fraction(self, cycle: float) -> float:
        """Noiseless capacity as a fraction of rated at ``cycle`` (linear between points)."""
        x = cycle * self.scale / CURVE_STEP  # position in curve points (point i at cycle 10(i+1))
        q = self.curve
        if x <= 1.0:
            return q[0] * CURVE_UNIT
        i = int(x) - 1
        if i + 1 < len(q):
            frac = x - 1 - i
            return (q[i] + (q[i + 1] - q[i]) * frac) * CURVE_UNIT
        back = min(5, len(q) - 1)
        slope = min((q[-1] - q[-1 - back]) / back, -1.0) if back else -1.0  # per point
        return max((q[-1] + slope * (x - len(q))) * CURVE_UNIT, 0.05)

    def step(self, start_day: int, day: int) -> BmsReadings:
        """Advance one simulated day; the BMS counters at the end of it."""
        rng = random.Random(f"{self.seed}/{self.index}/{day}")
        cycles = max(self.cycles_per_day * (1.0 + rng.uniform(-0.2, 0.2)), 0.0)
        self.cycles += cycles
        fraction = self.capacity_fraction(self.cycles)
        capacity_mah = RATED_MAH * fraction * (1.0 + rng.gauss(0.0, NOISE))
        # one full equivalent cycle moves the capacity once at nominal voltage (mAh x mV = µWh)
        self.throughput_wh += cycles * RATED_MAH * fraction * NOMINAL_MV / 1e6
        start = self.curve[0] * CURVE_UNIT
        fade = max(0.0, 1.0 - fraction / start)
        resistance = self.r0_uohm * (1.0 + RESISTANCE_PER_FADE * fade) * (1 + rng.gauss(0, 0.01))
        temperature = self.temperature_c + rng.gauss(0.0, 4.0)
        soc = rng.randint(20, 1000)
        return BmsReadings(
            pack_voltage_mv=NOMINAL_MV - 2_000 + soc * 4,
            current_ma=rng.randint(-20_000, 20_000),
            soc_permille=soc,
            temperature_dc=round(temperature * 10),
            cycle_count=int(self.cycles),
            discharge_capacity_mah=max(round(capacity_mah), 0),
            energy_throughput_wh=round(self.throughput_wh),
            internal_resistance_uohm=round(resistance),
        )

    def report(self, start_day: int, day: int) -> bytes:
        """The signed report of simulated ``day`` (1-based), advancing the battery a day."""
        readings = self.step(start_day, day)
        self.counter += 1
        time_ms = (start_day + day) * DAY_MS + 12 * 3_600_000 + self.index % 3_600_000
        return sign_report(self.key, ReportBody(self.device_id, self.counter, time_ms, readings))

    def test_report(self) -> tuple[dict[str, Any], bytes]:
        """The passport's test-report part (Annex XIII point 3) and the salt that commits it.
        The salt is derived from the fleet's seed so that a run is reproducible; a real
        manufacturer draws it at random (``citychain.passport.seal_part``)."""
        fields: dict[str, Any] = {"reports": []}
        if self.lot is not None:
            fields[LOT_CURVES_FIELD] = lot_curves_fields(self.lot)
        salt = hashlib.sha256(f"{self.seed}/test-report/{self.index}".encode()).digest()
        return fields, salt

    def passport(self, manufacturing_day: int) -> Passport:
        return Passport(
            identifier=self.identifier,
            model="Citycell LMT-20 (simulated)",
            category="lmt",
            chemistry="lfp",
            rated_capacity_mah=RATED_MAH,
            rated_energy_wh=RATED_MAH * NOMINAL_MV // 1_000_000,
            nominal_voltage_mv=NOMINAL_MV,
            weight_g=9_500,
            expected_lifetime_cycles=2_000,
            capacity_threshold_permille=800,
            manufacturing_day=manufacturing_day,
            manufacturing_place="Citycell plant 1, Citychain",
            carbon_footprint_g_per_kwh=60_000,
            recycled_cobalt_permille=0,
            recycled_lead_permille=0,
            recycled_lithium_permille=60,
            recycled_nickel_permille=0,
            hazardous_substances=("7439-93-2",),
        )


class Fleet:
    """``Fleet(n, seed=...)``: n batteries drawn deterministically from the real cells' curves.

    ``cycles_per_day`` is the range the per-battery usage rate is drawn from (uniform).
    ``due`` batteries (the first ones) are built to reach end of life ``due_in_days`` days
    after simulated day ``days``: a short-lived source cell, time-scaled to fit; so a demo
    of ``days`` days shows a replacement falling due.
    """

    def __init__(
        self,
        count: int,
        *,
        seed: str = "citychain-fleet",
        start_day: int,
        cycles_per_day: tuple[float, float] = (0.8, 2.5),
        scale_sigma: float = 0.15,
        due: int = 0,
        days: int = 30,
        due_in_days: int = 5,
        prefix: str = "CC-LMT",
        sources: Sequence[Source] | None = None,
    ) -> None:
        self.seed = seed
        self.start_day = start_day
        self.day = 0
        pool = list(sources if sources is not None else load_sources())
        shortest = sorted(range(len(pool)), key=lambda i: pool[i].life)[: max(3, len(pool) // 10)]
        self.batteries: list[FleetBattery] = []
        for i in range(count):
            rng = random.Random(f"{seed}/battery/{i}")
            key = PrivateKey.from_seed(hashlib.sha256(f"{seed}/bms/{i}".encode()).digest())
            rate = rng.uniform(*cycles_per_day)
            if i < due:
                source = pool[shortest[rng.randrange(len(shortest))]]
                scale = source.life / (rate * (days + due_in_days))
            else:
                source = pool[rng.randrange(len(pool))]
                scale = math.exp(rng.gauss(0.0, scale_sigma))
            self.batteries.append(
                FleetBattery(
                    index=i,
                    identifier=f"{prefix}-{i:06d}",
                    key=key,
                    curve_life=source.life,
                    curve=source.curve,
                    scale=scale,
                    cycles_per_day=rate,
                    temperature_c=rng.uniform(15.0, 35.0),
                    r0_uohm=round(rng.uniform(45_000, 60_000)),
                    seed=seed,
                    cell_id=source.cell_id,
                    lot=source.lot,
                )
            )

    def __iter__(self) -> Iterator[FleetBattery]:
        return iter(self.batteries)

    def __len__(self) -> int:
        return len(self.batteries)

    @property
    def today(self) -> int:
        """The simulated date (days since 1970-01-01) of the last reports made."""
        return self.start_day + self.day

    def day_reports(self) -> list[tuple[bytes, bytes]]:
        """Advance the clock one day: every battery's (device id, signed report) of that day."""
        self.day += 1
        return [(b.device_id, b.report(self.start_day, self.day)) for b in self.batteries]

    def test_reports(self) -> dict[bytes, tuple[dict[str, Any], bytes]]:
        """Each battery's test report and salt, by battery id: what the manufacturer hands the
        oracle so that it can predict from the lot curves (docs/fleet.md §2)."""
        return {b.battery_id: b.test_report() for b in self.batteries}

    def manifest(self) -> dict[str, Any]:
        """What the oracle needs to know (JSON): which batteries, their BMS devices (which the
        ledger keeps only in each battery's holding, unlinked to the battery), and each one's
        opened test report (restricted data, Annex XIII point 3: keep the file private). No
        holding secret: the oracle need not know who holds a battery."""
        batteries = []
        for b in self.batteries:
            fields, salt = b.test_report()
            batteries.append(
                {
                    "identifier": b.identifier,
                    "battery_id": b.battery_id.hex(),
                    "bms_device_id": b.device_id.hex(),
                    "test_report": {"fields": fields, "salt": salt.hex()},
                }
            )
        return {"format": "citychain/fleet-manifest/v1", "batteries": batteries}


def register_fleet(
    maker: Wallet,
    fleet: Fleet,
    *,
    owner: str | None = None,
    manufacturing_day: int | None = None,
    txs_per_request: int = 32,
) -> int:
    """Register each battery's BMS device and passport, signed by ``maker`` (who must hold the
    ``manufacturer`` role and owns the devices), MAX_MESSAGES messages a transaction; then open
    every battery's holding (owner, BMS device) in transactions of their own, in an order
    shuffled apart from the registrations', so that no transaction and no position links a
    battery to its holding; then deliver the test reports' openings to the node, which serves
    them to those who may read test reports. Returns the number of transactions. The test
    report carries the lot's test curves (``FleetBattery.test_report``); the composition's
    commitment is of placeholder content."""
    maker_bytes = address_to_bytes(maker.address)
    owner_bytes = address_to_bytes(owner) if owner else maker_bytes
    made = manufacturing_day if manufacturing_day is not None else fleet.start_day - 30
    composition = commit_part("composition", {"cells": "16s1p LFP 20 Ah"}, b"\x01" * 32)
    openings: list[dict[str, Any]] = []
    messages: list[Message] = []
    for b in fleet:
        statement = possession_statement(maker.chain_id, maker_bytes, b.device_id, b.key.public_key)
        messages.append(MsgRegisterDevice(b.key.public_key, "bms", METADATA, b.key.sign(statement)))
        fields, salt = b.test_report()
        messages.append(
            MsgRegisterBattery(
                passport=b.passport(made),
                legitimate_interest_commitment=composition,
                authority_commitment=commit_part(TEST_REPORTS, fields, salt),
                holding_commitment=holding_commitment(b.battery_id, b.holding_secret),
            )
        )
        opening = {"part": TEST_REPORTS, "fields": fields, "salt": salt.hex()}
        openings.append({"battery_id": b.battery_id.hex(), **opening})
    holdings: list[Message] = [
        MsgOpenHolding(b.holding_id, owner_bytes, b.device_id) for b in fleet
    ]
    random.Random(f"{fleet.seed}/holding-order").shuffle(holdings)
    raws = [
        maker.sign(batch[i : i + MAX_MESSAGES])
        for batch in (messages, holdings)
        for i in range(0, len(batch), MAX_MESSAGES)
    ]
    for i in range(0, len(raws), txs_per_request):
        for result in maker.client.broadcast_batch(raws[i : i + txs_per_request], wait=True):
            if result.get("code", 0) != 0:
                maker.resync()
                raise RuntimeError(f"fleet registration refused: {result}")
    _deliver_test_reports(maker, openings)
    return len(raws)


def _deliver_test_reports(maker: Wallet, openings: list[dict[str, Any]]) -> None:
    for i in range(0, len(openings), OPENINGS_PER_REQUEST):
        answer = maker.client.deliver_openings(openings[i : i + OPENINGS_PER_REQUEST])
        refused = [r for r in answer["results"] if "error" in r]
        if refused:
            raise RuntimeError(f"{len(refused)} test reports not kept by the node: {refused[0]}")


def publish_day(fleet: Fleet, publisher: Any) -> int:
    """Advance the fleet a day and publish every report (QoS 1) with ``publisher``
    (citychain.sim.devices.Publisher); returns the number published."""
    reports = fleet.day_reports()
    for device_id, raw in reports:
        publisher.publish(device_id, raw)
    return len(reports)
