#!/usr/bin/env bash
# Measures what vended storage credentials add to loadTable (frazil-bench's load-vended
# scenario): a Frazil on SQLite whose default environment lives in a bucket of moto's S3 and
# names a provider integration, whose role Frazil assumes through moto's STS. moto answers STS in
# about a millisecond where AWS takes tens, so the miss figures are a floor for real AWS; the hit
# figures (the credentials cached) do not depend on STS.
#
#   scripts/bench-vended.sh                release builds, 10 s per point; writes
#                                          bench/results/vended.json
#   scripts/bench-vended.sh --duration 3s  further arguments go to `frazil-bench run`
#
# Environment: FRAZIL_BIN (default: built here), FRAZIL_BENCH_OUT (default bench/results).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
OUT="${FRAZIL_BENCH_OUT:-$ROOT/bench/results}"
step() { printf '\n==> %s\n' "$*" >&2; }

step "cargo build (release)"
cargo build --release -p frazil-bench --bin frazil-bench
BENCH="$TARGET_DIR/release/frazil-bench"
if [ -z "${FRAZIL_BIN:-}" ]; then
    cargo build --release --bin frazil
    FRAZIL_BIN="$TARGET_DIR/release/frazil"
fi
"$ROOT/scripts/setup-python.sh" >&2
PY="$ROOT/.venv/bin/python"

WORK="$(mktemp -d "${TMPDIR:-/tmp}/frazil-bench-vended.XXXXXX")"
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

free_port() { "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_http() {
    for _ in $(seq 1 200); do
        curl -fs -o /dev/null "$1" && return 0
        sleep 0.1
    done
    echo "$1 did not answer" >&2
    return 1
}

step "moto (S3 and STS)"
MOTO_PORT="$(free_port)"
MOTO="http://127.0.0.1:$MOTO_PORT"
"$ROOT/.venv/bin/moto_server" -H 127.0.0.1 -p "$MOTO_PORT" >"$WORK/moto.log" 2>&1 &
PIDS+=($!)
wait_http "$MOTO/moto-api/"
curl -fs -X PUT "$MOTO/bench-vended" >/dev/null

step "frazil on SQLite, warehouse s3://bench-vended/warehouse"
PORT="$(free_port)"
ID=bench-admin
SECRET="bench-secret-$(date +%s%N)"
env -i PATH="$PATH" HOME="$HOME" \
    AWS_ACCESS_KEY_ID=frazil-bench AWS_SECRET_ACCESS_KEY=frazil-bench AWS_REGION=us-east-1 \
    AWS_ENDPOINT_URL="$MOTO" \
    FRAZIL_LISTEN="127.0.0.1:$PORT" FRAZIL_DATA_DIR="$WORK/data" \
    FRAZIL_WAREHOUSE="s3://bench-vended/warehouse" \
    FRAZIL_S3_ENDPOINT="$MOTO" FRAZIL_S3_REGION=us-east-1 FRAZIL_S3_PATH_STYLE=true \
    FRAZIL_S3_ALLOW_HTTP=true \
    FRAZIL_BOOTSTRAP_CLIENT_ID="$ID" FRAZIL_BOOTSTRAP_CLIENT_SECRET="$SECRET" \
    "$FRAZIL_BIN" serve >"$WORK/frazil.log" 2>&1 &
FRAZIL_PID=$!
PIDS+=("$FRAZIL_PID")
BASE="http://127.0.0.1:$PORT"
wait_http "$BASE/healthz"

step "provider integration for the default environment"
"$PY" - "$BASE" "$ID" "$SECRET" <<'EOF'
import sys, requests
base, cid, secret = sys.argv[1:]
r = requests.post(f"{base}/oauth/token", data={"grant_type": "client_credentials", "client_id": cid, "client_secret": secret, "scope": "catalog"})
r.raise_for_status()
token = r.json()["access_token"]
api = requests.Session()
api.headers["Authorization"] = f"Bearer {token}"
env = f"{base}/admin/v1/organizations/default/environments/default"
r = api.post(f"{env}/provider-integrations", json={"id": "pi-bench", "name": "bench", "aws": {"customer_role_arn": "arn:aws:iam::123456789012:role/frazil-bench"}})
r.raise_for_status()
r = api.patch(env, json={"storage": {"provider_integration": "pi-bench"}})
r.raise_for_status()
EOF

step "frazil-bench run --scenarios load-vended"
mkdir -p "$OUT"
"$BENCH" run --catalog-uri "$BASE/iceberg/catalog/organizations/default/environments/default" \
    --client-id "$ID" --client-secret "$SECRET" --server-pid "$FRAZIL_PID" \
    --db-url "sqlite://$WORK/data/frazil.db" \
    --scenarios load-vended --label vended --output "$OUT/vended.json" \
    --git-rev "$(git -C "$ROOT" describe --always --dirty 2>/dev/null || echo unknown)" \
    --duration 10s --warmup 2s --headline-connections 8 --setup-connections 8 \
    --vended-tables 2000 "$@"
echo "results in $OUT/vended.json" >&2
