"""The reads of ``citychain battery`` (docs/battery-api.md): the public passport, and the
restricted data (Annex XIII point 4, and the parts of points 2 and 3) read with a signed read
request. What the node serves off the ledger is checked against the ledger's commitment before
it is shown: a node must not be able to show other values than were committed."""

from __future__ import annotations

import argparse
import datetime
from pathlib import Path
from typing import Any

from citychain.cli.battery_holding import holding_secret
from citychain.cli.common import UsageError, client_for, fail, print_json, write_private_json
from citychain.cli.tx import signing_key
from citychain.client import Client
from citychain.client.battery import (
    ReadTarget,
    part_read_request,
    read_request,
)
from citychain.client.battery import read_request_file as build_read_request_file
from citychain.modules.battery import HEALTH, HealthValues, commit_part

__all__ = [
    "health",
    "history",
    "print_fields",
    "read_part",
    "show",
    "write_read_request",
]


def print_fields(doc: dict[str, Any], indent: str = "") -> None:
    for name, value in doc.items():
        if isinstance(value, dict):
            print(f"{indent}{name}")
            print_fields(value, indent + "  ")
        elif isinstance(value, list):
            print(f"{indent}{name:<30}{', '.join(map(str, value)) or '-'}")
        else:
            print(f"{indent}{name:<30}{'-' if value is None else value}")


def show(args: argparse.Namespace) -> int:
    with client_for(args) as client:
        view = client.battery_passport(args.battery_id)
    if args.json:
        print_json(view)
    else:
        print_fields(view)
    return 0


def _signed_reader(args: argparse.Namespace, client: Client) -> tuple[Any, ReadTarget]:
    """The reader's key and the node its requests are for: each request is signed for one
    node, one route and 60 seconds, and answered once."""
    key = signing_key(args)
    return key, ReadTarget.of(client)


def _history(client: Client, key: Any, target: ReadTarget, raw: bytes, secret: bytes) -> Any:
    """Every page of the battery's history: one read request a page."""
    entries: list[dict[str, Any]] = []
    after = None
    while True:
        header = read_request(key, target, raw, "history", holding=secret)
        page = client.battery_history(raw.hex(), header, after=after)
        entries.extend(page["history"])
        after = page["next"]
        if after is None:
            return entries


def history(args: argparse.Namespace) -> int:
    secret = holding_secret(args, args.battery_id, required=True)
    with client_for(args) as client:
        key, target = _signed_reader(args, client)
        raw = bytes.fromhex(args.battery_id)
        status = client.battery_status(
            args.battery_id, read_request(key, target, raw, "status", holding=secret)
        )
        history = _history(client, key, target, raw, secret)
    if args.json:
        print_json({**status, "history": history})
        return 0
    print_fields({k: v for k, v in status.items() if k != "height"})
    print("history")
    for change in history:
        party = change.get("party") or ""
        print(f"  {change['height']:>8}  {change['action']:<15} {change['status']:<15} {party}")
    return 0


def health(args: argparse.Namespace) -> int:
    secret = holding_secret(args, args.battery_id, required=False)
    with client_for(args) as client:
        key, target = _signed_reader(args, client)
        raw = bytes.fromhex(args.battery_id)
        health = client.battery_health(
            args.battery_id, read_request(key, target, raw, "health", holding=secret)
        )
        prediction = client.battery_prediction(
            args.battery_id, read_request(key, target, raw, "prediction", holding=secret)
        )
    latest = health["health"]
    if latest is not None and latest.get("opened"):
        # The values are off the ledger: check that they open the ledger's commitment, so a
        # node cannot show other numbers than the oracle committed to.
        values = {name: latest[name] for name in HealthValues.__struct_fields__}
        _check_opens(
            f"health values for {args.battery_id}", HEALTH, values, latest["salt"],
            latest["commitment"],
        )  # fmt: skip
    doc = {
        "id": args.battery_id,
        "health": latest,
        "updates": latest["updates"] if latest is not None else 0,
        "prediction": prediction["prediction"],
    }
    if args.json:
        print_json({**doc, "series": health["series"]})
    else:
        print_fields(doc)
    return 0


def _check_opens(
    what: str, part: str, fields: dict[str, Any], salt_hex: str, expected: str | None
) -> None:
    """Exit 1 unless the node's ``fields`` and salt open the ledger's commitment ``expected``:
    a node must not be able to show other values than were committed."""
    try:
        opened = commit_part(part, fields, bytes.fromhex(salt_hex)).hex()
    except ValueError as exc:
        fail(f"the node served malformed {what}: {exc}")
    if opened != expected:
        fail(f"the node's {what} do not open the ledger's commitment: do not trust them")


def read_part(args: argparse.Namespace) -> int:
    raw = bytes.fromhex(args.battery_id)
    secret = holding_secret(args, args.battery_id, required=False)
    with client_for(args) as client:
        key, target = _signed_reader(args, client)
        served = client.battery_part(
            args.battery_id,
            args.part,
            part_read_request(key, target, raw, args.part, holding=secret),
        )
        # The commitment comes from the ledger's own view, not from the answer being checked.
        if args.part == HEALTH:
            latest = client.battery_health(
                args.battery_id, read_request(key, target, raw, "health", holding=secret)
            )
            expected = latest["health"]["commitment"] if latest["health"] else None
        else:
            expected = client.battery_passport(args.battery_id)["commitments"][args.part]
    _check_opens(
        f"{args.part} of {args.battery_id}", args.part, served["fields"], served["salt"], expected
    )
    doc = {
        "id": args.battery_id,
        "part": args.part,
        "verified": True,
        "commitment": expected,
        "fields": served["fields"],
    }
    if args.json:
        print_json({**doc, "salt": served["salt"]})
    else:
        print(f"{args.part} of {args.battery_id}: opens the ledger's commitment {expected}")
        print_fields(served["fields"], "  ")
    return 0


def write_read_request(args: argparse.Namespace) -> int:
    if args.fleet == (args.battery_id is not None):
        raise UsageError("give a battery ID or --fleet (one of them)")
    out = Path(args.out)
    if out.exists():
        raise UsageError(f"{out} exists; give another --out")
    if not out.absolute().parent.is_dir():
        raise UsageError(f"the folder of {out} does not exist")
    with client_for(args) as client:
        key, target = _signed_reader(args, client)
    battery_id = None if args.fleet else bytes.fromhex(args.battery_id)
    secret = b"" if args.fleet else holding_secret(args, args.battery_id, required=False)
    doc = build_read_request_file(key, target, battery_id, holding=secret)
    write_private_json(out, doc)
    expires = datetime.datetime.fromtimestamp(doc["expires_at_ms"] / 1000, datetime.UTC)
    if args.json:
        print_json({**doc, "file": str(out)})
    else:
        print(f"wrote {out}: valid until {expires.isoformat(timespec='seconds')}")
    return 0
