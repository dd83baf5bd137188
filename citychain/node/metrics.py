"""Prometheus metrics of one node (names follow prometheus.io/docs/practices/naming).

Served on ``GET /metrics`` to the operator (node/operator.py); docs/operations.md says which
matter and docs/prometheus-alerts.yml alerts on them. The API's own (refusals, /ws
connections) are updated from the API's thread: prometheus_client's metrics are thread-safe.
"""

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
        self.loop_lag = Gauge(
            "citychain_engine_loop_lag_seconds",
            "How late the engine's event loop last ran a timer (stalls delay blocks and ABCI)",
            registry=r,
        )
        self.api_refused = Counter(
            "citychain_api_refused_total",
            "Requests the API refused before any route ran, by reason",
            ["reason"],
            registry=r,
        )
        self.ws_connections = Gauge(
            "citychain_ws_connections", "Open /ws event stream connections", registry=r
        )
        self.block_txs = Histogram(
            "citychain_block_txs",
            "Transactions per block",
            buckets=(1, 10, 100, 500, 1000, 2500, 5000, 10000),
            registry=r,
        )
        self.journal_entries = Gauge(
            "citychain_ingress_journal_entries",
            "Acknowledged transactions in the ingress journal that no block has committed yet",
            registry=r,
        )
        self.journal_write_seconds = Histogram(
            "citychain_ingress_journal_write_seconds",
            "Time of one durable ingress journal write (a group commit, fsync included)",
            buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0),
            registry=r,
        )
        self.journal_resubmitted = Counter(
            "citychain_ingress_journal_resubmitted_total",
            "Journaled transactions handed to the engine again, by outcome",
            ["outcome"],
            registry=r,
        )
