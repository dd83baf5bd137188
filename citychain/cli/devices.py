"""``citychain device ...`` and ``citychain gateway``: devices on the ledger and the MQTT
telemetry gateway (docs/modules/devices.md).

```
citychain device register --kind K (--key-file FILE [--create-key] | --public-key HEX
    --possession HEX) (--metadata HEX | --metadata-file FILE) --from OWNER
citychain device rotate DEVICE_ID --key-file FILE [--create-key] --from OWNER
citychain device decommission DEVICE_ID --from OWNER
citychain device show DEVICE_ID
citychain device prove REPORT_ID --gateway-dir DIR [--out FILE]
citychain gateway --broker HOST:PORT --from KEY --gateway-device ID --store DIR
    [--mqtt-user NAME [--mqtt-password-file FILE]]
    [--shards N] [--batch-size N] [--batch-ms T] [--metrics HOST:PORT]
```

``--mqtt-user`` is the gateway's broker account; its password is the first line of
``--mqtt-password-file``, else ``$CITYCHAIN_MQTT_PASSWORD``.

``--shards N`` runs N gateway processes, each on its own buckets of devices with its own store
(``DIR/shard-k``), this process anchoring for all (citychain.telemetry.gateway.shards);
``--shard K/N`` runs one shard alone, as those processes do.

A device key file holds the device's 32-byte Ed25519 seed in hex (mode 0600); on a real device
it never leaves the device, which then signs the possession statement itself (``--public-key``
and ``--possession``).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, start_http_server

from citychain.cli.common import (
    CliFailure,
    UsageError,
    client_for,
    hex_string,
    host_port,
    positive,
    print_json,
)
from citychain.cli.tx import signing_key, signing_options
from citychain.client import ApiError, Client, Wallet
from citychain.codec import decode
from citychain.crypto.address import address_from_bytes, address_to_bytes
from citychain.crypto.keys import PrivateKey
from citychain.modules.devices import (
    KINDS,
    STATUS_NAMES,
    Device,
    MsgDecommission,
    MsgRegisterDevice,
    MsgRotateKey,
    device_id_of,
    device_key,
    possession_statement,
)
from citychain.telemetry.broker_access import MQTT_PASSWORD_ENV
from citychain.telemetry.gateway import Gateway, GatewayConfig, GatewayStore
from citychain.telemetry.gateway.prove import NoGatewayStore, NotProvable, prove_report
from citychain.telemetry.gateway.service import BUCKETS, Anchorer
from citychain.telemetry.gateway.shards import ShardProcess, ShardSupervisor, write_layout
from citychain.telemetry.gateway.store import shard_dir

__all__ = ["register"]

id_arg = hex_string(32, "device id")
report_id_arg = hex_string(32, "report id")
key_arg = hex_string(32, "public key")
sig_arg = hex_string(64, "possession signature")


def register(commands: Any, parents: dict[str, argparse.ArgumentParser]) -> None:
    device = commands.add_parser("device", help="devices: register, rotate keys, prove reports")
    sub = device.add_subparsers(dest="device_command", required=True, metavar="COMMAND")
    node_parents = [parents["home"], parents["node"], parents["json"]]
    signed = [_signing_parent(), *node_parents, parents["password"]]
    _add_device_commands(sub, signed, node_parents)
    _add_gateway(commands, [parents["home"], parents["node"], parents["password"]])


def _add_device_commands(
    sub: Any, signed: list[argparse.ArgumentParser], node_parents: list[argparse.ArgumentParser]
) -> None:
    p = sub.add_parser("register", parents=signed, help="register a device you own")
    p.add_argument("--kind", required=True, choices=KINDS)
    _key_options(p, "the device's key file (seed hex)")
    p.add_argument("--public-key", type=key_arg, help="the device's public key (no key file)")
    p.add_argument("--possession", type=sig_arg, help="the device's possession signature")
    meta = p.add_mutually_exclusive_group(required=True)
    meta.add_argument("--metadata", type=hex_string(32, "metadata"), help="32-byte commitment")
    meta.add_argument("--metadata-file", help="commit to this file's sha256 (model, serial...)")
    p.set_defaults(func=_register)

    p = sub.add_parser("rotate", parents=signed, help="give a device a new key")
    p.add_argument("device_id", metavar="DEVICE_ID", type=id_arg)
    _key_options(p, "the new key file (seed hex)", required=True)
    p.set_defaults(func=_rotate)

    p = sub.add_parser("decommission", parents=signed, help="retire a device for good")
    p.add_argument("device_id", metavar="DEVICE_ID", type=id_arg)
    p.set_defaults(func=_decommission)

    p = sub.add_parser("show", parents=node_parents, help="a device's ledger record")
    p.add_argument("device_id", metavar="DEVICE_ID", type=id_arg)
    p.set_defaults(func=_show)

    p = sub.add_parser(
        "prove",
        parents=node_parents,
        help="prove a report is in an anchored batch (check it with `verify proof`)",
    )
    p.add_argument("report_id", metavar="REPORT_ID", type=report_id_arg)
    p.add_argument(
        "--gateway-dir",
        required=True,
        metavar="DIR",
        help="the gateway's --store (of a sharded gateway: the whole, or the report's shard)",
    )
    p.add_argument("--out", metavar="FILE", help="write the bundle here (default: stdout)")
    p.set_defaults(func=_prove)


def _add_gateway(commands: Any, gateway_parents: list[argparse.ArgumentParser]) -> None:
    g = commands.add_parser(
        "gateway",
        parents=gateway_parents,
        help="run the MQTT telemetry gateway",
        description="Subscribe to signed device reports (QoS 1, persistent session), verify, "
        "store and anchor them in batches. Runs until SIGINT or SIGTERM.",
    )
    g.add_argument("--broker", required=True, type=host_port, help="MQTT broker HOST:PORT")
    g.add_argument("--from", dest="from_key", help="the gateway owner's key (signs anchors)")
    g.add_argument("--gateway-device", required=True, type=id_arg, help="its device id")
    g.add_argument("--store", required=True, metavar="DIR", help="the gateway's own store")
    g.add_argument("--batch-size", type=positive, default=1000, help="reports per batch (shard)")
    g.add_argument("--batch-ms", type=positive, default=1000, help="longest wait to cut a batch")
    g.add_argument(
        "--metrics",
        type=host_port,
        help="serve Prometheus /metrics on HOST:PORT (with --shards N, shard k's reports on "
        "PORT+1+k)",
    )
    g.add_argument("--fee", type=int, default=1, help="fee per anchor transaction")
    g.add_argument("--mqtt-user", metavar="NAME", help="the gateway's broker account")
    g.add_argument(
        "--mqtt-password-file",
        metavar="FILE",
        help=f"its password, first line of FILE (else ${MQTT_PASSWORD_ENV})",
    )
    shard = g.add_mutually_exclusive_group()
    shard.add_argument(
        "--shards",
        type=shard_count,
        default=1,
        help=f"run N gateway processes, each on 1/N of the device buckets (1..{BUCKETS})",
    )
    shard.add_argument(
        "--shard", type=shard_spec, metavar="K/N", help="run only shard K of N, in this process"
    )
    g.add_argument(
        "--no-anchor",
        action="store_true",
        help="store and batch only; another process anchors this store (needs --shard)",
    )
    # A shard started by --shards leaves when its stdin (a pipe from its parent) closes.
    g.add_argument("--exit-with-parent", action="store_true", help=argparse.SUPPRESS)
    g.set_defaults(func=_gateway)


def shard_count(text: str) -> int:
    value = positive(text)
    if value > BUCKETS:
        raise argparse.ArgumentTypeError(f"at most {BUCKETS} shards (one per bucket), got {text}")
    return value


def shard_spec(text: str) -> tuple[int, int]:
    """``K/N``: shard K (from 0) of N."""
    k, sep, n = text.partition("/")
    if not (sep and k.isdigit() and n.isdigit() and int(k) < int(n) <= BUCKETS):
        raise argparse.ArgumentTypeError(f"expected K/N with 0 <= K < N <= {BUCKETS}, got {text!r}")
    return int(k), int(n)


def _signing_parent() -> argparse.ArgumentParser:
    parent = argparse.ArgumentParser(add_help=False)
    signing_options(parent.add_argument_group("transaction options"), "the owner's key")
    return parent


def _key_options(p: argparse.ArgumentParser, what: str, required: bool = False) -> None:
    p.add_argument("--key-file", required=required, metavar="FILE", help=what)
    p.add_argument("--create-key", action="store_true", help="create --key-file if missing")


def _device_key(args: argparse.Namespace) -> PrivateKey:
    path = Path(args.key_file)
    if args.create_key and not path.exists():
        key = PrivateKey.generate()
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(key.seed.hex() + "\n")
        return key
    try:
        return PrivateKey.from_seed(bytes.fromhex(path.read_text().strip()))
    except OSError as exc:
        raise UsageError(f"cannot read key file {path}: {exc.strerror or exc}") from None
    except ValueError:
        raise UsageError(f"{path} does not hold a 32-byte seed in hex") from None


def _submit(args: argparse.Namespace, client: Client, msg: Any) -> dict[str, Any]:
    wallet = Wallet(signing_key(args), client, fee=args.fee)
    return wallet.submit([msg], wait=not args.no_wait)


def _register(args: argparse.Namespace) -> int:
    if args.metadata_file:
        metadata = hashlib.sha256(Path(args.metadata_file).read_bytes()).digest()
    else:
        metadata = bytes.fromhex(args.metadata)
    with client_for(args) as client:
        owner_key = signing_key(args)
        owner = address_to_bytes(Wallet(owner_key, client).address)
        chain_id = str(client.status()["chain_id"])
        if args.key_file:
            key = _device_key(args)
            public_key = key.public_key
            statement = possession_statement(chain_id, owner, device_id_of(public_key), public_key)
            possession = key.sign(statement)
        elif args.public_key and args.possession:
            public_key, possession = bytes.fromhex(args.public_key), bytes.fromhex(args.possession)
        else:
            raise UsageError("give --key-file, or --public-key and --possession")
        msg = MsgRegisterDevice(public_key, args.kind, metadata, possession)
        result = Wallet(owner_key, client, fee=args.fee).submit([msg], wait=not args.no_wait)
    device_id = device_id_of(public_key).hex()
    if args.json:
        print_json({**result, "device_id": device_id})
    else:
        print(f"device     {device_id}")
        print(f"hash       {result['hash']}")
        print(f"height     {result.get('height')}")
    return 0


def _rotate(args: argparse.Namespace) -> int:
    with client_for(args) as client:
        owner_key = signing_key(args)
        owner = address_to_bytes(Wallet(owner_key, client).address)
        chain_id = str(client.status()["chain_id"])
        key = _device_key(args)
        device_id = bytes.fromhex(args.device_id)
        possession = key.sign(possession_statement(chain_id, owner, device_id, key.public_key))
        msg = MsgRotateKey(device_id, key.public_key, possession)
        result = Wallet(owner_key, client, fee=args.fee).submit([msg], wait=not args.no_wait)
    print_json(result) if args.json else print(f"rotated    {args.device_id}")
    return 0


def _decommission(args: argparse.Namespace) -> int:
    with client_for(args) as client:
        result = _submit(args, client, MsgDecommission(bytes.fromhex(args.device_id)))
    print_json(result) if args.json else print(f"decommissioned {args.device_id}")
    return 0


def _show(args: argparse.Namespace) -> int:
    with client_for(args) as client:
        value = client.state(device_key(bytes.fromhex(args.device_id)))["value"]
    if not value:
        raise CliFailure(f"no device {args.device_id}")
    d = decode(bytes.fromhex(value), Device)
    doc = {
        "id": args.device_id,
        "owner": address_from_bytes(d.owner),
        "kind": d.kind,
        "public_key": d.public_key.hex(),
        "metadata": d.metadata.hex(),
        "status": STATUS_NAMES[d.status],
        "key_version": d.key_version,
        "registered_height": d.registered_height,
    }
    if args.json:
        print_json(doc)
    else:
        for name, field_value in doc.items():
            print(f"{name:<18} {field_value}")
    return 0


def _prove(args: argparse.Namespace) -> int:
    with client_for(args) as client:
        try:
            proven = prove_report(Path(args.gateway_dir), bytes.fromhex(args.report_id), client)
        except NoGatewayStore as exc:
            raise UsageError(str(exc)) from exc
        except NotProvable as exc:
            raise CliFailure(str(exc)) from exc
    text = json.dumps(proven.bundle, indent=2) + "\n"
    if args.out:
        Path(args.out).write_text(text)
        if not args.json:
            print(f"wrote {args.out}: report {args.report_id} in batch {proven.batch_id.hex()}")
    else:
        sys.stdout.write(text)
    return 0


def _gateway(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request otherwise
    if args.no_anchor and args.shard is None:
        raise UsageError("--no-anchor runs one shard of a gateway: give --shard K/N")
    if not args.no_anchor and not args.from_key:
        raise UsageError("give --from KEY: the gateway device owner's key signs the anchors")
    mqtt_password = _mqtt_password(args)
    if args.exit_with_parent:
        threading.Thread(target=_exit_with_parent, name="parent-watch", daemon=True).start()
    client = client_for(args)
    gateway_id = bytes.fromhex(args.gateway_device)
    try:
        value = client.state(device_key(gateway_id))["value"]
    except ApiError as exc:
        raise CliFailure(f"cannot reach the node: {exc.message}") from None
    if not value or decode(bytes.fromhex(value), Device).kind != "gateway":
        raise CliFailure(f"{args.gateway_device} is not a registered gateway device")
    wallet = None if args.no_anchor else Wallet(signing_key(args), client, fee=args.fee)
    if args.shards > 1:
        assert wallet is not None
        return _run_shards(args, client, wallet, gateway_id)
    host, _, port = args.broker.rpartition(":")
    shard, shards = args.shard or (0, 1)
    config = GatewayConfig(
        broker_host=host,
        broker_port=int(port),
        gateway_device=gateway_id,
        batch_size=args.batch_size,
        batch_ms=args.batch_ms,
        metrics=_metrics_address(args.metrics),
        shard=shard,
        shards=shards,
        anchor=not args.no_anchor,
        mqtt_username=args.mqtt_user or "",
        mqtt_password=mqtt_password,
    )
    try:
        gateway = Gateway(config, GatewayStore(Path(args.store)), wallet, client).start()
    except ValueError as exc:  # a store of another shard layout
        raise CliFailure(str(exc)) from None
    if not gateway.wait_subscribed(30):
        gateway.stop()
        refused = f" (refused: {gateway.connect_error})" if gateway.connect_error else ""
        raise CliFailure(
            f"no subscription confirmed by the broker at {args.broker} in 30 s{refused}"
        )
    done = _until_signalled()
    print(json.dumps({"gateway": "running", "broker": args.broker}), flush=True)
    done.wait()
    gateway.stop()
    client.close()
    return 0


def _mqtt_password(args: argparse.Namespace) -> str:
    """The broker account's password: --mqtt-password-file, else $CITYCHAIN_MQTT_PASSWORD."""
    if not args.mqtt_user:
        return ""
    if args.mqtt_password_file:
        try:
            return Path(args.mqtt_password_file).read_text().splitlines()[0]
        except (OSError, IndexError) as exc:
            raise UsageError(
                f"cannot read --mqtt-password-file {args.mqtt_password_file}: {exc}"
            ) from None
    password = os.environ.get(MQTT_PASSWORD_ENV)
    if password is None:
        raise UsageError(f"--mqtt-user needs --mqtt-password-file FILE or ${MQTT_PASSWORD_ENV}")
    return password


