#!/usr/bin/env bash
# Regenerates the checked-in Go code (healthscore/v1/) from proto/ with buf and the pinned code
# generators, installing those into a cache folder first when missing. The one script that
# writes healthscore/v1/; ci.sh fails when running it changes anything.
#   BUF    the buf binary (default: the repo's .venv/bin/buf, installed by `make setup`)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
buf=${BUF:-$root/.venv/bin/buf}
bin=${XDG_CACHE_HOME:-$HOME/.cache}/healthscore-go/bin

# protoc-gen-go is pinned to the protobuf runtime version in go.mod, so the two always agree.
protoc_gen_go=$(cd "$here" && go list -m -f '{{.Version}}' google.golang.org/protobuf)
protoc_gen_go_grpc=v1.6.2

# install TOOL PACKAGE VERSION VERSION_LINE: go install PACKAGE@VERSION into the cache unless the
# binary there already prints VERSION_LINE for --version.
install() {
  if [[ "$("$bin/$1" --version 2>/dev/null || true)" != "$4" ]]; then
    echo "installing $2@$3 into $bin" >&2
    (cd "$bin/.." && GOBIN=$bin go install "$2@$3")
  fi
}
mkdir -p "$bin"
install protoc-gen-go google.golang.org/protobuf/cmd/protoc-gen-go "$protoc_gen_go" \
  "protoc-gen-go $protoc_gen_go"
install protoc-gen-go-grpc google.golang.org/grpc/cmd/protoc-gen-go-grpc "$protoc_gen_go_grpc" \
  "protoc-gen-go-grpc ${protoc_gen_go_grpc#v}"

rm -f "$here"/healthscore/v1/*.pb.go
PATH="$bin:$PATH" "$buf" generate "$root/proto" --template "$here/buf.gen.yaml" --output "$here"
# The service config every client shares (retries, deadlines), embedded by healthscore.go.
cp "$root/proto/healthscore/v1/service_config.json" "$here/healthscore/v1/"
