#!/usr/bin/env bash
# Create .venv at the repository root (if missing) and install tests/clients/requirements.txt.
# The install is skipped when .venv/.requirements.sha256 records the same requirements hash.
# Non-interactive; safe with CI=true and no stdin. Set PYTHON to choose the interpreter.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
REQ="$ROOT/tests/clients/requirements.txt"
STAMP="$VENV/.requirements.sha256"
PYTHON="${PYTHON:-python3}"

export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1

if [ ! -x "$VENV/bin/python" ]; then
    echo "setup-python: creating $VENV with $($PYTHON --version 2>&1)" >&2
    "$PYTHON" -m venv "$VENV" </dev/null
fi

want="$( (cat "$REQ"; "$VENV/bin/python" -c 'import sys; print(sys.version)') | sha256sum | cut -d' ' -f1)"
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want" ]; then
    echo "setup-python: $VENV is up to date" >&2
    exit 0
fi

echo "setup-python: installing $REQ" >&2
"$VENV/bin/python" -m pip install --quiet --upgrade pip </dev/null
"$VENV/bin/python" -m pip install --quiet -r "$REQ" </dev/null
# Fail here, not in the middle of the test run, if something does not import.
"$VENV/bin/python" - <<'PY'
import boto3, duckdb, moto, pyarrow, pyiceberg, pytest, requests  # noqa: F401
import importlib.util, os
for name in ("httpfs", "avro", "iceberg"):
    spec = importlib.util.find_spec(f"duckdb_extension_{name}")
    assert spec is not None, f"duckdb_extension_{name} is not installed"
    base = list(spec.submodule_search_locations)[0]
    path = os.path.join(base, "extensions", f"v{duckdb.__version__}", f"{name}.duckdb_extension")
    assert os.path.exists(path), f"missing {path}"
PY
echo "$want" >"$STAMP"
echo "setup-python: done" >&2
