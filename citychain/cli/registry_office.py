"""The registrar office's register in ``citychain registry`` (docs/modules/registry.md §8).

```
citychain registry office-record RECORD_ID [--office DIR]
citychain registry office-import [--office DIR] --home DIR
```

Each record's content and salt live in the office's own register (citychain/client/office.py):
encrypted under the office's passphrase, in the folder ``--office DIR`` (else
``$CITYCHAIN_OFFICE_DIR``, else ``~/.citychain-office``), never inside a node's home. The
registrar's writes (``register-birth``, ``register-death``, ``amend``) take the same options
(``office_options``) and open the register (``open_office``) before anything reaches the
ledger.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from citychain.cli.common import (
    CliFailure,
    SecretSource,
    UsageError,
    hex_string,
    home_of,
    print_json,
    read_secret,
    require_home,
)
from citychain.client.office import (
    DEFAULT_OFFICE_DIR,
    OFFICE_DIR_ENV,
    OFFICE_PASSPHRASE_ENV,
    OfficeRegister,
    enclosing_node_home,
    is_office,
)

__all__ = ["LEGACY_OFFICE_DIR", "add_office_commands", "office_options", "open_office"]

LEGACY_OFFICE_DIR = "registry-office"
"""Where citychain before issue 13 kept the register, in plain JSON inside the node's home;
``registry office-import`` moves it into the office's encrypted register."""
OFFICE_PASSPHRASE = SecretSource(
    "--office-passphrase-file",
    OFFICE_PASSPHRASE_ENV,
    "office passphrase",
    "Office register passphrase: ",
)
record_id_arg = hex_string(32, "record id")


def office_options() -> argparse.ArgumentParser:
    """The parent parser of every command that opens the register: --office and its
    passphrase file."""
    parent = argparse.ArgumentParser(add_help=False)
    group = parent.add_argument_group("the office's register")
    group.add_argument(
        "--office",
        metavar="DIR",
        help=f"the office's register folder, never inside a node home (else ${OFFICE_DIR_ENV}, "
        f"else {DEFAULT_OFFICE_DIR})",
    )
    group.add_argument(
        "--office-passphrase-file",
        metavar="FILE",
        help=f"the register's passphrase, first line of FILE (else ${OFFICE_PASSPHRASE_ENV}, "
        "else a prompt)",
    )
    return parent


def add_office_commands(
    sub: Any, office: argparse.ArgumentParser, parents: dict[str, argparse.ArgumentParser]
) -> None:
    """The office's own register: read a record back, import an old plain one."""
    p = sub.add_parser(
        "office-record",
        parents=[office, parents["home"], parents["json"]],
        help="a record's content and salt from the office's encrypted register",
        description="Decrypt one entry of the office's register (content, salt, height): what "
        "opens the record's commitment on the ledger, for the office or an auditor it trusts.",
    )
    p.add_argument("record_id", metavar="RECORD_ID", type=record_id_arg)
    p.set_defaults(func=_office_record)

    p = sub.add_parser(
        "office-import",
        parents=[office, parents["home"]],
        help=f"move HOME/{LEGACY_OFFICE_DIR}/ (plain JSON) into the encrypted office register",
        description=f"Encrypt every entry of an old plain register HOME/{LEGACY_OFFICE_DIR}/ "
        "into the office register (--office), then delete the plain files.",
    )
    p.set_defaults(func=_office_import)


def _office_dir(args: argparse.Namespace) -> Path:
    """--office, else $CITYCHAIN_OFFICE_DIR, else ~/.citychain-office; never in a node home."""
    given = getattr(args, "office", None) or os.environ.get(OFFICE_DIR_ENV)
    path = Path(given or DEFAULT_OFFICE_DIR).expanduser().absolute()
    home = enclosing_node_home(path)
    if home is not None:
        raise UsageError(
            f"the office folder {path} is inside the node home {home}: the citizens' data must "
            "stay apart from the node's; give --office another folder"
        )
    return path


def _office_passphrase(args: argparse.Namespace, new: bool) -> str:
    """--office-passphrase-file, else $CITYCHAIN_OFFICE_PASSPHRASE, else a terminal prompt."""
    file = getattr(args, "office_passphrase_file", None)
    passphrase, _ = read_secret(OFFICE_PASSPHRASE, file, new=new)
    if not passphrase:
        raise UsageError("the office passphrase is empty")
    return passphrase


def open_office(args: argparse.Namespace, *, create: bool = True) -> OfficeRegister:
    """The office's register, opened (or created) before anything reaches the ledger."""
    path = _office_dir(args)
    register = OfficeRegister.open(
        path, _office_passphrase(args, new=not is_office(path)), create=create
    )
    home = home_of(args)
    if home is not None and (home.path / LEGACY_OFFICE_DIR).is_dir():
        print(
            f"warning: {home.path / LEGACY_OFFICE_DIR} holds a plain-text register from an "
            "older citychain; move it into the encrypted one with "
            "'citychain registry office-import'",
            file=sys.stderr,
        )
    return register


def _office_record(args: argparse.Namespace) -> int:
    entry = open_office(args, create=False).read(bytes.fromhex(args.record_id))
    if args.json:
        print_json(entry)
        return 0
    for name in ("record_id", "kind", "height", "tx_hash", "amends", "salt"):
        print(f"{name:<10} {entry.get(name)}")
    for name, value in entry.get("content", {}).items():
        print(f"  {name:<16} {value}")
    return 0


def _office_import(args: argparse.Namespace) -> int:
    legacy = require_home(args).path / LEGACY_OFFICE_DIR
    if not legacy.is_dir():
        raise UsageError(f"there is no plain register {legacy} to import")
    office = open_office(args)
    files = sorted(legacy.glob("*.json"))
    imported = 0
    for path in files:
        try:
            entry = json.loads(path.read_text(encoding="utf-8"))
            record_id = bytes.fromhex(str(entry["record_id"]))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise CliFailure(f"{path} is not a register entry ({exc}); left as it is") from None
        if record_id not in office.record_ids():
            office.keep(record_id, entry)
            imported += 1
        office.read(record_id)  # it opens before the plain copy goes
        path.unlink()
    if not any(legacy.iterdir()):
        legacy.rmdir()
    print(f"imported {imported} of {len(files)} records into {office.path}; plain files deleted")
    return 0
