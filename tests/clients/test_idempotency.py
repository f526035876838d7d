"""Idempotency-Key (Iceberg REST 1.11): a retried mutation has no further effect and gets the
first answer back; the same key on a different request is 422; refusals and 5xx are not kept.
A commit that outlives its request (cut by the request timeout) keeps its key until it lands, and
the retry replays its answer; the claim of a replica that died expires after about the request
timeout; records keep no metadata bodies; expired records are pruned by a background task."""

from __future__ import annotations

import concurrent.futures
import shutil
import sqlite3
import subprocess
import threading
import time
import uuid
from pathlib import Path

import pytest
import requests

from conftest import (
    AdminClient,
    ENV,
    ORG,
    _database_for,
    _stop,
    assert_iceberg_error,
    bearer_session,
    fetch_token,
    start_server,
    stop_server,
    unique,
)

TIMEOUT = 30
SCHEMA = {"type": "struct", "schema-id": 0, "fields": [{"id": 1, "name": "id", "type": "long", "required": False}]}


def key() -> str:
    return str(uuid.uuid7()) if hasattr(uuid, "uuid7") else str(uuid.uuid4())


def with_key(k: str) -> dict:
    return {"Idempotency-Key": k}


def new_table(server, prop: str) -> tuple:
    """A session, a fresh table's URL, its create response and a commit setting property `prop`."""
    http, base = server.http(), f"{server.tableflow_uri}/v1"
    ns = unique("idem")
    http.post(f"{base}/namespaces", json={"namespace": [ns]}, timeout=TIMEOUT)
    created = http.post(f"{base}/namespaces/{ns}/tables", json={"name": "t", "schema": SCHEMA}, timeout=TIMEOUT).json()
    commit = {
        "requirements": [{"type": "assert-table-uuid", "uuid": created["metadata"]["table-uuid"]}],
        "updates": [{"action": "set-properties", "updates": {prop: "yes"}}],
    }
    return http, f"{base}/namespaces/{ns}/tables/t", created, commit


def test_config_advertises_the_lifetime(server):
    cfg = server.http().get(f"{server.tableflow_uri}/v1/config", timeout=TIMEOUT).json()
    assert cfg["idempotency-key-lifetime"] == "PT30M"


def test_create_namespace_replayed(server):
    http, base = server.http(), f"{server.tableflow_uri}/v1"
    ns, k = unique("idem"), key()
    body = {"namespace": [ns], "properties": {"owner": "first"}}
    first = http.post(f"{base}/namespaces", json=body, headers=with_key(k), timeout=TIMEOUT)
    assert first.status_code == 200, first.text
    again = http.post(f"{base}/namespaces", json=body, headers=with_key(k), timeout=TIMEOUT)
    # the retry is answered as the first was, not with 409 AlreadyExists
    assert again.status_code == 200, again.text
    assert again.json() == first.json()
    # a new key is a new operation
    other = http.post(f"{base}/namespaces", json=body, headers=with_key(key()), timeout=TIMEOUT)
    assert_iceberg_error(other, 409, "AlreadyExistsException")


def test_terminal_4xx_is_replayed(server):
    http, base = server.http(), f"{server.tableflow_uri}/v1"
    ns, k = unique("idem"), key()
    http.post(f"{base}/namespaces", json={"namespace": [ns]}, timeout=TIMEOUT)
    refused = http.delete(f"{base}/namespaces/{ns}/tables/absent", headers=with_key(k), timeout=TIMEOUT)
    assert_iceberg_error(refused, 404, "NoSuchTableException")
    # the table appears meanwhile; the retry still gets the final answer of the first attempt
    assert http.post(f"{base}/namespaces/{ns}/tables", json={"name": "absent", "schema": SCHEMA}, timeout=TIMEOUT).status_code == 200
    replayed = http.delete(f"{base}/namespaces/{ns}/tables/absent", headers=with_key(k), timeout=TIMEOUT)
    assert_iceberg_error(replayed, 404, "NoSuchTableException")
    assert http.get(f"{base}/namespaces/{ns}/tables/absent", timeout=TIMEOUT).status_code == 200


def test_commit_replayed_adds_one_change(server):
    http, url, created, commit = new_table(server, "n")
    k = key()
    first = http.post(url, json=commit, headers=with_key(k), timeout=TIMEOUT)
    assert first.status_code == 200, first.text
    again = http.post(url, json=commit, headers=with_key(k), timeout=TIMEOUT)
    assert again.status_code == 200, again.text
    assert again.json()["metadata-location"] == first.json()["metadata-location"]
    assert again.headers.get("ETag") == first.headers.get("ETag")
    loaded = http.get(url, timeout=TIMEOUT).json()
    assert loaded["metadata-location"] == first.json()["metadata-location"]
    # exactly one commit: the metadata log has the created file only
    assert len(loaded["metadata"]["metadata-log"]) == 1


