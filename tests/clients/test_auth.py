"""Authentication and authorization on the catalog, over raw HTTP and with real clients.

* every catalog route (the full `endpoints` list of /v1/config, the same for every role), under both URI
  layouts: no token / a forged token -> 401; another environment's token -> 404 as for a missing
  environment (answers byte-identical to a missing one's, also in the admin API); a reader ->
  allowed or 403 per the role matrix; refused writes change nothing; a writer -> succeeds;
* the token endpoint as Iceberg Java, DuckDB, PyIceberg and Snowflake call it; token exchange;
  RFC 6749 errors; scopes; the per-client-id rate limit; expired tokens; revoked and expired keys;
* PyIceberg and DuckDB with keys made through the admin API: a writer appends, a reader reads and
  is refused on append by the server (403 `ForbiddenException`, "This API key is read-only"), not
  by its client;
* a method a route does not serve, the token endpoint's included: 405 with `Allow`.

Every environment here is made through the admin API: org `acme-*` with environments `prod`
(the one under test) and `dev` (the "other environment").
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pytest
import requests

from conftest import (
    ACCESS_TOKEN_TYPE,
    BOOTSTRAP_CLIENT_ID,
    TOKEN_EXCHANGE,
    AdminClient,
    FrazilServer,
    Tenant,
    _database_for,
    assert_iceberg_error,
    bearer,
    bearer_session,
    duckdb_attach,
    env_catalog,
    fetch_token,
    make_tenant,
    new_duckdb_connection,
    request_token,
    start_server,
    stop_server,
    unique,
)

TIMEOUT = 30
SCHEMA = {"type": "struct", "schema-id": 0, "fields": [{"id": 1, "name": "id", "required": False, "type": "long"}]}

# the role matrix: what a reader may call ...
READ_ENDPOINTS = {
    "GET /v1/{prefix}/namespaces",
    "GET /v1/{prefix}/namespaces/{namespace}",
    "HEAD /v1/{prefix}/namespaces/{namespace}",
    "GET /v1/{prefix}/namespaces/{namespace}/tables",
    "GET /v1/{prefix}/namespaces/{namespace}/tables/{table}",
    "HEAD /v1/{prefix}/namespaces/{namespace}/tables/{table}",
    "POST /v1/{prefix}/namespaces/{namespace}/tables/{table}/metrics",
    "GET /v1/{prefix}/namespaces/{namespace}/tables/{table}/credentials",
    # a reader signs its reads (its writes are refused by the signer: test_remote_signing.py)
    "POST /v1/{prefix}/namespaces/{namespace}/tables/{table}/sign",
    "GET /v1/{prefix}/namespaces/{namespace}/views",
    "GET /v1/{prefix}/namespaces/{namespace}/views/{view}",
    "HEAD /v1/{prefix}/namespaces/{namespace}/views/{view}",
}
# ... and what needs a writer
WRITE_ENDPOINTS = {
    "POST /v1/{prefix}/namespaces",
    "DELETE /v1/{prefix}/namespaces/{namespace}",
    "POST /v1/{prefix}/namespaces/{namespace}/properties",
    "POST /v1/{prefix}/namespaces/{namespace}/tables",
    "POST /v1/{prefix}/namespaces/{namespace}/tables/{table}",
    "DELETE /v1/{prefix}/namespaces/{namespace}/tables/{table}",
    "POST /v1/{prefix}/namespaces/{namespace}/register",
    "POST /v1/{prefix}/tables/rename",
    "POST /v1/{prefix}/transactions/commit",
    "POST /v1/{prefix}/namespaces/{namespace}/tables/{table}/unregister",
    "POST /v1/{prefix}/namespaces/{namespace}/views",
    "POST /v1/{prefix}/namespaces/{namespace}/views/{view}",
    "DELETE /v1/{prefix}/namespaces/{namespace}/views/{view}",
    "POST /v1/{prefix}/views/rename",
    "POST /v1/{prefix}/namespaces/{namespace}/register-view",
}
ALL_ENDPOINTS = READ_ENDPOINTS | WRITE_ENDPOINTS

# what a permitted call answers (HEAD: 200 or 204)
OK_STATUS = {
    "GET /v1/{prefix}/namespaces": {200},
    "GET /v1/{prefix}/namespaces/{namespace}": {200},
    "HEAD /v1/{prefix}/namespaces/{namespace}": {200, 204},
    "GET /v1/{prefix}/namespaces/{namespace}/tables": {200},
    "GET /v1/{prefix}/namespaces/{namespace}/tables/{table}": {200},
    "HEAD /v1/{prefix}/namespaces/{namespace}/tables/{table}": {200, 204},
    "POST /v1/{prefix}/namespaces/{namespace}/tables/{table}/metrics": {200, 204},
    "POST /v1/{prefix}/namespaces": {200},
    "DELETE /v1/{prefix}/namespaces/{namespace}": {204},
    "POST /v1/{prefix}/namespaces/{namespace}/properties": {200},
    "POST /v1/{prefix}/namespaces/{namespace}/tables": {200},
    "POST /v1/{prefix}/namespaces/{namespace}/tables/{table}": {200},
    "DELETE /v1/{prefix}/namespaces/{namespace}/tables/{table}": {204},
    "POST /v1/{prefix}/namespaces/{namespace}/register": {200},
    "POST /v1/{prefix}/tables/rename": {204},
    "POST /v1/{prefix}/transactions/commit": {204},
    "GET /v1/{prefix}/namespaces/{namespace}/tables/{table}/credentials": {200},
    # this module's tables are on file://: past authorization, nothing to sign (400)
    "POST /v1/{prefix}/namespaces/{namespace}/tables/{table}/sign": {400},
    "GET /v1/{prefix}/namespaces/{namespace}/views": {200},
    "GET /v1/{prefix}/namespaces/{namespace}/views/{view}": {200},
    "HEAD /v1/{prefix}/namespaces/{namespace}/views/{view}": {200, 204},
    "POST /v1/{prefix}/namespaces/{namespace}/tables/{table}/unregister": {200},
    "POST /v1/{prefix}/namespaces/{namespace}/views": {200},
    "POST /v1/{prefix}/namespaces/{namespace}/views/{view}": {200},
    "DELETE /v1/{prefix}/namespaces/{namespace}/views/{view}": {204},
    "POST /v1/{prefix}/views/rename": {204},
    "POST /v1/{prefix}/namespaces/{namespace}/register-view": {200},
}

# secrets and tokens handed out in this module: none may appear in a server log
_SENSITIVE: dict[int, set[str]] = {}


def remember(server: FrazilServer, *values: str) -> None:
    _SENSITIVE.setdefault(server.port, set()).update(v for v in values if v)


def basic(client_id: str, secret: str) -> dict:
    return {"Authorization": "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()}


def jwt_part(token: str, index: int) -> dict:
    part = token.split(".")[index]
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


def b64url(obj: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()


def forge(token: str, **claims) -> str:
    """`token` with claims changed and its original signature: must never be accepted."""
    header, _, signature = token.split(".")
    payload = jwt_part(token, 1)
    payload.update(claims)
    return f"{header}.{b64url(payload)}.{signature}"


def assert_oauth_error(r: requests.Response, status: int, error: str) -> dict:
    assert r.status_code == status, f"expected {status} {error}, got {r.status_code}: {r.text[:500]}"
    body = r.json()
    assert body.get("error") == error, body
    assert "access_token" not in body, body
    if "error_description" in body:
        assert isinstance(body["error_description"], str), body
    return body


def assert_token_response(r: requests.Response, scope: str | None = None) -> dict:
    assert r.status_code == 200, r.text
    body = r.json()
    assert isinstance(body.get("access_token"), str) and body["access_token"], body
    assert body.get("token_type", "").lower() == "bearer", body
    assert body.get("token_type") == "bearer", body  # DuckDB insists on exactly this
    assert isinstance(body.get("expires_in"), int) and body["expires_in"] > 0, body
    assert body.get("issued_token_type") == ACCESS_TOKEN_TYPE, body
    assert isinstance(body.get("scope"), str), body
    if scope is not None:
        assert body["scope"] == scope, body
    # RFC 6749 5.1: token responses must not be cached
    assert "no-store" in r.headers.get("Cache-Control", ""), dict(r.headers)
    return body


# --------------------------------------------------------------------------------------------
# fixtures: one organization with two environments per store, and keys made by the admin API


@dataclass
class Ctx:
    server: FrazilServer
    admin: AdminClient
    prod: Tenant
    dev: Tenant
    keys: dict  # role -> created key response (prod), "other" -> an admin key of dev
    _tokens: dict = field(default_factory=dict)
    _prefixes: dict = field(default_factory=dict)
    cache: dict = field(default_factory=dict)

    @property
    def org(self) -> str:
        return self.prod.org

    def credential(self, who: str) -> str:
        return f"{self.keys[who]['key']}:{self.keys[who]['secret']}"

    def token(self, who: str) -> str:
        """A token of key `who` from the prod catalog's token endpoint (cached)."""
        if who not in self._tokens:
            k = self.keys[who]
            self._tokens[who] = fetch_token(f"{self.prod.catalog_uri}/v1/oauth/tokens", k["key"], k["secret"])
            remember(self.server, self._tokens[who])
        return self._tokens[who]

    def uri(self, layout: str, env: str = "prod") -> str:
        if layout == "tableflow":
            return f"{self.server.base_url}/iceberg/catalog/organizations/{self.org}/environments/{env}"
        return self.server.warehouse_uri

    def prefix(self, layout: str) -> str:
        """`{uri}/v1[/{prefix}]` of prod as a client builds it from /v1/config."""
        if layout not in self._prefixes:
            params = {} if layout == "tableflow" else {"warehouse": f"{self.org}/prod"}
            r = requests.get(f"{self.uri(layout)}/v1/config", params=params, headers=bearer(self.token("writer")), timeout=TIMEOUT)
            assert r.status_code == 200, r.text
            p = r.json()["overrides"].get("prefix")
            self._prefixes[layout] = f"{self.uri(layout)}/v1/{p}" if p else f"{self.uri(layout)}/v1"
        return self._prefixes[layout]

    def missing_env_prefix(self, layout: str, org: str | None = None) -> str:
        org = org or self.org
        if layout == "tableflow":
            return f"{self.server.base_url}/iceberg/catalog/organizations/{org}/environments/no-such-env/v1"
        return f"{self.server.warehouse_uri}/v1/{org}/no-such-env"


