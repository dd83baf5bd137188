"""A certificate bundle as QR codes a phone shows (docs/modules/registry.md §8).

The bundle is packed and compressed once::

    stream = zlib(msgpack(bundle'))

where ``bundle'`` is the certificate bundle with every hex string (lowercase: citychain's
proofs; uppercase: CometBFT's hashes) and every canonical base64 string (CometBFT's keys and
signatures) turned into the bytes it spells, tagged so that decoding gives back exactly the
same strings. The stream is cut into parts of at most `QR_PART_BYTES`, one QR code each::

    part = b"CCQ2" || index (1 byte, from 0) || count (1 byte) || sha256(stream)[:8] || chunk

A small registry's age-and-birthplace presentation fits one code; a city-sized one, whose
record proofs cross more levels of the 16-ary state tree, takes two or three, which a phone
shows one after the other. The verifier reads them in any order, checks that they are the
parts of one stream, and runs the same `verify_certificate` as on a file.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import shutil
import subprocess
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import msgspec
import segno

from citychain.credentials.schema import CredentialError
from citychain.credentials.sdjwt import MAX_JSON_DEPTH

__all__ = [
    "MAGIC",
    "PNG_MAGIC",
    "QR_CAPACITY",
    "QR_PART_BYTES",
    "decode_qr_parts",
    "qr_parts",
    "qr_payload",
    "read_qr_image",
    "write_qr",
]

MAGIC = b"CCQ2"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
QR_CAPACITY = 2953
"""Bytes in the largest QR code (version 40) at error correction L, in byte mode."""
QR_PART_BYTES = 1273
"""Bytes in one part's QR code: exactly what version 25 holds at level L. Smaller, coarser
codes than the version-40 maximum, so that a phone camera at arm's length can resolve them."""
HEADER_BYTES = len(MAGIC) + 2 + 8
MAX_PARTS = 16
MAX_INFLATED = 1_000_000  # a QR payload never inflates beyond this: refuse a zip bomb
MAX_DEPTH = MAX_JSON_DEPTH  # nor nests deeper than the JSON it stands for may
_LOWER_HEX = re.compile(r"(?:[0-9a-f]{2})+")
_UPPER_HEX = re.compile(r"(?:[0-9A-F]{2})+")
_BASE64 = re.compile(r"(?:[A-Za-z0-9+/]{4}){4,}(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?")
_EXT_UPPER_HEX, _EXT_BASE64 = 1, 2


