"""The explorer page (issue 2 item 7) in Debian's Chromium, against a real node process.

Playwright drives /usr/bin/chromium through ``executable_path``: this project's machines cannot
download Playwright's own browser builds. ``make system-deps`` installs it. The session's browser
and each test's page come from tests/e2e/conftest.py.

One node serves the module. Blocks 1 and 2 (a mint to alice, alice's payment to bob) are made
before any test; a test that adds blocks uses accounts of its own, and one that shows the
chain's height reads it when it starts, so the tests hold in any order.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from browserutil import Console, open_page, save_screenshot

from citychain.client import Wallet, verify_bundle
from citychain.crypto.address import address_from_public_key
from citychain.crypto.keys import PrivateKey
from citychain.crypto.keystore import Keystore
from citychain.init_home import init_home
from citychain.sim.localnode import LocalNode

playwright_api = pytest.importorskip("playwright.sync_api")
expect = playwright_api.expect

pytestmark = [pytest.mark.browser, pytest.mark.timeout(180)]


MINTED = 50_000  # cents: 500.00 ccy
SENT = 12_345  # cents: 123.45 ccy
FEE = 1  # the wallet's default fee, paid by alice on her send
SHUTDOWN_SECONDS = 3.0
LATEST_BLOCKS = 20  # rows of the latest-blocks table (citychain/web/explorer/home.js)


def ccy(cents: int) -> str:
    """How the explorer writes an amount of the city currency (two decimals)."""
    return f"{cents // 100:,}.{cents % 100:02d} ccy"


@dataclass
class Ledger:
    node: LocalNode
    issuer: Wallet
    alice: Wallet
    bob: str
    mint: dict[str, Any]
    send: dict[str, Any]

    @property
    def url(self) -> str:
        return self.node.url


@pytest.fixture(scope="module")
def ledger(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ledger]:
    """A fresh node for the module: the issuer mints 500.00 ccy to alice (block 1), alice pays
    bob 123.45 (block 2). Tests add blocks only with accounts of their own."""
    home_dir = tmp_path_factory.mktemp("explorer") / "home"
    home, _, _ = init_home(home_dir, password="pw", kdf_limits=(1, 8192))
    node = LocalNode(home_dir).start()
    try:
        issuer = Wallet(Keystore(home.keys_dir).load("issuer", "pw"), node.client)
        alice = Wallet(PrivateKey.generate(), node.client)
        bob = address_from_public_key(PrivateKey.generate().public_key)
        mint = issuer.mint(alice.address, MINTED)
        send = alice.send(bob, SENT)
        yield Ledger(node, issuer, alice, bob, mint, send)
    finally:
        # A node that has served a /ws client does not finish a graceful shutdown (the socket
        # handler never sees the disconnect), so don't wait the default 20 s for it.
        node.stop(timeout=SHUTDOWN_SECONDS)


def screenshot(page: Any, tmp_path: Path, name: str) -> Path:
    return save_screenshot(page, tmp_path / f"explorer-{name}.png")


def field(scope: Any, name: str) -> Any:
    """The value cell of a message or event field."""
    return scope.locator(f'[data-field="{name}"] dd')


def latest(height: int) -> list[str]:
    """The heights the latest-blocks table lists at chain height ``height``, newest first."""
    return [str(h) for h in range(height, max(0, height - LATEST_BLOCKS), -1)]


def funded_payer(ledger: Ledger, cents: int) -> Wallet:
    """A new account the issuer mints ``cents`` to (one block), for a test's own payments."""
    payer = Wallet(PrivateKey.generate(), ledger.node.client)
    ledger.issuer.mint(payer.address, cents)
    return payer


