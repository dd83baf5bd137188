"""Debian's Chromium under Playwright for the web UI's browser tests (tests/e2e/*_browser.py).

Playwright drives /usr/bin/chromium through ``executable_path``: this project's machines cannot
download Playwright's own browser builds. ``make system-deps`` installs it.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
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
# Set to a directory to keep the screenshots for review (they always go to tmp_path too).
SCREENSHOT_DIR = os.environ.get("CITYCHAIN_EXPLORER_SCREENSHOTS")


def launch_chromium(playwright_api: Any) -> Iterator[Any]:
    """The body of a module-scoped ``browser`` fixture: skip when Chromium is missing."""
    if not CHROMIUM.exists():
        pytest.skip(f"Debian chromium is not installed at {CHROMIUM}: run: make system-deps")
    with playwright_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=LAUNCH_ARGS)
        yield chromium
        chromium.close()


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
