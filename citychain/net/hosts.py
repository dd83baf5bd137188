"""``net init --hosts FILE``: one member per entry, with the host the other members reach it at.

Two spellings (docs/network.md):

* lines ``HOST[:P2P_PORT] [NAME]`` (``#`` starts a comment; NAME defaults to the next member
  organisation, P2P_PORT to 26656);
* a JSON list of objects ``{"host", "name", "p2p_port", "roles", "rpc_listen", "api_listen",
  "password_file"}`` of which only ``host`` is required. A relative ``password_file`` is read
  from the hosts file's folder.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from citychain.net.layout import member_name
from citychain.net.member import (
    DEFAULT_P2P_PORT,
    LOOPBACK,
    MemberPlan,
    NetInputError,
    check_host,
    check_port,
    check_roles,
    read_text_file,
)

__all__ = ["HostEntry", "parse_hosts", "read_hosts_file"]

_FIELDS = {"host", "name", "p2p_port", "roles", "rpc_listen", "api_listen", "password_file"}


@dataclass(frozen=True)
class HostEntry:
    plan: MemberPlan
    password_file: Path | None = None


def _split_host_port(text: str) -> tuple[str, int]:
    """``HOST``, ``HOST:PORT``, ``[IPV6]`` or ``[IPV6]:PORT``."""
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port = rest.removeprefix(":") if rest.startswith(":") else ""
    elif text.count(":") == 1:
        host, _, port = text.partition(":")
    else:
        host, port = text, ""
    if port and not port.isdigit():
        raise NetInputError(f"{text!r}: the port must be a number")
    return check_host(host), check_port(int(port)) if port else DEFAULT_P2P_PORT


def _from_line(line: str, index: int) -> HostEntry:
    address, _, name = line.partition(" ")
    host, port = _split_host_port(address)
    name = " ".join(name.split()) or member_name(index)
    return HostEntry(MemberPlan(name=name, host=host, p2p_port=port))


def _from_object(entry: Any, index: int, base: Path) -> HostEntry:
    if not isinstance(entry, dict) or "host" not in entry:
        raise NetInputError("each entry must be an object with a host")
    unknown = sorted(set(entry) - _FIELDS)
    if unknown:
        raise NetInputError(f"unknown field {unknown[0]!r} (fields: {', '.join(sorted(_FIELDS))})")
    password_file = entry.get("password_file")
    if password_file is not None and not isinstance(password_file, str):
        raise NetInputError("password_file must be a path")
    plan = MemberPlan(
        name=entry.get("name", member_name(index)),
        host=check_host(entry["host"]),
        p2p_port=check_port(entry.get("p2p_port", DEFAULT_P2P_PORT)),
        roles=check_roles(entry.get("roles", [])),
        rpc_listen=entry.get("rpc_listen", LOOPBACK),
        api_listen=entry.get("api_listen", LOOPBACK),
    )
    return HostEntry(plan, None if password_file is None else base / password_file)


def parse_hosts(text: str, base: Path) -> list[HostEntry]:
    """The members of a hosts file's ``text``; ``base``: its folder."""
    entries: list[HostEntry] = []
    if text.lstrip().startswith("["):
        try:
            doc = json.loads(text)
        except ValueError as exc:
            raise NetInputError(f"not JSON: {exc}") from None
        for i, entry in enumerate(doc):
            try:
                entries.append(_from_object(entry, i, base))
            except NetInputError as exc:
                raise NetInputError(f"entry {i}: {exc}") from None
    else:
        lines = [line.split("#", 1)[0].strip() for line in text.splitlines()]
        for number, line in enumerate(lines, start=1):
            if not line:
                continue
            try:
                entries.append(_from_line(line, len(entries)))
            except NetInputError as exc:
                raise NetInputError(f"line {number}: {exc}") from None
    if not entries:
        raise NetInputError("no members in it")
    return entries


def read_hosts_file(path: Path) -> list[HostEntry]:
    text = read_text_file(path, "hosts file")
    try:
        return parse_hosts(text, path.parent)
    except NetInputError as exc:
        raise NetInputError(f"hosts file {path}: {exc}") from None
