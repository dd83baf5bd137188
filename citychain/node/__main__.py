"""``python -m citychain.node --home DIR [--api HOST:PORT] [--tls-cert FILE --tls-key FILE]``: run a
node, as ``citychain start``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from citychain.app import StateCorruptedError
from citychain.home import Home, HomeError
from citychain.node.run import run_node


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m citychain.node")
    parser.add_argument("--home", required=True, type=Path)
    parser.add_argument("--api", default=None, help="HOST:PORT to listen on (port 0: any free)")
    parser.add_argument("--verifier-workers", type=int, default=1)
    parser.add_argument("--tls-cert", type=Path, help="serve HTTPS: certificate chain (PEM)")
    parser.add_argument("--tls-key", type=Path, help="serve HTTPS: private key (PEM)")
    args = parser.parse_args(argv)
    try:
        failure = run_node(
            Home(args.home),
            args.api,
            verifier_workers=args.verifier_workers,
            tls_cert=args.tls_cert,
            tls_key=args.tls_key,
        )
    except (HomeError, StateCorruptedError, ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        pass
    else:
        if failure is not None:
            print(f"error: the node stopped: {failure}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
