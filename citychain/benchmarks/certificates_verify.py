"""The certificate benchmark's offline steps: presentations verified in this process and in
worker processes, and the QR figures (docs/benchmarks.md, "Certificates")."""

from __future__ import annotations

import json
import multiprocessing
import statistics
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from citychain.client.certificates import present_bundle
from citychain.credentials import CredentialError, verify_certificate
from citychain.credentials.qr import (
    HEADER_BYTES,
    QR_CAPACITY,
    QR_PART_BYTES,
    decode_qr_parts,
    qr_payload,
    read_qr_image,
    write_qr,
)

GOAL_VERIFY_PER_S = 1_000
TWO_CLAIMS = ["born_in_city", "age_over_18"]
ONE_CLAIM = ["age_over_18"]
VERIFY_CHUNK = 100  # certificates per task sent to a verifier process

Trusted = list[tuple[bytes, int]]

# --- verify -------------------------------------------------------------------------------------
_TRUSTED: Trusted = []
_BARRIER: Any = None


def _init_verifier(trusted: Trusted, barrier: Any) -> None:
    global _TRUSTED, _BARRIER
    _TRUSTED, _BARRIER = trusted, barrier


def _warm_up(text: str) -> bool:
    """Verify one certificate, then wait until every worker has: all are up before the clock."""
    valid = verify_certificate(text, None, _TRUSTED).valid
    _BARRIER.wait(120)
    return valid


def verify_texts(
    texts: Sequence[str], trusted: Trusted, first: int = 0
) -> tuple[int, list[tuple[int, str, str]]]:
    """How many of ``texts`` verify valid, and (index, check, reason) of the others."""
    valid, failed = 0, []
    for i, text in enumerate(texts):
        result = verify_certificate(text, None, trusted)
        if result.valid:
            valid += 1
        else:
            failed.append((first + i, result.check.value, result.reason))
    return valid, failed


def _verify_chunk(task: tuple[int, list[str]]) -> tuple[int, list[tuple[int, str, str]]]:
    first, texts = task
    return verify_texts(texts, _TRUSTED, first)


def _verify_figures(
    count: int, seconds: float, valid: int, failed: list[tuple[int, str, str]]
) -> dict[str, Any]:
    return {
        "certificates": count,
        "seconds": seconds,
        "per_s": count / seconds,
        "valid": valid,
        "invalid": len(failed),
        "invalid_sample": [list(f) for f in failed[:5]],
    }


def verify_one_process(texts: Sequence[str], trusted: Trusted) -> dict[str, Any]:
    verify_certificate(texts[0], None, trusted)  # warm-up, as each worker below does
    start = time.perf_counter()
    valid, failed = verify_texts(texts, trusted)
    return _verify_figures(len(texts), time.perf_counter() - start, valid, failed)


def verify_processes(texts: Sequence[str], trusted: Trusted, workers: int) -> dict[str, Any]:
    ctx = multiprocessing.get_context("spawn")
    size = max(1, min(VERIFY_CHUNK, len(texts) // (8 * workers)))  # ≥ 8 tasks per worker
    tasks = [(i, list(texts[i : i + size])) for i in range(0, len(texts), size)]
    spawn_start = time.perf_counter()
    barrier = ctx.Barrier(workers)
    with ctx.Pool(workers, initializer=_init_verifier, initargs=(trusted, barrier)) as pool:
        warm = pool.map(_warm_up, [texts[0]] * workers, chunksize=1)
        startup_s = time.perf_counter() - spawn_start
        start = time.perf_counter()
        valid, failed = 0, []
        for chunk_valid, chunk_failed in pool.imap_unordered(_verify_chunk, tasks):
            valid += chunk_valid
            failed.extend(chunk_failed)
        seconds = time.perf_counter() - start
    figures = _verify_figures(len(texts), seconds, valid, sorted(failed))
    figures.update(processes=workers, startup_s=startup_s, warm_up_valid=all(warm))
    return figures


# --- QR -----------------------------------------------------------------------------------------
def _spread(values: Sequence[int]) -> dict[str, Any]:
    return {
        "min": min(values),
        "median": statistics.median(values),
        "max": max(values),
        "fit": sum(v <= QR_CAPACITY for v in values),
        "codes": {n: sum(_codes(v) == n for v in values) for n in sorted(set(map(_codes, values)))},
    }


def _codes(stream_bytes: int) -> int:
    """QR codes of QR_PART_BYTES that a stream of this many bytes takes (write_qr's parts)."""
    return -(-stream_bytes // (QR_PART_BYTES - HEADER_BYTES))


def _nonempty_hashes(record_proof: dict[str, Any]) -> int:
    proof = record_proof.get("proof")
    branches = proof.get("branches", []) if isinstance(proof, dict) else []
    return sum(1 for branch in branches for h in branch if h.strip("0"))


def qr_figures(bundles: Sequence[dict[str, Any]], sample: int, folder: Path) -> dict[str, Any]:
    step = max(1, len(bundles) // sample)
    picked = list(bundles[::step])[:sample]
    two = [present_bundle(b, TWO_CLAIMS) for b in picked]
    sizes = {
        "two_claims": [len(qr_payload(b)) for b in two],
        "one_claim": [len(qr_payload(present_bundle(b, ONE_CLAIM))) for b in picked],
        "full": [len(qr_payload(b)) for b in picked],
    }
    json_sizes = {
        # the file `citychain registry` hands a citizen (json.dump, indent=2, newline)
        "full_file": [len(json.dumps(b, indent=2).encode()) + 1 for b in picked],
        "two_claims_compact": [len(json.dumps(b).encode()) for b in two],
    }
    parts = {
        # the presentation and issuer key alone, without the record proof
        "two_claims_without_proof": [len(qr_payload({**b, "record_proof": {}})) for b in two],
        # the Merkle path's non-empty child hashes (32 random bytes each: incompressible)
        "proof_hash_bytes": [32 * _nonempty_hashes(b["record_proof"]) for b in picked],
    }
    median_at = sorted(range(len(two)), key=lambda i: sizes["two_claims"][i])[len(two) // 2]
    png = folder / "certificate-2-claims.png"
    image: dict[str, Any] = {"path": str(png), "payload_bytes": sizes["two_claims"][median_at]}
    try:
        paths = write_qr(two[median_at], png)
        image.update(written=True, codes=len(paths), png_bytes=sum(p.stat().st_size for p in paths))
        try:
            read = decode_qr_parts([read_qr_image(p) for p in reversed(paths)])
            image["read_back_equal"] = read == two[median_at]
        except CredentialError as exc:
            image["read_back_equal"] = None
            image["read_back_error"] = str(exc)
    except CredentialError as exc:
        image.update(written=False, error=str(exc))
    levels = [len(b["record_proof"]["proof"].get("branches", [])) for b in picked]
    return {
        "capacity": QR_CAPACITY,
        "sample": len(picked),
        **{name: _spread(values) for name, values in sizes.items()},
        "json_bytes": {name: _spread(values) for name, values in json_sizes.items()},
        "parts": {name: _spread(values) for name, values in parts.items()},
        "proof_levels": {"min": min(levels), "max": max(levels)},
        "png": image,
    }


# --- the run ------------------------------------------------------------------------------------
