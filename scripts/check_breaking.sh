#!/usr/bin/env bash
# `buf breaking` (FILE rules, proto/buf.yaml): fails when proto/ breaks wire or generated-code
# compatibility, so the generated clients (Python, Go, TypeScript) are never broken silently.
#
# Two baselines:
# 1. proto/baseline.binpb, the released v1 contract (a buf image, checked in; refresh it with
#    `buf build proto -o proto/baseline.binpb` when releasing). Always available.
# 2. main in git: $HEALTHSCORE_BREAKING_AGAINST (a ref) when set; on a branch other than main,
#    the point where it left main; on main itself, the previous commit (every commit that lands
#    on main is checked against the one before it). A clone without that history says so.
set -euo pipefail
cd "$(dirname "$0")/.."
buf=${BUF:-buf}
echo "buf breaking: proto/ against proto/baseline.binpb"
"$buf" breaking proto --against proto/baseline.binpb
branch=$(git rev-parse --abbrev-ref HEAD)
if [[ -n "${HEALTHSCORE_BREAKING_AGAINST:-}" ]]; then
  against=$HEALTHSCORE_BREAKING_AGAINST
elif [[ "$branch" != main ]] && git rev-parse --verify --quiet main >/dev/null; then
  against=$(git merge-base HEAD main)
elif git rev-parse --verify --quiet HEAD~1 >/dev/null; then
  against=$(git rev-parse HEAD~1)
else
  echo "buf breaking: no earlier commit in this clone; checked against the image only"
  exit 0
fi
echo "buf breaking: proto/ against $against"
"$buf" breaking proto --against ".git#ref=$against,subdir=proto"
