#!/usr/bin/env bash
# Fail when the committed citychain/pb differs by a byte from what scripts/gen-abci-pb.sh makes
# from the pinned sources (run by `make lint`; needs Go and the venv's grpcio-tools, which
# `make setup-dev` installs).
set -euo pipefail
export LC_ALL=C
cd "$(dirname "$0")/.."

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
bash scripts/gen-abci-pb.sh "$work/pb" > /dev/null
# __pycache__ is what running the code leaves behind, not part of the generated tree.
if ! diff -r -u -x __pycache__ citychain/pb "$work/pb" > "$work/diff"; then
  head -n 60 "$work/diff" >&2
  [ "$(wc -l < "$work/diff")" -le 60 ] || echo "... ($(wc -l < "$work/diff") lines of diff)" >&2
  echo "citychain/pb is stale: run scripts/gen-abci-pb.sh citychain/pb" >&2
  exit 1
fi
echo "citychain/pb matches scripts/gen-abci-pb.sh"
