"""No personal data on the ledger: 1,000 births registered through the solo engine, then every
block, transaction, receipt, index and state value the node stores — every column of every
table, and the database and WAL files byte for byte — is scanned for the citizens' names, dates
of birth and parents' names, in the spellings a careless encoder might use. None may appear.

The registrar keeps each record's content and salt off the ledger; the chain sees only the
record id, the salted commitment and the record's status and history.
"""

from __future__ import annotations

import hashlib
import random
import sqlite3
from pathlib import Path

import pytest
from helpers import DEFAULT_BALANCES, VALIDATOR, Chain, key

from citychain.credentials import content_commitment
from citychain.engines.solo.engine import SoloEngine
from citychain.engines.solo.mempool import Mempool
from citychain.modules.registry.messages import MsgRegister

CITIZENS = 1_000
PER_BLOCK = 250
REGISTRAR = key("registrar/privacy-scan")
SYLLABLES = ("mar", "len", "tov", "ika", "sul", "dra", "fen", "oru", "bel", "kis", "vad", "qui")


def _name(rng: random.Random) -> str:
    word = "".join(rng.choice(SYLLABLES) for _ in range(3))
    return word.capitalize()


def _citizen(rng: random.Random) -> dict[str, str]:
    return {
        "given_name": _name(rng),
        "family_name": _name(rng),
        "date_of_birth": f"{rng.randint(1950, 2025)}-{rng.randint(1, 12):02d}"
        f"-{rng.randint(1, 28):02d}",
        "place_of_birth": "Citychain",
        "sex": rng.choice("FMX"),
        "parent_1_name": f"{_name(rng)} {_name(rng)}",
        "parent_2_name": f"{_name(rng)} {_name(rng)}",
    }


def _needles(citizen: dict[str, str]) -> list[bytes]:
    """The personal values, as UTF-8 and in the other spellings an encoder might produce."""
    values = [citizen[f] for f in ("given_name", "family_name", "parent_1_name", "parent_2_name")]
    values += [citizen["parent_1_name"].split()[0], citizen["parent_2_name"].split()[0]]
    date = citizen["date_of_birth"]
    values += [date, date.replace("-", ""), "/".join(reversed(date.split("-")))]
    out: list[bytes] = []
    for value in values:
        out += [value.encode(), value.lower().encode(), value.upper().encode()]
        out.append(value.encode().hex().encode())  # hex text, as views print bytes
    return out


@pytest.mark.slow  # about 25 s: 40,000 substring searches over the whole database
def test_the_ledger_stores_no_personal_data_of_1000_registered_citizens(tmp_path: Path) -> None:
    rng = random.Random(20261201)
    chain = Chain.create(
        tmp_path, {**DEFAULT_BALANCES, REGISTRAR: 1_000_000}, registrars=(REGISTRAR,)
    )
    engine = SoloEngine(chain.app, Mempool(chain.app), VALIDATOR, max_block_txs=PER_BLOCK)
    citizens = [_citizen(rng) for _ in range(CITIZENS)]
    for i, citizen in enumerate(citizens):
        salt = hashlib.sha256(b"salt/%d" % i).digest()
        record_id = hashlib.sha256(b"record/%d" % i).digest()
        message = MsgRegister("birth", record_id, content_commitment(citizen, salt), None, ())
        raw = chain.tx(REGISTRAR, message, nonce=i)
        assert engine.mempool.add(raw, hashlib.sha256(raw).digest()).ok
        if (i + 1) % PER_BLOCK == 0:
            block = engine.produce_block()
            assert block is not None and all(r.ok for r in block.result.tx_results)
    assert chain.app.height == CITIZENS // PER_BLOCK

    db = chain.app.store.path
    stored: list[bytes] = []
    with sqlite3.connect(db) as conn:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        assert {"blocks", "txs", "state", "account_txs", "event_txs", "meta"} <= set(tables)
        for table in tables:
            for row in conn.execute(f"SELECT * FROM {table}"):
                stored += [v if isinstance(v, bytes) else str(v).encode() for v in row]
    assert sum(1 for _ in stored) > CITIZENS * 4  # the scan really reads the registrations
    everything = b"\x00".join(stored)
    files = b"".join(p.read_bytes() for p in db.parent.iterdir() if p.name.startswith(db.name))
    for citizen in citizens:
        for needle in _needles(citizen):
            assert needle not in everything, f"{needle!r} is stored on the ledger"
            assert needle not in files, f"{needle!r} is in the database files"
    # A control: the scan finds what is there (the first record's commitment, as stored).
    first = content_commitment(citizens[0], hashlib.sha256(b"salt/0").digest())
    assert first in everything
