"""Benchmark: signed device reports through Mosquitto and the telemetry gateway, anchored on a node.

The code is citychain/benchmarks/gateway.py; docs/benchmarks.md has the figures.
"""

from __future__ import annotations

import sys

from citychain.benchmarks.gateway import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
