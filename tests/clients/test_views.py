"""Views: PyIceberg's view API (create, load, list, exists, register, drop) and, over raw HTTP,
what PyIceberg does not call (replaceView, renameView) with the exact errors Iceberg clients check.
Tables and views share one name space per namespace."""

from __future__ import annotations

import time

import pytest
from pyiceberg.exceptions import NoSuchViewError, ViewAlreadyExistsError
from pyiceberg.schema import Schema
from pyiceberg.types import LongType, NestedField, StringType
from pyiceberg.view.metadata import SQLViewRepresentation, ViewVersion

from conftest import assert_iceberg_error, unique

TIMEOUT = 30

SCHEMA = Schema(
    NestedField(1, "id", LongType(), required=False),
    NestedField(2, "topic", StringType(), required=False),
)


def view_version(ns: str, sql: str, version_id: int = 1) -> ViewVersion:
    return ViewVersion(
        version_id=version_id,
        schema_id=-1,
        timestamp_ms=int(time.time() * 1000),
        summary={"engine-name": "pytest"},
        representations=[SQLViewRepresentation(type="sql", sql=sql, dialect="spark")],
        default_namespace=[ns],
    )


def http_version(ns: str, sql: str, version_id: int) -> dict:
    return {
        "version-id": version_id,
        "schema-id": -1,
        "timestamp-ms": int(time.time() * 1000),
        "summary": {"engine-name": "pytest"},
        "representations": [{"type": "sql", "sql": sql, "dialect": "spark"}],
        "default-namespace": [ns],
    }


def create_view_http(http, base: str, ns: str, name: str, sql: str = "select 1 as id"):
    body = {
        "name": name,
        "schema": {"type": "struct", "fields": [{"id": 1, "name": "id", "type": "long", "required": False}]},
        "view-version": http_version(ns, sql, 1),
        "properties": {"owner": "pytest"},
    }
    return http.post(f"{base}/v1/namespaces/{ns}/views", json=body, timeout=TIMEOUT)


def test_pyiceberg_view_lifecycle(catalog, namespace):
    ident = (namespace, "orders_view")
    view = catalog.create_view(ident, SCHEMA, view_version(namespace, "select id, topic from t"), properties={"k": "v"})
    assert view.metadata.current_version_id == 1
    assert view.metadata.properties["k"] == "v"
    assert catalog.view_exists(ident)
    assert (namespace, "orders_view") in catalog.list_views(namespace)
    loaded = catalog.load_view(ident)
    assert loaded.metadata.view_uuid == view.metadata.view_uuid
    sql = loaded.metadata.versions[0].representations[0].root.sql
    assert sql == "select id, topic from t"
    # the view's schema is the one created, with its ids
    assert [f.name for f in loaded.metadata.schemas[0].fields] == ["id", "topic"]
    with pytest.raises(ViewAlreadyExistsError):
        catalog.create_view(ident, SCHEMA, view_version(namespace, "select 2"))
    # a view is not a table: listTables does not show it
    assert ident not in catalog.list_tables(namespace)
    catalog.drop_view(ident)
    assert not catalog.view_exists(ident)
    with pytest.raises(NoSuchViewError):
        catalog.load_view(ident)
    with pytest.raises(NoSuchViewError):
        catalog.drop_view(ident)


def test_register_view_from_its_metadata_file(server, catalog, namespace):
    ident = (namespace, "registered_src")
    view = catalog.create_view(ident, SCHEMA, view_version(namespace, "select 1"))
    http = server.http()
    r = http.get(f"{server.tableflow_uri}/v1/namespaces/{namespace}/views/registered_src", timeout=TIMEOUT)
    assert r.status_code == 200, r.text
    location = r.json()["metadata-location"]
    assert location.endswith(".metadata.json")
    catalog.drop_view(ident)
    registered = catalog.register_view((namespace, "registered_copy"), location)
    assert registered.metadata.view_uuid == view.metadata.view_uuid
    assert catalog.load_view((namespace, "registered_copy")).metadata.current_version_id == 1


