"""Routes and semantics of the Iceberg REST spec that the client libraries do not exercise, over
raw HTTP: unregisterTable, the credentials route, `referenced-by`, the routes Frazil does not
serve (501, not advertised), and format-version 3 row lineage through commits."""

from __future__ import annotations

import time

import pytest

from conftest import assert_iceberg_error, unique

TIMEOUT = 30

SCHEMA = {"type": "struct", "schema-id": 0, "fields": [{"id": 1, "name": "id", "type": "long", "required": False}]}

NOT_SERVED = [
    ("POST", "/namespaces/{ns}/tables/{t}/plan", {"select": ["id"]}),
    ("GET", "/namespaces/{ns}/tables/{t}/plan/some-plan", None),
    ("DELETE", "/namespaces/{ns}/tables/{t}/plan/some-plan", None),
    ("POST", "/namespaces/{ns}/tables/{t}/tasks", {"plan-task": "x"}),
    ("GET", "/namespaces/{ns}/functions", None),
    ("GET", "/namespaces/{ns}/functions/f", None),
]


@pytest.fixture
def api(server, layout):
    """`{uri}/v1[/{prefix}]` of `layout`, an authorized session, and a fresh namespace."""
    http = server.http()
    base = server.api_prefix(layout)
    ns = unique("spec")
    r = http.post(f"{base}/namespaces", json={"namespace": [ns]}, timeout=TIMEOUT)
    assert r.status_code == 200, r.text
    return http, base, ns


def create_table(http, base: str, ns: str, name: str, properties: dict | None = None) -> dict:
    body = {"name": name, "schema": SCHEMA, "properties": properties or {}}
    r = http.post(f"{base}/namespaces/{ns}/tables", json=body, timeout=TIMEOUT)
    assert r.status_code == 200, r.text
    return r.json()


def set_property(http, url: str, uuid: str, key: str):
    commit = {
        "requirements": [{"type": "assert-table-uuid", "uuid": uuid}],
        "updates": [{"action": "set-properties", "updates": {key: "yes"}}],
    }
    return http.post(url, json=commit, timeout=TIMEOUT)


def test_unregister_returns_every_commit_and_refuses_later_ones(server, api):
    http, base, ns = api
    created = create_table(http, base, ns, "leaving")
    url = f"{base}/namespaces/{ns}/tables/leaving"
    uuid = created["metadata"]["table-uuid"]
    r = set_property(http, url, uuid, "before")
    assert r.status_code == 200, r.text
    committed_location = r.json()["metadata-location"]

    r = http.post(f"{url}/unregister", timeout=TIMEOUT)
    assert r.status_code == 200, r.text
    result = r.json()
    assert result["metadata-location"] == committed_location
    assert result["metadata"]["properties"]["before"] == "yes"
    assert result["metadata"]["table-uuid"] == uuid

    # gone from the catalog; its files stay, so it can be registered again
    assert_iceberg_error(http.get(url, timeout=TIMEOUT), 404, "NoSuchTableException")
    assert_iceberg_error(set_property(http, url, uuid, "after"), 404, "NoSuchTableException")
    assert_iceberg_error(http.post(f"{url}/unregister", timeout=TIMEOUT), 404, "NoSuchTableException")
    r = http.post(
        f"{base}/namespaces/{ns}/register",
        json={"name": "back", "metadata-location": committed_location},
        timeout=TIMEOUT,
    )
    assert r.status_code == 200, r.text
    assert r.json()["metadata"]["properties"]["before"] == "yes"


def test_credentials_route(server, api):
    http, base, ns = api
    create_table(http, base, ns, "vended")
    r = http.get(f"{base}/namespaces/{ns}/tables/vended/credentials", timeout=TIMEOUT)
    assert r.status_code == 200, r.text
    # no credential vending yet: engines use their own storage credentials
    assert r.json() == {"storage-credentials": []}
    r = http.get(f"{base}/namespaces/{ns}/tables/absent/credentials", timeout=TIMEOUT)
    assert_iceberg_error(r, 404, "NoSuchTableException")