def _pack(value: Any) -> Any:
    if isinstance(value, str):
        if _LOWER_HEX.fullmatch(value):
            return bytes.fromhex(value)
        if _UPPER_HEX.fullmatch(value):
            return msgspec.msgpack.Ext(_EXT_UPPER_HEX, bytes.fromhex(value))
        if _BASE64.fullmatch(value):
            raw = base64.b64decode(value)
            if base64.b64encode(raw).decode() == value:
                return msgspec.msgpack.Ext(_EXT_BASE64, raw)
        return value
    if isinstance(value, dict):
        return {k: _pack(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_pack(v) for v in value]
    return value


def _depth(value: Any) -> int:
    """How deep lists and maps nest in a decoded payload, without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children = (
            item.values() if isinstance(item, dict) else item if isinstance(item, list) else ()
        )
        if children:
            deepest = max(deepest, depth)
            stack.extend((child, depth + 1) for child in children)
    return deepest


def _unpack(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, msgspec.msgpack.Ext):
        data = bytes(value.data)
        if value.code == _EXT_UPPER_HEX:
            return data.hex().upper()
        if value.code == _EXT_BASE64:
            return base64.b64encode(data).decode()
        raise CredentialError(f"the QR payload has an unknown tag {value.code}")
    if isinstance(value, dict):
        return {k: _unpack(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_unpack(v) for v in value]
    return value


def qr_payload(bundle: dict[str, Any]) -> bytes:
    """The compressed stream of ``bundle``: the bytes its QR codes carry between them."""
    return zlib.compress(msgspec.msgpack.encode(_pack(bundle)), 9)


def qr_parts(bundle: dict[str, Any], part_bytes: int = QR_PART_BYTES) -> list[bytes]:
    """The payloads of ``bundle``'s QR codes, each at most ``part_bytes`` long."""
    if not HEADER_BYTES < part_bytes <= QR_CAPACITY:
        raise CredentialError(f"a part holds {HEADER_BYTES + 1}..{QR_CAPACITY} bytes")
    stream = qr_payload(bundle)
    size = part_bytes - HEADER_BYTES
    chunks = [stream[i : i + size] for i in range(0, len(stream), size)]
    if len(chunks) > MAX_PARTS:
        raise CredentialError(
            f"the presentation needs {len(chunks)} QR codes, at most {MAX_PARTS}: "
            "hand over the file instead"
        )
    digest = hashlib.sha256(stream).digest()[:8]
    return [MAGIC + bytes([i, len(chunks)]) + digest + c for i, c in enumerate(chunks)]


def _stream(parts: Sequence[bytes]) -> bytes:
    """The compressed stream the parts carry between them, checked against their checksum."""
    pieces: dict[int, bytes] = {}
    expected: tuple[int, bytes] | None = None
    for payload in parts:
        if not payload.startswith(MAGIC) or len(payload) < HEADER_BYTES:
            raise CredentialError("not a citychain certificate QR code (no CCQ2 header)")
        index, count, digest = payload[4], payload[5], payload[6:HEADER_BYTES]
        if expected is None:
            expected = (count, digest)
        elif expected != (count, digest):
            raise CredentialError("these QR codes are parts of different presentations")
        if count == 0 or index >= count:
            raise CredentialError(f"a QR code says it is part {index + 1} of {count}")
        if index in pieces:
            raise CredentialError(f"part {index + 1} of {count} was given twice")
        pieces[index] = payload[HEADER_BYTES:]
    assert expected is not None
    count, digest = expected
    missing = [str(i + 1) for i in range(count) if i not in pieces]
    if missing:
        raise CredentialError(f"missing QR code part(s) {', '.join(missing)} of {count}")
    stream = b"".join(pieces[i] for i in range(count))
    if hashlib.sha256(stream).digest()[:8] != digest:
        raise CredentialError("the QR codes' content does not match their checksum")
    return stream


def decode_qr_parts(parts: Sequence[bytes]) -> dict[str, Any]:
    """The certificate bundle in the payloads of its QR codes (any order); CredentialError
    saying what is wrong when they are not the complete parts of one bundle."""
    if not parts:
        raise CredentialError("no QR code given")
    stream = _stream(parts)
    try:
        inflater = zlib.decompressobj()
        raw = inflater.decompress(stream, MAX_INFLATED)
        if inflater.unconsumed_tail:
            raise CredentialError("the QR payload inflates beyond 1 MB")
        doc = msgspec.msgpack.decode(raw)
    except (zlib.error, msgspec.DecodeError) as exc:
        raise CredentialError(f"the QR payload does not decode: {exc}") from None
    except RecursionError:
        raise CredentialError("the QR payload is nested too deeply") from None
    if not isinstance(doc, dict) or not all(isinstance(k, str) for k in doc):
        raise CredentialError("the QR payload is not a certificate bundle")
    if _depth(doc) > MAX_DEPTH:
        raise CredentialError(f"the QR payload is nested deeper than {MAX_DEPTH}")
    try:
        bundle: dict[str, Any] = _unpack(doc)
    except (ValueError, binascii.Error) as exc:
        raise CredentialError(f"the QR payload does not decode: {exc}") from None
    return bundle


def part_paths(path: Path, count: int) -> list[Path]:
    """Where `write_qr` puts ``count`` images for ``path``: itself, or NAME-iofN.SUFFIX."""
    if count == 1:
        return [path]
    return [path.with_name(f"{path.stem}-{i}of{count}{path.suffix}") for i in range(1, count + 1)]


def write_qr(bundle: dict[str, Any], path: Path, scale: int = 4) -> list[Path]:
    """Write ``bundle`` as QR code images (PNG or SVG by suffix); return their paths."""
    parts = qr_parts(bundle)
    paths = part_paths(path, len(parts))
    for payload, target in zip(parts, paths, strict=True):
        code = segno.make(payload, error="l", mode="byte", boost_error=True, micro=False)
        try:
            code.save(str(target), scale=scale, border=4)
        except OSError as exc:
            raise CredentialError(f"cannot write {target}: {exc.strerror or exc}") from None
    return paths


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
