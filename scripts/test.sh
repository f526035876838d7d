#!/usr/bin/env bash
# The project's test command: Rust unit + integration tests, then the Python client suite,
# against a real PostgreSQL, real SQLite files, moto S3 and the real `frazil` binary.
#
#   ./scripts/test.sh            (from any directory)
#
# Environment:
#   FRAZIL_TEST_POSTGRES_URL   base URL of a PostgreSQL server (default: found/started by
#                              scripts/ensure-postgres.sh); tests create their own databases.
#   PYTEST_ARGS                extra arguments for pytest (e.g. "-k duckdb -x").
#   FRAZIL_SKIP_JAVA=1         skip the Iceberg Java client (no JDK/Maven needed); without it a
#                              missing JDK 17+ or Maven fails the run.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

step() { printf '\n==> %s\n' "$*" >&2; }

step "PostgreSQL"
FRAZIL_TEST_POSTGRES_URL="$("$ROOT/scripts/ensure-postgres.sh")"
export FRAZIL_TEST_POSTGRES_URL
echo "FRAZIL_TEST_POSTGRES_URL=$FRAZIL_TEST_POSTGRES_URL" >&2

step "cargo fmt --check, cargo clippy"
cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings

# The binary the end-to-end tests start (Rust and Python alike).
export FRAZIL_BIN="${FRAZIL_BIN:-${CARGO_TARGET_DIR:-$ROOT/target}/debug/frazil}"

step "cargo build --bin frazil"
cargo build --bin frazil

step "cargo test --workspace"
cargo test --workspace

step "Python environment"
"$ROOT/scripts/setup-python.sh"

step "Java client (Iceberg Java's RESTCatalog for tests/clients/test_iceberg_java.py)"
if [ "${FRAZIL_SKIP_JAVA:-}" = "1" ]; then
    echo "FRAZIL_SKIP_JAVA=1: test_iceberg_java.py is skipped" >&2
else
    "$ROOT/scripts/setup-java.sh"
fi

step "Chromium (the Swagger UI browser test)"
"$ROOT/scripts/ensure-chromium.sh"

step "pytest tests/clients"
# shellcheck disable=SC2086
"$ROOT/.venv/bin/python" -m pytest "$ROOT/tests/clients" -v ${PYTEST_ARGS:-}

step "benchmark smoke run (every scenario for a moment, both stores)"
FRAZIL_BENCH_POSTGRES_URL="${FRAZIL_BENCH_POSTGRES_URL:-$FRAZIL_TEST_POSTGRES_URL}" \
    "$ROOT/scripts/bench.sh" --smoke

step "all tests passed"