@pytest.fixture(scope="module")
def admin(server) -> AdminClient:
    return AdminClient(server)


@pytest.fixture(scope="module")
def ctx(server, admin, tmp_path_factory) -> Ctx:
    base = tmp_path_factory.mktemp("tenants")
    org = unique("acme").replace("_", "-")
    prod = make_tenant(server, admin, base, org=org, env="prod")
    dev = make_tenant(server, admin, base, org=org, env="dev")
    keys = {
        "reader": admin.create_key(org, "prod", "reader", description="query engines"),
        "writer": admin.create_key(org, "prod", "writer", description="the materializer"),
        "other": admin.create_key(org, "dev", "admin", description="admin of another environment"),
        # the target of wrong-secret attempts, so that the keys above are never rate-limited
        "target": admin.create_key(org, "prod", "reader", description="wrong secrets are tried on it"),
    }
    remember(server, *(k["secret"] for k in keys.values()))
    return Ctx(server=server, admin=admin, prod=prod, dev=dev, keys=keys)


# --------------------------------------------------------------------------------------------
# the route matrix


@dataclass
class Objects:
    """Fresh objects in prod for one route test, and the names a write would create."""

    ns: str
    empty_ns: str
    table: str
    uuid: str
    dropped_location: str  # metadata file of a dropped (not purged) table, for register
    new_ns: str
    new_table: str
    renamed: str
    registered: str
    view: str = "v"
    view_uuid: str = ""
    view_location: str = ""  # metadata file of view `v`
    # metadata file and uuid of a dropped view, for register-view (a live view's directory
    # cannot be registered a second time)
    dropped_view_location: str = ""
    dropped_view_uuid: str = ""


def view_body(ns: str, name: str) -> dict:
    """A createView body: one SQL version over the table schema."""
    return {
        "name": name,
        "schema": SCHEMA,
        "view-version": {
            "version-id": 1,
            "schema-id": -1,
            "timestamp-ms": int(time.time() * 1000),
            "summary": {"engine-name": "pytest"},
            "representations": [{"type": "sql", "sql": "select 1 as id", "dialect": "spark"}],
            "default-namespace": [ns],
        },
        "properties": {},
    }


def make_objects(http: requests.Session, prefix: str, endpoint: str | None = None) -> Objects:
    """A namespace with table `t` and view `v` (and, only for the routes that need them, an empty
    namespace and a dropped table's metadata file)."""
    ns = unique("auth")
    r = http.post(f"{prefix}/namespaces", json={"namespace": [ns], "properties": {"p": "1"}}, timeout=TIMEOUT)
    assert r.status_code == 200, r.text
    empty = unique("authempty")
    if endpoint == "DELETE /v1/{prefix}/namespaces/{namespace}":
        r = http.post(f"{prefix}/namespaces", json={"namespace": [empty], "properties": {}}, timeout=TIMEOUT)
        assert r.status_code == 200, r.text
    r = http.post(f"{prefix}/namespaces/{ns}/tables", json={"name": "t", "schema": SCHEMA}, timeout=TIMEOUT)
    assert r.status_code == 200, r.text
    uuid = r.json()["metadata"]["table-uuid"]
    dropped = ""
    if endpoint == "POST /v1/{prefix}/namespaces/{namespace}/register":
        r = http.post(f"{prefix}/namespaces/{ns}/tables", json={"name": "gone", "schema": SCHEMA}, timeout=TIMEOUT)
        assert r.status_code == 200, r.text
        dropped = r.json()["metadata-location"]
        assert http.delete(f"{prefix}/namespaces/{ns}/tables/gone", timeout=TIMEOUT).status_code == 204
    r = http.post(f"{prefix}/namespaces/{ns}/views", json=view_body(ns, "v"), timeout=TIMEOUT)
    assert r.status_code == 200, r.text
    view = r.json()
    dropped_view = {"metadata-location": "", "metadata": {"view-uuid": ""}}
    if endpoint == "POST /v1/{prefix}/namespaces/{namespace}/register-view":
        r = http.post(f"{prefix}/namespaces/{ns}/views", json=view_body(ns, "v_gone"), timeout=TIMEOUT)
        assert r.status_code == 200, r.text
        dropped_view = r.json()
        assert http.delete(f"{prefix}/namespaces/{ns}/views/v_gone", timeout=TIMEOUT).status_code == 204
    return Objects(
        ns,
        empty,
        "t",
        uuid,
        dropped,
        unique("authnew"),
        "t_new",
        "t_renamed",
        "t_registered",
        view_uuid=view["metadata"]["view-uuid"],
        view_location=view["metadata-location"],
        dropped_view_location=dropped_view["metadata-location"],
        dropped_view_uuid=dropped_view["metadata"]["view-uuid"],
    )


def route_request(endpoint: str, o: Objects, missing: bool = False) -> tuple[str, str, dict | None]:
    """(method, path below the prefix, JSON body) of a call to `endpoint` that would succeed for a
    writer; with `missing`, the same read on a namespace/table that does not exist."""
    ns = unique("nosuchns") if missing else o.ns
    t = "nosuchtable" if missing else o.table
    v = "nosuchview" if missing else o.view
    set_props = {"action": "set-properties", "updates": {"changed": "yes"}}
    change = {"requirements": [{"type": "assert-table-uuid", "uuid": o.uuid}], "updates": [set_props]}
    table_id = {"namespace": [o.ns], "name": o.table}
    metrics = {
        "report-type": "commit-report",
        "table-name": f"{o.ns}.{t}",
        "snapshot-id": 1,
        "sequence-number": 1,
        "operation": "append",
        "metrics": {},
    }
    view_change = {
        "requirements": [{"type": "assert-view-uuid", "uuid": o.view_uuid}],
        "updates": [{"action": "set-properties", "updates": {"changed": "yes"}}],
    }
    view_id = {"namespace": [o.ns], "name": o.view}
    routes = {
        "GET /v1/{prefix}/namespaces/{namespace}/tables/{table}/credentials": (
            "GET",
            f"/namespaces/{ns}/tables/{t}/credentials",
            None,
        ),
        "POST /v1/{prefix}/namespaces/{namespace}/tables/{table}/sign": (
            "POST",
            f"/namespaces/{ns}/tables/{t}/sign",
            {"region": "us-east-1", "uri": "https://s3.amazonaws.com/b/k", "method": "GET", "headers": {}},
        ),
        "GET /v1/{prefix}/namespaces/{namespace}/views": ("GET", f"/namespaces/{ns}/views", None),
        "GET /v1/{prefix}/namespaces/{namespace}/views/{view}": ("GET", f"/namespaces/{ns}/views/{v}", None),
        "HEAD /v1/{prefix}/namespaces/{namespace}/views/{view}": ("HEAD", f"/namespaces/{ns}/views/{v}", None),
        "POST /v1/{prefix}/namespaces/{namespace}/tables/{table}/unregister": (
            "POST",
            f"/namespaces/{o.ns}/tables/{o.table}/unregister",
            None,
        ),
        "POST /v1/{prefix}/namespaces/{namespace}/views": ("POST", f"/namespaces/{o.ns}/views", view_body(o.ns, "v_new")),
        "POST /v1/{prefix}/namespaces/{namespace}/views/{view}": ("POST", f"/namespaces/{o.ns}/views/{o.view}", view_change),
        "DELETE /v1/{prefix}/namespaces/{namespace}/views/{view}": ("DELETE", f"/namespaces/{o.ns}/views/{o.view}", None),
        "POST /v1/{prefix}/views/rename": (
            "POST",
            "/views/rename",
            {"source": view_id, "destination": {"namespace": [o.ns], "name": "v_renamed"}},
        ),
        "POST /v1/{prefix}/namespaces/{namespace}/register-view": (
            "POST",
            f"/namespaces/{o.ns}/register-view",
            {"name": "v_registered", "metadata-location": o.dropped_view_location},
        ),
        "GET /v1/{prefix}/namespaces": ("GET", "/namespaces", None),
        "POST /v1/{prefix}/namespaces": ("POST", "/namespaces", {"namespace": [o.new_ns], "properties": {}}),
        "GET /v1/{prefix}/namespaces/{namespace}": ("GET", f"/namespaces/{ns}", None),
        "HEAD /v1/{prefix}/namespaces/{namespace}": ("HEAD", f"/namespaces/{ns}", None),
        "DELETE /v1/{prefix}/namespaces/{namespace}": ("DELETE", f"/namespaces/{o.empty_ns}", None),
        "POST /v1/{prefix}/namespaces/{namespace}/properties": (
            "POST",
            f"/namespaces/{o.ns}/properties",
            {"removals": ["p"], "updates": {"changed": "yes"}},
        ),
        "GET /v1/{prefix}/namespaces/{namespace}/tables": ("GET", f"/namespaces/{ns}/tables", None),
        "POST /v1/{prefix}/namespaces/{namespace}/tables": (
            "POST",
            f"/namespaces/{o.ns}/tables",
            {"name": o.new_table, "schema": SCHEMA},
        ),
        "GET /v1/{prefix}/namespaces/{namespace}/tables/{table}": ("GET", f"/namespaces/{ns}/tables/{t}", None),
        "HEAD /v1/{prefix}/namespaces/{namespace}/tables/{table}": ("HEAD", f"/namespaces/{ns}/tables/{t}", None),
        "POST /v1/{prefix}/namespaces/{namespace}/tables/{table}": ("POST", f"/namespaces/{o.ns}/tables/{o.table}", change),
        "DELETE /v1/{prefix}/namespaces/{namespace}/tables/{table}": ("DELETE", f"/namespaces/{o.ns}/tables/{o.table}", None),
        "POST /v1/{prefix}/namespaces/{namespace}/register": (
            "POST",
            f"/namespaces/{o.ns}/register",
            {"name": o.registered, "metadata-location": o.dropped_location},
        ),
        "POST /v1/{prefix}/namespaces/{namespace}/tables/{table}/metrics": (
            "POST",
            f"/namespaces/{ns}/tables/{t}/metrics",
            metrics,
        ),
        "POST /v1/{prefix}/tables/rename": (
            "POST",
            "/tables/rename",
            {"source": table_id, "destination": {"namespace": [o.ns], "name": o.renamed}},
        ),
        "POST /v1/{prefix}/transactions/commit": (
            "POST",
            "/transactions/commit",
            {"table-changes": [{"identifier": table_id, **change}]},
        ),
    }
    return routes[endpoint]


