"""``citychain tx consortium ...`` and ``citychain query consortium ...``: governance by vote.

```
citychain tx consortium propose admit-member --name N --operator ADDR --validator-key HEX
                                             --power P --from KEY
citychain tx consortium propose remove-member --name N --from KEY
citychain tx consortium propose grant-role --role R --address ADDR --from KEY
citychain tx consortium propose revoke-role --role R --address ADDR --from KEY
citychain tx consortium vote ID --yes|--no --from KEY
citychain query consortium members|proposals|proposal ID|roles [--json]
```

Signing, submitting and error reporting are those of ``citychain tx bank`` (cli/tx.py): a
refused transaction raises TxFailed, which main() prints with its code, codespace and log.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Callable
from typing import Any

from citychain.cli.common import (
    client_for,
    hex_string,
    positive,
    print_json,
    require_home,
    resolve_address,
    text_limit,
)
from citychain.cli.tx import TX_MEMO_BYTES, signing_key, signing_options
from citychain.client import ApiError, Client, Wallet
from citychain.crypto.address import address_to_bytes
from citychain.modules.consortium import (
    ALL_ROLES,
    Action,
    AdmitMember,
    GrantRole,
    MsgPropose,
    MsgVote,
    RemoveMember,
    RevokeRole,
)

__all__ = ["register"]

MAX_LIMIT = 200  # the API's page limit
_MEMBER_NAME = re.compile(r"[!-~]+( [!-~]+)*")  # messages.MemberName
MEMBER_NAME_CHARS = 64  # messages.MemberName's limit
validator_key = hex_string(32, "validator key")


def _member_name(text: str) -> str:
    if len(text) > MEMBER_NAME_CHARS or not _MEMBER_NAME.fullmatch(text):
        raise argparse.ArgumentTypeError(
            "member name must be 1..64 printable ASCII characters, words separated by single "
            f"spaces, got {text!r}"
        )
    return text


def _limit(text: str) -> int:
    value = positive(text)
    if value > MAX_LIMIT:
        raise argparse.ArgumentTypeError(f"--limit is at most {MAX_LIMIT}, got {value}")
    return value


def _subcommands(commands: Any, name: str) -> Any:
    """The sub-command list of the already registered ``citychain NAME`` command.

    argparse has no public accessor for a parser's sub-parsers; this reads the one action that
    add_subparsers created, so that tx.py and query.py need not know about this module.
    """
    parser = commands.choices.get(name)
    if parser is None:
        raise RuntimeError(f"register 'citychain {name}' before the consortium commands")
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return action
    raise RuntimeError(f"'citychain {name}' has no sub-commands")


def register(commands: Any, parents: dict[str, argparse.ArgumentParser]) -> None:
    """Add ``tx consortium`` and ``query consortium``; call after tx.register and query.register."""
    _register_tx(_subcommands(commands, "tx"), parents)
    _register_query(_subcommands(commands, "query"), parents)


# --- tx ------------------------------------------------------------------------------------------


def _tx_parent() -> argparse.ArgumentParser:
    parent = argparse.ArgumentParser(add_help=False)
    group = parent.add_argument_group("transaction options")
    signing_options(group, "the signing key: an active member's operator")
    group.add_argument(
        "--memo", type=text_limit(TX_MEMO_BYTES, "memo"), default="", help="transaction memo"
    )
    return parent


def _register_tx(tx_modules: Any, parents: dict[str, argparse.ArgumentParser]) -> None:
    module = tx_modules.add_parser("consortium", help="member governance: propose and vote")
    sub = module.add_subparsers(dest="tx_command", required=True, metavar="COMMAND")
    common = [_tx_parent(), parents["home"], parents["node"], parents["password"], parents["json"]]

    propose = sub.add_parser(
        "propose",
        help="propose a change; your submission counts as your member's yes vote",
        description="Submit a proposal as the member whose operator key is --from. It passes "
        "when members with more than 2/3 of the voting power vote yes, and then runs at once.",
    )
    kinds = propose.add_subparsers(dest="proposal_kind", required=True, metavar="KIND")

    def kind(name: str, build: Callable[[argparse.Namespace], Action], **kw: Any) -> Any:
        parser = kinds.add_parser(name, parents=common, **kw)
        parser.set_defaults(func=lambda args: _submit(args, lambda: MsgPropose(build(args))))
        return parser

    p = kind("admit-member", _admit, help="admit an organisation as member and validator")
    p.add_argument("--name", type=_member_name, required=True, help="organisation name")
    p.add_argument(
        "--operator", required=True, metavar="ADDRESS", help="its governance account (or key name)"
    )
    p.add_argument(
        "--validator-key",
        type=validator_key,
        required=True,
        metavar="HEX",
        help="its CometBFT Ed25519 consensus public key, 64 hex characters",
    )
    p.add_argument("--power", type=positive, required=True, help="its voting power, at least 1")

    p = kind("remove-member", _remove, help="remove a member; its validator leaves consensus")
    p.add_argument("--name", type=_member_name, required=True, help="organisation name")

    for name, build, verb in (("grant-role", _grant, "grant"), ("revoke-role", _revoke, "revoke")):
        p = kind(name, build, help=f"{verb} a role to an account")
        p.add_argument("--role", choices=ALL_ROLES, required=True, help="the role")
        p.add_argument("--address", required=True, metavar="ADDRESS", help="address or key name")

    vote = sub.add_parser("vote", parents=common, help="vote on an open proposal")
    vote.add_argument("proposal_id", metavar="ID", type=positive, help="the proposal's id")
    choice = vote.add_mutually_exclusive_group(required=True)
    choice.add_argument("--yes", dest="approve", action="store_true", help="vote for")
    choice.add_argument("--no", dest="approve", action="store_false", help="vote against")
    vote.set_defaults(
        func=lambda args: _submit(args, lambda: MsgVote(args.proposal_id, args.approve))
    )


def _admit(args: argparse.Namespace) -> Action:
    return AdmitMember(
        name=args.name,
        operator=address_to_bytes(args.operator),
        validator_public_key=bytes.fromhex(args.validator_key),
        power=args.power,
    )


def _remove(args: argparse.Namespace) -> Action:
    return RemoveMember(name=args.name)


def _grant(args: argparse.Namespace) -> Action:
    return GrantRole(role=args.role, address=address_to_bytes(args.address))


def _revoke(args: argparse.Namespace) -> Action:
    return RevokeRole(role=args.role, address=address_to_bytes(args.address))


def _submit(args: argparse.Namespace, build: Callable[[], MsgPropose | MsgVote]) -> int:
    require_home(args)
    # Key names become addresses first, so that a bad argument fails before the key is decrypted.
    for field in ("operator", "address"):
        if getattr(args, field, None) is not None:
            setattr(args, field, resolve_address(getattr(args, field), args))
    message = build()
    key = signing_key(args)
    with client_for(args) as client:
        wallet = Wallet(key, client, fee=args.fee)
        result = wallet.submit([message], wait=not args.no_wait, memo=args.memo)
        if isinstance(message, MsgPropose) and result.get("height") is not None:
            result = {**result, "proposal_id": _proposal_id(client, str(result["hash"]))}
    if args.json:
        print_json(result)
        return 0
    print(f"hash        {result['hash']}")
    if result.get("height") is None:
        print("status      accepted by check_tx; not committed yet (see: citychain query tx HASH)")
    else:
        print(f"height      {result['height']}")
    if result.get("proposal_id") is not None:
        print(f"proposal_id {result['proposal_id']}")
    elif "proposal_id" in result:
        print(
            "proposal_id unknown: the receipt could not be read (citychain query consortium "
            "proposals lists the newest)"
        )
    return 0


def _proposal_id(client: Client, tx_hash: str) -> int | None:
    """The id the committed propose transaction returned as its data (8 bytes big-endian).

    None if the receipt cannot be read: the proposal is committed all the same, so the command
    still succeeds rather than report a failure that did not happen.
    """
    try:
        data = str(client.tx(tx_hash)["result"]["data"])
        return int(data, 16) if data else None
    except (ApiError, KeyError, TypeError, ValueError):
        return None


# --- query ---------------------------------------------------------------------------------------


def _register_query(query_sub: Any, parents: dict[str, argparse.ArgumentParser]) -> None:
    common = [parents["home"], parents["node"], parents["json"]]
    module = query_sub.add_parser("consortium", help="members, proposals and roles")
    sub = module.add_subparsers(dest="consortium_command", required=True, metavar="WHAT")

    members = sub.add_parser("members", parents=common, help="member organisations")
    members.set_defaults(func=_members)

    proposals = sub.add_parser("proposals", parents=common, help="proposals, newest first")
    proposals.add_argument("--limit", type=_limit, default=50, help="at most 200 (default 50)")
    proposals.add_argument("--before", type=positive, metavar="ID", help="only ids below ID")
    proposals.set_defaults(func=_proposals)

    proposal = sub.add_parser("proposal", parents=common, help="one proposal and its votes")
    proposal.add_argument("proposal_id", metavar="ID", type=positive)
    proposal.set_defaults(func=_proposal)

    roles = sub.add_parser("roles", parents=common, help="each role and its holders")
    roles.set_defaults(func=_roles)


def _members(args: argparse.Namespace) -> int:
    with client_for(args) as client:
        doc = client.consortium_members()
    if args.json:
        print_json(doc)
        return 0
    print(f"height {doc['height']}: {doc['active']} active, total power {doc['total_power']}")
    for m in doc["members"]:
        print(f"{m['name']:<24} {m['status']:<8} power {m['power']:<6} operator {m['operator']}")
        print(f"{'':<24} validator {m['validator_public_key']}")
    return 0


def _proposal_line(p: dict[str, Any]) -> str:
    action = p["action"]
    target = action.get("name") or f"{action.get('role')} -> {action.get('address')}"
    tally = p["tally"]
    return (
        f"#{p['id']:<5} {p['status']:<9} {action['kind']:<14} {target}  "
        f"yes {tally['yes']}/{tally['total']} (needs {tally['needed']}), no {tally['no']}, "
        f"votes until height {p['voting_end_height']}"
    )


def _proposals(args: argparse.Namespace) -> int:
    with client_for(args) as client:
        doc = client.consortium_proposals(args.limit, args.before)
    if args.json:
        print_json(doc)
        return 0
    if not doc["proposals"]:
        print("no proposals")
    for p in doc["proposals"]:
        print(_proposal_line(p))
    return 0


def _proposal(args: argparse.Namespace) -> int:
    with client_for(args) as client:
        doc = client.consortium_proposal(args.proposal_id)
    if args.json:
        print_json(doc)
        return 0
    print(_proposal_line(doc))
    print(f"proposed by {doc['proposer']} at height {doc['submit_height']}")
    for v in doc["votes"]:
        print(f"  {v['member']:<24} {v['vote']:<3} at height {v['height']}")
    if doc["log"]:
        print(f"failed: {doc['log']}")
    return 0


def _roles(args: argparse.Namespace) -> int:
    with client_for(args) as client:
        doc = client.consortium_roles()
    if args.json:
        print_json(doc)
        return 0
    for role, holders in doc["roles"].items():
        print(f"{role}: {', '.join(holders) if holders else '(nobody)'}")
    return 0
