# The one task runner. CI calls `make test` (see .ci/run) and nothing else.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
VENV ?= .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup build run serve test test-deep lint fmt gen-protos check-generated test-rust test-python stubtest test-interop bench clean

# Virtualenv with the pinned dev tools, and a release build of the Rust extension.
setup: $(STAMP) build

$(STAMP): pyproject.toml clients/python/pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip "maturin==1.16.0"
	$(PY) -m pip install --quiet -e clients/python
	VIRTUAL_ENV=$(abspath $(VENV)) $(BIN)/maturin develop --release --extras dev --quiet
	touch $(STAMP)

# Rebuilds the extension in place (cargo rebuilds only what changed).
build: $(STAMP)
	VIRTUAL_ENV=$(abspath $(VENV)) $(BIN)/maturin develop --release --skip-install --quiet

# The main job: the gRPC service on 127.0.0.1:50051 with the embedded defaults (first start
# publishes and activates the default ruleset under ./healthscore-data; authentication off).
run: serve

serve: setup
	$(BIN)/healthscore serve

test: setup lint check-generated test-rust stubtest test-python test-interop

lint:
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets --quiet -- -D warnings
	$(BIN)/ruff check service clients/python clients/interop tests benchmarks scripts
	$(BIN)/ruff format --check service clients/python clients/interop tests benchmarks scripts
	$(BIN)/mypy
	cd proto && ../$(BIN)/buf lint
	BUF=$(BIN)/buf scripts/check_breaking.sh

fmt:
	cargo fmt --all
	$(BIN)/ruff format service clients/python clients/interop tests benchmarks scripts
	$(BIN)/ruff check --fix service clients/python clients/interop tests benchmarks scripts

gen-protos: $(STAMP)
	PATH="$(abspath $(BIN)):$$PATH" scripts/gen_protos.sh

# Fails when the checked-in generated code differs from what the protos generate.
check-generated: gen-protos
	git diff --exit-code --stat -- clients/python/healthscore_client/v1 || \
	  { echo "generated code is stale: run 'make gen-protos' and commit"; exit 1; }
	test -z "$$(git status --porcelain -- clients/python/healthscore_client/v1)" || \
	  { echo "untracked generated files: run 'make gen-protos' and commit"; exit 1; }

test-rust:
	cargo test --workspace --quiet

stubtest: build
	$(BIN)/python -m mypy.stubtest healthscore._core

test-python: build
	$(BIN)/pytest -q -n auto

# Before a release: the Python tests with every property test's full example budget (about 22,000
# differential cases against the reference, fresh random ones each run; tens of minutes).
test-deep: build
	HYPOTHESIS_PROFILE=deep $(BIN)/pytest -q -n auto

# The generated Go and TypeScript clients: generated code up to date, built, and each one's interop
# test run against a real server (clients/interop/harness.py). Needs Go and Node/npm.
test-interop: build
	PYTHON=$(abspath $(PY)) clients/go/ci.sh
	PYTHON=$(abspath $(PY)) clients/ts/ci.sh

# Long fuzzing runs (not part of `make test`, which runs every target briefly: see README
# "Fuzzing"): each cargo-fuzz target of health_core_rs/fuzz for FUZZ_SECONDS under libFuzzer and
# AddressSanitizer (nightly Rust and cargo-fuzz), then the atheris harness of the request path.
# Corpora grow in health_core_rs/fuzz/corpus/<target>/, findings land in .../artifacts/.
FUZZ_SECONDS ?= 600
FUZZ_DIR := health_core_rs/fuzz
fuzz: fuzz-rust fuzz-python

fuzz-seeds:
	cargo test -p health-core --quiet write_fuzz_seeds -- --ignored

fuzz-rust: fuzz-seeds
	for target in $$(cargo +nightly fuzz list --fuzz-dir $(FUZZ_DIR)); do \
	  CARGO_TARGET_DIR=target/fuzz cargo +nightly fuzz run --fuzz-dir $(FUZZ_DIR) $$target -- \
	    -max_total_time=$(FUZZ_SECONDS) -rss_limit_mb=4096 || exit 1; \
	done

fuzz-python: build
	$(PY) tests/fuzz/request_path.py --write-seeds $(FUZZ_DIR)/corpus/request_path
	mkdir -p $(FUZZ_DIR)/artifacts/request_path
	$(PY) tests/fuzz/request_path.py -max_total_time=$(FUZZ_SECONDS) -rss_limit_mb=4096 \
	  -artifact_prefix=$(FUZZ_DIR)/artifacts/request_path/ $(FUZZ_DIR)/corpus/request_path

# Every benchmark (core, service, rescore): tables on stdout, JSON in benchmarks/results/.
bench: setup
	$(BIN)/python -m benchmarks

clean:
	rm -rf target $(VENV) .pytest_cache .mypy_cache .ruff_cache
