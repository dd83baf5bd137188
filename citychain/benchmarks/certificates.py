"""Benchmark: birth certificates issued through a real node, then verified offline.

What it measures (docs/benchmarks.md, "Certificates (civil registry)"):

1. **Issue**: a fresh home and a real node (`LocalNode`) in a temporary folder; N synthetic
   citizens' birth records are prepared by a `Registrar` office, signed with consecutive
   nonces and posted in batches (`POST /txs/batch`, mode=commit); every result must have code
   0. Then `Registrar.finish` issues each SD-JWT credential and fetches its record proof from
   the node, in ``--finish-workers`` spawned processes (several desks of one office, each with
   its own HTTP client, started before the clock) or, with ``--finish threads``, in threads of
   this process sharing one client. Rates: records committed per second of the ledger step,
   certificates finished per second of the finish step, and certificates issued per second of
   the whole phase.
2. **Verify offline**: the node is stopped. Each certificate's 2-claim presentation
   (born_in_city, age_over_18), as JSON text, goes through `verify_certificate(text, None,
   trusted)` with the genesis validators trusted: in this process, in 1 spawned worker process
   and spread over ``--workers`` of them (start-up and a one-certificate warm-up per worker
   excluded; sending the texts and collecting the results included); then the full-disclosure
   certificates in this process. Every certificate must verify valid in every run.
3. **QR**: the size of `qr_payload` of a sample of presentations (2 claims, 1 claim, full
   disclosure) against `QR_CAPACITY`, the certificate file's JSON size, and one QR PNG
   written with `write_qr` (read back with zbarimg when it is installed).

Never a timed test: tests/integration/test_bench_certificates_smoke.py runs it tiny and checks
only that the figures are present and every certificate verified.

Run: python bench/bench_certificates.py [--count 10000] [--batch 500] [--workers 2]
     [--finish processes|threads] [--finish-workers 2] [--qr-sample 200] [--json FILE]
     [--keep DIR]
Exit status: 0 if every record committed and every certificate verified valid; 1 otherwise;
2 for bad flags.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import random
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta
from http import HTTPStatus
from pathlib import Path
from typing import Any

from citychain.benchmarks import machine_info
from citychain.benchmarks.certificates_table import format_table
from citychain.benchmarks.certificates_verify import (
    GOAL_VERIFY_PER_S,
    TWO_CLAIMS,
    qr_figures,
    verify_one_process,
    verify_processes,
)
from citychain.benchmarks.node_metrics import children_cpu_seconds, cpu_seconds
from citychain.client import Client, Wallet
from citychain.client.certificates import present_bundle
from citychain.client.errors import ApiError
from citychain.client.office import OfficeRegister
from citychain.client.registrar import IssuedCertificate, PreparedRecord, Registrar
from citychain.crypto.keys import PrivateKey
from citychain.crypto.keystore import Keystore
from citychain.genesis import Genesis
from citychain.init_home import init_home
from citychain.sim.localnode import LocalNode

SEED = 2026
BORN_HERE = 0.8  # share of the made-up births in the city itself
TWO_PARENTS = 0.7  # share of the made-up records naming a second parent
MAX_FAILURE_LOGS = 5  # logs of refused transactions kept for the report


# --- synthetic citizens -------------------------------------------------------------------------
GIVEN = [
    "Ada", "Amara", "Aiko", "Bastian", "Beatriz", "Chidi", "Chloé", "Dmitri", "Elif", "Emeka",
    "Farah", "Gustav", "Hana", "Ines", "Ivan", "Jonas", "Kwame", "Leila", "Lucía", "Mateo",
    "Mei", "Nadia", "Noah", "Olu", "Priya", "Rafael", "Saoirse", "Sven", "Tariq", "Yara",
    "Zofia", "Zhang Wei",
]  # fmt: skip
FAMILY = [
    "Abara", "Bergström", "Castillo", "Dubois", "Eze", "Fischer", "García", "Haddad", "Ito",
    "Jansen", "Kowalski", "Larsen", "Mensah", "Novak", "O'Brien", "Petrov", "Quispe", "Rossi",
    "Santos", "Tanaka", "Uçar", "Van der Berg", "Wang", "Xu", "Yilmaz", "Zapata",
]  # fmt: skip
ELSEWHERE = ["Rivertown", "Port Ellis", "Lagos", "Kraków", "Osaka", "Lima", "Hamburg"]
FIRST_BIRTH, LAST_BIRTH = date(1925, 1, 1), date(2026, 11, 30)


def citizens(count: int, seed: int = SEED) -> list[dict[str, str]]:
    """``count`` varied, deterministic, entirely made-up birth records' content."""
    rng = random.Random(seed)
    span = (LAST_BIRTH - FIRST_BIRTH).days
    out: list[dict[str, str]] = []
    for _ in range(count):
        family = rng.choice(FAMILY)
        content = {
            "given_name": rng.choice(GIVEN),
            "family_name": family,
            "date_of_birth": (FIRST_BIRTH + timedelta(days=rng.randrange(span + 1))).isoformat(),
            "place_of_birth": "Citychain" if rng.random() < BORN_HERE else rng.choice(ELSEWHERE),
            "sex": rng.choice("FMFMFMX"),
            "parent_1_name": f"{rng.choice(GIVEN)} {family}",
        }
        if rng.random() < TWO_PARENTS:
            content["parent_2_name"] = f"{rng.choice(GIVEN)} {rng.choice(FAMILY)}"
        out.append(content)
    return out