def test_tables_and_views_share_names(server, catalog, namespace):
    http = server.http()
    base = server.tableflow_uri
    catalog.create_table((namespace, "taken_by_table"), schema=SCHEMA)
    catalog.create_view((namespace, "taken_by_view"), SCHEMA, view_version(namespace, "select 1"))

    body = assert_iceberg_error(create_view_http(http, base, namespace, "taken_by_table"), 409, "AlreadyExistsException")
    assert body["message"] == f"Table with same name already exists: {namespace}.taken_by_table"
    body = assert_iceberg_error(create_view_http(http, base, namespace, "taken_by_view"), 409, "AlreadyExistsException")
    assert body["message"] == f"View already exists: {namespace}.taken_by_view"
    table_body = {"name": "taken_by_view", "schema": {"type": "struct", "fields": []}}
    r = http.post(f"{base}/v1/namespaces/{namespace}/tables", json=table_body, timeout=TIMEOUT)
    body = assert_iceberg_error(r, 409, "AlreadyExistsException")
    assert body["message"] == f"View with same name already exists: {namespace}.taken_by_view"

    # loading a view as a table and a table as a view are 404s of the right type
    r = http.get(f"{base}/v1/namespaces/{namespace}/tables/taken_by_view", timeout=TIMEOUT)
    assert_iceberg_error(r, 404, "NoSuchTableException")
    r = http.get(f"{base}/v1/namespaces/{namespace}/views/taken_by_table", timeout=TIMEOUT)
    body = assert_iceberg_error(r, 404, "NoSuchViewException")
    assert body["message"] == f"View does not exist: {namespace}.taken_by_table"
    assert http.head(f"{base}/v1/namespaces/{namespace}/views/taken_by_table", timeout=TIMEOUT).status_code == 404
    assert http.head(f"{base}/v1/namespaces/{namespace}/views/taken_by_view", timeout=TIMEOUT).status_code == 204

    # renames across kinds are refused with the reference messages, and change nothing
    def rename(route: str, src: str, dst: str):
        body = {"source": {"namespace": [namespace], "name": src}, "destination": {"namespace": [namespace], "name": dst}}
        return http.post(f"{base}/v1/{route}/rename", json=body, timeout=TIMEOUT)

    body = assert_iceberg_error(rename("tables", "taken_by_table", "taken_by_view"), 409, "AlreadyExistsException")
    assert body["message"] == f"Cannot rename {namespace}.taken_by_table to {namespace}.taken_by_view. View already exists"
    body = assert_iceberg_error(rename("views", "taken_by_view", "taken_by_table"), 409, "AlreadyExistsException")
    assert body["message"] == f"Cannot rename {namespace}.taken_by_view to {namespace}.taken_by_table. Table already exists"
    assert_iceberg_error(rename("views", "taken_by_table", "elsewhere"), 404, "NoSuchViewException")
    assert catalog.table_exists((namespace, "taken_by_table"))
    assert catalog.view_exists((namespace, "taken_by_view"))

    # a namespace holding a view is not empty
    r = http.delete(f"{base}/v1/namespaces/{namespace}", timeout=TIMEOUT)
    assert_iceberg_error(r, 409, "NamespaceNotEmptyException")

    assert rename("views", "taken_by_view", "renamed_view").status_code == 204
    assert catalog.view_exists((namespace, "renamed_view"))
    assert not catalog.view_exists((namespace, "taken_by_view"))


