"""Holding files of ``citychain battery`` (docs/battery-api.md §4): the secret that names a
battery's holding on the ledger, kept in ``HOME/battery-holdings/<battery id>.json`` (mode 0600).

The manufacturer's ``register`` writes one; the manufacturer hands a copy to the owner with the
battery, and each owner to the next (``holding-import`` keeps a received one after checking it
against the ledger's commitment). Writes by the owner (transfer, lease, status) and reads of
the battery's status and history need it; ``fleet`` joins the ledger's list of the holdings a
key owns or leases with the holding files it has, to name each battery.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from citychain.cli.common import (
    UsageError,
    client_for,
    fail,
    home_of,
    print_json,
    read_json_object,
    require_home,
    write_private_json,
)
from citychain.cli.tx import signing_key
from citychain.client import Client
from citychain.client.battery import (
    ReadTarget,
    fleet_read_request,
    holding_document,
    parse_holding_document,
    read_request,
)
from citychain.client.errors import ApiError
from citychain.home import Home
from citychain.modules.battery import MAX_PAGE, holding_commitment, holding_id_of

__all__ = [
    "HOLDINGS_DIR",
    "fleet",
    "holding_secret",
    "import_holding",
    "save_holding",
]

HOLDINGS_DIR = "battery-holdings"  # HOME/battery-holdings/<id>.json: holding secrets
MAX_HOLDING_BYTES = 4_000


def holding_path(home: Home, battery_id_hex: str) -> Path:
    return home.path / HOLDINGS_DIR / f"{battery_id_hex}.json"


def save_holding(home: Home, battery_id: bytes, identifier: str, secret: bytes) -> Path:
    """Keep a holding file in the home (never overwriting one); its path."""
    path = holding_path(home, battery_id.hex())
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    write_private_json(path, holding_document(battery_id, identifier, secret))
    return path


def _read_holding(name: str, battery_id_hex: str | None) -> tuple[bytes, bytes, str]:
    doc = read_json_object(name, MAX_HOLDING_BYTES, "a holding file from `battery register`")
    try:
        battery_id, secret = parse_holding_document(doc)
    except ValueError as exc:
        raise UsageError(f"{name}: {exc}") from None
    if battery_id_hex is not None and battery_id.hex() != battery_id_hex:
        raise UsageError(f"{name} is the holding file of battery {battery_id.hex()}, not of ID")
    return battery_id, secret, str(doc.get("identifier", ""))


def holding_secret(args: argparse.Namespace, battery_id_hex: str, *, required: bool) -> bytes:
    """The battery's holding secret from ``--holding FILE``, else from the home's holding
    file; b"" when there is none and it is not ``required``, else exit 2 saying where to get
    it."""
    name = getattr(args, "holding", None)
    if name is None:
        home = home_of(args)
        path = holding_path(home, battery_id_hex) if home is not None else None
        if path is None or not path.exists():
            if not required:
                return b""
            raise UsageError(
                f"no holding file for battery {battery_id_hex}: give --holding FILE (the file "
                "the manufacturer or the previous owner handed over) or keep it with "
                "`citychain battery holding-import FILE`"
            )
        name = str(path)
    return _read_holding(name, battery_id_hex)[1]


def holding_id(args: argparse.Namespace, battery_id_hex: str) -> bytes:
    """The holding id a write names (from the holding file)."""
    secret = holding_secret(args, battery_id_hex, required=True)
    return holding_id_of(bytes.fromhex(battery_id_hex), secret)


def import_holding(args: argparse.Namespace) -> int:
    """Check a received holding file against the battery's public record and keep it."""
    battery_id, secret, identifier = _read_holding(args.file, None)
    with client_for(args) as client:
        try:
            passport = client.battery_passport(battery_id.hex())
        except ApiError as exc:
            fail(f"battery {battery_id.hex()}: {exc}")
    if passport["commitments"]["holding"] != holding_commitment(battery_id, secret).hex():
        fail(f"{args.file} does not open the holding commitment of battery {battery_id.hex()}")
    home = require_home(args)
    path = holding_path(home, battery_id.hex())
    if path.exists():
        raise UsageError(f"{path} exists: this home keeps this battery's holding already")
    save_holding(home, battery_id, identifier or passport["identifier"], secret)
    out = {
        "battery_id": battery_id.hex(),
        "identifier": passport["identifier"],
        "holding_id": holding_id_of(battery_id, secret).hex(),
        "file": str(path),
    }
    if args.json:
        print_json(out)
    else:
        print(f"kept the holding of {out['identifier']} ({out['holding_id']}) in {path}")
    return 0


