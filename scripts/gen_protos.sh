#!/usr/bin/env bash
# Regenerates the checked-in Python protobuf/gRPC code and mypy stubs from proto/ into the
# client package (clients/python/healthscore_client/v1/), which the server imports too: one copy
# of the contract per process (protobuf registers each .proto file once).
# The one script that writes that folder; CI fails when running it changes anything.
set -euo pipefail
cd "$(dirname "$0")/.."
dest=clients/python/healthscore_client/v1
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
python -m grpc_tools.protoc \
  -I proto \
  --python_out="$scratch" \
  --grpc_python_out="$scratch" \
  --mypy_out="$scratch" \
  --mypy_grpc_out="$scratch" \
  proto/healthscore/v1/*.proto
# protoc names Python modules after the .proto paths (healthscore/v1/x.proto -> healthscore.v1);
# they live in healthscore_client.v1. Only import statements and module-name strings change:
# the serialized descriptors (file names, package healthscore.v1) stay exactly as generated.
sed -i -E \
  -e 's/^from healthscore\.v1 import /from healthscore_client.v1 import /' \
  -e 's/^import healthscore\.v1\./import healthscore_client.v1./' \
  -e 's/healthscore\.v1\.([a-z_]+_pb2)/healthscore_client.v1.\1/g' \
  "$scratch"/healthscore/v1/*.py "$scratch"/healthscore/v1/*.pyi
# The generated files of messages-only protos have no services: drop empty *_pb2_grpc.py files.
for f in "$scratch"/healthscore/v1/*_pb2_grpc.py; do
  if ! grep -q "class .*Stub" "$f"; then rm -f "$f" "${f%.py}.pyi"; fi
done
rm -f "$dest"/*_pb2*.py "$dest"/*_pb2*.pyi
mkdir -p "$dest"
cp "$scratch"/healthscore/v1/*_pb2*.py "$scratch"/healthscore/v1/*_pb2*.pyi "$dest"/
touch "$dest/__init__.py"
# The service config every client shares (retries, deadlines), beside the generated code.
cp proto/healthscore/v1/service_config.json "$dest"/
