"""``citychain bench payments --profile-node``: the node under cProfile, and what it found.

``ProfiledNode`` starts the same node as ``LocalNode`` but through ``profiled_node_main``, which
switches cProfile on at SIGUSR1 (sent just before the first request) and off at SIGUSR2 (after
the last answer), so the profile covers the measured window only. ``read_profile`` summarises
the statistics it wrote: the hot spots by cumulative and by own time, as shares of the window.
"""

from __future__ import annotations

import cProfile
import io
import json
import os
import pstats
import signal
import sys
import time
from pathlib import Path
from types import FrameType
from typing import Any

from citychain.benchmarks import GcTimer
from citychain.sim.localnode import LocalNode

__all__ = ["PROFILE_TOP", "ProfiledNode", "profiled_node_main", "read_profile"]

PROFILE_TOP = 15


class ProfiledNode(LocalNode):
    """A LocalNode whose process runs the same node under ``profiled_node_main``."""

    def __init__(self, home: Path, stats_file: Path, **kwargs: Any) -> None:
        super().__init__(home, **kwargs)
        self.stats_file = stats_file

    def launcher(self) -> list[str]:
        return [
            sys.executable,
            "-c",
            "import sys; from citychain.benchmarks.node_profile import profiled_node_main;"
            " sys.exit(profiled_node_main(sys.argv[1:]))",
            str(self.stats_file),
        ]

    def signal(self, signum: int) -> None:
        assert self.process is not None
        self.process.send_signal(signum)

    def wait_for_profile(self, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        while not self.stats_file.exists():
            if time.monotonic() > deadline:
                raise RuntimeError(f"the profiled node wrote no statistics; see {self.log}")
            time.sleep(0.05)


def profiled_node_main(argv: list[str]) -> int:
    """Run ``python -m citychain.node ARGV[1:]`` with cProfile switched by signals.

    SIGUSR1 enables the profiler on the node's main thread (the event loop, where the API,
    check_tx and block production run); SIGUSR2 disables it and writes ARGV[0] (pstats) and
    ARGV[0].gc.json (cyclic garbage collections during the window, which cProfile cannot see).
    """
    from citychain.node.__main__ import main as node_main

    stats_file, node_argv = Path(argv[0]), argv[1:]
    profiler = cProfile.Profile()
    collector = GcTimer()
    window = [0.0]

    def enable(_signum: int, _frame: FrameType | None) -> None:
        window[0] = time.perf_counter()
        collector.start()
        profiler.enable()

    def disable(_signum: int, _frame: FrameType | None) -> None:
        profiler.disable()
        collector.stop()
        side = {"window_s": time.perf_counter() - window[0], "gc": collector.as_json()}
        Path(f"{stats_file}.gc.json").write_text(json.dumps(side))
        tmp = stats_file.with_suffix(".tmp")
        profiler.dump_stats(tmp)
        os.replace(tmp, stats_file)

    signal.signal(signal.SIGUSR1, enable)
    signal.signal(signal.SIGUSR2, disable)
    return node_main(node_argv)


def read_profile(stats_file: Path) -> dict[str, Any]:
    side = json.loads(Path(f"{stats_file}.gc.json").read_text())
    window = float(side["window_s"])
    stats = pstats.Stats(str(stats_file), stream=io.StringIO())
    entries = []
    for (filename, line, name), (_cc, calls, tottime, cumtime, _callers) in stats.stats.items():  # type: ignore[attr-defined]
        where = filename if filename == "~" else f"{_short(filename)}:{line}"
        entries.append(
            {
                "function": f"{where}({name})",
                "calls": calls,
                "tottime_s": tottime,
                "cumtime_s": cumtime,
                "cum_share": cumtime / window if window else 0.0,
                "tot_share": tottime / window if window else 0.0,
            }
        )
    by_cum = sorted(entries, key=lambda e: e["cumtime_s"], reverse=True)
    hot = [e for e in by_cum if not _is_dispatch(str(e["function"]))]
    by_tot = sorted(entries, key=lambda e: e["tottime_s"], reverse=True)
    idle = sum(e["tottime_s"] for e in entries if "poll' of 'select.epoll" in e["function"])
    return {
        "window_s": window,
        "idle_share": idle / window if window else 0.0,
        "gc": side["gc"],
        "top_cumulative": by_cum[: PROFILE_TOP + 10],
        "top_hot_spots": hot[:PROFILE_TOP],
        "top_tottime": by_tot[:PROFILE_TOP],
    }


# Frames that only pass control on (the event loop, ASGI middleware and routing): their
# cumulative time is their callee's, so the printed list of hot spots leaves them out.
_DISPATCH = ("asyncio/", "starlette/", "anyio/", "fastapi/middleware/", "selectors.py", "Context")
_DISPATCH_FASTAPI = ("(app)", "(handle)", "(__call__)", "(run_endpoint_function)")


def _is_dispatch(function: str) -> bool:
    if "fastapi/routing.py" in function:
        return function.endswith(_DISPATCH_FASTAPI)
    return any(marker in function for marker in _DISPATCH)


def _short(filename: str) -> str:
    for marker in ("site-packages/", "citychain/", "lib/python3"):
        at = filename.rfind(marker)
        if at >= 0:
            return filename[at:]
    return filename
