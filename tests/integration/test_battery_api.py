"""The battery routes on a real node: the public passport for anyone; status, history, health,
prediction and the fleet (Annex XIII point 4) only with a signed read request of the owner,
running lessee or manufacturer, which names the battery's holding by its secret; every refusal
a 4xx in the API's one error shape."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from telemetry import anchor_batch

from citychain.client import Wallet
from citychain.client.battery import (
    READ_HEADER,
    ReadTarget,
    fleet_read_request,
    part_read_request,
    read_request,
    read_request_file,
)
from citychain.crypto.address import address_to_bytes
from citychain.crypto.keys import PrivateKey
from citychain.crypto.keystore import Keystore
from citychain.init_home import init_home
from citychain.modules.battery.commitment import commit_part
from citychain.modules.battery.holding import holding_commitment, holding_id_of
from citychain.modules.battery.messages import (
    MsgAttestPrediction,
    MsgOpenHolding,
    MsgRegisterBattery,
    MsgTransfer,
    MsgUpdateHealth,
    Passport,
)
from citychain.modules.battery.state import DAY_MS, battery_id_of
from citychain.passport.restricted import point4_route, sign_read_request
from citychain.sim.localnode import LocalNode

PASSWORD = "pw"
EXAMPLE = json.loads((Path(__file__).resolve().parents[2] / "examples/battery.json").read_text())
FLEET_IDS = ("VC-EV-0001", "VC-EV-0002", "VC-EV-0003")
# eol_day offsets from the chain's day (Env.today): 0002 is due within the 30-day horizon, the
# others are not.
EOL_OFFSETS = {"VC-EV-0001": 400, "VC-EV-0002": 10, "VC-EV-0003": 90}
POINT4 = ("status", "history", "health", "prediction")


def secret(battery_id: bytes) -> bytes:
    """The battery's holding secret (the manufacturer's client draws it at random)."""
    return hashlib.sha256(b"holding/" + battery_id).digest()


def hid(identifier: str) -> bytes:
    battery_id = battery_id_of(identifier)
    return holding_id_of(battery_id, secret(battery_id))


def register_msg(identifier: str) -> MsgRegisterBattery:
    fields = {**EXAMPLE["passport"], "identifier": identifier}
    fields["hazardous_substances"] = tuple(fields["hazardous_substances"])
    battery_id = battery_id_of(identifier)
    return MsgRegisterBattery(
        passport=Passport(**fields),
        legitimate_interest_commitment=commit_part(
            "composition", EXAMPLE["composition"], b"s" * 32
        ),
        authority_commitment=commit_part("test_reports", EXAMPLE["test_reports"], b"t" * 32),
        holding_commitment=holding_commitment(battery_id, secret(battery_id)),
    )


def health_values(step: int) -> dict[str, int]:
    return {
        "soh_permyriad": 10_000 - 150 * step,
        "remaining_capacity_mah": 150_000 - 2_000 * step,
        "capacity_fade_permille": 15 * step,
        "resistance_increase_permille": 20 * step,
        "energy_throughput_wh": 1_000_000 * step,
        "equivalent_full_cycles_x100": 10_000 * step,
        "extreme_temperature_s": 60 * step,
        "deep_discharge_events": step,
    }


def health_salt(battery_id: bytes, step: int) -> bytes:
    return hashlib.sha256(battery_id + bytes([step])).digest()


def health_msg(battery_id: bytes, step: int, batch: bytes) -> MsgUpdateHealth:
    """The oracle's update: only a commitment to ``health_values(step)``."""
    return MsgUpdateHealth(
        battery_id=battery_id,
        commitment=commit_part("health", health_values(step), health_salt(battery_id, step)),
        telemetry_batch=batch,
    )


def prediction_msg(battery_id: bytes, eol_day: int) -> MsgAttestPrediction:
    return MsgAttestPrediction(
        battery_id=battery_id,
        eol_cycle=1_800,
        eol_day=eol_day,
        interval_low_cycles=1_500,
        interval_high_cycles=2_100,
        model_hash=hashlib.sha256(b"model").digest(),
        inputs_ref=hashlib.sha256(b"inputs").digest(),
    )


