"""``citychain net``: a consortium of CometBFT validators, on one machine or one member per host
(docs/network.md)."""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any

from citychain.cli.common import UsageError, positive, print_json, read_password
from citychain.net.coordinator import build_genesis, peers_document
from citychain.net.create import (
    DEFAULT_BASE_PORT,
    add_node,
    create_hosts_network,
    create_network,
)
from citychain.net.hosts import HostEntry, read_hosts_file
from citychain.net.join import join
from citychain.net.keygen import NetOptions, check_new_home, keygen
from citychain.net.layout import NetError, NetLayout, NodeSpec
from citychain.net.member import (
    DEFAULT_P2P_PORT,
    MAX_GENESIS_BYTES,
    MEMBER_FILE,
    ROLE_NAMES,
    MemberPlan,
    NetInputError,
    check_roles,
    load_json_file,
    read_member,
)
from citychain.net.process import (
    NodeProcesses,
    home_status,
    node_status,
    start_node,
    start_processes,
    stop_node,
    stop_processes,
)

__all__ = ["register"]

# a base port: above the privileged ones, and room for the ports a network counts up from it
PORT_RANGE = (1024, 65_000)
GENERATED_PASSWORD_BYTES = 18  # 24 URL-safe characters
PASSWORDS_DIR = "passwords"


def _port(text: str) -> int:
    if not text.isdigit() or not PORT_RANGE[0] <= int(text) <= PORT_RANGE[1]:
        raise argparse.ArgumentTypeError(f"a port 1024..65000, got {text!r}")
    return int(text)


def _duration(text: str) -> str:
    """A Go duration as CometBFT's config.toml takes it, limited to what a network needs."""
    if not re.fullmatch(r"[1-9][0-9]{0,5}(ms|s)", text):
        raise argparse.ArgumentTypeError(f"a duration such as 500ms or 2s, got {text!r}")
    return text


def _roles(text: str) -> tuple[str, ...]:
    try:
        return check_roles([r for r in text.split(",") if r])
    except NetInputError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _input_errors(command: Callable[[argparse.Namespace], int]) -> Callable[..., int]:
    """A malformed hosts, member, peers or genesis file is a usage error (exit 2)."""

    def run(args: argparse.Namespace) -> int:
        try:
            return command(args)
        except NetInputError as exc:
            raise UsageError(str(exc)) from None

    return run


def _timeouts(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--timeout-commit",
        type=_duration,
        default="500ms",
        help="CometBFT's pause after a block (%(default)s)",
    )
    parser.add_argument(
        "--timeout-propose",
        type=_duration,
        default="1500ms",
        help="how long validators wait for a proposal (%(default)s)",
    )


def _where(required: bool) -> argparse.ArgumentParser:
    """``--dir DIR`` (a network on this machine, ``--node I`` for one) or ``--home HOME``."""
    parent = argparse.ArgumentParser(add_help=False)
    group = parent.add_mutually_exclusive_group(required=required)
    group.add_argument("--dir", type=Path, help="the network's folder")
    group.add_argument("--home", type=Path, help="one member's own home (net keygen, net join)")
    parent.add_argument(
        "--node", type=int, metavar="I", help="with --dir: only node I (default: every node)",
        dest="index",
    )  # fmt: skip
    return parent


def register(commands: Any, parents: dict[str, argparse.ArgumentParser]) -> None:
    net = commands.add_parser("net", help="a consortium network of CometBFT validators")
    sub = net.add_subparsers(dest="net_command", required=True, metavar="COMMAND")
    directory = argparse.ArgumentParser(add_help=False)
    directory.add_argument("--dir", required=True, type=Path, help="the network's folder")
    _register_init(sub, directory, parents)
    _register_join_flow(sub, parents)

    add = sub.add_parser(
        "add-node",
        parents=[directory, parents["password"], parents["json"]],
        help="a node for an organisation that is to join (a validator once admitted)",
    )
    add.add_argument("--name", help="the organisation's name")
    add.set_defaults(func=cmd_add_node)

    start = sub.add_parser("start", parents=[_where(True)], help="start nodes")
    start.set_defaults(func=cmd_start)
    stop = sub.add_parser("stop", parents=[_where(True)], help="stop nodes")
    stop.set_defaults(func=cmd_stop)
    status = sub.add_parser(
        "status",
        parents=[_where(True), parents["json"]],
        help="height, app hash and peers of every node",
    )
    status.set_defaults(func=cmd_status)