def env_state(http: requests.Session, prefix: str, o: Objects) -> dict:
    """What a refused write must not change: the namespace list, the test namespace's properties
    and tables and views, and each one's metadata location."""
    r = http.get(f"{prefix}/namespaces", timeout=TIMEOUT)
    assert r.status_code == 200, r.text
    # (the namespace list covers a created or dropped namespace)
    state: dict = {"namespaces": sorted(tuple(n) for n in r.json()["namespaces"])}
    r = http.get(f"{prefix}/namespaces/{o.ns}", timeout=TIMEOUT)
    assert r.status_code == 200, r.text
    state["properties"] = r.json().get("properties")
    r = http.get(f"{prefix}/namespaces/{o.ns}/tables", timeout=TIMEOUT)
    assert r.status_code == 200, r.text
    for ident in sorted(i["name"] for i in r.json()["identifiers"]):
        t = http.get(f"{prefix}/namespaces/{o.ns}/tables/{ident}", timeout=TIMEOUT)
        state[ident] = (t.status_code, t.json().get("metadata-location") if t.status_code == 200 else None)
    r = http.get(f"{prefix}/namespaces/{o.ns}/views", timeout=TIMEOUT)
    assert r.status_code == 200, r.text
    for ident in sorted(i["name"] for i in r.json()["identifiers"]):
        v = http.get(f"{prefix}/namespaces/{o.ns}/views/{ident}", timeout=TIMEOUT)
        state[("view", ident)] = (v.status_code, v.json().get("metadata-location") if v.status_code == 200 else None)
    return state


def write_effect(endpoint: str, o: Objects) -> dict:
    """What the writer's call to `endpoint` changes in `env_state`, and nothing else: each changed
    key -> "added", "removed" or "changed"."""
    t, v = o.table, ("view", o.view)
    return {
        "POST /v1/{prefix}/namespaces": {"namespaces": "changed"},
        "DELETE /v1/{prefix}/namespaces/{namespace}": {"namespaces": "changed"},
        "POST /v1/{prefix}/namespaces/{namespace}/properties": {"properties": "changed"},
        "POST /v1/{prefix}/namespaces/{namespace}/tables": {o.new_table: "added"},
        "POST /v1/{prefix}/namespaces/{namespace}/tables/{table}": {t: "changed"},
        "DELETE /v1/{prefix}/namespaces/{namespace}/tables/{table}": {t: "removed"},
        "POST /v1/{prefix}/namespaces/{namespace}/register": {o.registered: "added"},
        "POST /v1/{prefix}/tables/rename": {t: "removed", o.renamed: "added"},
        "POST /v1/{prefix}/transactions/commit": {t: "changed"},
        "POST /v1/{prefix}/namespaces/{namespace}/tables/{table}/unregister": {t: "removed"},
        "POST /v1/{prefix}/namespaces/{namespace}/views": {("view", "v_new"): "added"},
        "POST /v1/{prefix}/namespaces/{namespace}/views/{view}": {v: "changed"},
        "DELETE /v1/{prefix}/namespaces/{namespace}/views/{view}": {v: "removed"},
        "POST /v1/{prefix}/views/rename": {v: "removed", ("view", "v_renamed"): "added"},
        "POST /v1/{prefix}/namespaces/{namespace}/register-view": {("view", "v_registered"): "added"},
    }[endpoint]


def assert_write_effect(endpoint: str, o: Objects, before: dict, after: dict, r: requests.Response) -> None:
    """The writer's call did what `endpoint` does, to the objects it names, and nothing else."""
    changed = {}
    for key in before.keys() | after.keys():
        if key not in after:
            changed[key] = "removed"
        elif key not in before:
            changed[key] = "added"
        elif before[key] != after[key]:
            changed[key] = "changed"
    assert changed == write_effect(endpoint, o), f"the writer's {endpoint}: {changed}"
    if endpoint == "POST /v1/{prefix}/namespaces/{namespace}/register":
        assert after[o.registered] == (200, o.dropped_location)
    elif endpoint == "POST /v1/{prefix}/tables/rename":
        assert after[o.renamed] == before[o.table]
    elif endpoint == "POST /v1/{prefix}/namespaces/{namespace}/tables/{table}/unregister":
        body = r.json()
        assert body["metadata-location"] == before[o.table][1], body
        assert body["metadata"]["table-uuid"] == o.uuid, body
    elif endpoint == "POST /v1/{prefix}/namespaces/{namespace}/views/{view}":
        assert r.json()["metadata"]["view-uuid"] == o.view_uuid, r.text[:400]
        assert r.json()["metadata"]["properties"].get("changed") == "yes", r.text[:400]
    elif endpoint == "POST /v1/{prefix}/views/rename":
        assert after[("view", "v_renamed")] == before[("view", o.view)]
    elif endpoint == "POST /v1/{prefix}/namespaces/{namespace}/register-view":
        assert after[("view", "v_registered")] == (200, o.dropped_view_location)
        assert r.json()["metadata"]["view-uuid"] == o.dropped_view_uuid, r.text[:400]


def assert_read_body(endpoint: str, o: Objects, r: requests.Response) -> None:
    """What the reads of the view and credentials routes answer about the fixture objects."""
    if endpoint == "GET /v1/{prefix}/namespaces/{namespace}/tables/{table}/credentials":
        assert isinstance(r.json()["storage-credentials"], list), r.text[:400]
    elif endpoint == "GET /v1/{prefix}/namespaces/{namespace}/views":
        assert r.json()["identifiers"] == [{"namespace": [o.ns], "name": o.view}], r.text[:400]
    elif endpoint == "GET /v1/{prefix}/namespaces/{namespace}/views/{view}":
        assert r.json()["metadata-location"] == o.view_location, r.text[:400]
        assert r.json()["metadata"]["view-uuid"] == o.view_uuid, r.text[:400]


def send(method: str, url: str, body: dict | None, token: str | None) -> requests.Response:
    headers = bearer(token) if token is not None else {}
    return requests.request(method, url, json=body, headers=headers, timeout=TIMEOUT)


def assert_refused(r: requests.Response, method: str, code: int, type_: str | None, label: str) -> None:
    if method == "HEAD":  # no body on HEAD
        assert r.status_code == code, (label, r.status_code, r.text)
    else:
        try:
            assert_iceberg_error(r, code, type_)
        except AssertionError as e:
            raise AssertionError(f"{label}: {e}") from None


