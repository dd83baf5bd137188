"""Small builders shared by the tests: fixed keys, a genesis, and an in-process chain.

`Chain` drives the Application exactly as an engine does (``finalize_block`` then ``commit``) and
checks every module invariant after each block, so no test can leave a broken supply unnoticed.
Import with ``from helpers import ...``: tests/conftest.py puts this directory on ``sys.path``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import msgspec
from hypothesis import settings

from citychain.app import Application, BlockResult, TxResult
from citychain.codec import encode
from citychain.crypto.address import address_from_public_key
from citychain.crypto.keys import PrivateKey
from citychain.errors import ErrorCode
from citychain.genesis import Genesis
from citychain.modules.auth.state import get_nonce, nonce_key
from citychain.modules.bank.genesis import DEFAULT_SECTION
from citychain.modules.bank.state import FEE_COLLECTOR, balance_key, get_balance, get_supply
from citychain.store.sqlite import BlockStore
from citychain.tx.envelope import SIGN_DOMAIN, Message, TxBody, TxRaw, address_of, sign_tx

CHAIN_ID = "citychain-test"
CCY = "ccy"
FIRST_BLOCK_TIME_MS = 1_700_000_000_000
BLOCK_INTERVAL_MS = 1_000

# DEFAULT_SECTION's tier limits, in cents, restated so that a change to them shows up here.
TIER0_MAX_BALANCE = 100_000
TIER0_MAX_PAYMENT = 20_000
TIER1_MAX_BALANCE = 5_000_000
TIER1_MAX_PAYMENT = 1_000_000


DEV_MAX_EXAMPLES = 100
"""Hypothesis' default max_examples: the ``dev`` profile's (tests/conftest.py)."""


def examples(dev_count: int) -> int:
    """``max_examples`` for a test that wants ``dev_count`` examples under the ``dev`` profile:
    scaled by the loaded profile's ``max_examples / 100`` (``ci``: 30 %), never below
    min(dev_count, 10). Use it instead of a fixed number, which would override every profile:
    ``@settings(max_examples=examples(500))``."""
    scaled = dev_count * settings().max_examples // DEV_MAX_EXAMPLES
    return max(scaled, min(dev_count, 10))


def key(name: str) -> PrivateKey:
    """A fixed test key: seed = sha256("test-key/" + name)."""
    return PrivateKey.from_seed(hashlib.sha256(b"test-key/" + name.encode()).digest())


def addr(who: PrivateKey | bytes) -> bytes:
    """The raw 20-byte address of a key (or an address passed through)."""
    return address_of(who.public_key) if isinstance(who, PrivateKey) else who


VALIDATOR = key("validator")
ALICE = key("alice")
BOB = key("bob")
CAROL = key("carol")
DAVE = key("dave")  # never funded
ISSUER = key("issuer")
KYC = key("kyc")


def make_genesis(
    balances: Mapping[PrivateKey, int],
    *,
    issuers: Sequence[PrivateKey] = (),
    kyc: Sequence[PrivateKey] = (),
    registrars: Sequence[PrivateKey] = (),
    tiers: Mapping[PrivateKey, int] | None = None,
    min_fee: int = 1,
    chain_id: str = CHAIN_ID,
) -> Genesis:
    bank: dict[str, Any] = msgspec.json.decode(msgspec.json.encode(DEFAULT_SECTION))
    bank["params"]["min_fee"] = min_fee
    bank["balances"] = [
        {"address": address_from_public_key(k.public_key), "denom": CCY, "amount": amount}
        for k, amount in balances.items()
    ]
    bank["wallet_tiers"] = [
        {"address": address_from_public_key(k.public_key), "tier": tier}
        for k, tier in (tiers or {}).items()
    ]
    roles = {
        "issuer": [address_from_public_key(k.public_key) for k in issuers],
        "kyc": [address_from_public_key(k.public_key) for k in kyc],
    }
    if registrars:  # only when asked, so that every other genesis keeps its bytes
        roles["registrar"] = [address_from_public_key(k.public_key) for k in registrars]
    return Genesis.from_dict(
        {
            "chain_id": chain_id,
            "genesis_time": "2024-01-01T00:00:00Z",
            "validators": [{"name": "solo", "public_key": VALIDATOR.public_key.hex(), "power": 1}],
            "app_state": {"consortium": {"roles": roles}, "bank": bank},
        }
    )


# ISSUER and KYC hold a little money because their privileged transactions pay fees too.
DEFAULT_BALANCES: dict[PrivateKey, int] = {
    ALICE: 50_000,
    BOB: 10_000,
    CAROL: 1_000,
    ISSUER: 1_000,
    KYC: 1_000,
}


class Chain:
    """An Application over a fresh SQLite store, with signing and block helpers."""

    def __init__(self, app: Application) -> None:
        self.app = app

    @classmethod
    def create(
        cls,
        directory: Path,
        balances: Mapping[PrivateKey, int] | None = None,
        **genesis_options: Any,
    ) -> Chain:
        directory.mkdir(parents=True, exist_ok=True)
        app = Application(BlockStore(directory / "chain.sqlite"))
        genesis = make_genesis(
            DEFAULT_BALANCES if balances is None else balances,
            issuers=genesis_options.pop("issuers", (ISSUER,)),
            kyc=genesis_options.pop("kyc", (KYC,)),
            **genesis_options,
        )
        app.init_chain(genesis)
        assert app.check_invariants() == []
        return cls(app)

    @property
    def height(self) -> int:
        return self.app.height

    def nonce(self, who: PrivateKey | bytes) -> int:
        return get_nonce(self.app.committed, addr(who))

    def balance(self, who: PrivateKey | bytes, denom: str = CCY) -> int:
        return get_balance(self.app.committed, addr(who), denom)

    def fees_collected(self) -> int:
        return get_balance(self.app.committed, FEE_COLLECTOR, CCY)

    def supply(self, denom: str = CCY) -> int:
        return get_supply(self.app.committed, denom)

    def tx(
        self,
        signer: PrivateKey,
        *messages: Message,
        nonce: int | None = None,
        fee: int = 1,
        expiry_height: int = 0,
        memo: str = "",
        chain_id: str = CHAIN_ID,
    ) -> bytes:
        """A signed transaction; the nonce defaults to the signer's committed next nonce."""
        return sign_tx(
            signer,
            chain_id=chain_id,
            nonce=self.nonce(signer) if nonce is None else nonce,
            messages=messages,
            fee=fee,
            expiry_height=expiry_height,
            memo=memo,
        )

    def block(self, *txs: bytes) -> BlockResult:
        """Finalize and commit one block of ``txs``; every invariant must hold afterwards."""
        height = self.app.height + 1
        time_ms = FIRST_BLOCK_TIME_MS + height * BLOCK_INTERVAL_MS
        result = self.app.finalize_block(height, time_ms, list(txs))
        self.app.commit()
        assert self.app.check_invariants() == []
        return result

    def run(self, signer: PrivateKey, *messages: Message, **options: Any) -> TxResult:
        """Sign one transaction, commit it alone in a block, return its result."""
        return self.block(self.tx(signer, *messages, **options)).tx_results[0]

    def advance(self, blocks: int) -> None:
        """Commit ``blocks`` empty blocks (the solo engine makes none, but the app allows it)."""
        for _ in range(blocks):
            self.block()


