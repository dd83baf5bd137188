"""A node's home folder: what ``citychain init`` writes and every other command reads.

```
HOME/
  config.json          chain id, engine, API listen address, block limits, the API's limits and
                       TLS (``api_*`` keys: citychain/node/settings.py, docs/operations.md)
  genesis.json         the genesis document
  validator_key.json   the validator's signing seed (mode 0600, like CometBFT's priv_validator_key)
  operator-token       the token operator routes ask for (mode 0600; made by init or first start)
  keys/                encrypted keystore (issuer and other role keys, wallets)
  data/chain.sqlite    blocks, transactions, receipts, state, indexes
  node.json            written by a running node: its API URL and pid
```
"""

from __future__ import annotations

import base64
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from citychain.crypto.keys import PrivateKey

__all__ = ["Home", "HomeError"]

DEFAULT_API = "127.0.0.1:26680"


class HomeError(Exception):
    """A home folder that is missing, incomplete or unreadable."""


@dataclass(frozen=True)
class Home:
    path: Path

    @property
    def config_file(self) -> Path:
        return self.path / "config.json"

    @property
    def genesis_file(self) -> Path:
        return self.path / "genesis.json"

    @property
    def validator_key_file(self) -> Path:
        return self.path / "validator_key.json"

    @property
    def keys_dir(self) -> Path:
        return self.path / "keys"

    @property
    def db_file(self) -> Path:
        return self.path / "data" / "chain.sqlite"

    @property
    def node_file(self) -> Path:
        return self.path / "node.json"

    @property
    def operator_token_file(self) -> Path:
        return self.path / "operator-token"

    def operator_token(self) -> str | None:
        """The operator token (citychain/node/operator.py), if the home has one."""
        try:
            token = self.operator_token_file.read_text().strip()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise HomeError(f"cannot read {self.operator_token_file}: {exc}") from None
        return token or None

    def exists(self) -> bool:
        return self.config_file.exists() and self.genesis_file.exists()

    def require(self) -> None:
        if not self.exists():
            raise HomeError(f"{self.path} is not a citychain home (run: citychain init --home DIR)")

    def config(self) -> dict[str, Any]:
        self.require()
        return _read_json(self.config_file)

    def write_config(self, config: dict[str, Any]) -> None:
        _write_json(self.config_file, config)

    def validator_key(self) -> PrivateKey:
        doc = _read_json(self.validator_key_file)
        try:
            return PrivateKey.from_seed(bytes.fromhex(str(doc["seed"])))
        except (KeyError, ValueError) as exc:
            raise HomeError(f"{self.validator_key_file} is malformed: {exc}") from None

    def write_validator_key(self, key: PrivateKey, name: str) -> None:
        _write_json(
            self.validator_key_file,
            {"name": name, "public_key": key.public_key.hex(), "seed": key.seed.hex()},
            private=True,
        )

    def api_url(self) -> str:
        """The running node's API, else the configured listen address."""
        if self.node_file.exists():
            try:
                return str(_read_json(self.node_file)["api"])
            except (HomeError, KeyError):
                pass
        config = self.config()
        listen = str(config.get("api", DEFAULT_API))
        scheme = "https" if config.get("api_tls_cert") else "http"
        return listen if listen.startswith("http") else f"{scheme}://{listen}"

    def api_ca_file(self) -> Path | None:
        """What a client on this host trusts for the node's TLS certificate: ``api_tls_ca``,
        else the certificate itself (a self-signed one is its own authority); None without
        TLS, or when the running node says otherwise (node.json ``ca_file``)."""
        if self.node_file.exists():
            try:
                doc = _read_json(self.node_file)
            except HomeError:
                doc = {}
            if "ca_file" in doc:
                return Path(doc["ca_file"]) if doc["ca_file"] else None
        config = self.config()
        for key in ("api_tls_ca", "api_tls_cert"):
            value = config.get(key)
            if isinstance(value, str) and value:
                return self.path / value
        return None


def _read_json(path: Path) -> dict[str, Any]:
    try:
        doc = json.loads(path.read_text())
    except FileNotFoundError:
        raise HomeError(f"{path} does not exist") from None
    except (OSError, ValueError) as exc:
        raise HomeError(f"cannot read {path}: {exc}") from None
    if not isinstance(doc, dict):
        raise HomeError(f"{path} must hold a JSON object")
    return doc


def _write_json(path: Path, doc: dict[str, Any], private: bool = False) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600 if private else 0o644)
    with os.fdopen(fd, "w") as f:
        json.dump(doc, f, indent=2)
        f.write("\n")
    os.replace(tmp, path)


def cometbft_validator_key(cometbft_home: Path) -> bytes:
    """A node's consensus public key, from CometBFT's ``config/priv_validator_key.json``."""
    key_file = cometbft_home / "config" / "priv_validator_key.json"
    try:
        doc = json.loads(key_file.read_text())
        return base64.b64decode(doc["pub_key"]["value"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise HomeError(f"cannot read the validator key {key_file}: {exc}") from None
