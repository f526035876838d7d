"""PyIceberg against frazil with the environment's warehouse on S3 (moto), both stores."""

from __future__ import annotations

from urllib.parse import urlsplit

import pyarrow as pa
import pytest

from conftest import (
    S3_ACCESS_KEY,
    S3_REGION,
    S3_SECRET_KEY,
    AdminClient,
    assert_iceberg_error,
    duckdb_attach,
    eventually,
    env_catalog,
    fetch_token,
    make_catalog,
    s3_client_properties,
    unique,
)

SCHEMA = pa.schema([pa.field("id", pa.int64()), pa.field("name", pa.string())])


def split_s3(location: str) -> tuple[str, str]:
    parts = urlsplit(location)
    assert parts.scheme in ("s3", "s3a"), location
    return parts.netloc, parts.path.lstrip("/")


@pytest.fixture
def s3_catalog(s3_server, moto_s3, layout):
    return make_catalog(s3_server, layout, **s3_client_properties(moto_s3))


def test_s3_create_append_read_purge(s3_server, s3_catalog, moto_s3):
    bucket = s3_server.extra["bucket"]
    ns = unique("s3ns")
    s3_catalog.create_namespace(ns)
    ident = f"{ns}.events"
    tbl = s3_catalog.create_table(ident, schema=SCHEMA)

    tbl_bucket, prefix = split_s3(tbl.location())
    assert tbl_bucket == bucket
    assert prefix.startswith("warehouse/"), prefix
    md_bucket, md_key = split_s3(tbl.metadata_location)
    assert md_bucket == bucket
    # the server wrote the table's first metadata file to the bucket
    assert md_key in moto_s3.keys(bucket, prefix)

    tbl.append(pa.Table.from_pylist([{"id": 1, "name": "a"}, {"id": 2, "name": "b"}], schema=SCHEMA))
    tbl.append(pa.Table.from_pylist([{"id": 3, "name": "c"}], schema=SCHEMA))

    reloaded = s3_catalog.load_table(ident)
    assert len(reloaded.metadata.snapshots) == 2
    assert reloaded.scan().to_arrow().sort_by("id").to_pylist() == [
        {"id": 1, "name": "a"},
        {"id": 2, "name": "b"},
        {"id": 3, "name": "c"},
    ]
    keys = moto_s3.keys(bucket, prefix)
    assert split_s3(reloaded.metadata_location)[1] in keys
    assert sum(k.endswith(".parquet") for k in keys) == 2, keys
    assert sum(k.endswith(".metadata.json") for k in keys) >= 3, keys

    # a second table in the same bucket, which the purge must not touch
    other = s3_catalog.create_table(f"{ns}.other", schema=SCHEMA)
    other.append(pa.Table.from_pylist([{"id": 9, "name": "z"}], schema=SCHEMA))
    _, other_prefix = split_s3(other.location())
    other_keys = moto_s3.keys(bucket, other_prefix)
    assert other_keys

    s3_catalog.purge_table(ident)
    assert not s3_catalog.table_exists(ident)
    assert eventually(lambda: moto_s3.keys(bucket, prefix.rstrip("/") + "/") == [])
    assert moto_s3.keys(bucket, other_prefix) == other_keys
    assert s3_catalog.load_table(f"{ns}.other").scan().to_arrow().to_pylist() == [{"id": 9, "name": "z"}]

    # drop without purge keeps the objects
    s3_catalog.drop_table(f"{ns}.other")
    assert moto_s3.keys(bucket, other_prefix) == other_keys
    s3_catalog.drop_namespace(ns)


def test_s3_duckdb_reads(s3_server, s3_catalog, moto_s3, layout, duckdb_con):
    """DuckDB reads the S3 table PyIceberg wrote, with its own S3 secret (no vended credentials)."""
    ns = unique("s3duck")
    s3_catalog.create_namespace(ns)
    tbl = s3_catalog.create_table(f"{ns}.t", schema=SCHEMA)
    tbl.append(pa.Table.from_pylist([{"id": 2, "name": "b"}, {"id": 1, "name": "a"}], schema=SCHEMA))
    duckdb_con.execute(
        f"CREATE SECRET moto (TYPE s3, KEY_ID '{S3_ACCESS_KEY}', SECRET '{S3_SECRET_KEY}', REGION '{S3_REGION}', "
        f"ENDPOINT '{moto_s3.endpoint.removeprefix('http://')}', URL_STYLE 'path', USE_SSL false)"
    )
    duckdb_attach(duckdb_con, s3_server, layout, extra="ACCESS_DELEGATION_MODE 'none'")
    assert duckdb_con.execute(f'SELECT id, name FROM frazil."{ns}".t ORDER BY id').fetchall() == [(1, "a"), (2, "b")]
    s3_catalog.purge_table(f"{ns}.t")
    s3_catalog.drop_namespace(ns)


def test_s3_tenant_environment_lives_below_the_root(s3_server, moto_s3):
    """An organization admin's environment on an S3 root: `{root}/{org}/{env}` in the server's
    bucket, reached with the server's S3 settings; choosing a bucket or prefix is 403."""
    bucket = s3_server.extra["bucket"]
    admin = AdminClient(s3_server)
    org = unique("s3org").replace("_", "-")
    admin.create_org(org)
    org_key = admin.create_key(org, None, "admin")
    tenant = AdminClient(s3_server, fetch_token(f"{s3_server.base_url}/oauth/token", org_key["key"], org_key["secret"]))

    for storage in [{"location": f"s3://{bucket}/warehouse/default/default"}, {"location": "s3://another-bucket/x"}, {"location": f"s3://{bucket}/warehouse/{org}/lake", "s3": {"endpoint": moto_s3.endpoint}}]:
        r = tenant.call("POST", f"/organizations/{org}/environments", json={"id": "lake", "name": "lake", "storage": storage})
        assert "server administrator" in assert_iceberg_error(r, 403, "ForbiddenException")["message"]
    # a server administrator, outside the roots: 403 naming storage_roots
    r = admin.call("POST", f"/organizations/{org}/environments", json={"id": "lake", "name": "lake", "storage": {"location": "s3://another-bucket/x"}})
    assert "storage_roots" in assert_iceberg_error(r, 403, "ForbiddenException")["message"]

    env = tenant.create_env(org, "lake")
    assert env["storage"]["location"] == f"s3://{bucket}/warehouse/{org}/lake", env
    assert env["storage"]["s3"]["endpoint"] == moto_s3.endpoint and env["storage"]["s3"]["secret_access_key_set"] is True

    writer = admin.create_key(org, "lake", "writer")
    catalog = env_catalog(s3_server, org, "lake", "tableflow", f"{writer['key']}:{writer['secret']}", **s3_client_properties(moto_s3))
    catalog.create_namespace("lkc-s3")
    tbl = catalog.create_table("lkc-s3.events", schema=SCHEMA)
    tbl.append(pa.Table.from_pylist([{"id": 1, "name": "a"}], schema=SCHEMA))
    md_bucket, md_key = split_s3(tbl.metadata_location)
    assert md_bucket == bucket and md_key.startswith(f"warehouse/{org}/lake/lkc-s3/"), tbl.metadata_location
    assert md_key in moto_s3.keys(bucket, f"warehouse/{org}/lake/")
    assert catalog.load_table("lkc-s3.events").scan().to_arrow().to_pylist() == [{"id": 1, "name": "a"}]
