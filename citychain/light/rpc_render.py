"""CometBFT RPC JSON from typed values: the inverse of `citychain.light.rpc_parse`.

`parse(render(x)) == x`, and rendering what was parsed from CometBFT gives back its JSON
(the fields these types keep), which the tests check against a live node. Tools that assemble
bundles from typed values, and tests that sign synthetic headers, use these.
"""

from __future__ import annotations

import base64
from typing import Any

from citychain.light.rfc3339 import format_rfc3339
from citychain.light.rpc_parse import ED25519_KEY_TYPE
from citychain.light.types import (
    BlockID,
    BlockIDFlag,
    Commit,
    CommitSig,
    Header,
    LightBlock,
    SignedHeader,
    ValidatorSet,
)

__all__ = [
    "commit_to_json",
    "header_to_json",
    "light_block_to_json",
    "signed_header_to_json",
    "validators_to_json",
]


def _hex(value: bytes) -> str:
    return value.hex().upper()


def _block_id(block_id: BlockID) -> dict[str, Any]:
    return {
        "hash": _hex(block_id.hash),
        "parts": {
            "total": block_id.part_set_header.total,
            "hash": _hex(block_id.part_set_header.hash),
        },
    }


def header_to_json(header: Header) -> dict[str, Any]:
    return {
        "version": {"block": str(header.version_block), "app": str(header.version_app)},
        "chain_id": header.chain_id,
        "height": str(header.height),
        "time": format_rfc3339(header.time),
        "last_block_id": _block_id(header.last_block_id),
        "last_commit_hash": _hex(header.last_commit_hash),
        "data_hash": _hex(header.data_hash),
        "validators_hash": _hex(header.validators_hash),
        "next_validators_hash": _hex(header.next_validators_hash),
        "consensus_hash": _hex(header.consensus_hash),
        "app_hash": _hex(header.app_hash),
        "last_results_hash": _hex(header.last_results_hash),
        "evidence_hash": _hex(header.evidence_hash),
        "proposer_address": _hex(header.proposer_address),
    }


def _commit_sig(commit_sig: CommitSig) -> dict[str, Any]:
    absent = commit_sig.block_id_flag == BlockIDFlag.ABSENT
    return {
        "block_id_flag": int(commit_sig.block_id_flag),
        "validator_address": _hex(commit_sig.validator_address),
        "timestamp": format_rfc3339(commit_sig.timestamp),
        "signature": None if absent else base64.b64encode(commit_sig.signature).decode(),
    }


def commit_to_json(commit: Commit) -> dict[str, Any]:
    return {
        "height": str(commit.height),
        "round": commit.round,
        "block_id": _block_id(commit.block_id),
        "signatures": [_commit_sig(s) for s in commit.signatures],
    }


def signed_header_to_json(signed_header: SignedHeader) -> dict[str, Any]:
    """The `result.signed_header` object of CometBFT's `/commit` RPC."""
    return {
        "header": header_to_json(signed_header.header),
        "commit": commit_to_json(signed_header.commit),
    }


def validators_to_json(validators: ValidatorSet) -> list[dict[str, Any]]:
    """The `result.validators` list of CometBFT's `/validators` RPC."""
    return [
        {
            "address": _hex(v.address),
            "pub_key": {"type": ED25519_KEY_TYPE, "value": base64.b64encode(v.pub_key).decode()},
            "voting_power": str(v.voting_power),
            "proposer_priority": str(v.proposer_priority),
        }
        for v in validators.validators
    ]


def light_block_to_json(light_block: LightBlock) -> dict[str, Any]:
    """A trust-chain hop: `{"signed_header": ..., "validators": [...]}`."""
    return {
        "signed_header": signed_header_to_json(light_block.signed_header),
        "validators": validators_to_json(light_block.validators),
    }
