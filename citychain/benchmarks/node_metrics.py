"""What the node under benchmark costs and reports: CPU seconds and its Prometheus metrics.

CPU time is read from Linux ``/proc`` (0 elsewhere) for the node, its verifier workers and
this client; the metrics are scraped once from the node's ``/metrics`` after the run.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from citychain.client import Client

__all__ = ["children_cpu_seconds", "cpu_seconds", "node_metrics", "own_cpu_seconds"]


def _histogram(families: dict[str, Any], name: str) -> dict[str, Any]:
    """count, sum, mean and bucket upper bounds for p50/p99 of a Prometheus histogram."""
    family = families.get(name)
    if family is None:
        return {}
    buckets: list[tuple[float, float]] = []
    total = count = 0.0
    for sample in family.samples:
        if sample.name.endswith("_bucket"):
            buckets.append((float(sample.labels["le"]), sample.value))
        elif sample.name.endswith("_sum"):
            total = sample.value
        elif sample.name.endswith("_count"):
            count = sample.value
    buckets.sort()

    def upper_bound(q: float) -> float | None:
        for le, cumulative in buckets:
            if count and cumulative >= q * count:
                return le
        return None

    return {
        "count": int(count),
        "sum": total,
        "mean": total / count if count else 0.0,
        "p50_le": upper_bound(0.5),
        "p99_le": upper_bound(0.99),
    }


def node_metrics(client: Client) -> dict[str, Any]:
    from prometheus_client.parser import text_string_to_metric_families

    families = {f.name: f for f in text_string_to_metric_families(client.metrics())}
    committed: dict[str, int] = {}
    if "citychain_txs_committed" in families:
        for sample in families["citychain_txs_committed"].samples:
            if sample.name.endswith("_total"):
                committed[sample.labels["result"]] = int(sample.value)
    return {
        "block_commit_seconds": _histogram(families, "citychain_block_commit_seconds"),
        "block_txs": _histogram(families, "citychain_block_txs"),
        "txs_committed": committed,
        "block_write_wait_seconds": _gauge(families, "citychain_block_write_wait_seconds"),
    }


def _gauge(families: dict[str, Any], name: str) -> float | None:
    family = families.get(name)
    return float(family.samples[0].value) if family is not None and family.samples else None


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` so far (Linux /proc; 0 elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    # Fields 14 and 15 of proc(5), utime and stime, are 12 and 13 after the command name.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def children_cpu_seconds(pid: int) -> float:
    """CPU seconds of the live children of ``pid`` (the node's verifier workers)."""
    total = 0.0
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except OSError:
        return 0.0
    for task in tasks:
        try:
            children = (task / "children").read_text().split()
        except OSError:
            continue
        total += sum(cpu_seconds(int(child)) for child in children)
    return total


def own_cpu_seconds() -> float:
    return time.process_time()