def test_same_key_different_request_is_422(server):
    http, base = server.http(), f"{server.tableflow_uri}/v1"
    k = key()
    a, b = unique("idem"), unique("idem")
    assert http.post(f"{base}/namespaces", json={"namespace": [a]}, headers=with_key(k), timeout=TIMEOUT).status_code == 200
    r = http.post(f"{base}/namespaces", json={"namespace": [b]}, headers=with_key(k), timeout=TIMEOUT)
    err = assert_iceberg_error(r, 422, "UnprocessableEntityException")
    assert "Idempotency-Key" in err["message"]
    assert http.get(f"{base}/namespaces/{b}", timeout=TIMEOUT).status_code == 404


def test_invalid_key_is_400(server):
    http, base = server.http(), f"{server.tableflow_uri}/v1"
    ns = unique("idem")
    r = http.post(f"{base}/namespaces", json={"namespace": [ns]}, headers=with_key("not-a-uuid"), timeout=TIMEOUT)
    assert_iceberg_error(r, 400, "BadRequestException")
    assert http.get(f"{base}/namespaces/{ns}", timeout=TIMEOUT).status_code == 404


def test_concurrent_duplicates_have_one_effect(server):
    http, url, created, commit = new_table(server, "concurrent")
    k, token = key(), server.token()

    def send(_):
        s = bearer_session(token)
        return s.post(url, json=commit, headers=with_key(k), timeout=60)

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(send, range(8)))
    assert {r.status_code for r in answers} == {200}, [r.text for r in answers]
    assert len({r.json()["metadata-location"] for r in answers}) == 1
    loaded = http.get(url, timeout=TIMEOUT).json()
    assert len(loaded["metadata"]["metadata-log"]) == 1


def test_refusals_do_not_use_up_the_key(server, tmp_path):
    """A reader's 403 with a key is not stored: a writer may then use the same key."""
    admin = AdminClient(server)
    reader = admin.create_key(ORG, ENV, "reader")
    writer = admin.create_key(ORG, ENV, "writer")
    token_url = f"{server.tableflow_uri}/v1/oauth/tokens"
    reader_http = bearer_session(fetch_token(token_url, reader["key"], reader["secret"]))
    writer_http = bearer_session(fetch_token(token_url, writer["key"], writer["secret"]))
    base = f"{server.tableflow_uri}/v1"
    ns, k = unique("idem"), key()
    body = {"namespace": [ns]}
    r = reader_http.post(f"{base}/namespaces", json=body, headers=with_key(k), timeout=TIMEOUT)
    assert_iceberg_error(r, 403, "ForbiddenException")
    anonymous = requests.post(f"{base}/namespaces", json=body, headers=with_key(k), timeout=TIMEOUT)
    assert_iceberg_error(anonymous, 401, "NotAuthorizedException")
    r = writer_http.post(f"{base}/namespaces", json=body, headers=with_key(k), timeout=TIMEOUT)
    assert r.status_code == 200, r.text
    # another API key replaying the writer's key does not get the writer's answer
    other = admin.create_key(ORG, ENV, "writer")
    other_http = bearer_session(fetch_token(token_url, other["key"], other["secret"]))
    r = other_http.post(f"{base}/namespaces", json=body, headers=with_key(k), timeout=TIMEOUT)
    assert_iceberg_error(r, 422, "UnprocessableEntityException")


def test_server_errors_are_not_stored(server):
    """A commit whose metadata file cannot be written fails with 5xx; once storage is back, the
    retry with the same key runs again and succeeds."""
    http, url, created, commit = new_table(server, "after-outage")
    metadata_dir = Path(created["metadata-location"].removeprefix("file://")).parent
    k = key()
    # storage fails: the metadata directory is replaced by a plain file
    moved = metadata_dir.with_name("metadata.moved")
    metadata_dir.rename(moved)
    metadata_dir.write_text("not a directory")
    try:
        failed = http.post(url, json=commit, headers=with_key(k), timeout=TIMEOUT)
    finally:
        metadata_dir.unlink()
        moved.rename(metadata_dir)
    assert failed.status_code >= 500, failed.text
    retried = http.post(url, json=commit, headers=with_key(k), timeout=TIMEOUT)
    assert retried.status_code == 200, retried.text
    assert retried.json()["metadata"]["properties"]["after-outage"] == "yes"