def test_referenced_by_is_accepted_on_load_routes(server, api):
    http, base, ns = api
    create_table(http, base, ns, "base_table")
    chain = {"referenced-by": f"{ns}\x1fouter_view,{ns}\x1finner_view"}
    for path in ("tables/base_table", "tables/base_table/credentials"):
        r = http.get(f"{base}/namespaces/{ns}/{path}", params=chain, timeout=TIMEOUT)
        assert r.status_code == 200, f"{path}: {r.text}"
    view = {
        "name": "v",
        "schema": SCHEMA,
        "view-version": {
            "version-id": 1,
            "schema-id": -1,
            "timestamp-ms": int(time.time() * 1000),
            "summary": {},
            "representations": [{"type": "sql", "sql": "select 1", "dialect": "spark"}],
            "default-namespace": [ns],
        },
        "properties": {},
    }
    assert http.post(f"{base}/namespaces/{ns}/views", json=view, timeout=TIMEOUT).status_code == 200
    r = http.get(f"{base}/namespaces/{ns}/views/v", params=chain, timeout=TIMEOUT)
    assert r.status_code == 200, r.text


@pytest.mark.parametrize("method,template,body", NOT_SERVED, ids=[f"{m} {t}" for m, t, _ in NOT_SERVED])
def test_routes_not_served_answer_501_and_are_not_advertised(server, api, method, template, body):
    http, base, ns = api
    create_table(http, base, ns, "t")
    url = base + template.format(ns=ns, t="t")
    r = http.request(method, url, json=body, timeout=TIMEOUT)
    err = assert_iceberg_error(r, 501, "UnsupportedOperationException")
    assert "not supported" in err["message"]
    # they still need a token, like every catalog route
    r = server.http().__class__().request(method, url, json=body, timeout=TIMEOUT)
    assert_iceberg_error(r, 401, "NotAuthorizedException")
    cfg = http.get(f"{server.tableflow_uri}/v1/config", timeout=TIMEOUT).json()
    spec_path = (
        "/v1/{prefix}"
        + template.replace("{ns}", "{namespace}")
        .replace("{t}", "{table}")
        .replace("some-plan", "{plan-id}")
        .replace("functions/f", "functions/{function}")
    )
    assert f"{method} {spec_path}" not in cfg["endpoints"]


def test_config_advertises_views_and_the_separator(server):
    cfg = server.http().get(f"{server.tableflow_uri}/v1/config", timeout=TIMEOUT).json()
    endpoints = set(cfg["endpoints"])
    for endpoint in (
        "GET /v1/{prefix}/namespaces/{namespace}/views",
        "POST /v1/{prefix}/namespaces/{namespace}/views",
        "GET /v1/{prefix}/namespaces/{namespace}/views/{view}",
        "HEAD /v1/{prefix}/namespaces/{namespace}/views/{view}",
        "POST /v1/{prefix}/namespaces/{namespace}/views/{view}",
        "DELETE /v1/{prefix}/namespaces/{namespace}/views/{view}",
        "POST /v1/{prefix}/views/rename",
        "POST /v1/{prefix}/namespaces/{namespace}/register-view",
        "POST /v1/{prefix}/namespaces/{namespace}/tables/{table}/unregister",
        "GET /v1/{prefix}/namespaces/{namespace}/tables/{table}/credentials",
    ):
        assert endpoint in endpoints, endpoint
    assert cfg["overrides"]["namespace-separator"] == "%1F"


def test_nested_namespace_separator_in_paths(server, api):
    http, base, ns = api
    r = http.post(f"{base}/namespaces", json={"namespace": [ns, "child"]}, timeout=TIMEOUT)
    assert r.status_code == 200, r.text
    # the advertised separator, URL-encoded, and the raw 0x1F byte name the same namespace
    for segment in (f"{ns}%1Fchild", f"{ns}%1fchild"):
        r = http.get(f"{base}/namespaces/{segment}", timeout=TIMEOUT)
        assert r.status_code == 200, f"{segment}: {r.text}"
        assert r.json()["namespace"] == [ns, "child"]


