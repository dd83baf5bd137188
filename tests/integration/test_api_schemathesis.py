"""The node's HTTP API against its own OpenAPI document (issue 2, "Must show": a schemathesis run
with no server error; issue 13: with TLS on, as a city exposes it).

The node serves HTTPS with a self-signed certificate made for the run (the client, the
wallets and schemathesis trust it as their CA), and schemathesis sends the operator token, so
that the operator's routes are fuzzed too; ``ignored_auth`` checks that they refuse a request
without it.

``schemathesis run`` (the CLI, as a subprocess) reads /openapi.json from a real node and runs its
examples, coverage, fuzzing and stateful phases with a fixed seed and at most ``MAX_EXAMPLES``
cases per operation: 30, or 15 under the ``ci`` hypothesis profile (tests/conftest.py). The
coverage phase's boundary cases do not depend on it, and every operation is still run (asserted
below). A config file feeds it identifiers that exist on the chain (a transaction hash, an
address, a payment request, search terms), so that about half of the generated requests get past
the 404s into the code that renders real objects.

Checks run: everything that holds for this API. Two are left out, each for a reason:

- ``positive_data_acceptance``: the document says an address is a string of at most 100
  characters, but only a bech32 string with a valid checksum is an address, and no JSON Schema
  can state a checksum; such requests rightly get 400.
- ``unsupported_method``: ``/txs/batch`` (POST) is also a ``/txs/{tx_hash}`` (GET), so
  ``GET /txs/batch`` asks for the transaction "batch" and gets 422, not 405. Other paths do
  answer 405 with an ``Allow`` header (tests/property/test_api_bad_input.py checks one).
- ``use_after_free``/``ensure_resource_availability``/``object_level_authorization``: the API
  has no deletes and no objects that belong to a caller.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from apiutil import self_signed
from helpers import examples

from citychain.client import Wallet
from citychain.client.http import CA_FILE_ENV, tls_context
from citychain.client.registrar import Registrar
from citychain.crypto.address import address_from_public_key
from citychain.crypto.keys import PrivateKey
from citychain.crypto.keystore import Keystore
from citychain.home import Home
from citychain.init_home import init_home
from citychain.modules.devices.messages import MsgAnchorBatch
from citychain.sim.devices import SimDevice, register_devices
from citychain.sim.localnode import LocalNode
from citychain.telemetry import merkle
from citychain.telemetry.gateway.store import batch_id_of

pytestmark = pytest.mark.slow

SEED = 20_240_602
MAX_EXAMPLES = max(examples(30), 15)  # scaled like the hypothesis tests', never below 15
PASSWORD = "pw"
CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_headers_conformance",
    "response_schema_conformance",
    "negative_data_rejection",
    "missing_required_header",
    "allow_header_conformance",
    "ignored_auth",
)


BIRTH_CONTENT = {
    "given_name": "Grace",
    "family_name": "Hopper",
    "date_of_birth": "2006-12-09",
    "place_of_birth": "Citychain",
    "sex": "F",
    "parent_1_name": "Mary Van Horne",
}


@pytest.fixture(scope="module")
def node_with_data(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[LocalNode, Path, dict[str, list[str]]]]:
    """A running node serving HTTPS, with a few blocks: a mint, a payment, an open payment
    request, an amended birth record, and a gateway and a BMS device with one anchored batch."""
    base = tmp_path_factory.mktemp("schemathesis")
    home, _, _ = init_home(base / "home", password=PASSWORD, kdf_limits=(1, 8192))
    cert, key = self_signed(base)
    home.write_config({**home.config(), "api_tls_cert": str(cert), "api_tls_key": str(key)})
    with _trusting(cert), LocalNode(base / "home") as node:
        issuer = Wallet(Keystore(home.keys_dir).load("issuer", PASSWORD), node.client)
        merchant = Wallet(PrivateKey.from_seed(bytes(31) + b"\x01"), node.client)
        payer = address_from_public_key(PrivateKey.from_seed(bytes(31) + b"\x02").public_key)
        issuer.mint(merchant.address, 50_000)
        sent = merchant.send(payer, 1_000)
        request_id = merchant.request_payment(2_500, expiry_height=1_000_000, memo="coffee")
        registrar = Registrar(
            Wallet(Keystore(home.keys_dir).load("registrar", PASSWORD), node.client)
        )
        birth = registrar.register_birth(BIRTH_CONTENT)
        amended = registrar.amend(birth.record_id, {**BIRTH_CONTENT, "sex": "X"})
        gateway = SimDevice(PrivateKey.from_seed(bytes(31) + b"\x03"), kind="gateway")
        bms = SimDevice(PrivateKey.from_seed(bytes(31) + b"\x04"))
        register_devices(merchant, [gateway, bms], bytes(32))
        root = merkle.root([merkle.leaf_hash(bms.report()) for _ in range(3)])
        batch_id = batch_id_of(gateway.id, root, 3)
        merchant.submit([MsgAnchorBatch(batch_id, root, 3, gateway.id)])
        known = {
            "tx_hashes": [sent["hash"]],
            "addresses": [merchant.address, payer],
            "request_ids": [request_id],
            "denoms": ["ccy"],
            "record_ids": [birth.record_id.hex(), amended.record_id.hex()],
            "device_ids": [gateway.id.hex(), bms.id.hex()],
            "batch_ids": [batch_id.hex()],
            "owners": [merchant.address],
            # "²" is a digit to str.isdigit but not to int(): /search once gave a 500 for it.
            # "٣" (Arabic-Indic three) is a digit to both.
            "terms": ["1", "2", sent["hash"], merchant.address, "²", "٣", "0"],
        }
        yield node, base, known


@contextlib.contextmanager
def _trusting(cert: Path) -> Iterator[None]:
    """Clients made meanwhile (the node's, the wallets') trust ``cert`` ($CITYCHAIN_CA_FILE)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(CA_FILE_ENV, str(cert))
        yield


