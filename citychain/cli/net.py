"""``citychain net``: a local consortium of CometBFT validators on loopback (docs/network.md)."""

from __future__ import annotations

import argparse
import re
from pathlib import Path
from typing import Any

from citychain.cli.common import UsageError, positive, print_json, read_password
from citychain.net.create import DEFAULT_BASE_PORT, NetOptions, add_node, create_network
from citychain.net.layout import NetLayout, NodeSpec
from citychain.net.process import node_status, start_node, stop_node

__all__ = ["register"]

# a base port: above the privileged ones, and room for the ports a network counts up from it
PORT_RANGE = (1024, 65_000)


def _port(text: str) -> int:
    if not text.isdigit() or not PORT_RANGE[0] <= int(text) <= PORT_RANGE[1]:
        raise argparse.ArgumentTypeError(f"a port 1024..65000, got {text!r}")
    return int(text)


def _duration(text: str) -> str:
    """A Go duration as CometBFT's config.toml takes it, limited to what a local network needs."""
    if not re.fullmatch(r"[1-9][0-9]{0,5}(ms|s)", text):
        raise argparse.ArgumentTypeError(f"a duration such as 500ms or 2s, got {text!r}")
    return text


def register(commands: Any, parents: dict[str, argparse.ArgumentParser]) -> None:
    net = commands.add_parser("net", help="a local consortium network of CometBFT validators")
    sub = net.add_subparsers(dest="net_command", required=True, metavar="COMMAND")
    directory = argparse.ArgumentParser(add_help=False)
    directory.add_argument("--dir", required=True, type=Path, help="the network's folder")
    which = argparse.ArgumentParser(add_help=False)
    which.add_argument(
        "--node", type=int, metavar="I", help="only node I (default: every node)", dest="index"
    )

    init = sub.add_parser(
        "init",
        parents=[directory, parents["password"], parents["json"]],
        help="create N member nodes sharing one genesis",
        description="Create DIR/node0..nodeN-1: a citychain home and a CometBFT home each, "
        "one validator per member organisation, ports from --base-port (10 per node). node0 "
        "also holds the role keys of `citychain init` (issuer, kyc, ...).",
    )
    init.add_argument("--validators", type=positive, default=4, help="default: %(default)s")
    init.add_argument("--chain-id", default="citychain-net", help="default: %(default)s")
    init.add_argument("--base-port", type=_port, default=DEFAULT_BASE_PORT)
    init.add_argument(
        "--timeout-commit",
        type=_duration,
        default="500ms",
        help="CometBFT's pause after a block (%(default)s)",
    )
    init.set_defaults(func=cmd_init)

    add = sub.add_parser(
        "add-node",
        parents=[directory, parents["password"], parents["json"]],
        help="a node for an organisation that is to join (a validator once admitted)",
    )
    add.add_argument("--name", help="the organisation's name")
    add.set_defaults(func=cmd_add_node)

    start = sub.add_parser("start", parents=[directory, which], help="start nodes")
    start.set_defaults(func=cmd_start)
    stop = sub.add_parser("stop", parents=[directory, which], help="stop nodes")
    stop.set_defaults(func=cmd_stop)
    status = sub.add_parser(
        "status",
        parents=[directory, parents["json"]],
        help="height, app hash and peers of every node",
    )
    status.set_defaults(func=cmd_status)


def _selected(args: argparse.Namespace) -> tuple[NetLayout, list[NodeSpec]]:
    layout = NetLayout(args.dir.expanduser().absolute())
    _, specs = layout.load()
    if args.index is None:
        return layout, specs
    if not 0 <= args.index < len(specs):
        raise UsageError(f"--node must be 0..{len(specs) - 1}, got {args.index}")
    return layout, [specs[args.index]]


def cmd_init(args: argparse.Namespace) -> int:
    password = read_password(args, new=True)
    directory = args.dir.expanduser().absolute()
    specs = create_network(
        directory,
        args.validators,
        password=password,
        chain_id=args.chain_id,
        base_port=args.base_port,
        options=NetOptions(timeout_commit=args.timeout_commit),
    )
    if args.json:
        print_json({"dir": str(directory), "nodes": [_spec_view(s) for s in specs]})
        return 0
    print(f"created a {len(specs)}-member network in {directory}")
    for spec in specs:
        print(f"  node{spec.index}  {spec.name:<24} api {spec.api_url}  rpc {spec.rpc_url}")
    print(f"start it with: citychain net start --dir {directory}")
    return 0


def _spec_view(spec: NodeSpec) -> dict[str, Any]:
    return {
        "node": spec.index,
        "name": spec.name,
        "dir": spec.folder,
        "api": spec.api_url,
        "rpc": spec.rpc_url,
        "p2p_port": spec.p2p_port,
        "node_id": spec.node_id,
    }


def cmd_add_node(args: argparse.Namespace) -> int:
    password = read_password(args, new=True)
    spec, operator, pub = add_node(
        args.dir.expanduser().absolute(), password=password, name=args.name
    )
    view = {**_spec_view(spec), "operator": operator, "validator_public_key": pub.hex()}
    if args.json:
        print_json(view)
        return 0
    print(f"created node{spec.index} for {spec.name}")
    print(f"  operator address:     {operator}")
    print(f"  validator public key: {pub.hex()}")
    print(
        "members admit it with: citychain tx consortium propose admit-member "
        f"--name {spec.name!r} --operator {operator} --validator-key {pub.hex()} --power 10"
    )
    return 0


def cmd_start(args: argparse.Namespace) -> int:
    layout, specs = _selected(args)
    for spec in specs:
        started = start_node(layout, spec)
        what = " and ".join(started) if started else "nothing (already running)"
        print(f"node{spec.index} {spec.name}: started {what}")
    return 0


def cmd_stop(args: argparse.Namespace) -> int:
    layout, specs = _selected(args)
    for spec in specs:
        stopped = stop_node(layout, spec)
        what = " and ".join(stopped) if stopped else "nothing (not running)"
        print(f"node{spec.index} {spec.name}: stopped {what}")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    layout = NetLayout(args.dir.expanduser().absolute())
    _, specs = layout.load()
    rows = [node_status(layout, spec) for spec in specs]
    if args.json:
        print_json(rows)
        return 0
    print(f"{'node':<6}{'name':<24}{'running':<9}{'height':>8}  {'peers':>5}  app hash")
    for row in rows:
        height = "-" if row["height"] is None else str(row["height"])
        peers = "-" if row["peers"] is None else str(row["peers"])
        print(
            f"node{row['node']:<2}{row['name']:<24}{'yes' if row['running'] else 'no':<9}"
            f"{height:>8}  {peers:>5}  {row['app_hash'] or '-'}"
        )
    return 0
