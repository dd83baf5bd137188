"""What `make demo` runs, small: the city on a 4-member CometBFT consortium, a member stopped and
restarted mid-run, and every check passing (agreement, a proof from another member)."""

from __future__ import annotations

from pathlib import Path

import pytest
from netutil import requires_cometbft

from citychain.net.layout import NetLayout
from citychain.net.process import running
from citychain.sim.demo import main as demo

pytestmark = [pytest.mark.network, pytest.mark.slow, requires_cometbft]


def test_the_demo_runs_the_city_on_a_consortium(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    home = tmp_path / "demo"
    city = ["--network", "4", "--citizens", "60", "--merchants", "5", "--home", str(home)]
    code = demo([*city, "--seconds", "8", "--fleet", "6"])
    out = capsys.readouterr()
    assert code == 0, out.out[-3000:] + out.err
    assert "-- stopped node3" in out.out and "-- started node3 again" in out.out
    assert "ok    agreement" in out.out
    assert "ok    proof from another member" in out.out
    for check in ("fleet telemetry", "battery health off the ledger", "replacement due",
                  "report proven offline"):  # fmt: skip
        assert f"ok    {check}" in out.out, out.out[-3000:]
    assert "all checks passed" in out.out
    # The demo stops what it started.
    layout = NetLayout(home / "net")
    _, specs = layout.load()
    assert not any(any(running(layout, s.index).values()) for s in specs)
    # A second run wipes the demo home it made and starts afresh.
    assert demo([*city, "--seconds", "1", "--fleet", "0"]) == 0