@dataclass
class Env:
    node: LocalNode
    chain_id: str
    target: ReadTarget  # the node the read requests are signed for
    keys: dict[str, PrivateKey]
    wallets: dict[str, Wallet]
    today: int  # the day of the chain's clock (its blocks' time) when the module set up

    @property
    def url(self) -> str:
        return self.node.url

    def header(
        self, who: str, battery_id: bytes, route: str, holding: bytes | None = None
    ) -> dict[str, str]:
        """A request of ``who`` naming the battery's holding (its secret, unless given)."""
        held = secret(battery_id) if holding is None else holding
        request = read_request(self.keys[who], self.target, battery_id, route, holding=held)
        return {READ_HEADER: request}

    def get(
        self, path: str, who: str | None = None, holding: bytes | None = None, **kw: Any
    ) -> httpx.Response:
        """GET ``path``; with ``who``, a fresh request of theirs for this route (each is
        answered once)."""
        headers = kw.pop("headers", {})
        if who is not None:
            _, _, battery_hex, route = path.split("/")
            headers = {**headers, **self.header(who, bytes.fromhex(battery_hex), route, holding)}
        return httpx.get(f"{self.url}{path}", headers=headers, **kw)


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    base: Path = tmp_path_factory.mktemp("battery-api")
    home, genesis, _ = init_home(base / "home", password=PASSWORD, kdf_limits=(1, 8192))
    keystore = Keystore(home.keys_dir, opslimit=1, memlimit=8192)
    for name in ("fleet", "stranger"):
        keystore.add(name, PASSWORD)
    names = ("maker", "oracle", "fleet", "stranger", "issuer")
    # "maker" is the manufacturer key `citychain init` makes with the role.
    keys = {n: keystore.load("manufacturer" if n == "maker" else n, PASSWORD) for n in names}
    with LocalNode(base / "home") as node:
        wallets = {n: Wallet(k, node.client) for n, k in keys.items()}
        for name in ("fleet", "stranger"):
            wallets["issuer"].send(wallets[name].address, 10_000, wait=True)
        fleet = address_to_bytes(wallets["fleet"].address)
        for identifier in FLEET_IDS:
            registered = wallets["maker"].submit([register_msg(identifier)])
        for identifier in FLEET_IDS:  # transactions apart: none names a battery and its holding
            wallets["maker"].submit([MsgOpenHolding(hid(identifier), fleet, None)])
        today = node.client.block(registered["height"])["header"]["time_ms"] // DAY_MS
        yield Env(node, genesis.chain_id, ReadTarget.of(node.client), keys, wallets, today)


