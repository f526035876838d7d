"""The admin REST API (`/admin/v1`), bootstrap of the server administrator, and the
`frazil api-key create` CLI, on both metadata stores.

Organizations, environments (their catalog URIs work), Kafka clusters (each a top-level
namespace), API keys of environments and organizations (secrets shown only on creation), revoking,
404 / 409 / 403 / 401 cases, and who may do what (server admin, organization admin, environment
admin, writer, reader).
"""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess

import pytest
import requests

from conftest import (
    BOOTSTRAP_CLIENT_ID,
    BOOTSTRAP_CLIENT_SECRET,
    FRAZIL_BIN,
    S3_TEST_ROOT,
    AdminClient,
    _database_for,
    assert_iceberg_error,
    bearer,
    fetch_token,
    make_tenant,
    request_token,
    server_env,
    start_server,
    stop_server,
    unique,
)

TIMEOUT = 30
SCHEMA = {"type": "struct", "schema-id": 0, "fields": [{"id": 1, "name": "id", "required": False, "type": "long"}]}
KEY_FIELDS = {"key", "org_id", "env_id", "role", "description", "created_at", "last_used_at", "expires_at", "revoked_at"}


def new_id(prefix: str) -> str:
    return unique(prefix).replace("_", "-")


@pytest.fixture(scope="module")
def admin(server) -> AdminClient:
    return AdminClient(server)


@pytest.fixture(scope="module")
def base_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("admin-api")


def key_token(server, key: dict, org: str | None = None, env: str | None = None) -> str:
    """A token for a created key, from its environment's catalog URI (or /oauth/token)."""
    if org and env:
        url = f"{server.base_url}/iceberg/catalog/organizations/{org}/environments/{env}/v1/oauth/tokens"
    else:
        url = f"{server.base_url}/oauth/token"
    return fetch_token(url, key["key"], key["secret"])


# --------------------------------------------------------------------------------------------
# organizations


def test_organizations(admin, server):
    org = new_id("org")
    created = admin.create_org(org, name="Acme Corp")
    assert set(created) == {"id", "name", "created_at"}, created
    assert created["id"] == org and created["name"] == "Acme Corp" and created["created_at"]

    generated = admin.create_org(None, name="no id given")
    assert generated["id"] and generated["id"] != org

    assert admin.call("GET", f"/organizations/{org}", expect=200).json() == created
    listed = admin.call("GET", "/organizations", expect=200).json()["organizations"]
    ids = {o["id"] for o in listed}
    assert {org, generated["id"], "default"} <= ids

    assert_iceberg_error(admin.call("POST", "/organizations", json={"id": org, "name": "again"}), 409, "AlreadyExistsException")
    assert_iceberg_error(admin.call("POST", "/organizations", json={"id": "bad id/with slash", "name": "x"}), 400, "BadRequestException")
    assert_iceberg_error(admin.call("POST", "/organizations", json={"id": "-starts-badly", "name": "x"}), 400, "BadRequestException")
    assert_iceberg_error(admin.call("POST", "/organizations", data=b"{not json", headers={"Content-Type": "application/json"}), 400)

    missing = new_id("missing")
    assert_iceberg_error(admin.call("GET", f"/organizations/{missing}"), 404, "NotFoundException")
    assert_iceberg_error(admin.call("DELETE", f"/organizations/{missing}"), 404, "NotFoundException")

    # an empty organization can be deleted
    admin.call("DELETE", f"/organizations/{generated['id']}", expect=204)
    assert_iceberg_error(admin.call("GET", f"/organizations/{generated['id']}"), 404, "NotFoundException")


def test_admin_routing_errors_have_error_bodies(admin, server):
    """Unknown admin routes and unsupported methods answer with the Iceberg error body too."""
    r = admin.call("GET", "/no-such-thing")
    assert_iceberg_error(r, 404)
    for method, path in [
        ("PUT", "/organizations"),
        ("PATCH", "/organizations/default"),
        ("GET", "/organizations/default/environments/default/api-keys/FRZNOSUCHKEY"),
        ("POST", "/organizations/default/environments/default/clusters/lkc-x"),
    ]:
        r = admin.call(method, path, json={})
        assert r.status_code in (404, 405), (method, path, r.status_code, r.text)
        assert_iceberg_error(r, r.status_code)


# --------------------------------------------------------------------------------------------
# environments


