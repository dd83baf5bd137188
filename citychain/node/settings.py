"""The API's limits and its public face, from the home's ``config.json`` (docs/operations.md).

Every key is optional; the defaults serve a node on loopback for tests and the demo without
throttling them, and bound what one client can make the node do:

| key | default | what |
| --- | --- | --- |
| ``api_max_body_bytes`` | 4 MiB | largest request body (413 beyond, counted as it arrives) |
| ``api_body_timeout_s`` | 30 | longest wait for the next piece of a request body (408) |
| ``api_rate_per_second`` | 100 | requests a second per client address, sustained (429) |
| ``api_rate_burst`` | 200 | requests a client address may make at once |
| ``api_rate_trusted`` | loopback | addresses or networks exempt from the rate limit |
| ``api_limit_concurrency`` | 1024 | connections and requests at once (uvicorn answers 503) |
| ``api_max_header_bytes`` | 16 KiB | largest request line and headers (h11) |
| ``api_keep_alive_s`` | 15 | idle keep-alive connections are closed after this |
| ``api_forwarded_allow_ips`` | none | proxies whose ``X-Forwarded-For`` names the client |
| ``api_ws_max_connections`` | 512 | ``/ws`` connections at once |
| ``api_ws_max_per_client`` | 16 | ``/ws`` connections at once from one client address |
| ``api_ws_origins`` | none | browser origins allowed on ``/ws`` besides the node's own |
| ``api_ws_ping_interval_s`` | 20 | ping each ``/ws`` client this often ... |
| ``api_ws_ping_timeout_s`` | 20 | ... and drop it if no pong comes back within this |
| ``api_tls_cert``, ``api_tls_key`` | none | serve HTTPS with this certificate chain and key |
| ``api_tls_ca`` | none | what local clients trust for the node's certificate |

Paths are relative to the home. Everything here is this node's policy, never consensus.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

__all__ = ["ApiSettings", "IpNetwork", "SettingsError", "parse_networks"]

MIB = 1024 * 1024
KIB = 1024
DEFAULT_MAX_BODY = 4 * MIB
# A block holds 4 MiB of transactions (the solo engine's max_block_bytes); a body of hex carries
# half its size in transactions, so a full block takes two requests at the default.
LOOPBACK = ("127.0.0.0/8", "::1/128")

IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class SettingsError(ValueError):
    """A config key of the API with a value the node cannot use."""


@dataclass(frozen=True)
class ApiSettings:
    max_body_bytes: int = DEFAULT_MAX_BODY
    body_timeout_s: float = 30.0
    rate_per_second: float = 100.0
    rate_burst: int = 200
    rate_trusted: tuple[IpNetwork, ...] = field(
        default_factory=lambda: parse_networks(LOOPBACK, "default")
    )
    limit_concurrency: int = 1024
    max_header_bytes: int = 16 * KIB
    keep_alive_s: int = 15
    forwarded_allow_ips: tuple[str, ...] = ()
    ws_max_connections: int = 512
    ws_max_per_client: int = 16
    ws_origins: tuple[str, ...] = ()
    ws_ping_interval_s: float = 20.0
    ws_ping_timeout_s: float = 20.0
    tls_cert: Path | None = None
    tls_key: Path | None = None
    tls_ca: Path | None = None

    @property
    def tls(self) -> bool:
        return self.tls_cert is not None

    @property
    def scheme(self) -> str:
        return "https" if self.tls else "http"

    @classmethod
    def from_config(
        cls,
        config: Mapping[str, Any],
        base: Path,
        *,
        tls_cert: Path | None = None,
        tls_key: Path | None = None,
    ) -> ApiSettings:
        """The settings a home's config states (paths relative to ``base``); ``tls_cert`` and
        ``tls_key`` (the command line's) override the config's. Raises SettingsError."""
        read = _Reader(config)
        default = cls()
        settings = cls(
            max_body_bytes=read.integer("api_max_body_bytes", default.max_body_bytes, 1),
            body_timeout_s=read.number("api_body_timeout_s", default.body_timeout_s),
            rate_per_second=read.number("api_rate_per_second", default.rate_per_second),
            rate_burst=read.integer("api_rate_burst", default.rate_burst, 1),
            rate_trusted=parse_networks(
                read.strings("api_rate_trusted", LOOPBACK), "api_rate_trusted"
            ),
            limit_concurrency=read.integer("api_limit_concurrency", default.limit_concurrency, 1),
            max_header_bytes=read.integer("api_max_header_bytes", default.max_header_bytes, KIB),
            keep_alive_s=read.integer("api_keep_alive_s", default.keep_alive_s, 1),
            forwarded_allow_ips=read.strings(
                "api_forwarded_allow_ips", default.forwarded_allow_ips
            ),
            ws_max_connections=read.integer(
                "api_ws_max_connections", default.ws_max_connections, 0
            ),
            ws_max_per_client=read.integer("api_ws_max_per_client", default.ws_max_per_client, 0),
            ws_origins=read.strings("api_ws_origins", default.ws_origins),
            ws_ping_interval_s=read.number("api_ws_ping_interval_s", default.ws_ping_interval_s),
            ws_ping_timeout_s=read.number("api_ws_ping_timeout_s", default.ws_ping_timeout_s),
            tls_cert=read.path("api_tls_cert", base),
            tls_key=read.path("api_tls_key", base),
            tls_ca=read.path("api_tls_ca", base),
        )
        if tls_cert is not None or tls_key is not None:
            settings = replace(settings, tls_cert=tls_cert, tls_key=tls_key)
        if (settings.tls_cert is None) != (settings.tls_key is None):
            raise SettingsError("TLS needs a certificate and a key (api_tls_cert, api_tls_key)")
        return settings


def parse_networks(values: Sequence[str], key: str) -> tuple[IpNetwork, ...]:
    """Addresses (``10.0.0.7``) and networks (``10.0.0.0/8``) as networks."""
    try:
        return tuple(ipaddress.ip_network(value, strict=False) for value in values)
    except ValueError as exc:
        raise SettingsError(f"{key}: {exc}") from None


class _Reader:
    """Typed reads of config keys, each refused with its name when it has the wrong type."""

    def __init__(self, config: Mapping[str, Any]) -> None:
        self.config = config

    def integer(self, key: str, default: int, minimum: int) -> int:
        value = self.config.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise SettingsError(f"{key} must be an integer >= {minimum}, got {value!r}")
        return value

    def number(self, key: str, default: float) -> float:
        value = self.config.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
            raise SettingsError(f"{key} must be a positive number, got {value!r}")
        return float(value)

    def strings(self, key: str, default: Sequence[str]) -> tuple[str, ...]:
        value = self.config.get(key, list(default))
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise SettingsError(f"{key} must be a list of strings, got {value!r}")
        return tuple(value)

    def path(self, key: str, base: Path) -> Path | None:
        value = self.config.get(key)
        if value is None:
            return None
        if not isinstance(value, str) or not value:
            raise SettingsError(f"{key} must be a file path, got {value!r}")
        return base / value
