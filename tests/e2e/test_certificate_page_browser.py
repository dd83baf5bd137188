"""The certificate check page (/verify) in Debian's Chromium, against a real node process.

Certificate files are made with the SDK (a registrar registering, amending and revoking
records), written to tmp_path, then given to the page through its file input or dropped on its
drop zone; the page posts them to the node's /registry/verify and shows the verdict.

Playwright drives /usr/bin/chromium through ``executable_path``; the session's browser and each
test's page come from tests/e2e/conftest.py.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from browserutil import Console, follow_link, open_page, save_screenshot

from citychain.client import Wallet
from citychain.client.certificates import present_bundle, refresh_bundle
from citychain.client.registrar import Registrar
from citychain.crypto.keystore import Keystore
from citychain.init_home import init_home
from citychain.sim.localnode import LocalNode

playwright_api = pytest.importorskip("playwright.sync_api")
expect = playwright_api.expect

pytestmark = [pytest.mark.browser, pytest.mark.timeout(180)]

SHUTDOWN_SECONDS = 3.0

BIRTH = {
    "given_name": "Ada",
    "family_name": "Lovelace",
    "date_of_birth": "2001-04-17",
    "place_of_birth": "Citychain",
    "sex": "F",
    "parent_1_name": "Annabella Milbanke",
}
DEATH = {
    "given_name": "Charles",
    "family_name": "Babbage",
    "date_of_birth": "1991-12-26",
    "date_of_death": "2026-10-18",
    "place_of_death": "Citychain",
    "sex": "M",
}
PREDICATES = ["born_in_city", "age_over_18"]


@dataclass
class Registry:
    node: LocalNode
    registrar: Registrar

    @property
    def url(self) -> str:
        return self.node.url

    def verify(self, bundle: dict[str, Any]) -> dict[str, Any]:
        """The node's own verdict on a certificate file, to compare the page with."""
        return self.node.client.verify_certificate(bundle)


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    home_dir = tmp_path_factory.mktemp("certificates") / "home"
    home, _, _ = init_home(home_dir, password="pw", kdf_limits=(1, 8192))
    node = LocalNode(home_dir).start()
    try:
        wallet = Wallet(Keystore(home.keys_dir).load("registrar", "pw"), node.client)
        yield Registry(node, Registrar(wallet))
    finally:
        node.stop(timeout=SHUTDOWN_SECONDS)


class Requests:
    """Every request one page makes: where the certificate's data goes."""

    def __init__(self, page: Any) -> None:
        self.seen: list[tuple[str, str]] = []
        page.on("request", lambda request: self.seen.append((request.method, request.url)))

    def posts(self) -> list[str]:
        return [url for method, url in self.seen if method != "GET"]


def screenshot(page: Any, tmp_path: Path, name: str) -> Path:
    return save_screenshot(page, tmp_path / f"certificate-{name}.png")


def write(tmp_path: Path, name: str, bundle: dict[str, Any]) -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(bundle, indent=2), encoding="utf-8")
    return path


def choose(page: Any, path: Path) -> None:
    """Pick a file with the page's file input and wait for its outcome."""
    page.set_input_files("#file-input", str(path))
    wait_for(page, path.name)


def drop(page: Any, name: str, text: str) -> None:
    """Drop a file made in the page from ``text`` on the drop zone, as a drag from the desktop."""
    transfer = page.evaluate_handle(
        """([text, name]) => {
            const transfer = new DataTransfer();
            transfer.items.add(new File([text], name, { type: "application/json" }));
            return transfer;
        }""",
        [text, name],
    )
    zone = page.locator("#drop-zone")
    zone.dispatch_event("dragenter", {"dataTransfer": transfer})
    zone.dispatch_event("dragover", {"dataTransfer": transfer})
    expect(zone).to_have_attribute("data-drag", "over")
    zone.dispatch_event("drop", {"dataTransfer": transfer})
    expect(zone).to_have_attribute("data-drag", "idle")
    wait_for(page, name)


def wait_for(page: Any, file_name: str) -> None:
    """Wait until the outcome shown is the one of ``file_name`` (a result or an error)."""
    expect(page.locator("#outcome #result-file")).to_have_text(file_name)
    expect(page.locator("#outcome")).not_to_have_attribute("data-state", "checking")


def verdict(page: Any) -> Any:
    return page.locator("#verdict")


def claims_shown(page: Any) -> dict[str, str]:
    rows = page.locator("#claims tbody tr")
    names = rows.evaluate_all("rows => rows.map(r => r.dataset.claim)")
    values = rows.locator("td.claim-value").all_inner_texts()
    return dict(zip(names, values, strict=True))