def test_environment_lifecycle(admin, server, base_dir):
    org = new_id("org")
    admin.create_org(org)
    # a server administrator may choose storage below a configured storage root
    wh = server.storage_root / f"wh-{org}"
    env = admin.create_env(org, "prod", wh.as_uri(), name="Production")
    assert set(env) >= {"id", "org_id", "name", "storage", "catalog_uri", "warehouse"}, env
    assert env["id"] == "prod" and env["org_id"] == org and env["name"] == "Production"
    assert env["storage"]["location"].rstrip("/") == wh.as_uri().rstrip("/")
    assert env["storage"].get("s3") is None
    assert env["catalog_uri"] == f"{server.base_url}/iceberg/catalog/organizations/{org}/environments/prod"
    assert env["warehouse"] == f"{org}/prod"

    # the catalog URI works, with a key of the environment, under both layouts
    writer = admin.create_key(org, "prod", "writer")
    token = fetch_token(f"{env['catalog_uri']}/v1/oauth/tokens", writer["key"], writer["secret"])
    r = requests.get(f"{env['catalog_uri']}/v1/config", headers=bearer(token), timeout=TIMEOUT)
    assert r.status_code == 200, r.text
    ns = unique("envns")
    r = requests.post(f"{env['catalog_uri']}/v1/namespaces", json={"namespace": [ns]}, headers=bearer(token), timeout=TIMEOUT)
    assert r.status_code == 200, r.text
    r = requests.post(f"{env['catalog_uri']}/v1/namespaces/{ns}/tables", json={"name": "t", "schema": SCHEMA}, headers=bearer(token), timeout=TIMEOUT)
    assert r.status_code == 200, r.text
    # the table lives in the environment's storage
    assert r.json()["metadata-location"].startswith(wh.as_uri().rstrip("/") + "/"), r.json()["metadata-location"]
    assert any(p.name.endswith(".metadata.json") for p in wh.rglob("*"))
    r = requests.get(f"{server.warehouse_uri}/v1/config", params={"warehouse": env["warehouse"]}, headers=bearer(token), timeout=TIMEOUT)
    assert r.status_code == 200, r.text
    prefix = r.json()["overrides"]["prefix"]
    r = requests.get(f"{server.warehouse_uri}/v1/{prefix}/namespaces/{ns}/tables", headers=bearer(token), timeout=TIMEOUT)
    assert r.status_code == 200 and r.json()["identifiers"] == [{"namespace": [ns], "name": "t"}], r.text
    # the default environment does not see it
    r = requests.get(f"{server.tableflow_uri}/v1/namespaces/{ns}", headers=server.auth_headers(), timeout=TIMEOUT)
    assert r.status_code == 404, r.text

    # get, list, patch
    got = admin.call("GET", f"/organizations/{org}/environments/prod", expect=200).json()
    assert got == env
    listed = admin.call("GET", f"/organizations/{org}/environments", expect=200).json()["environments"]
    assert [e["id"] for e in listed] == ["prod"]
    patched = admin.call("PATCH", f"/organizations/{org}/environments/prod", json={"name": "Prod (EU)"}, expect=200).json()
    assert patched["name"] == "Prod (EU)" and patched["storage"] == env["storage"]
    assert admin.call("GET", f"/organizations/{org}/environments/prod", expect=200).json()["name"] == "Prod (EU)"

    # duplicates, bad input, missing parents
    assert_iceberg_error(
        admin.call("POST", f"/organizations/{org}/environments", json={"id": "prod", "name": "x", "storage": {"location": wh.as_uri()}}),
        409,
        "AlreadyExistsException",
    )
    assert_iceberg_error(
        admin.call("POST", f"/organizations/{org}/environments", json={"id": "e2", "name": "x", "storage": {"location": "ftp://nope/x"}}),
        400,
    )
    # without storage: {first storage root}/{org}/{env}
    e3 = admin.call("POST", f"/organizations/{org}/environments", json={"id": "e3", "name": "x"}, expect=201).json()
    assert e3["storage"]["location"] == f"{server.warehouse.rstrip('/')}/{org}/e3", e3
    admin.call("DELETE", f"/organizations/{org}/environments/e3", expect=204)
    missing = new_id("missing")
    assert_iceberg_error(
        admin.call("POST", f"/organizations/{missing}/environments", json={"id": "e", "name": "x", "storage": {"location": wh.as_uri()}}),
        404,
        "NotFoundException",
    )
    assert_iceberg_error(admin.call("GET", f"/organizations/{org}/environments/nope"), 404, "NotFoundException")
    assert_iceberg_error(admin.call("PATCH", f"/organizations/{org}/environments/nope", json={"name": "x"}), 404, "NotFoundException")
    assert_iceberg_error(admin.call("DELETE", f"/organizations/{org}/environments/nope"), 404, "NotFoundException")

    # an organization with environments, and an environment with namespaces, are not deleted
    assert_iceberg_error(admin.call("DELETE", f"/organizations/{org}"), 409, "AlreadyExistsException")
    assert_iceberg_error(admin.call("DELETE", f"/organizations/{org}/environments/prod"), 409)
    assert admin.call("GET", f"/organizations/{org}/environments/prod").status_code == 200
    # emptied, both go
    assert requests.delete(f"{env['catalog_uri']}/v1/namespaces/{ns}/tables/t", headers=bearer(token), timeout=TIMEOUT).status_code == 204
    assert requests.delete(f"{env['catalog_uri']}/v1/namespaces/{ns}", headers=bearer(token), timeout=TIMEOUT).status_code == 204
    admin.call("DELETE", f"/organizations/{org}/environments/prod", expect=204)
    assert_iceberg_error(admin.call("GET", f"/organizations/{org}/environments/prod"), 404, "NotFoundException")
    admin.call("DELETE", f"/organizations/{org}", expect=204)


