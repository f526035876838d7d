"""The mistakes people make first, and what the server answers to them.

- A mistyped warehouse (`acme/prd` for `acme/prod`), or an environment the key may not use,
  reads exactly as an environment that does not exist: 404 NoSuchWarehouseException, never
  403, under both URI layouts, to PyIceberg, DuckDB and raw HTTP. 403 is only for a role too low
  in an environment the caller can use.
- A dotted topic name given to PyIceberg as one string is split at every dot; the 404 names the
  namespace and the table that were looked up and suggests the tuple form.
"""

from __future__ import annotations

from urllib.parse import quote

import pyarrow as pa
import pytest
import requests
from pyiceberg.exceptions import NoSuchNamespaceError, NoSuchTableError

from conftest import (
    AdminClient,
    assert_iceberg_error,
    bearer,
    duckdb_attach,
    env_catalog,
    fetch_token,
    make_catalog,
    make_tenant,
    new_duckdb_connection,
    unique,
)

TIMEOUT = 30


@pytest.fixture(scope="module")
def acme(server, tmp_path_factory):
    """Organization `acme-…` with environments prod (the keys') and dev (not theirs), and another
    organization with an organization admin key."""
    admin = AdminClient(server)
    base = tmp_path_factory.mktemp("mistakes")
    org = unique("acme").replace("_", "-")
    make_tenant(server, admin, base, org=org, env="prod")
    make_tenant(server, admin, base, org=org, env="dev")
    other = make_tenant(server, admin, base)
    keys = {role: admin.create_key(org, "prod", role) for role in ("reader", "writer")}
    keys["other org admin"] = admin.create_key(other.org, None, "admin")
    keys["org admin"] = admin.create_key(org, None, "admin")
    return org, keys


def credential(key: dict) -> str:
    return f"{key['key']}:{key['secret']}"


def token(server, key: dict, scope: str = "catalog") -> str:
    return fetch_token(f"{server.base_url}/oauth/token", key["key"], key["secret"], scope=scope)


def answer(method: str, url: str, tok: str, body=None) -> tuple:
    r = requests.request(method, url, json=body, headers=bearer(tok), timeout=TIMEOUT)
    return r.status_code, r.headers.get("content-type"), r.text


def routes(server, org: str, env: str) -> list:
    """Catalog routes of `org`/`env` under both layouts: method, url, body."""
    tf = f"{server.base_url}/iceberg/catalog/organizations/{org}/environments/{env}/v1"
    wh = f"{server.warehouse_uri}/v1/{org}/{env}"
    out = [("GET", f"{tf}/config", None), ("GET", f"{server.warehouse_uri}/v1/config?warehouse={org}/{env}", None)]
    for prefix in (tf, wh):
        out += [
            ("GET", f"{prefix}/namespaces", None),
            ("POST", f"{prefix}/namespaces", {"namespace": ["x"]}),
            ("GET", f"{prefix}/namespaces/lkc-1/tables/t", None),
            ("DELETE", f"{prefix}/namespaces/lkc-1/tables/t", None),
        ]
    return out


def test_a_foreign_or_mistyped_environment_is_404_under_both_layouts(server, acme):
    """Every caller and every route: the environment it may not use answers byte for byte as one
    that does not exist, names aside."""
    org, keys = acme
    callers = {
        "writer of prod": (token(server, keys["writer"]), [(org, "prd"), (org, "dev")]),
        "reader of prod": (token(server, keys["reader"]), [(org, "prd"), (org, "dev")]),
        "admin of another org": (token(server, keys["other org admin"]), [(org, "prod"), (org, "prd")]),
    }
    for who, (tok, envs) in callers.items():
        for o, e in envs:
            missing = unique("nope").replace("_", "-")
            for (method, url, body), (_, missing_url, _) in zip(routes(server, o, e), routes(server, o, missing)):
                seen = answer(method, url, tok, body)
                absent = answer(method, missing_url, tok, body)
                assert seen[0] == 404 and '"NoSuchWarehouseException"' in seen[2], (who, method, url, seen)
                assert f"Unable to find warehouse {o}/{e}" in seen[2], (who, url, seen)
                assert seen[:2] == absent[:2] and seen[2].replace(f"{o}/{e}", "?") == absent[2].replace(f"{o}/{missing}", "?"), (who, url, seen, absent)