def expect_result(page: Any, answer: dict[str, Any]) -> None:
    """The page shows what the node answered: verdict, status, reason, kind, record, proof."""
    outcome = page.locator("#outcome")
    expect(outcome).to_have_attribute("data-state", "done")
    word = "VALID" if answer["valid"] else "NOT VALID"
    expect(verdict(page)).to_have_attribute(
        "data-verdict", "valid" if answer["valid"] else "invalid"
    )
    expect(page.locator("#verdict-word")).to_have_text(word)
    expect(page.locator("#status")).to_have_attribute("data-status", answer["status"] or "unknown")
    expect(page.locator("#reason")).to_have_text(answer["reason"])
    expect(page.locator("#kind")).to_have_attribute("data-kind", answer["kind"] or "unknown")
    expect(page.locator("#record-id")).to_have_text(answer["record_id"] or "—")
    expect(page.locator("#height")).to_have_text(str(answer["height"] or "—"))
    expect(page.locator("#check")).to_have_text(answer["check"])
    if answer["time"]:
        expect(page.locator("#time time")).to_have_attribute("datetime", answer["time"])
    shown = claims_shown(page)
    assert shown.keys() == answer["claims"].keys()
    for name, value in answer["claims"].items():
        expected = ("Yes" if value else "No") if isinstance(value, bool) else str(value)
        assert shown[name] == expected, name


def test_explorer_links_to_the_page_and_a_fresh_birth_certificate_is_valid(
    registry: Registry, page: Any, tmp_path: Path
) -> None:
    console = Console(page)
    requests = Requests(page)
    issued = registry.registrar.register_birth(BIRTH)

    open_page(page, registry.url + "/")
    # The page's script must have wired the file input before a file is chosen: the
    # ``data-state="empty"`` below is in the static HTML, so it does not show that.
    link = page.get_by_role("navigation", name="Pages").get_by_role(
        "link", name="Verify a certificate"
    )
    follow_link(page, link, registry.url + "/verify")
    expect(page).to_have_url(registry.url + "/verify")
    expect(page.get_by_role("heading", level=1)).to_have_text("Verify a certificate")
    expect(page.get_by_role("link", name="← Back to the explorer")).to_have_attribute("href", "/")
    expect(page.locator("#outcome")).to_have_attribute("data-state", "empty")
    screenshot(page, tmp_path, "empty")

    choose(page, write(tmp_path, "ada-birth.json", issued.bundle))
    answer = registry.verify(issued.bundle)
    assert answer["valid"] is True and answer["status"] == "valid"
    expect_result(page, answer)
    expect(verdict(page)).to_contain_text("Birth certificate")
    expect(page.locator("#status")).to_contain_text("Valid")
    expect(page.locator("#record-id")).to_have_text(issued.record_id.hex())
    shown = claims_shown(page)
    assert {k: shown[k] for k in BIRTH} == BIRTH
    assert shown["born_in_city"] == shown["age_over_18"] == "Yes"
    expect(page.locator("#claims")).to_contain_text("Lovelace")
    expect(page.locator("#nothing-else")).to_contain_text("Nothing else was disclosed")
    screenshot(page, tmp_path, "valid-birth")

    # The file went to this node's /registry/verify and nowhere else.
    assert requests.posts() == [registry.url + "/registry/verify"]
    assert all(url.startswith(registry.url + "/") for _, url in requests.seen)
    assert console.errors == []


def test_selective_presentation_dropped_shows_only_the_disclosed_claims(
    registry: Registry, page: Any, tmp_path: Path
) -> None:
    console = Console(page)
    requests = Requests(page)
    issued = registry.registrar.register_birth(BIRTH)
    presented = present_bundle(issued.bundle, PREDICATES)

    open_page(page, registry.url + "/verify")
    drop(page, "ada-over-18.json", json.dumps(presented))
    answer = registry.verify(presented)
    assert answer["valid"] is True and set(answer["claims"]) == set(PREDICATES)
    expect_result(page, answer)
    assert claims_shown(page) == {"born_in_city": "Yes", "age_over_18": "Yes"}
    expect(page.locator("#nothing-else")).to_contain_text("Nothing else was disclosed")
    text = page.locator("body").inner_text()
    for secret in ("Lovelace", "2001-04-17", "Annabella", "Milbanke"):
        assert secret not in text
    screenshot(page, tmp_path, "selective")
    assert requests.posts() == [registry.url + "/registry/verify"]
    assert console.errors == []


def test_a_changed_signature_is_not_valid_and_says_why(
    registry: Registry, page: Any, tmp_path: Path
) -> None:
    console = Console(page)
    issued = registry.registrar.register_birth(BIRTH)
    jwt, _, disclosures = issued.bundle["presentation"].partition("~")
    header, payload, signature = jwt.split(".")
    i = len(signature) // 2
    changed = signature[:i] + ("A" if signature[i] != "A" else "B") + signature[i + 1 :]
    forged = {
        **issued.bundle,
        "presentation": f"{header}.{payload}.{changed}~{disclosures}",
    }

    open_page(page, registry.url + "/verify")
    choose(page, write(tmp_path, "ada-forged.json", forged))
    answer = registry.verify(forged)
    assert answer["valid"] is False and answer["check"] == "presentation"
    expect_result(page, answer)
    expect(page.locator("#verdict-word")).to_have_text("NOT VALID")
    expect(page.locator("#reason")).to_contain_text("the presentation does not verify")
    expect(page.locator("#reason")).to_contain_text("bad_signature")
    expect(page.locator("#no-claims")).to_be_visible()
    assert "Lovelace" not in page.locator("body").inner_text()
    screenshot(page, tmp_path, "forged")
    assert console.errors == []