@pytest.mark.parametrize("endpoint", sorted(ALL_ENDPOINTS))
def test_route_authorization(ctx, layout, endpoint):
    admin_http = ctx.server.http()  # the server administrator sets up and observes
    prefix = ctx.prefix(layout)
    is_write = endpoint in WRITE_ENDPOINTS
    if is_write:  # fresh objects: the writer's call at the end changes them
        o = make_objects(admin_http, prefix, endpoint)
        before = env_state(admin_http, prefix, o)
    else:  # reads change nothing: one set of objects per layout
        if ("objects", layout) not in ctx.cache:
            ctx.cache[("objects", layout)] = make_objects(admin_http, prefix)
        o = ctx.cache[("objects", layout)]
    method, path, body = route_request(endpoint, o)
    url = prefix + path

    # no token, a malformed one, forged ones (a reader's token claiming to be the server
    # administrator or a writer, with the reader's signature), and Basic credentials where a
    # bearer token belongs: 401 with an Iceberg body
    reader = ctx.token("reader")
    for label, headers in [
        ("no token", {}),
        ("malformed", bearer("not-a-jwt")),
        ("forged sub", bearer(forge(reader, sub=BOOTSTRAP_CLIENT_ID, org=None, env=None, role="admin"))),
        ("forged role", bearer(forge(reader, role="writer"))),
        ("basic", basic(ctx.keys["writer"]["key"], ctx.keys["writer"]["secret"])),
    ]:
        r = requests.request(method, url, json=body, headers=headers, timeout=TIMEOUT)
        assert_refused(r, method, 401, "NotAuthorizedException", label)

    # an admin of another environment of the same organization: the environment reads as
    # missing, 404 NoSuchWarehouseException
    r = send(method, url, body, ctx.token("other"))
    assert_refused(r, method, 404, "NoSuchWarehouseException", "other environment's admin")

    # the reader's token on an environment that does not exist, in its org and in another: the same
    for missing_prefix in (ctx.missing_env_prefix(layout), ctx.missing_env_prefix(layout, org="no-such-org")):
        r = send(method, missing_prefix + path, body, reader)
        assert_refused(r, method, 404, "NoSuchWarehouseException", missing_prefix)

    # the reader: reads are allowed (404 for what does not exist), writes are 403
    r = send(method, url, body, reader)
    if is_write:
        assert_refused(r, method, 403, "ForbiddenException", "reader")
        if body is not None:
            # authorization comes before the body is read: a malformed body changes nothing
            junk = {"Content-Type": "application/json"}
            r = requests.request(method, url, data=b'{"not": json', headers={**junk, **bearer(reader)}, timeout=TIMEOUT)
            assert_refused(r, method, 403, "ForbiddenException", "reader, malformed body")
            r = requests.request(method, url, data=b'{"not": json', headers=junk, timeout=TIMEOUT)
            assert_refused(r, method, 401, "NotAuthorizedException", "no token, malformed body")
        # none of the refused requests above changed anything
        assert env_state(admin_http, prefix, o) == before, f"a refused {endpoint} changed something"
    else:
        assert r.status_code in OK_STATUS[endpoint], (r.status_code, r.text[:400])
        assert_read_body(endpoint, o, r)
        if endpoint != "GET /v1/{prefix}/namespaces":
            m_method, m_path, m_body = route_request(endpoint, o, missing=True)
            r = send(m_method, prefix + m_path, m_body, reader)
            assert_refused(r, m_method, 404, None, "reader, missing object")

    # the writer: the very same request succeeds
    r = send(method, url, body, ctx.token("writer"))
    assert r.status_code in OK_STATUS[endpoint], (r.status_code, r.text[:400])
    if is_write:
        assert_write_effect(endpoint, o, before, env_state(admin_http, prefix, o), r)
    else:
        assert_read_body(endpoint, o, r)
    if endpoint == "POST /v1/{prefix}/namespaces/{namespace}/tables/{table}/unregister":
        # the table's files are kept: its metadata file registers again
        again = {"name": o.table, "metadata-location": r.json()["metadata-location"]}
        r = admin_http.post(f"{prefix}/namespaces/{o.ns}/register", json=again, timeout=TIMEOUT)
        assert r.status_code == 200, r.text[:400]
        assert r.json()["metadata"]["table-uuid"] == o.uuid, r.text[:400]


def test_authorization_comes_before_the_body_with_a_slow_store(ctx):
    """A reader's write is 403 whatever its body, also when checking its key has to wait for the
    store (its status not cached, the api_keys table locked for a moment): a malformed body must
    not be answered 400, before the caller is even authenticated."""
    if ctx.server.store != "postgres":
        pytest.skip("needs a store whose api_keys table another session can lock (PostgreSQL)")
    import shutil
    import subprocess

    url = f"{ctx.prefix('tableflow')}/namespaces"
    before = sorted(tuple(n) for n in ctx.server.http().get(url, timeout=TIMEOUT).json()["namespaces"])
    for label, body in [("valid body", b'{"namespace": ["%s"]}' % unique("slow").encode()), ("malformed body", b'{"not": json')]:
        # a key whose status the server has not cached yet (a first token request does not cache it)
        key = ctx.admin.create_key(ctx.org, "prod", "reader", description="slow store")
        remember(ctx.server, key["secret"])
        token = fetch_token(token_urls(ctx)["tableflow"], key["key"], key["secret"])
        psql = [shutil.which("psql"), ctx.server.database_url, "-X", "-q", "-t", "-A", "-v", "ON_ERROR_STOP=1", "-c"]
        lock = subprocess.Popen(
            psql + ["BEGIN; LOCK TABLE api_keys IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(3); COMMIT;"],
            stdout=subprocess.DEVNULL,
        )
        try:
            held = "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation WHERE c.relname = 'api_keys' AND l.mode = 'AccessExclusiveLock' AND l.granted"
            deadline = time.monotonic() + 10
            while subprocess.run(psql + [held], capture_output=True, text=True).stdout.strip() != "1":
                assert time.monotonic() < deadline, "psql did not get the lock"
                time.sleep(0.05)
            sent = time.monotonic()
            r = requests.post(url, data=body, headers={"Content-Type": "application/json", **bearer(token)}, timeout=TIMEOUT)
            took = time.monotonic() - sent
        finally:
            assert lock.wait(timeout=30) == 0
        try:
            assert_iceberg_error(r, 403, "ForbiddenException")
        except AssertionError as e:
            raise AssertionError(f"reader's POST /namespaces with a {label} (answered in {took:.2f}s): {e}") from None
    assert sorted(tuple(n) for n in ctx.server.http().get(url, timeout=TIMEOUT).json()["namespaces"]) == before


# --------------------------------------------------------------------------------------------
# /v1/config


def test_config_requires_a_token(ctx, layout):
    params = {} if layout == "tableflow" else {"warehouse": f"{ctx.org}/prod"}
    url = f"{ctx.uri(layout)}/v1/config"
    assert_iceberg_error(requests.get(url, params=params, timeout=TIMEOUT), 401, "NotAuthorizedException")
    r = requests.get(url, params=params, headers={"Authorization": "Bearer x.y.z"}, timeout=TIMEOUT)
    assert_iceberg_error(r, 401, "NotAuthorizedException")


def test_config_lists_every_route_to_every_role(ctx, layout):
    """A reader is told about the writes too: its client then sends them and the server refuses
    them with a 403 that says the key is read-only, instead of the client failing with "Server
    does not support endpoint", which reads as a server bug."""
    params = {} if layout == "tableflow" else {"warehouse": f"{ctx.org}/prod"}
    url = f"{ctx.uri(layout)}/v1/config"

    def endpoints(token: str) -> list:
        r = requests.get(url, params=params, headers=bearer(token), timeout=TIMEOUT)
        assert r.status_code == 200, r.text
        return r.json()["endpoints"]

    # the matrix above covers every route a caller is told about
    writer = endpoints(ctx.token("writer"))
    assert set(writer) == ALL_ENDPOINTS
    assert endpoints(ctx.server.token()) == writer
    assert endpoints(ctx.token("reader")) == writer


def test_an_unserved_method_is_405_with_allow(ctx, layout):
    """A method a path does not serve is 405 with `Allow` (and the Iceberg error body), not 404."""
    cases = [
        ("PUT", f"{ctx.prefix(layout)}/namespaces", {"GET", "POST"}),
        ("PATCH", f"{ctx.prefix(layout)}/namespaces/ns/tables/t", {"GET", "HEAD", "POST", "DELETE"}),
        ("GET", f"{ctx.prefix(layout)}/tables/rename", {"POST"}),
        ("GET", f"{ctx.server.base_url}/oauth/token", {"POST"}),
        ("GET", f"{ctx.uri(layout)}/v1/oauth/tokens", {"POST"}),
        ("POST", f"{ctx.server.base_url}/healthz", {"GET"}),
        ("DELETE", f"{ctx.server.base_url}/readyz", {"GET"}),
    ]
    for method, url, allowed in cases:
        r = requests.request(method, url, headers=bearer(ctx.token("writer")), timeout=TIMEOUT)
        assert r.status_code == 405, (method, url, r.status_code, r.text)
        assert {m.strip() for m in r.headers.get("Allow", "").split(",")} == allowed, (method, url, r.headers)
        assert r.json()["error"]["code"] == 405, r.text


