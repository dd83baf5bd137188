"""``citychain tx bank ...``: sign with a keystore key, broadcast, and wait for the commit.

Each command signs one transaction with the key named by --from (decrypted with the key
password), submits it to the node, and by default returns once its block commits, printing the
transaction hash and height. A refused transaction raises TxFailed, which main() prints with its
code, codespace and log.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any

from citychain.cli.common import (
    amount,
    client_for,
    denom,
    hex_string,
    natural,
    positive,
    print_json,
    read_password,
    require_home,
    resolve_address,
    text_limit,
)
from citychain.client import Wallet
from citychain.crypto.address import address_to_bytes
from citychain.crypto.keys import PrivateKey
from citychain.crypto.keystore import Keystore
from citychain.modules.bank import MsgCreateRequest

__all__ = ["register"]

TX_MEMO_BYTES = 256  # the envelope's limit (docs/encoding.md)
REQUEST_MEMO_CHARS = 140  # MsgCreateRequest.memo (docs/modules/bank.md)
MAX_TIER = 255  # an account tier is one byte
request_id = hex_string(16, "request id")


def _tier(text: str) -> int:
    if not text.isdigit() or int(text) > MAX_TIER:
        raise argparse.ArgumentTypeError(
            f"tier must be a number 0..255 (0 unverified, 1 verified, 2 institution), got {text!r}"
        )
    return int(text)


def _output(text: str) -> tuple[str, int]:
    """ADDRESS:AMOUNT for multi-send; the address is resolved later (it may be a key name)."""
    who, sep, value = text.rpartition(":")
    if not sep or not who:
        raise argparse.ArgumentTypeError(f"expected ADDRESS:AMOUNT, got {text!r}")
    return who, amount(value)


def _request_memo(text: str) -> str:
    if len(text) > REQUEST_MEMO_CHARS:
        raise argparse.ArgumentTypeError(f"memo is longer than {REQUEST_MEMO_CHARS} characters")
    return text


def signing_options(group: Any, from_help: str = "the signing key") -> None:
    """--from, --fee and --no-wait: what every module's transaction commands take."""
    group.add_argument("--from", dest="from_key", required=True, metavar="NAME", help=from_help)
    group.add_argument("--fee", type=natural, default=1, help="fee in minor units (default 1)")
    group.add_argument(
        "--no-wait", action="store_true", help="return after check_tx instead of after the commit"
    )


def signing_key(args: argparse.Namespace) -> PrivateKey:
    """The --from key, decrypted; an unknown name fails before the password is asked for."""
    keystore = Keystore(require_home(args).keys_dir)
    keystore.show(args.from_key)
    return keystore.load(args.from_key, read_password(args))


def tx_parent() -> argparse.ArgumentParser:
    parent = argparse.ArgumentParser(add_help=False)
    group = parent.add_argument_group("transaction options")
    signing_options(group)
    group.add_argument("--denom", type=denom, default="ccy", help="denomination (default ccy)")
    return parent


def register(commands: Any, parents: dict[str, argparse.ArgumentParser]) -> None:
    tx = commands.add_parser("tx", help="sign and submit transactions")
    modules = tx.add_subparsers(dest="tx_module", required=True, metavar="MODULE")
    bank = modules.add_parser("bank", help="the city currency")
    sub = bank.add_subparsers(dest="tx_command", required=True, metavar="COMMAND")
    common = [
        tx_parent(),
        parents["home"],
        parents["node"],
        parents["password"],
        parents["json"],
    ]
    memo = text_limit(TX_MEMO_BYTES, "memo")

    def command(
        name: str, run: Callable[[Wallet, argparse.Namespace], dict[str, Any]], **kw: Any
    ) -> Any:
        parser = sub.add_parser(name, parents=common, **kw)
        if name != "request":  # a request's --memo is the request's own
            parser.add_argument("--memo", type=memo, default="", help="transaction memo")
        parser.set_defaults(func=lambda args: _submit(args, run))
        return parser

    p = command("mint", _mint, help="create money (issuer role)")
    p.add_argument("address", metavar="ADDRESS", help="recipient: address or key name")
    p.add_argument("amount", metavar="AMOUNT", type=amount, help="minor units (cents)")

    p = command("send", _send, help="pay an account; prints the tx hash and height")
    p.add_argument("address", metavar="ADDRESS", help="recipient: address or key name")
    p.add_argument("amount", metavar="AMOUNT", type=amount, help="minor units (cents)")

    p = command("burn", _burn, help="destroy money from the sender's balance (issuer role)")
    p.add_argument("amount", metavar="AMOUNT", type=amount, help="minor units (cents)")

    p = command("multi-send", _multi_send, help="pay up to 100 accounts in one transaction")
    p.add_argument(
        "outputs", metavar="ADDRESS:AMOUNT", nargs="+", type=_output, help="recipient and amount"
    )

    p = command("set-tier", _set_tier, help="set an account's wallet tier (kyc role)")
    p.add_argument("address", metavar="ADDRESS", help="account: address or key name")
    p.add_argument(
        "tier", metavar="TIER", type=_tier, help="0 unverified, 1 verified, 2 institution"
    )

    p = command("request", _request, help="ask for a payment; prints the request id")
    p.add_argument("amount", metavar="AMOUNT", type=amount, help="minor units (cents)")
    p.add_argument(
        "--expiry-height", type=positive, required=True, metavar="H", help="last height to pay at"
    )
    p.add_argument("--memo", type=_request_memo, default="", help="what the payment is for")
    p.add_argument("--payer", metavar="ADDRESS", help="only this account may pay")

    p = command("pay", _pay, help="pay a payment request, exactly")
    p.add_argument("request_id", metavar="REQUEST_ID", type=request_id)

    p = command("cancel", _cancel, help="cancel an open payment request (its merchant)")
    p.add_argument("request_id", metavar="REQUEST_ID", type=request_id)

    p = command("refund", _refund, help="refund part or all of a paid request (its merchant)")
    p.add_argument("request_id", metavar="REQUEST_ID", type=request_id)
    p.add_argument("amount", metavar="AMOUNT", type=amount, help="minor units (cents)")


