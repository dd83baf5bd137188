"""The workload of ``citychain bench payments --network N`` spread over N nodes, and posted.

Transfer ``j`` goes to node ``(j mod S) mod N``: its sender's node. The nodes take turns by
sender, so each receives a quarter of the transfers (with N = 4), and all of a sender's transfers
enter CometBFT through one mempool in nonce order, whence CometBFT gossips them to the others in
that order (a transfer arriving before its predecessor would fail ``check_tx`` with a nonce gap).
Each node's transfers are cut into batches of B in index order; of the C requests in flight, node
k has ``C div N`` (+1 for the first ``C mod N`` nodes), each on its own thread and connection.

- The citychain network: each node's batches go to its HTTP API through the solo benchmark's
  ``submit_all`` (``POST /txs/batch``, mode=commit), unchanged.
- The kvstore network: transaction ``j`` is ``bench<j>=<hex>``, exactly as long as transfer
  ``j`` (kvstore accepts one ``=``, not first nor last), in the same batches to the same nodes;
  a batch is posted to the node's CometBFT RPC as JSON-RPC batch requests of
  ``broadcast_tx_sync``, at most 500 in each (``RPC_BATCH``, as the node itself sends them to
  its CometBFT), and it is answered, like a mode=commit batch, once that node's
  ``BlockWatcher`` has seen the last of its transactions committed.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

import httpx
import msgspec

from citychain.benchmarks import percentile
from citychain.benchmarks.blockwatch import BlockWatcher
from citychain.benchmarks.submission import REQUEST_TIMEOUT, Batch, encode_batches, submit_all
from citychain.engines.cometbft.engine import RPC_BATCH

__all__ = [
    "RpcBatch",
    "block_stats",
    "block_tally",
    "citychain_work",
    "concurrency_per_node",
    "kvstore_txs",
    "kvstore_work",
    "node_of",
    "ordering_problem",
    "submit_citychain",
    "submit_kvstore",
]

COMMIT_TIMEOUT = 60.0  # seconds a kvstore batch may wait for its commit (the API waits 30)


def node_of(index: int, senders: int, nodes: int) -> int:
    return (index % senders) % nodes


def concurrency_per_node(concurrency: int, nodes: int) -> list[int]:
    return [concurrency // nodes + (1 if k < concurrency % nodes else 0) for k in range(nodes)]


def ordering_problem(senders: int, nodes: int, batch: int, concurrency: int) -> str:
    """Why a sender's next transfer could reach CometBFT before its previous one, if it could.

    A sender's transfers are ``senders / nodes`` apart in its node's stream; with c requests in
    flight on that node they must be at least c batches apart, so that the earlier one has been
    checked before the later one's request is sent (its batch has committed by then).
    """
    per_node = concurrency_per_node(concurrency, nodes)
    if min(per_node) < 1:
        return f"--concurrency must be at least --network ({nodes}): one request per node"
    if senders // nodes < batch * max(per_node):
        return (
            f"with {nodes} nodes, {max(per_node)} requests in flight per node and batches of "
            f"{batch}, a sender's next transfer could overtake its previous one: use at least "
            f"{nodes * batch * max(per_node):,} --senders, or smaller --batch"
        )
    return ""


def _split(count: int, senders: int, nodes: int) -> list[list[int]]:
    out: list[list[int]] = [[] for _ in range(nodes)]
    for index in range(count):
        out[node_of(index, senders, nodes)].append(index)
    return out


def citychain_work(
    signed: Sequence[bytes], senders: int, nodes: int, batch: int
) -> list[list[Batch]]:
    """Each node's batches of ``POST /txs/batch`` bodies (mode=commit)."""
    return [
        encode_batches([signed[j] for j in indices], batch)
        for indices in _split(len(signed), senders, nodes)
    ]


