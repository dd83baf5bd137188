"""Shared fixtures. Builders live in tests/helpers.py; this directory is put on ``sys.path`` so
that any test can ``from helpers import ...`` whichever directory pytest starts from."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

_TESTS = str(Path(__file__).resolve().parent)
if _TESTS not in sys.path:
    sys.path.insert(0, _TESTS)

from helpers import Chain  # noqa: E402


@pytest.fixture
def chain(tmp_path: Path) -> Chain:
    """A fresh chain at height 0: ALICE 50 000, BOB 10 000, CAROL, ISSUER and KYC 1 000 cents,
    all in wallet tier 0; ISSUER and KYC hold their roles; the minimum fee is 1."""
    return Chain.create(tmp_path)
