"""The mixed load of ``bench/soak.py`` beside its honest payments (docs/hardening-bench.md):
what it sets up on the ledger, the readers and the writer.

Set up once: a few batteries owned by the benchmark's owner key (manufacturer key), a gateway
device of the oracle key, a few birth records (registrar key). Then, round robin over the
nodes' APIs:

- **readers** (``read_rate`` a second): accounts, a balance with its proof, the latest block,
  a registry record and its proof, a battery's public passport and, with a fresh signed read
  request each time, its status, history and health, a device and an owner's devices;
- **the writer** (every ``write_every`` seconds): the oracle anchors a telemetry batch from its
  gateway (device telemetry), commits a battery's health naming that batch (a battery write)
  and delivers the opening to every node (with the node's operator token where it has one).

Each request is recorded with its time, kind, answer and seconds; a failure is counted, never
retried, and never stops the load.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from citychain.benchmarks.attacks_context import (
    BatterySetup,
    node_id_of,
    read_header,
    seeded_key,
)
from citychain.benchmarks.attacks_target import Target
from citychain.benchmarks.attacks_watch import answer_of
from citychain.client import Client, Wallet
from citychain.client.battery import seal_health
from citychain.client.registrar import Registrar
from citychain.crypto.address import address_from_public_key, address_to_bytes
from citychain.modules.battery import HEALTH
from citychain.modules.devices import (
    MsgAnchorBatch,
    MsgRegisterDevice,
    batch_id_of,
    device_id_of,
    possession_statement,
)
from citychain.passport.restricted import READ_HEADER

__all__ = ["Op", "Reader", "SoakWorld", "Writer", "prepare_world"]

REQUEST_TIMEOUT_S = 30.0
DEVICE_METADATA = hashlib.sha256(b"citychain-bench/soak/gateway").digest()
REPORTS_PER_BATCH = 10
GATED_READS = ("status", "history", "health")
OK = "HTTP 200"
CATCH_UP_S = 10.0
CATCH_UP_POLL_S = 0.1
SUCCESS = "HTTP 2"  # 200, 201 (an opening kept), ...


@dataclass(frozen=True, slots=True)
class Op:
    at: float  # monotonic time the request was sent
    kind: str
    seconds: float
    answer: str  # "HTTP 200", "HTTP 429", "timeout", "refused battery/12", ...

    @property
    def ok(self) -> bool:
        return self.answer.startswith(SUCCESS)


@dataclass
class SoakWorld:
    batteries: list[BatterySetup] = field(default_factory=list)
    records: list[bytes] = field(default_factory=list)
    gateway: bytes | None = None
    accounts: list[str] = field(default_factory=list)
    node_ids: list[bytes | None] = field(default_factory=list)


def _newborn(index: int) -> dict[str, str]:
    return {
        "given_name": f"Soak{index}",
        "family_name": "Bench",
        "date_of_birth": f"2026-01-{1 + index % 28:02d}",
        "place_of_birth": "Citychain",
        "sex": "X",
        "parent_1_name": "Parent Bench",
    }


def _register_records(target: Target, client: Client, count: int) -> list[bytes]:
    key = target.role_keys.get("registrar")
    if key is None or not count:
        return []
    office = Registrar(Wallet(key, client, chain_id=target.chain_id))
    records = []
    for index in range(count):
        prepared = office.prepare_register("birth", _newborn(index))
        office.wallet.submit([prepared.message])
        records.append(prepared.record_id)
    return records


def _register_gateway(target: Target, client: Client) -> bytes | None:
    oracle = target.role_keys.get("oracle")
    if oracle is None:
        return None
    device = seeded_key("soak-gateway")
    device_id = device_id_of(device.public_key)
    owner = address_to_bytes(address_from_public_key(oracle.public_key))
    statement = possession_statement(target.chain_id, owner, device_id, device.public_key)
    message = MsgRegisterDevice(
        device.public_key, "gateway", DEVICE_METADATA, device.sign(statement)
    )
    Wallet(oracle, client, chain_id=target.chain_id).submit([message])
    return device_id


def prepare_world(
    target: Target, batteries: list[BatterySetup], records: int, log: Callable[[str], None]
) -> SoakWorld:
    """The records and the gateway (each skipped, with a note, if the node refuses it)."""
    world = SoakWorld(batteries=batteries)
    world.accounts = [address_from_public_key(k.public_key) for k in target.honest_keys[:8]]
    with Client(target.urls[0]) as client:
        for what, step in (
            ("registry records", lambda: _register_records(target, client, records)),
            ("gateway device", lambda: _register_gateway(target, client)),
        ):
            try:
                value = step()
            except Exception as exc:  # the node or the SDK refused: the soak runs without it
                target.notes.append(f"{what}: {type(exc).__name__}: {exc}")
                continue
            if isinstance(value, list):
                world.records = value
            else:
                world.gateway = value
    with httpx.Client(timeout=REQUEST_TIMEOUT_S) as plain:
        world.node_ids = [node_id_of(plain, url) for url in target.urls]
    log(
        f"soak world: {len(world.batteries)} batteries, {len(world.records)} records, "
        f"gateway {'yes' if world.gateway else 'no'}"
    )
    return world


# --- readers ------------------------------------------------------------------------------
Read = tuple[str, str, dict[str, str], dict[str, str]]  # kind, path, params, headers


class Reader:
    """``rate`` reads a second from ``threads`` threads, each read the next of ``plan``."""

    def __init__(self, target: Target, world: SoakWorld, rate: float, threads: int) -> None:
        self.target = target
        self.world = world
        self.rate = rate
        self.threads = max(1, threads)
        self.ops: list[Op] = []
        self._turn = itertools.count()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._workers = [
            threading.Thread(target=self._run, name=f"soak-reader-{i}", daemon=True)
            for i in range(self.threads)
        ]

    def start(self) -> Reader:
        for worker in self._workers:
            worker.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        for worker in self._workers:
            worker.join(timeout=REQUEST_TIMEOUT_S + 5)

    def _plan(self, turn: int, node: int) -> Read:
        w = self.world
        account = w.accounts[turn % len(w.accounts)] if w.accounts else ""
        reads: list[Read] = [
            ("account", f"/accounts/{account}", {}, {}),
            ("balance proof", f"/accounts/{account}/balances/ccy", {"prove": "true"}, {}),
            ("latest block", "/blocks/latest", {}, {}),
        ]
        if w.records:
            record = w.records[turn % len(w.records)].hex()
            reads.append(("registry record", f"/registry/records/{record}", {}, {}))
            reads.append(("registry proof", f"/registry/records/{record}/proof", {}, {}))
        if w.batteries:
            battery = w.batteries[turn % len(w.batteries)]
            reads.append(("battery passport", f"/battery/{battery.battery_id.hex()}", {}, {}))
            route = GATED_READS[turn % len(GATED_READS)]
            path = f"/battery/{battery.battery_id.hex()}/{route}"
            header = read_header(
                battery.owner,
                self.target.chain_id,
                battery.battery_id,
                HEALTH,
                route=f"GET {path}",
                node_id=w.node_ids[node] if node < len(w.node_ids) else None,
                holding=battery.holding,
            )
            reads.append((f"battery {route}", path, {}, {READ_HEADER: header}))
        if w.gateway:
            reads.append(("device", f"/devices/{w.gateway.hex()}", {}, {}))
        return reads[turn // len(self.target.urls) % len(reads)]

    def _run(self) -> None:
        interval = self.threads / self.rate
        urls = self.target.urls
        with httpx.Client(timeout=REQUEST_TIMEOUT_S) as client:
            while not self._stop.is_set():
                turn = next(self._turn)
                node = turn % len(urls)
                kind, path, params, headers = self._plan(turn, node)
                sent = time.monotonic()
                try:
                    response = client.get(f"{urls[node]}{path}", params=params, headers=headers)
                    answer = f"HTTP {response.status_code}"
                except httpx.HTTPError as exc:
                    answer = answer_of(exc)
                with self._lock:
                    self.ops.append(Op(sent, kind, time.monotonic() - sent, answer))
                self._stop.wait(max(0.0, interval - (time.monotonic() - sent)))


# --- the writer ---------------------------------------------------------------------------
def _health_values(step: int) -> dict[str, int]:
    """Plausible, monotone health values for update ``step`` (the counters only grow)."""
    return {
        "soh_permyriad": max(0, 10_000 - step),
        "remaining_capacity_mah": max(0, 20_000 - 2 * step),
        "capacity_fade_permille": min(1_000, step // 10),
        "resistance_increase_permille": min(1_000, step // 10),
        "energy_throughput_wh": 1_000 * step,
        "equivalent_full_cycles_x100": 100 * step,
        "extreme_temperature_s": step,
        "deep_discharge_events": step // 100,
    }


class Writer:
    """Every ``every`` seconds: anchor a batch, commit a health update, deliver its opening."""

    def __init__(self, target: Target, world: SoakWorld, every: float) -> None:
        self.target = target
        self.world = world
        self.every = every
        self.ops: list[Op] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="soak-writer", daemon=True)

    def start(self) -> Writer:
        oracle = self.target.role_keys.get("oracle")
        if oracle is not None and self.world.gateway is not None and self.world.batteries:
            self._thread.start()
        else:
            self.target.notes.append("no oracle key, gateway or battery: no writes")
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=2 * REQUEST_TIMEOUT_S)

    def _record(self, kind: str, sent: float, answer: str) -> None:
        self.ops.append(Op(sent, kind, time.monotonic() - sent, answer))

    def _submit(self, wallet: Wallet, kind: str, messages: Sequence[Any]) -> int | None:
        """The height the write committed at, None if it did not."""
        sent = time.monotonic()
        try:
            result = wallet.client.broadcast(wallet.sign(messages), wait=True)
        except Exception as exc:  # the SDK's errors and the node's: one failed write
            wallet.resync()
            self._record(kind, sent, f"error {type(exc).__name__}")
            return None
        if result.get("code") != 0 or result.get("height") is None:
            wallet.resync()
            self._record(kind, sent, f"refused {result.get('codespace')}/{result.get('code')}")
            return None
        self._record(kind, sent, OK)
        return int(result["height"])

    @staticmethod
    def _reach(url: str, height: int) -> None:
        """Wait (a little) until the node at ``url`` has committed ``height``: an opening
        matches only the commitment the node has, and nodes commit a block one by one."""
        deadline = time.monotonic() + CATCH_UP_S
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError, ValueError, KeyError, TypeError):
                if int(httpx.get(f"{url}/status", timeout=CATCH_UP_S).json()["height"]) >= height:
                    return
            time.sleep(CATCH_UP_POLL_S)

    def _deliver(self, battery: bytes, values: dict[str, int], salt: bytes, height: int) -> None:
        body = {"part": HEALTH, "fields": values, "salt": salt.hex()}
        for index, url in enumerate(self.target.urls):
            token = self.target.operator_token(index)
            headers = {"Authorization": f"Bearer {token}"} if token else {}
            self._reach(url, height)
            sent = time.monotonic()
            try:
                response = httpx.post(
                    f"{url}/battery/{battery.hex()}/openings",
                    json=body,
                    headers=headers,
                    timeout=REQUEST_TIMEOUT_S,
                )
                answer = f"HTTP {response.status_code}"
            except httpx.HTTPError as exc:
                answer = answer_of(exc)
            self._record("opening delivery", sent, answer)

    def _cycle(self, wallet: Wallet, step: int) -> None:
        gateway = self.world.gateway
        assert gateway is not None
        root = hashlib.sha256(b"citychain-bench/soak/batch/" + step.to_bytes(8, "big")).digest()
        batch = batch_id_of(gateway, root, REPORTS_PER_BATCH)
        anchor = MsgAnchorBatch(batch, root, REPORTS_PER_BATCH, gateway)
        if self._submit(wallet, "anchor batch", [anchor]) is None:
            return
        battery = self.world.batteries[step % len(self.world.batteries)].battery_id
        values = _health_values(step)
        message, salt = seal_health(battery, values, batch)
        height = self._submit(wallet, "health update", [message])
        if height is not None:
            self._deliver(battery, values, salt, height)

    def _run(self) -> None:
        oracle = self.target.role_keys["oracle"]
        with contextlib.ExitStack() as stack:
            clients = [stack.enter_context(Client(url)) for url in self.target.urls]
            wallets = [Wallet(oracle, c, chain_id=self.target.chain_id) for c in clients]
            for step in itertools.count(1):
                started = time.monotonic()
                # one wallet per node, all the same key: the nonce must follow the key
                wallet = wallets[step % len(wallets)]
                wallet.set_nonce(wallets[(step - 1) % len(wallets)].next_nonce())
                self._cycle(wallet, step)
                if self._stop.wait(max(0.0, self.every - (time.monotonic() - started))):
                    return
