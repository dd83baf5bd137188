"""Benchmark: the Merkle state tree against py-trie's HexaryTrie.

The code is citychain/benchmarks/state_tree.py; docs/benchmarks.md has the figures.
"""

from __future__ import annotations

import sys

from citychain.benchmarks.state_tree import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
