"""Untrusted JSON in credentials (citychain/credentials/sdjwt.py ``loads_bounded``): a JWT
segment, a disclosure, a certificate bundle or a QR payload nested deeper than any credential
is refused as malformed, never a RecursionError; and so on the registry routes, which answer
4xx (or a verdict) instead of a 500."""

from __future__ import annotations

import hashlib
import json
import logging
import zlib
from collections.abc import Coroutine
from types import SimpleNamespace
from typing import Any

import pytest
from fastapi.testclient import TestClient

from citychain.credentials import (
    CredentialError,
    Reason,
    VerificationFailure,
    present,
    sdjwt,
    verify_certificate,
    verify_presentation,
)
from citychain.credentials.certificate import credential_schema
from citychain.credentials.qr import MAGIC, decode_qr_parts
from citychain.crypto.keys import PrivateKey
from citychain.node.api import create_api

REGISTRAR = PrivateKey.from_seed(bytes(range(32)))
# Far past Python's recursion limit (1,000): what crashed the parser before, and short enough
# for the registry routes' 64,000-character documents.
DEEP = 15_000
HEADER = sdjwt.b64url_encode(b'{"alg":"EdDSA","typ":"dc+sd-jwt"}')


def nested(depth: int, inner: str = "1") -> str:
    return "[" * depth + inner + "]" * depth


def segment(text: str) -> str:
    return sdjwt.b64url_encode(text.encode())


def deep_payload() -> str:
    return segment('{"iss":' + nested(DEEP) + "}")


def deep_header() -> str:
    return segment('{"alg":' + nested(DEEP) + "}")


def deep_disclosure() -> str:
    return segment('["salt","sex",' + nested(DEEP) + "]")


@pytest.mark.parametrize("depth", [sdjwt.MAX_JSON_DEPTH + 1, DEEP])
def test_loads_bounded_refuses_deep_json(depth: int) -> None:
    with pytest.raises(ValueError, match="nested"):
        sdjwt.loads_bounded(nested(depth))
    assert sdjwt.loads_bounded(nested(sdjwt.MAX_JSON_DEPTH)) is not None
    with pytest.raises(ValueError, match="characters"):
        sdjwt.loads_bounded('"' + "x" * sdjwt.MAX_JSON_CHARS + '"')


def test_brackets_inside_strings_do_not_count() -> None:
    text = json.dumps({"a": ["[[[[" * 100, {"b": ']]}}\\"[' * 50}]})
    assert sdjwt.json_depth(text) == 3
    assert sdjwt.loads_bounded(text)["a"][1]["b"].startswith("]]}}")
    # Not JSON: a bound from above, never below what a parser would reach.
    assert sdjwt.json_depth('"unterminated [[[[') == 0
    assert sdjwt.json_depth('[["\\') == 2


@pytest.mark.parametrize(
    "presentation",
    [
        f"{deep_header()}.e30.c2ln~",  # header
        f"{HEADER}.{deep_payload()}.c2ln~",  # payload, read after a failed signature
    ],
)
def test_a_deep_segment_is_a_verification_failure(presentation: str) -> None:
    result = verify_presentation(presentation, REGISTRAR.public_key)
    assert isinstance(result, VerificationFailure)
    assert result.reason in (Reason.MALFORMED, Reason.BAD_SIGNATURE)
    assert not sdjwt.verify_jwt_signature(presentation.split("~")[0], REGISTRAR.public_key)
    with pytest.raises(CredentialError):
        credential_schema(presentation)


def test_a_deep_disclosure_is_malformed() -> None:
    jwt = sdjwt.sign_jwt(REGISTRAR, {"alg": "EdDSA", "typ": "dc+sd-jwt"}, {"_sd": []})
    presentation = sdjwt.join(jwt, [deep_disclosure()])
    result = verify_presentation(presentation, REGISTRAR.public_key)
    assert isinstance(result, VerificationFailure)
    with pytest.raises(CredentialError):
        present(presentation, ["sex"])
    with pytest.raises(ValueError, match="nested"):
        sdjwt.parse_disclosure(deep_disclosure())


def test_a_deep_bundle_is_a_malformed_verdict() -> None:
    verdict = verify_certificate('{"presentation": ' + nested(DEEP, '"x"') + "}", None, None)
    assert not verdict.valid and "nested" in verdict.reason


def test_a_deep_qr_payload_is_refused() -> None:
    raw = b"\x81\xa1a" + b"\x91" * DEEP + b"\xc0"  # {"a": [[[...nil...]]]} in MessagePack
    stream = zlib.compress(raw)
    part = MAGIC + bytes([0, 1]) + hashlib.sha256(stream).digest()[:8] + stream
    with pytest.raises(CredentialError, match="nested"):
        decode_qr_parts([part])


async def _settled() -> None:
    return None


async def _on_engine(work: Coroutine[Any, Any, Any]) -> Any:
    """The node's ``on_engine``: here the test's own loop is the engine's."""
    return await work


@pytest.fixture
def client() -> TestClient:
    genesis = SimpleNamespace(validators=[SimpleNamespace(public_key=bytes(32), power=10)])
    node: Any = SimpleNamespace(
        app=SimpleNamespace(genesis=genesis),
        engine=SimpleNamespace(settled=_settled),
        on_engine=_on_engine,
    )
    return TestClient(create_api(node), raise_server_exceptions=False)


def test_the_registry_routes_answer_deep_segments_without_a_500(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    key = REGISTRAR.public_key.hex()
    header_deep = f"{deep_header()}.e30.c2ln~"
    payload_deep = f"{HEADER}.{deep_payload()}.c2ln~"
    jwt = sdjwt.sign_jwt(REGISTRAR, {"alg": "EdDSA", "typ": "dc+sd-jwt"}, {"_sd": []})
    disclosure_deep = sdjwt.join(jwt, [deep_disclosure()])
    with caplog.at_level(logging.DEBUG):
        for presentation in (header_deep, payload_deep, disclosure_deep):
            verdict = client.post(
                "/registry/verify",
                json={"presentation": presentation, "record_proof": {}, "issuer_key": key},
            )
            assert verdict.status_code == 200, verdict.text
            assert verdict.json()["valid"] is False
            presented = client.post(
                "/registry/present",
                json={"credential": presentation, "issuer_key": key, "disclose": ["sex"]},
            )
            assert presented.status_code == 400, presented.text
            assert set(presented.json()["error"]) == {"code", "codespace", "message"}
        body = '{"presentation": "x~", "record_proof": {"a": ' + nested(DEEP) + "}}"
        deep_body = client.post(
            "/registry/verify", content=body, headers={"content-type": "application/json"}
        )
        assert deep_body.status_code == 400, deep_body.text
    assert [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR] == []