# --------------------------------------------------------------------------------------------
# commits that outlive their request

REQUEST_TIMEOUT_MS = 1000
# the claim's lease: the request timeout plus max(1 s, a tenth of it)
LEASE_MS = REQUEST_TIMEOUT_MS + 1000
PRUNE_INTERVAL_MS = 300
SLOW_ENV = {"FRAZIL_REQUEST_TIMEOUT_MS": str(REQUEST_TIMEOUT_MS), "FRAZIL_IDEMPOTENCY_PRUNE_INTERVAL_MS": str(PRUNE_INTERVAL_MS)}


def big_properties(count: int = 500_000) -> dict:
    """A set-properties update of half a million properties (~14 MB): applying it takes a debug
    build several times the 1 s request timeout."""
    return {f"slow.{i:07d}": "y" * 10 for i in range(count)}


def slow_commit(created: dict, marker: str) -> dict:
    props = big_properties()
    props["marker"] = marker
    return {
        "requirements": [{"type": "assert-table-uuid", "uuid": created["metadata"]["table-uuid"]}],
        "updates": [{"action": "set-properties", "updates": props}],
    }


def sql_rows(server, query: str) -> list[tuple]:
    """Rows of `query` on the server's own database (SQLite file or Postgres), as text."""
    if server.store == "sqlite":
        with sqlite3.connect(server.database_url.removeprefix("sqlite://"), timeout=30) as con:
            return [tuple("" if v is None else str(v) for v in row) for row in con.execute(query).fetchall()]
    psql = [shutil.which("psql"), server.database_url, "-X", "-q", "-t", "-A", "-F", "\t", "-v", "ON_ERROR_STOP=1", "-c", query]
    out = subprocess.run(psql, capture_output=True, text=True, check=True).stdout
    return [tuple(line.split("\t")) for line in out.splitlines() if line]


def key_row(server, k: str) -> dict | None:
    cols = ["status", "body", "metadata_location", "reply_shape", "etag", "created_at_ms", "lease_until_ms"]
    rows = sql_rows(server, f"SELECT {', '.join(cols)} FROM idempotency_keys WHERE idem_key = '{k}'")
    return dict(zip(cols, rows[0])) if rows else None


def retry_until_answered(http, url: str, body: dict, k: str, deadline_s: float = 120) -> tuple[requests.Response, list]:
    """Sends the request with key `k` until it gets a final answer; only "still running" (503)
    and "cut, state unknown" (504) ask for another try. Returns the answer and the statuses seen."""
    seen: list = []
    deadline = time.monotonic() + deadline_s
    while True:
        try:
            r = http.post(url, json=body, headers=with_key(k), timeout=TIMEOUT)
        except requests.ConnectionError:
            # the half-million-property commit keeps a worker thread of the debug build busy for
            # seconds, and a connection waiting on that worker may be closed: a client retries
            seen.append("closed")
            assert time.monotonic() < deadline, seen
            time.sleep(0.2)
            continue
        seen.append(r.status_code)
        if r.status_code not in (503, 504):
            return r, seen
        assert time.monotonic() < deadline, seen
        time.sleep(0.1)


@pytest.fixture(scope="module")
def slow(store, tmp_path_factory):
    """A server with a 1 s request timeout that prunes expired keys every 0.3 s."""
    base = tmp_path_factory.mktemp(f"idem-slow-{store}")
    cleanups: list = []
    url = _database_for(store, base, cleanups)
    server = start_server(store, base, url, env=SLOW_ENV)
    yield server
    stop_server(server)
    for cleanup in reversed(cleanups):
        cleanup()