# --- finishing: credential + record proof, in threads or in processes ---------------------------
Pending = list[tuple[PreparedRecord, dict[str, Any]]]
FINISH_CHUNK = 50  # records per task sent to a finishing process
_OFFICE: Registrar | None = None


def _init_office(
    seed: bytes, url: str, chain_id: str, register: OfficeRegister, barrier: Any
) -> None:
    global _OFFICE
    client = Client(url)
    client.health()  # open the keep-alive connection before the clock
    _OFFICE = Registrar(
        Wallet(PrivateKey.from_seed(seed), client, chain_id=chain_id), register=register
    )
    barrier.wait(120)  # every process is up before the clock starts


def _finish_chunk(chunk: Pending) -> list[IssuedCertificate]:
    assert _OFFICE is not None
    return [_OFFICE.finish(prepared, receipt) for prepared, receipt in chunk]


class Finisher:
    """Runs `Registrar.finish` over committed records: ``workers`` threads of this process
    sharing the office's HTTP client, or ``workers`` spawned processes (separate desks, each with
    its own client and the same key), started before the clock."""

    def __init__(self, mode: str, workers: int, office: Registrar, url: str) -> None:
        self.mode, self.workers, self.office = mode, workers, office
        self.startup_s = 0.0
        self._pool: Any = None
        self._threads: ThreadPoolExecutor | None = None
        start = time.perf_counter()
        if mode == "processes":
            ctx = multiprocessing.get_context("spawn")
            barrier = ctx.Barrier(workers)
            assert office.register is not None
            args = (office.wallet.key.seed, url, office.wallet.chain_id, office.register)
            self._pool = ctx.Pool(workers, initializer=_init_office, initargs=(*args, barrier))
            self._pool.map(_barrier_done, range(workers), chunksize=1)
        else:
            self._threads = ThreadPoolExecutor(max_workers=workers)
        self.startup_s = time.perf_counter() - start

    def finish(self, pending: Pending) -> list[IssuedCertificate]:
        if self._threads is not None:
            return list(self._threads.map(lambda item: self.office.finish(*item), pending))
        chunks = [pending[i : i + FINISH_CHUNK] for i in range(0, len(pending), FINISH_CHUNK)]
        return [c for done in self._pool.imap(_finish_chunk, chunks) for c in done]

    def worker_pids(self) -> list[int]:
        return [p.pid for p in self._pool._pool] if self._pool is not None else []

    def close(self) -> None:
        if self._threads is not None:
            self._threads.shutdown()
        if self._pool is not None:
            self._pool.close()
            self._pool.join()


def _barrier_done(_: int) -> bool:
    return _OFFICE is not None


