"""``citychain verify proof FILE`` and ``citychain verify certificate FILE``: offline checks of a
proof bundle (docs/proofs.md) and of a birth or death certificate (docs/modules/registry.md);
no network.

Which validators are trusted decides what a valid answer means:

- ``--genesis FILE`` (or ``--home DIR``, which reads DIR/genesis.json): the header must be signed
  by a validator of that genesis, and be for its chain. This proves the fact on that chain.
- neither: the bundle's own validator list is trusted, which shows only that the bundle is
  consistent with itself. The output says so.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

from citychain.cli.common import EXIT_FAILURE, CliFailure, UsageError, print_json
from citychain.client import VerifyResult
from citychain.credentials import Check, CredentialError, verify_certificate
from citychain.credentials.qr import MAGIC, PNG_MAGIC, decode_qr_parts, read_qr_image
from citychain.genesis import Genesis
from citychain.home import Home
from citychain.light import bundle_of, verify_document
from citychain.telemetry.proof import ReportProofResult, is_report_proof, verify_report_proof

__all__ = ["register"]


def register(commands: Any, parents: dict[str, argparse.ArgumentParser]) -> None:
    verify = commands.add_parser("verify", help="check proofs offline")
    sub = verify.add_subparsers(dest="verify_command", required=True, metavar="WHAT")
    proof = sub.add_parser(
        "proof",
        parents=[parents["json"]],
        help="check a proof bundle offline; exit 0 only when valid",
        description="Check a proof bundle, or the output of 'query bank balance --prove' (which "
        "holds one under 'proof'), without any network access. Exit 0 only when it is valid: "
        "the proof holds and every field the file states is what it proves.",
    )
    proof.add_argument("file", metavar="FILE", help="the bundle JSON ('-' reads stdin)")
    trust = proof.add_mutually_exclusive_group()
    trust.add_argument("--genesis", metavar="FILE", help="trust the validators of this genesis")
    trust.add_argument("--home", metavar="DIR", help="trust the validators of DIR/genesis.json")
    proof.set_defaults(func=cmd_verify_proof)

    certificate = sub.add_parser(
        "certificate",
        parents=[parents["json"]],
        help="check a birth or death certificate offline; exit 0 only when valid",
        description="Check a certificate file (or a presentation), or the QR code of one (a PNG "
        "read with zbarimg, or its raw bytes), without any network: the registrar's signature, "
        "the disclosed claims, the record proof against the validators, and the record's status "
        "at the proof's height. Exit 0 only when it is valid.",
    )
    certificate.add_argument(
        "files",
        metavar="FILE",
        nargs="+",
        help="a certificate JSON file, or the QR code image(s) of one (or their raw bytes)",
    )
    trust = certificate.add_mutually_exclusive_group()
    trust.add_argument("--genesis", metavar="FILE", help="trust the validators of this genesis")
    trust.add_argument("--home", metavar="DIR", help="trust the validators of DIR/genesis.json")
    certificate.set_defaults(func=cmd_verify_certificate)


def _load_document(name: str) -> Any:
    try:
        text = sys.stdin.read() if name == "-" else Path(name).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CliFailure(f"cannot read proof file {name}: {exc}") from None
    try:
        return json.loads(text)
    except ValueError as exc:
        raise CliFailure(f"{name} is not JSON: {exc}") from None


def _trusted_genesis(args: argparse.Namespace) -> tuple[Genesis | None, str]:
    if args.genesis:
        return Genesis.load(Path(args.genesis)), args.genesis
    if args.home:
        home = Home(Path(args.home))
        return Genesis.load(home.genesis_file), str(home.genesis_file)
    return None, "the bundle itself"


def _names_failure(bundle: Any, genesis: Genesis) -> str | None:
    """A solo bundle names its validators: each name must be the genesis' for that key."""
    if not isinstance(bundle, dict) or bundle.get("engine") is not None:
        return None
    listed = bundle.get("validators")
    if not isinstance(listed, list):
        return None
    names = {v.public_key.hex(): v.name for v in genesis.validators}
    for entry in listed:
        key, name = str(entry.get("public_key", "")).lower(), entry.get("name")
        if name is not None and names.get(key) != name:
            return (
                f"the bundle names validator {key} {name!r}, the trusted genesis {names.get(key)!r}"
            )
    return None


def check(document: Any, genesis: Genesis | None) -> VerifyResult:
    """verify_document (a bundle, or the answer of ``query bank balance --prove``), plus, with
    a genesis: the proven header is for the genesis' chain, and a solo bundle's validator
    names are the genesis'."""
    trusted = None if genesis is None else [(v.public_key, v.power) for v in genesis.validators]
    try:
        result = verify_document(document, trusted)
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        return VerifyResult(False, f"malformed bundle: {exc}")
    if not result.valid or genesis is None:
        return result
    if result.details["chain_id"] != genesis.chain_id:
        return VerifyResult(
            False,
            f"the header is for chain {result.details['chain_id']!r}, the trusted genesis for "
            f"{genesis.chain_id!r}",
            result.details,
        )
    names = _names_failure(bundle_of(document), genesis)
    if names:
        return VerifyResult(False, names, result.details)
    return result


