"""citychain's benchmarks (docs/benchmarks.md); run by ``make bench``, never as timed tests.

- ``payments``: signed transfers through a real node's HTTP ingress, against this machine's raw
  Ed25519 verification rate measured in the same run (``citychain bench payments``).
- ``commit_scaling``: a block's execution, Merkle update and storage cost with 10 thousand to
  1 million accounts in state, in process (``python bench/bench_commit_scaling.py``).

This module holds the workload both share, so that their figures describe the same payments:

    account i < S       a sender: key seed = sha256("citychain-bench/sender/" || i as u64)
    account i >= S      recipient only: address = sha256("citychain-bench/recipient/" || i)[:20]
    transfer j          from sender j mod S with nonce j div S, to account h mod M, amount
                        1 + (h div M) mod 99 cents, fee 1, where h = sha256("citychain-bench/tx/"
                        || j) read as an integer

Every account opens with ``OPENING_BALANCE`` in tier 0 (unverified), whose limits (balance
100,000, payment 20,000) the transfers stay well inside. Signing runs in worker processes
before any clock starts.
"""

from __future__ import annotations

import gc
import hashlib
import math
import multiprocessing
import os
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from citychain.crypto.address import address_from_bytes
from citychain.crypto.keys import PrivateKey, verify
from citychain.modules.bank import MsgSend
from citychain.tx.envelope import SIGN_DOMAIN, address_of, decode_tx, sign_tx

__all__ = [
    "CHAIN_ID",
    "DENOM",
    "FEE",
    "OPENING_BALANCE",
    "GcTimer",
    "account_addresses",
    "genesis_balances",
    "machine_info",
    "percentile",
    "raw_verify_rate",
    "recipient_address",
    "sender_key",
    "sign_transfers",
]

CHAIN_ID = "citychain-bench"
DENOM = "ccy"
FEE = 1  # cents; the genesis minimum fee
OPENING_BALANCE = 50_000  # cents; half of tier 0's maximum balance, so receipts cannot hit it
MAX_AMOUNT = 99  # cents per transfer, far below tier 0's 20,000 payment limit

# Below this many items a worker pool costs more to start (about 0.3 s a process) than it saves.
_MIN_PARALLEL = 4_000

_T = TypeVar("_T")
_R = TypeVar("_R")


def sender_key(index: int) -> PrivateKey:
    """The deterministic key of sender ``index``."""
    return PrivateKey.from_seed(
        hashlib.sha256(b"citychain-bench/sender/" + index.to_bytes(8, "big")).digest()
    )


def recipient_address(index: int) -> bytes:
    """The 20-byte address of recipient-only account ``index``: no key exists for it."""
    return hashlib.sha256(b"citychain-bench/recipient/" + index.to_bytes(8, "big")).digest()[:20]


