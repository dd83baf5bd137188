"""The SD-JWT building blocks (RFC 9901) the credentials use, on top of jwcrypto's JWS.

Only what citychain's credentials need: flat objects (no nested or array-element disclosures),
sha-256 digests, compact serialization without key binding::

    <issuer-signed JWT>~<disclosure>~<disclosure>~...~

A disclosure is ``base64url(utf8(json([salt, claim_name, claim_value])))``; its digest,
``base64url(sha256(ascii(disclosure)))``, sits in the signed payload's ``_sd`` array. The JWS
is Ed25519 (``alg: EdDSA``, RFC 8037) signed with a citychain `PrivateKey`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
import secrets
from functools import lru_cache
from typing import Any

from jwcrypto.common import JWException  # type: ignore[import-untyped]
from jwcrypto.jwk import JWK  # type: ignore[import-untyped]
from jwcrypto.jws import JWS, InvalidJWSSignature  # type: ignore[import-untyped]

from citychain.crypto.keys import PUBLIC_KEY_SIZE, PrivateKey

SD_ALG = "sha-256"
SALT_BYTES = 16
DISCLOSURE_ITEMS = 3  # [salt, claim name, value]: the disclosure of an object property
"""Random bytes in a disclosure salt (RFC 9901 recommends at least 128 bits)."""
# Untrusted JSON (a JWT segment, a disclosure, a certificate bundle) is refused before parsing
# when it nests deeper than this or is longer: citychain's credentials are flat objects, and
# Python's parser would otherwise recurse until RecursionError.
MAX_JSON_DEPTH = 32
MAX_JSON_CHARS = 1_000_000
# A JSON string (up to its closing quote, or to the end when there is none) or a bracket; the
# string alternative never backtracks, so a scan is linear in the text.
_JSON_TOKEN = re.compile(r'"(?:[^"\\]+|\\.)*"?|[\[\]{}]', re.DOTALL)
_OPENING = frozenset("[{")
_CLOSING = frozenset("]}")


def b64url_encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    """Strict base64url without padding; raises ValueError on anything else."""
    if not isinstance(text, str) or "=" in text:
        raise ValueError("not unpadded base64url")
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as exc:
        raise ValueError("not base64url") from exc
    if b64url_encode(raw) != text:
        raise ValueError("not canonical base64url")
    return raw


def json_depth(text: str) -> int:
    """The deepest nesting of arrays and objects in ``text``, brackets inside strings aside
    (for text that is not JSON, an upper bound of what a parser would reach before failing)."""
    depth = deepest = 0
    for token in _JSON_TOKEN.finditer(text):
        char = text[token.start()]
        if char in _OPENING:
            depth += 1
            deepest = max(deepest, depth)
        elif char in _CLOSING:
            depth -= 1
    return deepest


def loads_bounded(
    data: str | bytes, *, max_depth: int = MAX_JSON_DEPTH, max_chars: int = MAX_JSON_CHARS
) -> Any:
    """``json.loads`` of untrusted ``data`` (bytes: UTF-8); ValueError when it is not JSON,
    longer than ``max_chars`` characters, or nested deeper than ``max_depth``."""
    text = data.decode("utf-8") if isinstance(data, bytes) else data
    if len(text) > max_chars:
        raise ValueError(f"JSON of {len(text)} characters; at most {max_chars}")
    depth = json_depth(text)
    if depth > max_depth:
        raise ValueError(f"JSON nested {depth} deep; at most {max_depth}")
    try:
        return json.loads(text)
    except RecursionError:  # not reached under the depth bound; kept as the last guard
        raise ValueError("JSON nested too deeply") from None


def canonical_json(value: object) -> bytes:
    """Compact JSON with sorted keys, UTF-8: JCS (RFC 8785) for strings, bools, ints and
    objects with ASCII keys, which is all the credentials put in it."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def make_disclosure(name: str, value: object, salt: bytes | None = None) -> str:
    salt_text = b64url_encode(salt if salt is not None else secrets.token_bytes(SALT_BYTES))
    return b64url_encode(canonical_json([salt_text, name, value]))


def disclosure_digest(disclosure: str) -> str:
    return b64url_encode(hashlib.sha256(disclosure.encode("ascii", "replace")).digest())


def decoy_digest() -> str:
    return b64url_encode(hashlib.sha256(secrets.token_bytes(32)).digest())


def parse_disclosure(disclosure: str) -> tuple[str, str, Any]:
    """Return (salt, name, value); raises ValueError unless it is a 3-element JSON array of
    two strings and a value."""
    item = loads_bounded(b64url_decode(disclosure))
    if not isinstance(item, list) or len(item) != DISCLOSURE_ITEMS:
        raise ValueError("a disclosure must be a JSON array [salt, name, value]")
    salt, name, value = item
    if not isinstance(salt, str) or not isinstance(name, str):
        raise ValueError("a disclosure's salt and claim name must be strings")
    return salt, name, value


def split(serialized: str) -> tuple[str, list[str]]:
    """Split ``jwt~d1~...~dn~`` into the JWT and the disclosures; raises ValueError on a
    missing trailing ``~`` (a key-binding JWT, unsupported) or an empty disclosure."""
    if not isinstance(serialized, str) or "~" not in serialized:
        raise ValueError("an SD-JWT is '<jwt>~<disclosures>~'")
    parts = serialized.split("~")
    if parts[-1] != "":
        raise ValueError("key-binding JWTs are not supported: the SD-JWT must end with '~'")
    jwt, disclosures = parts[0], parts[1:-1]
    if any(d == "" for d in disclosures):
        raise ValueError("empty disclosure")
    return jwt, disclosures


def join(jwt: str, disclosures: list[str]) -> str:
    return "~".join([jwt, *disclosures]) + "~"


@lru_cache(maxsize=64)
def _public_jwk(public_key: bytes) -> JWK:
    return JWK(kty="OKP", crv="Ed25519", x=b64url_encode(public_key))


def sign_jwt(key: PrivateKey, header: dict[str, Any], payload: dict[str, Any]) -> str:
    """The compact JWS of ``payload`` under ``header`` (which must say ``alg: EdDSA``)."""
    jwk = JWK(kty="OKP", crv="Ed25519", x=b64url_encode(key.public_key), d=b64url_encode(key.seed))
    jws = JWS(canonical_json(payload))
    jws.add_signature(jwk, alg=None, protected=json.dumps(header, separators=(",", ":")))
    return str(jws.serialize(compact=True))


def verify_jwt_signature(jwt: str, public_key: bytes) -> bool:
    """True iff ``jwt`` is a compact JWS that verifies with EdDSA under ``public_key``."""
    if len(public_key) != PUBLIC_KEY_SIZE:
        return False
    try:
        # jwcrypto parses the header itself, with an unbounded parser: check it first.
        decode_segment(jwt.split(".", 1)[0])
        jws = JWS()
        jws.deserialize(jwt, _public_jwk(bytes(public_key)), alg="EdDSA")
    except (InvalidJWSSignature, JWException, ValueError):
        return False
    return True


def decode_segment(segment: str) -> dict[str, Any]:
    """A JWT header or payload segment as a JSON object; raises ValueError otherwise."""
    value = loads_bounded(b64url_decode(segment))
    if not isinstance(value, dict):
        raise ValueError("not a JSON object")
    return value
