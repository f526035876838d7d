#!/usr/bin/env bash
# Benchmarks Frazil with frazil-bench (bench/): every scenario against a Frazil the harness starts
# itself, on SQLite and on Postgres, then renders docs/BENCHMARKS.md and bench/results/plot.png
# from the JSON results in bench/results/.
#
#   scripts/bench.sh            the full run: release builds, 10 s per point, the list fixture
#                               at 1,000,000 tables (about 35 minutes per store on 2 cores, half
#                               of it creating and then deleting that fixture; pass
#                               --list-tables 100000 for a quicker run)
#   scripts/bench.sh --smoke    every scenario for a moment against debug builds; exits non-zero
#                               on any failed request or lost commit (CI). Writes nothing in the repo.
#
# Any further arguments are passed to every `frazil-bench run` (they override the defaults
# below), e.g. `scripts/bench.sh --duration 5s --repeat 3`.
#
# Environment:
#   FRAZIL_BIN                 the frazil binary to measure (default: built here)
#   FRAZIL_BENCH_POSTGRES_URL  Postgres server (default: found/started by scripts/ensure-postgres.sh);
#                              a throw-away database is created on it and dropped afterwards
#   FRAZIL_BENCH_STORES        stores to measure (default "sqlite postgres")
#   FRAZIL_BENCH_GIT_REV       the revision FRAZIL_BIN was built from (default: git describe)
#   FRAZIL_BENCH_OUT           directory of the JSON results (default bench/results; smoke: a
#                              temporary directory)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"

step() { printf '\n==> %s\n' "$*" >&2; }

SMOKE=0
if [ "${1:-}" = "--smoke" ]; then
    SMOKE=1
    shift
fi

if [ "$SMOKE" = 1 ]; then
    PROFILE=debug
    CARGO_PROFILE=()
    OUT="${FRAZIL_BENCH_OUT:-$(mktemp -d "${TMPDIR:-/tmp}/frazil-bench-smoke.XXXXXX")}"
    # A moment per point, tiny fixtures: this checks that every scenario works, not how fast.
    RUN_ARGS=(
        --duration 300ms --warmup 0s --repeat 1 --restarts 1
        --connections 1,4 --headline-connections 4
        --small-snapshots 3 --large-snapshots 200
        --commit-tables 4 --contended-writers 1,4
        --list-namespaces 30 --list-tables 60 --list-page-size 25 --list-connections 1
        --mixed-tables 4 --setup-connections 4
        --fail-on-errors
    )
else
    PROFILE=release
    CARGO_PROFILE=(--release)
    OUT="${FRAZIL_BENCH_OUT:-$ROOT/bench/results}"
    RUN_ARGS=(
        --duration 10s --warmup 2s --repeat 1 --restarts 5
        --connections 1,8,32,64 --headline-connections 32
        --small-snapshots 10 --large-snapshots 1000,10000
        --commit-tables 64 --contended-writers 1,4,16
        --list-namespaces 10000 --list-tables 1000000 --list-page-size 1000 --list-connections 1
        --mixed-tables 64 --setup-connections 16
    )
fi
mkdir -p "$OUT"

step "cargo build ($PROFILE): frazil-bench${FRAZIL_BIN:+ (frazil: $FRAZIL_BIN)}"
cargo build "${CARGO_PROFILE[@]}" -p frazil-bench --bin frazil-bench
BENCH="$TARGET_DIR/$PROFILE/frazil-bench"
if [ -z "${FRAZIL_BIN:-}" ]; then
    cargo build "${CARGO_PROFILE[@]}" --bin frazil
    FRAZIL_BIN="$TARGET_DIR/$PROFILE/frazil"
fi

STORES="${FRAZIL_BENCH_STORES:-sqlite postgres}"
POSTGRES_URL=""
if [[ " $STORES " == *" postgres "* ]]; then
    step "PostgreSQL"
    POSTGRES_URL="${FRAZIL_BENCH_POSTGRES_URL:-$("$ROOT/scripts/ensure-postgres.sh")}"
    echo "Postgres: $POSTGRES_URL" >&2
fi

GIT_REV="${FRAZIL_BENCH_GIT_REV:-$(git -C "$ROOT" describe --always --dirty 2>/dev/null || echo unknown)}"
INPUTS=()
for store in $STORES; do
    step "frazil-bench run: Frazil on $store"
    extra=()
    if [ "$store" = postgres ]; then
        extra=(--postgres-url "$POSTGRES_URL")
    fi
    "$BENCH" run --start-frazil "$FRAZIL_BIN" --store "$store" "${extra[@]}" \
        --label "$store" --git-rev "$GIT_REV" --output "$OUT/$store.json" \
        "${RUN_ARGS[@]}" "$@"
    INPUTS+=("$OUT/$store.json")
done

step "frazil-bench report"
if [ "$SMOKE" = 1 ]; then
    "$BENCH" report "${INPUTS[@]}" --output "$OUT/BENCHMARKS.md" --plot "$OUT/plot.png" \
        --reproduce scripts/bench.sh
    echo "smoke run passed; results in $OUT" >&2
else
    "$BENCH" report "${INPUTS[@]}" --output "$ROOT/docs/BENCHMARKS.md" \
        --plot "$ROOT/bench/results/plot.png" --reproduce scripts/bench.sh
fi