def test_commit_cut_by_the_timeout_is_replayed(slow):
    """The commit is cut with 504 but lands; the retry with the same key waits for it (503 "still
    running" while it runs) and then gets 200 with the landed metadata, never a second commit
    (before the fix every retry committed the half million properties again)."""
    http, url, created, _ = new_table(slow, "unused")
    commit, k = slow_commit(created, "cut"), key()
    first = http.post(url, json=commit, headers=with_key(k), timeout=TIMEOUT)
    assert_iceberg_error(first, 504, "CommitStateUnknownException")
    # the key is still claimed by the running commit
    row = key_row(slow, k)
    assert row is not None and row["status"] == "", row
    replayed, seen = retry_until_answered(http, url, commit, k)
    assert replayed.status_code == 200, (seen, replayed.text[:500])
    # while the commit runs, a retry waits and then hears "still running" (503), or is cut by its
    # own timeout (504) when the busy server answers it late: neither runs the commit again
    assert set(seen[:-1]) <= {503, 504, "closed"}, seen
    loaded = http.get(url, timeout=TIMEOUT)
    assert loaded.status_code == 200
    landed = loaded.json()
    # exactly one commit: the created file, then this one
    assert len(landed["metadata"]["metadata-log"]) == 1, landed["metadata"]["metadata-log"]
    assert landed["metadata"]["properties"]["marker"] == "cut"
    body = replayed.json()
    assert body["metadata-location"] == landed["metadata-location"]
    assert body["metadata"] == landed["metadata"]
    assert replayed.headers.get("ETag") == loaded.headers.get("ETag")
    # every replay has the same bytes
    again = http.post(url, json=commit, headers=with_key(k), timeout=TIMEOUT)
    assert again.status_code == 200 and again.content == replayed.content
    # the record keeps the location, not the ~9 MB body
    row = key_row(slow, k)
    assert row["status"] == "200" and row["body"] == "", {c: v[:100] for c, v in row.items()}
    assert row["metadata_location"] == landed["metadata-location"]
    assert row["reply_shape"] == "table+as-written" and row["etag"] == loaded.headers["ETag"]
    assert sum(len(v) for v in row.values()) < 1000


def test_duplicate_waits_for_the_running_commit(server):
    """A retry that arrives while the first request still runs waits for it and gets its answer."""
    http, url, created, _ = new_table(server, "unused")
    commit, k, token = slow_commit(created, "waited"), key(), server.token()
    answers: dict = {}

    def send(name: str):
        r = bearer_session(token).post(url, json=commit, headers=with_key(k), timeout=120)
        answers[name] = (r, time.monotonic())

    first = threading.Thread(target=send, args=("first",))
    first.start()
    # the retry is sent once the first holds the key
    deadline = time.monotonic() + 30
    while key_row(server, k) is None:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    retry_sent = time.monotonic()
    send("retry")
    first.join()
    (r1, done1), (r2, _) = answers["first"], answers["retry"]
    assert r1.status_code == 200 and r2.status_code == 200, (r1.text[:300], r2.text[:300])
    assert done1 > retry_sent, "the retry was sent after the first had answered"
    assert r2.content == r1.content
    assert r2.headers.get("ETag") == r1.headers.get("ETag")
    loaded = http.get(url, timeout=TIMEOUT).json()
    assert loaded["metadata-location"] == r1.json()["metadata-location"]
    assert len(loaded["metadata"]["metadata-log"]) == 1


def test_claim_of_a_dead_replica_expires(store, tmp_path):
    """A replica killed mid-commit leaves its key claimed; the claim is a lease of about the
    request timeout, so after a restart the retry runs the commit (once) instead of waiting for
    30 minutes."""
    cleanups: list = []
    url = _database_for(store, tmp_path, cleanups)
    server = start_server(store, tmp_path, url, env=SLOW_ENV)
    try:
        http, table_url, created, _ = new_table(server, "unused")
        commit, k = slow_commit(created, "after-crash"), key()
        token = server.token()
        answers: list = []
        sender = threading.Thread(
            target=lambda: _swallow(
                lambda: answers.append(bearer_session(token).post(table_url, json=commit, headers=with_key(k), timeout=60))
            )
        )
        sender.start()
        deadline = time.monotonic() + 60
        while (row := key_row(server, k)) is None:
            # The commit answered (or failed) before its claim was seen: say how.
            assert sender.is_alive(), [(a.status_code, a.text[:300]) for a in answers]
            assert time.monotonic() < deadline
            time.sleep(0.01)
        server.proc.kill()
        killed_at_ms = time.time() * 1000
        server.proc.wait(timeout=10)
        sender.join()
        row = key_row(server, k)
        assert row["status"] == "", row
        lease_ends_in_ms = int(row["lease_until_ms"]) - killed_at_ms
        assert lease_ends_in_ms <= LEASE_MS + 200, lease_ends_in_ms
        server = start_server(store, tmp_path, url, env=SLOW_ENV)
        http = server.http()
        table_url = table_url.replace(table_url.split("/iceberg/")[0], server.base_url)
        started = time.monotonic()
        answered, seen = retry_until_answered(http, table_url, commit, k)
        assert answered.status_code == 200, (seen, answered.text[:500])
        assert time.monotonic() - started < 60
        loaded = http.get(table_url, timeout=TIMEOUT).json()
        assert loaded["metadata"]["properties"]["marker"] == "after-crash"
        assert answered.json()["metadata-location"] == loaded["metadata-location"]
        assert len(loaded["metadata"]["metadata-log"]) == 1
    finally:
        if server.alive():
            stop_server(server)
        for cleanup in reversed(cleanups):
            cleanup()