def test_s3_environment_hides_its_secret(admin, moto_s3):
    # a server administrator's S3 settings, below a configured S3 storage root; the storage must
    # be reachable (the server writes a probe file there first), so it is moto's, which takes
    # any secret
    bucket = S3_TEST_ROOT.removeprefix("s3://")
    if bucket not in [b["Name"] for b in moto_s3.client().list_buckets()["Buckets"]]:
        moto_s3.client().create_bucket(Bucket=bucket)
    org = new_id("org")
    admin.create_org(org)
    secret = "s3-SECRET-" + unique("x")
    s3 = {
        "region": "eu-west-1",
        "endpoint": moto_s3.endpoint,
        "path_style": True,
        "allow_http": True,
        "access_key_id": "AKIATEST",
        "secret_access_key": secret,
    }
    r = admin.call(
        "POST", f"/organizations/{org}/environments", json={"id": "s3env", "name": "S3", "storage": {"location": f"{S3_TEST_ROOT}/prefix", "s3": s3}}, expect=201
    )
    assert secret not in r.text
    view = r.json()["storage"]
    assert view["location"] == f"{S3_TEST_ROOT}/prefix"
    assert view["s3"]["secret_access_key_set"] is True
    assert view["s3"]["access_key_id"] == "AKIATEST" and view["s3"]["region"] == "eu-west-1"
    assert view["s3"]["path_style"] is True and view["s3"]["allow_http"] is True
    assert "secret_access_key" not in view["s3"]
    for path in (f"/organizations/{org}/environments/s3env", f"/organizations/{org}/environments"):
        r = admin.call("GET", path, expect=200)
        assert secret not in r.text
    # a partial update keeps the rest
    r = admin.call("PATCH", f"/organizations/{org}/environments/s3env", json={"storage": {"s3": {"region": "us-east-2"}}}, expect=200)
    assert secret not in r.text
    s3_view = r.json()["storage"]["s3"]
    assert s3_view["region"] == "us-east-2"
    assert s3_view["access_key_id"] == "AKIATEST" and s3_view["secret_access_key_set"] is True
    assert s3_view["endpoint"] == moto_s3.endpoint


# --------------------------------------------------------------------------------------------
# clusters


