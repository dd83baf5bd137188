"""``citychain demo --network N``: the simulated city on a consortium of N CometBFT validators.

The city's payments go to the first member's node while every member's node executes every
block. Half-way through, the last member's node is stopped (the chain goes on: up to f < N/3
members may fail) and, a quarter later, started again (it replays what it missed). At the end
every node must report the same app hash, and a balance proof from another member's node must
verify offline against the header signed by the validators of the genesis.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from citychain.client import Client, verify_bundle
from citychain.crypto.keys import PrivateKey
from citychain.crypto.keystore import Keystore
from citychain.genesis import Genesis
from citychain.home import Home
from citychain.net.create import DEFAULT_BASE_PORT, create_network
from citychain.net.layout import MEMBER_ORGS, NetLayout, NodeSpec
from citychain.net.ports import reserved_ports
from citychain.net.process import node_status, start_node, stop_node
from citychain.sim.audit import Audit
from citychain.sim.city import CitySimulation
from citychain.sim.config import CityConfig
from citychain.sim.fleet_scene import describe as describe_fleet
from citychain.sim.fleet_scene import run_fleet_scene
from citychain.sim.registry_scene import describe, run_registry_scene
from citychain.sim.stats import Stats

__all__ = ["run_network_demo"]

AGREEMENT_TIMEOUT = 60.0
# CometBFT goes on while fewer than a third of the voting power is down: with 4 members or more,
# one member's node can stop without stopping the chain.
MIN_VALIDATORS_TO_STOP_ONE = 4


def _print_status(layout: NetLayout, specs: list[NodeSpec]) -> list[dict[str, object]]:
    rows = [node_status(layout, spec) for spec in specs]
    for row in rows:
        print(
            f"  node{row['node']} {row['name']:<24} height {row['height'] or '-':>6}"
            f"  peers {row['peers'] if row['peers'] is not None else '-'}"
            f"  app hash {str(row['app_hash'] or '-')[:16]}"
        )
    return rows


def _agree(clients: list[Client]) -> tuple[int, set[str]]:
    """Wait until every node has passed one common height; their app hashes at that height."""
    deadline = time.monotonic() + AGREEMENT_TIMEOUT
    target = max(int(c.status()["height"]) for c in clients)
    while time.monotonic() < deadline:
        if all(int(c.status()["height"]) >= target for c in clients):
            break
        time.sleep(0.3)
    hashes = {str(c.block(target)["app_hash"]) for c in clients}
    return target, hashes


def _create(
    path: Path, validators: int, password: str, marker: dict[str, object], base: int
) -> tuple[Path, list[NodeSpec]]:
    """The demo home, marked as one, holding a new network of ``validators`` members."""
    net_dir = path / "net"
    path.mkdir(parents=True, exist_ok=True)
    (path / "demo.json").write_text(
        json.dumps({**marker, "created": datetime.now(UTC).isoformat(timespec="seconds")})
    )
    print(f"creating a {validators}-member consortium in {net_dir} (ports from {base}) ...")
    specs = create_network(
        net_dir, validators, password=password, chain_id="citychain-demo", base_port=base
    )
    return net_dir, specs


def _run_city(
    sim: CitySimulation,
    layout: NetLayout,
    specs: list[NodeSpec],
    seconds: float,
    print_progress: Callable[[Stats], None],
) -> None:
    """Run the city; with enough members, stop the last one's node half-way and start it again
    a quarter later."""
    every = max(2.0, min(5.0, seconds / 10))
    sim.run(seconds / 2, print_progress, every)
    last = specs[-1]
    if len(specs) >= MIN_VALIDATORS_TO_STOP_ONE:
        stop_node(layout, last)
        print(f"  -- stopped node{last.index} ({last.name}); the others go on", flush=True)
        sim.run(seconds / 4, print_progress, every)
        start_node(layout, last)
        print(f"  -- started node{last.index} again; it replays the blocks it missed")
        sim.run(seconds / 4, print_progress, every)
    else:
        sim.run(seconds / 2, print_progress, every)


def _check_consensus(
    audit: Audit,
    clients: list[Client],
    sim: CitySimulation,
    trusted: list[tuple[bytes, int]],
    last: NodeSpec,
) -> None:
    """Every node holds one app hash, and another member's node proves a balance."""
    height, hashes = _agree(clients)
    audit.add(
        "agreement",
        len(hashes) == 1,
        f"all {len(clients)} nodes hold app hash {next(iter(hashes))[:16]}… at height {height}"
        if len(hashes) == 1
        else f"nodes disagree at height {height}: {sorted(hashes)}",
    )
    other = clients[-1]
    account = sim.example_account()
    body = other.balance(account.address, prove=True)
    result = verify_bundle(body["proof"], trusted)
    audit.add(
        "proof from another member",
        result.valid,
        f"{last.name}'s node proved {account.name}'s balance at height "
        f"{result.details.get('height')}: signed by >2/3 of the genesis validators"
        if result.valid
        else result.reason,
    )


