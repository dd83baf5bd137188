"""``citychain init``, ``citychain start`` and ``citychain status``: a chain's home and its node."""

from __future__ import annotations

import argparse
import json
import os
import signal
from pathlib import Path
from types import FrameType
from typing import Any

from citychain.cli.common import (
    CliFailure,
    UsageError,
    client_for,
    host_port,
    positive,
    print_json,
    read_password,
    require_home,
)
from citychain.client import ApiError, Client
from citychain.home import DEFAULT_API, Home
from citychain.init_home import init_home

__all__ = ["register"]


def register(commands: Any, parents: dict[str, argparse.ArgumentParser]) -> None:
    init = commands.add_parser(
        "init",
        parents=[parents["home"], parents["password"], parents["json"]],
        help="create a single-node chain: genesis, validator key, role keys",
        description="Create HOME with config, genesis, the validator key and the role keys "
        "(issuer, kyc, registrar, oracle, manufacturer), encrypted with the key password.",
    )
    init.add_argument("--chain-id", default="citychain-local", help="default: %(default)s")
    init.add_argument("--moniker", default="validator", help="the validator's name")
    init.add_argument(
        "--api", type=host_port, default=DEFAULT_API, help="API listen address (%(default)s)"
    )
    init.set_defaults(func=cmd_init)

    start = commands.add_parser(
        "start",
        parents=[parents["home"]],
        help="run the node and its HTTP API in the foreground",
        description="Run the node until SIGINT or SIGTERM. HOME/node.json tells other commands "
        "where its API is.",
    )
    start.add_argument("--api", type=host_port, help="HOST:PORT to listen on (port 0: any free)")
    start.add_argument(
        "--verifier-workers", type=positive, default=1, help="signature-checking processes"
    )
    start.add_argument(
        "--tls-cert",
        type=Path,
        metavar="FILE",
        help="serve the API over HTTPS with this certificate chain (PEM; needs --tls-key)",
    )
    start.add_argument(
        "--tls-key", type=Path, metavar="FILE", help="the certificate's private key (PEM)"
    )
    start.set_defaults(func=cmd_start)

    status = commands.add_parser(
        "status",
        parents=[parents["home"], parents["node"], parents["json"]],
        help="the running node's chain, height and app hash",
    )
    status.set_defaults(func=cmd_status)


def cmd_init(args: argparse.Namespace) -> int:
    home_arg = require_home(args)
    if home_arg.exists():
        raise CliFailure(f"{home_arg.path} already holds a chain; choose another --home")
    password = read_password(args, new=True)
    home, genesis, addresses = init_home(
        home_arg.path,
        password=password,
        chain_id=args.chain_id,
        moniker=args.moniker,
        api=args.api,
    )
    # Imported here: the node package pulls in the server stack, which init does not need.
    from citychain.node.operator import ensure_operator_token

    ensure_operator_token(home)
    report = {
        "home": str(home.path),
        "chain_id": genesis.chain_id,
        "config": str(home.config_file),
        "genesis": str(home.genesis_file),
        "validator_key": str(home.validator_key_file),
        "keys": str(home.keys_dir),
        "operator_token": str(home.operator_token_file),
        "api": args.api,
        "addresses": addresses,
    }
    if args.json:
        print_json(report)
        return 0
    print(f"initialised chain {genesis.chain_id!r} in {home.path}")
    print(f"  config         {home.config_file}")
    print(f"  genesis        {home.genesis_file}")
    print(f"  validator key  {home.validator_key_file}")
    print(f"  keystore       {home.keys_dir}")
    print(f"  operator token {home.operator_token_file}")
    for name, address in addresses.items():
        print(f"  {name:<14} {address}")
    print(f"next: citychain start --home {home.path}")
    return 0


def _running_node(home: Home) -> str | None:
    """The API of a node already serving from ``home``, if one answers."""
    try:
        doc = json.loads(home.node_file.read_text())
        pid, url = int(doc["pid"]), str(doc["api"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    try:
        os.kill(pid, 0)
    except OSError:
        return None  # a stale node.json from a node that was killed
    try:
        with Client(url, timeout=2.0, ca_file=home.api_ca_file()) as client:
            client.health()
    except ApiError:
        return None
    return url


def cmd_start(args: argparse.Namespace) -> int:
    home = require_home(args)
    home.require()
    if (args.tls_cert is None) != (args.tls_key is None):
        raise UsageError("--tls-cert and --tls-key go together")
    running = _running_node(home)
    if running:
        raise CliFailure(f"a node is already running from {home.path} at {running}")
    # Imported here: the server stack (uvicorn, FastAPI) is only needed by this command.
    from citychain.node.run import run_node

    # While serving, the node handles SIGTERM itself (a graceful stop). Before that, while it
    # loads its state, ours turns SIGTERM into an exception, so that the command exits 0
    # instead of dying by the signal.
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        failure = run_node(
            home,
            args.api,
            verifier_workers=args.verifier_workers,
            tls_cert=args.tls_cert,
            tls_key=args.tls_key,
        )
    except (KeyboardInterrupt, _Terminated):
        return 0
    except (OSError, ValueError) as exc:  # an address in use, a setting it cannot use
        raise CliFailure(f"the node could not run: {exc}") from None
    except RuntimeError as exc:  # StateCorruptedError and the like: refuse to go on
        raise CliFailure(f"the node stopped: {exc}") from None
    finally:
        signal.signal(signal.SIGTERM, previous)
    if failure is not None:  # the engine stopped on its own: a supervisor should know
        raise CliFailure(f"the node stopped: {failure}")
    return 0


class _Terminated(Exception):
    """SIGTERM arrived: the node has shut down and the command ends normally."""


def _raise_terminated(signum: int, frame: FrameType | None) -> None:
    raise _Terminated


def cmd_status(args: argparse.Namespace) -> int:
    with client_for(args) as client:
        status = client.status()
    if args.json:
        print_json(status)
        return 0
    validator = status.get("validator") or {}
    rows = [
        ("node", client.url),
        ("chain", status.get("chain_id")),
        ("engine", status.get("engine")),
        ("height", status.get("height")),
        ("app hash", status.get("app_hash")),
        ("latest block", status.get("latest_block_hash")),
        ("validator", f"{validator.get('name')} {validator.get('public_key')}"),
        ("mempool", status.get("mempool_size")),
    ]
    for label, value in rows:
        print(f"{label:<13} {value}")
    return 0