def test_clusters_are_namespaces(admin, server, base_dir):
    t = make_tenant(server, admin, base_dir)
    path = f"/organizations/{t.org}/environments/{t.env}/clusters"
    c1, c2 = "lkc-" + unique("c")[2:10], "lkc-" + unique("d")[2:10]
    assert admin.register_cluster(t.org, t.env, c1, name="orders cluster") == {"id": c1, "name": "orders cluster"}
    assert admin.register_cluster(t.org, t.env, c2) == {"id": c2, "name": c2}
    listed = admin.call("GET", path, expect=200).json()["clusters"]
    assert sorted(listed, key=lambda c: c["id"]) == sorted([{"id": c1, "name": "orders cluster"}, {"id": c2, "name": c2}], key=lambda c: c["id"])
    assert_iceberg_error(admin.call("POST", path, json={"id": c1}), 409, "AlreadyExistsException")
    assert_iceberg_error(admin.call("POST", path, json={"id": "bad/cluster"}), 400)
    assert_iceberg_error(admin.call("POST", f"/organizations/{t.org}/environments/nope/clusters", json={"id": "lkc-x"}), 404, "NotFoundException")
    assert_iceberg_error(admin.call("GET", f"/organizations/{t.org}/environments/nope/clusters"), 404, "NotFoundException")

    # each cluster is a top-level namespace a reader sees
    reader = admin.create_key(t.org, t.env, "reader")
    writer = admin.create_key(t.org, t.env, "writer")
    rtok = key_token(server, reader, t.org, t.env)
    wtok = key_token(server, writer, t.org, t.env)
    uri = t.catalog_uri
    r = requests.get(f"{uri}/v1/namespaces", headers=bearer(rtok), timeout=TIMEOUT)
    assert r.status_code == 200, r.text
    assert sorted(r.json()["namespaces"]) == sorted([[c1], [c2]])

    # a cluster with a table is not deleted; an empty one is, and its namespace goes
    r = requests.post(f"{uri}/v1/namespaces/{c1}/tables", json={"name": "orders.v1", "schema": SCHEMA}, headers=bearer(wtok), timeout=TIMEOUT)
    assert r.status_code == 200, r.text
    assert_iceberg_error(admin.call("DELETE", f"{path}/{c1}"), 409)
    assert requests.get(f"{uri}/v1/namespaces/{c1}/tables/orders.v1", headers=bearer(rtok), timeout=TIMEOUT).status_code == 200
    admin.call("DELETE", f"{path}/{c2}", expect=204)
    assert_iceberg_error(admin.call("DELETE", f"{path}/{c2}"), 404, "NotFoundException")
    r = requests.get(f"{uri}/v1/namespaces", headers=bearer(rtok), timeout=TIMEOUT)
    assert r.json()["namespaces"] == [[c1]]
    assert [c["id"] for c in admin.call("GET", path, expect=200).json()["clusters"]] == [c1]
    # an environment with a cluster is not deleted
    assert_iceberg_error(admin.call("DELETE", f"/organizations/{t.org}/environments/{t.env}"), 409)


# --------------------------------------------------------------------------------------------
# API keys


def assert_no_secrets(text: str, secrets: list[str]) -> None:
    for s in secrets:
        assert s not in text, "a secret appears in a list"
    assert '"secret"' not in text