# --- one function per message: build it from the arguments and submit it ------------------------
# Address arguments arrive resolved (see _resolve_addresses).


def _kw(args: argparse.Namespace) -> dict[str, Any]:
    return {"wait": not args.no_wait, "memo": args.memo}


def _mint(wallet: Wallet, args: argparse.Namespace) -> dict[str, Any]:
    return wallet.mint(args.address, args.amount, args.denom, **_kw(args))


def _send(wallet: Wallet, args: argparse.Namespace) -> dict[str, Any]:
    return wallet.send(args.address, args.amount, args.denom, **_kw(args))


def _burn(wallet: Wallet, args: argparse.Namespace) -> dict[str, Any]:
    return wallet.burn(args.amount, args.denom, **_kw(args))


def _multi_send(wallet: Wallet, args: argparse.Namespace) -> dict[str, Any]:
    return wallet.multi_send(args.outputs, args.denom, **_kw(args))


def _set_tier(wallet: Wallet, args: argparse.Namespace) -> dict[str, Any]:
    return wallet.set_tier(args.address, args.tier, **_kw(args))


def _request(wallet: Wallet, args: argparse.Namespace) -> dict[str, Any]:
    payer = address_to_bytes(args.payer) if args.payer else b""
    msg = MsgCreateRequest(args.denom, args.amount, args.memo, args.expiry_height, payer)
    result = wallet.submit([msg], wait=not args.no_wait)
    if result.get("height") is not None:
        receipt = wallet.client.tx(str(result["hash"]))
        result = {**result, "request_id": str(receipt["result"]["data"])}
    return result


def _pay(wallet: Wallet, args: argparse.Namespace) -> dict[str, Any]:
    return wallet.pay_request(args.request_id, **_kw(args))


def _cancel(wallet: Wallet, args: argparse.Namespace) -> dict[str, Any]:
    return wallet.cancel_request(args.request_id, **_kw(args))


def _refund(wallet: Wallet, args: argparse.Namespace) -> dict[str, Any]:
    return wallet.refund(args.request_id, args.amount, **_kw(args))


def _resolve_addresses(args: argparse.Namespace) -> None:
    """Turn key names into addresses, so that a bad argument fails before the key is decrypted."""
    if getattr(args, "address", None) is not None:
        args.address = resolve_address(args.address, args)
    if getattr(args, "outputs", None) is not None:
        args.outputs = [(resolve_address(who, args), value) for who, value in args.outputs]
    if getattr(args, "payer", None) is not None:
        args.payer = resolve_address(args.payer, args)


def _submit(
    args: argparse.Namespace, run: Callable[[Wallet, argparse.Namespace], dict[str, Any]]
) -> int:
    require_home(args)
    _resolve_addresses(args)
    key = signing_key(args)
    with client_for(args) as client:
        result = run(Wallet(key, client, fee=args.fee), args)
    if args.json:
        print_json(result)
        return 0
    print(f"hash       {result['hash']}")
    if result.get("height") is None:
        print("status     accepted by check_tx; not committed yet (see: citychain query tx HASH)")
    else:
        print(f"height     {result['height']}")
    if "request_id" in result:
        print(f"request_id {result['request_id']}")
    sys.stdout.flush()
    return 0
