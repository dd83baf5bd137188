"""Ways to tamper with a real /commit and /validators document, each with the check that must
refuse it. Shared by the recorded-vector tests (one validator) and the live-node tests (four
validators, where a commit may lack one of their precommits): a tamper of "the" signature
changes the first slot that holds one."""

from __future__ import annotations

import base64
import copy
from collections.abc import Callable
from typing import Any

from citychain.crypto.keys import PrivateKey
from citychain.light import Check, LightClientError, parse_signed_header, parse_validators
from citychain.light.rfc3339 import format_rfc3339, parse_rfc3339
from citychain.light.types import Timestamp, validator_address
from citychain.light.verifier import verify_commit

Doc = dict[str, Any]
Tamper = Callable[[Doc, list[Doc]], str | None]
"""Mutates (signed_header, validators) in place; returns the chain ID to verify with, when it
is not the header's."""


COMMIT_FLAG = 2  # BlockIDFlagCommit: the slot holds a precommit for the block


def _signed(sh: Doc) -> Doc:
    """The first signature slot that holds a precommit for the block."""
    return next(s for s in sh["commit"]["signatures"] if s["block_id_flag"] == COMMIT_FLAG)


def _flip_signature(sh: Doc, vals: list[Doc]) -> None:
    slot = _signed(sh)
    raw = bytearray(base64.b64decode(slot["signature"]))
    raw[10] ^= 0x01
    slot["signature"] = base64.b64encode(bytes(raw)).decode()


def _later_signature(sh: Doc, vals: list[Doc]) -> None:
    slot = _signed(sh)
    slot["timestamp"] = _later(slot["timestamp"])


def _other_signer(sh: Doc, vals: list[Doc]) -> None:
    _signed(sh)["validator_address"] = "22" * 20


def _other_key(sh: Doc, vals: list[Doc]) -> None:
    other = PrivateKey.from_seed(b"\x99" * 32).public_key
    vals[0]["pub_key"]["value"] = base64.b64encode(other).decode()
    vals[0]["address"] = validator_address(other).hex().upper()


def _bump(value: str) -> str:
    return str(int(value) + 1)


def _set(path: str, value: Any) -> Tamper:
    def tamper(sh: Doc, vals: list[Doc]) -> None:
        *parents, last = path.split(".")
        node: Any = sh
        for part in parents:
            node = node[int(part)] if part.isdigit() else node[part]
        node[last] = value(node[last]) if callable(value) else value

    return tamper


def _later(text: str) -> str:
    time = parse_rfc3339(text)
    return format_rfc3339(Timestamp(time.seconds + 1, time.nanos))


def _both_heights(sh: Doc, vals: list[Doc]) -> None:
    sh["header"]["height"] = _bump(sh["header"]["height"])
    sh["commit"]["height"] = _bump(sh["commit"]["height"])


def _absent(sh: Doc, vals: list[Doc]) -> None:
    """Signatures made absent, from the first, until those left hold at most 2/3 of the power
    (on one validator: its signature)."""
    power = {v["address"].upper(): int(v["voting_power"]) for v in vals}
    total = sum(power.values())
    slots = [s for s in sh["commit"]["signatures"] if s["block_id_flag"] == COMMIT_FLAG]
    signed = sum(power[s["validator_address"].upper()] for s in slots)
    for slot in slots:
        if 3 * signed <= 2 * total:
            break
        signed -= power[slot["validator_address"].upper()]
        slot.update(
            block_id_flag=1, validator_address="", timestamp="0001-01-01T00:00:00Z", signature=None
        )


def _wrong_chain(sh: Doc, vals: list[Doc]) -> str:
    return "another-chain"


TAMPERS: dict[str, tuple[Tamper, Check]] = {
    "signature byte": (_flip_signature, Check.SIGNATURE),
    "signature timestamp": (_later_signature, Check.SIGNATURE),
    "validator power": (
        lambda sh, vals: vals[0].update(voting_power=_bump(vals[0]["voting_power"])),
        Check.VALIDATORS_HASH,
    ),
    "validator key": (_other_key, Check.VALIDATORS_HASH),
    "app hash": (_set("header.app_hash", "AB" * 32), Check.BLOCK_ID),
    "proposer": (_set("header.proposer_address", "11" * 20), Check.BLOCK_ID),
    "header time": (_set("header.time", "2030-01-01T00:00:00Z"), Check.BLOCK_ID),
    "commit block hash": (_set("commit.block_id.hash", "CD" * 32), Check.BLOCK_ID),
    "expected chain id": (_wrong_chain, Check.CHAIN_ID),
    "header chain id": (_set("header.chain_id", "another-chain"), Check.CHAIN_ID),
    "header height": (_set("header.height", _bump), Check.COMMIT_HEIGHT),
    "commit height": (_set("commit.height", _bump), Check.COMMIT_HEIGHT),
    "both heights": (_both_heights, Check.BLOCK_ID),
    "signer address": (_other_signer, Check.VALIDATOR_ADDRESS),
    "signature made absent": (_absent, Check.VOTING_POWER),
    "extra signature slot": (
        lambda sh, vals: sh["commit"]["signatures"].append(sh["commit"]["signatures"][0]),
        Check.SIGNATURE_COUNT,
    ),
    "header version": (_set("header.version.block", "10"), Check.HEADER),
}


def refusal(signed_header: Doc, validators: list[Doc], name: str) -> Check:
    """Apply tamper `name` to copies of the documents, verify, and return the failed check."""
    sh, vals = copy.deepcopy(signed_header), copy.deepcopy(validators)
    tamper, _ = TAMPERS[name]
    chain_id = tamper(sh, vals) or signed_header["header"]["chain_id"]
    try:
        verify_commit(chain_id, parse_signed_header(sh), parse_validators(vals))
    except LightClientError as exc:
        return exc.check
    raise AssertionError(f"tamper {name!r} was not detected")
