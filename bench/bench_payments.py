"""Benchmark: signed transfers through a real node's HTTP ingress (docs/benchmarks.md).

The same as ``citychain bench payments``; see citychain/benchmarks/payments.py.

Run: python bench/bench_payments.py [--txs 50000] [--accounts 100000] [--json] [--scaling]
"""

from __future__ import annotations

import sys

from citychain.benchmarks.payments import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
