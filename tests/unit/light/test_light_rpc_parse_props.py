"""Property tests of the RPC JSON parser (STYLE.md: every decoder has one): any JSON value put
anywhere in a real /commit or /validators document either parses or raises LightClientError,
never anything else; and rendering what was parsed gives the same values back."""

from __future__ import annotations

import contextlib
import copy
import json
from pathlib import Path
from typing import Any

from helpers import examples
from hypothesis import given, settings
from hypothesis import strategies as st
from light_synth import ABSENT, NIL, members, signed_block

from citychain.light import LightClientError, parse_light_block, verify_cometbft_bundle
from citychain.light.rpc_render import light_block_to_json

VECTORS = json.loads((Path(__file__).parent / "light_cometbft_vectors.json").read_text())
DOCUMENT = VECTORS["blocks"][4]  # two validators, one absent slot

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8)
    | st.sampled_from(["", "00", "AB" * 20, "AB" * 32, "0001-01-01T00:00:00Z", "-1", "2"]),
    lambda inner: st.lists(inner, max_size=3)
    | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=6,
)  # fmt: skip


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    paths = [prefix] if prefix else []
    if isinstance(node, dict):
        for name, child in node.items():
            paths += _paths(child, (*prefix, name))
    elif isinstance(node, list):
        for index, child in enumerate(node):
            paths += _paths(child, (*prefix, index))
    return paths


PATHS = _paths(DOCUMENT)


@settings(max_examples=examples(300), deadline=None)
@given(path=st.sampled_from(PATHS), value=json_values, delete=st.booleans())
def test_any_change_parses_or_raises_light_client_error(
    path: tuple[Any, ...], value: Any, delete: bool
) -> None:
    document = copy.deepcopy(DOCUMENT)
    parent: Any = document
    for part in path[:-1]:
        parent = parent[part]
    if delete:
        del parent[path[-1]]
    else:
        parent[path[-1]] = value
    with contextlib.suppress(LightClientError):
        parse_light_block(document)
    bundle = {"version": 2, "engine": "cometbft", "chain_id": VECTORS["chain_id"], "height": 0,
              "key": "00", "value": None, "proof": {}, **document}  # fmt: skip
    assert not verify_cometbft_bundle(bundle, None).valid


@settings(max_examples=examples(50), deadline=None)
@given(
    powers=st.dictionaries(st.integers(1, 30), st.integers(1, 1000), min_size=1, max_size=6),
    height=st.integers(1, 2**31),  # header times stay before the year 9999
    flags=st.lists(st.sampled_from([ABSENT, NIL]), max_size=6),
)
def test_render_then_parse_is_the_identity(
    powers: dict[int, int], height: int, flags: list[Any]
) -> None:
    block = signed_block(members(powers), height, flags=dict(enumerate(flags[: len(powers)])))
    assert parse_light_block(light_block_to_json(block)) == block
