"""What ``bench/attacks.py`` and ``bench/soak.py`` watch while they load a node
(docs/hardening-bench.md): the resident memory of the node's processes and the latency of its
``/health`` route, sampled in background threads, and the figures of a time window.

Memory is read from ``/proc/PID/status`` (``VmRSS``), or with psutil when it is installed; a
process's figure is its own RSS plus its descendants' (the solo node's verifier workers).
"""

from __future__ import annotations

import importlib
import threading
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from citychain.benchmarks import percentile
from citychain.benchmarks.cluster import child_pids

__all__ = [
    "HealthProbe",
    "RssSampler",
    "answer_of",
    "latency_figures",
    "process_tree",
    "rss_bytes",
]

KIB = 1024
MIB = 1024 * 1024
RSS_INTERVAL_S = 0.25
HEALTH_INTERVAL_S = 0.25
HEALTH_TIMEOUT_S = 30.0
MS = 1000.0

_psutil: Any
try:  # optional (not a dependency): the numbers are the same, psutil only reads them its way
    _psutil = importlib.import_module("psutil")
except ImportError:  # pragma: no cover - depends on the environment
    _psutil = None


def rss_bytes(pid: int) -> int | None:
    """The resident set size of ``pid`` in bytes, None once it has exited."""
    if _psutil is not None:
        try:
            return int(_psutil.Process(pid).memory_info().rss)
        except Exception:  # psutil.Error: the process is gone
            return None
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * KIB
    return None


def process_tree(pid: int) -> list[int]:
    """``pid`` and all its descendants."""
    tree, todo = [], [pid]
    while todo:
        current = todo.pop()
        tree.append(current)
        todo.extend(child_pids(current))
    return tree


def tree_rss(pid: int) -> int | None:
    """RSS of ``pid`` and its descendants; None if ``pid`` has exited."""
    own = rss_bytes(pid)
    if own is None:
        return None
    return own + sum(rss_bytes(child) or 0 for child in process_tree(pid)[1:])


class RssSampler:
    """Samples the RSS of named process trees every ``interval`` seconds until ``stop()``."""

    def __init__(self, processes: dict[str, int], interval: float = RSS_INTERVAL_S) -> None:
        self.processes = dict(processes)
        self.interval = interval
        self.samples: list[tuple[float, dict[str, int]]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)

    def start(self) -> RssSampler:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def sample(self) -> None:
        """Take one sample now (also called at the edges of a section, however short)."""
        sample = {}
        for name, pid in self.processes.items():
            value = tree_rss(pid)
            if value is not None:
                sample[name] = value
        self.samples.append((time.monotonic(), sample))

    def _run(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self.interval)

    def window(self, start: float, end: float) -> list[dict[str, int]]:
        return [sample for at, sample in list(self.samples) if start <= at <= end]

    def max_mb(self, start: float, end: float) -> dict[str, float]:
        """Per process tree, the highest RSS sampled in [start, end], in MiB."""
        out: dict[str, float] = {}
        for sample in self.window(start, end):
            for name, value in sample.items():
                out[name] = max(out.get(name, 0.0), value / MIB)
        return out

    def mean_mb(self, start: float, end: float) -> dict[str, float]:
        """Per process tree, the mean RSS sampled in [start, end], in MiB."""
        sums: Counter[str] = Counter()
        counts: Counter[str] = Counter()
        for sample in self.window(start, end):
            for name, value in sample.items():
                sums[name] += value
                counts[name] += 1
        return {name: sums[name] / counts[name] / MIB for name in sums}


@dataclass(frozen=True, slots=True)
class Probe:
    at: float  # monotonic time the request was sent
    seconds: float
    answer: str  # "HTTP 200", "timeout", "closed", ...


class HealthProbe:
    """``GET /health`` every ``interval`` seconds: how long the node takes to answer the
    cheapest route shows a stalled event loop."""

    def __init__(self, url: str, interval: float = HEALTH_INTERVAL_S) -> None:
        self.url = url.rstrip("/")
        self.interval = interval
        self.probes: list[Probe] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="health-probe", daemon=True)

    def start(self) -> HealthProbe:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=HEALTH_TIMEOUT_S + 5)

    def _run(self) -> None:
        with httpx.Client(timeout=HEALTH_TIMEOUT_S) as client:
            while not self._stop.is_set():
                sent = time.monotonic()
                try:
                    answer = f"HTTP {client.get(f'{self.url}/health').status_code}"
                except httpx.HTTPError as exc:
                    answer = answer_of(exc)
                self.probes.append(Probe(sent, time.monotonic() - sent, answer))
                self._stop.wait(self.interval)

    def figures(self, start: float, end: float) -> dict[str, Any]:
        window = [p for p in list(self.probes) if start <= p.at <= end]
        return {
            "probes": len(window),
            "not_ok": sum(1 for p in window if p.answer != "HTTP 200"),
            **latency_figures(p.seconds for p in window),
        }


def answer_of(exc: BaseException) -> str:
    """A short name for a failed request: what the node did to it, as the client saw it."""
    if isinstance(exc, httpx.TimeoutException):
        return "timeout"
    if isinstance(exc, httpx.ConnectError):
        return "connection refused"
    if isinstance(exc, (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError)):
        return "connection closed"
    if isinstance(exc, (ConnectionError, OSError)):
        return "connection closed"
    return f"error {type(exc).__name__}"


def latency_figures(seconds: Iterable[float]) -> dict[str, float]:
    """p50, p99 and max of ``seconds``, in milliseconds."""
    ordered: Sequence[float] = sorted(seconds)
    return {
        "p50_ms": percentile(ordered, 0.50) * MS,
        "p99_ms": percentile(ordered, 0.99) * MS,
        "max_ms": (ordered[-1] if ordered else 0.0) * MS,
    }
