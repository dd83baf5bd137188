"""``bench/bench_certificates.py`` end to end at a tiny size: every figure is present and agrees
with the others, every certificate issued through the node verified valid offline.

Never a timed test: nothing here asserts on a speed (STYLE.md; docs/benchmarks.md).
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from citychain.credentials.qr import QR_CAPACITY, QR_PART_BYTES

pytestmark = pytest.mark.timeout(300)

ROOT = Path(__file__).resolve().parents[2]
COUNT = 200
ARGV = ["--count", str(COUNT), "--batch", "100", "--workers", "2", "--qr-sample", "50"]


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One run of the benchmark as a script (its verifier processes are spawned)."""
    out = tmp_path_factory.mktemp("bench-certs") / "figures.json"
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "bench_certificates.py"), *ARGV, "--json", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=280,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "certificates issued / s" in done.stdout  # the table went to stdout
    figures: dict[str, Any] = json.loads(out.read_text(encoding="utf-8"))
    return figures


def test_every_record_is_committed_and_issued(report: dict[str, Any]) -> None:
    issue = report["issue"]
    assert report["count"] == COUNT and report["all_issued"] is True
    assert issue["records"] == issue["committed"] == issue["issued"] == COUNT
    assert issue["failures"] == {} and issue["blocks"] >= 2  # batches of 100
    for name in ("prepare_s", "ledger_s", "finish_s", "wall_s"):
        assert issue[name] > 0, name
    assert issue["wall_s"] >= issue["ledger_s"] + issue["finish_s"]
    assert math.isclose(issue["ledger_per_s"], COUNT / issue["ledger_s"])
    assert math.isclose(issue["finish_per_s"], COUNT / issue["finish_s"])
    assert math.isclose(issue["issued_per_s"], COUNT / issue["wall_s"])
    assert report["finish"] == "processes" and report["finish_workers"] == 2
    assert issue["cpu_s"]["finish"]["finish_processes"] >= 0


def test_every_certificate_verifies_offline(report: dict[str, Any]) -> None:
    verify = report["verify"]
    assert report["all_valid"] is True
    assert verify["presented"] == ["born_in_city", "age_over_18"]
    runs = ("in_this_process", "one_process", "processes", "full_one_process")
    for name in runs:
        run = verify[name]
        assert run["certificates"] == run["valid"] == COUNT, name
        assert run["invalid"] == 0 and run["invalid_sample"] == [], name
        assert run["per_s"] > 0 and math.isclose(run["per_s"], COUNT / run["seconds"]), name
    assert verify["one_process"]["processes"] == 1 and verify["processes"]["processes"] == 2
    assert verify["processes"]["warm_up_valid"] is True
    assert verify["processes"]["startup_s"] > 0
    ratio = verify["processes"]["per_s"] / verify["one_process"]["per_s"]
    assert math.isclose(verify["ratio"], ratio)
    assert verify["goal_per_s"] == 1_000
    assert verify["goal_met_processes"] == (verify["processes"]["per_s"] >= 1_000)


def test_qr_figures_agree(report: dict[str, Any]) -> None:
    qr = report["qr"]
    assert qr["capacity"] == QR_CAPACITY and qr["sample"] == 50
    for name in ("two_claims", "one_claim", "full"):
        s = qr[name]
        assert 0 < s["min"] <= s["median"] <= s["max"], name
        assert 0 <= s["fit"] <= qr["sample"], name
    # fewer claims disclosed, fewer bytes; the certificate file is far bigger than its QR form
    assert qr["one_claim"]["max"] <= qr["two_claims"]["max"] <= qr["full"]["max"]
    assert qr["json_bytes"]["full_file"]["min"] > qr["full"]["max"]
    assert qr["parts"]["proof_hash_bytes"]["min"] > 0
    png = qr["png"]
    # Whatever its size, a presentation becomes QR codes of QR_PART_BYTES, read back equal.
    assert png["written"] and png["codes"] == -(-png["payload_bytes"] // (QR_PART_BYTES - 14))
    assert png["png_bytes"] > 0 and Path(png["path"]).suffix == ".png"
    assert png["read_back_equal"] in (True, None)  # None: zbarimg not installed
    assert sum(qr["two_claims"]["codes"].values()) == qr["sample"]