def test_explorer_walks_block_tx_account_and_follows_new_blocks(
    ledger: Ledger, page: Any, tmp_path: Path
) -> None:
    console = Console(page)
    client = ledger.node.client
    assert (ledger.mint["height"], ledger.send["height"]) == (1, 2)
    # 2 on the module's fresh node; more if another test of the module ran first.
    height = client.status()["height"]

    # Latest blocks: the header and table match the node.
    open_page(page, ledger.url + "/")
    expect(page.locator("#live")).to_have_attribute("data-state", "live")
    expect(page.locator("#chain-id")).to_have_text(client.status()["chain_id"])
    expect(page.locator("#chain-height")).to_have_text(str(height))
    rows = page.locator("#latest-blocks tbody tr")
    expect(rows).to_have_count(len(latest(height)))
    assert rows.locator("td:first-child").all_inner_texts() == latest(height)
    assert [str(b["height"]) for b in client.blocks()] == latest(height)
    expect(page.locator("#supply")).to_contain_text(ccy(client.supply()["ccy"]))
    screenshot(page, tmp_path, "home")

    # Block 2, then its one transaction: alice's payment to bob.
    page.locator('#latest-blocks tr[data-height="2"] td:first-child a').click()
    expect(page).to_have_url(f"{ledger.url}/#/block/2")
    expect(page.get_by_role("heading", level=1)).to_have_text("Block 2")
    block = client.block(2)
    expect(page.locator(".facts").first).to_contain_text(block["hash"])
    block_txs = page.locator("#block-txs tbody tr")
    expect(block_txs).to_have_count(1)
    expect(block_txs).to_contain_text(f"Payment of {ccy(SENT)}")
    screenshot(page, tmp_path, "block")
    block_txs.get_by_role("link", name=ledger.send["hash"][:10]).click()

    expect(page).to_have_url(f"{ledger.url}/#/tx/{ledger.send['hash']}")
    expect(page.locator("#tx-status")).to_contain_text("Success")
    story = page.locator("#tx-story")
    expect(story).to_contain_text(f"paid {ccy(SENT)} to")
    expect(story.locator(f'a[href="#/account/{ledger.alice.address}"]')).to_have_count(1)
    expect(story.locator(f'a[href="#/account/{ledger.bob}"]')).to_have_count(1)
    expect(page.locator(".facts").first).to_contain_text(ledger.alice.address)  # sender
    message = page.locator("article.message")
    expect(message).to_contain_text("bank/send")
    expect(field(message, "recipient")).to_have_text(ledger.bob)
    expect(field(message, "amount")).to_have_text(ccy(SENT))
    event = page.locator("article.event")
    expect(field(event, "sender")).to_have_text(ledger.alice.address)
    expect(field(event, "recipient")).to_have_text(ledger.bob)
    screenshot(page, tmp_path, "tx")

    # Search for alice: her balance to the cent, her two transactions, a proof to download.
    alice_cents = MINTED - SENT - FEE
    assert client.account(ledger.alice.address)["balances"]["ccy"] == alice_cents == 37_654
    page.get_by_label("Search the ledger").fill(ledger.alice.address)
    page.get_by_label("Search the ledger").press("Enter")
    expect(page).to_have_url(f"{ledger.url}/#/account/{ledger.alice.address}")
    expect(page.locator(".headline-amount")).to_have_text("376.54 ccy")
    expect(page.locator('#balances tr[data-denom="ccy"] td.amount')).to_have_text(ccy(alice_cents))
    account_txs = page.locator("#account-txs tbody tr")
    expect(account_txs).to_have_count(2)
    expect(account_txs.nth(0)).to_contain_text(f"−{ccy(SENT)}")
    expect(account_txs.nth(1)).to_contain_text(f"+{ccy(MINTED)}")
    screenshot(page, tmp_path, "account")

    with page.expect_download() as download_info:
        page.get_by_role("button", name="Download ccy balance proof").click()
    download = download_info.value
    assert download.suggested_filename == (
        f"balance-proof-{ledger.alice.address}-ccy-h{height}.json"
    )
    bundle = json.loads(Path(download.path()).read_text())
    assert bundle["balance"] == alice_cents
    assert bundle["proof"]["claim"]["amount"] == alice_cents
    validator = bytes.fromhex(client.status()["validator"]["public_key"])
    verified = verify_bundle(bundle["proof"], [(validator, 10)])
    assert verified.valid, verified.reason

    # A new payment reaches the open page over /ws: no reload, no polling interval to wait.
    # (From an account of this test's own, so that alice's balance and history stay as other
    # tests of the module expect them.)
    payer = funded_payer(ledger, 1_000)
    height += 1
    page.locator(".crumbs a", has_text="Latest blocks").click()
    expect(rows).to_have_count(len(latest(height)))
    expect(rows.first).to_have_attribute("data-height", str(height))
    page.evaluate("window.__sameDocument = true")
    new = payer.send(ledger.bob, 100)
    assert new["height"] == height + 1
    expect(page.locator("#chain-height")).to_have_text(str(height + 1))
    expect(rows).to_have_count(len(latest(height + 1)))
    expect(rows.first).to_have_attribute("data-height", str(height + 1))
    expect(page.locator("#app-hash")).to_have_attribute("title", client.status()["app_hash"])
    assert page.evaluate("window.__sameDocument") is True
    screenshot(page, tmp_path, "home-live")

    assert console.errors == []


