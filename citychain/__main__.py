"""``python -m citychain``: the ``citychain`` command, for a child process that must run the same
interpreter as its parent."""

import sys

from citychain.cli.main import main

sys.exit(main())
