# vidstream developer entry points. `make test` is the one test command (see README).
#
#   make deps      install system packages (+ Rust if missing) via scripts/install-deps.sh
#   make test-deps deps + the tests' own tools (s3s-fs, built into target/tools)
#   make build     release build
#   make run       run the server with its embedded defaults: make run ARGS="--listen 127.0.0.1:9000"
#   make test      fmt check, clippy -D warnings, cargo tests, the integration tests again on
#                  the PostgreSQL index, short fuzz runs, then the Python (boto3/AWS CLI) suite
#   make test-postgres  only the integration tests on the PostgreSQL index
#   make fuzz      only the fuzz runs (scripts/fuzz.sh; FUZZ_SECS=600 make fuzz: timed, random seed)
#   make pytest    only the Python suite (scripts/pytest.sh)
#   make fmt | clippy | clean

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := build

ARGS ?=
# A freshly rustup-installed cargo is not on PATH yet; each recipe line is its own shell,
# so every cargo invocation sources ~/.cargo/env first when it exists.
CARGO_ENV = if [ -f "$$HOME/.cargo/env" ]; then . "$$HOME/.cargo/env"; fi;
CARGO = $(CARGO_ENV) cargo

.PHONY: deps test-deps build run test test-postgres fuzz pytest fmt clippy clean

deps:
	scripts/install-deps.sh

test-deps:
	scripts/install-deps.sh --test-tools

build: deps
	$(CARGO) build --release

run: deps
	$(CARGO) run --release -- serve $(ARGS)

test: test-deps
	$(CARGO) fmt --all --check
	$(CARGO) clippy --all-targets -- -D warnings
	$(CARGO) test --all-targets
	$(CARGO_ENV) VIDSTREAM_TEST_INDEX=postgres cargo test --test it
	scripts/fuzz.sh
	scripts/pytest.sh

# The backend switch of the integration tests (tests/it/common/backend.rs).
test-postgres: test-deps
	$(CARGO_ENV) VIDSTREAM_TEST_INDEX=postgres cargo test --test it

fuzz:
	scripts/fuzz.sh

pytest:
	scripts/pytest.sh

fmt:
	$(CARGO) fmt --all

clippy:
	$(CARGO) clippy --all-targets -- -D warnings

clean:
	$(CARGO) clean
	rm -rf .venv .pytest_cache tests/python/__pycache__ tests/python/.pytest_cache
