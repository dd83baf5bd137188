"""``citychain query ...``: read the ledger through the node's API; every answer is JSON.

``query bank balance ADDRESS --prove`` prints the balance with its proof bundle (value, Merkle
proof, signed header; docs/proofs.md) under ``proof``; ``--out FILE`` writes the same document to
FILE. ``citychain verify proof`` checks either offline, every field of it.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from citychain.cli.common import (
    CliFailure,
    client_for,
    denom,
    hex_string,
    positive,
    print_json,
    resolve_address,
)

__all__ = ["register"]

MAX_LIMIT = 200  # the API's page limit


def register(commands: Any, parents: dict[str, argparse.ArgumentParser]) -> None:
    query = commands.add_parser("query", help="read the ledger (JSON)")
    sub = query.add_subparsers(dest="query_command", required=True, metavar="WHAT")
    common = [parents["home"], parents["node"], parents["json"]]

    bank = sub.add_parser("bank", help="the city currency")
    bank_sub = bank.add_subparsers(dest="bank_command", required=True, metavar="WHAT")
    balance = bank_sub.add_parser(
        "balance",
        parents=common,
        help="an account's balance, with --prove its proof bundle",
        description="Print an account's balance as JSON. With --prove, the answer carries the "
        "proof bundle under 'proof': the value, its Merkle proof and the signed header it is "
        "proven against. 'verify proof' checks the answer offline, printed or written by --out.",
    )
    balance.add_argument("address", metavar="ADDRESS", help="address or key name")
    balance.add_argument("--denom", type=denom, default="ccy", help="default ccy")
    balance.add_argument("--prove", action="store_true", help="include the proof bundle")
    balance.add_argument(
        "--out",
        metavar="FILE",
        help="also write the answer with its proof to FILE (implies --prove)",
    )
    balance.set_defaults(func=cmd_balance)

    supply = bank_sub.add_parser("supply", parents=common, help="total supply per denomination")
    supply.set_defaults(func=cmd_supply)

    account = sub.add_parser("account", parents=common, help="nonce, roles, tier and balances")
    account.add_argument("address", metavar="ADDRESS", help="address or key name")
    account.set_defaults(func=cmd_account)

    txs = sub.add_parser("txs", parents=common, help="an account's latest transactions")
    txs.add_argument("address", metavar="ADDRESS", help="address or key name")
    txs.add_argument("--limit", type=_limit, default=50, help="at most 200 (default 50)")
    txs.set_defaults(func=cmd_txs)

    tx = sub.add_parser("tx", parents=common, help="a committed transaction and its receipt")
    tx.add_argument("hash", metavar="HASH", type=hex_string(32, "transaction hash"))
    tx.set_defaults(func=cmd_tx)

    block = sub.add_parser("block", parents=common, help="a block (default: the latest)")
    block.add_argument("height", metavar="HEIGHT", type=positive, nargs="?")
    block.set_defaults(func=cmd_block)

    request = sub.add_parser("request", parents=common, help="a payment request")
    request.add_argument("request_id", metavar="ID", type=hex_string(16, "request id"))
    request.set_defaults(func=cmd_request)

    top_supply = sub.add_parser("supply", parents=common, help="same as: query bank supply")
    top_supply.set_defaults(func=cmd_supply)


def _answer(doc: Any) -> int:
    print_json(doc)
    return 0


def _limit(text: str) -> int:
    value = positive(text)
    if value > MAX_LIMIT:
        raise argparse.ArgumentTypeError(f"--limit is at most {MAX_LIMIT}, got {value}")
    return value


def cmd_balance(args: argparse.Namespace) -> int:
    address = resolve_address(args.address, args)
    prove = args.prove or bool(args.out)
    with client_for(args) as client:
        answer = client.balance(address, args.denom, prove=prove)
    if args.out:
        # The same document as printed: one form for 'verify proof', whichever the user kept.
        if not isinstance(answer.get("proof"), dict):
            raise CliFailure("the node returned no proof bundle")
        Path(args.out).write_text(json.dumps(answer, indent=2) + "\n")
        print(f"balance and proof written to {args.out}", file=sys.stderr)
    return _answer(answer)


def cmd_supply(args: argparse.Namespace) -> int:
    with client_for(args) as client:
        return _answer({"supply": client.supply()})


def cmd_account(args: argparse.Namespace) -> int:
    address = resolve_address(args.address, args)
    with client_for(args) as client:
        return _answer(client.account(address))


def cmd_txs(args: argparse.Namespace) -> int:
    address = resolve_address(args.address, args)
    with client_for(args) as client:
        return _answer({"address": address, "txs": client.account_txs(address, args.limit)})


def cmd_tx(args: argparse.Namespace) -> int:
    with client_for(args) as client:
        return _answer(client.tx(args.hash))


def cmd_block(args: argparse.Namespace) -> int:
    with client_for(args) as client:
        return _answer(client.block(args.height))


def cmd_request(args: argparse.Namespace) -> int:
    with client_for(args) as client:
        return _answer(client.payment_request(args.request_id))
