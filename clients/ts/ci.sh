#!/usr/bin/env bash
# CI for the TypeScript client: install the pinned packages, check that the checked-in generated
# code is what proto/ generates, type-check and build, then run the example and the interop test
# against a real server (clients/interop/harness.py). Needs Node >= 20 and npm, and the project's
# virtualenv (`make setup`): its Python runs the server, its buf generates.
#
#   bash clients/ts/ci.sh            PYTHON=... BUF=... to use other ones
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
export PYTHON="${PYTHON:-$repo/.venv/bin/python}"
export BUF="${BUF:-$repo/.venv/bin/buf}"
cd "$here"

npm ci --no-audit --no-fund

npm run --silent generate
git diff --exit-code --stat -- src/gen ||
  { echo "generated code is stale: run 'npm run generate' in clients/ts and commit"; exit 1; }
test -z "$(git status --porcelain -- src/gen)" ||
  { echo "untracked generated files: run 'npm run generate' in clients/ts and commit"; exit 1; }

rm -rf dist
npm run --silent build

# The interop test fails, rather than skips, when the harness did not give it a server.
HEALTHSCORE_INTEROP_REQUIRED=1 "$PYTHON" "$repo/clients/interop/harness.py" -- \
  bash -c 'node dist/examples/score.js && node --test dist/test/'
