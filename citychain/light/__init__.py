"""An offline light client for CometBFT 0.38 headers (docs/light-client.md).

It checks, without a node, that a header was signed by more than 2/3 of the voting power of a
validator set the verifier trusts (directly, or through a chain of headers where the set
changed), and so that the app hash in it, and any state proven against that hash, is the chain's.

```python
from citychain.light import verify_cometbft_bundle
result = verify_cometbft_bundle(bundle, genesis_validators=[(pub_key, 10), ...])
```

Modules: `types` (typed headers, commits, validator sets), `rpc_parse`/`rpc_render` (CometBFT's
RPC JSON), `encoding` and `merkle` (the bytes CometBFT hashes and signs), `verifier` (commit,
adjacent, skipping and chain verification), `bundle` (version-2 proof bundles), `fetch`
(building them from a node's RPC), `errors` (LightClientError and its checks), `verify`
(bundles of either engine: a solo header signed by its node, or a CometBFT commit), `claims`
(what a bundle states, checked against what it proves) and `answer` (a node's answer carrying a
bundle, every field of it checked).
"""

from citychain.light.answer import bundle_of, verify_document
from citychain.light.bundle import BUNDLE_VERSION, verify_cometbft_bundle
from citychain.light.encoding import header_hash, precommit_sign_bytes, validator_set_hash
from citychain.light.errors import Check, LightClientError
from citychain.light.fetch import (
    build_trust_chain,
    fetch_signed_header,
    fetch_validators,
    find_validator_set_changes,
)
from citychain.light.rpc_parse import (
    parse_genesis_validators,
    parse_light_block,
    parse_signed_header,
    parse_validators,
)
from citychain.light.types import (
    Header,
    LightBlock,
    SignedHeader,
    Validator,
    ValidatorSet,
    make_validator_set,
    validator_address,
)
from citychain.light.verifier import (
    DEFAULT_TRUST_LEVEL,
    CommitTally,
    verify_adjacent,
    verify_chain,
    verify_commit,
    verify_commit_trusting,
    verify_non_adjacent,
)
from citychain.light.verify import VerifyResult, verify_bundle

__all__ = [
    "BUNDLE_VERSION",
    "DEFAULT_TRUST_LEVEL",
    "Check",
    "CommitTally",
    "Header",
    "LightBlock",
    "LightClientError",
    "SignedHeader",
    "Validator",
    "ValidatorSet",
    "VerifyResult",
    "build_trust_chain",
    "bundle_of",
    "fetch_signed_header",
    "fetch_validators",
    "find_validator_set_changes",
    "header_hash",
    "make_validator_set",
    "parse_genesis_validators",
    "parse_light_block",
    "parse_signed_header",
    "parse_validators",
    "precommit_sign_bytes",
    "validator_address",
    "validator_set_hash",
    "verify_adjacent",
    "verify_bundle",
    "verify_chain",
    "verify_cometbft_bundle",
    "verify_commit",
    "verify_commit_trusting",
    "verify_document",
    "verify_non_adjacent",
]