def _config(known: dict[str, list[str]]) -> str:
    """schemathesis.toml: known identifiers, each used for half of a parameter's values."""
    lines = [f"seed = {SEED}", "[generation]", f"max-examples = {MAX_EXAMPLES}"]
    lines.append('database = "none"')
    for name, values in known.items():
        lines += [f"[dictionaries.{name}]", f"values = {json.dumps(values)}"]
    lines.append("[parameters]")
    for parameter, dictionary in (
        ("tx_hash", "tx_hashes"),
        ("address", "addresses"),
        ("request_id", "request_ids"),
        ("term", "terms"),
        ("denom", "denoms"),
        ("record_id", "record_ids"),
        ("device_id", "device_ids"),
        ("batch_id", "batch_ids"),
    ):
        lines.append(f'"path.{parameter}" = {{ dictionary = "{dictionary}", probability = 0.5 }}')
    # GET /devices?owner=: half the owners generated are one that has devices.
    lines.append('"query.owner" = { dictionary = "owners", probability = 0.5 }')
    return "\n".join(lines) + "\n"


@pytest.mark.timeout(600)
def test_schemathesis_finds_no_server_error(
    node_with_data: tuple[LocalNode, Path, dict[str, list[str]]],
) -> None:
    node, base, known = node_with_data
    client = node.client
    before = client.status()
    cert = base / "node-cert.pem"  # self_signed() in the fixture
    assert node.url.startswith("https://")
    token = Home(base / "home").operator_token()
    document = httpx.get(f"{node.url}/openapi.json", timeout=30, verify=tls_context(cert)).json()
    operations = sum(len(methods) for methods in document["paths"].values())
    work = base / "run"
    work.mkdir()
    config = work / "schemathesis.toml"
    config.write_text(_config(known))
    cli = Path(sys.executable).with_name("schemathesis")
    if not cli.exists():
        found = shutil.which("schemathesis")
        assert found, "schemathesis is not installed (pip install -e '.[dev]')"
        cli = Path(found)
    command = [
        str(cli),
        "--config-file",
        str(config),
        "run",
        f"{node.url}/openapi.json",
        "--checks",
        ",".join(CHECKS),
        "--max-examples",
        str(MAX_EXAMPLES),
        "--seed",
        str(SEED),
        "--tls-verify",
        str(cert),
        "--header",
        f"Authorization: Bearer {token}",
        "--workers",
        "1",
        "--request-timeout",
        "30",
        "--no-color",
        "--report",
        "junit",
        "--report-dir",
        str(work / "report"),
    ]
    # The CLI keeps caches (.schemathesis, .hypothesis) in its working directory: not the repo's.
    done = subprocess.run(command, cwd=work, capture_output=True, text=True, timeout=540)
    output = done.stdout + done.stderr
    print(output[-3000:])
    assert done.returncode == 0, output[-20_000:]
    assert f"Selected: {operations}/{operations}" in output, output[-3000:]
    assert f"Tested: {operations}" in output, output[-3000:]

    # Nothing schemathesis can send is a valid signed transaction: the chain has not moved, and
    # the node is still serving.
    after = client.status()
    assert (after["height"], after["app_hash"]) == (before["height"], before["app_hash"])
    assert client.health()["status"] == "ok"
