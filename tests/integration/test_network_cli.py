"""``citychain net init`` refuses a folder that already holds something, and touches nothing;
it spreads the role keys over the members that hold the roles; with ``--hosts`` it makes homes
for members on separate hosts, each with its own password; and ``net keygen`` / ``net genesis``
/ ``net join`` make homes whose validators make blocks, no private key outside its home.

Only the last test starts processes; the commands on a running network are tested in
test_network_consortium.py, on the session's shared network, and members on separate hosts in
tests/netns. The first test runs the command as a user's shell does (exit status, stderr, no
traceback); the others call the CLI's ``main`` in this process.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from netutil import PASSWORD, cli, requires_cometbft, wait_until

from citychain.cli.main import main
from citychain.crypto.errors import CryptoError
from citychain.crypto.keystore import Keystore
from citychain.net.layout import NetLayout
from citychain.net.ports import reserved_ports

EXIT_FAILURE = 1
EXIT_USAGE = 2
BLOCKS = 3


def _tree(path: Path) -> dict[str, bytes]:
    return {str(p.relative_to(path)): p.read_bytes() for p in path.rglob("*") if p.is_file()}


def _run(capsys: pytest.CaptureFixture[str], *args: str | Path) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main([str(a) for a in args])
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture(autouse=True)
def _password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CITYCHAIN_PASSWORD", PASSWORD)


def test_net_init_refuses_a_non_empty_dir(tmp_path: Path) -> None:
    target = tmp_path / "net"
    target.mkdir()
    (target / "notes.txt").write_text("someone's file\n")
    run = cli("net", "init", "--dir", target, "--validators", "2", "--base-port", "29000")
    assert run.returncode == EXIT_FAILURE, (run.stdout, run.stderr)
    assert run.stderr.strip() == f"error: {target} is not empty; choose another --dir"
    assert "Traceback" not in run.stderr
    assert _tree(target) == {"notes.txt": b"someone's file\n"}


@requires_cometbft  # the first init runs `cometbft init`
def test_net_init_refuses_an_existing_network(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "net"
    code, _, err = _run(capsys, "net", "init", "--dir", target, "--validators", "1",
                        "--base-port", "29100")  # fmt: skip
    assert code == 0, err
    before = _tree(target)
    code, out, err = _run(capsys, "net", "init", "--dir", target, "--validators", "1",
                          "--base-port", "29200")  # fmt: skip
    assert code == EXIT_FAILURE, (out, err)
    assert err.strip() == f"error: {target} is not empty; choose another --dir"
    assert _tree(target) == before


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--validators", "65"], "--validators must be 1..64"),
        (["--validators", "2", "--hosts", "h.txt"], "not allowed with argument"),
        (["--chain-id", "has space"], "chain id must be 1..50"),
        (["--chain-id", "x" * 51], "chain id must be 1..50"),
    ],
)
def test_net_init_refuses_what_cometbft_would_refuse_before_writing_anything(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    target = tmp_path / "net"
    code, out, err = _run(capsys, "net", "init", "--dir", target, *args)
    assert code == EXIT_USAGE, (out, err)
    assert message in err and "Traceback" not in err
    assert not target.exists()


# --- role keys and passwords per member -------------------------------------------------------
def _key_names(home: Path) -> set[str]:
    return {key.name for key in Keystore(home / "keys").list()}


@requires_cometbft
def test_net_init_makes_each_role_key_in_the_home_of_the_member_holding_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "net"
    code, _, err = _run(capsys, "net", "init", "--dir", target, "--base-port", "29300")
    assert code == 0, err
    # City Hall issues the currency and keeps the registry, the bank checks identities, the
    # battery maker registers batteries and runs the oracle; the regulator holds no role key.
    assert [_key_names(target / f"node{i}") for i in range(4)] == [
        {"operator", "issuer", "registrar"},
        {"operator", "kyc"},
        {"operator", "oracle", "manufacturer"},
        {"operator"},
    ]
    layout = NetLayout(target)
    assert layout.role_home("kyc") == target / "node1"
    genesis = json.loads((target / "node3" / "genesis.json").read_text())
    roles = genesis["app_state"]["consortium"]["roles"]
    for name in ("issuer", "kyc", "registrar", "oracle", "manufacturer"):
        assert roles[name] == [Keystore(layout.role_home(name) / "keys").show(name).address]


HOSTS = [
    {"host": "10.20.0.1", "password_file": "city-hall.pw"},
    {"host": "10.20.0.2"},
    {"host": "10.20.0.3", "api_listen": "0.0.0.0"},
    {"host": "node4.city.example", "p2p_port": 26700},
]


def _hosts_file(tmp_path: Path) -> Path:
    (tmp_path / "city-hall.pw").write_text("city hall's own password\n")
    path = tmp_path / "hosts.json"
    path.write_text(json.dumps(HOSTS))
    return path


@requires_cometbft
def test_net_init_hosts_makes_a_home_per_host_each_with_its_own_password(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "net"
    code, out, err = _run(capsys, "net", "init", "--dir", target, "--hosts", _hosts_file(tmp_path),
                          "--chain-id", "city-hosts", "--json")  # fmt: skip
    assert code == 0, err
    report = json.loads(out)
    # Generated passwords are beside the homes, not in them (a home is copied to its host).
    generated = [Path(p) for p in report["generated_passwords"]]
    assert generated == [target / "passwords" / f"node{i}.txt" for i in (1, 2, 3)]
    assert all(p.stat().st_mode & 0o777 == 0o600 for p in generated)
    passwords = ["city hall's own password"] + [p.read_text().strip() for p in generated]
    assert len(set(passwords)) == len(passwords)
    hosts = [h["host"] for h in HOSTS]
    ports = [h.get("p2p_port", 26656) for h in HOSTS]
    for i, home in enumerate(target / f"node{i}" for i in range(4)):
        keys = Keystore(home / "keys")
        keys.load("operator", passwords[i])  # its own password opens its keys ...
        with pytest.raises(CryptoError):  # ... another member's does not
            keys.load("operator", passwords[(i + 1) % 4])
        toml = (home / "cometbft" / "config" / "config.toml").read_text()
        assert "allow_duplicate_ip = false" in toml
        assert f'laddr = "tcp://0.0.0.0:{ports[i]}"' in toml
        assert f'external_address = "{hosts[i]}:{ports[i]}"' in toml
        peers = re.search(r'persistent_peers = "([^"]*)"', toml)
        assert peers is not None
        dialled = sorted(p.split("@")[1] for p in peers.group(1).split(","))
        others = [f"{h}:{p}" for j, (h, p) in enumerate(zip(hosts, ports, strict=True)) if j != i]
        assert dialled == sorted(others)
        config = json.loads((home / "config.json").read_text())
        assert "cometbft_home" not in config  # no absolute path: the home may move
        assert config["chain_id"] == "city-hosts"
    assert json.loads((target / "node2" / "config.json").read_text())["api"] == "0.0.0.0:26659"
    assert _key_names(target / "node0") == {"operator", "issuer", "registrar"}
    genesis = {
        (target / f"node{i}" / "cometbft/config/genesis.json").read_bytes() for i in range(4)
    }
    assert len(genesis) == 1


@requires_cometbft
def test_net_init_hosts_refuses_one_password_for_every_member(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    password = tmp_path / "pw"
    password.write_text("shared\n")
    target = tmp_path / "net"
    code, _, err = _run(capsys, "net", "init", "--dir", target, "--hosts", _hosts_file(tmp_path),
                        "--password-file", password)  # fmt: skip
    assert code == EXIT_USAGE, err
    assert "each member has its own password" in err
    assert not target.exists()


@pytest.mark.parametrize(
    ("hosts", "message"),
    [
        ("10.9.0.1 City Hall\n10.9.0.1 Bank\n", "same host and p2p port: 10.9.0.1:26656"),
        ("10.9.0.1 City Hall\n10.9.0.2 City Hall\n", "same name: City Hall"),
        (None, "cannot read hosts file"),
    ],
)
def test_net_init_hosts_refuses_a_bad_hosts_file_before_writing_anything(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], hosts: str | None, message: str
) -> None:
    path = tmp_path / "hosts.txt"
    if hosts is not None:
        path.write_text(hosts)
    target = tmp_path / "net"
    code, _, err = _run(capsys, "net", "init", "--dir", target, "--hosts", path)
    assert code == EXIT_USAGE, err
    assert message in err and "Traceback" not in err
    assert not target.exists()


# --- net keygen / net genesis / net join --------------------------------------------------------
def _private_material(home: Path) -> list[str]:
    """What in ``home`` is secret: CometBFT's private keys, the keystore's ciphertexts."""
    config = home / "cometbft" / "config"
    found = [
        json.loads((config / name).read_text())["priv_key"]["value"]
        for name in ("priv_validator_key.json", "node_key.json")
    ]
    found += [json.loads(f.read_text())["ciphertext"] for f in (home / "keys").glob("*.json")]
    return found


def _files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()]


def _member_flow(
    capsys: pytest.CaptureFixture[str], root: Path, base: int, members: int
) -> tuple[list[Path], Path]:
    """Each member's keygen on its "machine", the coordinator's genesis, each member's join."""
    coordinator = root / "coordinator"
    coordinator.mkdir(parents=True)
    homes = []
    for i in range(members):
        machine = root / f"machine{i}"
        machine.mkdir()
        (machine / "pw").write_text(f"member {i}'s password\n")
        port = str(base + 10 * i)
        roles = ["--roles", "issuer,kyc,registrar,oracle,manufacturer"] if i == 0 else []
        code, _, err = _run(capsys, "net", "keygen", "--home", machine / "home",
                            "--name", f"Member {i}", "--host", "127.0.0.1", "--p2p-port", port,
                            *roles, "--timeout-commit", "300ms", "--password-file", machine / "pw",
                            "--out", coordinator / f"member{i}.json")  # fmt: skip
        assert code == 0, err
        homes.append(machine / "home")
    files = [coordinator / f"member{i}.json" for i in range(members)]
    code, _, err = _run(capsys, "net", "genesis", "--members", *files, "--chain-id", "city-flow",
                        "--out", coordinator / "genesis.json")  # fmt: skip
    assert code == 0, err
    for home in homes:
        code, out, err = _run(capsys, "net", "join", "--home", home, "--genesis",
                              coordinator / "genesis.json", "--peers", coordinator / "peers.json",
                              "--json")  # fmt: skip
        assert code == 0, err
        assert json.loads(out)["validator"] is True
    return homes, coordinator


