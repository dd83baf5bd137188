"""``citychain net keygen``: a member's home, made on the member's own machine.

``cometbft init`` in ``HOME/cometbft`` (validator and node keys), the member's ``operator`` key
and the keys of the roles it holds in ``HOME/keys`` under the member's own password,
config.json and CometBFT's config.toml; the public part in ``HOME/member.json``
(member.py). No private key is written anywhere else.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from citychain.crypto.keystore import Keystore
from citychain.home import Home
from citychain.net.layout import NetError, cometbft_binary, moniker_of, validator_public_key
from citychain.net.member import (
    ANY_ADDRESS,
    LOOPBACK,
    MEMBER_FILE,
    OPERATOR_KEY,
    MemberInfo,
    MemberPlan,
    NetInputError,
    host_port,
    write_json,
)
from citychain.net.toml_edit import TomlValue, set_toml_values
from citychain.tx.envelope import MAX_TX_BYTES

__all__ = ["NetOptions", "check_new_home", "keygen"]

# CometBFT's [mempool]: a transaction larger than the app would decode is refused before CheckTx,
# and all waiting transactions together hold at most 128 MiB.
MEMPOOL_MAX_TX_BYTES = MAX_TX_BYTES
MEMPOOL_MAX_TXS_BYTES = 128 << 20


class NetOptions:
    def __init__(
        self,
        *,
        timeout_commit: str = "500ms",
        timeout_propose: str = "1500ms",
        mempool_size: int = 50_000,
        kdf_limits: tuple[int, int] | None = None,
    ) -> None:
        self.timeout_commit = timeout_commit
        # How long validators wait for a proposal before voting nil: a round whose proposer is
        # down costs this much. CometBFT's default, 3s, is meant for networks wider than loopback.
        self.timeout_propose = timeout_propose
        self.mempool_size = mempool_size
        self.kdf_limits = kdf_limits


def check_new_home(path: Path) -> None:
    """Refuse a ``path`` that holds something: keygen makes a home only where none is."""
    if path.exists() and (not path.is_dir() or any(path.iterdir())):
        raise NetError(f"{path} is not empty; choose another --home")


def _run(args: list[str]) -> str:
    try:
        done = subprocess.run(args, capture_output=True, text=True, timeout=60, check=False)
    except OSError as exc:
        raise NetError(f"cannot run {args[0]}: {exc}") from None
    if done.returncode != 0:
        raise NetError(f"{' '.join(args)} failed: {done.stderr.strip() or done.stdout.strip()}")
    return done.stdout.strip()


def _keystore(home: Home, options: NetOptions) -> Keystore:
    if options.kdf_limits is None:
        return Keystore(home.keys_dir)
    return Keystore(home.keys_dir, opslimit=options.kdf_limits[0], memlimit=options.kdf_limits[1])


def _local(listen: str) -> str:
    """Where a process on the same machine reaches a listener bound to ``listen``."""
    return LOOPBACK if listen in (ANY_ADDRESS, "::") else listen


def _node_config(plan: MemberPlan, options: NetOptions) -> dict[str, dict[str, TomlValue]]:
    """config.toml as keygen sets it; ``join`` adds the peers."""
    return {
        "": {
            "moniker": moniker_of(plan.name),
            "proxy_app": f"tcp://{LOOPBACK}:{plan.abci_port}",
            "log_level": "main:info,state:info,consensus:error,p2p:error,*:error",
        },
        "rpc": {
            "laddr": f"tcp://{host_port(plan.rpc_listen, plan.rpc_port)}",
            "max_body_bytes": 16_000_000,
            # The app broadcasts in JSON-RPC batches of
            # citychain.engines.cometbft.engine.RPC_BATCH (500).
            "max_request_batch_size": 500,
        },
        "p2p": {
            "laddr": f"tcp://{host_port(plan.p2p_listen, plan.p2p_port)}",
            # What this node tells its peers to dial: its host, not the address it binds.
            "external_address": host_port(plan.host, plan.p2p_port),
            # The peers are fixed (no PEX), so the address book only holds them; not strict,
            # so that members on a private network (a VPN between buildings) may dial each other.
            "addr_book_strict": False,
            "pex": False,
            "send_rate": 50_000_000,
            "recv_rate": 50_000_000,
        },
        "mempool": {
            "size": options.mempool_size,
            "cache_size": 4 * options.mempool_size,
            # After each block CometBFT asks the app again about every waiting transaction
            # (the app answers from its rebased check state): PrepareProposal leaves out what a
            # block made invalid, so without recheck such a transaction would wait for ever.
            "recheck": True,
            "max_tx_bytes": MEMPOOL_MAX_TX_BYTES,
            "max_txs_bytes": MEMPOOL_MAX_TXS_BYTES,
        },
        "consensus": {
            "timeout_commit": options.timeout_commit,
            "timeout_propose": options.timeout_propose,
        },
        # citychain indexes transactions itself; CometBFT's indexer would do the work twice.
        "tx_index": {"indexer": "null"},
        # The consensus metrics the alert rules watch (docs/prometheus-alerts.yml): height,
        # peers, missing validators.
        "instrumentation": {
            "prometheus": True,
            "prometheus_listen_addr": host_port(LOOPBACK, plan.metrics_port),
        },
    }


def keygen(
    path: Path, plan: MemberPlan, password: str, options: NetOptions | None = None
) -> MemberInfo:
    """Make member ``plan``'s home in ``path`` (which must be empty or absent): every private
    key it will hold, made here and never written anywhere else. Returns its public file."""
    options = options or NetOptions()
    check_new_home(path)
    if not password:
        raise NetInputError("a member's keys need a password")
    binary = str(cometbft_binary())
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    comet_home = path / "cometbft"
    _run([binary, "init", "--home", str(comet_home)])
    node_id = _run([binary, "show-node-id", "--home", str(comet_home)])
    home = Home(path)
    keystore = _keystore(home, options)
    operator = keystore.add(OPERATOR_KEY, password).address
    roles = {role: keystore.add(role, password).address for role in plan.roles}
    home.write_config(
        {
            "moniker": moniker_of(plan.name),
            "member": plan.name,
            "engine": "cometbft",
            "api": host_port(plan.api_listen, plan.api_port),
            "abci": f"tcp://{LOOPBACK}:{plan.abci_port}",
            "cometbft_rpc": f"http://{host_port(_local(plan.rpc_listen), plan.rpc_port)}",
        }
    )
    set_toml_values(comet_home / "config" / "config.toml", _node_config(plan, options))
    info = MemberInfo(
        name=plan.name,
        host=plan.host,
        p2p_port=plan.p2p_port,
        node_id=node_id,
        validator_public_key=validator_public_key(comet_home).hex(),
        operator=operator,
        roles=roles,
    )
    write_json(path / MEMBER_FILE, info.to_json())
    return info
