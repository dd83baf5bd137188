"""Set values in CometBFT's config.toml in place, keeping its comments and layout.

Only what ``cometbft init`` writes needs handling: ``key = value`` lines, top-level or under a
``[section]`` header. A key that is not in the file is an error, so a renamed option in a new
CometBFT version is noticed instead of silently ignored.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path

__all__ = ["TomlValue", "set_toml_values"]

TomlValue = str | int | bool
_SECTION = re.compile(r"^\[([A-Za-z0-9_.\-]+)\]\s*$")
_KEY = re.compile(r"^([A-Za-z0-9_\-]+)\s*=")


def _render(value: TomlValue) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    return json.dumps(value)  # a TOML basic string for the ASCII values we write


def set_toml_values(path: Path, values: Mapping[str, Mapping[str, TomlValue]]) -> None:
    """``values`` maps section ("" for top level) to key -> value."""
    lines = path.read_text().splitlines()
    pending = {(section, key) for section, keys in values.items() for key in keys}
    section = ""
    for i, line in enumerate(lines):
        header = _SECTION.match(line)
        if header:
            section = header.group(1)
            continue
        key = _KEY.match(line)
        if key and (section, key.group(1)) in pending:
            lines[i] = f"{key.group(1)} = {_render(values[section][key.group(1)])}"
            pending.discard((section, key.group(1)))
    if pending:
        missing = ", ".join(f"[{s}] {k}" if s else k for s, k in sorted(pending))
        raise KeyError(f"{path} has no option {missing}")
    path.write_text("\n".join(lines) + "\n")
