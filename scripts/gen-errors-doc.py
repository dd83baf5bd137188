"""Write docs/errors.md from the registered error codes (citychain.errors.registered_codes).

Every module that declares codes is imported, so the page lists them all; tests/unit/
test_errors_doc.py fails when the page and the code disagree. Run: python scripts/gen-errors-doc.py
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
from pathlib import Path

import citychain
from citychain.errors import registered_codes

DOC = Path(__file__).resolve().parent.parent / "docs" / "errors.md"

HEADER = """# Error codes

Every refusal the ledger gives is a `(codespace, code)` pair with a message: in a transaction's
result (`code`, `codespace`, `log`), in the node API's error body `{"error": {"code",
"codespace", "message"}}`, and in the CLI's output. Codes are consensus data: a released code is
never renumbered or reused (STYLE.md). Code 0 is success.

This page is generated from the codes the modules register (`scripts/gen-errors-doc.py`); a test
fails when it is out of date. The API also uses codespace `api` (code 0) for HTTP-level
refusals such as a missing header, a body too large or a rate limit; those carry the HTTP status.
"""


def _import_error_modules() -> None:
    for info in pkgutil.walk_packages(citychain.__path__, "citychain."):
        if info.name.endswith(".errors"):
            importlib.import_module(info.name)


def render() -> str:
    _import_error_modules()
    lines = [HEADER.rstrip("\n")]
    current = ""
    for error in registered_codes():
        if error.codespace != current:
            current = error.codespace
            lines += ["", f"## `{current}`", "", "| code | meaning |", "| ---: | --- |"]
        lines.append(f"| {error.code} | {error.description} |")
    return "\n".join(lines) + "\n"


def main() -> int:
    text = render()
    if "--check" in sys.argv[1:]:
        if DOC.read_text() != text:
            print(f"{DOC} is out of date: run python scripts/gen-errors-doc.py", file=sys.stderr)
            return 1
        return 0
    DOC.write_text(text)
    print(f"wrote {DOC}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
