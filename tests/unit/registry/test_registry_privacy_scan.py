"""No personal data on the ledger: 1,000 births registered through the solo engine, then every
block, transaction, receipt, index and state value the node stores — every column of every
table, and the database and WAL files byte for byte — is scanned for the citizens' names, dates
of birth and parents' names, in the spellings a careless encoder might use. None may appear.

The registrar keeps each record's content and salt off the ledger; the chain sees only the
record id, the salted commitment and the record's status and history.

The scan is exact but not naive (``_leaks``): every spelling searched for is made of the bytes
``A-Z a-z 0-9 space / -`` only, so wherever one occurs it lies inside a maximal run of such bytes
at least as long as itself. The scan therefore searches only those runs (a few KB, not 3 MB),
and any needle with another byte is searched in the whole haystack.
"""

from __future__ import annotations

import hashlib
import random
import re
import sqlite3
from pathlib import Path

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


NEEDLE_BYTES = rb"A-Za-z0-9 /\-"  # every byte a needle of _needles is made of
_NEEDLE_ONLY = re.compile(rb"[%s]+" % NEEDLE_BYTES)


def _leaks(haystack: bytes, needles: list[bytes]) -> list[bytes]:
    """The needles found in ``haystack``; the same answer as ``[n for n in needles if n in
    haystack]``. A needle of NEEDLE_BYTES only is searched in the distinct maximal runs of those
    bytes that are at least as long as the shortest such needle, joined by a byte outside
    NEEDLE_BYTES so that no match can span two runs; any other needle in the whole haystack."""
    simple = [n for n in needles if _NEEDLE_ONLY.fullmatch(n)]
    shortest = min((len(n) for n in simple), default=1)
    runs = re.findall(rb"[%s]{%d,}" % (NEEDLE_BYTES, shortest), haystack)
    compact = b"\x00".join(sorted(set(runs)))
    return [n for n in needles if n in (compact if _NEEDLE_ONLY.fullmatch(n) else haystack)]


def test_the_fast_scan_finds_what_a_plain_search_finds() -> None:
    """The scan's shortcut misses nothing: needles planted in binary noise, at its edges,
    inside longer runs of letters, in hex and upper case, are all found; near misses are not."""
    rng = random.Random(5)
    citizen = _citizen(rng)
    needles = _needles(citizen)
    noise = bytes(rng.randrange(256) for _ in range(20_000))
    planted = [needles[0], needles[5], needles[-1], needles[-6], needles[len(needles) // 2]]
    haystack = (
        planted[0]  # at the start
        + noise[:5_000]
        + b"xx" + planted[1] + b"yy"  # inside a longer run of needle bytes
        + noise[5_000:10_000]
        + b"\xff" + planted[2] + b"\x00"
        + noise[10_000:]
        + b"Z" + planted[3] + b"-" + planted[4]  # two in one run, the last at the end
    )  # fmt: skip
    found = _leaks(haystack, needles)
    assert found == [n for n in needles if n in haystack]
    assert set(planted) <= set(found)
    # A needle cut in two by a byte outside the run alphabet is not there.
    cut = needles[0][:4] + b"\x00" + needles[0][4:]
    assert _leaks(noise + cut, [needles[0]]) == [n for n in [needles[0]] if n in noise + cut]
    # A needle with some other byte falls back to a plain search.
    odd = b"M\xc3\xa9lanie"
    assert _leaks(noise + odd, [odd]) == [odd]
    assert _leaks(noise, [odd]) == []


# Not marked slow: under half a second (the scan once took 25 s; see _leaks).
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
    needles = [needle for citizen in citizens for needle in _needles(citizen)]
    assert len(needles) == CITIZENS * 36
    assert _leaks(everything, needles) == [], "personal data is stored on the ledger"
    assert _leaks(files, needles) == [], "personal data is in the database files"
    # A control: the scan finds what is there (the first record's commitment, as stored).
    first = content_commitment(citizens[0], hashlib.sha256(b"salt/0").digest())
    assert first in everything
    # And on these very bytes the scan finds a leak: every spelling of one citizen's data
    # planted at random places in the stored bytes and in the files. Any needle found then
    # overlaps a plant, so a plain search of the bytes around the plants gives the answer.
    planted = _needles(citizens[-1])
    for haystack in (everything, files):
        leaky, around = _plant(haystack, planted, rng, margin=max(map(len, needles)))
        found = _leaks(leaky, needles)
        assert set(planted) <= set(found)
        assert found == [n for n in needles if n in around]


def _plant(
    haystack: bytes, plants: list[bytes], rng: random.Random, margin: int
) -> tuple[bytes, bytes]:
    """``haystack`` with each of ``plants`` inserted at a random place, and the bytes within
    ``margin`` of each plant (joined by NUL, which no needle holds)."""
    cuts = sorted(rng.randrange(len(haystack) + 1) for _ in plants)
    out, spans, previous = bytearray(), [], 0
    for cut, plant in zip(cuts, plants, strict=True):
        out += haystack[previous:cut]
        spans.append((len(out), len(out) + len(plant)))
        out += plant
        previous = cut
    out += haystack[previous:]
    around = b"\x00".join(out[max(0, a - margin) : b + margin] for a, b in spans)
    return bytes(out), around
