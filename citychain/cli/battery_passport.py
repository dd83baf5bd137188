"""``citychain battery ...``: the battery passport on the ledger (docs/battery-api.md).

```
citychain battery register --data PASSPORT.json --from KEY [--owner ADDRESS]   (manufacturer)
    [--lot-curves CURVES.csv --lot-cycles CYCLES.csv --lot-cell ID [--lot-nominal-ah X]]
citychain battery open-holding ID --from KEY [--owner ADDRESS]  (manufacturer, if register
                                                        could not open it)
citychain battery holding-import FILE                   (keep a holding file handed over)
citychain battery show ID [--json]                              (anyone: the public passport)
citychain battery history ID --from KEY [--json]     (owner, lessee, manufacturer: point 4)
citychain battery health ID --from KEY [--json]      (likewise: health and prediction)
citychain battery part ID PART --from KEY [--json]   (a restricted part in clear, checked)
citychain battery fleet --from KEY [--limit N] [--json]    (the batteries KEY owns, leases)
citychain battery transfer ID --to ADDRESS --from KEY                            (owner)
citychain battery lease ID --to ADDRESS [--until HEIGHT] | --end --from KEY       (owner)
citychain battery status ID --status S --from KEY   (owner; remanufactured: a maker holding it)
citychain battery read-request ID|--fleet --from KEY --out FILE    (for the web pages)
```

ID is the battery's 64-hex ledger id or the identifier printed on it. These sub-commands join
the ``citychain battery`` command that citychain/cli/battery_predict.py registers (``predict``);
register them after it. Restricted reads sign a read request with --from's key
(citychain/client/battery.py); writes are transactions like every module's, and a refused one
prints its code, codespace and log (exit 1). Who holds a battery is on the ledger under its
holding id, which only the battery's holding file gives (``--holding FILE``, default
``HOME/battery-holdings/ID.json``: citychain/cli/battery_holding.py).
"""

from __future__ import annotations

import argparse
import datetime
import re
import sys
from typing import Any

import msgspec

from citychain.cli import battery_holding as holdings
from citychain.cli import battery_passport_reads as reads
from citychain.cli.battery_lot_curves import add_lot_curve_options, with_lot_curves
from citychain.cli.common import (
    UsageError,
    client_for,
    positive,
    print_json,
    read_json_object,
    require_home,
    resolve_address,
    write_private_json,
)
from citychain.cli.tx import signing_key, signing_options
from citychain.client import Client, Wallet
from citychain.client.battery import battery_id_from, new_holding_secret
from citychain.client.errors import ApiError
from citychain.crypto.address import address_to_bytes
from citychain.modules.battery import (
    MAX_PAGE,
    RESTRICTED_PARTS,
    STATUS_NAMES,
    MsgLease,
    MsgOpenHolding,
    MsgRegisterBattery,
    MsgSetStatus,
    MsgTransfer,
    Passport,
    battery_id_of,
    holding_commitment,
    holding_id_of,
)
from citychain.passport.restricted import seal_part

__all__ = ["PASSPORTS_DIR", "register"]

PASSPORTS_DIR = "battery-passports"  # HOME/battery-passports/<id>.json: the maker's parts
MAX_DATA_BYTES = 64_000
DATA_KEYS = {"passport", "owner", "bms_device_id", "composition", "test_reports"}
_EPOCH = datetime.date(1970, 1, 1)
ID_HEX_CHARS = 64  # a battery id in hex; a longer ID argument is neither id nor identifier
DEVICE_ID_BYTES = 32


def _battery_command(commands: Any) -> Any:
    """The sub-command list of ``citychain battery`` (created by cli_battery.register); argparse
    has no public accessor, so read the one action that add_subparsers created."""
    parser = commands.choices.get("battery")
    if parser is None:
        parser = commands.add_parser("battery", help="battery passports and analytics")
        return parser.add_subparsers(dest="battery_command", required=True, metavar="WHAT")
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return action
    raise RuntimeError("'citychain battery' has no sub-commands")


