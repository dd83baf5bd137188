#!/usr/bin/env bash
# Install the pinned CometBFT into .tools/bin (reused when present), built by `go install` from
# the Go module proxy.
#
# citychain's Python protobuf types for ABCI (citychain/pb) are generated from the .proto files of
# this same module version and committed: scripts/gen-abci-pb.sh regenerates them (it reads the
# version here with --version), scripts/check-generated.sh checks them in `make lint`.
set -euo pipefail
cd "$(dirname "$0")/.."

COMETBFT_VERSION="${COMETBFT_VERSION:-v0.38.26}"
if [ "${1:-}" = "--version" ]; then
  echo "$COMETBFT_VERSION"
  exit 0
fi
tools="$PWD/.tools"
bin="$tools/bin/cometbft"

if ! command -v go >/dev/null 2>&1; then
  bash scripts/apt-install.sh golang-go
fi

have=""
[ -x "$bin" ] && have="$("$bin" version 2>/dev/null || true)"
if [ "v$have" != "$COMETBFT_VERSION" ] && [ "$have" != "$COMETBFT_VERSION" ]; then
  echo "installing CometBFT $COMETBFT_VERSION into $tools/bin"
  mkdir -p "$tools/bin"
  GOBIN="$tools/bin" GOFLAGS=-mod=mod go install "github.com/cometbft/cometbft/cmd/cometbft@$COMETBFT_VERSION"
fi
