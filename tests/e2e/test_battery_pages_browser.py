"""The battery passport (/battery) and fleet (/fleet) pages in Debian's Chromium, against a real
node: the public passport for anyone; the owner's status, history, health curve (inline SVG,
one dot per update) and prediction band after dropping a signed read request file (which names
the battery's holding by its secret); a stranger's request refused; the fleet's holdings, owned
and leased; no console errors. Playwright drives /usr/bin/chromium through
``executable_path``; the session's browser and each test's page come from tests/e2e/conftest.py.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from browserutil import Console, follow_link, open_page, save_screenshot
from helpers import fund_in_genesis
from telemetry import anchor_batch

from citychain.client import Wallet
from citychain.client.battery import ReadTarget, read_request_file, submit_health
from citychain.crypto.address import address_to_bytes
from citychain.crypto.keys import PrivateKey
from citychain.crypto.keystore import Keystore
from citychain.init_home import init_home
from citychain.modules.battery.commitment import commit_part
from citychain.modules.battery.holding import holding_commitment, holding_id_of
from citychain.modules.battery.messages import (
    MsgAttestPrediction,
    MsgLease,
    MsgOpenHolding,
    MsgRegisterBattery,
    Passport,
)
from citychain.modules.battery.state import DAY_MS, battery_id_of
from citychain.sim.localnode import LocalNode

playwright_api = pytest.importorskip("playwright.sync_api")
expect = playwright_api.expect

pytestmark = [pytest.mark.browser, pytest.mark.timeout(240)]

PASSWORD = "pw"
EXAMPLE = json.loads((Path(__file__).resolve().parents[2] / "examples/battery.json").read_text())
# identifier -> (days from the chain's day to the predicted end of life, health updates); the node
# counts "due" days from its last block's day, so the dates are set from the block clock.
BATTERIES = {"PG-0001": (200, 2), "PG-0002": (12, 3), "PG-0003": (45, 1)}


def secret(identifier: str) -> bytes:
    """The battery's holding secret, which its owner's holding file holds."""
    return hashlib.sha256(b"holding/" + identifier.encode()).digest()


def hid(identifier: str) -> bytes:
    return holding_id_of(battery_id_of(identifier), secret(identifier))


@dataclass
class Env:
    node: LocalNode
    chain_id: str
    keys: dict[str, PrivateKey]

    def request_file(self, path: Path, who: str, identifier: str | None) -> Path:
        battery_id = battery_id_of(identifier) if identifier else None
        held = secret(identifier) if identifier else b""
        target = ReadTarget.of(self.node.client)
        doc = read_request_file(self.keys[who], target, battery_id, holding=held)
        path.write_text(json.dumps(doc))
        return path


def _register(identifier: str) -> MsgRegisterBattery:
    fields = {**EXAMPLE["passport"], "identifier": identifier}
    fields["hazardous_substances"] = tuple(fields["hazardous_substances"])
    return MsgRegisterBattery(
        passport=Passport(**fields),
        legitimate_interest_commitment=commit_part("composition", {}, b"c" * 32),
        authority_commitment=commit_part("test_reports", {}, b"t" * 32),
        holding_commitment=holding_commitment(battery_id_of(identifier), secret(identifier)),
    )


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    base = tmp_path_factory.mktemp("battery-pages")
    home, genesis, _ = init_home(base / "home", password=PASSWORD, kdf_limits=(1, 8192))
    keystore = Keystore(home.keys_dir, opslimit=1, memlimit=8192)
    addresses = {n: keystore.add(n, PASSWORD).address for n in ("fleet", "stranger")}
    fund_in_genesis(home.genesis_file, addresses.values(), 100_000)
    # "maker" is the manufacturer key `citychain init` makes with the role.
    names = ("maker", "fleet", "stranger", "oracle")
    keys = {n: keystore.load("manufacturer" if n == "maker" else n, PASSWORD) for n in names}
    node = LocalNode(base / "home").start()
    try:
        maker = Wallet(keys["maker"], node.client)
        oracle = Wallet(keys["oracle"], node.client)
        today = None
        for identifier, (days, updates) in BATTERIES.items():
            battery_id = battery_id_of(identifier)
            registered = maker.submit([_register(identifier)])
            fleet = address_to_bytes(addresses["fleet"])
            maker.submit([MsgOpenHolding(hid(identifier), fleet, None)])
            if today is None:
                block = node.client.block(registered["height"])
                today = block["header"]["time_ms"] // DAY_MS
            for step in range(1, updates + 1):
                batch = anchor_batch(maker, f"{identifier}/{step}".encode())
                values = {
                    "soh_permyriad": 10_000 - 400 * step,
                    "remaining_capacity_mah": 140_000,
                    "capacity_fade_permille": 10 * step,
                    "resistance_increase_permille": 20 * step,
                    "energy_throughput_wh": 1_000_000 * step,
                    "equivalent_full_cycles_x100": 25_000 * step,
                    "extreme_temperature_s": 0,
                    "deep_discharge_events": 0,
                }
                submit_health(oracle, battery_id, values, batch)
            oracle.submit([MsgAttestPrediction(battery_id, 1_700, today + days, 1_400, 2_000,
                                               b"m" * 32, b"i" * 32)])  # fmt: skip
        # The fleet operator leases one out: the lessee's fleet lists it.
        Wallet(keys["fleet"], node.client).submit(
            [MsgLease(hid("PG-0003"), address_to_bytes(addresses["stranger"]), None)]
        )
        yield Env(node, genesis.chain_id, keys)
    finally:
        node.stop(timeout=3.0)


def test_passport_and_owner_view(page: Any, env: Env, tmp_path: Path) -> None:
    console = Console(page)
    headers: list[str | None] = []
    page.on("request", lambda r: headers.append(r.headers.get("x-citychain-read-request")))
    open_page(page, f"{env.node.url}/battery?id=PG-0002")
    expect(page.locator("#identifier")).to_have_text("PG-0002")
    card = page.locator("#passport-card")
    expect(card).to_contain_text("Voltcell EV60")
    expect(card).to_contain_text("60 kWh")
    expect(card).to_contain_text("2023-08-31")
    expect(page.locator("#owner-view")).to_be_visible()
    assert not any(headers), "no read request before the owner gives one"

    # The owner drops the request file the CLI would write.
    request = env.request_file(tmp_path / "req.json", "fleet", "PG-0002")
    page.locator("#file-input").set_input_files(str(request))
    expect(page.locator("#status")).to_have_text("original")
    expect(page.locator("#health-chart .soh-point")).to_have_count(3)
    expect(page.locator("#health-chart .soh-line")).to_have_count(1)
    expect(page.locator("#health-chart .prediction-band")).to_have_count(1)
    expect(page.locator("#band")).to_have_text("1,400 – 2,000 cycles")
    expect(page.locator("#due-banner")).to_be_visible()
    expect(page.locator("#soh")).to_have_text("88.00 %")
    # The browser itself checked the values against the ledger's commitment.
    expect(page.locator("#health-check")).to_contain_text("open the ledger's commitment")
    expect(page.locator("#health-check")).to_have_class("check-ok small")
    expect(page.locator("#history tbody tr")).to_have_count(1)
    # The dots follow the updates: state of health falls, so each dot sits lower.
    ys = [float(y) for y in page.locator("#health-chart .soh-point").evaluate_all(
        "els => els.map(e => e.getAttribute('cy'))")]  # fmt: skip
    assert ys == sorted(ys) and len(set(ys)) == 3
    save_screenshot(page, tmp_path / "battery-owner.png")
    assert console.besides_http_errors() == []


def test_values_that_do_not_open_the_commitment_are_flagged(
    page: Any, env: Env, tmp_path: Path
) -> None:
    """A node (or anything between) that changes one health value is caught by the page."""

    def tamper(route: Any) -> None:
        response = route.fetch()
        doc = response.json()
        doc["health"]["soh_permyriad"] += 100
        route.fulfill(response=response, json=doc)

    page.route("**/battery/*/health", tamper)
    open_page(page, f"{env.node.url}/battery?id=PG-0002")
    request = env.request_file(tmp_path / "req.json", "fleet", "PG-0002")
    page.locator("#file-input").set_input_files(str(request))
    expect(page.locator("#soh")).to_have_text("89.00 %")
    expect(page.locator("#health-check")).to_contain_text("do NOT open")
    expect(page.locator("#health-check")).to_have_class("check-bad small")


def test_requests_that_do_not_open_point_four(page: Any, env: Env, tmp_path: Path) -> None:
    console = Console(page)
    open_page(page, f"{env.node.url}/battery?id={battery_id_of('PG-0001').hex()}")
    expect(page.locator("#identifier")).to_have_text("PG-0001")
    stranger = env.request_file(tmp_path / "stranger.json", "stranger", "PG-0001")
    page.locator("#file-input").set_input_files(str(stranger))
    expect(page.locator("#restricted .notice-title")).to_have_text("Not allowed")
    expect(page.locator("#health-chart")).to_have_count(0)
    other = env.request_file(tmp_path / "other.json", "fleet", "PG-0003")
    page.locator("#file-input").set_input_files(str(other))
    expect(page.locator("#restricted .notice-title")).to_have_text("A request for another battery")
    (tmp_path / "junk.json").write_text("not json")
    page.locator("#file-input").set_input_files(str(tmp_path / "junk.json"))
    expect(page.locator("#restricted .notice-title")).to_have_text("Not a read request")
    # XSS-shaped input is text, and an unknown identifier says so.
    page.locator("#lookup-input").fill("<img src=x onerror=alert(1)>")
    page.locator("#lookup button").click()
    expect(page.locator("#passport .notice-title")).to_have_text("Not a battery id or identifier")
    page.locator("#lookup-input").fill("NO-SUCH-1")
    page.locator("#lookup button").click()
    expect(page.locator("#passport .notice-title")).to_have_text("No such battery")
    assert page.locator("img").count() == 0
    assert console.besides_http_errors() == []


def test_fleet_lists_the_holdings(page: Any, env: Env, tmp_path: Path) -> None:
    console = Console(page)
    open_page(page, f"{env.node.url}/")
    # The fleet page's script must have wired the file input before a file is chosen.
    follow_link(page, page.get_by_role("link", name="Battery fleet"), f"{env.node.url}/fleet")
    expect(page.get_by_role("heading", level=1)).to_have_text("Battery fleet")
    request = env.request_file(tmp_path / "fleet.json", "fleet", None)
    page.locator("#file-input").set_input_files(str(request))
    rows = page.locator("#fleet-table tbody tr")
    expect(rows).to_have_count(3)
    # In the owner index's order: by holding id.
    assert rows.evaluate_all("rs => rs.map(r => r.dataset.holding)") == sorted(
        hid(i).hex() for i in BATTERIES
    )
    assert rows.evaluate_all("rs => rs.map(r => r.dataset.role)") == ["owner"] * 3
    expect(page.locator("#fleet-summary")).to_contain_text("owns 3 and leases 0")
    # The battery ids are nowhere on the page: the ledger does not link them to holdings.
    text = page.locator("#fleet").inner_text()
    assert not any(battery_id_of(i).hex() in text for i in BATTERIES)
    save_screenshot(page, tmp_path / "battery-fleet.png")

    open_page(page, f"{env.node.url}/fleet")
    stranger = env.request_file(tmp_path / "stranger-fleet.json", "stranger", None)
    page.locator("#file-input").set_input_files(str(stranger))
    expect(rows).to_have_count(1)
    assert rows.evaluate_all("rs => rs.map(r => r.dataset.role)") == ["lessee"]
    expect(page.locator("#fleet-summary")).to_contain_text("owns 0 and leases 1")
    per_battery = env.request_file(tmp_path / "one.json", "fleet", "PG-0001")
    page.locator("#file-input").set_input_files(str(per_battery))
    expect(page.locator("#fleet .notice-title")).to_have_text("Not a fleet request")
    assert console.besides_http_errors() == []
