"""What the gateway counts and says (docs/modules/devices.md §6, "Metrics"): its Prometheus
metrics, the same counts in ``Stats`` for tests and benchmarks, and warnings limited per kind,
so that a flood of refused reports or a node away for minutes logs a line now and then, not a
line a message."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge

from citychain.telemetry import report as rep

__all__ = ["GatewayMetrics", "LimitedLog", "Stats"]

log = logging.getLogger("citychain.telemetry.gateway")

DROP_LOG_EVERY = 1_000  # a full queue logs its first drop, then one in this many
REJECT_LOG_S = 1.0  # a rejection is logged at most this often per reason (a flood, one line/s)
HOLD_LOG_S = 10.0  # a held group is logged at most this often
HELD = "held"  # the limited log's key for held groups
PREFIX = "citychain_gateway_"


@dataclass
class Stats:
    accepted: int = 0
    duplicates: int = 0
    rejected: dict[str, int] = field(default_factory=lambda: dict.fromkeys(rep.REASONS, 0))
    batches_anchored: int = 0
    dropped: int = 0  # QoS 0 messages dropped, the queue full


class LimitedLog:
    """Warnings of one ``key`` at most once every ``every_s``, each saying how many it left out
    since the last."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._last: dict[str, tuple[float, int]] = {}  # key: (last logged, left out since)

    def warn(self, key: str, every_s: float, message: str) -> None:
        now = self._clock()
        last, skipped = self._last.get(key, (-every_s, 0))
        if now - last < every_s:
            self._last[key] = (last, skipped + 1)
            return
        more = f" (and {skipped} more {key} since the last line)" if skipped else ""
        log.warning("%s%s", message, more)
        self._last[key] = (now, 0)


class GatewayMetrics:
    """The gateway's counts, each kept in ``stats`` and in ``registry`` (which the anchorer
    adds its batch metrics to); ``queue_depth`` is read at each scrape."""

    def __init__(self, queue_size: int, queue_depth: Callable[[], int]) -> None:
        self.queue_size = queue_size
        self.registry = CollectorRegistry()
        self.stats = Stats()
        self.log = LimitedLog()
        self._accepted = self._counter("reports_accepted", "reports stored")
        self._rejected = self._counter(
            "reports_rejected", "reports refused, by reason", ("reason",)
        )
        for reason in rep.REASONS:
            self._rejected.labels(reason)
        self._duplicates = self._counter(
            "reports_duplicate", "redeliveries of stored reports (acknowledged, not stored again)"
        )
        self._held = self._counter(
            "groups_held",
            "tries of a group held back because a device lookup got no answer (node unreachable)",
        )
        self._dropped = self._counter(
            "messages_dropped", "QoS 0 messages dropped because the ingest queue was full"
        )
        self._queue_full = self._counter(
            "queue_full", "QoS 1 messages that waited for room in the full ingest queue"
        )
        depth = Gauge(PREFIX + "queue_depth", "messages waiting for ingest", registry=self.registry)
        depth.set_function(queue_depth)

    def _counter(self, name: str, documentation: str, labels: tuple[str, ...] = ()) -> Counter:
        return Counter(PREFIX + name, documentation, labels, registry=self.registry)

    def accepted(self, count: int) -> None:
        self.stats.accepted += count
        self._accepted.inc(count)

    def rejected(self, topic: str, exc: rep.ReportError) -> None:
        self.stats.rejected[exc.reason] += 1
        self._rejected.labels(exc.reason).inc()
        self.log.warn(exc.reason, REJECT_LOG_S, f"rejected report on {topic}: {exc}")

    def duplicate(self) -> None:
        self.stats.duplicates += 1
        self._duplicates.inc()

    def held(self, messages: int, what: str) -> None:
        """A try of a group of ``messages`` held for the lookups of ``what``."""
        self._held.inc()
        self.log.warn(
            HELD,
            HOLD_LOG_S,
            f"holding a group of {messages} messages: no answer yet to the device lookups of "
            f"{what} (the node slow or unreachable); trying again",
        )

    def dropped(self, topic: str) -> None:
        self.stats.dropped += 1
        self._dropped.inc()
        if self.stats.dropped % DROP_LOG_EVERY == 1:
            log.warning(
                "ingest queue full (%d): dropped a QoS 0 message on %s (%d dropped so far)",
                self.queue_size,
                topic,
                self.stats.dropped,
            )

    def queue_full(self) -> None:
        self._queue_full.inc()

    def anchored(self) -> None:
        self.stats.batches_anchored += 1