def test_api_keys(admin, server, base_dir):
    t = make_tenant(server, admin, base_dir)
    path = f"/organizations/{t.org}/environments/{t.env}/api-keys"
    created = {}
    for role in ("reader", "writer", "admin"):
        extra = {"expires_at": "2099-01-02T03:04:05Z"} if role == "admin" else {}
        k = admin.create_key(t.org, t.env, role, description=f"the {role}", **extra)
        assert set(k) == KEY_FIELDS | {"secret"}, k
        assert k["role"] == role and k["org_id"] == t.org and k["env_id"] == t.env and k["description"] == f"the {role}"
        assert k["created_at"] and k["last_used_at"] is None and k["revoked_at"] is None
        assert isinstance(k["secret"], str) and len(k["secret"]) >= 16
        created[role] = k
    assert created["reader"]["expires_at"] is None
    expiring = created["admin"]
    assert expiring["expires_at"].startswith("2099-01-02T03:04:05")
    secrets = [k["secret"] for k in created.values()]
    assert len(set(secrets)) == 3 and len({k["key"] for k in created.values()}) == 3

    # a key is used: last_used_at is set
    key_token(server, created["reader"], t.org, t.env)
    r = admin.call("GET", path, expect=200)
    assert_no_secrets(r.text, secrets)
    listed = {k["key"]: k for k in r.json()["api_keys"]}
    assert set(listed) == {k["key"] for k in created.values()}
    for k in listed.values():
        assert set(k) == KEY_FIELDS, k
    assert listed[created["reader"]["key"]]["last_used_at"] is not None
    assert listed[created["writer"]["key"]]["last_used_at"] is None
    assert listed[expiring["key"]]["expires_at"].startswith("2099-01-02T03:04:05")

    # bad requests
    assert_iceberg_error(admin.call("POST", path, json={"role": "superuser"}), 400)
    assert_iceberg_error(admin.call("POST", path, json={"role": "reader", "expires_at": "2000-01-01T00:00:00Z"}), 400)
    assert_iceberg_error(admin.call("POST", path, json={"role": "reader", "expires_at": "next tuesday"}), 400)
    assert_iceberg_error(admin.call("POST", f"/organizations/{t.org}/environments/nope/api-keys", json={"role": "reader"}), 404, "NotFoundException")
    assert_iceberg_error(admin.call("GET", f"/organizations/{t.org}/environments/nope/api-keys"), 404, "NotFoundException")

    # revoke: 204, shown as revoked, its credentials no longer work
    admin.call("DELETE", f"{path}/{created['writer']['key']}", expect=204)
    listed = {k["key"]: k for k in admin.call("GET", path, expect=200).json()["api_keys"]}
    assert listed[created["writer"]["key"]]["revoked_at"] is not None
    assert listed[created["reader"]["key"]]["revoked_at"] is None
    r = request_token(f"{t.catalog_uri}/v1/oauth/tokens", created["writer"]["key"], created["writer"]["secret"])
    assert r.status_code == 401 and r.json()["error"] == "invalid_client", r.text
    assert_iceberg_error(admin.call("DELETE", f"{path}/FRZNOSUCHKEY"), 404, "NotFoundException")

    # organization keys: admin only
    org_path = f"/organizations/{t.org}/api-keys"
    org_key = admin.create_key(t.org, None, "admin", description="org admin")
    assert org_key["org_id"] == t.org and org_key["env_id"] is None and org_key["role"] == "admin"
    for role in ("reader", "writer"):
        assert_iceberg_error(admin.call("POST", org_path, json={"role": role}), 400)
    r = admin.call("GET", org_path, expect=200)
    assert_no_secrets(r.text, [org_key["secret"], *secrets])
    assert [k["key"] for k in r.json()["api_keys"]] == [org_key["key"]]
    # an environment key is not revoked through the organization's path, nor another env's
    assert_iceberg_error(admin.call("DELETE", f"{org_path}/{created['reader']['key']}"), 404, "NotFoundException")
    admin.call("DELETE", f"{org_path}/{org_key['key']}", expect=204)
    assert admin.call("GET", org_path, expect=200).json()["api_keys"][0]["revoked_at"] is not None
    assert_iceberg_error(admin.call("GET", f"/organizations/{new_id('missing')}/api-keys"), 404, "NotFoundException")


