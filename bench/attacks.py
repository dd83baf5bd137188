"""Issue 13's attacks against a running node while an honest client pays (docs/hardening-bench.md).

The code is citychain/benchmarks/attacks.py.

Run: python bench/attacks.py [--network 4 | --api URL --home DIR] [--only bodies,jam] [--json]
"""

from __future__ import annotations

import sys

from citychain.benchmarks.attacks import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
