"""HTTPS for the node's API: the server's TLS context from a certificate chain and its key
(``citychain start --tls-cert FILE --tls-key FILE``, or ``api_tls_cert``/``api_tls_key``).

The files are read when the node starts, so a wrong path, a key that does not match the
certificate or an unreadable file stops the start with a clear message instead of failing
the first handshake. TLS 1.2 at least; the ciphers are OpenSSL's defaults for a server.
"""

from __future__ import annotations

import ssl
from pathlib import Path

from citychain.node.settings import SettingsError

__all__ = ["server_context"]


def server_context(cert: Path, key: Path) -> ssl.SSLContext:
    """A server context serving ``cert`` (PEM, the chain after the leaf) with ``key`` (PEM)."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(cert, key)
    except FileNotFoundError as exc:
        raise SettingsError(f"TLS: no such file {exc.filename}") from None
    except (OSError, ssl.SSLError) as exc:
        raise SettingsError(f"TLS: cannot use certificate {cert} with key {key}: {exc}") from None
    return context