# --- issue --------------------------------------------------------------------------------------
def _await_commit(client: Client, tx_hash: str, timeout: float = 60.0) -> dict[str, Any]:
    """The result of a transaction admitted but answered without a height (node timeout)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            view = client.tx(tx_hash)
        except ApiError as exc:
            if exc.status != HTTPStatus.NOT_FOUND:
                raise
            time.sleep(0.2)
            continue
        return {**view["result"], "hash": tx_hash, "height": view["height"]}
    return {"hash": tx_hash, "code": -1, "codespace": "bench", "log": "not committed in time"}


def _commit_all(
    client: Client,
    wallet: Wallet,
    prepared: list[PreparedRecord],
    batch: int,
    log: Callable[[str], None],
) -> tuple[list[dict[str, Any]], Counter[str], list[str], int]:
    """Submit the records in batches until each committed or failed: every receipt, the
    failures by code, the first failures' logs, and how many committed after the node's
    timeout (looked up)."""
    receipts: list[dict[str, Any]] = []
    failures: Counter[str] = Counter()
    failure_logs: list[str] = []
    late = 0
    for first in range(0, len(prepared), batch):
        chunk = prepared[first : first + batch]
        raws = [wallet.sign([p.message]) for p in chunk]
        results = client.broadcast_batch(raws, wait=True)
        for i, result in enumerate(results):
            if result.get("code") == 0 and result.get("height") is None:
                results[i] = _await_commit(client, str(result["hash"]))
                late += 1
            code = results[i].get("code")
            if code != 0:
                failures[f"{results[i].get('codespace', '')}/{code}"] += 1
                if len(failure_logs) < MAX_FAILURE_LOGS:
                    failure_logs.append(str(results[i].get("log", "")))
        receipts.extend(results)
        log(f"  committed {len(receipts):,}/{len(prepared):,}")
    return receipts, failures, failure_logs, late


def issue(
    node: LocalNode,
    office: Registrar,
    contents: Sequence[dict[str, str]],
    *,
    batch: int,
    finisher: Finisher,
    log: Callable[[str], None],
) -> tuple[dict[str, Any], list[IssuedCertificate]]:
    client, wallet = node.client, office.wallet
    assert node.process is not None
    pid = node.process.pid
    wallet.next_nonce()  # the nonce and chain id look-ups, outside the clock
    _ = wallet.chain_id

    def cpu() -> tuple[float, float, float, float]:
        finishers = sum(cpu_seconds(p) for p in finisher.worker_pids())
        return cpu_seconds(pid), children_cpu_seconds(pid), time.process_time(), finishers

    cpu0 = cpu()

    start = time.perf_counter()
    prepared = [office.prepare_register("birth", content) for content in contents]
    prepared_at = time.perf_counter()

    receipts, failures, failure_logs, late = _commit_all(client, wallet, prepared, batch, log)
    ledger_at = time.perf_counter()
    cpu1 = cpu()

    committed = [(p, r) for p, r in zip(prepared, receipts, strict=True) if r.get("code") == 0]
    issued = finisher.finish(committed)
    end = time.perf_counter()
    cpu2 = cpu()

    heights = [int(r["height"]) for r in receipts if r.get("height") is not None]
    prepare_s, ledger_s, finish_s = prepared_at - start, ledger_at - prepared_at, end - ledger_at
    wall_s = end - start
    report = {
        "records": len(prepared),
        "committed": len(committed),
        "committed_late": late,
        "failures": dict(failures),
        "failure_logs": failure_logs,
        "issued": len(issued),
        "blocks": len(set(heights)),
        "prepare_s": prepare_s,
        "ledger_s": ledger_s,
        "finish_s": finish_s,
        "wall_s": wall_s,
        "ledger_per_s": len(committed) / ledger_s,
        "finish_per_s": len(issued) / finish_s if finish_s > 0 else 0.0,
        "issued_per_s": len(issued) / wall_s,
        "cpu_s": {
            phase: {
                "node": b[0] - a[0],
                "node_workers": b[1] - a[1],
                "bench": b[2] - a[2],
                "finish_processes": b[3] - a[3],
            }
            for phase, a, b in (("ledger", cpu0, cpu1), ("finish", cpu1, cpu2))
        },
    }
    return report, issued


def run(
    count: int,
    *,
    batch: int,
    workers: int,
    finish: str,
    finish_workers: int,
    qr_sample: int,
    log: Callable[[str], None],
    keep: Path | None = None,
) -> dict[str, Any]:
    report: dict[str, Any] = {
        "count": count,
        "batch": batch,
        "workers": workers,
        "finish": finish,
        "finish_workers": finish_workers,
        "machine": machine_info(),
    }
    with tempfile.TemporaryDirectory(prefix="bench-certs-") as tmp:
        folder = keep or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        home, _, _ = init_home(folder / "home", password="pw", kdf_limits=(1, 8192))
        trusted = [(v.public_key, v.power) for v in Genesis.load(home.genesis_file).validators]
        contents = citizens(count)
        node_start = time.perf_counter()
        node = LocalNode(folder / "home").start()
        try:
            report["node_start_s"] = time.perf_counter() - node_start
            wallet = Wallet(Keystore(home.keys_dir).load("registrar", "pw"), node.client)
            register = OfficeRegister.open(folder / "registrar", "pw")
            office = Registrar(wallet, register=register)
            finisher = Finisher(finish, finish_workers, office, node.url)
            try:
                log(f"issuing {count:,} birth certificates through the node …")
                report["issue"], issued = issue(
                    node, office, contents, batch=batch, finisher=finisher, log=log
                )
            finally:
                finisher.close()
            report["issue"]["finish_startup_s"] = finisher.startup_s
        finally:
            node.stop()  # everything after this is offline

        bundles = [c.bundle for c in issued]
        texts = [json.dumps(present_bundle(b, TWO_CLAIMS)) for b in bundles]
        full_texts = [json.dumps(b) for b in bundles]
        log(f"verifying {len(texts):,} 2-claim presentations offline, in this process …")
        here = verify_one_process(texts, trusted)
        log(f"verifying {len(texts):,} 2-claim presentations offline, 1 worker process …")
        one = verify_processes(texts, trusted, 1)
        log(f"verifying {len(texts):,} 2-claim presentations offline, {workers} processes …")
        many = verify_processes(texts, trusted, workers)
        log(f"verifying {len(full_texts):,} full-disclosure certificates offline, 1 process …")
        full = verify_one_process(full_texts, trusted)
        report["verify"] = {
            "presented": TWO_CLAIMS,
            "goal_per_s": GOAL_VERIFY_PER_S,
            "in_this_process": here,
            "one_process": one,
            "processes": many,
            "ratio": many["per_s"] / one["per_s"],
            "goal_met_one_process": one["per_s"] >= GOAL_VERIFY_PER_S,
            "goal_met_processes": many["per_s"] >= GOAL_VERIFY_PER_S,
            "full_one_process": full,
        }
        log("measuring QR payloads …")
        report["qr"] = qr_figures(bundles, qr_sample, folder) if bundles else {}
    issued_ok = report["issue"]["issued"] == count and not report["issue"]["failures"]
    verified_ok = (
        all(v["valid"] == len(texts) and v["invalid"] == 0 for v in (here, one, many, full))
        and len(texts) == count
    )
    report["all_issued"], report["all_valid"] = issued_ok, verified_ok
    report["loadavg_after"] = machine_info()["loadavg"]
    return report


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--count", type=int, default=10_000, help="certificates (default 10000)")
    parser.add_argument("--batch", type=int, default=500, help="transactions per POST /txs/batch")
    parser.add_argument("--workers", type=int, default=2, help="verifier processes (default 2)")
    parser.add_argument(
        "--finish",
        choices=["threads", "processes"],
        default="processes",
        help="where Registrar.finish runs (default: spawned processes)",
    )
    parser.add_argument(
        "--finish-workers", type=int, default=2, help="finishing threads or processes (default 2)"
    )
    parser.add_argument("--qr-sample", type=int, default=200, help="certificates sized as QR")
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write the figures here")
    parser.add_argument("--keep", type=Path, metavar="DIR", help="work in DIR and keep it")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if min(args.count, args.batch, args.workers, args.finish_workers, args.qr_sample) < 1:
        print("error: every count must be at least 1", file=sys.stderr)
        return 2

    def log(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    report = run(
        args.count,
        batch=args.batch,
        workers=args.workers,
        finish=args.finish,
        finish_workers=args.finish_workers,
        qr_sample=args.qr_sample,
        log=log,
        keep=args.keep,
    )
    print(format_table(report))
    if args.json is not None:
        args.json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return 0 if report["all_issued"] and report["all_valid"] else 1
