"""Eight processes append to one table at the same time, on both stores.

Each worker retries on 409 CommitFailedException (refresh, append again). Afterwards the table
must hold every appended row exactly once, and exactly one snapshot per successful append, on one
linear main branch: a lost update or a double commit fails the test.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pyarrow as pa

from conftest import make_catalog, unique

WORKERS = 8
APPENDS_PER_WORKER = 4
ROWS_PER_APPEND = 5
WORKER = Path(__file__).with_name("append_worker.py")


def test_concurrent_appends(server):
    setup = make_catalog(server, "tableflow")
    ns = unique("conc")
    setup.create_namespace(ns)
    ident = f"{ns}.appends"
    schema = pa.schema([pa.field("worker", pa.int64()), pa.field("seq", pa.int64()), pa.field("row", pa.int64())])
    # no client-side automatic retry: every conflict must surface as a 409 to the worker loop
    setup.create_table(ident, schema=schema, properties={"commit.retry.num-retries": "0"})

    procs = []
    for w in range(WORKERS):
        # half the workers use each URI layout
        if w % 2 == 0:
            props = {"uri": server.tableflow_uri, "credential": server.credential}
        else:
            props = {"uri": server.warehouse_uri, "warehouse": server.warehouse_name, "credential": server.credential}
        procs.append(
            subprocess.Popen(
                [sys.executable, str(WORKER), json.dumps(props), ident, str(w), str(APPENDS_PER_WORKER), str(ROWS_PER_APPEND)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    try:
        for p in procs:
            line = p.stdout.readline()
            if line.strip() != "ready":
                p.wait(timeout=30)
                raise AssertionError(f"worker did not start: {line!r}\n{p.stderr.read()}")
        for p in procs:  # release them all at once
            p.stdin.write("go\n")
            p.stdin.flush()
        results = []
        for p in procs:
            out, err = p.communicate(timeout=300)
            assert p.returncode == 0, f"worker failed (status {p.returncode}):\n{err[-6000:]}"
            results.append(json.loads(out.strip().splitlines()[-1]))
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()

    total_appends = sum(r["appends"] for r in results)
    conflicts = sum(r["conflicts"] for r in results)
    print(f"{total_appends} appends, {conflicts} conflicts retried")
    assert total_appends == WORKERS * APPENDS_PER_WORKER

    tbl = make_catalog(server, "warehouse").load_table(ident)
    snapshots = tbl.metadata.snapshots
    assert len(snapshots) == total_appends
    assert all(s.summary.operation.value == "append" for s in snapshots)

    # one linear history: walking parents from main's head visits every snapshot once
    by_id = {s.snapshot_id: s for s in snapshots}
    chain = []
    cur = tbl.current_snapshot()
    while cur is not None:
        chain.append(cur.snapshot_id)
        cur = by_id.get(cur.parent_snapshot_id) if cur.parent_snapshot_id is not None else None
    assert len(chain) == total_appends
    assert set(chain) == set(by_id)
    assert int(tbl.current_snapshot().summary["total-records"]) == total_appends * ROWS_PER_APPEND
    # sequence numbers strictly increase along the branch
    seqs = [by_id[s].sequence_number for s in reversed(chain)]
    assert seqs == sorted(set(seqs))

    got = Counter(tuple(r.values()) for r in tbl.scan().to_arrow().to_pylist())
    expected = Counter(
        (w, s, r) for w in range(WORKERS) for s in range(APPENDS_PER_WORKER) for r in range(ROWS_PER_APPEND)
    )
    assert got == expected

    setup.purge_table(ident)
    setup.drop_namespace(ns)


def test_concurrent_create_same_names(server):
    """Racing creates of one namespace / one table: exactly one wins, the rest get 409
    AlreadyExistsException (never a 500), and the winner's table is the one that stays."""
    import threading

    import requests

    base = server.api_prefix("tableflow")
    auth = server.auth_headers()
    ns = unique("race")
    schema = {"type": "struct", "schema-id": 0, "fields": [{"id": 1, "name": "id", "required": False, "type": "long"}]}

    def race(url: str, bodies: list[dict]) -> list[requests.Response]:
        barrier = threading.Barrier(len(bodies))
        out: list = [None] * len(bodies)

        def go(i: int) -> None:
            barrier.wait()
            out[i] = requests.post(url, json=bodies[i], headers=auth, timeout=60)

        threads = [threading.Thread(target=go, args=(i,)) for i in range(len(bodies))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return out

    results = race(f"{base}/namespaces", [{"namespace": [ns], "properties": {"who": str(i)}} for i in range(WORKERS)])
    codes = sorted(r.status_code for r in results)
    assert codes == [200] + [409] * (WORKERS - 1), [(r.status_code, r.text[:200]) for r in results]
    assert all(r.json()["error"]["type"] == "AlreadyExistsException" for r in results if r.status_code == 409)
    winner = next(r for r in results if r.status_code == 200).json()["properties"]["who"]
    assert requests.get(f"{base}/namespaces/{ns}", headers=auth, timeout=30).json()["properties"]["who"] == winner

    results = race(
        f"{base}/namespaces/{ns}/tables",
        [{"name": "t", "schema": schema, "properties": {"who": str(i)}} for i in range(WORKERS)],
    )
    codes = sorted(r.status_code for r in results)
    assert codes == [200] + [409] * (WORKERS - 1), [(r.status_code, r.text[:200]) for r in results]
    assert all(r.json()["error"]["type"] == "AlreadyExistsException" for r in results if r.status_code == 409)
    won = next(r for r in results if r.status_code == 200).json()
    loaded = requests.get(f"{base}/namespaces/{ns}/tables/t", headers=auth, timeout=30).json()
    assert loaded["metadata-location"] == won["metadata-location"]
    assert loaded["metadata"]["table-uuid"] == won["metadata"]["table-uuid"]
    assert loaded["metadata"]["properties"]["who"] == won["metadata"]["properties"]["who"]
