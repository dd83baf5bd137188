"""Signature checks in worker processes, so ingress verifies on the other core.

Workers decode and verify; the engine records the hashes that passed
(``Application.mark_verified``) so that ``check_tx`` and ``finalize_block`` do not verify them
again (DESIGN.md, "Verify once"). Both engines screen their ingress through ``screen``; the
CometBFT engine also verifies gossiped transactions here before its CheckTx runs them.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor

from citychain.app import Application
from citychain.engines.interface import Admission
from citychain.errors import CityError
from citychain.tx import errors as tx_errors
from citychain.tx.envelope import decode_tx

__all__ = ["Verifier", "refusal", "screen"]

# Below this many transactions the round trip to a worker costs more than verifying here.
MIN_BATCH_FOR_WORKERS = 32
CHUNK = 512


def exit_with_parent(parent_pid: int) -> None:
    """Worker initializer: exit once the node is gone.

    A node killed with SIGKILL runs no shutdown, and a pool worker waits on its queue for ever,
    so without this every crash of the node would leave an orphaned worker (and the worker keeps
    multiprocessing's resource tracker alive too).
    """

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(0.2)
        os._exit(0)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


def verify_chunk(raws: list[bytes]) -> list[bool]:
    out = []
    for raw in raws:
        try:
            out.append(decode_tx(raw).signature_valid())
        except CityError:
            out.append(False)
    return out


class Verifier:
    """``workers`` processes; with 0, every check runs in the calling process."""

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self._pool: ProcessPoolExecutor | None = None
        if workers > 0:
            self._pool = ProcessPoolExecutor(
                max_workers=workers,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=exit_with_parent,
                initargs=(os.getpid(),),
            )

    async def verify(self, raws: list[bytes]) -> list[bool]:
        if self._pool is None or len(raws) < MIN_BATCH_FOR_WORKERS:
            return verify_chunk(raws)
        loop = asyncio.get_running_loop()
        chunks = [raws[i : i + CHUNK] for i in range(0, len(raws), CHUNK)]
        parts = await asyncio.gather(
            *(loop.run_in_executor(self._pool, verify_chunk, c) for c in chunks)
        )
        return [ok for part in parts for ok in part]

    async def verify_off_loop(self, raws: list[bytes]) -> list[bool]:
        """As ``verify``, but never on the calling event loop: a batch too small for the
        workers (or a verifier without any) runs on a thread, where libsodium's Ed25519 runs
        without holding the GIL. ProcessProposal verifies a block's unknown signatures here."""
        if not raws:
            return []
        if self._pool is not None and len(raws) >= MIN_BATCH_FOR_WORKERS:
            return await self.verify(raws)
        return await asyncio.to_thread(verify_chunk, raws)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)


async def screen(
    app: Application, verifier: Verifier, raws: Sequence[bytes], hashes: Sequence[bytes]
) -> list[bool]:
    """Verify ``raws`` and remember the hashes that passed; True where one did."""
    valid = await verifier.verify(list(raws))
    app.mark_verified(h for h, ok in zip(hashes, valid, strict=True) if ok)
    return valid


def refusal(raw: bytes, tx_hash: bytes) -> Admission:
    """A transaction ``screen`` refused: it did not decode, or its signature is bad."""
    try:
        decode_tx(raw)
    except CityError as exc:
        return Admission(tx_hash, exc.code, exc.codespace, exc.message)
    return Admission(
        tx_hash, tx_errors.BAD_SIGNATURE.code, "tx", tx_errors.BAD_SIGNATURE.description
    )