def test_config_of_another_environment(ctx):
    """Another environment's config, by either layout, is 404 NoSuchWarehouseException, as for
    one that does not exist."""
    other = ctx.token("other")
    r = requests.get(f"{ctx.uri('tableflow')}/v1/config", headers=bearer(other), timeout=TIMEOUT)
    assert_iceberg_error(r, 404, "NoSuchWarehouseException")
    for wh in (f"{ctx.org}/prod", f"{ctx.org}/no-such-env", "no-such-org/no-such-env", "prod", "no-such-env"):
        r = requests.get(f"{ctx.server.warehouse_uri}/v1/config", params={"warehouse": wh}, headers=bearer(other), timeout=TIMEOUT)
        assert_iceberg_error(r, 404, "NoSuchWarehouseException")
    r = requests.get(f"{ctx.uri('tableflow', env='no-such-env')}/v1/config", headers=bearer(ctx.token("reader")), timeout=TIMEOUT)
    assert_iceberg_error(r, 404, "NoSuchWarehouseException")
    # a bare environment id names one of the caller's own organization
    r = requests.get(f"{ctx.server.warehouse_uri}/v1/config", params={"warehouse": "dev"}, headers=bearer(other), timeout=TIMEOUT)
    assert r.status_code == 200, r.text
    assert r.json()["overrides"]["prefix"] == f"{ctx.org}/dev"
    # its own environment works, and without `warehouse` the warehouse layout picks the key's own
    r = requests.get(f"{ctx.uri('tableflow', env='dev')}/v1/config", headers=bearer(other), timeout=TIMEOUT)
    assert r.status_code == 200, r.text
    r = requests.get(f"{ctx.server.warehouse_uri}/v1/config", headers=bearer(ctx.token("reader")), timeout=TIMEOUT)
    assert r.status_code == 200, r.text
    assert r.json()["overrides"]["prefix"] == f"{ctx.org}/prod"


def test_foreign_environments_read_as_missing(ctx, tmp_path_factory):
    """However a caller names an environment it may not see (both catalog layouts, `warehouse` by
    name or by bare id, the admin API), the answer is byte for byte the one for an environment
    that does not exist, the name aside: 404, same type, same message. Callers: an environment's
    reader, the admin of another environment of the organization, and an organization admin (for
    whom a missing environment of its own organization is a real lookup)."""
    base = tmp_path_factory.mktemp("foreign")
    foreign = make_tenant(ctx.server, ctx.admin, base)  # another organization
    hidden = make_tenant(ctx.server, ctx.admin, base, org=foreign.org, env=unique("hidden").replace("_", "-"))
    org_key = ctx.admin.create_key(ctx.org, None, "admin", description="organization admin")
    org_token = fetch_token(f"{ctx.server.base_url}/oauth/token", org_key["key"], org_key["secret"])
    remember(ctx.server, org_key["secret"], org_token)
    callers = {
        "reader": (ctx.token("reader"), [(foreign.org, foreign.env), (ctx.org, "dev")]),
        "other environment's admin": (ctx.token("other"), [(foreign.org, foreign.env), (ctx.org, "prod")]),
        "organization admin": (org_token, [(foreign.org, foreign.env), (hidden.org, hidden.env)]),
    }
    b = ctx.server.base_url
    routes = [  # method, url of (org, env), body, error type
        ("GET", lambda o, e: f"{b}/iceberg/catalog/organizations/{o}/environments/{e}/v1/config", None, "NoSuchWarehouseException"),
        ("GET", lambda o, e: f"{b}/iceberg/catalog/organizations/{o}/environments/{e}/v1/namespaces", None, "NoSuchWarehouseException"),
        ("POST", lambda o, e: f"{b}/iceberg/catalog/organizations/{o}/environments/{e}/v1/namespaces", {"namespace": ["x"]}, "NoSuchWarehouseException"),
        ("GET", lambda o, e: f"{ctx.server.warehouse_uri}/v1/config?warehouse={o}/{e}", None, "NoSuchWarehouseException"),
        ("GET", lambda o, e: f"{ctx.server.warehouse_uri}/v1/{o}/{e}/namespaces", None, "NoSuchWarehouseException"),
        ("DELETE", lambda o, e: f"{ctx.server.warehouse_uri}/v1/{o}/{e}/namespaces/x/tables/t", None, "NoSuchWarehouseException"),
        ("GET", lambda o, e: f"{b}/admin/v1/organizations/{o}/environments/{e}", None, "NotFoundException"),
        ("GET", lambda o, e: f"{b}/admin/v1/organizations/{o}/environments/{e}/clusters", None, "NotFoundException"),
        ("POST", lambda o, e: f"{b}/admin/v1/organizations/{o}/environments/{e}/api-keys", {"role": "reader"}, "NotFoundException"),
    ]

    def answer(method: str, url: str, body, token: str, name: str) -> tuple:
        r = requests.request(method, url, json=body, headers=bearer(token), timeout=TIMEOUT)
        return r.status_code, r.headers.get("content-type"), r.text.replace(name, "{name}")

    for who, (token, hidden_envs) in callers.items():
        for org, env in hidden_envs:
            for missing_org in (org, ctx.org):
                missing = unique("nope").replace("_", "-")
                for method, url, body, type_ in routes:
                    seen = answer(method, url(org, env), body, token, f"{org}/{env}")
                    absent = answer(method, url(missing_org, missing), body, token, f"{missing_org}/{missing}")
                    assert seen == absent, (who, method, url(org, env), seen, absent)
                    assert seen[0] == 404 and f'"{type_}"' in seen[2], (who, method, url(org, env), seen)
        # a bare environment id is looked up in the caller's organization only
        missing = unique("nope").replace("_", "-")
        url = f"{ctx.server.warehouse_uri}/v1/config?warehouse="
        seen = answer("GET", url + hidden.env, None, token, hidden.env)
        absent = answer("GET", url + missing, None, token, missing)
        assert seen == absent and seen[0] == 404, (who, seen, absent)
    # the server administrator finds the bare id, which is unique
    r = requests.get(f"{ctx.server.warehouse_uri}/v1/config", params={"warehouse": hidden.env}, headers=bearer(ctx.server.token()), timeout=TIMEOUT)
    assert r.status_code == 200 and r.json()["overrides"]["prefix"] == f"{hidden.org}/{hidden.env}", r.text
    # a role too low in the caller's own environment is still 403, not hidden
    r = requests.get(f"{b}/admin/v1/organizations/{ctx.org}/environments/prod", headers=bearer(ctx.token("reader")), timeout=TIMEOUT)
    assert_iceberg_error(r, 403, "ForbiddenException")


# --------------------------------------------------------------------------------------------
# public routes


def test_public_routes(ctx):
    base = ctx.server.base_url
    for path in ("/healthz", "/readyz"):
        assert requests.get(base + path, timeout=TIMEOUT).status_code == 200, path
    r = requests.get(f"{base}/.well-known/jwks.json", timeout=TIMEOUT)
    assert r.status_code == 200, r.text
    keys = r.json()["keys"]
    assert keys and all(k.get("kty") and k.get("kid") for k in keys), keys
    assert all("d" not in k for k in keys), "the JWKS must not hold private key material"
    # tokens are signed by one of the published keys
    assert jwt_part(ctx.token("reader"), 0)["kid"] in {k["kid"] for k in keys}
    # the admin API is not public
    r = requests.get(f"{base}/admin/v1/organizations", timeout=TIMEOUT)
    assert_iceberg_error(r, 401, "NotAuthorizedException")


# --------------------------------------------------------------------------------------------
# the token endpoint


def token_urls(ctx: Ctx) -> dict:
    return {
        "tableflow": f"{ctx.prod.catalog_uri}/v1/oauth/tokens",
        "warehouse": f"{ctx.server.warehouse_uri}/v1/oauth/tokens",
        "oauth": f"{ctx.server.base_url}/oauth/token",
    }


def works(ctx: Ctx, token: str, write: bool = False) -> None:
    """`token` reads prod through both layouts (and, with `write`, creates a namespace)."""
    for layout in ("tableflow", "warehouse"):
        r = requests.get(f"{ctx.prefix(layout)}/namespaces", headers=bearer(token), timeout=TIMEOUT)
        assert r.status_code == 200, (layout, r.text)
    if write:
        r = requests.post(f"{ctx.prefix('tableflow')}/namespaces", json={"namespace": [unique("tok")]}, headers=bearer(token), timeout=TIMEOUT)
        assert r.status_code == 200, r.text


@pytest.mark.parametrize("url_kind", ["tableflow", "warehouse", "oauth"])
def test_token_as_iceberg_java_sends_it(ctx, url_kind):
    """Iceberg Java (Spark, Trino, Flink) and Snowflake: form body, credentials in it, scope
    `catalog`, no Authorization header."""
    k = ctx.keys["writer"]
    body = f"grant_type=client_credentials&client_id={k['key']}&client_secret={k['secret']}&scope=catalog"
    r = requests.post(
        token_urls(ctx)[url_kind],
        data=body,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        timeout=TIMEOUT,
    )
    got = assert_token_response(r, scope="catalog")
    assert got["expires_in"] == 3600
    claims = jwt_part(got["access_token"], 1)
    assert claims["exp"] - claims["iat"] == 3600, claims
    remember(ctx.server, got["access_token"])
    works(ctx, got["access_token"], write=True)


