"""One 4-validator CometBFT consortium shared by the modules that test a running network.

Starting a network costs seconds, so test_network_proofs, test_network_consortium and
test_network_governance run on one, started once per session (per pytest-xdist worker: these
modules are all in the xdist group "network", so one worker runs them) and stopped as soon as
the last test that uses it is done.

A test asks for it with the ``consortium`` fixture and says with ``@pytest.mark.consortium(PHASE)``
what it does to it. The tests run in the order of ``PHASES`` (pytest_collection_modifyitems
below moves them together, in that order, keeping each phase's tests in collection order):

* ``genesis-set``: the proofs, verified offline against the genesis validators, which must
  still be the validator set (test_network_proofs);
* ``read-only``: payments through every node, ``net status`` (exactly four nodes, three peers
  each), ``net start`` on a running node;
* ``faults``: a node stopped, two stopped, an app killed, a state file tampered with; each test
  repairs what it broke (and the fixture restarts a node a failed one left stopped);
* ``membership``: a fifth member voted in and out; the validator set's history changes for good
  and a fifth node stays, so it runs last.

Before each test the fixture checks what every phase expects: the phases so far in order, four
nodes, all running and caught up, and the genesis validators as CometBFT's validator set.
"""

from __future__ import annotations

import base64
import contextlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from netutil import Network, create_test_network

from citychain.genesis import Genesis
from citychain.home import Home
from citychain.net.ports import reserved_ports

PHASES = ("genesis-set", "read-only", "faults", "membership")
VALIDATORS = 4
ROOM_FOR = VALIDATORS + 1  # the membership test adds a node
CATCH_UP_S = 60.0
XDIST_GROUP = "network"


class SharedConsortium:
    """The session's network: created on first use, stopped when no next test needs it,
    started again if one does; its ports held for the whole session."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.stack = contextlib.ExitStack()
        self.net: Network | None = None
        self.phase = -1

    def network(self) -> Network:
        if self.net is None:
            base = self.stack.enter_context(reserved_ports(ROOM_FOR))
            self.net = create_test_network(self.directory, VALIDATORS, base)
            self.stack.callback(self.net.stop_all)
        return self.net

    def enter(self, phase: str) -> None:
        """Fail a test that would run after a later phase's test (one changed what it needs)."""
        index = PHASES.index(phase)
        assert index >= self.phase, (
            f"a {phase!r} test runs after a {PHASES[self.phase]!r} one on the shared consortium:"
            " the order of tests/integration/conftest.py's PHASES was not kept"
        )
        self.phase = index

    def stop(self) -> None:
        if self.net is not None:
            self.net.stop_all()

    def close(self) -> None:
        self.stack.close()


_SHARED: list[SharedConsortium] = []


@pytest.fixture(scope="session")
def shared_consortium(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SharedConsortium]:
    shared = SharedConsortium(tmp_path_factory.mktemp("consortium") / "net")
    _SHARED.append(shared)
    try:
        yield shared
    finally:
        _SHARED.remove(shared)
        shared.close()


def _validator_set(net: Network) -> dict[str, int]:
    """CometBFT's current validator set on node0: public key (base64) -> power."""
    result = net.rpc(0, "validators", per_page=100)
    return {v["pub_key"]["value"]: int(v["voting_power"]) for v in result["validators"]}


def _genesis_set(net: Network) -> dict[str, int]:
    genesis = Genesis.load(Home(net.node_dir(0)).genesis_file)
    return {base64.b64encode(v.public_key).decode(): v.power for v in genesis.validators}


@pytest.fixture
def consortium(request: pytest.FixtureRequest, shared_consortium: SharedConsortium) -> Network:
    """The shared network, every node running and caught up, in the state its phase expects."""
    shared_consortium.enter(_phase(request.node))
    net = shared_consortium.network()
    assert net.size == VALIDATORS, (
        f"the shared consortium has {net.size} nodes, not {VALIDATORS}: a membership test ran"
    )
    for index in net.everyone:
        if not all(net.running(index).values()):
            net.start(index)
    top = max(h or 0 for h in net.heights(net.everyone).values())
    net.wait_for_height(max(top, 1), net.everyone, CATCH_UP_S)
    assert _validator_set(net) == _genesis_set(net), (
        "the validator set is not the genesis' any more"
    )
    net.forget_nonces()
    return net


def _phase(item: pytest.Item) -> str:
    marker = item.get_closest_marker("consortium")
    if marker is None or len(marker.args) != 1 or marker.args[0] not in PHASES:
        raise pytest.UsageError(f"{item.nodeid}: @pytest.mark.consortium takes one of {PHASES}")
    return str(marker.args[0])


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Put the shared consortium's tests together, where the first of them was, in phase order."""
    shared = [item for item in items if item.get_closest_marker("consortium")]
    if not shared:
        return
    for item in shared:
        marks = item.iter_markers("xdist_group")
        groups = [m.args[0] if m.args else m.kwargs.get("name") for m in marks]
        if groups != [XDIST_GROUP]:
            raise pytest.UsageError(
                f"{item.nodeid} uses the shared consortium: mark it xdist_group({XDIST_GROUP!r})"
            )
    first = items.index(shared[0])
    ordered = sorted(shared, key=lambda item: PHASES.index(_phase(item)))
    chosen = set(map(id, shared))
    rest = [item for item in items if id(item) not in chosen]
    items[:] = rest[:first] + ordered + rest[first:]


@pytest.hookimpl(trylast=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> None:
    """Stop the shared consortium once no next test needs it: its eight processes would go on
    making blocks beside the rest of the suite."""
    if "consortium" not in getattr(item, "fixturenames", ()):
        return
    if nextitem is not None and "consortium" in getattr(nextitem, "fixturenames", ()):
        return
    for shared in _SHARED:
        shared.stop()
