"""The devices page (/device) in Debian's Chromium against a real node: reached from the
explorer's navigation; a device by id (kind, owner with a link to the explorer's account page,
status, current key, the owner's other devices); an anchored batch by id (root, count, gateway,
height, time) with a link to its gateway; an unknown id and a malformed one each answered with
a clear message; markup-shaped input shown as text; no console errors. Playwright drives
/usr/bin/chromium through ``executable_path``; the session's browser and each test's page come
from tests/e2e/conftest.py."""

from __future__ import annotations

import datetime
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from browserutil import Console, follow_link, open_page, save_screenshot

from citychain.client import Wallet
from citychain.crypto.keys import PrivateKey
from citychain.crypto.keystore import Keystore
from citychain.init_home import init_home
from citychain.modules.devices.messages import MsgAnchorBatch, MsgDecommission
from citychain.sim.devices import SimDevice, register_devices
from citychain.sim.localnode import LocalNode
from citychain.telemetry import merkle
from citychain.telemetry.gateway.store import batch_id_of

playwright_api = pytest.importorskip("playwright.sync_api")
expect = playwright_api.expect

pytestmark = [pytest.mark.browser, pytest.mark.timeout(180)]

PASSWORD = "pw"
META = hashlib.sha256(b"device page metadata").digest()


@dataclass
class Env:
    node: LocalNode
    owner: str
    gateway: SimDevice
    meter: SimDevice  # decommissioned
    batch_id: bytes
    root: bytes
    anchor_height: int
    anchor_time_ms: int


def _key(name: str) -> PrivateKey:
    return PrivateKey.from_seed(hashlib.sha256(b"test_device_page/" + name.encode()).digest())


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    base = tmp_path_factory.mktemp("device-page")
    home, _, _ = init_home(base / "home", password=PASSWORD, kdf_limits=(1, 8192))
    keystore = Keystore(home.keys_dir, opslimit=1, memlimit=8192)
    keystore.add("fleet", PASSWORD)
    with LocalNode(base / "home") as node:
        issuer = Wallet(keystore.load("issuer", PASSWORD), node.client)
        owner = Wallet(keystore.load("fleet", PASSWORD), node.client)
        issuer.send(owner.address, 20_000, wait=True)
        gateway = SimDevice(_key("gateway"), kind="gateway")
        bms = SimDevice(_key("bms"))
        meter = SimDevice(_key("meter"), kind="meter")
        register_devices(owner, [gateway, bms, meter], META)
        owner.submit([MsgDecommission(meter.id)])
        reports = [bms.report() for _ in range(5)]
        root = merkle.root([merkle.leaf_hash(r) for r in reports])
        batch_id = batch_id_of(gateway.id, root, len(reports))
        result = owner.submit([MsgAnchorBatch(batch_id, root, len(reports), gateway.id)])
        block = node.client.block(result["height"])
        yield Env(
            node, owner.address, gateway, meter, batch_id, root, result["height"],
            block["header"]["time_ms"],
        )  # fmt: skip


def _look_up(page: Any, term: str) -> None:
    page.locator("#lookup-input").fill(term)
    page.locator("#lookup button").click()


def test_device_and_batch_by_id(page: Any, env: Env, tmp_path: Path) -> None:
    console = Console(page)
    open_page(page, f"{env.node.url}/")
    # The page's script must handle the form before a lookup: without it the browser would
    # send the form itself (a GET of /device?id=...), another path to the same view.
    follow_link(page, page.get_by_role("link", name="Devices"), f"{env.node.url}/device")
    expect(page.get_by_role("heading", level=1)).to_have_text("Devices and telemetry batches")

    _look_up(page, env.gateway.id.hex())
    card = page.locator("#device-card")
    expect(card.locator("h2")).to_have_text("Telemetry gateway")
    expect(page.locator("#kind")).to_have_text("gateway")
    expect(page.locator("#status")).to_have_text("active")
    expect(page.locator("#public-key")).to_have_text(env.gateway.key.public_key.hex())
    expect(page.locator("#key-version")).to_contain_text("1 (the key it was registered with)")
    owner = page.locator("#owner")
    expect(owner).to_have_text(env.owner)
    expect(owner).to_have_attribute("href", f"/#/account/{env.owner}")
    # The owner's other two devices, each a link to its own page.
    expect(page.locator("#owner-device-list li")).to_have_count(2)
    assert page.url.endswith(f"/device?id={env.gateway.id.hex()}")
    save_screenshot(page, tmp_path / "device.png")

    _look_up(page, env.batch_id.hex().upper())
    expect(page.locator("#batch-id")).to_have_text(env.batch_id.hex())
    expect(page.locator("#device-card")).to_have_count(0)
    expect(page.locator("#root")).to_have_text(env.root.hex())
    expect(page.locator("#count")).to_have_text("5")
    expect(page.locator("#anchor-height")).to_have_text(str(env.anchor_height))
    when = datetime.datetime.fromtimestamp(env.anchor_time_ms / 1000, datetime.UTC)
    expect(page.locator("#anchor-time")).to_have_text(f"{when:%Y-%m-%d %H:%M:%S} UTC")
    expect(page.locator("#owner")).to_have_text(env.owner)
    save_screenshot(page, tmp_path / "batch.png")

    # The batch's gateway leads back to the gateway device.
    gateway_page = f"{env.node.url}/device?id={env.gateway.id.hex()}"
    follow_link(page, page.locator("#batch-card [data-fact=gateway] a"), gateway_page)
    expect(page.locator("#device-id")).to_have_text(env.gateway.id.hex())

    # The owner link opens the explorer's account page.
    follow_link(page, page.locator("#owner"), f"{env.node.url}/#/account/{env.owner}")
    expect(page.locator("main")).to_contain_text(env.owner)
    assert "/#/account/" in page.url
    assert console.besides_http_errors() == []


def test_decommissioned_unknown_and_malformed_ids(page: Any, env: Env) -> None:
    console = Console(page)
    open_page(page, f"{env.node.url}/device?id={env.meter.id.hex()}")
    expect(page.locator("#device-card h2")).to_have_text("Meter")
    expect(page.locator("#status")).to_have_text("decommissioned")

    _look_up(page, "ab" * 32)
    expect(page.locator("#result .notice-title")).to_have_text("Nothing with this id")
    expect(page.locator("#result")).to_contain_text("ab" * 32)
    expect(page.locator("#device-card")).to_have_count(0)

    _look_up(page, "<img src=x onerror=alert(1)>")
    expect(page.locator("#result .notice-title")).to_have_text("Not a device or batch id")
    assert page.locator("img").count() == 0
    assert console.besides_http_errors() == []