def _battery_id(text: str) -> str:
    """ID argument: 64 hex characters, or an identifier as printed (hashed to the id)."""
    if not 1 <= len(text) <= ID_HEX_CHARS:
        raise argparse.ArgumentTypeError(f"expected a battery id or identifier, got {text!r}")
    return battery_id_from(text).hex()


def register(commands: Any, parents: dict[str, argparse.ArgumentParser]) -> None:
    """Add the passport commands to ``citychain battery``; call after cli_battery.register."""
    sub = _battery_command(commands)
    node = [parents["home"], parents["node"], parents["json"]]
    signed = [_tx_parent(), *node, parents["password"]]
    reader = [_reader_parent(), *node, parents["password"]]
    # in this order: the order of `citychain battery --help`
    _add_register(sub, signed)
    p = sub.add_parser(
        "holding-import",
        parents=node,
        help="keep a battery's holding file handed over with it (checked against the ledger)",
    )
    p.add_argument("file", metavar="FILE", help="the holding file")
    p.set_defaults(func=holdings.import_holding)
    p = sub.add_parser(
        "open-holding",
        parents=[_holding_parent(), *signed],
        help="open a registered battery's holding, if register could not (manufacturer)",
        description="Open the holding of a battery registered from this home (its holding "
        "file): the first owner and BMS device. register does it; this is for when its second "
        "transaction failed.",
    )
    p.add_argument("battery_id", metavar="ID", type=_battery_id, help="id or identifier")
    p.add_argument("--owner", metavar="ADDRESS", help="the first owner (default: --from)")
    p.add_argument("--bms-device-id", metavar="HEX", help="the BMS's device id (64 hex)")
    p.set_defaults(func=_open_holding)
    _add_reads(sub, node, reader)
    _add_owner_writes(sub, [_holding_parent(), *signed])
    _add_read_request(sub, reader)