@pytest.mark.parametrize("url_kind", ["tableflow", "warehouse", "oauth"])
def test_token_as_duckdb_sends_it(ctx, url_kind):
    """DuckDB >= 1.4: HTTP Basic client authentication, scope PRINCIPAL_ROLE:ALL in the body."""
    k = ctx.keys["reader"]
    r = requests.post(
        token_urls(ctx)[url_kind],
        data="grant_type=client_credentials&scope=PRINCIPAL_ROLE%3AALL",
        headers={"Content-Type": "application/x-www-form-urlencoded", **basic(k["key"], k["secret"])},
        timeout=TIMEOUT,
    )
    got = assert_token_response(r, scope="PRINCIPAL_ROLE:ALL")
    works(ctx, got["access_token"])
    # PRINCIPAL_ROLE:ALL is the key's role: still a reader
    r = requests.post(f"{ctx.prefix('tableflow')}/namespaces", json={"namespace": [unique("x")]}, headers=bearer(got["access_token"]), timeout=TIMEOUT)
    assert_iceberg_error(r, 403, "ForbiddenException")


def test_token_as_pyiceberg_gets_it(ctx, layout):
    """PyIceberg's legacy `credential` (form body, scope catalog, at {uri}/v1/oauth/tokens) and
    its OAuth2 auth manager (HTTP Basic, no scope, explicit token URL)."""
    from pyiceberg.catalog.rest import RestCatalog
    from pyiceberg.exceptions import OAuthError

    cat = env_catalog(ctx.server, ctx.org, "prod", layout, ctx.credential("reader"))
    assert isinstance(cat.list_namespaces(), list)

    k = ctx.keys["writer"]
    auth = {
        "type": "oauth2",
        "oauth2": {"client_id": k["key"], "client_secret": k["secret"], "token_url": token_urls(ctx)[layout]},
    }
    props = {"warehouse": f"{ctx.org}/prod"} if layout == "warehouse" else {}
    cat = RestCatalog("oauth2-manager", uri=ctx.uri(layout), auth=auth, **props)
    ns = unique("pyauth")
    cat.create_namespace(ns)
    assert (ns,) in cat.list_namespaces()

    if layout == "tableflow":  # (each wrong secret costs an argon2 check: once is enough)
        with pytest.raises(OAuthError):
            env_catalog(ctx.server, ctx.org, "prod", layout, f"{ctx.keys['target']['key']}:wrong-secret-0123456789")


def test_token_exchange_refresh(ctx):
    """Iceberg Java refreshes by exchanging its current token (Authorization: Bearer <current>,
    then Basic on a retry); the new token works and keeps the role."""
    url = token_urls(ctx)["tableflow"]
    for who, auth in [("writer", "bearer"), ("reader", "basic")]:
        current = ctx.token(who)
        headers = bearer(current) if auth == "bearer" else basic(ctx.keys[who]["key"], ctx.keys[who]["secret"])
        form = {
            "grant_type": TOKEN_EXCHANGE,
            "subject_token": current,
            "subject_token_type": ACCESS_TOKEN_TYPE,
            "scope": "catalog",
        }
        r = requests.post(url, data=form, headers=headers, timeout=TIMEOUT)
        fresh = assert_token_response(r, scope="catalog")["access_token"]
        remember(ctx.server, fresh)
        works(ctx, fresh, write=(who == "writer"))
        assert jwt_part(fresh, 1)["sub"] == ctx.keys[who]["key"]
    # a reader's token exchanged is a reader's token, and cannot be exchanged for more
    form = {"grant_type": TOKEN_EXCHANGE, "subject_token": ctx.token("reader"), "subject_token_type": ACCESS_TOKEN_TYPE}
    fresh = assert_token_response(requests.post(url, data=form, timeout=TIMEOUT))["access_token"]
    r = requests.post(f"{ctx.prefix('tableflow')}/namespaces", json={"namespace": [unique("x")]}, headers=bearer(fresh), timeout=TIMEOUT)
    assert_iceberg_error(r, 403, "ForbiddenException")
    r = requests.post(url, data={**form, "scope": "PRINCIPAL_ROLE:writer"}, timeout=TIMEOUT)
    assert_oauth_error(r, 400, "invalid_scope")
    # bad subject tokens
    for bad in ("garbage", forge(ctx.token("reader"), sub=BOOTSTRAP_CLIENT_ID, org=None, env=None, role="admin")):
        r = requests.post(url, data={**form, "subject_token": bad}, timeout=TIMEOUT)
        assert_oauth_error(r, 400, "invalid_grant")
    r = requests.post(url, data={"grant_type": TOKEN_EXCHANGE, "subject_token_type": ACCESS_TOKEN_TYPE}, timeout=TIMEOUT)
    assert_oauth_error(r, 400, "invalid_request")


def test_invalid_credentials(ctx):
    url = token_urls(ctx)["tableflow"]
    k = ctx.keys["target"]
    unknown = unique("FRZNOSUCHKEY")
    # form body (Iceberg Java, PyIceberg, Snowflake)
    for client_id, secret in [
        (k["key"], ctx.keys["reader"]["secret"]),  # another key's secret
        (unknown, k["secret"]),
    ]:
        assert_oauth_error(request_token(url, client_id, secret), 401, "invalid_client")
    # HTTP Basic (DuckDB)
    for client_id, secret in [(k["key"], "wrong-secret-0123456789"), (unknown, k["secret"])]:
        r = requests.post(url, data={"grant_type": "client_credentials", "scope": "PRINCIPAL_ROLE:ALL"}, headers=basic(client_id, secret), timeout=TIMEOUT)
        assert_oauth_error(r, 401, "invalid_client")
    # no credentials at all
    r = requests.post(url, data={"grant_type": "client_credentials", "scope": "catalog"}, timeout=TIMEOUT)
    assert r.status_code in (400, 401), r.text
    assert r.json()["error"] in ("invalid_client", "invalid_request"), r.text


def test_unsupported_and_missing_grant(ctx):
    url = token_urls(ctx)["oauth"]
    k = ctx.keys["reader"]
    for grant in ("password", "authorization_code", "refresh_token", "urn:ietf:params:oauth:grant-type:jwt-bearer"):
        r = requests.post(url, data={"grant_type": grant, "client_id": k["key"], "client_secret": k["secret"], "username": "u", "password": "p"}, timeout=TIMEOUT)
        assert_oauth_error(r, 400, "unsupported_grant_type")
    r = requests.post(url, data={"client_id": k["key"], "client_secret": k["secret"]}, timeout=TIMEOUT)
    assert_oauth_error(r, 400, "invalid_request")


def test_scopes(ctx):
    url = token_urls(ctx)["tableflow"]
    reader, writer = ctx.keys["reader"], ctx.keys["writer"]
    # a writer may ask for a reader token: it reads and is refused writes
    body = assert_token_response(request_token(url, writer["key"], writer["secret"], "PRINCIPAL_ROLE:reader"), scope="PRINCIPAL_ROLE:reader")
    works(ctx, body["access_token"])
    r = requests.post(f"{ctx.prefix('tableflow')}/namespaces", json={"namespace": [unique("x")]}, headers=bearer(body["access_token"]), timeout=TIMEOUT)
    assert_iceberg_error(r, 403, "ForbiddenException")
    # refreshing the narrowed token (token exchange, scope catalog) keeps it a reader's
    form = {"grant_type": TOKEN_EXCHANGE, "subject_token": body["access_token"], "subject_token_type": ACCESS_TOKEN_TYPE, "scope": "catalog"}
    refreshed = assert_token_response(requests.post(url, data=form, timeout=TIMEOUT))["access_token"]
    r = requests.post(f"{ctx.prefix('tableflow')}/namespaces", json={"namespace": [unique("x")]}, headers=bearer(refreshed), timeout=TIMEOUT)
    assert_iceberg_error(r, 403, "ForbiddenException")
    # ... and for its own role
    body = assert_token_response(request_token(url, writer["key"], writer["secret"], "PRINCIPAL_ROLE:writer"), scope="PRINCIPAL_ROLE:writer")
    works(ctx, body["access_token"], write=True)
    # more than the key has, or an unknown role: invalid_scope
    assert_oauth_error(request_token(url, reader["key"], reader["secret"], "PRINCIPAL_ROLE:writer"), 400, "invalid_scope")
    assert_oauth_error(request_token(url, writer["key"], writer["secret"], "PRINCIPAL_ROLE:admin"), 400, "invalid_scope")
    assert_oauth_error(request_token(url, writer["key"], writer["secret"], "catalog PRINCIPAL_ROLE:wizard"), 400, "invalid_scope")
    # no scope means `catalog`; unknown scopes are ignored and not granted
    assert_token_response(request_token(url, reader["key"], reader["secret"], None), scope="catalog")
    body = assert_token_response(request_token(url, reader["key"], reader["secret"], "catalog offline_access"), scope="catalog")
    body = assert_token_response(request_token(url, reader["key"], reader["secret"], "CLIENT_CREDENTIALS"))
    assert "CLIENT_CREDENTIALS" not in body["scope"].split(), body
    works(ctx, body["access_token"])


