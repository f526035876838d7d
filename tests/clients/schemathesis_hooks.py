"""Schemathesis hooks for test_schemathesis.py (loaded through SCHEMATHESIS_HOOKS): a check that
a refused request (any answer but 2xx) changed nothing, neither in the catalog database nor in
the warehouse. The state is read before every call from the server's SQLite file and warehouse
directory, named by FRAZIL_FUZZ_DB and FRAZIL_FUZZ_WAREHOUSE."""

from __future__ import annotations

import hashlib
import os
import sqlite3
from pathlib import Path

import schemathesis

DB = os.environ["FRAZIL_FUZZ_DB"]
WAREHOUSE = Path(os.environ["FRAZIL_FUZZ_WAREHOUSE"])
# What a request may change while being refused: when a key was last used, stored
# Idempotency-Key answers (replayed for a retry), token signing keys.
TABLES = ["organizations", "environments", "namespaces", "catalog_objects", "table_events", "api_keys"]
IGNORED_COLUMNS = {"last_used_at_ms"}

_before: dict[int, str] = {}


def fingerprint() -> str:
    digest = hashlib.sha256()
    with sqlite3.connect(f"file:{DB}?mode=ro", uri=True, timeout=30) as con:
        for table in TABLES:
            columns = [row[1] for row in con.execute(f"PRAGMA table_info({table})") if row[1] not in IGNORED_COLUMNS]
            rows = con.execute(f"SELECT {', '.join(columns)} FROM {table} ORDER BY 1, 2").fetchall()
            digest.update(repr((table, sorted(map(repr, rows)))).encode())
    files = sorted(str(p.relative_to(WAREHOUSE)) for p in WAREHOUSE.rglob("*") if p.is_file())
    digest.update(repr(files).encode())
    return digest.hexdigest()


@schemathesis.hook
def before_call(context, case, kwargs) -> None:
    _before[id(case)] = fingerprint()


@schemathesis.check
def refused_requests_change_nothing(ctx, response, case):
    before = _before.pop(id(case), None)
    if before is None or 200 <= response.status_code < 300:
        return None
    if fingerprint() != before:
        raise AssertionError(
            f"{case.method} {case.formatted_path} was refused with {response.status_code} but changed the catalog or the warehouse"
        )
    return True