def test_a_role_too_low_is_403_only_where_the_environment_exists(server, acme):
    """An organization admin's token asked for the reader role: a write to an environment of its
    organization is 403, to a mistyped one 404 (as for any other caller), also in the admin API."""
    org, keys = acme
    reader = token(server, keys["org admin"], scope="PRINCIPAL_ROLE:reader")
    for env, status, type_ in [("prod", 403, "ForbiddenException"), ("prd", 404, "NoSuchWarehouseException")]:
        for method, url, body in routes(server, org, env):
            if method in ("POST", "DELETE"):
                r = requests.request(method, url, json=body, headers=bearer(reader), timeout=TIMEOUT)
                assert_iceberg_error(r, status, type_)
        r = requests.get(f"{server.base_url}/admin/v1/organizations/{org}/environments/{env}", headers=bearer(reader), timeout=TIMEOUT)
        assert_iceberg_error(r, status, "ForbiddenException" if status == 403 else "NotFoundException")


@pytest.mark.parametrize("layout", ["tableflow", "warehouse"])
def test_pyiceberg_with_a_mistyped_warehouse_is_told_it_does_not_exist(server, acme, layout):
    """PyIceberg fetches /v1/config when the catalog is made: a 404 there is a RESTError whose
    text carries the type and message, "NoSuchWarehouseException: Unable to find warehouse"."""
    from pyiceberg.exceptions import ForbiddenError, RESTError

    org, keys = acme
    with pytest.raises(RESTError) as raised:
        env_catalog(server, org, "prd", layout, credential(keys["writer"])).list_namespaces()
    assert not isinstance(raised.value, ForbiddenError), raised.value
    text = str(raised.value)
    assert "NoSuchWarehouseException" in text and f"Unable to find warehouse {org}/prd" in text, text
    # the right name works with the same key
    env_catalog(server, org, "prod", layout, credential(keys["writer"])).list_namespaces()


@pytest.mark.parametrize("layout", ["tableflow", "warehouse"])
def test_duckdb_with_a_mistyped_warehouse_shows_404_not_403(server, acme, layout):
    import duckdb

    org, keys = acme
    con = new_duckdb_connection()
    try:
        with pytest.raises(duckdb.Error) as raised:
            duckdb_attach(con, server, layout, client_id=keys["reader"]["key"], client_secret=keys["reader"]["secret"], org=org, env="prd")
            con.execute("SHOW ALL TABLES").fetchall()
        text = str(raised.value)
        assert "403" not in text and "Forbidden" not in text, text
        assert "404" in text or "Not Found" in text or "NoSuchWarehouse" in text or "Unable to find warehouse" in text, text
    finally:
        con.close()


SCHEMA = pa.schema([pa.field("id", pa.int64())])


def test_a_dotted_table_name_given_as_one_string_is_explained(server, layout, catalog):
    cluster = unique("lkc").replace("_", "-")
    catalog.create_namespace(cluster)
    try:
        catalog.create_table((cluster, "orders.v1"), schema=SCHEMA)
        assert catalog.load_table((cluster, "orders.v1")) is not None
        with pytest.raises(NoSuchTableError) as raised:
            catalog.load_table(f"{cluster}.orders.v1")
        text = str(raised.value)
        assert f"Table does not exist: {cluster}.orders.v1" in text, text
        assert f"namespace {cluster}.orders, table v1" in text, text
        assert f'use the tuple form ("{cluster}", "orders.v1")' in text, text

        # the same for a view, by raw HTTP, and for a namespace
        prefix = server.api_prefix(layout)
        r = server.http().get(f"{prefix}/namespaces/{quote(cluster)}%1Forders/views/v1", timeout=TIMEOUT)
        err = assert_iceberg_error(r, 404, "NoSuchViewException")
        assert err["message"].startswith(f"View does not exist: {cluster}.orders.v1 (namespace {cluster}.orders, view v1)"), err
        assert f'("{cluster}", "orders.v1")' in err["message"], err
        with pytest.raises(NoSuchNamespaceError) as raised:
            catalog.load_namespace_properties(f"{cluster}.orders")
        text = str(raised.value)
        assert f'Namespace does not exist: {cluster}.orders (levels "{cluster}", "orders")' in text, text
        # a plain name keeps the words Iceberg clients check
        with pytest.raises(NoSuchTableError) as raised:
            catalog.load_table((cluster, "missing"))
        assert str(raised.value).endswith(f"Table does not exist: {cluster}.missing"), str(raised.value)
    finally:
        for ident in catalog.list_tables(cluster):
            catalog.purge_table(ident)
        catalog.drop_namespace(cluster)