@pytest.mark.network
@pytest.mark.xdist_group("network")
@requires_cometbft
def test_keygen_genesis_join_make_validators_that_make_blocks_no_key_leaving_its_home(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    members = 2
    with reserved_ports(members) as base:
        homes, coordinator = _member_flow(capsys, tmp_path, base, members)
        # No private key anywhere but in its own member's home.
        for i, home in enumerate(homes):
            secrets = _private_material(home)
            assert len(secrets) == 3 + (5 if i == 0 else 0)  # validator, node, operator, roles
            for path in _files(tmp_path):
                if home not in path.parents:
                    text = path.read_text(errors="replace")
                    assert not any(s in text for s in secrets), f"{path} holds a key of {home}"
        assert sorted(p.name for p in _files(coordinator)) == [
            "genesis.json", "member0.json", "member1.json", "peers.json",
        ]  # fmt: skip
        try:
            for home in homes:
                code, out, err = _run(capsys, "net", "start", "--home", home)
                assert code == 0, err
                assert "started app and cometbft" in out

            def made_blocks() -> bool:
                rows = [_run(capsys, "net", "status", "--home", h, "--json")[1] for h in homes]
                return all((json.loads(r)["height"] or 0) >= BLOCKS for r in rows)

            wait_until(made_blocks, 60, f"both members' validators to commit {BLOCKS} blocks")
            # Both validators sign: with two of equal power, no block commits without both.
            status = json.loads(_run(capsys, "net", "status", "--home", homes[1], "--json")[1])
            assert (status["peers"], status["voting_power"]) == (1, 10)
        finally:
            for home in homes:
                _run(capsys, "net", "stop", "--home", home)


@requires_cometbft
def test_join_refuses_a_genesis_or_peers_that_do_not_fit(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    homes, coordinator = _member_flow(capsys, tmp_path, 29400, 2)
    genesis = json.loads((coordinator / "genesis.json").read_text())
    genesis["validators"][0]["power"] = "11"
    forged = tmp_path / "forged.json"
    forged.write_text(json.dumps(genesis))
    peers = json.loads((coordinator / "peers.json").read_text())
    peers["chain_id"] = "another-chain"
    strangers = tmp_path / "strangers.json"
    strangers.write_text(json.dumps(peers))
    for genesis_file, peers_file, message in (
        (forged, coordinator / "peers.json", "validators differ from its app_state"),
        (coordinator / "genesis.json", strangers, "peers file is for chain 'another-chain'"),
        (tmp_path / "missing.json", coordinator / "peers.json", "cannot read genesis"),
    ):
        code, _, err = _run(capsys, "net", "join", "--home", homes[1], "--genesis", genesis_file,
                            "--peers", peers_file)  # fmt: skip
        assert code == EXIT_USAGE, err
        assert message in err and "Traceback" not in err
