"""The reads of ``citychain battery`` (docs/battery-api.md): the public passport, and the
restricted data (Annex XIII point 4, and the parts of points 2 and 3) read with a signed read
request. What the node serves off the ledger is checked against the ledger's commitment before
it is shown: a node must not be able to show other values than were committed."""

from __future__ import annotations

import argparse
import datetime
from pathlib import Path
from typing import Any

from citychain.cli.common import UsageError, client_for, fail, print_json, write_private_json
from citychain.cli.tx import signing_key
from citychain.client import Client
from citychain.client.battery import fleet_read_request, read_request
from citychain.client.battery import read_request_file as build_read_request_file
from citychain.modules.battery import HEALTH, MAX_PAGE, HealthValues, commit_part

__all__ = [
    "fleet",
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


def _signed_reader(args: argparse.Namespace, client: Client) -> tuple[Any, str]:
    key = signing_key(args)
    return key, str(client.status()["chain_id"])


def history(args: argparse.Namespace) -> int:
    with client_for(args) as client:
        key, chain_id = _signed_reader(args, client)
        header = read_request(key, chain_id, bytes.fromhex(args.battery_id))
        status = client.battery_status(args.battery_id, header)
        history = client.battery_history(args.battery_id, header)["history"]
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
    with client_for(args) as client:
        key, chain_id = _signed_reader(args, client)
        header = read_request(key, chain_id, bytes.fromhex(args.battery_id))
        health = client.battery_health(args.battery_id, header)
        prediction = client.battery_prediction(args.battery_id, header)
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
    with client_for(args) as client:
        key, chain_id = _signed_reader(args, client)
        served = client.battery_part(
            args.battery_id, args.part, read_request(key, chain_id, raw, part=args.part)
        )
        # The commitment comes from the ledger's own view, not from the answer being checked.
        if args.part == HEALTH:
            latest = client.battery_health(args.battery_id, read_request(key, chain_id, raw))
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


def fleet(args: argparse.Namespace) -> int:
    with client_for(args) as client:
        key, chain_id = _signed_reader(args, client)
        batteries: list[dict[str, Any]] = []
        after = None
        while len(batteries) < args.limit:
            page = client.battery_fleet(
                fleet_read_request(key, chain_id),
                limit=min(MAX_PAGE, args.limit - len(batteries)),
                after=after,
            )
            batteries.extend(page["batteries"])
            after = page["next"]
            if after is None:
                break
    if args.json:
        print_json({"batteries": batteries, "horizon_days": page["horizon_days"]})
        return 0
    if not batteries:
        print("no battery with a prediction that this key may read")
        return 0
    print(f"{'predicted end':<14}{'days':>6}  {'':<4}{'status':<16}identifier")
    for b in batteries:
        days = "-" if b["days_left"] is None else str(b["days_left"])
        due = "DUE" if b["due"] else ""
        print(f"{b['eol_date']:<14}{days:>6}  {due:<4}{b['status']:<16}{b['identifier']}")
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
        key, chain_id = _signed_reader(args, client)
    battery_id = None if args.fleet else bytes.fromhex(args.battery_id)
    doc = build_read_request_file(key, chain_id, battery_id)
    write_private_json(out, doc)
    expires = datetime.datetime.fromtimestamp(doc["expires_at_ms"] / 1000, datetime.UTC)
    if args.json:
        print_json({**doc, "file": str(out)})
    else:
        print(f"wrote {out}: valid until {expires.isoformat(timespec='seconds')}")
    return 0