def _error(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error: dict[str, Any] = response.json()["error"]
    assert set(error) == {"code", "codespace", "message"}
    return error


def test_public_passport_for_anyone(env: Env) -> None:
    battery_id = battery_id_of("VC-EV-0001").hex()
    view = httpx.get(f"{env.url}/battery/{battery_id}").json()
    assert view["identifier"] == "VC-EV-0001"
    assert view["manufacturer"] == env.wallets["maker"].address
    assert view["rated_energy_wh"] == 60_000 and view["manufacturing_date"] == "2023-08-31"
    # Point-4 data is not in the public view: neither the owner nor the status, nor the
    # holding; the public record holds nothing else, so it may be proven.
    assert env.wallets["fleet"].address not in json.dumps(view)
    assert "status" not in view and hid("VC-EV-0001").hex() not in json.dumps(view)
    proven = httpx.get(f"{env.url}/battery/{battery_id}", params={"prove": "true"}).json()
    assert proven["proof"]["key"] == (b"bat/b/" + bytes.fromhex(battery_id)).hex()
    # Nor does the raw state of any key the label gives: the old door of /state/{key}.
    for prefix in (b"bat/b/", b"bat/h/", b"bat/x/"):
        raw = env.node.client.state(prefix + bytes.fromhex(battery_id))["value"] or ""
        assert address_to_bytes(env.wallets["fleet"].address).hex() not in raw
    by_label = httpx.get(f"{env.url}/battery/lookup", params={"identifier": "VC-EV-0001"})
    assert by_label.json()["id"] == battery_id
    assert env.node.client.battery_lookup("VC-EV-0001")["id"] == battery_id

    assert "no battery" in _error(httpx.get(f"{env.url}/battery/{'0' * 64}"), 404)["message"]
    assert _error(httpx.get(f"{env.url}/battery/xyz"), 422)
    assert _error(httpx.get(f"{env.url}/battery/{'g' * 64}"), 422)
    missing = httpx.get(f"{env.url}/battery/lookup", params={"identifier": "NOPE-1"})
    assert "NOPE-1" in _error(missing, 404)["message"]
    assert _error(httpx.get(f"{env.url}/battery/lookup", params={"identifier": "-x"}), 422)


def test_health_and_prediction_by_the_oracle(env: Env) -> None:
    oracle = env.wallets["oracle"]
    batches = {
        step: anchor_batch(env.wallets["maker"], f"day {step}".encode()) for step in (1, 2, 3)
    }
    for identifier in FLEET_IDS:
        battery_id = battery_id_of(identifier)
        for step in (1, 2, 3):
            result = oracle.submit([health_msg(battery_id, step, batches[step])])
            # The transaction the whole consortium sees holds no value, only the commitment.
            tx = json.dumps(env.node.client.tx(result["hash"]))
            assert "soh" not in tx and str(health_values(step)["remaining_capacity_mah"]) not in tx
            if identifier == "VC-EV-0003" and step == 3:
                continue  # the oracle has not delivered this opening (yet)
            env.node.client.deliver_opening(
                battery_id.hex(), "health", health_values(step), health_salt(battery_id, step)
            )
        oracle.submit([prediction_msg(battery_id, env.today + EOL_OFFSETS[identifier])])

    path = f"/battery/{battery_id_of('VC-EV-0002').hex()}"
    health = env.get(f"{path}/health", "fleet")
    assert health.status_code == 200, health.text
    doc = health.json()
    assert doc["health"]["soh_permyriad"] == 9_550 and doc["health"]["opened"]
    assert doc["health"]["oracle"] == oracle.address
    assert doc["health"]["updates"] == 3
    assert (
        doc["health"]["commitment"]
        == commit_part("health", health_values(3), bytes.fromhex(doc["health"]["salt"])).hex()
    )
    assert [p["soh_permyriad"] for p in doc["series"]] == [9_850, 9_700, 9_550]
    assert [p["equivalent_full_cycles_x100"] for p in doc["series"]] == [10_000, 20_000, 30_000]
    assert doc["series_complete"] and doc["capacity_threshold_permille"] == 700
    assert all(p["time_ms"] > 0 for p in doc["series"])

    # A committed update whose opening this node does not hold shows as unopened.
    unopened = env.get(f"/battery/{battery_id_of('VC-EV-0003').hex()}/health", "fleet").json()
    assert unopened["health"]["updates"] == 3 and not unopened["health"]["opened"]
    assert "soh_permyriad" not in unopened["health"] and len(unopened["series"]) == 2

    prediction = env.get(f"{path}/prediction", "fleet").json()["prediction"]
    assert prediction["eol_day"] == env.today + 10
    assert (prediction["interval_low_cycles"], prediction["interval_high_cycles"]) == (1_500, 2_100)
    assert prediction["due"] and 9 <= prediction["days_left"] <= 10

    # The manufacturer reads it too; a proof comes with ?prove=true, of the right key.
    proven = env.get(f"{path}/prediction", "maker", params={"prove": "true"}).json()
    assert proven["proof"]["key"] == (b"bat/x/" + battery_id_of("VC-EV-0002")).hex()
    status = env.get(f"{path}/status", "maker").json()
    assert (status["status"], status["owner"]) == ("original", env.wallets["fleet"].address)
    assert status["holding_id"] == hid("VC-EV-0002").hex()
    proven = env.get(f"{path}/status", "fleet", params={"prove": "true"}).json()
    assert proven["proof"]["key"] == (b"bat/k/" + hid("VC-EV-0002")).hex()
    history = env.get(f"{path}/history", "fleet").json()
    assert [c["action"] for c in history["history"]] == ["registered"]
    assert history["next"] is None and history["holding_id"] == hid("VC-EV-0002").hex()


def test_point_four_refused_without_the_right_request(env: Env) -> None:
    battery_id = battery_id_of("VC-EV-0001")
    path = f"/battery/{battery_id.hex()}"
    for what in ("status", "history", "health", "prediction"):
        missing = _error(env.get(f"{path}/{what}"), 401)
        assert READ_HEADER in missing["message"]
        # The holding secret shows which holding is the battery's, not that it is yours.
        stranger = _error(env.get(f"{path}/{what}", "stranger"), 403)
        assert (stranger["codespace"], stranger["code"]) == ("passport", 7)
        # The owner without it is not known as the owner; with another battery's, neither.
        assert _error(env.get(f"{path}/{what}", "fleet", holding=b""), 403)["code"] == 7
        wrong = _error(env.get(f"{path}/{what}", "fleet", holding=bytes(32)), 403)
        assert "does not open" in wrong["message"]
        # The oracle writes the health but is no reader the regulation names.
        assert _error(env.get(f"{path}/{what}", "oracle"), 403)["code"] == 7

    # The manufacturer reads health without the holding, status only with it (who holds
    # the battery is the holding's: the ledger does not know which holding it is).
    assert env.get(f"{path}/health", "maker", holding=b"").status_code == 200
    no_holding = _error(env.get(f"{path}/status", "maker", holding=b""), 403)
    assert (no_holding["codespace"], no_holding["code"]) == ("passport", 7)
    assert "holding secret" in no_holding["message"]
    # A request for another battery is not a key to this one.
    other = {
        READ_HEADER: read_request(env.keys["fleet"], env.target, battery_id_of("X-1"), "health")
    }
    assert "not 'health'" in _error(env.get(f"{path}/health", headers=other), 403)["message"]
    # A request for the public part does not open point 4.
    public = sign_read_request(
        env.keys["fleet"], chain_id=env.chain_id, node_id=env.target.node_id,
        route=point4_route(battery_id, "health"), battery_id=battery_id, part="public",
        issued_at_ms=int(time.time() * 1000),
    )  # fmt: skip
    wrong_part = {READ_HEADER: public.to_bytes().hex()}
    assert _error(env.get(f"{path}/health", headers=wrong_part), 403)["code"] == 7

    fleet_key = env.keys["fleet"]
    stale = {READ_HEADER: read_request(fleet_key, env.target, battery_id, "health", now_ms=1_000)}
    assert _error(env.get(f"{path}/health", headers=stale), 401)["code"] == 3
    other_chain = ReadTarget("other-chain", env.target.node_id)
    elsewhere = {READ_HEADER: read_request(fleet_key, other_chain, battery_id, "health")}
    assert _error(env.get(f"{path}/health", headers=elsewhere), 401)["code"] == 2
    other_node = ReadTarget(env.chain_id, bytes(16))
    another = {READ_HEADER: read_request(fleet_key, other_node, battery_id, "health")}
    assert _error(env.get(f"{path}/health", headers=another), 401)["code"] == 14
    good = read_request(fleet_key, env.target, battery_id, "health")
    flipped = good[:-2] + ("00" if good[-2:] != "00" else "01")
    assert _error(env.get(f"{path}/health", headers={READ_HEADER: flipped}), 401)["code"] == 1
    assert _error(env.get(f"{path}/health", headers={READ_HEADER: "zz"}), 400)["code"] == 10
    assert _error(env.get(f"{path}/health", headers={READ_HEADER: "00" * 40}), 400)["code"] == 10
    # Unknown battery: 404 before any check (the passport is public anyway).
    assert _error(env.get(f"/battery/{'0' * 64}/health"), 404)


def test_openings_are_kept_only_when_they_open_the_ledger(env: Env) -> None:
    battery_id = battery_id_of("VC-EV-0001")
    path = f"{env.url}/battery/{battery_id.hex()}/openings"
    composition = {"part": "composition", "fields": EXAMPLE["composition"], "salt": "73" * 32}
    kept = httpx.post(path, json=composition)
    assert kept.status_code == 201, kept.text
    assert (
        kept.json()["commitment"]
        == commit_part("composition", EXAMPLE["composition"], b"s" * 32).hex()
    )
    assert "fields" not in kept.json()
    for body, status, code in (
        ({**composition, "salt": "74" * 32}, 409, 9),  # another salt: does not open it
        ({**composition, "fields": {**EXAMPLE["composition"], "x": 1}}, 409, 9),
        ({**composition, "part": "public"}, 400, 6),
        ({**composition, "fields": {"x": 0.5}}, 400, 11),
    ):
        error = _error(httpx.post(path, json=body), status)
        assert (error["codespace"], error["code"]) == ("passport", code), error
    # Many at once: each kept or refused on its own, in order.
    other = battery_id_of("VC-EV-0002").hex()
    many = env.node.client.deliver_openings(
        [
            {**composition, "battery_id": other},
            {**composition, "battery_id": other, "salt": "74" * 32},
            {**composition, "battery_id": "0" * 64},
        ]
    )
    assert many["kept"] == 1 and "error" not in many["results"][0]
    assert [r["error"]["code"] for r in many["results"][1:]] == [9, 5]
    batch_url = f"{env.url}/battery/openings/batch"
    assert httpx.post(batch_url, json={"openings": []}).status_code == 422
    assert httpx.post(batch_url, json={"openings": [composition]}).status_code == 422
    assert httpx.post(path, json={**composition, "salt": "zz"}).status_code == 422
    assert httpx.post(path, json={**composition, "extra": 1}).status_code == 422
    assert httpx.post(path, content=b"{not json").status_code in (400, 422)
    assert _error(httpx.post(f"{env.url}/battery/{'0' * 64}/openings", json=composition), 404)

    # The owner reads point 2 in clear and checks it against the ledger; point 3 is the
    # authorities' only; a request is served once.
    def part(who: str, name: str) -> httpx.Response:
        header = part_read_request(
            env.keys[who], env.target, battery_id, name, holding=secret(battery_id)
        )
        return httpx.get(f"{env.url}/battery/{battery_id.hex()}/parts/{name}",
                         headers={READ_HEADER: header})  # fmt: skip

    served = part("fleet", "composition")
    assert served.status_code == 200, served.text
    doc = served.json()
    assert doc["fields"] == EXAMPLE["composition"]
    assert (
        commit_part("composition", doc["fields"], bytes.fromhex(doc["salt"])).hex()
        == (doc["commitment"])
    )
    assert _error(part("fleet", "test_reports"), 403)["code"] == 7
    assert _error(part("stranger", "composition"), 403)["code"] == 7
    assert _error(part("maker", "test_reports"), 404)["code"] == 8  # never delivered here
    header = part_read_request(
        env.keys["fleet"], env.target, battery_id, "composition", holding=secret(battery_id)
    )
    url = f"{env.url}/battery/{battery_id.hex()}/parts/composition"
    assert httpx.get(url, headers={READ_HEADER: header}).status_code == 200
    assert _error(httpx.get(url, headers={READ_HEADER: header}), 401)["code"] == 4
    mismatch = _error(httpx.get(f"{env.url}/battery/{battery_id.hex()}/parts/health",
                                headers={READ_HEADER: header}), 403)  # fmt: skip
    assert "not 'health'" in mismatch["message"]


def test_the_fleet_lists_the_holdings_from_the_index(env: Env) -> None:
    page = env.node.client.battery_fleet(fleet_read_request(env.keys["fleet"], env.target))
    holdings = {h["holding_id"]: h for h in page["holdings"]}
    assert set(holdings) == {hid(i).hex() for i in FLEET_IDS} and page["next"] is None
    assert {(h["role"], h["status"], h["owner"]) for h in holdings.values()} == {
        ("owner", "original", env.wallets["fleet"].address)
    }
    # The battery ids are not there: nothing on the ledger links a holding to its battery.
    assert not {battery_id_of(i).hex() for i in FLEET_IDS} & set(json.dumps(page).split('"'))
    first = env.node.client.battery_fleet(
        fleet_read_request(env.keys["fleet"], env.target), limit=1
    )
    assert len(first["holdings"]) == 1
    assert first["next"] == f"o:{first['holdings'][0]['holding_id']}"
    rest = env.node.client.battery_fleet(
        fleet_read_request(env.keys["fleet"], env.target), after=first["next"]
    )
    assert [h["holding_id"] for h in first["holdings"] + rest["holdings"]] == list(holdings)
    # The manufacturer made them but holds none; a stranger's fleet is empty; no request, or
    # one for a battery, is refused.
    for who in ("maker", "stranger"):
        mine = env.node.client.battery_fleet(fleet_read_request(env.keys[who], env.target))
        assert mine["holdings"] == []
    assert _error(httpx.get(f"{env.url}/battery/fleet"), 401)
    per_battery = read_request(env.keys["fleet"], env.target, battery_id_of("VC-EV-0001"), "health")
    assert _error(httpx.get(f"{env.url}/battery/fleet", headers={READ_HEADER: per_battery}), 403)
    assert _error(httpx.get(f"{env.url}/battery/fleet", params={"after": "xy"}), 422)
    assert _error(httpx.get(f"{env.url}/battery/fleet", params={"after": "b" * 72}), 422)
    assert _error(httpx.get(f"{env.url}/battery/fleet", params={"limit": 101}), 422)


def test_former_owner_loses_access(env: Env) -> None:
    battery_id = battery_id_of("VC-EV-0003")
    path = f"/battery/{battery_id.hex()}"
    stranger = env.wallets["stranger"].address
    env.wallets["fleet"].submit([MsgTransfer(hid("VC-EV-0003"), address_to_bytes(stranger))])
    assert _error(env.get(f"{path}/status", "fleet"), 403)["code"] == 7
    assert env.get(f"{path}/status", "stranger").json()["owner"] == stranger
    history = env.get(f"{path}/history", "stranger").json()["history"]
    assert [c["action"] for c in history] == ["registered", "transferred"]
    # The new owner's fleet lists it, the former owner's no longer.
    fleets = {
        who: env.node.client.battery_fleet(fleet_read_request(env.keys[who], env.target))
        for who in ("fleet", "stranger")
    }
    assert [h["holding_id"] for h in fleets["stranger"]["holdings"]] == [hid("VC-EV-0003").hex()]
    assert hid("VC-EV-0003").hex() not in {h["holding_id"] for h in fleets["fleet"]["holdings"]}
    # The file the CLI writes for the pages carries one request per route of the page.
    doc = read_request_file(
        env.keys["stranger"], env.target, battery_id, holding=secret(battery_id)
    )
    requests = {entry["route"]: entry["request"] for entry in doc["requests"]}
    assert list(requests) == [f"GET {path}/{name}" for name in POINT4]
    for name in ("health", "prediction"):
        header = {doc["header"]: requests[f"GET {path}/{name}"]}
        response = env.get(f"{path}/{name}", headers=header)
        assert response.status_code == 200, response.text
    assert doc["expires_at_ms"] - doc["issued_at_ms"] == 60_000
    assert doc["node_id"] == env.target.node_id.hex()


def test_a_request_is_answered_once_on_its_own_route(env: Env) -> None:
    """The issue's replay: one captured header answered /status, /history and /health again
    and again. Now each request is for one route of one node, and answered once."""
    battery_id = battery_id_of("VC-EV-0002")
    path = f"/battery/{battery_id.hex()}"
    captured = env.header("maker", battery_id, "health")
    assert env.get(f"{path}/health", headers=captured).status_code == 200
    for _ in range(2):
        assert _error(env.get(f"{path}/health", headers=captured), 401)["code"] == 4
        for name in ("status", "history", "prediction"):
            assert _error(env.get(f"{path}/{name}", headers=captured), 403)["code"] == 15
    fleet = {READ_HEADER: fleet_read_request(env.keys["maker"], env.target)}
    assert httpx.get(f"{env.url}/battery/fleet", headers=fleet).status_code == 200
    assert _error(httpx.get(f"{env.url}/battery/fleet", headers=fleet), 401)["code"] == 4
