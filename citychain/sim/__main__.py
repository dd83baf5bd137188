"""``python -m citychain.sim``: the same as ``citychain demo`` (see citychain/sim/demo.py)."""

import sys

from citychain.sim.demo import main

sys.exit(main())