def test_replace_view_adds_a_version(server, catalog, namespace):
    http = server.http()
    base = server.tableflow_uri
    r = create_view_http(http, base, namespace, "evolving", "select 1 as id")
    assert r.status_code == 200, r.text
    created = r.json()
    uuid = created["metadata"]["view-uuid"]
    url = f"{base}/v1/namespaces/{namespace}/views/evolving"
    commit = {
        "requirements": [{"type": "assert-view-uuid", "uuid": uuid}],
        "updates": [
            {
                "action": "add-schema",
                "schema": {
                    "type": "struct",
                    "schema-id": 1,
                    "fields": [
                        {"id": 1, "name": "id", "type": "long", "required": False},
                        {"id": 2, "name": "n", "type": "int", "required": False},
                    ],
                },
            },
            {"action": "add-view-version", "view-version": http_version(namespace, "select 1 as id, 2 as n", 2)},
            {"action": "set-current-view-version", "view-version-id": -1},
            {"action": "set-properties", "updates": {"comment": "two columns"}},
            {"action": "remove-properties", "removals": ["owner"]},
        ],
    }
    r = http.post(url, json=commit, timeout=TIMEOUT)
    assert r.status_code == 200, r.text
    replaced = r.json()
    assert replaced["metadata-location"] != created["metadata-location"]
    m = replaced["metadata"]
    assert m["view-uuid"] == uuid
    assert m["current-version-id"] == 2
    current = next(v for v in m["versions"] if v["version-id"] == 2)
    assert current["representations"][0]["sql"] == "select 1 as id, 2 as n"
    assert current["schema-id"] == 1
    assert m["properties"] == {"comment": "two columns"}
    assert [e["version-id"] for e in m["version-log"]] == [1, 2]
    # PyIceberg reads the new version
    assert catalog.load_view((namespace, "evolving")).metadata.current_version_id == 2

    # a stale uuid is 409 CommitFailed with the Java message, and changes nothing
    stale = {"requirements": [{"type": "assert-view-uuid", "uuid": "00000000-0000-0000-0000-000000000001"}], "updates": []}
    body = assert_iceberg_error(http.post(url, json=stale, timeout=TIMEOUT), 409, "CommitFailedException")
    assert body["message"] == (
        f"Requirement failed: view UUID does not match: expected 00000000-0000-0000-0000-000000000001 != {uuid}"
    )
    # unknown update or requirement types are 400
    bad_update = {"requirements": [], "updates": [{"action": "set-snapshot-ref-nonsense"}]}
    assert_iceberg_error(http.post(url, json=bad_update, timeout=TIMEOUT), 400)
    bad_requirement = {"requirements": [{"type": "assert-table-uuid", "uuid": uuid}], "updates": []}
    assert_iceberg_error(http.post(url, json=bad_requirement, timeout=TIMEOUT), 400)
    # a version whose schema does not exist is 400
    bad_version = {"updates": [{"action": "add-view-version", "view-version": {**http_version(namespace, "x", 3), "schema-id": 42}}]}
    assert_iceberg_error(http.post(url, json=bad_version, timeout=TIMEOUT), 400)
    after = http.get(url, timeout=TIMEOUT).json()
    assert after["metadata-location"] == replaced["metadata-location"]

    missing = f"{base}/v1/namespaces/{namespace}/views/no_such_view"
    assert_iceberg_error(http.post(missing, json={"updates": []}, timeout=TIMEOUT), 404, "NoSuchViewException")


def test_create_view_errors(server, namespace, catalog):
    http = server.http()
    base = server.tableflow_uri
    r = create_view_http(http, base, unique("absent_ns"), "v")
    assert_iceberg_error(r, 404, "NoSuchNamespaceException")
    # view-version is required
    r = http.post(
        f"{base}/v1/namespaces/{namespace}/views",
        json={"name": "v", "schema": {"type": "struct", "fields": []}},
        timeout=TIMEOUT,
    )
    assert_iceberg_error(r, 400)
    assert catalog.list_views(namespace) == []


def test_create_view_without_properties(server, namespace, catalog):
    """Iceberg Java leaves `properties` out of createView when a view has none (the spec marks it
    required); the view is created with no properties."""
    http = server.http()
    body = {
        "name": "bare",
        "schema": {"type": "struct", "fields": [{"id": 1, "name": "id", "type": "long", "required": False}]},
        "view-version": http_version(namespace, "select 1 as id", 1),
    }
    r = http.post(f"{server.tableflow_uri}/v1/namespaces/{namespace}/views", json=body, timeout=TIMEOUT)
    assert r.status_code == 200, r.text
    assert r.json()["metadata"].get("properties", {}) == {}
    assert [v[-1] for v in catalog.list_views(namespace)] == ["bare"]


def test_view_listing_pages(server, catalog, namespace):
    for i in range(5):
        catalog.create_view((namespace, f"v{i}"), SCHEMA, view_version(namespace, f"select {i}"))
    http = server.http()
    url = f"{server.tableflow_uri}/v1/namespaces/{namespace}/views"
    names, token = [], ""
    while token is not None:
        r = http.get(url, params={"pageToken": token, "pageSize": 2}, timeout=TIMEOUT)
        assert r.status_code == 200, r.text
        page = r.json()
        assert len(page["identifiers"]) <= 2
        names += [i["name"] for i in page["identifiers"]]
        token = page.get("next-page-token")
    assert names == [f"v{i}" for i in range(5)]
