"""Shared fixtures and test-session settings. Builders live in tests/helpers.py; this directory is
put on ``sys.path`` so that any test can ``from helpers import ...`` whichever directory pytest
starts from.

Hypothesis profiles (chosen by ``$HYPOTHESIS_PROFILE``; without it, ``ci`` when ``$CI`` is set
to anything but "", "0" or "false", else ``dev``):

* ``dev``: Hypothesis' own defaults (100 examples, a 200 ms deadline, a new random seed each
  run), so that a developer's runs keep exploring new inputs.
* ``ci``: 30 examples, no deadline and no too_slow health check (a shared 2-core runner's
  timing is not the code's), derandomized with no example database, so that a CI run is
  reproducible: the same inputs on every run of the same code (and a failure prints its blob).

A test that needs more examples than the profile's asks for ``helpers.examples(N)``: N under
``dev``, scaled by the profile's ``max_examples / 100`` otherwise (never below min(N, 10)). A
hard-coded ``@settings(max_examples=N)`` would override every profile.

Keystore cost: for the whole session, keys written in this process use Argon2id's minimum cost
(``fast_test_keystores``). Key files record their own cost, so nothing that reads them changes;
processes the tests start (nodes, ``citychain`` subprocesses) keep the production default.
The keystore's own tests (PRODUCTION_KDF_MODULES) see the production default, which they check.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from nacl.pwhash import argon2id

_TESTS = str(Path(__file__).resolve().parent)
if _TESTS not in sys.path:
    sys.path.insert(0, _TESTS)

from helpers import Chain  # noqa: E402

from citychain.crypto import keystore  # noqa: E402

# --- hypothesis ------------------------------------------------------------------------------

# Both from Hypothesis' "default" profile: with $CI set, Hypothesis makes its own "ci" profile
# the default, and the profiles here would otherwise inherit from it.
_DEFAULTS = settings.get_profile("default")
settings.register_profile("dev", parent=_DEFAULTS)
settings.register_profile(
    "ci",
    parent=_DEFAULTS,
    max_examples=30,
    deadline=None,
    derandomize=True,
    database=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)


def _hypothesis_profile() -> str:
    chosen = os.environ.get("HYPOTHESIS_PROFILE")
    if chosen:
        return chosen
    in_ci = os.environ.get("CI", "").strip().lower() not in ("", "0", "false")
    return "ci" if in_ci else "dev"


settings.load_profile(_hypothesis_profile())


def pytest_report_header(config: pytest.Config) -> str:
    return f"hypothesis profile: {_hypothesis_profile()} (tests/conftest.py)"


# --- keystore cost ---------------------------------------------------------------------------

PRODUCTION_KDF = (keystore.DEFAULT_OPSLIMIT, keystore.DEFAULT_MEMLIMIT)
PRODUCTION_KDF_MODULES = frozenset({"unit/crypto/test_crypto_keystore.py"})
"""Modules (relative to tests/) that test the keystore's default cost itself."""


@pytest.fixture(scope="session", autouse=True)
def fast_test_keystores() -> Iterator[None]:
    """Keys written in this process (``Keystore`` without explicit limits, ``init_home``, the
    ``citychain`` command run in process) cost Argon2id's minimum instead of 64 MiB each."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(keystore, "DEFAULT_OPSLIMIT", argon2id.OPSLIMIT_MIN)
        patch.setattr(keystore, "DEFAULT_MEMLIMIT", argon2id.MEMLIMIT_MIN)
        yield


@pytest.fixture(autouse=True)
def _production_kdf_where_it_is_tested(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = request.path.resolve()
    if (
        path.is_relative_to(_TESTS)
        and path.relative_to(_TESTS).as_posix() in PRODUCTION_KDF_MODULES
    ):
        monkeypatch.setattr(keystore, "DEFAULT_OPSLIMIT", PRODUCTION_KDF[0])
        monkeypatch.setattr(keystore, "DEFAULT_MEMLIMIT", PRODUCTION_KDF[1])


# --- builders --------------------------------------------------------------------------------


@pytest.fixture
def chain(tmp_path: Path) -> Chain:
    """A fresh chain at height 0: ALICE 50 000, BOB 10 000, CAROL, ISSUER and KYC 1 000 cents,
    all in wallet tier 0; ISSUER and KYC hold their roles; the minimum fee is 1."""
    return Chain.create(tmp_path)
