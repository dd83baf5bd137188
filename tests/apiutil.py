"""A node served in this process for the API's tests: the engine's loop on a thread of its own,
the API on its own thread (citychain/node/run.py's NodeServer), so a test can reach into
either loop; and a self-signed certificate for the TLS tests.

``serving(path, config)`` makes a fresh home (with ``config`` merged into its config.json) and
serves it until the block ends; signature checks run in-process (no worker processes), so it
starts in well under a second.
"""

from __future__ import annotations

import asyncio
import datetime
import shutil
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from citychain.crypto.keystore import Keystore
from citychain.home import Home
from citychain.init_home import init_home
from citychain.modules.auth import get_nonce
from citychain.modules.bank.messages import MsgSend
from citychain.node.operator import ensure_operator_token
from citychain.node.run import NodeServer, bind
from citychain.node.service import Node
from citychain.node.settings import ApiSettings
from citychain.tx.envelope import address_of, sign_tx

PASSWORD = "pw"
START_TIMEOUT_S = 60.0
SINK = bytes(20)


@dataclass
class Served:
    home: Home
    node: Node
    server: NodeServer
    engine_loop: asyncio.AbstractEventLoop
    token: str

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def api_loop(self) -> asyncio.AbstractEventLoop:
        loop = self.server.api.loop
        assert loop is not None
        return loop

    def on_engine(self, work: Any, timeout: float = 30.0) -> Any:
        """Run the coroutine ``work`` on the engine's loop and wait for its result."""
        return asyncio.run_coroutine_threadsafe(work, self.engine_loop).result(timeout)

    def payment(self, amount: int = 1) -> bytes:
        """A valid transfer from the issuer, with its next nonce as the node now sees it."""
        issuer = Keystore(self.home.keys_dir).load("issuer", PASSWORD)
        nonce = get_nonce(self.node.app.committed, address_of(issuer.public_key))
        return sign_tx(
            issuer,
            chain_id=self.node.app.chain_id,
            nonce=nonce,
            messages=[MsgSend(SINK, "ccy", amount)],
            fee=1,
        )


def make_home(path: Path, config: dict[str, Any] | None = None) -> Home:
    home, _, _ = init_home(path, password=PASSWORD, kdf_limits=(1, 8192))
    if config:
        home.write_config({**home.config(), **config})
    return home


@contextmanager
def serving(path: Path, config: dict[str, Any] | None = None) -> Iterator[Served]:
    """A fresh home at ``path`` served in this process until the block ends."""
    home = make_home(path, config)
    settings = ApiSettings.from_config(home.config(), home.path)
    token = ensure_operator_token(home)
    node = Node(home, verifier_workers=0)
    server = NodeServer(node, settings, bind("127.0.0.1", 0), token)
    ready = threading.Event()
    started: dict[str, Any] = {}

    async def main() -> None:
        started["loop"] = asyncio.get_running_loop()
        started["stop"] = stop = asyncio.Event()
        await server.run(stop, ready.set)

    def engine_thread() -> None:
        try:
            asyncio.run(main())
        except BaseException as exc:
            started["error"] = exc
            ready.set()

    thread = threading.Thread(target=engine_thread, name="test-engine", daemon=True)
    thread.start()
    assert ready.wait(START_TIMEOUT_S), "the node did not start"
    assert "error" not in started, started.get("error")
    loop: asyncio.AbstractEventLoop = started["loop"]
    try:
        yield Served(home, node, server, loop, token)
    finally:
        loop.call_soon_threadsafe(started["stop"].set)
        thread.join(START_TIMEOUT_S)
        assert not thread.is_alive(), "the node did not stop"


def self_signed(directory: Path, host: str = "127.0.0.1") -> tuple[Path, Path]:
    """A self-signed certificate for ``host`` and its key (PEM files in ``directory``): with the
    ``cryptography`` package when installed, else with the ``openssl`` command."""
    cert, key = directory / "node-cert.pem", directory / "node-key.pem"
    try:
        _self_signed_cryptography(cert, key, host)
    except ImportError:
        openssl = shutil.which("openssl")
        assert openssl, "neither the cryptography package nor openssl is installed"
        subprocess.run(
            [openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
             "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "2",
             "-subj", f"/CN={host}", "-addext", f"subjectAltName=IP:{host}"],
            check=True,
            capture_output=True,
        )  # fmt: skip
    return cert, key


def _self_signed_cryptography(cert_file: Path, key_file: Path, host: str) -> None:
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(host))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    key_file.chmod(0o600)
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
