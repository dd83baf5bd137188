"""``citychain keys add|list|show|delete``: the encrypted keystore in HOME/keys (docs/keys.md)."""

from __future__ import annotations

import argparse
import getpass
import sys
from pathlib import Path
from typing import Any

from citychain.cli.common import (
    UsageError,
    print_json,
    read_password,
    require_home,
    stdin_is_tty,
)
from citychain.crypto.keystore import KeyInfo, Keystore

__all__ = ["register"]


def register(commands: Any, parents: dict[str, argparse.ArgumentParser]) -> None:
    keys = commands.add_parser("keys", help="the encrypted keystore (HOME/keys)")
    sub = keys.add_subparsers(dest="keys_command", required=True, metavar="COMMAND")
    home_json = [parents["home"], parents["json"]]

    add = sub.add_parser(
        "add",
        parents=[*home_json, parents["password"]],
        help="create a key (or --recover one from its mnemonic); prints its address",
        description="Create a key from a new 24-word BIP-39 mnemonic, shown once (on stderr, or "
        "in the JSON with --json), or recover one from its words.",
    )
    add.add_argument("name", metavar="NAME", help="1 to 64 characters of A-Z a-z 0-9 _ . -")
    add.add_argument(
        "--recover",
        action="store_true",
        help="recover the key from its mnemonic (read from --mnemonic-file, else stdin)",
    )
    add.add_argument("--mnemonic-file", metavar="FILE", help="the mnemonic for --recover")
    add.add_argument(
        "--account", type=int, default=0, help="BIP-44 account index to derive (default 0)"
    )
    add.set_defaults(func=cmd_add)

    listing = sub.add_parser("list", parents=home_json, help="every key's name and address")
    listing.set_defaults(func=cmd_list)

    show = sub.add_parser("show", parents=home_json, help="a key's address and public key")
    show.add_argument("name", metavar="NAME")
    show.add_argument("--address", action="store_true", help="print only the address")
    show.set_defaults(func=cmd_show)

    delete = sub.add_parser("delete", parents=home_json, help="remove a key from the keystore")
    delete.add_argument("name", metavar="NAME")
    delete.add_argument(
        "--yes", action="store_true", help="do not ask for confirmation (needed without a terminal)"
    )
    delete.set_defaults(func=cmd_delete)


def _keystore(args: argparse.Namespace) -> Keystore:
    return Keystore(require_home(args).keys_dir)


def _view(info: KeyInfo) -> dict[str, Any]:
    return {"name": info.name, "address": info.address, "public_key": info.public_key_hex}


def _read_mnemonic(args: argparse.Namespace) -> str:
    if args.mnemonic_file:
        try:
            return Path(args.mnemonic_file).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise UsageError(f"cannot read --mnemonic-file {args.mnemonic_file}: {exc}") from None
    if stdin_is_tty():
        return getpass.getpass("Mnemonic (the words are not shown): ")
    words = sys.stdin.read()
    if not words.strip():
        raise UsageError("--recover: no mnemonic on stdin (or give --mnemonic-file FILE)")
    return words


def cmd_add(args: argparse.Namespace) -> int:
    keystore = _keystore(args)
    if args.mnemonic_file and not args.recover:
        raise UsageError("--mnemonic-file goes with --recover")
    if args.account < 0 or args.account >= 2**31:
        raise UsageError("--account must be 0 to 2^31-1")
    if args.account and not args.recover:
        raise UsageError("--account goes with --recover")
    if args.recover:
        words = _read_mnemonic(args)
        password = read_password(args, new=True)
        info = keystore.import_mnemonic(args.name, password, words, account=args.account)
    else:
        password = read_password(args, new=True)
        info = keystore.add(args.name, password)
    if args.json:
        view = _view(info)
        if info.mnemonic:
            view["mnemonic"] = info.mnemonic
        print_json(view)
        return 0
    print(info.address)
    if info.mnemonic:
        print(
            f"key {info.name!r} saved in {keystore.path}. Its recovery phrase follows; write it "
            "down and keep it secret. It is shown only this once:\n\n"
            f"{info.mnemonic}\n",
            file=sys.stderr,
        )
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    keystore = _keystore(args)
    infos = keystore.list()
    if args.json:
        print_json([_view(info) for info in infos])
        return 0
    if not infos:
        print(f"no keys in {keystore.path}", file=sys.stderr)
    width = max((len(info.name) for info in infos), default=0)
    for info in infos:
        print(f"{info.name:<{width}}  {info.address}")
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    info = _keystore(args).show(args.name)
    if args.address:
        print(info.address)
    elif args.json:
        print_json(_view(info))
    else:
        print(f"name        {info.name}")
        print(f"address     {info.address}")
        print(f"public key  {info.public_key_hex}")
    return 0


def cmd_delete(args: argparse.Namespace) -> int:
    keystore = _keystore(args)
    info = keystore.show(args.name)  # KeyNotFoundError before any question
    if not args.yes:
        if not stdin_is_tty():
            raise UsageError("deleting a key cannot be undone: add --yes to confirm")
        answer = input(
            f"delete key {info.name!r} ({info.address})? Without its mnemonic it is "
            "lost for good. [y/N] "
        )
        if answer.strip().lower() not in ("y", "yes"):
            print("kept", file=sys.stderr)
            return 1
    keystore.delete(args.name)
    if args.json:
        print_json({"deleted": info.name, "address": info.address})
    else:
        print(f"deleted key {info.name!r} ({info.address})")
    return 0