def test_who_may_do_what(admin, server, base_dir):
    """Server admin: everything. Organization admin: its organization. Environment admin: its
    environment. Writers and readers: no admin API (403). Other tenants' organizations and
    environments, and other environments of its organization, read as missing (404)."""
    a = make_tenant(server, admin, base_dir)
    a2 = make_tenant(server, admin, base_dir, org=a.org)
    b = make_tenant(server, admin, base_dir)
    org_admin = admin.create_key(a.org, None, "admin")
    env_admin = admin.create_key(a.org, a.env, "admin")
    writer = admin.create_key(a.org, a.env, "writer")

    org_api = AdminClient(server, key_token(server, org_admin))
    env_api = AdminClient(server, key_token(server, env_admin, a.org, a.env))

    # no token, or a bad one: 401 on every admin route
    for method, p in [
        ("GET", "/organizations"),
        ("POST", "/organizations"),
        ("GET", f"/organizations/{a.org}"),
        ("GET", f"/organizations/{a.org}/environments"),
        ("GET", f"/organizations/{a.org}/environments/{a.env}/clusters"),
        ("GET", f"/organizations/{a.org}/environments/{a.env}/api-keys"),
        ("POST", f"/organizations/{a.org}/environments/{a.env}/api-keys"),
        ("GET", f"/organizations/{a.org}/api-keys"),
    ]:
        for headers in ({}, bearer("garbage")):
            r = requests.request(method, f"{server.base_url}/admin/v1{p}", json={"role": "admin", "name": "x"}, headers=headers, timeout=TIMEOUT)
            assert_iceberg_error(r, 401, "NotAuthorizedException")

    # writers (and so readers): 403 on the admin API, and they cannot make keys
    for k in (writer,):
        api = AdminClient(server, key_token(server, k, a.org, a.env))
        assert_iceberg_error(api.call("GET", f"/organizations/{a.org}/environments/{a.env}/api-keys"), 403, "ForbiddenException")
        assert_iceberg_error(api.call("POST", f"/organizations/{a.org}/environments/{a.env}/api-keys", json={"role": "reader"}), 403, "ForbiddenException")
        assert_iceberg_error(api.call("POST", f"/organizations/{a.org}/environments/{a.env}/clusters", json={"id": "lkc-no"}), 403, "ForbiddenException")
        assert_iceberg_error(api.call("GET", "/organizations"), 403, "ForbiddenException")

    # the environment admin: its environment only
    k = env_api.create_key(a.org, a.env, "reader")
    assert k["env_id"] == a.env
    env_api.register_cluster(a.org, a.env, "lkc-envadmin")
    env_api.call("GET", f"/organizations/{a.org}/environments/{a.env}", expect=200)
    env_api.call("PATCH", f"/organizations/{a.org}/environments/{a.env}", json={"name": "renamed by its admin"}, expect=200)
    # ... another environment, of its organization or of another, reads as missing: 404, the
    # very answer the server administrator gets for an environment that does not exist
    for method, p, body in [
        ("POST", f"/organizations/{a.org}/environments/{a2.env}/api-keys", {"role": "reader"}),
        ("GET", f"/organizations/{a.org}/environments/{a2.env}", None),
        ("GET", f"/organizations/{a.org}/environments/{a2.env}/clusters", None),
        ("GET", f"/organizations/{a.org}/environments/no-such-env", None),
        ("GET", f"/organizations/{b.org}/environments/{b.env}", None),
    ]:
        assert_iceberg_error(env_api.call(method, p, json=body), 404, "NotFoundException")
    for org, env in ((a.org, a2.env), (b.org, b.env)):
        foreign = env_api.call("GET", f"/organizations/{org}/environments/{env}")
        absent = admin.call("GET", f"/organizations/{org}/environments/no-such-env")
        same = foreign.text.replace(f"{org}/{env}", "{env}") == absent.text.replace(f"{org}/no-such-env", "{env}")
        assert same, (foreign.text, absent.text)
    # ... another organization reads as missing too
    assert_iceberg_error(env_api.call("DELETE", f"/organizations/{b.org}"), 404, "NotFoundException")
    # ... and its own organization as a whole, or its own environment's deletion, is a refusal
    for method, p, body in [
        ("POST", f"/organizations/{a.org}/environments", {"id": "x", "name": "x", "storage": {"location": a.info["storage"]["location"]}}),
        ("DELETE", f"/organizations/{a.org}/environments/{a.env}", None),
        ("POST", f"/organizations/{a.org}/api-keys", {"role": "admin"}),
        ("GET", f"/organizations/{a.org}/api-keys", None),
        ("POST", "/organizations", {"name": "mine"}),
    ]:
        assert_iceberg_error(env_api.call(method, p, json=body), 403, "ForbiddenException")

    # the organization admin: its organization only
    # ... which does not include choosing storage: Frazil reaches it with its own identity
    for storage in [{"location": a.info["storage"]["location"]}, {"location": (server.storage_root / "mine").as_uri()}]:
        r = org_api.call("POST", f"/organizations/{a.org}/environments", json={"id": "made-by-org-admin", "name": "x", "storage": storage})
        err = assert_iceberg_error(r, 403, "ForbiddenException")
        assert "server administrator" in err["message"], err
    env = org_api.create_env(a.org, "made-by-org-admin")
    assert env["org_id"] == a.org
    assert env["storage"]["location"] == f"{server.warehouse.rstrip('/')}/{a.org}/made-by-org-admin", env
    assert org_api.create_key(a.org, a2.env, "writer")["env_id"] == a2.env
    assert {e["id"] for e in org_api.call("GET", f"/organizations/{a.org}/environments", expect=200).json()["environments"]} == {
        a.env,
        a2.env,
        "made-by-org-admin",
    }
    assert [o["id"] for o in org_api.call("GET", "/organizations", expect=200).json()["organizations"]] == [a.org]
    org_api.call("DELETE", f"/organizations/{a.org}/environments/made-by-org-admin", expect=204)
    for method, p, body in [
        ("POST", "/organizations", {"name": "another"}),
        ("DELETE", f"/organizations/{a.org}", None),  # server administrators only
    ]:
        assert_iceberg_error(org_api.call(method, p, json=body), 403, "ForbiddenException")
    # another organization reads exactly as one that does not exist
    nosuchorg = new_id("nosuchorg")
    for method, p, body in [
        ("GET", f"/organizations/{b.org}", None),
        ("GET", f"/organizations/{b.org}/environments", None),
        ("POST", f"/organizations/{b.org}/environments/{b.env}/api-keys", {"role": "admin"}),
        ("GET", f"/organizations/{nosuchorg}", None),
    ]:
        assert_iceberg_error(org_api.call(method, p, json=body), 404, "NotFoundException")
    foreign, absent = org_api.call("GET", f"/organizations/{b.org}"), org_api.call("GET", f"/organizations/{nosuchorg}")
    assert foreign.text.replace(b.org, "{org}") == absent.text.replace(nosuchorg, "{org}"), (foreign.text, absent.text)
    # ... and not the catalog of another organization, which reads as a missing warehouse
    r = requests.get(f"{b.catalog_uri}/v1/config", headers=bearer(org_api.s.headers["Authorization"].split(" ", 1)[1]), timeout=TIMEOUT)
    assert_iceberg_error(r, 404, "NoSuchWarehouseException")
    # an environment admin is also a writer on its catalog
    r = requests.post(f"{a.catalog_uri}/v1/namespaces", json={"namespace": [unique("byadmin")]}, headers=env_api.s.headers, timeout=TIMEOUT)
    assert r.status_code == 200, r.text

    # the server administrator may do everything, on every environment
    r = requests.get(f"{b.catalog_uri}/v1/namespaces", headers=server.auth_headers(), timeout=TIMEOUT)
    assert r.status_code == 200, r.text
    admin.call("GET", f"/organizations/{b.org}/environments/{b.env}/api-keys", expect=200)


