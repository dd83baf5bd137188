"""The engine a home's config.json names (``"engine": "solo" | "cometbft"``).

The one place that knows both engines: everything above holds an ``Engine`` and never asks which
(DESIGN.md, "One state machine, two engines").
"""

from __future__ import annotations

from citychain.app import Application
from citychain.engines.cometbft.engine import open_comet
from citychain.engines.interface import Engine
from citychain.engines.solo.engine import open_solo
from citychain.engines.verifier import Verifier
from citychain.home import Home

__all__ = ["ENGINES", "open_engine"]

ENGINES = ("solo", "cometbft")


def open_engine(
    app: Application,
    home: Home,
    *,
    verifier_workers: int = 1,
    max_block_txs: int | None = None,
    max_interval: float | None = None,
) -> Engine:
    """The engine of the node at ``home``, driving ``app``, with ``verifier_workers`` signature
    workers; ``max_block_txs`` and ``max_interval`` override the solo engine's config."""
    config = home.config()
    name = str(config.get("engine", "solo"))
    if name not in ENGINES:
        raise ValueError(f"unknown engine {name!r} in {home.config_file}")
    verifier = Verifier(verifier_workers)
    try:
        if name == "cometbft":
            return open_comet(app, home, config, verifier)
        return open_solo(
            app, home, config, verifier, max_block_txs=max_block_txs, max_interval=max_interval
        )
    except BaseException:
        verifier.close()
        raise