def transfer_of(index: int, accounts: int) -> tuple[int, int]:
    """(recipient account, amount in cents) of transfer ``index``."""
    h = int.from_bytes(hashlib.sha256(b"citychain-bench/tx/" + index.to_bytes(8, "big")).digest())
    return h % accounts, 1 + (h // accounts) % MAX_AMOUNT


def _processes(requested: int | None, items: int) -> int:
    """Worker processes for ``items``: as requested, else every core when it pays off."""
    if requested is not None:
        return max(1, requested)
    return (os.cpu_count() or 1) if items >= _MIN_PARALLEL else 1


def _parallel(
    fn: Callable[[_T], _R],
    tasks: Sequence[_T],
    processes: int,
    initializer: Callable[..., None] | None = None,
    initargs: tuple[Any, ...] = (),
) -> list[_R]:
    """``[fn(t) for t in tasks]`` in ``processes`` spawned workers (in order)."""
    if processes <= 1 or len(tasks) <= 1:
        if initializer is not None:
            initializer(*initargs)
        return [fn(task) for task in tasks]
    context = multiprocessing.get_context("spawn")
    with context.Pool(processes, initializer=initializer, initargs=initargs) as pool:
        return pool.map(fn, tasks, chunksize=1)


def _chunks(count: int, parts: int) -> list[tuple[int, int]]:
    parts = max(1, min(parts, count))
    step = -(-count // parts)
    return [(lo, min(lo + step, count)) for lo in range(0, count, step)]


def _sender_addresses(bounds: tuple[int, int]) -> list[bytes]:
    return [address_of(sender_key(i).public_key) for i in range(*bounds)]


def account_addresses(accounts: int, senders: int, processes: int | None = None) -> list[bytes]:
    """The 20-byte addresses of all ``accounts``; the first ``senders`` have keys."""
    if not 0 < senders <= accounts:
        raise ValueError(f"need 0 < senders <= accounts, got {senders} and {accounts}")
    workers = _processes(processes, senders)
    parts = _parallel(_sender_addresses, _chunks(senders, workers * 4), workers)
    out = [address for part in parts for address in part]
    out.extend(recipient_address(i) for i in range(senders, accounts))
    return out


def _bech32_chunk(raw: list[bytes]) -> list[str]:
    return [address_from_bytes(a) for a in raw]


def genesis_balances(
    addresses: Sequence[bytes], amount: int = OPENING_BALANCE, processes: int | None = None
) -> list[dict[str, Any]]:
    """Bank genesis ``balances`` entries for ``addresses`` (bech32 is pure Python: parallel)."""
    workers = _processes(processes, len(addresses))
    tasks = [list(addresses[lo:hi]) for lo, hi in _chunks(len(addresses), workers * 4)]
    names = [name for part in _parallel(_bech32_chunk, tasks, workers) for name in part]
    return [{"address": name, "denom": DENOM, "amount": amount} for name in names]


# --- signing in worker processes ------------------------------------------------------------
_worker_senders: bytes = b""


def _init_signer(sender_addresses: bytes) -> None:
    global _worker_senders  # one value per worker process, set once by the pool initializer
    _worker_senders = sender_addresses


def _account_address(index: int, senders: int) -> bytes:
    if index < senders:
        return _worker_senders[20 * index : 20 * index + 20]
    return recipient_address(index)


def _sign_range(task: tuple[int, int, int, int, int, str]) -> list[bytes]:
    """Transfers ``first .. stop - 1`` of senders ``lo .. hi - 1``, sender by sender."""
    lo, hi, first, stop, accounts, chain_id = task
    senders = len(_worker_senders) // 20
    out: list[bytes] = []
    for sender in range(lo, hi):
        key = sender_key(sender)
        for index in range(first + sender, stop, senders):
            recipient, amount = transfer_of(index, accounts)
            out.append(
                sign_tx(
                    key,
                    chain_id=chain_id,
                    nonce=index // senders,
                    messages=[MsgSend(_account_address(recipient, senders), DENOM, amount)],
                    fee=FEE,
                )
            )
    return out


def sign_transfers(
    count: int,
    *,
    accounts: int,
    sender_addresses: Sequence[bytes],
    chain_id: str = CHAIN_ID,
    first: int = 0,
    processes: int | None = None,
) -> list[bytes]:
    """Transfers ``first .. first + count - 1`` of the workload, signed, in index order.

    ``first`` must be a multiple of the number of senders, so that every sender's first nonce
    is ``first // senders`` (commit_scaling signs block after block this way).
    """
    senders = len(sender_addresses)
    if first % senders:
        raise ValueError(f"first ({first}) must be a multiple of the senders ({senders})")
    stop = first + count
    workers = _processes(processes, count)
    tasks = [
        (lo, hi, first, stop, accounts, chain_id)
        for lo, hi in _chunks(min(senders, count), workers * 4)
    ]
    parts = _parallel(_sign_range, tasks, workers, _init_signer, (b"".join(sender_addresses),))
    signed: list[bytes] = [b""] * count
    for (lo, hi, *_), part in zip(tasks, parts, strict=True):
        position = iter(part)
        for sender in range(lo, hi):
            for index in range(first + sender, stop, senders):
                signed[index - first] = next(position)
    return signed


# --- the baseline ---------------------------------------------------------------------------
def raw_verify_rate(signed: Sequence[bytes], seconds: float = 2.0) -> float:
    """Ed25519 verifications per second on this thread, with the node's own ``verify``.

    A tight loop over the signatures of ``signed`` (real transactions, so real message sizes)
    for about ``seconds``; each must verify, so the loop measures the accepting path.
    """
    samples = []
    for raw in signed[:1024]:
        tx = decode_tx(raw)
        samples.append((tx.body.public_key, SIGN_DOMAIN + tx.body_bytes, tx.signature))
    if not samples:
        raise ValueError("no signed transactions to verify")
    if not all(verify(*sample) for sample in samples):
        raise RuntimeError("a pre-signed transaction does not verify")
    done = 0
    started = time.perf_counter()
    deadline = started + seconds
    while True:
        for public_key, message, signature in samples:
            verify(public_key, message, signature)
        done += len(samples)
        now = time.perf_counter()
        if now >= deadline:
            return done / (now - started)


# --- reporting ---------------------------------------------------------------------------
class GcTimer:
    """Runs of the cyclic garbage collector and their seconds, per generation, while started.

    cProfile charges a collection to whichever function happened to allocate, so the collector's
    share of a run is measured here instead.
    """

    def __init__(self) -> None:
        self.collections = [0, 0, 0]
        self.seconds = [0.0, 0.0, 0.0]
        self._began = 0.0

    def _callback(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._began = time.perf_counter()
        else:
            generation = info["generation"]
            self.collections[generation] += 1
            self.seconds[generation] += time.perf_counter() - self._began

    def start(self) -> None:
        gc.callbacks.append(self._callback)

    def stop(self) -> None:
        if self._callback in gc.callbacks:
            gc.callbacks.remove(self._callback)

    def as_json(self) -> dict[str, dict[str, float]]:
        return {
            f"gen{g}": {"collections": self.collections[g], "seconds": self.seconds[g]}
            for g in range(3)
        }


def percentile(sorted_values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile of already sorted values (0 for none)."""
    if not sorted_values:
        return 0.0
    rank = min(len(sorted_values), max(1, math.ceil(len(sorted_values) * fraction)))
    return sorted_values[rank - 1]


def machine_info() -> dict[str, Any]:
    """What the figures depend on: cores, load (other processes share them) and library versions."""
    import platform

    import nacl

    return {
        "cpus": os.cpu_count(),
        "loadavg": [round(x, 2) for x in os.getloadavg()],
        "python": platform.python_version(),
        "pynacl": nacl.__version__,
        "platform": platform.platform(terse=True),
    }
