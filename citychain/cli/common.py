"""What every command shares: errors and exit codes, argument types, passwords, homes, output.

Exit codes (docs/cli.md): 0 success; 1 failure (a refused transaction, an invalid proof, a node
that cannot be reached, a wrong password); 2 a command line that cannot be carried out as
written (argparse's own errors, a malformed address, a missing --home or password source).
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

from citychain.client import Client
from citychain.crypto.address import address_to_bytes, is_address
from citychain.crypto.errors import AddressError, InvalidKeyNameError, KeyNotFoundError
from citychain.crypto.keystore import Keystore, validate_key_name
from citychain.home import Home

__all__ = [
    "EXIT_FAILURE",
    "EXIT_OK",
    "EXIT_USAGE",
    "HOME_ENV",
    "KEY_PASSWORD",
    "PASSWORD_ENV",
    "CliFailure",
    "Parser",
    "SecretSource",
    "UsageError",
    "amount",
    "client_for",
    "denom",
    "home_of",
    "host_port",
    "print_json",
    "read_password",
    "read_secret",
    "require_home",
    "resolve_address",
    "stdin_is_tty",
]

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2

PASSWORD_ENV = "CITYCHAIN_PASSWORD"
HOME_ENV = "CITYCHAIN_HOME"

MAX_PORT = 65_535  # TCP
U64_MAX = 2**64 - 1
"""Amounts are unsigned 64-bit integers on the ledger (docs/encoding.md)."""

_DIGITS = re.compile(r"[0-9]+")
_DENOM = re.compile(r"[a-z][a-z0-9]{1,15}")
_HOST_PORT = re.compile(r"[A-Za-z0-9.\-\[\]:]*:[0-9]{1,5}")


class UsageError(Exception):
    """The command line cannot be carried out as written: exit status 2."""


class CliFailure(Exception):
    """The command ran and failed (an invalid proof, a node already running): exit status 1."""


class Parser(argparse.ArgumentParser):
    """argparse with our error format: the usage line, then ``error: ...``, exit status 2."""

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"error: {message}\n")


# --- argument types (argparse turns ArgumentTypeError into exit 2) ----------------------------


def amount(text: str) -> int:
    """A positive whole number of minor units (cents), at most 2^64-1."""
    if not _DIGITS.fullmatch(text) or int(text) == 0:
        raise argparse.ArgumentTypeError(
            "amount must be a positive whole number of minor units (1250 means 12.50), "
            f"got {text!r}"
        )
    value = int(text)
    if value > U64_MAX:
        raise argparse.ArgumentTypeError(f"amount {text} is over the ledger's bound 2^64-1")
    return value


def natural(text: str) -> int:
    """A whole number >= 0, at most 2^64-1 (fees, heights)."""
    if not _DIGITS.fullmatch(text) or int(text) > U64_MAX:
        raise argparse.ArgumentTypeError(f"expected a whole number 0..2^64-1, got {text!r}")
    return int(text)


def positive(text: str) -> int:
    """A whole number >= 1, at most 2^64-1 (heights, counts)."""
    value = natural(text)
    if value == 0:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 1, got {text!r}")
    return value


def denom(text: str) -> str:
    if not _DENOM.fullmatch(text):
        raise argparse.ArgumentTypeError(
            f"denomination must be 2 to 16 lowercase letters and digits, starting with a letter, "
            f"got {text!r}"
        )
    return text


def host_port(text: str) -> str:
    if not _HOST_PORT.fullmatch(text) or int(text.rpartition(":")[2]) > MAX_PORT:
        raise argparse.ArgumentTypeError(
            f"expected HOST:PORT (port 0 picks a free one), got {text!r}"
        )
    return text


def hex_string(size: int, what: str) -> Any:
    """An argparse type accepting exactly ``size`` bytes as hex; returns it in lowercase."""
    pattern = re.compile(f"[0-9a-fA-F]{{{2 * size}}}")

    def parse(text: str) -> str:
        if not pattern.fullmatch(text):
            raise argparse.ArgumentTypeError(
                f"{what} must be {2 * size} hex characters, got {text!r}"
            )
        return text.lower()

    return parse


def text_limit(limit: int, what: str) -> Any:
    """An argparse type for free text of at most ``limit`` UTF-8 bytes."""

    def parse(text: str) -> str:
        if len(text.encode()) > limit:
            raise argparse.ArgumentTypeError(f"{what} is longer than {limit} bytes")
        return text

    return parse


# --- homes, nodes, keys ------------------------------------------------------------------------


def home_of(args: argparse.Namespace) -> Home | None:
    """The --home given (or $CITYCHAIN_HOME), if any."""
    path = getattr(args, "home", None) or os.environ.get(HOME_ENV)
    return Home(Path(path).expanduser().absolute()) if path else None


def require_home(args: argparse.Namespace) -> Home:
    home = home_of(args)
    if home is None:
        raise UsageError(f"--home DIR is required (or set {HOME_ENV})")
    return home


def client_for(args: argparse.Namespace) -> Client:
    """A client for --node URL, else for the node running from --home (HOME/node.json)."""
    node = getattr(args, "node", None)
    if node:
        url = node if node.startswith(("http://", "https://")) else f"http://{node}"
        return Client(url)
    home = home_of(args)
    if home is None:
        raise UsageError(f"give --home DIR (or {HOME_ENV}) to find the node, or --node URL")
    return Client(home.api_url(), ca_file=home.api_ca_file())


def resolve_address(text: str, args: argparse.Namespace) -> str:
    """An address argument: a ``city1...`` address, or the name of a key in the keystore."""
    candidate = text.lower() if text.isupper() else text  # BIP-173 allows all-uppercase
    if is_address(candidate):
        return candidate
    home = home_of(args)
    if home is not None:
        try:
            validate_key_name(text)
            return Keystore(home.keys_dir).show(text).address
        except (InvalidKeyNameError, KeyNotFoundError):
            pass
    if candidate.startswith("city1"):
        try:
            address_to_bytes(candidate)
        except AddressError as exc:
            raise UsageError(f"invalid address {text!r}: {exc}") from None
    where = f"a key in {home.keys_dir}" if home else "a key name (give --home to use key names)"
    raise UsageError(f"{text!r} is neither a city1... address nor {where}")


# --- passwords ----------------------------------------------------------------------------------


def stdin_is_tty() -> bool:
    try:
        return sys.stdin is not None and sys.stdin.isatty()
    except (OSError, ValueError):
        return False


@dataclass(frozen=True)
class SecretSource:
    """Where a command reads a secret from: the file named by ``option``, else ``$env``, else a
    terminal ``prompt``. ``what`` names it in messages ("key password")."""

    option: str
    env: str
    what: str
    prompt: str


KEY_PASSWORD = SecretSource("--password-file", PASSWORD_ENV, "key password", "Key password: ")


def read_secret(source: SecretSource, file: str | None, *, new: bool) -> tuple[str, str]:
    """The secret from ``file`` (the value of ``source.option``), else ``$source.env``, else a
    prompt, asked twice when ``new`` (a secret that will encrypt something new); and where it
    came from. UsageError when there is no source or the file cannot be read."""
    if file:
        try:
            text = Path(file).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise UsageError(f"cannot read {source.option} {file}: {exc}") from None
        # The first line, so that `echo pw > file` and editors' final newlines both work.
        return (text.splitlines()[0] if text else ""), f"{source.option} {file}"
    if os.environ.get(source.env) is not None:
        return os.environ[source.env], source.env
    if stdin_is_tty():
        secret = getpass.getpass(source.prompt)
        noun = source.what.split()[-1]  # "password", "passphrase"
        if new and getpass.getpass(f"Repeat the {noun}: ") != secret:
            raise UsageError(f"the two {noun}s differ")
        return secret, "the prompt"
    raise UsageError(
        f"no {source.what}: pass {source.option} FILE or set {source.env} "
        "(there is no terminal to ask on)"
    )


def read_password(args: argparse.Namespace, *, new: bool = False) -> str:
    """The key password: --password-file, else $CITYCHAIN_PASSWORD, else a terminal prompt.

    ``new`` (a password that will encrypt a new key) refuses an empty one and, at a prompt, asks
    twice.
    """
    password, source = read_secret(KEY_PASSWORD, getattr(args, "password_file", None), new=new)
    if new and not password:
        raise UsageError(f"the password from {source} is empty; a key needs a password")
    return password


# --- output -------------------------------------------------------------------------------------


def print_json(doc: Any) -> None:
    print(json.dumps(doc, indent=2))


def fail(message: str) -> NoReturn:
    raise CliFailure(message)


# --- JSON files a command reads or writes --------------------------------------------------


def read_json_object(name: str, max_bytes: int, hint: str) -> dict[str, Any]:
    """The JSON object in file ``name``; UsageError (exit 2) saying what is wrong with it.

    ``hint`` ends the message when the file holds JSON but not an object (e.g. "see
    examples/birth.json").
    """
    path = Path(name)
    try:
        if path.stat().st_size > max_bytes:
            raise UsageError(f"{name} is larger than {max_bytes} bytes")
        doc = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise UsageError(f"cannot read {name}: {exc.strerror or exc}") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise UsageError(f"{name} is not JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise UsageError(f"{name} must hold a JSON object ({hint})")
    return doc


def write_private_json(path: Path, doc: dict[str, Any]) -> None:
    """Write a new file only its owner can read (it may carry personal or restricted data);
    an existing file is never overwritten."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as exc:
        raise CliFailure(f"cannot write {path}: {exc.strerror or exc}") from None
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        json.dump(doc, out, indent=2)
        out.write("\n")
