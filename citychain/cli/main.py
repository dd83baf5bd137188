"""The ``citychain`` command (docs/cli.md): parse, run one command, map every error to a message.

Exit status: 0 success, 1 failure (a refused transaction, an invalid proof, a node that cannot be
reached, a wrong password), 2 a command line that cannot be carried out as written. No stack
trace reaches the user: errors print as ``error: <message>`` on stderr (set CITYCHAIN_DEBUG=1 to
see the traceback of an unexpected one).
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from collections.abc import Callable, Sequence
from http import HTTPStatus
from typing import Any, cast

from citychain.cli import (
    battery_passport,
    battery_predict,
    consortium,
    delegate,
    devices,
    keys,
    net,
    node,
    query,
    registry,
    tx,
    verify,
)
from citychain.cli.common import (
    EXIT_FAILURE,
    EXIT_USAGE,
    HOME_ENV,
    CliFailure,
    Parser,
    UsageError,
    print_json,
)
from citychain.client import ApiError, ClientError, TxFailed
from citychain.crypto.errors import CryptoError
from citychain.genesis import GenesisError
from citychain.home import HomeError
from citychain.net.layout import NetError

__all__ = ["build_parser", "main"]

DEBUG_ENV = "CITYCHAIN_DEBUG"
delegate.DELEGATED.update(battery_predict.BENCH_DELEGATED)


def _parents() -> dict[str, argparse.ArgumentParser]:
    """Option groups that commands share; each goes after the command words."""
    home = argparse.ArgumentParser(add_help=False)
    home.add_argument("--home", metavar="DIR", help=f"the chain's home folder (or ${HOME_ENV})")
    home.add_argument(
        "--node-dir",
        dest="home",
        metavar="DIR",
        help="a network node's folder (DIR/nodeI from `citychain net init`); same as --home",
    )
    node_url = argparse.ArgumentParser(add_help=False)
    node_url.add_argument(
        "--node", metavar="URL", help="the node's API (default: the one running from --home)"
    )
    password = argparse.ArgumentParser(add_help=False)
    password.add_argument(
        "--password-file",
        metavar="FILE",
        help="key password, first line of FILE (else $CITYCHAIN_PASSWORD, else a prompt)",
    )
    json_out = argparse.ArgumentParser(add_help=False)
    json_out.add_argument("--json", action="store_true", help="machine-readable output")
    return {"home": home, "node": node_url, "password": password, "json": json_out}


def build_parser() -> Parser:
    parser = Parser(
        prog="citychain",
        description="A permissioned ledger for a cashless, paperless city (docs/cli.md).",
        epilog="Exit status: 0 success, 1 failure, 2 usage error.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    parents = _parents()
    modules = (node, keys, tx, query, consortium, registry, verify, devices, delegate, net)
    for module in (*modules, battery_predict, battery_passport):
        module.register(commands, parents)
    return parser


def _print_error(message: str) -> None:
    print(f"error: {message}", file=sys.stderr)


def _tx_failed(exc: TxFailed, as_json: bool) -> int:
    if as_json:
        print_json(exc.result)
    height = exc.result.get("height")
    where = f"failed in block {height}" if height else "was refused at check_tx"
    _print_error(f"the transaction {where}: {exc.codespace}/{exc.code}: {exc.log}")
    print(f"  code:      {exc.code}", file=sys.stderr)
    print(f"  codespace: {exc.codespace}", file=sys.stderr)
    print(f"  log:       {exc.log}", file=sys.stderr)
    if exc.result.get("hash"):
        print(f"  hash:      {exc.result['hash']}", file=sys.stderr)
    return EXIT_FAILURE


def _api_error(exc: ApiError, args: argparse.Namespace) -> str:
    if exc.status == 0:
        hint = ""
        if not getattr(args, "node", None):
            hint = " (is it running? start it with: citychain start --home DIR)"
        return f"{exc.message}{hint}"
    if exc.status == HTTPStatus.NOT_FOUND:
        return f"not found: {exc.message}"
    return f"the node refused the request (HTTP {exc.status}): {exc.message}"


def run(args: argparse.Namespace) -> int:
    """Run the parsed command; every expected failure becomes ``error: ...`` and a status."""
    func = cast(Callable[[argparse.Namespace], int], args.func)
    try:
        return func(args)
    except UsageError as exc:
        _print_error(str(exc))
        return EXIT_USAGE
    except CliFailure as exc:
        _print_error(str(exc))
        return EXIT_FAILURE
    except TxFailed as exc:
        return _tx_failed(exc, bool(getattr(args, "json", False)))
    except ApiError as exc:
        _print_error(_api_error(exc, args))
        return EXIT_FAILURE
    except (ClientError, HomeError, CryptoError, GenesisError, NetError, ValueError) as exc:
        _print_error(str(exc) or type(exc).__name__)
        return EXIT_FAILURE
    except OSError as exc:
        _print_error(_os_error(exc))
        return EXIT_FAILURE


def _os_error(exc: OSError) -> str:
    if exc.filename is not None and exc.strerror:
        return f"{exc.filename}: {exc.strerror}"
    return str(exc) or type(exc).__name__


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    try:
        delegated = delegate.delegated_command(arguments)
        if delegated is not None:
            module_name, rest = delegated
            namespace = argparse.Namespace(
                func=lambda _: delegate.run_delegated(module_name, rest), json="--json" in rest
            )
            try:
                return run(namespace)
            except SystemExit as exc:  # the delegate's own argparse: --help or a usage error
                return _exit_code(exc)
        parser = build_parser()
        try:
            args = parser.parse_args(arguments)
        except SystemExit as exc:  # argparse: --help (0) or a usage error (2)
            return _exit_code(exc)
        return run(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (`citychain keys list | head -1`): nothing left to tell it.
        _silence_stdout()
        return EXIT_FAILURE
    except Exception as exc:  # the last line of defence: no trace for the user
        if os.environ.get(DEBUG_ENV):
            traceback.print_exc()
        _print_error(f"unexpected {type(exc).__name__}: {exc} (set {DEBUG_ENV}=1 for details)")
        return EXIT_FAILURE


def _exit_code(exc: SystemExit) -> int:
    code: Any = exc.code
    if code is None:
        return 0
    return code if isinstance(code, int) else EXIT_FAILURE


def _silence_stdout() -> None:
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


if __name__ == "__main__":
    sys.exit(main())