def snapshot(snapshot_id: int, first_row_id: int, added_rows: int, sequence_number: int, parent: int | None) -> dict:
    s = {
        "snapshot-id": snapshot_id,
        "timestamp-ms": int(time.time() * 1000),
        "manifest-list": f"file:///nonexistent/snap-{snapshot_id}.avro",
        "summary": {"operation": "append"},
        "sequence-number": sequence_number,
        "schema-id": 0,
        "first-row-id": first_row_id,
        "added-rows": added_rows,
    }
    if parent is not None:
        s["parent-snapshot-id"] = parent
    return s


def append(http, url: str, uuid: str, snap: dict, parent: int | None):
    commit = {
        "requirements": [
            {"type": "assert-table-uuid", "uuid": uuid},
            {"type": "assert-ref-snapshot-id", "ref": "main", "snapshot-id": parent},
        ],
        "updates": [
            {"action": "add-snapshot", "snapshot": snap},
            {"action": "set-snapshot-ref", "ref-name": "main", "type": "branch", "snapshot-id": snap["snapshot-id"]},
        ],
    }
    return http.post(url, json=commit, timeout=TIMEOUT)


def test_format_version_3_row_lineage(server, api):
    http, base, ns = api
    created = create_table(http, base, ns, "lineage", {"format-version": "3"})
    m = created["metadata"]
    assert m["format-version"] == 3
    assert m["next-row-id"] == 0
    uuid = m["table-uuid"]
    url = f"{base}/namespaces/{ns}/tables/lineage"

    r = append(http, url, uuid, snapshot(1, 0, 10, 1, None), None)
    assert r.status_code == 200, r.text
    assert r.json()["metadata"]["next-row-id"] == 10
    r = append(http, url, uuid, snapshot(2, 10, 5, 2, 1), 1)
    assert r.status_code == 200, r.text
    assert r.json()["metadata"]["next-row-id"] == 15
    location = r.json()["metadata-location"]

    # a snapshot whose rows start behind next-row-id lost a race: 409, and nothing changes
    r = append(http, url, uuid, snapshot(3, 12, 5, 3, 2), 2)
    err = assert_iceberg_error(r, 409, "CommitFailedException")
    assert "first-row-id is behind" in err["message"]
    # v3 snapshots must carry first-row-id
    missing = snapshot(4, 15, 5, 3, 2)
    del missing["first-row-id"]
    assert_iceberg_error(append(http, url, uuid, missing, 2), 400)
    loaded = http.get(url, timeout=TIMEOUT).json()
    assert loaded["metadata-location"] == location
    assert loaded["metadata"]["next-row-id"] == 15


def test_encryption_keys_are_stored(server, api):
    http, base, ns = api
    created = create_table(http, base, ns, "encrypted", {"format-version": "3"})
    url = f"{base}/namespaces/{ns}/tables/encrypted"
    uuid = created["metadata"]["table-uuid"]
    key = {"key-id": "k1", "encrypted-key-metadata": "AAECAw==", "properties": {"kms": "test"}}
    commit = {
        "requirements": [{"type": "assert-table-uuid", "uuid": uuid}],
        "updates": [{"action": "add-encryption-key", "encryption-key": key}],
    }
    r = http.post(url, json=commit, timeout=TIMEOUT)
    assert r.status_code == 200, r.text
    keys = http.get(url, timeout=TIMEOUT).json()["metadata"]["encryption-keys"]
    assert [k["key-id"] for k in keys] == ["k1"]
    assert keys[0]["encrypted-key-metadata"] == "AAECAw=="
    commit["updates"] = [{"action": "remove-encryption-key", "key-id": "k1"}]
    r = http.post(url, json=commit, timeout=TIMEOUT)
    assert r.status_code == 200, r.text
    assert not http.get(url, timeout=TIMEOUT).json()["metadata"].get("encryption-keys")


@pytest.mark.parametrize("version", ["1", "2", "3"])
def test_every_format_version_can_be_created_and_committed(server, api, version):
    http, base, ns = api
    created = create_table(http, base, ns, f"v{version}", {"format-version": version})
    assert created["metadata"]["format-version"] == int(version)
    r = set_property(http, f"{base}/namespaces/{ns}/tables/v{version}", created["metadata"]["table-uuid"], "k")
    assert r.status_code == 200, r.text
    assert r.json()["metadata"]["format-version"] == int(version)
    assert r.json()["metadata"]["properties"]["k"] == "yes"
