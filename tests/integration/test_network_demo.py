"""What `make demo` runs, small: the city on a 4-member CometBFT consortium, a member stopped and
restarted mid-run, and every check passing (agreement, a proof from another member). Then what a
second `citychain demo --network` on the same home does first: it wipes the stopped demo home
(and refuses while the demo network runs), without running the whole demo again."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from netutil import requires_cometbft, wait_until

from citychain.net.layout import NetLayout
from citychain.net.process import running
from citychain.sim import demo as demo_module
from citychain.sim.demo import DemoError, prepare_home
from citychain.sim.demo import main as demo

pytestmark = [
    pytest.mark.network,
    pytest.mark.slow,
    pytest.mark.xdist_group("network"),
    requires_cometbft,
]


def test_the_demo_runs_the_city_on_a_consortium(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "demo"
    city = ["--network", "4", "--citizens", "60", "--merchants", "5", "--home", str(home)]
    code = demo([*city, "--seconds", "8", "--fleet", "6"])
    out = capsys.readouterr()
    assert code == 0, out.out[-3000:] + out.err
    assert "-- stopped node3" in out.out and "-- started node3 again" in out.out
    assert "ok    agreement" in out.out
    assert "ok    proof from another member" in out.out
    for check in ("fleet telemetry", "battery health off the ledger",
                  "lot curve prediction", "replacement due",
                  "report proven offline"):  # fmt: skip
        assert f"ok    {check}" in out.out, out.out[-3000:]
    assert "all checks passed" in out.out
    # The demo stops what it started.
    layout = NetLayout(home / "net")
    _, specs = layout.load()
    assert not any(any(running(layout, s.index).values()) for s in specs)

    # A second run on the same home: while a process of the demo network runs, it refuses and
    # leaves the home as it is. (A stand-in whose command line names node0's folder is what
    # `running` recognises; the real node would take ports outside this run's reservation.)
    stand_in = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; time.sleep(120)", str(layout.node_dir(0))]
    )
    pids = layout.node_dir(0) / "pids.json"
    saved = pids.read_bytes() if pids.exists() else None
    try:
        pids.write_text(f'{{"app": {stand_in.pid}}}')
        # Its command line shows in /proc only once its exec is through (Popen may return first).
        wait_until(lambda: running(layout, 0)["app"], 30, "the stand-in's command line")
        with pytest.raises(DemoError, match=r"demo network in .* is running; stop it first"):
            prepare_home(home)
        assert (home / "demo.json").is_file() and layout.exists()
    finally:
        if saved is None:
            pids.unlink(missing_ok=True)
        else:
            pids.write_bytes(saved)
        stand_in.kill()
        stand_in.wait()

    # Stopped, the second run wipes the demo home it made, then starts afresh on an empty path
    # (the network demo itself is the one the first run proved; here it only records its call).
    started: list[dict[str, Any]] = []

    def fresh_demo(path: Path, validators: int, *args: Any, **kwargs: Any) -> int:
        started.append({"path": path, "validators": validators, "there": path.exists()})
        return 0

    monkeypatch.setattr(demo_module, "run_network_demo", fresh_demo)
    assert demo([*city, "--seconds", "1", "--fleet", "0"]) == 0
    assert started == [{"path": home, "validators": 4, "there": False}]