def test_account_view_updates_live_and_polling_takes_over_without_the_socket(
    ledger: Ledger, page: Any
) -> None:
    console = Console(page)
    # This test's own payer and payee: a received 123.45, as bob's on block 2.
    payer = funded_payer(ledger, MINTED)
    payee = address_from_public_key(PrivateKey.generate().public_key)
    received = payer.send(payee, SENT)
    # Refuse the event stream: the page must fall back to polling /status.
    page.route_web_socket("**/ws", lambda socket: socket.close())
    open_page(page, f"{ledger.url}/#/account/{payee}")
    expect(page.locator("#live")).to_have_attribute("data-state", "polling")
    expect(page.locator(".headline-amount")).to_have_text(ccy(SENT))
    page.evaluate("window.__sameDocument = true")
    paid = payer.send(payee, 55)
    assert paid["height"] == received["height"] + 1
    expect(page.locator(".headline-amount")).to_have_text(ccy(SENT + 55))
    expect(page.locator("#chain-height")).to_have_text(str(paid["height"]))
    expect(page.locator("#account-txs tbody tr")).to_have_count(2)
    assert page.evaluate("window.__sameDocument") is True
    assert console.errors == []


def test_bad_input_and_missing_things_get_a_friendly_message(
    ledger: Ledger, page: Any, tmp_path: Path
) -> None:
    console = Console(page)
    open_page(page, f"{ledger.url}/#/account/city1notanaddress")
    error = page.locator("#error")
    expect(error).to_contain_text("not a valid citychain address")
    expect(error.get_by_role("link", name="Back to latest blocks")).to_be_visible()
    screenshot(page, tmp_path, "error")

    cases = {
        "#/block/99": "no block at height 99",
        "#/block/twelve": "not a block height",
        "#/tx/abc": "64 hexadecimal characters",
        f"#/tx/{'ab' * 32}": "no committed transaction with that hash",
        "#/nowhere": "does not exist in the explorer",
    }
    for route, text in cases.items():
        page.goto(f"{ledger.url}/{route}")
        expect(error).to_contain_text(text)

    page.get_by_label("Search the ledger").fill("no such thing")
    page.get_by_role("button", name="Search").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Not found")
    expect(error).to_contain_text("Nothing matches “no such thing”")

    page.get_by_label("Search the ledger").fill("2")
    page.get_by_role("button", name="Search").click()
    expect(page).to_have_url(f"{ledger.url}/#/block/2")
    page.get_by_label("Search the ledger").fill(ledger.mint["hash"])
    page.get_by_role("button", name="Search").click()
    expect(page).to_have_url(f"{ledger.url}/#/tx/{ledger.mint['hash']}")
    expect(page.locator("#tx-story")).to_contain_text(f"minted {ccy(MINTED)} for")
    assert console.besides_http_errors() == []


def test_failed_transaction_shows_code_codespace_and_log(ledger: Ledger, page: Any) -> None:
    """check_tx refuses what would fail, so no failed receipt can be made through the SDK;
    the node's answer is rewritten in flight to one the page must render as a failure."""
    console = Console(page)
    tx_hash = ledger.send["hash"]

    def as_failed(route: Any) -> None:
        response = route.fetch()
        receipt = response.json()
        receipt["result"].update(
            code=5, codespace="bank", log="payment 12345 > tier limit 10000", events=[]
        )
        route.fulfill(response=response, json=receipt)

    page.route(f"**/txs/{tx_hash}", as_failed)
    open_page(page, f"{ledger.url}/#/tx/{tx_hash}")
    status = page.locator("#tx-status")
    expect(status).to_contain_text("Failed")
    expect(status).to_contain_text("Code 5 in bank")
    expect(status).to_contain_text("payment 12345 > tier limit 10000")
    expect(page.locator("#tx-story")).to_have_count(0)
    assert console.errors == []
