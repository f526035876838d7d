"""Idempotency-Key (Iceberg REST 1.11): a retried mutation has no further effect and gets the
first answer back; the same key on a different request is 422; refusals and 5xx are not kept."""

from __future__ import annotations

import concurrent.futures
import uuid
from pathlib import Path

import requests

from conftest import AdminClient, ENV, ORG, assert_iceberg_error, bearer_session, fetch_token, unique

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
