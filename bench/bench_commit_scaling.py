"""Benchmark: a block's commit cost with 10 thousand, 100 thousand and 1 million accounts.

See citychain/benchmarks/commit_scaling.py and docs/benchmarks.md.

Run: python bench/bench_commit_scaling.py [--sizes 10000,100000,1000000] [--json] [--profile]
"""

from __future__ import annotations

import sys

from citychain.benchmarks.commit_scaling import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
