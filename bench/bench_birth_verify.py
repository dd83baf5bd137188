"""Benchmark: 2-claim birth-certificate presentations verified per second on one core.

The code is citychain/benchmarks/birth_verify.py; docs/benchmarks.md has the figures.
"""

from __future__ import annotations

import sys

from citychain.benchmarks.birth_verify import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
