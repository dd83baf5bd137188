"""Not a test: prints how many 2-claim birth-certificate presentations one core verifies per
second. Run: .venv/bin/python tests/unit/credentials/bench_birth_verify.py"""

from __future__ import annotations

import hashlib
import time

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


def main(seconds: float = 3.0) -> None:
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


if __name__ == "__main__":
    main()