def test_amended_then_revoked_certificates(registry: Registry, page: Any, tmp_path: Path) -> None:
    console = Console(page)
    client = registry.node.client
    old = registry.registrar.register_birth(BIRTH)
    new = registry.registrar.amend(old.record_id, {**BIRTH, "parent_2_name": "George Byron"})
    open_page(page, registry.url + "/verify")

    # The old certificate, refreshed: its record was amended.
    old_file = refresh_bundle(client, old.bundle)
    choose(page, write(tmp_path, "ada-old.json", old_file))
    answer = registry.verify(old_file)
    assert (answer["valid"], answer["status"]) == (False, "superseded")
    expect_result(page, answer)
    expect(page.locator("#verdict-word")).to_have_text("NOT VALID")
    expect(page.locator("#status")).to_contain_text("Superseded")
    expect(page.locator("#superseded-by")).to_have_text(new.record_id.hex())
    screenshot(page, tmp_path, "superseded")

    # The new one is valid (dropped this time), and shows the amended content.
    drop(page, "ada-new.json", json.dumps(new.bundle))
    answer = registry.verify(new.bundle)
    assert (answer["valid"], answer["status"]) == (True, "valid")
    expect_result(page, answer)
    assert claims_shown(page)["parent_2_name"] == "George Byron"

    # Revoked for fraud: the refreshed file says so.
    registry.registrar.revoke(new.record_id, "fraud")
    revoked = refresh_bundle(client, new.bundle)
    choose(page, write(tmp_path, "ada-revoked.json", revoked))
    answer = registry.verify(revoked)
    assert (answer["valid"], answer["status"], answer["revocation_reason"]) == (
        False,
        "revoked",
        "fraud",
    )
    expect_result(page, answer)
    expect(page.locator("#verdict-word")).to_have_text("NOT VALID")
    expect(page.locator("#status")).to_contain_text("Revoked")
    expect(page.locator("#revocation-reason")).to_have_text("fraud")
    expect(page.locator("#reason")).to_contain_text("(fraud)")
    screenshot(page, tmp_path, "revoked")
    assert console.errors == []


def test_death_certificate_is_valid(registry: Registry, page: Any, tmp_path: Path) -> None:
    console = Console(page)
    issued = registry.registrar.register_death(DEATH)
    open_page(page, registry.url + "/verify")
    choose(page, write(tmp_path, "babbage-death.json", issued.bundle))
    answer = registry.verify(issued.bundle)
    assert (answer["valid"], answer["kind"]) == (True, "death")
    expect_result(page, answer)
    expect(page.locator("#kind")).to_have_text("Death certificate")
    expect(verdict(page)).to_contain_text("Death certificate")
    assert claims_shown(page)["date_of_death"] == "2026-10-18"
    screenshot(page, tmp_path, "death")
    assert console.errors == []


def test_files_that_are_not_certificates_get_a_clear_message(
    registry: Registry, page: Any, tmp_path: Path
) -> None:
    console = Console(page)
    requests = Requests(page)
    open_page(page, registry.url + "/verify")

    # Not JSON: refused in the page; nothing is sent.
    not_json = tmp_path / "scan.pdf"
    not_json.write_bytes(b"%PDF-1.7 not a certificate")
    choose(page, not_json)
    expect(page.locator("#outcome")).to_have_attribute("data-state", "error")
    expect(page.locator("#error")).to_contain_text("This is not a certificate file")
    expect(page.locator("#error-message")).to_contain_text("The file is not JSON")
    expect(page.locator("#verdict")).to_have_count(0)
    screenshot(page, tmp_path, "not-json")
    assert requests.posts() == []

    # JSON, but not a certificate file: the node's 4xx message is shown.
    other = tmp_path / "settings.json"
    other.write_text(json.dumps({"theme": "dark"}))
    drop(page, other.name, other.read_text())
    expect(page.locator("#outcome")).to_have_attribute("data-state", "error")
    expect(page.locator("#error")).to_contain_text("could not read this certificate file")
    expect(page.locator("#error-message")).to_contain_text("presentation: Field required")
    assert requests.posts() == [registry.url + "/registry/verify"]

    # A good file afterwards replaces the error with a verdict.
    issued = registry.registrar.register_birth(BIRTH)
    choose(page, write(tmp_path, "ada-after-errors.json", issued.bundle))
    expect(page.locator("#verdict-word")).to_have_text("VALID")
    expect(page.locator("#error")).to_have_count(0)
    assert console.besides_http_errors() == []