def _register_init(
    sub: Any, directory: argparse.ArgumentParser, parents: dict[str, argparse.ArgumentParser]
) -> None:
    init = sub.add_parser(
        "init",
        parents=[directory, parents["password"], parents["json"]],
        help="create the members' homes and their shared genesis",
        description="Create DIR/node0..nodeN-1: a citychain home and a CometBFT home each, "
        "one validator per member organisation. Without --hosts every node runs on this "
        "machine's loopback (ports from --base-port, 10 per node) under one key password. "
        "With --hosts FILE each member is on its own host: copy DIR/nodeI to that host; each "
        "member has its own password (password_file in FILE, else generated into "
        "DIR/passwords/nodeI.txt, to hand over apart from the home). Each role key (issuer, "
        "kyc, registrar, oracle, manufacturer) is made in the home of the member holding it.",
    )
    size = init.add_mutually_exclusive_group()
    size.add_argument("--validators", type=positive, help="members on loopback (default: 4)")
    size.add_argument(
        "--hosts", type=Path, metavar="FILE", help="one member per line: HOST[:P2P_PORT] [NAME]"
    )
    init.add_argument("--chain-id", default="citychain-net", help="default: %(default)s")
    init.add_argument(
        "--base-port",
        type=_port,
        default=DEFAULT_BASE_PORT,
        help="first port on loopback, 10 per node (%(default)s; not with --hosts)",
    )
    _timeouts(init)
    init.set_defaults(func=_input_errors(cmd_init))


def _register_join_flow(sub: Any, parents: dict[str, argparse.ArgumentParser]) -> None:
    keygen_cmd = sub.add_parser(
        "keygen",
        parents=[parents["password"], parents["json"]],
        help="on a member's machine: its home and keys, and its public member file",
        description="Make HOME for one member: CometBFT's validator and node keys, the "
        "operator key and the keys of the roles it holds (encrypted with this member's "
        f"password), and HOME/{MEMBER_FILE}, the public file the member sends to the "
        "coordinator of `net genesis`. No private key leaves HOME.",
    )
    keygen_cmd.add_argument("--home", type=Path, required=True, help="the new home (empty)")
    keygen_cmd.add_argument("--name", required=True, help="the member organisation")
    keygen_cmd.add_argument(
        "--host", required=True, help="the address the other members reach this node at"
    )
    keygen_cmd.add_argument(
        "--p2p-port", type=_port, default=DEFAULT_P2P_PORT,
        help="p2p port; RPC, ABCI and API take the next three (%(default)s)",
    )  # fmt: skip
    keygen_cmd.add_argument(
        "--roles", type=_roles, default=(), help=f"comma-separated: {','.join(ROLE_NAMES)}"
    )
    keygen_cmd.add_argument(
        "--rpc-listen", default="127.0.0.1", help="CometBFT RPC bind address (%(default)s)"
    )
    keygen_cmd.add_argument(
        "--api-listen", default="127.0.0.1", help="HTTP API bind address (%(default)s)"
    )
    keygen_cmd.add_argument("--out", type=Path, help="also write the public member file here")
    _timeouts(keygen_cmd)
    keygen_cmd.set_defaults(func=_input_errors(cmd_keygen))

    genesis = sub.add_parser(
        "genesis",
        parents=[parents["json"]],
        help="the coordinator: genesis.json and peers.json from the members' public files",
    )
    genesis.add_argument("--members", type=Path, nargs="+", required=True, metavar="FILE")
    genesis.add_argument("--chain-id", default="citychain-net", help="default: %(default)s")
    genesis.add_argument("--out", type=Path, required=True, help="the genesis file to write")
    genesis.add_argument(
        "--peers-out", type=Path, help="the peers file to write (default: peers.json beside --out)"
    )
    genesis.set_defaults(func=_input_errors(cmd_genesis))

    join_cmd = sub.add_parser(
        "join",
        parents=[parents["json"]],
        help="on a member's machine: install the genesis and the peers in its home",
    )
    join_cmd.add_argument("--home", type=Path, required=True, help="the home from net keygen")
    join_cmd.add_argument("--genesis", type=Path, required=True, metavar="FILE")
    join_cmd.add_argument("--peers", type=Path, required=True, metavar="FILE")
    join_cmd.set_defaults(func=_input_errors(cmd_join))


