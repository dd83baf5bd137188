"""How the suite is shared between pytest-xdist workers (``make test``: ``-n 2 --dist loadgroup``).

Loaded by ``-p xdist_scheduling`` in pyproject.toml's addopts, before any conftest, because the
scheduler is made by the controller process, which collects no test.

* Every test that starts CometBFT (marked ``network``) is in the xdist group "network"
  (``@pytest.mark.xdist_group("network")``; collection fails otherwise). One worker runs the
  group's tests one after another in collection order: the session's shared networks
  (tests/integration/conftest.py, tests/unit/light/conftest.py) start once, and never two
  networks compete for the two cores' consensus rounds at once.
* A test without a group runs with the rest of its module (as with ``--dist loadscope``), so a
  module-scoped fixture (a node, a browser) starts once, on one worker.
* The "network" group is handed out first: it is the longest unit and mostly waits on consensus
  timeouts, so the other worker runs everything else beside it. The other units follow in
  collection order.

The groups reach the controller through a file that each worker writes when it has collected
(``$CITYCHAIN_XDIST_GROUPS/<worker>.json``: node id -> group), not through xdist's own channel:
xdist 3.8 appends "@group" to the node id, which pytest 9.2 no longer lets it change
(pytest-dev/pytest-xdist#1386), so its loadgroup scheduler silently stopped grouping.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pytest

NETWORK_GROUP = "network"
GROUPS_ENV = "CITYCHAIN_XDIST_GROUPS"


def _group(item: pytest.Item) -> str | None:
    """The item's xdist group, named as xdist names it (several marks: joined, sorted)."""
    names = {
        str(mark.args[0] if mark.args else mark.kwargs.get("name", "default"))
        for mark in item.iter_markers("xdist_group")
    }
    return "_".join(sorted(names)) if names else None


def _loadgroup_controller(config: pytest.Config) -> bool:
    return not hasattr(config, "workerinput") and config.getoption("dist", "no") == "loadgroup"


def pytest_configure(config: pytest.Config) -> None:
    if _loadgroup_controller(config):
        # Set before the workers start, so that they inherit it.
        directory = tempfile.mkdtemp(prefix="citychain-xdist-groups-")
        os.environ[GROUPS_ENV] = directory
        config.add_cleanup(lambda: shutil.rmtree(directory, ignore_errors=True))


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    strays = [
        item.nodeid
        for item in items
        if item.get_closest_marker("network") and _group(item) != NETWORK_GROUP
    ]
    if strays:
        raise pytest.UsageError(
            f"tests marked `network` must be in xdist_group({NETWORK_GROUP!r}) and no other: "
            + ", ".join(strays)
        )


@pytest.hookimpl(tryfirst=True)  # before xdist tells the controller that collection is done
def pytest_collection_finish(session: pytest.Session) -> None:
    worker = getattr(session.config, "workerinput", {}).get("workerid")
    directory = os.environ.get(GROUPS_ENV)
    if worker is None or directory is None or not os.path.isdir(directory):
        return
    groups = {item.nodeid: group for item in session.items if (group := _group(item))}
    path = Path(directory) / f"{worker}.json"
    path.with_suffix(".tmp").write_text(json.dumps(groups))
    path.with_suffix(".tmp").replace(path)


def _read_groups() -> dict[str, str]:
    directory = Path(os.environ[GROUPS_ENV])
    written = sorted(directory.glob("*.json"))
    if not written:
        raise RuntimeError(f"no worker wrote its xdist groups into {directory}")
    groups: dict[str, str] = json.loads(written[0].read_text())
    return groups


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    if not _loadgroup_controller(config):
        return None
    from xdist.scheduler import LoadGroupScheduling

    class NetworkFirstScheduling(LoadGroupScheduling):  # type: ignore[misc]
        """Units: an xdist group, else a module; the "network" group first, then collection
        order."""

        groups: dict[str, str] | None = None
        ordered = False

        def _split_scope(self, nodeid: str) -> str:
            if self.groups is None:
                self.groups = _read_groups()
            if nodeid in self.groups:
                return self.groups[nodeid]
            scope = str(super()._split_scope(nodeid))  # "@group" if xdist could append it
            return nodeid.split("::", 1)[0] if scope == nodeid else scope

        def _assign_work_unit(self, node: Any) -> None:
            if not self.ordered:
                self.ordered = True
                assert self.collection is not None
                scopes = dict.fromkeys(map(self._split_scope, self.collection))
                first_seen = {scope: i for i, scope in enumerate(scopes)}
                units = sorted(
                    self.workqueue.items(),
                    key=lambda unit: (unit[0] != NETWORK_GROUP, first_seen.get(unit[0], 0)),
                )
                self.workqueue.clear()
                self.workqueue.update(units)
            super()._assign_work_unit(node)

    return NetworkFirstScheduling(config, log)