def _swallow(call):
    try:
        call()
    except requests.RequestException:
        pass


def test_expired_records_are_pruned(slow):
    """A background task deletes records past the lifetime (and claims whose lease ran out),
    without any request coming in; fresh records stay."""
    now = int(time.time() * 1000)
    old = now - 31 * 60 * 1000
    scope = f"{ORG}/{ENV}"
    old_done, old_claim, fresh = key(), key(), key()
    cols = "(scope, idem_key, fingerprint, status, body, created_at_ms, claim_id, lease_until_ms)"
    sql_rows(
        slow,
        f"INSERT INTO idempotency_keys {cols} VALUES "
        f"('{scope}', '{old_done}', 'f', 204, '', {old}, 'c1', NULL), "
        f"('{scope}', '{old_claim}', 'f', NULL, NULL, {old}, 'c2', {old + LEASE_MS}), "
        f"('{scope}', '{fresh}', 'f', 204, '', {now}, 'c3', NULL)",
    )
    deadline = time.monotonic() + 10
    while key_row(slow, old_done) or key_row(slow, old_claim):
        assert time.monotonic() < deadline, "expired records were not pruned"
        time.sleep(0.1)
    assert key_row(slow, fresh) is not None


def test_every_metadata_answer_is_replayed_the_same(server):
    """Create, register, unregister, view replace and view register keep only the metadata file's
    location; each replay is the first answer, byte for byte, and changes nothing."""
    http, base = server.http(), f"{server.tableflow_uri}/v1"
    ns = unique("idem")
    assert http.post(f"{base}/namespaces", json={"namespace": [ns]}, timeout=TIMEOUT).status_code == 200

    def twice(method, url: str, body: dict | None, shape: str | None):
        k = key()
        first = http.request(method, url, json=body, headers=with_key(k), timeout=TIMEOUT)
        assert first.status_code == 200, first.text
        again = http.request(method, url, json=body, headers=with_key(k), timeout=TIMEOUT)
        assert again.status_code == 200, again.text
        assert again.content == first.content
        assert again.headers.get("ETag") == first.headers.get("ETag")
        assert again.headers.get("content-type") == first.headers.get("content-type")
        row = key_row(server, k)
        assert row["reply_shape"] == shape and row["metadata_location"] == first.json()["metadata-location"], row
        assert row["body"] == ""
        return first.json()

    created = twice("POST", f"{base}/namespaces/{ns}/tables", {"name": "t", "schema": SCHEMA, "properties": {"b": "1", "a": "2"}}, "table+config+as-written")
    location = created["metadata-location"]
    unregistered = twice("POST", f"{base}/namespaces/{ns}/tables/t/unregister", None, "table")
    assert unregistered["metadata"] == created["metadata"]
    registered = twice("POST", f"{base}/namespaces/{ns}/register", {"name": "t2", "metadata-location": location}, "table+config")
    assert registered["metadata"] == created["metadata"]
    # exactly one table came of it
    names = {i["name"] for i in http.get(f"{base}/namespaces/{ns}/tables", timeout=TIMEOUT).json()["identifiers"]}
    assert names == {"t2"}

    view = {
        "name": "v",
        "schema": {"type": "struct", "fields": [{"id": 1, "name": "id", "type": "long", "required": False}]},
        "view-version": {"version-id": 1, "schema-id": -1, "timestamp-ms": 1, "summary": {"engine-name": "pytest"}, "representations": [{"type": "sql", "sql": "select 1 as id", "dialect": "spark"}], "default-namespace": [ns]},
        "properties": {"owner": "pytest"},
    }
    made = http.post(f"{base}/namespaces/{ns}/views", json=view, timeout=TIMEOUT)
    assert made.status_code == 200, made.text
    replaced = twice(
        "POST",
        f"{base}/namespaces/{ns}/views/v",
        {"requirements": [{"type": "assert-view-uuid", "uuid": made.json()["metadata"]["view-uuid"]}], "updates": [{"action": "set-properties", "updates": {"z": "1", "c": "2"}}]},
        "view+config+as-written",
    )
    assert http.get(f"{base}/namespaces/{ns}/views/v", timeout=TIMEOUT).json()["metadata-location"] == replaced["metadata-location"]
    # a live view's directory cannot be registered twice: register the dropped view's file
    assert http.delete(f"{base}/namespaces/{ns}/views/v", timeout=TIMEOUT).status_code == 204
    twice("POST", f"{base}/namespaces/{ns}/register-view", {"name": "v2", "metadata-location": replaced["metadata-location"]}, "view+config")