def _add_register(sub: Any, signed: list[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "register",
        parents=signed,
        help="register a battery's passport (manufacturer role)",
        description="Put a battery on the ledger: its public passport (Annex XIII point 1) in "
        "clear, the composition (point 2) and test reports (point 3) as salted commitments, "
        "then, in a second transaction, its holding (first owner, BMS device, status). "
        f"The parts and salts are kept in HOME/{PASSPORTS_DIR}/ID.json, the holding secret in "
        f"HOME/{holdings.HOLDINGS_DIR}/ID.json (mode 0600): hand a copy of the latter to the "
        "owner with the battery. See examples/battery.json for every field and its unit.",
    )
    p.add_argument("--data", required=True, metavar="PASSPORT.json", help="the passport file")
    p.add_argument(
        "--owner", metavar="ADDRESS", help="the first owner (default: the data's, else --from)"
    )
    add_lot_curve_options(p)
    p.set_defaults(func=_register)


def _add_reads(
    sub: Any, node: list[argparse.ArgumentParser], reader: list[argparse.ArgumentParser]
) -> None:
    p = sub.add_parser("show", parents=node, help="a battery's public passport (anyone)")
    p.add_argument("battery_id", metavar="ID", type=_battery_id, help="id or identifier")
    p.set_defaults(func=reads.show)

    p = sub.add_parser(
        "history",
        parents=reader,
        help="status, owner and history (owner, lessee or manufacturer)",
    )
    p.add_argument("battery_id", metavar="ID", type=_battery_id, help="id or identifier")
    p.set_defaults(func=reads.history)

    p = sub.add_parser(
        "health", parents=reader, help="latest health and prediction (owner, lessee, maker)"
    )
    p.add_argument("battery_id", metavar="ID", type=_battery_id, help="id or identifier")
    p.set_defaults(func=reads.health)

    p = sub.add_parser(
        "part",
        parents=reader,
        help="a restricted part in clear, checked against the ledger's commitment",
        description="Read composition (Annex XIII point 2: owner, lessee, manufacturer, "
        "regulator), test_reports (point 3: manufacturer, regulator) or health (the latest "
        "values: owner, lessee, manufacturer) from the node, and check that the fields open "
        "the commitment the ledger holds; exit 1 if they do not.",
    )
    p.add_argument("battery_id", metavar="ID", type=_battery_id, help="id or identifier")
    p.add_argument("part", choices=list(RESTRICTED_PARTS), help="the part to read")
    p.set_defaults(func=reads.read_part)

    p = sub.add_parser(
        "fleet",
        parents=reader,
        help="the batteries you own or lease, soonest predicted end of life first",
        description="List the battery holdings KEY owns, then those it leases (the ledger's "
        "indexes), naming each battery whose holding file this home keeps, with its "
        "predicted end of life.",
    )
    p.add_argument(
        "--limit", type=_limit, default=MAX_PAGE, help=f"at most N (1..{MAX_PAGE}, default all)"
    )
    p.set_defaults(func=holdings.fleet)


def _add_owner_writes(sub: Any, signed: list[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("transfer", parents=signed, help="hand a battery to a new owner (owner)")
    p.add_argument("battery_id", metavar="ID", type=_battery_id, help="id or identifier")
    p.add_argument("--to", required=True, metavar="ADDRESS", help="address or key name")
    p.set_defaults(func=_transfer)

    p = sub.add_parser("lease", parents=signed, help="lease a battery out, or end it (owner)")
    p.add_argument("battery_id", metavar="ID", type=_battery_id, help="id or identifier")
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--to", metavar="ADDRESS", help="the lessee: address or key name")
    which.add_argument("--end", action="store_true", help="end the running lease")
    p.add_argument(
        "--until", type=positive, metavar="HEIGHT", help="the lease's last height (default open)"
    )
    p.set_defaults(func=_lease)

    p = sub.add_parser(
        "status",
        parents=signed,
        help="set the lifecycle status (owner; remanufactured: a manufacturer holding it)",
    )
    p.add_argument("battery_id", metavar="ID", type=_battery_id, help="id or identifier")
    p.add_argument("--status", required=True, choices=list(STATUS_NAMES), help="the new status")
    p.set_defaults(func=_set_status)


def _add_read_request(sub: Any, reader: list[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "read-request",
        parents=reader,
        help="write signed read requests for the web pages (valid 60 seconds)",
        description="Sign read requests of ID's point-4 data (or, with --fleet, of your "
        "fleet) for the node --node names and write them to --out, to drop on that node's "
        "/battery or /fleet page. The node accepts each once, within 60 seconds from now.",
    )
    p.add_argument("battery_id", metavar="ID", nargs="?", type=_battery_id)
    p.add_argument("--fleet", action="store_true", help="a fleet request instead of one battery")
    p.add_argument("--out", required=True, metavar="FILE", help="the request file to write")
    p.set_defaults(func=reads.write_read_request)


def _limit(text: str) -> int:
    value = positive(text)
    if value > MAX_PAGE:
        raise argparse.ArgumentTypeError(f"--limit is at most {MAX_PAGE}, got {value}")
    return value


def _tx_parent() -> argparse.ArgumentParser:
    parent = argparse.ArgumentParser(add_help=False)
    signing_options(parent.add_argument_group("transaction options"), "the signing key")
    return parent


def _holding_parent() -> argparse.ArgumentParser:
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument(
        "--holding",
        metavar="FILE",
        help=f"the battery's holding file (default HOME/{holdings.HOLDINGS_DIR}/ID.json)",
    )
    return parent


def _reader_parent() -> argparse.ArgumentParser:
    parent = _holding_parent()
    parent.add_argument(
        "--from",
        dest="from_key",
        required=True,
        metavar="NAME",
        help="the key that signs the read request: owner, lessee or manufacturer",
    )
    return parent


# --- data -------------------------------------------------------------------------------------


def _read_data(name: str) -> dict[str, Any]:
    return read_json_object(name, MAX_DATA_BYTES, "see examples/battery.json")


def _passport(doc: dict[str, Any], source: str) -> Passport:
    unknown = sorted(k for k in doc if k not in DATA_KEYS and not k.startswith("$"))
    if unknown:
        raise UsageError(f"{source}: unknown keys {', '.join(unknown)} (see examples/battery.json)")
    fields = doc.get("passport")
    if not isinstance(fields, dict):
        raise UsageError(f"{source}: 'passport' must be an object of the public fields")
    fields = dict(fields)
    if "manufacturing_date" in fields:
        text = fields.pop("manufacturing_date")
        try:
            day = (datetime.date.fromisoformat(str(text)) - _EPOCH).days
        except ValueError:
            raise UsageError(f"{source}: manufacturing_date {text!r} is not YYYY-MM-DD") from None
        fields.setdefault("manufacturing_day", day)
    names = Passport.__struct_fields__
    missing = [n for n in names if n not in fields]
    extra = sorted(k for k in fields if k not in names)
    if missing or extra:
        problems = [f"missing {', '.join(missing)}"] if missing else []
        problems += [f"unknown {', '.join(extra)}"] if extra else []
        raise UsageError(f"{source}: passport fields: {'; '.join(problems)}")
    try:
        # Passport encodes as an array (canonical encoding): convert in field order.
        return msgspec.convert([fields[n] for n in names], Passport)
    except msgspec.ValidationError as exc:
        # "... - at `$[4]`" names the field by position: say its name instead.
        message = re.sub(r"`\$\[(\d+)\]", lambda m: f"`{names[int(m.group(1))]}", str(exc))
        raise UsageError(f"{source}: passport: {message}") from None


def _part(doc: dict[str, Any], name: str, source: str) -> dict[str, Any]:
    fields = doc.get(name, {})
    if not isinstance(fields, dict):
        raise UsageError(f"{source}: {name!r} must be a JSON object")
    return fields


def _result(args: argparse.Namespace, result: dict[str, Any], summary: dict[str, Any]) -> int:
    out = {"hash": result.get("hash"), "height": result.get("height"), **summary}
    if args.json:
        print_json(out)
    else:
        reads.print_fields(out)
    sys.stdout.flush()
    return 0


# --- writes -----------------------------------------------------------------------------------


def _bms_device_id(doc: dict[str, Any], source: str) -> bytes | None:
    """The data's BMS device id: 64 hex characters, or null (none)."""
    bms = doc.get("bms_device_id")
    try:
        bms_id = bytes.fromhex(bms) if bms is not None else None
    except (TypeError, ValueError):
        bms_id = None
    if bms is not None and (bms_id is None or len(bms_id) != DEVICE_ID_BYTES):
        raise UsageError(f"{source}: bms_device_id must be 64 hex characters or null")
    return bms_id


def _deliver_openings(
    client: Client, battery_id: bytes, parts: dict[str, tuple[dict[str, Any], bytes]]
) -> bool | str:
    """Once committed, the node may serve points 2 and 3 to the readers the regulation names:
    give it the openings (it checks them against the ledger's commitments)."""
    try:
        for part, (fields, salt) in parts.items():
            client.deliver_opening(battery_id.hex(), part, fields, salt)
    except ApiError as exc:
        return f"not delivered: {exc}"
    return True


def _submit(wallet: Wallet, message: Any, args: argparse.Namespace) -> dict[str, Any]:
    result: dict[str, Any] = wallet.submit([message], wait=not args.no_wait)
    return result


def _register(args: argparse.Namespace) -> int:
    doc = _read_data(args.data)
    passport = _passport(doc, args.data)
    composition = _part(doc, "composition", args.data)
    test_reports, lot_curves = with_lot_curves(
        args, _part(doc, "test_reports", args.data), args.data
    )
    bms_id = _bms_device_id(doc, args.data)
    try:
        composition_commitment, composition_salt = seal_part("composition", composition)
        tests_commitment, tests_salt = seal_part("test_reports", test_reports)
    except ValueError as exc:
        raise UsageError(f"{args.data}: {exc}") from None
    home = require_home(args)
    battery_id = battery_id_of(passport.identifier)
    keep = home.path / PASSPORTS_DIR / f"{battery_id.hex()}.json"
    if keep.exists() or holdings.holding_path(home, battery_id.hex()).exists():
        raise UsageError(f"{keep} exists: this battery was registered from this home already")
    key = signing_key(args)
    secret = new_holding_secret()
    with client_for(args) as client:
        wallet = Wallet(key, client, fee=args.fee)
        owner_text = args.owner or doc.get("owner") or wallet.address
        owner = resolve_address(str(owner_text), args)
        message = MsgRegisterBattery(
            passport=passport,
            legitimate_interest_commitment=composition_commitment,
            authority_commitment=tests_commitment,
            holding_commitment=holding_commitment(battery_id, secret),
        )
        result = _submit(wallet, message, args)
        keep.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        write_private_json(
            keep,
            {
                "battery_id": battery_id.hex(),
                "identifier": passport.identifier,
                "composition": {"fields": composition, "salt": composition_salt.hex()},
                "test_reports": {"fields": test_reports, "salt": tests_salt.hex()},
            },
        )
        holding_file = holdings.save_holding(home, battery_id, passport.identifier, secret)
        # A transaction of its own: no transaction names both the battery and its holding.
        opened = MsgOpenHolding(holding_id_of(battery_id, secret), address_to_bytes(owner), bms_id)
        holding_result = _submit(wallet, opened, args)
        delivered: bool | str = False
        if not args.no_wait:
            parts = {
                "composition": (composition, composition_salt),
                "test_reports": (test_reports, tests_salt),
            }
            delivered = _deliver_openings(client, battery_id, parts)
    summary: dict[str, Any] = {
        "battery_id": battery_id.hex(),
        "identifier": passport.identifier,
        "owner": owner,
        "holding_id": opened.holding_id.hex(),
        "holding_hash": holding_result.get("hash"),
        "holding_file": str(holding_file),
        "restricted_parts": str(keep),
        "openings_delivered": delivered,
    }
    if lot_curves is not None:
        summary["lot_curves"] = lot_curves
    return _result(args, result, summary)


def _open_holding(args: argparse.Namespace) -> int:
    holding_id = holdings.holding_id(args, args.battery_id)
    bms_id = _bms_device_id({"bms_device_id": args.bms_device_id}, "--bms-device-id")
    with client_for(args) as client:
        wallet = Wallet(signing_key(args), client, fee=args.fee)
        owner = resolve_address(args.owner or wallet.address, args)
        message = MsgOpenHolding(holding_id, address_to_bytes(owner), bms_id)
        result = _submit(wallet, message, args)
    summary = {"battery_id": args.battery_id, "holding_id": holding_id.hex(), "owner": owner}
    return _result(args, result, summary)


def _transfer(args: argparse.Namespace) -> int:
    new_owner = resolve_address(args.to, args)
    holding_id = holdings.holding_id(args, args.battery_id)
    with client_for(args) as client:
        wallet = Wallet(signing_key(args), client, fee=args.fee)
        result = _submit(wallet, MsgTransfer(holding_id, address_to_bytes(new_owner)), args)
    summary = {
        "battery_id": args.battery_id,
        "holding_id": holding_id.hex(),
        "new_owner": new_owner,
    }
    return _result(args, result, summary)


def _lease(args: argparse.Namespace) -> int:
    if args.end and args.until is not None:
        raise UsageError("--until goes with --to: ending a lease takes no height")
    lessee = None if args.end else resolve_address(args.to, args)
    holding_id = holdings.holding_id(args, args.battery_id)
    message = MsgLease(
        holding_id, address_to_bytes(lessee) if lessee is not None else None, args.until
    )
    with client_for(args) as client:
        wallet = Wallet(signing_key(args), client, fee=args.fee)
        result = _submit(wallet, message, args)
    summary = {
        "battery_id": args.battery_id,
        "holding_id": holding_id.hex(),
        "lessee": lessee,
        "end_height": args.until,
    }
    return _result(args, result, summary)


def _set_status(args: argparse.Namespace) -> int:
    holding_id = holdings.holding_id(args, args.battery_id)
    with client_for(args) as client:
        wallet = Wallet(signing_key(args), client, fee=args.fee)
        result = _submit(wallet, MsgSetStatus(holding_id, args.status), args)
    summary = {"battery_id": args.battery_id, "holding_id": holding_id.hex(), "status": args.status}
    return _result(args, result, summary)
