"""Benchmark: birth certificates issued through a real node, then verified offline, and QR sizes.

The code is citychain/benchmarks/certificates.py; docs/benchmarks.md has the figures.
"""

from __future__ import annotations

import sys

from citychain.benchmarks.certificates import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
