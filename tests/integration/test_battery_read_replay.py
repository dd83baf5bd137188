"""Read requests on a real node process (citychain/passport/nonces.py): a request is answered
once, and still refused after the node is killed (SIGKILL) and started again on the same home;
a request for another node is refused; the node's stores of restricted data are its user's
only (mode 0600 in a folder of mode 0700)."""

from __future__ import annotations

import stat
from pathlib import Path

import httpx

from citychain.client.battery import READ_HEADER, ReadTarget, fleet_read_request
from citychain.crypto.keys import PrivateKey
from citychain.init_home import init_home
from citychain.sim.localnode import LocalNode

READER = PrivateKey.from_seed(b"r" * 32)  # any key: the fleet lists what it may read


def _fleet(node: LocalNode, header: str) -> httpx.Response:
    return httpx.get(f"{node.url}/battery/fleet", headers={READ_HEADER: header})


def _code(response: httpx.Response, status: int) -> tuple[str, int]:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    return error["codespace"], error["code"]


def test_a_request_is_answered_once_across_a_crash_and_restart(tmp_path: Path) -> None:
    home, _, _ = init_home(tmp_path / "home", password="pw", kdf_limits=(1, 8192))
    node = LocalNode(home.path).start()
    try:
        target = ReadTarget.of(node.client)
        assert len(target.node_id) == 16
        captured = fleet_read_request(READER, target)
        assert _fleet(node, captured).status_code == 200
        assert _code(_fleet(node, captured), 401) == ("passport", 4)
        elsewhere = fleet_read_request(READER, ReadTarget(target.chain_id, bytes(16)))
        assert _code(_fleet(node, elsewhere), 401) == ("passport", 14)
        node.kill()  # no shutdown handler runs: what was answered must already be on disk
        node.start()
        assert ReadTarget.of(node.client) == target  # the same node id after the restart
        assert _code(_fleet(node, captured), 401) == ("passport", 4)
        assert _fleet(node, fleet_read_request(READER, target)).status_code == 200
    finally:
        node.stop()
    data = home.db_file.parent
    assert stat.S_IMODE(data.stat().st_mode) == 0o700
    for name in ("openings.sqlite", "read-requests.sqlite"):
        assert stat.S_IMODE((data / name).stat().st_mode) == 0o600, name