def kvstore_txs(sizes: Sequence[int]) -> list[bytes]:
    """``bench<j>=<hex>`` of exactly ``sizes[j]`` bytes each; distinct, so none is a duplicate."""
    out = []
    for j, size in enumerate(sizes):
        key = b"bench%d=" % j
        fill = hashlib.sha256(key).hexdigest().encode()
        if size < len(key) + 1:
            raise ValueError(f"transaction {j} is {size} bytes, too short for {key!r}")
        out.append(key + (fill * (size // len(fill) + 1))[: size - len(key)])
    return out


@dataclass(slots=True)
class RpcBatch(Batch):
    """A kvstore batch: JSON-RPC batch requests of at most ``RPC_BATCH`` (as the node sends)."""

    bodies: list[bytes] = field(default_factory=list)


def kvstore_work(
    txs: Sequence[bytes], senders: int, nodes: int, batch: int
) -> list[list[RpcBatch]]:
    """The same split and batches as ``citychain_work``, as JSON-RPC ``broadcast_tx_sync``."""
    work = []
    for indices in _split(len(txs), senders, nodes):
        batches = []
        for number, lo in enumerate(range(0, len(indices), batch)):
            raws = [txs[j] for j in indices[lo : lo + batch]]
            bodies = [_rpc_body(raws[at : at + RPC_BATCH]) for at in range(0, len(raws), RPC_BATCH)]
            hashes = [hashlib.sha256(raw).hexdigest() for raw in raws]
            batches.append(RpcBatch(number, b"", hashes, bodies=bodies))
        work.append(batches)
    return work


def _rpc_body(raws: Sequence[bytes]) -> bytes:
    return msgspec.json.encode(
        [
            {
                "jsonrpc": "2.0",
                "id": i,
                "method": "broadcast_tx_sync",
                "params": {"tx": base64.b64encode(raw).decode()},
            }
            for i, raw in enumerate(raws)
        ]
    )


def _per_node(target: Callable[[int], None], nodes: int) -> None:
    """``target(k)`` for every node at once; re-raise the first failure."""
    errors: list[BaseException] = []

    def guarded(k: int) -> None:
        try:
            target(k)
        except BaseException as exc:  # handed to the main thread below
            errors.append(exc)

    threads = [threading.Thread(target=guarded, args=(k,), daemon=True) for k in range(nodes)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]


def submit_citychain(urls: Sequence[str], work: list[list[Batch]], concurrency: int) -> None:
    per_node = concurrency_per_node(concurrency, len(urls))
    _per_node(lambda k: submit_all(urls[k], work[k], per_node[k]), len(urls))


def submit_kvstore(
    rpc_urls: Sequence[str],
    work: list[list[RpcBatch]],
    concurrency: int,
    watchers: Sequence[BlockWatcher],
    abort: Callable[[], bool],
) -> None:
    per_node = concurrency_per_node(concurrency, len(rpc_urls))
    headers = {"content-type": "application/json"}

    def node(k: int) -> None:
        batches, counter, lock = work[k], itertools.count(), threading.Lock()

        def worker() -> None:
            with httpx.Client(base_url=rpc_urls[k], timeout=REQUEST_TIMEOUT) as http:
                while not abort():
                    with lock:
                        index = next(counter)
                    if index >= len(batches):
                        return
                    _post_and_wait(http, batches[index], watchers[k], abort, headers)

        threads = [threading.Thread(target=worker, daemon=True) for _ in range(per_node[k])]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    _per_node(node, len(rpc_urls))


def _post_and_wait(
    http: httpx.Client,
    batch: RpcBatch,
    watcher: BlockWatcher,
    abort: Callable[[], bool],
    headers: dict[str, str],
) -> None:
    batch.sent = time.perf_counter()
    results: list[dict[str, Any]] = []
    for body in batch.bodies:
        try:
            response = http.post("/", content=body, headers=headers)
        except httpx.HTTPError as exc:
            batch.error = f"{type(exc).__name__}: {exc}"
            break
        batch.status = response.status_code
        if response.status_code != HTTPStatus.OK:
            batch.error = response.text[:300]
            break
        answers = msgspec.json.decode(response.content)
        if not isinstance(answers, list):  # the whole request refused, e.g. too many in it
            batch.error = response.text[:300]
            break
        by_id = {a.get("id"): a for a in answers}
        first = len(results)
        for i, tx_hash in enumerate(batch.hashes[first : first + RPC_BATCH]):
            results.append(_result(tx_hash, by_id.get(i)))
    if len(results) < len(batch.hashes):
        batch.received = time.perf_counter()
        batch.status = batch.status if batch.status != HTTPStatus.OK else 0
        batch.results = []
        return
    batch.results = results
    accepted = [bytes.fromhex(r["hash"]) for r in results if r["code"] == 0]
    seen = watcher.wait_for(accepted, COMMIT_TIMEOUT, abort)
    batch.received = seen if seen is not None else time.perf_counter()
    if seen is None and accepted:
        batch.error = f"not all committed within {COMMIT_TIMEOUT:.0f} s"


def _result(tx_hash: str, answer: dict[str, Any] | None) -> dict[str, Any]:
    """One ``broadcast_tx_sync`` answer in the shape of a ``/txs/batch`` result."""
    if answer is None or "error" in answer:
        error = (answer or {}).get("error") or {"message": "no answer"}
        log = str(error.get("data") or error.get("message"))
        return {"hash": tx_hash, "code": -1, "codespace": "rpc", "log": log}
    result = answer["result"]
    codespace = str(result.get("codespace") or "kvstore")
    return {"hash": tx_hash, "code": int(result["code"]), "codespace": codespace,
            "log": str(result.get("log", ""))}  # fmt: skip


def block_tally(
    work: Sequence[Sequence[Batch]], watchers: Sequence[BlockWatcher]
) -> dict[str, Any]:
    """Rate and latency to commit as the nodes' CometBFT reported it (``BlockWatcher``).

    A transaction counts as committed once its node's watcher saw it in a block; its latency
    is its batch's: the time the last of the batch's accepted transactions was seen, minus the
    time the batch was sent. The rate is the committed count over the time from the first batch
    sent to the last commit seen.
    """
    committed = not_seen = refused = 0
    latencies: list[float] = []
    failures: dict[str, int] = {}
    samples: dict[str, str] = {}
    sent: list[float] = []
    last: list[float] = []
    for k, batches in enumerate(work):
        for batch in batches:
            if batch.sent:
                sent.append(batch.sent)
            if not batch.results:
                key = f"http {batch.status or 'error'}"
                failures[key] = failures.get(key, 0) + len(batch.hashes)
                samples.setdefault(key, batch.error)
                refused += len(batch.hashes)
                continue
            accepted = []
            for result in batch.results:
                if result["code"] == 0:
                    accepted.append(bytes.fromhex(result["hash"]))
                else:
                    key = f"{result['codespace']}/{result['code']}"
                    failures[key] = failures.get(key, 0) + 1
                    samples.setdefault(key, str(result["log"]))
                    refused += 1
            seen_times = [watchers[k].committed.get(h) for h in accepted]
            seen = [t for t in seen_times if t is not None]
            not_seen += len(seen_times) - len(seen)
            if seen:
                committed += len(seen)
                latest = max(seen)
                last.append(latest)
                latencies.extend([1000 * (latest - batch.sent)] * len(seen))
    latencies.sort()
    wall = max(last) - min(sent) if last and sent else 0.0
    return {
        "committed": committed,
        "not_seen": not_seen,
        "refused": refused,
        "failures": failures,
        "failure_samples": samples,
        "wall_s": wall,
        "committed_tps": committed / wall if wall else 0.0,
        "p50_ms": percentile(latencies, 0.50),
        "p99_ms": percentile(latencies, 0.99),
        "max_ms": latencies[-1] if latencies else 0.0,
    }


def block_stats(watcher: BlockWatcher) -> dict[str, Any]:
    """The blocks with transactions one node committed (the networks carry nothing else): how
    many, how many transactions each, and the mean time between blocks from the one before the
    first of them to the last."""
    full = [b for b in watcher.blocks if b.txs]
    if not full:
        return {"blocks": 0, "heights": 0, "mean_txs_per_block": 0.0, "max_txs_per_block": 0,
                "mean_block_interval_s": 0.0, "late_blocks": watcher.late_blocks}  # fmt: skip
    first, last = full[0].height, full[-1].height
    span = [b for b in watcher.blocks if first - 1 <= b.height <= last]
    intervals = [b.seen - a.seen for a, b in itertools.pairwise(span)]
    return {
        "blocks": len(full),
        "heights": last - first + 1,
        "mean_txs_per_block": sum(b.txs for b in full) / len(full),
        "max_txs_per_block": max(b.txs for b in full),
        "mean_block_interval_s": sum(intervals) / len(intervals) if intervals else 0.0,
        "late_blocks": watcher.late_blocks,
    }