def _metrics_address(text: str | None, offset: int = 0) -> tuple[str, int] | None:
    if not text:
        return None
    host, _, port = text.rpartition(":")
    return host, int(port) + offset if int(port) else 0


def _until_signalled() -> threading.Event:
    done = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: done.set())
    return done


def _exit_with_parent() -> None:
    """A shard of `--shards N`: leave at once when the parent's pipe closes (the parent is gone,
    maybe SIGKILLed). Leaving without a goodbye is safe: nothing unstored was acknowledged."""
    # The raw descriptor, not sys.stdin: a daemon thread blocked inside the buffered reader
    # holds its lock, and the interpreter aborts on it at a normal exit.
    while os.read(0, 4096):
        pass
    logging.getLogger("citychain.telemetry.gateway").error(
        "the supervising process is gone; exiting"
    )
    os._exit(1)


def _run_shards(args: argparse.Namespace, client: Client, wallet: Wallet, gateway_id: bytes) -> int:
    root = Path(args.store)
    try:
        write_layout(root, args.shards)
    except ValueError as exc:
        raise CliFailure(str(exc)) from None
    registry = CollectorRegistry()
    stores = [GatewayStore(shard_dir(root, k)) for k in range(args.shards)]
    anchorer = Anchorer(stores, wallet, client, gateway_id, registry)
    common = ["--broker", args.broker, "--gateway-device", args.gateway_device]
    common += ["--batch-size", str(args.batch_size), "--batch-ms", str(args.batch_ms)]
    if args.home:
        common += ["--home", args.home]
    if args.node:
        common += ["--node", args.node]
    if args.mqtt_user:  # the password reaches the shards in their environment, or its file
        common += ["--mqtt-user", args.mqtt_user]
        if args.mqtt_password_file:
            common += ["--mqtt-password-file", args.mqtt_password_file]
    shards = []
    for k in range(args.shards):
        argv = [sys.executable, "-m", "citychain", "gateway", *common]
        argv += ["--store", str(shard_dir(root, k)), "--shard", f"{k}/{args.shards}"]
        argv += ["--no-anchor", "--exit-with-parent"]
        metrics = _metrics_address(args.metrics, 1 + k)
        if metrics is not None:
            argv += ["--metrics", f"{metrics[0]}:{metrics[1]}"]
        shards.append(ShardProcess(k, argv, dict(os.environ)))
    supervisor = ShardSupervisor(shards, anchorer)
    done = _until_signalled()
    try:
        supervisor.start()
    except RuntimeError as exc:
        raise CliFailure(f"{exc}; see the log above") from None
    metrics = _metrics_address(args.metrics)
    if metrics is not None:
        start_http_server(metrics[1], metrics[0], registry=registry)
    print(
        json.dumps({"gateway": "running", "broker": args.broker, "shards": args.shards}),
        flush=True,
    )
    supervisor.watch(done)
    supervisor.stop()
    client.close()
    return 0