def _options(args: argparse.Namespace) -> NetOptions:
    return NetOptions(timeout_commit=args.timeout_commit, timeout_propose=args.timeout_propose)


def _member_password(entry: HostEntry) -> str | None:
    if entry.password_file is None:
        return None
    try:
        text = entry.password_file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise NetInputError(f"cannot read password_file {entry.password_file}: {exc}") from None
    password = text.splitlines()[0] if text else ""
    if not password:
        raise NetInputError(f"password_file {entry.password_file} is empty")
    return password


def _write_password(path: Path, password: str) -> None:
    path.parent.mkdir(mode=0o700, exist_ok=True)
    _write_new(path, password + "\n", mode=0o600)


def _init_hosts(args: argparse.Namespace, directory: Path) -> tuple[list[NodeSpec], list[Path]]:
    if args.password_file:
        raise UsageError(
            "with --hosts each member has its own password: give password_file per member in "
            "the hosts file (JSON), or let net init generate them"
        )
    entries = read_hosts_file(args.hosts)
    given = [_member_password(entry) for entry in entries]
    passwords = [p or secrets.token_urlsafe(GENERATED_PASSWORD_BYTES) for p in given]
    specs = create_hosts_network(
        directory,
        [entry.plan for entry in entries],
        passwords=passwords,
        chain_id=args.chain_id,
        options=_options(args),
    )
    generated = []
    for spec, password, chosen in zip(specs, passwords, given, strict=True):
        if chosen is None:
            path = directory / PASSWORDS_DIR / f"{spec.folder}.txt"
            _write_password(path, password)
            generated.append(path)
    return specs, generated


def cmd_init(args: argparse.Namespace) -> int:
    directory = args.dir.expanduser().absolute()
    generated: list[Path] = []
    if args.hosts is not None:
        specs, generated = _init_hosts(args, directory)
    else:
        password = read_password(args, new=True)
        specs = create_network(
            directory,
            args.validators or 4,
            password=password,
            chain_id=args.chain_id,
            base_port=args.base_port,
            options=_options(args),
        )
    roles = NetLayout(directory).role_holders()
    if args.json:
        print_json(
            {
                "dir": str(directory),
                "nodes": [_spec_view(s) for s in specs],
                "roles": {role: specs[i].folder for role, i in roles.items()},
                "generated_passwords": [str(p) for p in generated],
            }
        )
        return 0
    print(f"created a {len(specs)}-member network in {directory}")
    for spec in specs:
        held = ", ".join(sorted(r for r, i in roles.items() if i == spec.index)) or "-"
        where = spec.api_url if args.hosts is None else f"host {spec.host}:{spec.p2p_port}"
        print(f"  node{spec.index}  {spec.name:<24} {where}  role keys: {held}")
    if args.hosts is None:
        print(f"start it with: citychain net start --dir {directory}")
        return 0
    print("copy each DIR/nodeI to its member's host, then there: citychain net start --home HOME")
    for path in generated:
        print(f"  generated password (hand it to its member, apart from the home): {path}")
    return 0


def _spec_view(spec: NodeSpec) -> dict[str, Any]:
    return {
        "node": spec.index,
        "name": spec.name,
        "dir": spec.folder,
        "host": spec.host,
        "api": spec.api_url,
        "rpc": spec.rpc_url,
        "p2p_port": spec.p2p_port,
        "node_id": spec.node_id,
    }


def cmd_keygen(args: argparse.Namespace) -> int:
    home = args.home.expanduser().absolute()
    plan = MemberPlan(
        name=args.name,
        host=args.host,
        p2p_port=args.p2p_port,
        roles=args.roles,
        rpc_listen=args.rpc_listen,
        api_listen=args.api_listen,
    )
    check_new_home(home)  # before asking for a password
    password = read_password(args, new=True)
    info = keygen(home, plan, password, _options(args))
    doc = info.to_json()
    if args.out is not None:
        args.out.write_text((home / MEMBER_FILE).read_text())
    if args.json:
        print_json(doc)
        return 0
    print(f"made the keys of {info.name} in {home}")
    print(f"  node id {info.node_id}, validator key {info.validator_public_key}")
    print(f"  operator {info.operator}; role keys: {', '.join(info.roles) or '-'}")
    print(f"send the public file {args.out or home / MEMBER_FILE} to the genesis coordinator")
    return 0


