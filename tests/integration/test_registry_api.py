"""The registry's HTTP routes on a real node: records, versions and proofs by id; certificate
verification against the node's genesis; selective presentation with a fresh proof; each bad
request a 4xx with the API's one error shape."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from citychain.client import Wallet
from citychain.client.registrar import IssuedCertificate, Registrar
from citychain.crypto.keystore import Keystore
from citychain.init_home import init_home
from citychain.sim.localnode import LocalNode

JSON = {"content-type": "application/json"}
CONTENT = {
    "given_name": "Katherine",
    "family_name": "Johnson",
    "date_of_birth": "2008-08-26",
    "place_of_birth": "Citychain",
    "sex": "F",
    "parent_1_name": "Joylette Coleman",
}


@pytest.fixture(scope="module")
def issued(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[LocalNode, Registrar, IssuedCertificate]]:
    base: Path = tmp_path_factory.mktemp("registry-api")
    home, _, _ = init_home(base / "home", password="pw", kdf_limits=(1, 8192))
    with LocalNode(base / "home") as node:
        registrar = Registrar(Wallet(Keystore(home.keys_dir).load("registrar", "pw"), node.client))
        yield node, registrar, registrar.register_birth(CONTENT)


def _error(response: httpx.Response, status: int) -> str:
    assert response.status_code == status, response.text
    message = response.json()["error"]["message"]
    assert isinstance(message, str)
    return message


def test_record_versions_and_proof(issued: tuple[LocalNode, Registrar, IssuedCertificate]) -> None:
    node, _, cert = issued
    record_id = cert.record_id.hex()
    record = httpx.get(f"{node.url}/registry/records/{record_id}").json()
    assert (record["kind"], record["status"], record["version"]) == ("birth", "valid", 1)
    assert record["history"][0]["action"] == "registered"
    assert "Johnson" not in str(record)
    versions = httpx.get(f"{node.url}/registry/records/{record_id}/versions").json()["versions"]
    assert [v["id"] for v in versions] == [record_id]
    proof = httpx.get(f"{node.url}/registry/records/{record_id}/proof").json()
    assert proof["key"] == (b"reg/r/" + cert.record_id).hex() and proof["value"]

    assert "no record" in _error(httpx.get(f"{node.url}/registry/records/{'0' * 64}"), 404)
    assert _error(httpx.get(f"{node.url}/registry/records/xyz"), 422)
    # An absent record still has a proof: of its absence.
    absent = httpx.get(f"{node.url}/registry/records/{'0' * 64}/proof").json()
    assert absent["value"] is None


def test_verify_and_present(issued: tuple[LocalNode, Registrar, IssuedCertificate]) -> None:
    node, _, cert = issued
    verdict = httpx.post(f"{node.url}/registry/verify", json=cert.bundle).json()
    assert (verdict["valid"], verdict["status"], verdict["kind"]) == (True, "valid", "birth")

    body = {"credential": cert.credential, "issuer_key": cert.bundle["issuer_key"],
            "disclose": ["age_over_18"]}  # fmt: skip
    shown = httpx.post(f"{node.url}/registry/present", json=body)
    assert shown.status_code == 200, shown.text
    verdict = httpx.post(f"{node.url}/registry/verify", json=shown.json()).json()
    assert verdict["valid"] and verdict["claims"] == {"age_over_18": True}

    tampered = {**cert.bundle, "presentation": cert.bundle["presentation"].replace(".", ".x", 1)}
    verdict = httpx.post(f"{node.url}/registry/verify", json=tampered).json()
    assert not verdict["valid"] and verdict["check"] == "presentation"

    not_json = httpx.post(f"{node.url}/registry/verify", content=b"{x", headers=JSON)
    assert "JSON decode error" in _error(not_json, 422)
    assert _error(httpx.post(f"{node.url}/registry/verify", json={"presentation": 1}), 422)
    message = _error(
        httpx.post(f"{node.url}/registry/present", json={**body, "disclose": ["shoe_size"]}), 400
    )
    assert "unknown birth claim 'shoe_size'" in message
    message = _error(
        httpx.post(f"{node.url}/registry/present", json={**body, "credential": "nonsense"}), 400
    )
    assert "not a certificate credential" in message
