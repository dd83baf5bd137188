"""Soak: an hour of mixed load on 4 CometBFT validators, sampled each minute (issue 13;
docs/hardening-bench.md). Not part of `make test`.

The code is citychain/benchmarks/soak.py.

Run: python bench/soak.py [--minutes 60] [--validators 4] [--rate 10] [--json] [--check]
"""

from __future__ import annotations

import sys

from citychain.benchmarks.soak import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