def cmd_verify_proof(args: argparse.Namespace) -> int:
    genesis, trust_source = _trusted_genesis(args)
    document = _load_document(args.file)
    if is_report_proof(document):
        return _verify_report_proof(args, document, genesis, trust_source)
    result = check(document, genesis)
    if args.json:
        _print_verdict(result, trust_source)
    if not result.valid:
        print(f"error: invalid proof: {result.reason}", file=sys.stderr)
        return EXIT_FAILURE
    if not args.json:
        print(_describe(result))
    if genesis is None:
        print(
            "warning: no --genesis or --home given, so the bundle's own validator list was "
            "trusted: this shows the bundle is consistent, not that the chain you trust signed it",
            file=sys.stderr,
        )
    return 0


def _print_verdict(result: VerifyResult | ReportProofResult, trust_source: str) -> None:
    print_json(
        {
            "valid": result.valid,
            "reason": result.reason,
            "trusted_validators_from": trust_source,
            **({"details": result.details} if result.details else {}),
        }
    )


def _verify_report_proof(
    args: argparse.Namespace, document: Any, genesis: Genesis | None, trust_source: str
) -> int:
    """A device report proof (docs/modules/devices.md §7): report -> batch root -> ledger."""
    trusted = None if genesis is None else [(v.public_key, v.power) for v in genesis.validators]
    result = verify_report_proof(document, trusted)
    if result.valid and genesis is not None and result.details["chain_id"] != genesis.chain_id:
        result = replace(
            result,
            valid=False,
            reason=f"the anchor proof is for chain {result.details['chain_id']!r}, the trusted "
            f"genesis for {genesis.chain_id!r}",
        )
    if args.json:
        _print_verdict(result, trust_source)
    if not result.valid:
        print(f"error: invalid report proof: {result.reason}", file=sys.stderr)
        return EXIT_FAILURE
    if not args.json:
        d = result.details
        print(
            f"valid: report {d['report_id']} (device {d['device_id']}, counter {d['counter']}) "
            f"is in batch {d['batch_id']}, anchored at height {d['anchored_height']} of chain "
            f"{d['chain_id']!r}"
        )
    if genesis is None:
        print(
            "warning: no --genesis or --home given, so the bundle's own validator list was "
            "trusted: this shows the bundle is consistent, not that the chain you trust signed it",
            file=sys.stderr,
        )
    return 0


def _read_certificate(names: list[str]) -> Any:
    """The certificate bundle in FILE...: one JSON file, or the QR codes of one (images, or
    the raw bytes a scanner read), in any order."""
    payloads: list[tuple[str, bytes]] = []
    texts: list[tuple[str, bytes]] = []
    for name in names:
        try:
            raw = sys.stdin.buffer.read() if name == "-" else Path(name).read_bytes()
            if raw.startswith(PNG_MAGIC):
                raw = read_qr_image(Path(name))
        except OSError as exc:
            reason = exc.strerror or exc
            raise CliFailure(f"cannot read certificate file {name}: {reason}") from None
        except CredentialError as exc:
            raise CliFailure(f"{name}: {exc}") from None
        (payloads if raw.startswith(MAGIC) else texts).append((name, raw))
    if (payloads and texts) or len(texts) > 1:
        raise UsageError("give one certificate file, or the QR codes of one certificate")
    if payloads:
        try:
            return decode_qr_parts([raw for _, raw in payloads])
        except CredentialError as exc:
            raise CliFailure(f"{', '.join(n for n, _ in payloads)}: {exc}") from None
    name, raw = texts[0]
    try:
        return json.loads(raw.decode("utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        message = f"{name} is neither a certificate JSON file nor a QR code: {exc}"
        raise CliFailure(message) from None


def cmd_verify_certificate(args: argparse.Namespace) -> int:
    genesis, trust_source = _trusted_genesis(args)
    bundle = _read_certificate(args.files)
    trusted = None if genesis is None else [(v.public_key, v.power) for v in genesis.validators]
    result = verify_certificate(bundle, None, trusted)
    if result.valid and genesis is not None:
        chain = bundle["record_proof"].get("chain_id")
        if chain != genesis.chain_id:
            result = replace(
                result,
                valid=False,
                status=None,
                check=Check.RECORD_PROOF,
                reason=f"the record proof is for chain {chain!r}, the trusted genesis for "
                f"{genesis.chain_id!r}",
            )
    if args.json:
        print_json({**result.as_json(), "trusted_validators_from": trust_source})
    if not result.valid:
        print(f"error: invalid certificate: {result.reason}", file=sys.stderr)
        return EXIT_FAILURE
    if not args.json:
        print(result.reason)
        print(f"kind       {result.kind}")
        for name, value in result.claims.items():
            print(f"  {name:<16} {json.dumps(value, ensure_ascii=False)}")
    if genesis is None:
        print(
            "warning: no --genesis or --home given, so the proof's own validator list was "
            "trusted: this shows the certificate is consistent, not that the chain you trust "
            "signed it",
            file=sys.stderr,
        )
    return 0


def _describe(result: VerifyResult) -> str:
    d = result.details
    claim = d.get("claim") or {}
    where = f"at height {d.get('height')} of chain {d.get('chain_id')!r}"
    where += f" (app hash {d.get('app_hash')})"
    if claim.get("kind") == "balance":
        holds = f"{claim.get('address')} holds {claim.get('amount')} {claim.get('denom')}"
        return f"valid: {holds} {where}"
    state = "present" if d.get("present") else "absent"
    return f"valid: the key is {state} {where}"
