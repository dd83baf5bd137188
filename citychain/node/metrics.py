"""Prometheus metrics of one node (names follow prometheus.io/docs/practices/naming)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class NodeMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.height = Gauge(
            "citychain_block_height", "Height of the last committed block", registry=r
        )
        self.blocks = Counter("citychain_blocks_total", "Blocks committed", registry=r)
        self.txs_committed = Counter(
            "citychain_txs_committed_total",
            "Transactions committed, by result",
            ["result"],
            registry=r,
        )
        self.txs_received = Counter(
            "citychain_txs_received_total", "Transactions submitted to ingress", registry=r
        )
        self.txs_rejected = Counter(
            "citychain_txs_rejected_total",
            "Transactions refused at ingress, by error code",
            ["codespace", "code"],
            registry=r,
        )
        self.mempool_size = Gauge(
            "citychain_mempool_size", "Transactions in the mempool", registry=r
        )
        self.block_seconds = Histogram(
            "citychain_block_commit_seconds",
            "Time to execute and commit a block",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
            registry=r,
        )
        self.write_wait = Gauge(
            "citychain_block_write_wait_seconds",
            "Total time block production waited for block writes to become durable",
            registry=r,
        )
        self.block_txs = Histogram(
            "citychain_block_txs",
            "Transactions per block",
            buckets=(1, 10, 100, 500, 1000, 2500, 5000, 10000),
            registry=r,
        )
