"""Birth-certificate presentations (2 claims) verified per second on one core, and credentials
issued per second. Run: python bench/bench_birth_verify.py [--seconds 3]"""

from __future__ import annotations

import argparse
import hashlib
import time
from collections.abc import Sequence

from citychain.credentials import (
    VerifiedCredential,
    issue_birth_credential,
    present,
    verify_presentation,
)
from citychain.crypto.keys import PrivateKey

CONTENT = {
    "given_name": "Ada",
    "family_name": "Lovelace",
    "date_of_birth": "2001-04-17",
    "place_of_birth": "Citychain",
    "sex": "F",
    "parent_1_name": "Annabella Milbanke",
}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="time spent on each figure")
    seconds = parser.parse_args(argv).seconds
    key = PrivateKey.generate()
    credential = issue_birth_credential(
        key,
        hashlib.sha256(b"r").digest(),
        CONTENT,
        hashlib.sha256(b"s").digest(),
        issued_at=1_764_547_200,
    )
    presentation = present(credential, ["age_over_18", "born_in_city"])
    assert isinstance(verify_presentation(presentation, key.public_key), VerifiedCredential)
    count, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        for _ in range(100):
            verify_presentation(presentation, key.public_key)
        count += 100
    print(
        f"{count / elapsed:,.0f} verifications/s of a 2-claim presentation "
        f"({len(presentation)} bytes, {elapsed / count * 1e6:.0f} us each, one thread)"
    )
    count, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        issue_birth_credential(
            key, hashlib.sha256(b"r").digest(), CONTENT, b"\x00" * 32, issued_at=1_764_547_200
        )
        count += 1
    print(f"{count / elapsed:,.0f} issuances/s")
    return 0