def test_rate_limit_after_repeated_failures(ctx):
    """10 failed attempts for one client id within a minute: the next gets 429 with Retry-After
    (also with the right secret); other client ids are not affected."""
    url = token_urls(ctx)["warehouse"]
    # an unknown client id
    ghost = unique("FRZGHOST")
    for i in range(10):
        assert_oauth_error(request_token(url, ghost, f"wrong-{i}-0123456789abcdef"), 401, "invalid_client")
    r = request_token(url, ghost, "wrong-again-0123456789abcdef")
    assert r.status_code == 429, r.text
    assert int(r.headers["Retry-After"]) > 0, dict(r.headers)
    assert r.json().get("error"), r.text
    # others still get tokens
    assert_token_response(request_token(url, ctx.keys["reader"]["key"], ctx.keys["reader"]["secret"]))
    if ctx.server.store != "sqlite":
        return  # the limiter is in memory; each failed check of a real key costs an argon2 hash
    # a real key (its own, so that no other test is throttled): the right secret is refused too
    key = ctx.admin.create_key(ctx.org, "prod", "reader", description="throttled")
    remember(ctx.server, key["secret"])
    for i in range(10):
        assert_oauth_error(request_token(url, key["key"], f"wrong-{i}-0123456789abcdef"), 401, "invalid_client")
    for secret in ("wrong-0123456789abcdef", key["secret"]):
        r = request_token(url, key["key"], secret)
        assert r.status_code == 429, r.text
        assert int(r.headers["Retry-After"]) > 0, dict(r.headers)
        r = requests.post(url, data={"grant_type": "client_credentials"}, headers=basic(key["key"], secret), timeout=TIMEOUT)
        assert r.status_code == 429, r.text
    # others still get tokens
    assert_token_response(request_token(url, ctx.keys["reader"]["key"], ctx.keys["reader"]["secret"]))


def test_revoked_and_expired_keys_are_refused(ctx):
    """A revoked key's tokens and credentials are refused within 5 s; so are an expired key's."""
    url = token_urls(ctx)["tableflow"]
    revoked = ctx.admin.create_key(ctx.org, "prod", "writer", description="to be revoked")
    remember(ctx.server, revoked["secret"])
    t_revoked = fetch_token(url, revoked["key"], revoked["secret"])
    works(ctx, t_revoked, write=True)
    # a key of an environment that is deleted: deleting revokes it, and an environment
    # re-created with the same id does not bring it back
    gone = make_tenant(ctx.server, ctx.admin, ctx.prod.warehouse_dir.parent, org=ctx.org, env=unique("gone").replace("_", "-"))
    gone_key = ctx.admin.create_key(ctx.org, gone.env, "admin")
    remember(ctx.server, gone_key["secret"])
    t_gone = fetch_token(f"{gone.catalog_uri}/v1/oauth/tokens", gone_key["key"], gone_key["secret"])
    assert requests.get(f"{gone.catalog_uri}/v1/namespaces", headers=bearer(t_gone), timeout=TIMEOUT).status_code == 200
    # a key that expires in a few seconds
    expires = dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=6)
    expiring = ctx.admin.create_key(
        ctx.org, "prod", "reader", description="expiring", expires_at=expires.isoformat().replace("+00:00", "Z")
    )
    remember(ctx.server, expiring["secret"])
    assert expiring["expires_at"] is not None
    assert abs(dt.datetime.fromisoformat(expiring["expires_at"].replace("Z", "+00:00")) - expires) < dt.timedelta(seconds=1)
    t_expiring = fetch_token(url, expiring["key"], expiring["secret"])
    works(ctx, t_expiring)

    ctx.admin.revoke_key(ctx.org, "prod", revoked["key"])
    revoked_at = time.monotonic()
    ctx.admin.call("DELETE", f"/organizations/{ctx.org}/environments/{gone.env}", expect=204)
    deleted_at = time.monotonic()
    ctx.admin.create_env(ctx.org, gone.env, gone.info["storage"]["location"])
    list_url = f"{ctx.prefix('tableflow')}/namespaces"

    gone_token_url = f"{gone.catalog_uri}/v1/oauth/tokens"
    # each check: (since when it must fail, the request, how a refusal looks)
    checks = {
        "revoked key's token": (revoked_at, lambda: requests.get(list_url, headers=bearer(t_revoked), timeout=TIMEOUT)),
        "revoked key's credentials": (revoked_at, lambda: request_token(url, revoked["key"], revoked["secret"])),
        "deleted environment's key's token": (
            deleted_at,
            lambda: requests.get(f"{gone.catalog_uri}/v1/namespaces", headers=bearer(t_gone), timeout=TIMEOUT),
        ),
        "deleted environment's key's credentials": (
            deleted_at,
            lambda: request_token(gone_token_url, gone_key["key"], gone_key["secret"]),
        ),
    }
    refused: dict = {}
    while len(refused) < len(checks):
        for name, (since, call) in checks.items():
            if name in refused:
                continue
            sent = time.monotonic()
            r = call()
            if r.status_code == 200:
                assert sent - since < 6.0, f"the {name} still works {sent - since:.1f}s later"
                continue
            refused[name] = (sent - since, r)
        time.sleep(0.1)
    for name, (took, r) in refused.items():
        # (a little slack for this client's own request latency)
        assert took <= 5.2, f"the {name} worked for {took:.1f}s"
        if "credentials" in name:
            assert_oauth_error(r, 401, "invalid_client")
        else:
            assert_iceberg_error(r, 401, "NotAuthorizedException")
    # nor can the revoked key exchange its old token
    form = {"grant_type": TOKEN_EXCHANGE, "subject_token": t_revoked, "subject_token_type": ACCESS_TOKEN_TYPE}
    assert_oauth_error(requests.post(url, data=form, timeout=TIMEOUT), 400, "invalid_grant")
    # the re-created environment shows no keys
    keys = ctx.admin.call("GET", f"/organizations/{ctx.org}/environments/{gone.env}/api-keys", expect=200).json()["api_keys"]
    assert keys == []
    # the list shows when it was revoked
    keys = ctx.admin.call("GET", f"/organizations/{ctx.org}/environments/prod/api-keys", expect=200).json()["api_keys"]
    assert next(k for k in keys if k["key"] == revoked["key"])["revoked_at"]

    # the expiring key: refused once its expiry has passed (token and credentials)
    while dt.datetime.now(dt.timezone.utc) < expires - dt.timedelta(seconds=0.5):
        assert requests.get(list_url, headers=bearer(t_expiring), timeout=TIMEOUT).status_code == 200
        time.sleep(0.2)
    while dt.datetime.now(dt.timezone.utc) < expires:
        time.sleep(0.1)
    deadline = time.monotonic() + 1.5
    while (r := requests.get(list_url, headers=bearer(t_expiring), timeout=TIMEOUT)).status_code == 200:
        assert time.monotonic() < deadline, "an expired key's token still works"
        time.sleep(0.1)
    assert_iceberg_error(r, 401, "NotAuthorizedException")
    assert_oauth_error(request_token(url, expiring["key"], expiring["secret"]), 401, "invalid_client")


# --------------------------------------------------------------------------------------------
# expired tokens (a server whose tokens live 2 s; token expiry does not depend on the store)


@pytest.fixture(scope="module")
def short_lived(tmp_path_factory):
    base = tmp_path_factory.mktemp("frazil-short-tokens")
    cleanups: list = []
    try:
        db_url = _database_for("sqlite", base, cleanups)
        srv = start_server("sqlite", base, db_url, env={"FRAZIL_TOKEN_LIFETIME_SECONDS": "2"})
        try:
            yield srv
        finally:
            stop_server(srv)
    finally:
        for c in reversed(cleanups):
            c()


def test_expired_token(short_lived):
    srv = short_lived
    url = f"{srv.tableflow_uri}/v1/oauth/tokens"
    r = request_token(url, srv.client_id, srv.client_secret)
    body = assert_token_response(r, scope="catalog")
    assert body["expires_in"] == 2
    token = body["access_token"]
    list_url = f"{srv.tableflow_uri}/v1/namespaces"
    assert requests.get(list_url, headers=bearer(token), timeout=TIMEOUT).status_code == 200

    # clients that get a new token when theirs expires: PyIceberg (legacy credential: on 401)
    # and DuckDB (before expiry and on 401; DuckDB 1.5 refreshes only with an explicit
    # OAUTH2_SERVER_URI, not with the {ENDPOINT}/v1/oauth/tokens default)
    from pyiceberg.catalog.rest import RestCatalog

    cat = RestCatalog("short", uri=srv.tableflow_uri, credential=srv.credential)
    ns = unique("short")
    cat.create_namespace(ns)
    con = new_duckdb_connection()
    try:
        duckdb_attach(con, srv, "tableflow", extra=f"OAUTH2_SERVER_URI '{url}'")
        con.execute(f'CREATE TABLE frazil."{ns}".before (id BIGINT)')

        time.sleep(3.2)  # exp = iat + 2, whole seconds, no leeway
        r = requests.get(list_url, headers=bearer(token), timeout=TIMEOUT)
        assert_iceberg_error(r, 401, "NotAuthorizedException")
        form = {"grant_type": TOKEN_EXCHANGE, "subject_token": token, "subject_token_type": ACCESS_TOKEN_TYPE}
        assert_oauth_error(requests.post(url, data=form, timeout=TIMEOUT), 400, "invalid_grant")

        assert (ns,) in cat.list_namespaces()
        cat.create_table(f"{ns}.after", schema=pa.schema([pa.field("id", pa.int64())]))
        con.execute(f"INSERT INTO frazil.\"{ns}\".before VALUES (1), (2)")
        assert con.execute(f'SELECT count(*) FROM frazil."{ns}".before').fetchall() == [(2,)]
    finally:
        con.close()
    assert sorted(t[1] for t in cat.list_tables(ns)) == ["after", "before"]


# --------------------------------------------------------------------------------------------
# Snowflake's sequence against the Tableflow layout