# --------------------------------------------------------------------------------------------
# bootstrap


def test_bootstrap_from_environment(server):
    """The module's server was started with FRAZIL_BOOTSTRAP_CLIENT_ID/SECRET: those credentials
    are a server administrator's, no credential file is written, the secret is never printed."""
    assert server.client_id == BOOTSTRAP_CLIENT_ID
    r = request_token(f"{server.base_url}/oauth/token", BOOTSTRAP_CLIENT_ID, BOOTSTRAP_CLIENT_SECRET)
    assert r.status_code == 200, r.text
    token = r.json()["access_token"]
    r = requests.post(f"{server.base_url}/admin/v1/organizations", json={"id": new_id("boot"), "name": "x"}, headers=bearer(token), timeout=TIMEOUT)
    assert r.status_code == 201, r.text
    # the default organization and environment exist
    r = requests.get(f"{server.base_url}/admin/v1/organizations/default/environments/default", headers=bearer(token), timeout=TIMEOUT)
    assert r.status_code == 200, r.text
    assert not (server.data_dir / "bootstrap-credentials.json").exists()
    assert BOOTSTRAP_CLIENT_SECRET not in server.log_text()


def test_bootstrap_generates_a_credential_file(store, tmp_path):
    """Without FRAZIL_BOOTSTRAP_*, the first start generates a credential, prints it once and
    writes it to {data dir}/bootstrap-credentials.json (0600); a restart creates no other."""
    cleanups: list = []
    try:
        db_url = _database_for(store, tmp_path, cleanups)
        first = start_server(store, tmp_path, db_url, bootstrap_env=False)
        creds_file = first.data_dir / "bootstrap-credentials.json"
        try:
            assert creds_file.exists()
            assert stat.S_IMODE(os.stat(creds_file).st_mode) == 0o600, oct(os.stat(creds_file).st_mode)
            creds = json.loads(creds_file.read_text())
            assert set(creds) == {"client_id", "client_secret", "role"} and creds["role"] == "admin", creds
            assert creds["client_id"] != BOOTSTRAP_CLIENT_ID
            assert (first.client_id, first.client_secret) == (creds["client_id"], creds["client_secret"])
            assert first.log_text().count(creds["client_secret"]) == 1  # printed once
            # a server administrator
            admin = AdminClient(first)
            admin.create_org(new_id("boot"))
            admin.call("GET", "/organizations/default/environments/default", expect=200)
        finally:
            stop_server(first)
        content = creds_file.read_bytes()
        # restarts create no second credential: the file is not rewritten, nor recreated when gone
        second = start_server(store, tmp_path, db_url, bootstrap_env=False)
        try:
            assert creds_file.read_bytes() == content
            creds_file.unlink()
        finally:
            stop_server(second)
        third = start_server(store, tmp_path, db_url, bootstrap_env=False)
        try:
            assert not creds_file.exists()
            log = third.log_text()
            assert log.count(creds["client_secret"]) == 1, "the credential was printed again"
            assert log.count("Created the server administrator") == 1
            r = request_token(f"{third.base_url}/oauth/token", creds["client_id"], creds["client_secret"])
            assert r.status_code == 200, r.text
        finally:
            stop_server(third)
    finally:
        for c in reversed(cleanups):
            c()


