"""A certificate bundle as a QR code a phone shows (docs/modules/registry.md §8).

The QR code's bytes (byte mode) are::

    b"CCQ1" || zlib(msgpack(bundle'))

where ``bundle'`` is the certificate bundle with every lowercase-hex string turned into the
bytes it spells (keys, hashes, signatures, the Merkle path: most of a proof). Decoding turns
bytes back into lowercase hex, so the round trip gives the bundle exactly and the verifier runs
the same `verify_certificate` as on a file. A solo chain's bundle with a few disclosures is
about 2 KB; a QR code holds at most 2,953 bytes (version 40, error correction L).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import zlib
from pathlib import Path
from typing import Any

import msgspec
import segno

from citychain.credentials.schema import CredentialError

__all__ = [
    "MAGIC",
    "PNG_MAGIC",
    "QR_CAPACITY",
    "decode_qr_payload",
    "qr_payload",
    "read_qr_image",
    "write_qr",
]

MAGIC = b"CCQ1"
QR_CAPACITY = 2953
"""Bytes in the largest QR code (version 40) at error correction L, in byte mode."""
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
MAX_INFLATED = 1_000_000  # a QR payload never inflates beyond this: refuse a zip bomb
_HEX = re.compile(r"(?:[0-9a-f]{2})+")


def _pack(value: Any) -> Any:
    if isinstance(value, str) and _HEX.fullmatch(value):
        return bytes.fromhex(value)
    if isinstance(value, dict):
        return {k: _pack(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_pack(v) for v in value]
    return value


def _unpack(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, dict):
        return {k: _unpack(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_unpack(v) for v in value]
    return value


def qr_payload(bundle: dict[str, Any]) -> bytes:
    """The bytes a QR code of ``bundle`` carries."""
    return MAGIC + zlib.compress(msgspec.msgpack.encode(_pack(bundle)), 9)


def decode_qr_payload(payload: bytes) -> dict[str, Any]:
    """The certificate bundle in a QR code's bytes; CredentialError if they are not one."""
    if not payload.startswith(MAGIC):
        raise CredentialError("not a citychain certificate QR code (no CCQ1 prefix)")
    try:
        inflater = zlib.decompressobj()
        raw = inflater.decompress(payload[len(MAGIC) :], MAX_INFLATED)
        if inflater.unconsumed_tail:
            raise CredentialError("the QR payload inflates beyond 1 MB")
        doc = msgspec.msgpack.decode(raw)
    except (zlib.error, msgspec.DecodeError) as exc:
        raise CredentialError(f"the QR payload does not decode: {exc}") from None
    if not isinstance(doc, dict) or not all(isinstance(k, str) for k in doc):
        raise CredentialError("the QR payload is not a certificate bundle")
    bundle: dict[str, Any] = _unpack(doc)
    return bundle


def write_qr(bundle: dict[str, Any], path: Path, scale: int = 4) -> int:
    """Write the QR code of ``bundle`` as an image (PNG or SVG by suffix); return its bytes.

    Raises CredentialError when the bundle does not fit one QR code.
    """
    payload = qr_payload(bundle)
    if len(payload) > QR_CAPACITY:
        raise CredentialError(
            f"the presentation needs {len(payload)} bytes, a QR code holds {QR_CAPACITY}: "
            "disclose fewer claims, or hand over the file"
        )
    code = segno.make(payload, error="l", mode="byte", boost_error=True, micro=False)
    try:
        code.save(str(path), scale=scale, border=4)
    except OSError as exc:
        raise CredentialError(f"cannot write {path}: {exc.strerror or exc}") from None
    return len(payload)


def read_qr_image(path: Path) -> bytes:
    """The bytes of the QR code in an image, read with zbar's ``zbarimg`` (Debian zbar-tools).

    A camera-less verifier (a desk, a test) reads the same image a phone would scan.
    """
    zbarimg = shutil.which("zbarimg")
    if zbarimg is None:
        raise CredentialError("reading a QR image needs zbarimg (Debian package zbar-tools)")
    try:
        done = subprocess.run(
            [zbarimg, "--quiet", "--raw", "-Sbinary", str(path)],
            capture_output=True,
            timeout=30,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise CredentialError(f"zbarimg failed on {path}: {exc}") from None
    if done.returncode != 0 or not done.stdout:
        raise CredentialError(f"no QR code found in {path}")
    # In binary mode (-Sbinary) zbarimg writes the symbol's bytes exactly, with no newline.
    return done.stdout
