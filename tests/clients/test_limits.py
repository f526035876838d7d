"""Limits and timeouts over raw HTTP, on a server started with small limits: a body over
`max-body-bytes` is 413, a body that is not JSON is 415, errors name the field, commits with too
many updates are refused, and a request that runs too long is cut (503 for a read, 504 for a
write) without leaving partial state. Each refusal has an Iceberg error body and changes nothing."""

from __future__ import annotations

import shutil
import subprocess
import time
import uuid
from pathlib import Path
from urllib.parse import urlparse

import pytest
import requests

from conftest import _database_for, assert_iceberg_error, start_server, stop_server, unique

TIMEOUT = 30
MAX_BODY = 200_000
REQUEST_TIMEOUT_MS = 1500
SCHEMA = {"type": "struct", "schema-id": 0, "fields": [{"id": 1, "name": "id", "required": False, "type": "long"}]}


@pytest.fixture(scope="module")
def small(store, tmp_path_factory):
    """A server with a 200 kB body limit and a 1.5 s request timeout."""
    base = tmp_path_factory.mktemp(f"limits-{store}")
    cleanups: list = []
    url = _database_for(store, base, cleanups)
    env = {"FRAZIL_MAX_BODY_BYTES": str(MAX_BODY), "FRAZIL_REQUEST_TIMEOUT_MS": str(REQUEST_TIMEOUT_MS)}
    server = start_server(store, base, url, env=env)
    yield server
    stop_server(server)
    for cleanup in reversed(cleanups):
        cleanup()


@pytest.fixture
def api(small):
    prefix = small.api_prefix("tableflow")
    http = small.http()
    ns = unique("lim")
    r = http.post(f"{prefix}/namespaces", json={"namespace": [ns]}, timeout=TIMEOUT)
    assert r.status_code == 200, r.text
    r = http.post(f"{prefix}/namespaces/{ns}/tables", json={"name": "t", "schema": SCHEMA}, timeout=TIMEOUT)
    assert r.status_code == 200, r.text
    return http, prefix, ns


def table_state(http, prefix, ns):
    r = http.get(f"{prefix}/namespaces/{ns}/tables/t", timeout=TIMEOUT)
    assert r.status_code == 200, r.text
    body = r.json()
    return body["metadata-location"], body["metadata"].get("properties", {})


def namespaces(http, prefix):
    return sorted(tuple(n) for n in http.get(f"{prefix}/namespaces", timeout=TIMEOUT).json()["namespaces"])


def test_body_over_the_limit_is_413(api):
    http, prefix, ns = api
    before = table_state(http, prefix, ns)
    big = {"requirements": [], "updates": [{"action": "set-properties", "updates": {"k": "x" * MAX_BODY}}]}
    r = http.post(f"{prefix}/namespaces/{ns}/tables/t", json=big, timeout=TIMEOUT)
    err = assert_iceberg_error(r, 413)
    assert "too large" in err["message"]
    # just under the limit is served
    fits = {"requirements": [], "updates": [{"action": "set-properties", "updates": {"k": "x" * (MAX_BODY - 200)}}]}
    assert http.post(f"{prefix}/namespaces/{ns}/tables/t", json=fits, timeout=TIMEOUT).status_code == 200
    assert table_state(http, prefix, ns)[1]["k"] == "x" * (MAX_BODY - 200)
    assert before[0] != table_state(http, prefix, ns)[0]


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", "application/xml"])
def test_body_that_is_not_json_is_415(api, content_type):
    http, prefix, _ = api
    before = namespaces(http, prefix)
    name = unique("ct")
    r = http.post(f"{prefix}/namespaces", data=f'{{"namespace": ["{name}"]}}', headers={"Content-Type": content_type}, timeout=TIMEOUT)
    err = assert_iceberg_error(r, 415, "UnsupportedMediaTypeException")
    assert "application/json" in err["message"]
    assert namespaces(http, prefix) == before
    # JSON with a charset, or a +json type, is JSON
    for ok_type in ["application/json; charset=utf-8", "application/vnd.iceberg+json"]:
        name = unique("ct")
        r = http.post(f"{prefix}/namespaces", data=f'{{"namespace": ["{name}"]}}', headers={"Content-Type": ok_type}, timeout=TIMEOUT)
        assert r.status_code == 200, r.text


@pytest.mark.parametrize(
    "body, field",
    [
        ({"namespace": ["a", 7]}, "namespace[1]"),
        ({"namespace": "a"}, "namespace"),
        ({"properties": {}}, "namespace"),
        ({"namespace": ["a"], "properties": {"k": 1}}, "properties.k"),
    ],
    ids=["wrong-element-type", "wrong-type", "missing", "wrong-property-type"],
)
def test_create_namespace_errors_name_the_field(api, body, field):
    http, prefix, _ = api
    before = namespaces(http, prefix)
    err = assert_iceberg_error(http.post(f"{prefix}/namespaces", json=body, timeout=TIMEOUT), 400, "BadRequestException")
    assert field in err["message"], err
    assert namespaces(http, prefix) == before


