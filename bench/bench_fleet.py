"""Benchmark: the battery fleet pipeline (registration, telemetry anchored, oracle passes).

The code is citychain/benchmarks/fleet.py; docs/benchmarks.md has the figures.
"""

from __future__ import annotations

import sys

from citychain.benchmarks.fleet import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
