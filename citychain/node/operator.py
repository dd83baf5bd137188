"""The operator token: what a route that is not for citizens asks for (docs/operations.md).

``HOME/operator-token`` holds a random token (mode 0600), made by ``citychain init`` or by the
node's first start; operator routes (``OPERATOR_ROUTE`` in node/routes/deps.py) want it as
``Authorization: Bearer <token>`` and answer 401 without it. Delete the file and restart the
node to change it.
"""

from __future__ import annotations

import contextlib
import hmac
import os
import secrets
import stat

from citychain.home import Home, HomeError

__all__ = ["ensure_operator_token", "token_matches"]

TOKEN_BYTES = 32
PRIVATE = 0o600


def ensure_operator_token(home: Home) -> str:
    """The home's operator token, made now if there is none; the file is kept owner-only."""
    path = home.operator_token_file
    existing = home.operator_token()
    if existing:
        if stat.S_IMODE(path.stat().st_mode) & ~PRIVATE:
            path.chmod(PRIVATE)
        return existing
    token = secrets.token_urlsafe(TOKEN_BYTES)
    tmp = path.with_suffix(".tmp")
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE)
        with os.fdopen(fd, "w") as f:
            f.write(token + "\n")
        os.replace(tmp, path)
    except OSError as exc:
        raise HomeError(f"cannot write the operator token {path}: {exc}") from None
    return token


def token_matches(expected: str | None, given: str | None) -> bool:
    """Whether ``given`` is the operator token, compared in constant time."""
    if not expected or given is None:
        return False
    return hmac.compare_digest(expected.encode(), given.encode())