@pytest.mark.parametrize(
    "update, field, detail",
    [
        ({"action": "set-current-schema", "schema-id": "zero"}, "updates[1] (set-current-schema)", "expected i32"),
        ({"action": "add-sort-order"}, "updates[1]", "sort-order"),
        ({"action": "set-snapshot-ref", "ref-name": "main", "type": "trunk", "snapshot-id": 1}, "updates[1]", "trunk"),
        ({"action": "explode"}, "updates[1]", "explode"),
    ],
    ids=["wrong-type", "missing-field", "unknown-enum-value", "unknown-action"],
)
def test_commit_errors_name_the_update(api, update, field, detail):
    http, prefix, ns = api
    before = table_state(http, prefix, ns)
    body = {"requirements": [], "updates": [{"action": "set-properties", "updates": {"a": "b"}}, update]}
    err = assert_iceberg_error(http.post(f"{prefix}/namespaces/{ns}/tables/t", json=body, timeout=TIMEOUT), 400, "BadRequestException")
    assert field in err["message"] and detail in err["message"], err
    assert table_state(http, prefix, ns) == before


def test_json_nested_too_deep_is_400(api):
    http, prefix, ns = api
    before = table_state(http, prefix, ns)
    # a schema of lists of lists: 200 levels of types, past the 128 levels of JSON Frazil reads
    element: object = "long"
    for i in range(200):
        element = {"type": "list", "element-id": 1000 + i, "element": element, "element-required": False}
    schema = {"type": "struct", "fields": [{"id": 1, "name": "a", "required": False, "type": element}]}
    r = http.post(f"{prefix}/namespaces/{ns}/tables", json={"name": "deep", "schema": schema}, timeout=TIMEOUT)
    err = assert_iceberg_error(r, 400, "BadRequestException")
    assert "recursion limit" in err["message"]
    assert table_state(http, prefix, ns) == before
    assert http.get(f"{prefix}/namespaces/{ns}/tables/deep", timeout=TIMEOUT).status_code == 404


def test_too_many_updates_in_one_commit(api):
    http, prefix, ns = api
    before = table_state(http, prefix, ns)
    updates = [{"action": "set-properties", "updates": {f"k{i}": "v"}} for i in range(1001)]
    r = http.post(f"{prefix}/namespaces/{ns}/tables/t", json={"requirements": [], "updates": updates}, timeout=TIMEOUT)
    err = assert_iceberg_error(r, 400, "BadRequestException")
    assert "Too many updates" in err["message"] and "1000" in err["message"].replace(",", ""), err
    assert table_state(http, prefix, ns) == before
    # 1,000 is allowed
    r = http.post(f"{prefix}/namespaces/{ns}/tables/t", json={"requirements": [], "updates": updates[:1000]}, timeout=TIMEOUT)
    assert r.status_code == 200, r.text[:300]
    assert len(table_state(http, prefix, ns)[1]) >= 1000


def test_too_many_tables_in_one_transaction(api):
    http, prefix, ns = api
    before = table_state(http, prefix, ns)
    change = {"identifier": {"namespace": [ns], "name": "t"}, "requirements": [], "updates": [{"action": "set-properties", "updates": {"x": "y"}}]}
    r = http.post(f"{prefix}/transactions/commit", json={"table-changes": [change] * 1001}, timeout=TIMEOUT)
    err = assert_iceberg_error(r, 400, "BadRequestException")
    assert "Too many tables" in err["message"], err
    assert table_state(http, prefix, ns) == before


def lock_objects(server, seconds: float) -> subprocess.Popen:
    """Holds an exclusive lock on the catalog's objects table from another session, so that the
    server's queries on it wait; returns once the lock is held."""
    psql = [shutil.which("psql"), server.database_url, "-X", "-q", "-t", "-A", "-v", "ON_ERROR_STOP=1", "-c"]
    lock = subprocess.Popen(psql + [f"BEGIN; LOCK TABLE catalog_objects IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep({seconds}); COMMIT;"], stdout=subprocess.DEVNULL)
    held = "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation WHERE c.relname = 'catalog_objects' AND l.mode = 'AccessExclusiveLock' AND l.granted"
    deadline = time.monotonic() + 10
    while subprocess.run(psql + [held], capture_output=True, text=True).stdout.strip() != "1":
        assert time.monotonic() < deadline, "psql did not get the lock"
        time.sleep(0.05)
    return lock


