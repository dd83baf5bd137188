"""Debian's Chromium under Playwright for the web UI's browser tests (tests/e2e/*_browser.py).

Playwright drives /usr/bin/chromium through ``executable_path``: this project's machines cannot
download Playwright's own browser builds. ``make system-deps`` installs it.

One Chromium serves a whole test session (one per pytest-xdist worker), each test in a context
of its own (tests/e2e/conftest.py). Tests wait for conditions, never for a time: a page's
script marks ``<body data-ready="1">`` once its controls are wired (``markReady`` in
citychain/web/dom.js), and ``open_page``/``follow_link`` wait for that before a test uses a
control. The timeouts below only bound how long a loaded machine may take.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path("/usr/bin/chromium")
LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# Generous bounds for a loaded 2-core machine (two xdist workers, nodes, brokers): Playwright's
# own default for ``expect`` is 5 s. A test that is right passes as soon as its condition holds.
EXPECT_TIMEOUT_MS = 20_000
ACTION_TIMEOUT_MS = 20_000
VIEWPORT = {"width": 1280, "height": 900}
# Set to a directory to keep the screenshots for review (they always go to tmp_path too).
SCREENSHOT_DIR = os.environ.get("CITYCHAIN_EXPLORER_SCREENSHOTS")


@dataclass
class BrowserSession:
    """The session's Chromium, and the event loop of the Playwright connection that drives it.

    Playwright's sync API marks its event loop as the thread's running loop between calls, so
    that ``asyncio.run`` in any later test of the same process would fail ("cannot be called
    from a running event loop"). ``driving()`` marks the loop only while a browser test runs.
    """

    browser: Any
    loop: asyncio.AbstractEventLoop

    def new_page(self) -> Iterator[Any]:
        """The body of a function-scoped ``page`` fixture: a fresh context (no cookies, storage
        or routes from another test) and its one page."""
        with self.driving():
            context = self.browser.new_context(viewport=VIEWPORT, accept_downloads=True)
            try:
                page = context.new_page()
                page.set_default_timeout(ACTION_TIMEOUT_MS)
                yield page
            finally:
                context.close()

    @contextlib.contextmanager
    def driving(self) -> Iterator[None]:
        asyncio._set_running_loop(self.loop)
        try:
            yield
        finally:
            asyncio._set_running_loop(None)


def launch_chromium() -> Iterator[BrowserSession]:
    """The body of the session-scoped ``browser`` fixture: skip when Playwright or Chromium is
    missing; set the ``expect`` timeout once for every browser test."""
    playwright_api = pytest.importorskip("playwright.sync_api")
    if not CHROMIUM.exists():
        pytest.skip(f"Debian chromium is not installed at {CHROMIUM}: run: make system-deps")
    playwright_api.expect.set_options(timeout=EXPECT_TIMEOUT_MS)
    with playwright_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=LAUNCH_ARGS)
        session = BrowserSession(chromium, asyncio.get_running_loop())
        asyncio._set_running_loop(None)  # until a browser test runs (see BrowserSession)
        try:
            yield session
        finally:
            asyncio._set_running_loop(session.loop)  # the Playwright calls below need it
            chromium.close()


def _expect() -> Any:
    from playwright.sync_api import expect

    return expect


def wait_ready(page: Any) -> None:
    """Wait until the page's script has wired its controls (``<body data-ready="1">``): a file
    chosen or a form sent before then would go unhandled (a flake on a loaded machine)."""
    _expect()(page.locator("body")).to_have_attribute("data-ready", "1")


def open_page(page: Any, url: str) -> None:
    """Go to ``url`` and wait until the page is ready for input."""
    page.goto(url)
    wait_ready(page)


def follow_link(page: Any, link: Any, url: str) -> None:
    """Click ``link``, which leads to the page at ``url``, and wait until that page is ready.
    A click returns once the navigation starts, before the new page's script has run."""
    link.click()
    _expect()(page).to_have_url(url)
    wait_ready(page)


class Console:
    """Console errors and uncaught exceptions of one page."""

    def __init__(self, page: Any) -> None:
        self.errors: list[str] = []
        page.on("console", self._on_console)
        page.on("pageerror", lambda exc: self.errors.append(f"uncaught: {exc}"))

    def _on_console(self, message: Any) -> None:
        if message.type == "error":
            self.errors.append(message.text)

    def besides_http_errors(self) -> list[str]:
        """Chromium logs every 4xx fetch; pages that ask for missing things expect those."""
        return [e for e in self.errors if "Failed to load resource" not in e]


def save_screenshot(page: Any, path: Path) -> Path:
    """A full-page screenshot at ``path``, also copied to $CITYCHAIN_EXPLORER_SCREENSHOTS."""
    page.screenshot(path=str(path), full_page=True)
    if SCREENSHOT_DIR:
        Path(SCREENSHOT_DIR).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(SCREENSHOT_DIR) / path.name)
    return path
