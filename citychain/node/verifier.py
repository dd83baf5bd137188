"""Signature checks in worker processes, so ingress verifies on the other core.

Workers decode and verify; the node records the hashes that passed (``Application.mark_verified``)
so that ``check_tx`` and ``finalize_block`` do not verify them again.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import threading
import time
from concurrent.futures import ProcessPoolExecutor

from citychain.errors import CityError
from citychain.tx.envelope import decode_tx

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

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
