"""Fixtures of the browser tests (tests/e2e/*_browser.py): one Debian Chromium for the whole test
session (under pytest-xdist, one per worker), and a fresh context and page for every test, so
that no cookie, storage, route or download of one test reaches another (tests/browserutil.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from browserutil import BrowserSession, launch_chromium


@pytest.fixture(scope="session")
def browser() -> Iterator[BrowserSession]:
    """Started by the first browser test of the session, closed when the session ends."""
    yield from launch_chromium()


@pytest.fixture
def page(browser: BrowserSession) -> Iterator[Any]:
    yield from browser.new_page()
