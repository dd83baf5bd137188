#!/usr/bin/env bash
# Install the pinned CometBFT into .tools/bin (reused when present) and generate citychain's
# Python protobuf types from the .proto files of that same CometBFT module.
#
# Both come from the Go module proxy: `go install` builds the binary, and the module's source
# (downloaded by the same step) holds the pinned proto/ tree. gogoproto's options file comes from
# the gogoproto module that CometBFT's go.mod requires.
set -euo pipefail
cd "$(dirname "$0")/.."

COMETBFT_VERSION="${COMETBFT_VERSION:-v0.38.26}"
GOGOPROTO_VERSION="v1.7.0"
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

# The generated Python package, stamped with the versions it came from.
out="citychain/abci/pb"
stamp="$out/.generated-$COMETBFT_VERSION"
[ -f "$stamp" ] && exit 0
[ -x .venv/bin/python ] || bash scripts/setup-python.sh
module_dir() { go mod download -json "$1@$2" | .venv/bin/python -c 'import json,sys; print(json.load(sys.stdin)["Dir"])'; }
cometbft_dir="$(module_dir github.com/cometbft/cometbft "$COMETBFT_VERSION")"
gogo_dir="$(module_dir github.com/cosmos/gogoproto "$GOGOPROTO_VERSION")"
grpc_include="$(.venv/bin/python -c 'import grpc_tools, os; print(os.path.join(os.path.dirname(grpc_tools.__file__), "_proto"))')"

rm -rf "$out"
mkdir -p "$out"
protos=(
  gogoproto/gogo.proto
  tendermint/abci/types.proto
  tendermint/crypto/keys.proto
  tendermint/crypto/proof.proto
  tendermint/types/types.proto
  tendermint/types/validator.proto
  tendermint/types/params.proto
  tendermint/types/evidence.proto
  tendermint/types/canonical.proto
  tendermint/types/block.proto
  tendermint/version/types.proto
)
.venv/bin/python -m grpc_tools.protoc -I "$cometbft_dir/proto" -I "$gogo_dir" -I "$grpc_include" \
  --python_out="$out" --pyi_out="$out" "${protos[@]}"
# protoc writes absolute imports of top-level packages; make them imports inside citychain.
find "$out" -name '*.py' -o -name '*.pyi' | xargs sed -i -E \
  's/^from (tendermint|gogoproto)(\.[a-z_.]+)? import /from citychain.abci.pb.\1\2 import /'
find "$out" -type d -exec touch {}/__init__.py \;
touch "$stamp"
echo "generated protobuf types for CometBFT $COMETBFT_VERSION in $out"