def test_bootstrap_command_and_invalid_credentials(tmp_path):
    """`frazil bootstrap` creates the administrator from the environment on a new store (the
    server then generates none); invalid bootstrap credentials are refused."""
    db_url = f"sqlite://{tmp_path / 'frazil.db'}"
    (tmp_path / "data").mkdir()
    env = server_env(tmp_path, db_url, (tmp_path / "warehouse").as_uri(), env={"FRAZIL_BOOTSTRAP_CLIENT_ID": "ops.admin-1", "FRAZIL_BOOTSTRAP_CLIENT_SECRET": "a-long-enough-secret-42"})
    (tmp_path / "warehouse").mkdir()
    r = subprocess.run([str(FRAZIL_BIN), "bootstrap"], env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "a-long-enough-secret-42" not in r.stdout + r.stderr
    again = subprocess.run([str(FRAZIL_BIN), "bootstrap"], env=env, capture_output=True, text=True, timeout=120)
    assert again.returncode == 0, again.stderr
    assert "Created" not in again.stdout
    srv = start_server("sqlite", tmp_path, db_url, bootstrap_env=False)
    try:
        assert not (srv.data_dir / "bootstrap-credentials.json").exists()
        r = request_token(f"{srv.base_url}/oauth/token", "ops.admin-1", "a-long-enough-secret-42")
        assert r.status_code == 200, r.text
    finally:
        stop_server(srv)

    for bad in ({"FRAZIL_BOOTSTRAP_CLIENT_SECRET": "too-short"}, {"FRAZIL_BOOTSTRAP_CLIENT_ID": "bad id!"}):
        d = tmp_path / unique("bad")
        (d / "data").mkdir(parents=True)
        (d / "warehouse").mkdir()
        env = server_env(d, f"sqlite://{d / 'frazil.db'}", (d / "warehouse").as_uri(), port=None, env=bad)
        r = subprocess.run([str(FRAZIL_BIN), "bootstrap"], env=env, capture_output=True, text=True, timeout=120)
        assert r.returncode != 0, (bad, r.stdout, r.stderr)
        assert "too-short" not in r.stdout + r.stderr


# --------------------------------------------------------------------------------------------
# the CLI


def test_cli_api_key_create(server):
    """`frazil api-key create` on the store the server uses prints a key the server accepts."""
    env = server_env(server.base_dir, server.database_url, server.warehouse)
    r = subprocess.run(
        [str(FRAZIL_BIN), "api-key", "create", "--org", "default", "--env", "default", "--role", "writer", "--description", "from the CLI"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    key = re.search(r"^key:\s+(\S+)\s*$", r.stdout, re.M)
    secret = re.search(r"^secret:\s+(\S+)\s*$", r.stdout, re.M)
    assert key and secret, r.stdout
    created = {"key": key.group(1), "secret": secret.group(1)}
    token = key_token(server, created, "default", "default")
    ns = unique("cli")
    r = requests.post(f"{server.tableflow_uri}/v1/namespaces", json={"namespace": [ns]}, headers=bearer(token), timeout=TIMEOUT)
    assert r.status_code == 200, r.text
    keys = AdminClient(server).call("GET", "/organizations/default/environments/default/api-keys", expect=200).json()["api_keys"]
    listed = next(k for k in keys if k["key"] == created["key"])
    assert listed["role"] == "writer" and listed["description"] == "from the CLI"
    assert created["secret"] not in server.log_text()

    bad = subprocess.run(
        [str(FRAZIL_BIN), "api-key", "create", "--org", "default", "--env", "no-such-env", "--role", "reader"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert bad.returncode != 0
