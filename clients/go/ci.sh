#!/usr/bin/env bash
# The Go client's CI: the checked-in generated code is what the protos generate, go.mod is tidy,
# the code is gofmt-ed, go vet passes, the example builds, and the example and the interop test
# run against a real server (clients/interop/harness.py), where the interop test may not skip.
#   PYTHON  the project's virtualenv Python (default: the repo's .venv/bin/python, from `make setup`)
#   BUF     the buf binary (default: buf beside $PYTHON)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
PYTHON=${PYTHON:-$root/.venv/bin/python}
PYTHON=$(cd "$(dirname "$PYTHON")" && pwd)/$(basename "$PYTHON")
export BUF=${BUF:-$(dirname "$PYTHON")/buf}
cd "$here"

./generate.sh
git diff --exit-code --stat -- healthscore/v1 ||
  { echo "clients/go: generated code is stale: run clients/go/generate.sh and commit" >&2; exit 1; }
untracked=$(git status --porcelain --untracked-files=all -- healthscore/v1)
test -z "$untracked" ||
  { echo "clients/go: untracked generated files: run clients/go/generate.sh and commit:" >&2
    echo "$untracked" >&2; exit 1; }
go mod tidy -diff || { echo "clients/go: go.mod/go.sum are not tidy: run go mod tidy" >&2; exit 1; }
unformatted=$(gofmt -l .)
test -z "$unformatted" || { echo "clients/go: not gofmt-ed (run gofmt -w):" >&2; echo "$unformatted" >&2; exit 1; }
go vet ./...

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
go build -o "$scratch/example" ./example
export HEALTHSCORE_INTEROP_REQUIRED=1
# One server for both: the example scores with the server's first active version (the
# defaults), then the interop test edits, publishes and activates its own.
"$PYTHON" "$root/clients/interop/harness.py" -- bash -c \
  'HEALTHSCORE_TOKEN=$HEALTHSCORE_VIEWER_TOKEN "$1" && go test -count=1 -v .' _ "$scratch/example"
