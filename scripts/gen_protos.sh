#!/usr/bin/env bash
# Regenerates the checked-in Python protobuf/gRPC code and mypy stubs from proto/.
# The one script that writes service/healthscore/v1/; CI fails when running it changes anything.
set -euo pipefail
cd "$(dirname "$0")/.."
out=service
rm -f "$out"/healthscore/v1/*_pb2*.py "$out"/healthscore/v1/*_pb2*.pyi
mkdir -p "$out/healthscore/v1"
python -m grpc_tools.protoc \
  -I proto \
  --python_out="$out" \
  --grpc_python_out="$out" \
  --mypy_out="$out" \
  --mypy_grpc_out="$out" \
  proto/healthscore/v1/*.proto
# The generated files of messages-only protos have no services: drop empty *_pb2_grpc.py files.
for f in "$out"/healthscore/v1/*_pb2_grpc.py; do
  if ! grep -q "class .*Stub" "$f"; then rm -f "$f" "${f%.py}.pyi"; fi
done
touch "$out/healthscore/v1/__init__.py"
