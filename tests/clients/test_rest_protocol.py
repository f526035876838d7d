"""Protocol details clients depend on, over raw HTTP: /v1/config for both layouts, HEAD
existence checks, and loadTable's ETag / If-None-Match."""

from __future__ import annotations

from conftest import unique

TIMEOUT = 30

# every route the client suites use; /v1/config must advertise them (clients that see an
# `endpoints` list use nothing else, e.g. PyIceberg raises NotImplementedError client-side)
REQUIRED_ENDPOINTS = {
    "GET /v1/{prefix}/namespaces",
    "POST /v1/{prefix}/namespaces",
    "GET /v1/{prefix}/namespaces/{namespace}",
    "HEAD /v1/{prefix}/namespaces/{namespace}",
    "DELETE /v1/{prefix}/namespaces/{namespace}",
    "POST /v1/{prefix}/namespaces/{namespace}/properties",
    "GET /v1/{prefix}/namespaces/{namespace}/tables",
    "POST /v1/{prefix}/namespaces/{namespace}/tables",
    "GET /v1/{prefix}/namespaces/{namespace}/tables/{table}",
    "HEAD /v1/{prefix}/namespaces/{namespace}/tables/{table}",
    "POST /v1/{prefix}/namespaces/{namespace}/tables/{table}",
    "DELETE /v1/{prefix}/namespaces/{namespace}/tables/{table}",
    "POST /v1/{prefix}/tables/rename",
    "POST /v1/{prefix}/transactions/commit",
}


def test_config_tableflow_layout(server):
    http = server.http()
    for params in ({}, {"warehouse": "anything-at-all"}):
        r = http.get(f"{server.tableflow_uri}/v1/config", params=params, timeout=TIMEOUT)
        assert r.status_code == 200, r.text
        cfg = r.json()
        assert isinstance(cfg.get("defaults"), dict) and isinstance(cfg.get("overrides"), dict), cfg
        missing = REQUIRED_ENDPOINTS - set(cfg.get("endpoints") or [])
        assert not missing, f"/v1/config does not advertise {sorted(missing)}"


def test_config_warehouse_layout(server):
    http = server.http()
    r = http.get(f"{server.warehouse_uri}/v1/config", params={"warehouse": server.warehouse_name}, timeout=TIMEOUT)
    assert r.status_code == 200, r.text
    cfg = r.json()
    prefix = cfg["overrides"].get("prefix")
    assert isinstance(prefix, str) and prefix, cfg
    missing = REQUIRED_ENDPOINTS - set(cfg.get("endpoints") or [])
    assert not missing, f"/v1/config does not advertise {sorted(missing)}"
    # the prefix leads to the same catalog as the Tableflow URI
    ns = unique("cfg")
    r = http.post(f"{server.warehouse_uri}/v1/{prefix}/namespaces", json={"namespace": [ns]}, timeout=TIMEOUT)
    assert r.status_code == 200, r.text
    r = http.get(f"{server.tableflow_uri}/v1/namespaces/{ns}", timeout=TIMEOUT)
    assert r.status_code == 200, r.text
    assert r.json()["namespace"] == [ns]


def test_config_unknown_warehouse(server):
    http = server.http()
    r = http.get(f"{server.warehouse_uri}/v1/config", params={"warehouse": "no-such-org/no-such-env"}, timeout=TIMEOUT)
    assert 400 <= r.status_code < 500, r.text
    err = r.json()["error"]
    assert err["code"] == r.status_code and err["type"] and err["message"], err


def test_head_existence(server):
    http = server.http()
    base = server.api_prefix("warehouse")
    ns = unique("head")
    assert http.head(f"{base}/namespaces/{ns}", timeout=TIMEOUT).status_code == 404
    assert http.post(f"{base}/namespaces", json={"namespace": [ns]}, timeout=TIMEOUT).status_code == 200
    assert http.head(f"{base}/namespaces/{ns}", timeout=TIMEOUT).status_code in (200, 204)
    assert http.head(f"{base}/namespaces/{ns}/tables/t", timeout=TIMEOUT).status_code == 404
    schema = {"type": "struct", "schema-id": 0, "fields": [{"id": 1, "name": "id", "required": False, "type": "long"}]}
    r = http.post(f"{base}/namespaces/{ns}/tables", json={"name": "t", "schema": schema}, timeout=TIMEOUT)
    assert r.status_code == 200, r.text
    assert http.head(f"{base}/namespaces/{ns}/tables/t", timeout=TIMEOUT).status_code in (200, 204)


def test_load_table_etag(server):
    http = server.http()
    base = server.api_prefix("tableflow")
    ns = unique("etag")
    assert http.post(f"{base}/namespaces", json={"namespace": [ns]}, timeout=TIMEOUT).status_code == 200
    schema = {"type": "struct", "schema-id": 0, "fields": [{"id": 1, "name": "id", "required": False, "type": "long"}]}
    assert http.post(f"{base}/namespaces/{ns}/tables", json={"name": "t", "schema": schema}, timeout=TIMEOUT).status_code == 200
    url = f"{base}/namespaces/{ns}/tables/t"

    first = http.get(url, timeout=TIMEOUT)
    assert first.status_code == 200
    etag = first.headers.get("ETag")
    assert etag, first.headers
    again = http.get(url, headers={"If-None-Match": etag}, timeout=TIMEOUT)
    assert again.status_code == 304
    assert again.content == b""

    r = http.post(
        url, json={"requirements": [], "updates": [{"action": "set-properties", "updates": {"k": "v"}}]}, timeout=TIMEOUT
    )
    assert r.status_code == 200, r.text
    changed = http.get(url, headers={"If-None-Match": etag}, timeout=TIMEOUT)
    assert changed.status_code == 200
    assert changed.headers.get("ETag") not in (None, etag)
    assert changed.json()["metadata"]["properties"]["k"] == "v"
    assert changed.json()["metadata-location"] != first.json()["metadata-location"]


def test_routing_errors_have_error_bodies(server):
    """Every error is an Iceberg error body, including unknown routes and methods."""
    http = server.http()
    base = server.api_prefix("tableflow")
    r = http.get(f"{base}/no-such-route", timeout=TIMEOUT)
    assert r.status_code == 404
    assert r.json()["error"]["code"] == 404
    # a method the path does not serve: 405, with the methods it does serve in `Allow`
    r = http.put(f"{base}/namespaces", json={}, timeout=TIMEOUT)
    assert r.status_code == 405, r.text
    assert {m.strip() for m in r.headers.get("Allow", "").split(",")} == {"GET", "POST"}, dict(r.headers)
    assert r.headers.get("content-type", "").startswith("application/json"), (r.status_code, dict(r.headers), r.text)
    err = r.json()["error"]
    assert err["code"] == r.status_code and err["type"] and err["message"], err