def _local_holdings(args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    """The home's holding files by holding id (hex)."""
    home = home_of(args)
    folder = home.path / HOLDINGS_DIR if home is not None else None
    found: dict[str, dict[str, Any]] = {}
    if folder is None or not folder.is_dir():
        return found
    for path in sorted(folder.glob("*.json")):
        try:
            doc = json.loads(path.read_text())
            battery_id, secret = parse_holding_document(doc)
        except (OSError, ValueError):
            continue
        found[holding_id_of(battery_id, secret).hex()] = {
            "battery_id": battery_id,
            "identifier": str(doc.get("identifier", "")),
            "secret": secret,
        }
    return found


def _fleet_pages(client: Client, key: Any, target: ReadTarget, limit: int) -> list[dict[str, Any]]:
    holdings: list[dict[str, Any]] = []
    after = None
    while len(holdings) < limit:
        page = client.battery_fleet(
            fleet_read_request(key, target),  # one request a page: each is answered once
            limit=min(MAX_PAGE, limit - len(holdings)),
            after=after,
        )
        holdings.extend(page["holdings"])
        after = page["next"]
        if after is None:
            break
    return holdings


def _with_battery(
    client: Client, key: Any, target: ReadTarget, entry: dict[str, Any], known: dict[str, Any]
) -> dict[str, Any]:
    """A fleet entry with the battery its holding file names and its latest prediction."""
    battery_id = known["battery_id"]
    header = read_request(key, target, battery_id, "prediction", holding=known["secret"])
    prediction = client.battery_prediction(battery_id.hex(), header)["prediction"]
    return {
        **entry,
        "battery_id": battery_id.hex(),
        "identifier": known["identifier"],
        "prediction": prediction,
    }


def _order(entry: dict[str, Any]) -> tuple[int, int]:
    prediction = entry.get("prediction")
    return (0, prediction["eol_day"]) if prediction else (1, 0)


def fleet(args: argparse.Namespace) -> int:
    """The holdings KEY owns or leases (the ledger's indexes), each joined with the home's
    holding file where there is one: battery, identifier, predicted end of life."""
    known = _local_holdings(args)
    with client_for(args) as client:
        key = signing_key(args)
        target = ReadTarget.of(client)
        entries = [
            _with_battery(client, key, target, entry, known[entry["holding_id"]])
            if entry["holding_id"] in known
            else entry
            for entry in _fleet_pages(client, key, target, args.limit)
        ]
    entries.sort(key=_order)
    if args.json:
        print_json({"holdings": entries})
        return 0
    if not entries:
        print("this key owns and leases no battery")
        return 0
    print(f"{'role':<8}{'status':<16}{'predicted end':<14}{'days':>6}  {'':<4}battery")
    for e in entries:
        prediction = e.get("prediction") or {}
        due = "DUE" if prediction.get("due") else ""
        days = prediction.get("days_left", "-")
        name = e.get("identifier") or f"holding {e['holding_id']} (no holding file here)"
        date = prediction.get("eol_date", "-")
        print(f"{e['role']:<8}{e['status']:<16}{date:<14}{days!s:>6}  {due:<4}{name}")
    return 0