def unsigned_body(
    signer: PrivateKey,
    messages: Iterable[tuple[str, bytes]],
    *,
    nonce: int = 0,
    fee: int = 1,
    chain_id: str = CHAIN_ID,
) -> bytes:
    """A TxBody whose messages are given as (type, raw msgpack) pairs, bypassing the structs."""
    return encode(
        TxBody(
            chain_id=chain_id,
            public_key=signer.public_key,
            nonce=nonce,
            fee=fee,
            expiry_height=0,
            memo="",
            messages=tuple((name, msgspec.Raw(raw)) for name, raw in messages),
        )
    )


def sign_body(signer: PrivateKey, body: bytes) -> bytes:
    """Wrap arbitrary body bytes in a TxRaw signed by ``signer``."""
    return encode(TxRaw(body=body, signature=signer.sign(SIGN_DOMAIN + body)))


def error_of(result: Any) -> tuple[str, int]:
    """(codespace, code) of a TxResult, CheckResult or AddResult; ("", 0) is success."""
    return (result.codespace, result.code)


def code_of(error: ErrorCode) -> tuple[str, int]:
    return (error.codespace, error.code)


def changed_keys(before: Mapping[bytes, bytes], after: Mapping[bytes, bytes]) -> set[bytes]:
    """Keys added, removed or rewritten between two snapshots of committed state."""
    return {k for k in before.keys() | after.keys() if before.get(k) != after.get(k)}


def assert_fails_paying_fee(
    chain: Chain, signer: PrivateKey, *messages: Message, error: ErrorCode, fee: int = 1
) -> TxResult:
    """The transaction passes the ante step but a message fails with ``error``: the signer pays
    the fee and uses the nonce, and no other key of the state changes."""
    before = dict(chain.app.committed.values)
    balance, nonce, fees = chain.balance(signer), chain.nonce(signer), chain.fees_collected()
    result = chain.run(signer, *messages, fee=fee)
    assert error_of(result) == code_of(error), result.log
    assert chain.balance(signer) == balance - fee
    assert chain.nonce(signer) == nonce + 1
    assert chain.fees_collected() == fees + fee
    assert changed_keys(before, chain.app.committed.values) == {
        balance_key(addr(signer), CCY),
        balance_key(FEE_COLLECTOR, CCY),
        nonce_key(addr(signer)),
    }
    return result


def assert_refused_free(chain: Chain, raw: bytes, error: ErrorCode) -> TxResult:
    """The transaction fails before it may pay (decoding or the ante step): nothing changes, not
    even the app hash."""
    before, app_hash = dict(chain.app.committed.values), chain.app.app_hash
    result = chain.block(raw).tx_results[0]
    assert error_of(result) == code_of(error), result.log
    assert chain.app.committed.values == before
    assert chain.app.app_hash == app_hash
    return result


def fund_in_genesis(genesis_file: Path, addresses: Iterable[str], amount: int) -> None:
    """Give ``addresses`` the institution tier and ``amount`` ccy in a fresh home's genesis
    (before its node first starts), as ``citychain init`` does for its role keys."""
    doc = msgspec.json.decode(genesis_file.read_bytes())
    bank = doc["app_state"]["bank"]
    for address in addresses:
        bank["wallet_tiers"].append({"address": address, "tier": 2})
        bank["balances"].append({"address": address, "denom": "ccy", "amount": amount})
    genesis_file.write_bytes(Genesis.from_dict(doc).raw)
