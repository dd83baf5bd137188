"""The Application: citychain's deterministic state machine, in the shape of ABCI.

``info``, ``init_chain``, ``check_tx``, ``finalize_block``, ``commit`` and ``query`` mirror
CometBFT's ABCI methods (spec/abci/abci++_methods.md). State and results after ``finalize_block``
depend only on the previous state and the block (abci++_app_requirements.md, Requirements 11-12):
handlers see the block's height and time, never a clock, and iterate nothing unordered.

Each transaction runs in two layers: the ante step (chain id, signature, expiry, fee, nonce, role;
the auth module's ``run_ante``) writes the fee and the nonce into the block's state; its messages
then run in a branch of that state, merged only if every message succeeds. A failing transaction
therefore leaves no partial writes but still pays its fee.

Modules: ``application`` (the Application and its module registry), ``results`` (what it
answers, and the records a committed block leaves in the store), ``block_run`` (a block's
transactions run in order, which ``finalize_block`` takes from the proposal checks when they
ran the same block already).
"""

from __future__ import annotations

from citychain.app.application import DEFAULT_MODULES, Application, StateCorruptedError
from citychain.app.results import AppInfo, BlockResult, CheckResult, TxResult

__all__ = [
    "DEFAULT_MODULES",
    "AppInfo",
    "Application",
    "BlockResult",
    "CheckResult",
    "StateCorruptedError",
    "TxResult",
]