def run_network_demo(
    path: Path,
    validators: int,
    config: CityConfig,
    seconds: float,
    password: str,
    *,
    print_progress: Callable[[Stats], None],
    print_summary: Callable[[Stats, Audit, CitySimulation], None],
    marker: dict[str, object],
    fleet_batteries: int = 40,
) -> int:
    # The network's ports (one node more, for a member added later), from DEFAULT_BASE_PORT if
    # free, held while the demo runs so that no other run on this machine takes them.
    with reserved_ports(validators + 1, prefer=DEFAULT_BASE_PORT) as base:
        return _run_demo(
            path,
            validators,
            config,
            seconds,
            password,
            base,
            print_progress=print_progress,
            print_summary=print_summary,
            marker=marker,
            fleet_batteries=fleet_batteries,
        )


def _run_demo(
    path: Path,
    validators: int,
    config: CityConfig,
    seconds: float,
    password: str,
    base: int,
    *,
    print_progress: Callable[[Stats], None],
    print_summary: Callable[[Stats, Audit, CitySimulation], None],
    marker: dict[str, object],
    fleet_batteries: int,
) -> int:
    net_dir, specs = _create(path, validators, password, marker, base)
    layout = NetLayout(net_dir)
    first = Home(layout.node_dir(0))

    def role_key(name: str) -> PrivateKey:
        """A role key, from the home of the member that holds the role (net init)."""
        return Keystore(layout.role_home(name) / "keys").load(name, password)

    issuer, kyc, registrar = role_key("issuer"), role_key("kyc"), role_key("registrar")
    genesis = Genesis.load(first.genesis_file)
    started: list[NodeSpec] = []
    try:
        for spec in specs:
            start_node(layout, spec)
            started.append(spec)
            print(f"  started node{spec.index} {spec.name}: api {spec.api_url}")
        clients = [Client(spec.api_url) for spec in specs]
        sim = CitySimulation(clients[0], issuer, kyc, config)
        print(f"setting up the city ({config.citizens:,} citizens, {config.merchants} merchants)")
        sim.setup()
        print(f"\nexplorer of each member: {', '.join(s.api_url + '/' for s in specs)}")
        print(f"the city runs for {seconds:g} s:", flush=True)
        _run_city(sim, layout, specs, seconds, print_progress)
        trusted = [(v.public_key, v.power) for v in genesis.validators]
        audit = sim.audit(sample=500, trusted_validators=trusted)
        # The registrar's office is at City Hall; it works through another member's node.
        scene = run_registry_scene(
            clients[1 % len(clients)], registrar, trusted, sim.example_account().address, audit
        )
        print(f"\n{describe(scene)}")
        if fleet_batteries:
            # The battery maker runs the telemetry gateway and the oracle against its own
            # member's node, with the keys in its home.
            maker_node = MEMBER_ORGS.index("Voltcell Batteries") % len(clients)
            print(f"battery fleet: {fleet_batteries} batteries, a month of BMS telemetry over MQTT")
            fleet = run_fleet_scene(
                clients[maker_node],
                layout.role_home("manufacturer"),
                path / "fleet",
                password,
                role_key("manufacturer"),
                role_key("oracle"),
                trusted,
                audit,
                batteries=fleet_batteries,
                due=min(2, fleet_batteries),
            )
            print(describe_fleet(fleet), flush=True)
        print("\nthe consortium:")
        _print_status(layout, specs)
        _check_consensus(audit, clients, sim, trusted, specs[-1])
        print_summary(sim.stats, audit, sim)
        print(f"\nthe network is stopped; start it again with: citychain net start --dir {net_dir}")
        return 0 if audit.ok else 1
    finally:
        for spec in reversed(started):
            stop_node(layout, spec)
