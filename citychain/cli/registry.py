"""``citychain registry ...``: the civil registry for registrars and holders (docs/cli.md).

```
citychain registry register-birth --data FILE.json --from NAME --out CERTIFICATE.json
citychain registry register-death --data FILE.json --from NAME --out CERTIFICATE.json
citychain registry amend RECORD_ID --data FILE.json --from NAME --out CERTIFICATE.json
citychain registry revoke RECORD_ID --reason REASON --from NAME
citychain registry show RECORD_ID [--versions] [--json]
citychain registry present CERTIFICATE --disclose CLAIM... --out FILE [--qr IMAGE] [--offline]
citychain registry office-record RECORD_ID [--office DIR]
citychain registry office-import [--office DIR] --home DIR
```

A certificate file holds the registrar-signed credential, a proof of its ledger record and the
registrar's public key (citychain/client/certificates.py); ``citychain verify certificate``
checks one offline. The registrar's office keeps each record's content and salt in its own
encrypted register, never inside a node's home and never on the ledger; its options and the
``office-*`` commands are in citychain/cli/registry_office.py.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from citychain.cli.common import (
    UsageError,
    client_for,
    hex_string,
    print_json,
    read_json_object,
    resolve_address,
    write_private_json,
)
from citychain.cli.registry_office import add_office_commands, office_options, open_office
from citychain.cli.tx import signing_key, signing_options
from citychain.client import Client, Wallet
from citychain.client.certificates import load_certificate, present_bundle, refresh_bundle
from citychain.client.office import OfficeRegister
from citychain.client.registrar import IssuedCertificate, Registrar
from citychain.credentials import DEATH, SCHEMAS, CredentialError, credential_schema
from citychain.credentials.qr import qr_payload, write_qr
from citychain.modules.registry import REVOCATION_REASONS

__all__ = ["register"]

MAX_DATA_BYTES = 64_000
record_id_arg = hex_string(32, "record id")
DEATH_LINKS = ("birth_record", "wallets")
"""Keys a death's data file may hold besides the certificate's fields."""


def register(commands: Any, parents: dict[str, argparse.ArgumentParser]) -> None:
    registry = commands.add_parser(
        "registry", help="civil registry: register births and deaths, present certificates"
    )
    sub = registry.add_subparsers(dest="registry_command", required=True, metavar="COMMAND")
    node_parents = [parents["home"], parents["node"], parents["json"]]
    signed = [_signing_parent(), *node_parents, parents["password"]]
    office = office_options()
    # in this order: the order of `citychain registry --help`
    _add_registrations(sub, signed, office)
    _add_show(sub, node_parents)
    _add_present(sub, node_parents)
    add_office_commands(sub, office, parents)


def _add_registrations(
    sub: Any, signed: list[argparse.ArgumentParser], office: argparse.ArgumentParser
) -> None:
    """The registrar's writes: register a birth or a death, amend, revoke."""
    p = sub.add_parser(
        "register-birth",
        parents=[*signed, office],
        help="register a birth (registrar role); write the holder's certificate",
        description="Commit the birth's salted commitment to the ledger and write the "
        "registrar-signed certificate (every field disclosable) to --out.",
    )
    _data_and_out(p, "the birth's fields (see README: examples/birth.json)")
    p.set_defaults(func=_register_birth)

    p = sub.add_parser(
        "register-death",
        parents=[*signed, office],
        help="register a death (registrar role): marks the birth record, freezes wallets",
        description="Commit the death's commitment; the data file may name the person's "
        "'birth_record' id and 'wallets' (addresses or key names) to freeze for the estate.",
    )
    _data_and_out(p, "the death's fields (see README: examples/death.json)")
    p.set_defaults(func=_register_death)

    p = sub.add_parser(
        "amend",
        parents=[*signed, office],
        help="correct a record: a new version replaces it (registrar role)",
        description="Register a new version of the valid record RECORD_ID with the corrected "
        "fields of --data; the old version's certificates then verify as superseded.",
    )
    p.add_argument("record_id", metavar="RECORD_ID", type=record_id_arg)
    _data_and_out(p, "every field of the corrected record")
    p.set_defaults(func=_amend)

    p = sub.add_parser(
        "revoke",
        parents=signed,
        help="revoke a record with a reason (registrar role)",
        description="Reasons: " + ", ".join(REVOCATION_REASONS.values()) + ".",
    )
    p.add_argument("record_id", metavar="RECORD_ID", type=record_id_arg)
    p.add_argument("--reason", required=True, choices=list(REVOCATION_REASONS.values()), help="why")
    p.set_defaults(func=_revoke)