def _write_new(path: Path, text: str, mode: int = 0o644) -> None:
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    except FileExistsError:
        raise NetError(f"{path} exists; choose another file") from None
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(text)


def cmd_genesis(args: argparse.Namespace) -> int:
    members = [read_member(path) for path in args.members]
    genesis = build_genesis(members, args.chain_id)
    peers = peers_document(args.chain_id, members)
    peers_out = args.peers_out or args.out.parent / "peers.json"
    _write_new(args.out, json.dumps(genesis, indent=2) + "\n")
    _write_new(peers_out, json.dumps(peers, indent=2) + "\n")
    if args.json:
        print_json({"genesis": str(args.out), "peers": str(peers_out), "members": len(members)})
        return 0
    print(f"wrote {args.out} ({len(members)} validators, chain {args.chain_id}) and {peers_out}")
    print("each member: citychain net join --home HOME --genesis GENESIS --peers PEERS")
    return 0


def cmd_join(args: argparse.Namespace) -> int:
    home = args.home.expanduser().absolute()
    genesis = load_json_file(args.genesis, "genesis", MAX_GENESIS_BYTES)
    peers = load_json_file(args.peers, "peers file")
    result = join(home, genesis, peers)
    view = {
        "home": str(home),
        "chain_id": result.chain_id,
        "validator": result.validator,
        "peers": [p.address for p in result.peers],
        "allow_duplicate_ip": result.allow_duplicate_ip,
    }
    if args.json:
        print_json(view)
        return 0
    role = "a validator" if result.validator else "not a validator (until members admit it)"
    print(f"{home} joined chain {result.chain_id} as {role}, {len(result.peers)} peers")
    print(f"start it with: citychain net start --home {home}")
    return 0


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


def _selected(args: argparse.Namespace) -> tuple[NetLayout, list[NodeSpec]]:
    layout = NetLayout(args.dir.expanduser().absolute())
    _, specs = layout.load()
    if args.index is None:
        return layout, specs
    if not 0 <= args.index < len(specs):
        raise UsageError(f"--node must be 0..{len(specs) - 1}, got {args.index}")
    return layout, [specs[args.index]]


def _home_only(args: argparse.Namespace) -> Path | None:
    if args.home is None:
        return None
    if args.index is not None:
        raise UsageError("--node goes with --dir, not --home")
    return Path(args.home).expanduser().absolute()


def cmd_start(args: argparse.Namespace) -> int:
    home = _home_only(args)
    if home is not None:
        node = NodeProcesses.of_home(home)
        started = start_processes(node)
        print(f"{node.name}: started {' and '.join(started) or 'nothing (already running)'}")
        return 0
    layout, specs = _selected(args)
    for spec in specs:
        started = start_node(layout, spec)
        what = " and ".join(started) if started else "nothing (already running)"
        print(f"node{spec.index} {spec.name}: started {what}")
    return 0


def cmd_stop(args: argparse.Namespace) -> int:
    home = _home_only(args)
    if home is not None:
        stopped = stop_processes(home)
        print(f"{home}: stopped {' and '.join(stopped) or 'nothing (not running)'}")
        return 0
    layout, specs = _selected(args)
    for spec in specs:
        stopped = stop_node(layout, spec)
        what = " and ".join(stopped) if stopped else "nothing (not running)"
        print(f"node{spec.index} {spec.name}: stopped {what}")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    home = _home_only(args)
    if home is not None:
        rows = [home_status(home)]
    else:
        layout, specs = _selected(args)
        rows = [node_status(layout, spec) for spec in specs]
    if args.json:
        print_json(rows if home is None else rows[0])
        return 0
    print(f"{'node':<6}{'name':<24}{'running':<9}{'height':>8}  {'peers':>5}  app hash")
    for row in rows:
        height = "-" if row["height"] is None else str(row["height"])
        peers = "-" if row["peers"] is None else str(row["peers"])
        node = "-" if row["node"] is None else f"node{row['node']}"
        print(
            f"{node:<6}{row['name']:<24}{'yes' if row['running'] else 'no':<9}"
            f"{height:>8}  {peers:>5}  {row['app_hash'] or '-'}"
        )
    return 0