def test_requests_that_run_too_long_are_cut(small, api):
    """A load waiting on a locked store is cut with 503 after the request timeout; a commit is cut
    with 504 ("state unknown") and still lands whole once the store answers: the table points at
    a complete metadata file holding the change."""
    if small.store != "postgres":
        pytest.skip("needs a store another session can lock (PostgreSQL)")
    http, prefix, ns = api
    location, _ = table_state(http, prefix, ns)
    # an uncached load needs the objects table: a fresh table name
    r = http.post(f"{prefix}/namespaces/{ns}/tables", json={"name": "slow", "schema": SCHEMA}, timeout=TIMEOUT)
    assert r.status_code == 200, r.text
    lock = lock_objects(small, 4)
    try:
        sent = time.monotonic()
        r = http.get(f"{prefix}/namespaces/{ns}/tables/slow", timeout=TIMEOUT)
        took = time.monotonic() - sent
        err = assert_iceberg_error(r, 503, "ServiceUnavailableException")
        assert "did not complete within 1.5 s" in err["message"], err
        assert REQUEST_TIMEOUT_MS / 1000 - 0.1 <= took < 3.5, took
        body = {"requirements": [], "updates": [{"action": "set-properties", "updates": {"cut": "landed"}}]}
        key = {"Idempotency-Key": str(uuid.uuid4())}
        r = http.post(f"{prefix}/namespaces/{ns}/tables/t", json=body, headers=key, timeout=TIMEOUT)
        assert_iceberg_error(r, 504, "CommitStateUnknownException")
    finally:
        assert lock.wait(timeout=30) == 0
    # the commit ran to completion after the lock was released
    deadline = time.monotonic() + 10
    while True:
        new_location, props = table_state(http, prefix, ns)
        if props.get("cut") == "landed" or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert props.get("cut") == "landed" and new_location != location
    # the commit's task recorded its answer under the Idempotency-Key: the client's retry gets
    # it at once (the landed metadata), and does not commit a second time
    sent = time.monotonic()
    r = http.post(f"{prefix}/namespaces/{ns}/tables/t", json=body, headers=key, timeout=TIMEOUT)
    assert r.status_code == 200 and time.monotonic() - sent < 5, (r.status_code, r.text[:300])
    assert r.json()["metadata-location"] == new_location
    assert table_state(http, prefix, ns)[0] == new_location
    assert Path(urlparse(new_location).path).is_file(), new_location


def test_naming_rules(small, api):
    """Every Kafka topic name and cluster id is kept as it is; other names are escaped on storage
    so that none leaves its table's directory; empty, over-long and control-character names are
    refused."""
    http, prefix, ns = api
    warehouse = small.warehouse.rstrip("/") + "/default/default"  # the default environment: {root}/{org}/{env}
    topic = ("Orders.v1-EU_" * 20)[:249]  # the longest Kafka topic name, every allowed character
    # a directory name holds at most 255 bytes: "{name}-{uuid}" keeps the first 222 of the name
    for name, segment in [(topic, topic[:222]), (".", "_x2E"), ("..", "_x2E_x2E"), ("a/b", "a_x2Fb"), ("ü", "_xC3_xBC")]:
        r = http.post(f"{prefix}/namespaces/{ns}/tables", json={"name": name, "schema": SCHEMA}, timeout=TIMEOUT)
        assert r.status_code == 200, (name, r.text[:300])
        location = r.json()["metadata"]["location"]
        assert location.startswith(f"{warehouse}/{ns}/{segment}-"), (name, location)
        assert "/../" not in location and "/./" not in location
        if name.strip("."):  # requests turns a path segment %2E into "." and drops it
            r = http.get(f"{prefix}/namespaces/{ns}/tables/{requests.utils.quote(name, safe='')}", timeout=TIMEOUT)
            assert r.status_code == 200 and r.json()["metadata"]["location"] == location, name
    listed = {i["name"] for i in http.get(f"{prefix}/namespaces/{ns}/tables", timeout=TIMEOUT).json()["identifiers"]}
    assert {topic, ".", "..", "a/b", "ü"} <= listed
    before = sorted(i["name"] for i in http.get(f"{prefix}/namespaces/{ns}/tables", timeout=TIMEOUT).json()["identifiers"])
    for bad, problem in [("", "must not be empty"), ("x" * 256, "longer than 255 bytes"), ("a\x01b", "control characters"), ("a\x1fb", "control characters")]:
        r = http.post(f"{prefix}/namespaces/{ns}/tables", json={"name": bad, "schema": SCHEMA}, timeout=TIMEOUT)
        err = assert_iceberg_error(r, 400, "BadRequestException")
        assert "table name" in err["message"] and problem in err["message"], err
        r = http.post(f"{prefix}/namespaces", json={"namespace": [bad]}, timeout=TIMEOUT)
        assert_iceberg_error(r, 400, "BadRequestException")
    after = sorted(i["name"] for i in http.get(f"{prefix}/namespaces/{ns}/tables", timeout=TIMEOUT).json()["identifiers"])
    assert after == before
    # a Confluent cluster id as a namespace
    cluster = unique("lkc-") + "-x9"
    assert http.post(f"{prefix}/namespaces", json={"namespace": [cluster]}, timeout=TIMEOUT).status_code == 200