def _add_show(sub: Any, node_parents: list[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "show",
        parents=node_parents,
        help="a record's status and audit trail (no personal data: there is none on chain)",
    )
    p.add_argument("record_id", metavar="RECORD_ID", type=record_id_arg)
    p.add_argument("--versions", action="store_true", help="every version, oldest first")
    p.set_defaults(func=_show)


def _add_present(sub: Any, node_parents: list[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "present",
        parents=node_parents,
        help="a certificate that shows only the claims you choose",
        description="Write a certificate file that discloses only the --disclose claims, with a "
        "fresh proof of the record from the node (unless --offline). Birth claims: "
        + ", ".join(SCHEMAS["birth"].disclosable)
        + ". Death claims: "
        + ", ".join(DEATH.disclosable)
        + ".",
    )
    p.add_argument("certificate", metavar="CERTIFICATE", help="your certificate file")
    p.add_argument("--disclose", nargs="+", required=True, metavar="CLAIM", help="claims to show")
    p.add_argument("--out", required=True, metavar="FILE", help="the presentation to write")
    p.add_argument(
        "--qr",
        metavar="IMAGE",
        help="also write it as QR code(s) (.png or .svg): IMAGE, or IMAGE-1of2... when it "
        "needs more than one",
    )
    p.add_argument(
        "--offline",
        action="store_true",
        help="keep the certificate's own record proof (its status as of that height)",
    )
    p.set_defaults(func=_present)


def _signing_parent() -> argparse.ArgumentParser:
    parent = argparse.ArgumentParser(add_help=False)
    signing_options(parent.add_argument_group("transaction options"), "a registrar's key")
    return parent


def _data_and_out(parser: argparse.ArgumentParser, data_help: str) -> None:
    parser.add_argument("--data", required=True, metavar="FILE.json", help=data_help)
    parser.add_argument(
        "--out", required=True, metavar="CERTIFICATE.json", help="the certificate file to write"
    )


# --- files ------------------------------------------------------------------------------------


def _read_data(name: str) -> dict[str, Any]:
    return read_json_object(name, MAX_DATA_BYTES, "the record's fields")


def _check_out(name: str) -> Path:
    """Refuse before anything is submitted when --out cannot be written."""
    path = Path(name)
    if path.exists():
        raise UsageError(f"{name} exists; give another --out (certificates are not overwritten)")
    if not path.absolute().parent.is_dir():
        raise UsageError(f"the folder of {name} does not exist")
    return path


# --- registrar commands -----------------------------------------------------------------------


def _registrar(
    args: argparse.Namespace, client: Client, office: OfficeRegister | None
) -> Registrar:
    wallet = Wallet(signing_key(args), client, fee=args.fee)
    return Registrar(wallet, register=office)


def _report(args: argparse.Namespace, issued: IssuedCertificate, out: Path) -> int:
    write_private_json(out, issued.bundle)
    summary = {
        "kind": issued.kind,
        "record_id": issued.record_id.hex(),
        "height": issued.height,
        "hash": issued.tx_hash,
        "certificate": str(out),
    }
    if args.json:
        print_json(summary)
    else:
        for name, value in summary.items():
            print(f"{name:<12}{value}")
    sys.stdout.flush()
    return 0


def _fields(doc: dict[str, Any], kind: str, source: str) -> dict[str, str]:
    try:
        return SCHEMAS[kind].validate(doc)
    except CredentialError as exc:
        raise UsageError(f"{source}: {exc}") from None


def _register_birth(args: argparse.Namespace) -> int:
    fields = _fields(_read_data(args.data), "birth", args.data)
    out = _check_out(args.out)
    office = open_office(args)
    with client_for(args) as client:
        issued = _registrar(args, client, office).register_birth(fields)
    return _report(args, issued, out)


def _register_death(args: argparse.Namespace) -> int:
    doc = _read_data(args.data)
    links = {k: doc.pop(k) for k in DEATH_LINKS if k in doc}
    fields = _fields(doc, "death", args.data)
    birth_record = links.get("birth_record")
    if birth_record is not None:
        try:
            birth_record = (
                bytes.fromhex(record_id_arg(birth_record))
                if isinstance(birth_record, str)
                else None
            )
        except argparse.ArgumentTypeError as exc:
            raise UsageError(f"{args.data}: birth_record: {exc}") from None
        if birth_record is None:
            raise UsageError(f"{args.data}: birth_record must be a record id (64 hex characters)")
    wallets = links.get("wallets", [])
    if not isinstance(wallets, list) or not all(isinstance(w, str) for w in wallets):
        raise UsageError(f"{args.data}: wallets must be a list of addresses or key names")
    addresses = [resolve_address(w, args) for w in wallets]
    out = _check_out(args.out)
    office = open_office(args)
    with client_for(args) as client:
        issued = _registrar(args, client, office).register_death(
            fields, birth_record=birth_record, wallets=addresses
        )
    return _report(args, issued, out)


def _amend(args: argparse.Namespace) -> int:
    doc = _read_data(args.data)
    out = _check_out(args.out)
    office = open_office(args)
    with client_for(args) as client:
        kind = str(client.registry_record(args.record_id)["kind"])
        fields = _fields(doc, kind, args.data)
        issued = _registrar(args, client, office).amend(bytes.fromhex(args.record_id), fields)
    return _report(args, issued, out)


def _revoke(args: argparse.Namespace) -> int:
    with client_for(args) as client:
        result = _registrar(args, client, None).revoke(bytes.fromhex(args.record_id), args.reason)
    if args.json:
        print_json(result)
    else:
        print(f"hash       {result['hash']}")
        print(f"height     {result.get('height')}")
        print(f"revoked    {args.record_id} ({args.reason})")
    return 0


# --- anyone -----------------------------------------------------------------------------------


def _show(args: argparse.Namespace) -> int:
    with client_for(args) as client:
        if args.versions:
            doc: Any = {"versions": client.registry_versions(args.record_id)}
        else:
            doc = client.registry_record(args.record_id)
    if args.json:
        print_json(doc)
        return 0
    for version in doc["versions"] if args.versions else [doc]:
        _print_record(version)
    return 0


def _print_record(record: dict[str, Any]) -> None:
    print(f"record     {record['id']}")
    print(f"kind       {record['kind']}")
    status = record["status"]
    if record.get("superseded_by"):
        status += f" (by {record['superseded_by']})"
    if record.get("revocation_reason"):
        status += f" ({record['revocation_reason']})"
    print(f"status     {status}")
    print(f"version    {record['version']}")
    print(f"office     {record['office']}")
    print(f"commitment {record['commitment']}")
    if record.get("linked_record"):
        print(f"birth      {record['linked_record']}")
    if record.get("deceased_by"):
        print(f"death      {record['deceased_by']}")
    for wallet in record.get("wallets", []):
        print(f"frozen     {wallet}")
    print("history")
    for change in record["history"]:
        extra = change.get("related") or change.get("reason") or ""
        print(f"  {change['height']:>8}  {change['action']:<15} {change['registrar']}  {extra}")
    print()


def _present(args: argparse.Namespace) -> int:
    try:
        bundle = load_certificate(Path(args.certificate))
        credential_schema(bundle["presentation"])
    except CredentialError as exc:
        raise UsageError(str(exc)) from None
    out = _check_out(args.out)
    try:
        presented = present_bundle(bundle, list(args.disclose))
    except CredentialError as exc:
        raise UsageError(str(exc)) from None
    if not args.offline:
        with client_for(args) as client:
            presented = refresh_bundle(client, presented)
    images: list[Path] = []
    if args.qr:
        images = write_qr(presented, Path(args.qr))
    write_private_json(out, presented)
    summary = {
        "presentation": str(out),
        "disclosed": list(args.disclose),
        "height": presented["record_proof"].get("height"),
        "bytes": len(json.dumps(presented)),
    }
    if args.qr:
        summary["qr"] = [str(p) for p in images]
        summary["qr_bytes"] = len(qr_payload(presented))
    if args.json:
        print_json(summary)
    else:
        for name, value in summary.items():
            shown = ", ".join(value) if isinstance(value, list) else value
            print(f"{name:<13}{shown}")
    return 0