def test_snowflake_sequence(ctx, admin, server):
    """CREATE CATALOG INTEGRATION ... REST_AUTHENTICATION = (TYPE = OAUTH, OAUTH_CLIENT_ID = key,
    OAUTH_CLIENT_SECRET = secret, OAUTH_ALLOWED_SCOPES = ('catalog')), no OAUTH_TOKEN_URI and no
    WAREHOUSE: token at {uri}/v1/oauth/tokens -> /v1/config -> namespaces -> tables -> load."""
    env = unique("snow").replace("_", "-")
    tenant = make_tenant(server, admin, Path(ctx.prod.warehouse_dir).parent, org=ctx.org, env=env)
    clusters = sorted([f"lkc-{unique('a')[2:8]}", f"lkc-{unique('b')[2:8]}"])
    for c in clusters:
        assert admin.register_cluster(ctx.org, env, c) == {"id": c, "name": c}
    reader = admin.create_key(ctx.org, env, "reader", description="snowflake")
    remember(server, reader["secret"])

    # a topic-named table in the first cluster (written by the server administrator here; the
    # writer role is covered above)
    mat = env_catalog(server, ctx.org, env, "tableflow", server.credential)
    arrow_schema = pa.schema([pa.field("order_id", pa.int64()), pa.field("status", pa.string())])
    tbl = mat.create_table((clusters[0], "orders.clean"), schema=arrow_schema)
    tbl.append(pa.Table.from_pylist([{"order_id": 1, "status": "new"}, {"order_id": 2, "status": "paid"}], schema=arrow_schema))
    snapshot_id = tbl.current_snapshot().snapshot_id

    uri = tenant.catalog_uri
    assert uri == f"{server.base_url}/iceberg/catalog/organizations/{ctx.org}/environments/{env}"
    r = requests.post(
        f"{uri}/v1/oauth/tokens",
        data={"grant_type": "client_credentials", "client_id": reader["key"], "client_secret": reader["secret"], "scope": "catalog"},
        timeout=TIMEOUT,
    )
    token = assert_token_response(r, scope="catalog")["access_token"]
    remember(server, token)
    s = bearer_session(token)

    r = s.get(f"{uri}/v1/config", timeout=TIMEOUT)
    assert r.status_code == 200, r.text
    cfg = r.json()
    assert "prefix" not in (cfg.get("overrides") or {}) and "prefix" not in (cfg.get("defaults") or {}), cfg
    assert set(cfg["endpoints"]) == ALL_ENDPOINTS

    r = s.get(f"{uri}/v1/namespaces", timeout=TIMEOUT)
    assert r.status_code == 200, r.text
    assert sorted(r.json()["namespaces"]) == [[c] for c in clusters]

    r = s.get(f"{uri}/v1/namespaces/{clusters[0]}/tables", timeout=TIMEOUT)
    assert r.status_code == 200, r.text
    assert r.json()["identifiers"] == [{"namespace": [clusters[0]], "name": "orders.clean"}]
    r = s.get(f"{uri}/v1/namespaces/{clusters[1]}/tables", timeout=TIMEOUT)
    assert r.status_code == 200 and r.json()["identifiers"] == [], r.text

    r = s.get(f"{uri}/v1/namespaces/{clusters[0]}/tables/orders.clean", timeout=TIMEOUT)
    assert r.status_code == 200, r.text
    loaded = r.json()
    assert loaded["metadata-location"] == tbl.metadata_location
    md = loaded["metadata"]
    assert md["current-snapshot-id"] == snapshot_id
    assert md["table-uuid"] == str(tbl.metadata.table_uuid)
    fields = next(sc for sc in md["schemas"] if sc["schema-id"] == md["current-schema-id"])["fields"]
    assert [f["name"] for f in fields] == ["order_id", "status"]


# --------------------------------------------------------------------------------------------
# PyIceberg and DuckDB with keys made through the admin API


ROWS_SCHEMA = pa.schema([pa.field("id", pa.int64()), pa.field("name", pa.string())])


def rows(*pairs) -> pa.Table:
    return pa.Table.from_pylist([{"id": i, "name": n} for i, n in pairs], schema=ROWS_SCHEMA)


def table_state(ctx: Ctx, ns: str, table: str) -> tuple:
    r = ctx.server.http().get(f"{ctx.prefix('tableflow')}/namespaces/{ns}/tables/{table}", timeout=TIMEOUT)
    assert r.status_code == 200, r.text
    md = r.json()["metadata"]
    return r.json()["metadata-location"], md.get("current-snapshot-id"), len(md.get("snapshots") or [])


def test_pyiceberg_writer_and_reader_keys(ctx, layout):
    from pyiceberg.exceptions import ForbiddenError

    writer = env_catalog(ctx.server, ctx.org, "prod", layout, ctx.credential("writer"))
    ns = unique("pykeys")
    writer.create_namespace(ns)
    tbl = writer.create_table(f"{ns}.events", schema=ROWS_SCHEMA)
    tbl.append(rows((1, "a"), (2, "b")))
    tbl.append(rows((3, "c")))

    reader = env_catalog(ctx.server, ctx.org, "prod", layout, ctx.credential("reader"))
    seen = reader.load_table(f"{ns}.events")
    assert seen.scan().to_arrow().sort_by("id").to_pylist() == [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}, {"id": 3, "name": "c"}]
    before = table_state(ctx, ns, "events")

    # /v1/config lists the writes to the reader too: its client sends them, and the server's
    # refusal says why (not PyIceberg's "Server does not support endpoint")
    with pytest.raises(ForbiddenError, match="This API key is read-only \\(role reader\\): it cannot commit updates to a table"):
        seen.append(rows((4, "d")))
    with pytest.raises(ForbiddenError, match="This API key is read-only \\(role reader\\): it cannot create a namespace"):
        reader.create_namespace(unique("nope"))
    assert table_state(ctx, ns, "events") == before
    assert len(writer.load_table(f"{ns}.events").scan().to_arrow()) == 3


def test_duckdb_writer_and_reader_keys(ctx, layout):
    ns = unique("duckkeys")
    w, r = ctx.keys["writer"], ctx.keys["reader"]
    wcon, rcon = new_duckdb_connection(), new_duckdb_connection()
    try:
        duckdb_attach(wcon, ctx.server, layout, client_id=w["key"], client_secret=w["secret"], org=ctx.org, env="prod")
        wcon.execute(f'CREATE SCHEMA frazil."{ns}"')
        wcon.execute(f'CREATE TABLE frazil."{ns}".t (id BIGINT, name VARCHAR)')
        wcon.execute(f"INSERT INTO frazil.\"{ns}\".t VALUES (1, 'a'), (2, 'b')")

        # the reader as Confluent's DuckDB recipe has it: CREATE SECRET (TYPE iceberg, CLIENT_ID,
        # CLIENT_SECRET, ENDPOINT, OAUTH2_SCOPE 'catalog'), then ATTACH ... (SECRET ...)
        duckdb_attach(rcon, ctx.server, layout, client_id=r["key"], client_secret=r["secret"], org=ctx.org, env="prod", secret_scope="catalog")
        assert rcon.execute(f'SELECT id, name FROM frazil."{ns}".t ORDER BY id').fetchall() == [(1, "a"), (2, "b")]
        before = table_state(ctx, ns, "t")
        # DuckDB shows the status of a refused commit ("Forbidden_403"), and the server's message
        # (the key is read-only) for a refused CREATE
        with pytest.raises(Exception) as refused:
            rcon.execute(f"INSERT INTO frazil.\"{ns}\".t VALUES (3, 'c')")
        assert "Forbidden_403" in str(refused.value), refused.value
        read_only = "This API key is read-only (role reader): it cannot create a"
        with pytest.raises(Exception) as refused:
            rcon.execute(f'CREATE TABLE frazil."{ns}".u (id BIGINT)')
        assert "Forbidden_403" in str(refused.value) and f"{read_only} table" in str(refused.value), refused.value
        with pytest.raises(Exception) as refused:
            rcon.execute(f'CREATE SCHEMA frazil."{ns}_x"')
        assert f"{read_only} namespace" in str(refused.value), refused.value
        assert table_state(ctx, ns, "t") == before
        tables = requests.get(f"{ctx.prefix(layout)}/namespaces/{ns}/tables", headers=bearer(ctx.token("writer")), timeout=TIMEOUT).json()
        assert [i["name"] for i in tables["identifiers"]] == ["t"]
    finally:
        wcon.close()
        rcon.close()

    if layout != "tableflow":
        return
    # a wrong secret fails the ATTACH
    bad = new_duckdb_connection()
    try:
        with pytest.raises(Exception):
            duckdb_attach(bad, ctx.server, layout, client_id=ctx.keys["target"]["key"], client_secret="wrong-secret-0123456789", org=ctx.org, env="prod")
            bad.execute("SELECT count(*) FROM duckdb_tables() WHERE database_name = 'frazil'").fetchall()
    finally:
        bad.close()


# --------------------------------------------------------------------------------------------
# last: nothing secret was logged


def test_no_secret_or_token_in_log(server, ctx):
    text = server.log_text()
    leaked = [v[:8] + "..." for v in _SENSITIVE.get(server.port, set()) | {server.client_secret} if v in text]
    assert not leaked, f"secrets or tokens appear in the server log: {leaked}"
