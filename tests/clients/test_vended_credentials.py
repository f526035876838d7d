"""Vended credentials (`X-Iceberg-Access-Delegation: vended-credentials`, issue 15) with real
clients, on both stores.

The server's own AWS identity is moto's answer for dummy keys (AWS_ENDPOINT_URL points at moto,
as in test_provider_integrations.py), and an environment on `s3://<bucket>/warehouse/...` names a
provider integration whose role Frazil assumes through moto's STS. The clients get no S3 keys of
their own: PyIceberg, DuckDB and a raw-HTTP Snowflake sequence read and write with what the
catalog vends. moto records every AssumeRole call (`/moto-api/data.json`), so the tests check
the role, external id, session name and session policy Frazil asked for. moto does not enforce
session policies on S3, so what a credential may do is asserted from the policy, not by refusals.

STS is a moto of its own (AWS_ENDPOINT_URL_STS): moto 5.2.5's data.json fails with 500 once its
S3 has seen a multipart upload (pyarrow writes that way), so the S3 moto cannot report STS calls.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from typing import Callable, Iterator
from urllib.parse import quote, urlsplit

import boto3
import pyarrow as pa
import pytest
import requests

from conftest import (
    S3_ACCESS_KEY,
    S3_SECRET_KEY,
    AdminClient,
    FrazilServer,
    MotoS3,
    _database_for,
    assert_iceberg_error,
    bearer,
    duckdb_attach,
    env_catalog,
    fetch_token,
    make_tenant,
    moto_s3_settings,
    s3_client_properties,
    start_moto,
    start_server,
    stop_moto,
    stop_server,
    unique,
)
from test_provider_integrations import AWS_KEY, AWS_SECRET, aws_env

SCHEMA = pa.schema([pa.field("id", pa.int64()), pa.field("name", pa.string())])
ROWS = [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}]
HEADER = {"X-Iceberg-Access-Delegation": "vended-credentials"}
CREDENTIAL_KEYS = {"s3.access-key-id", "s3.secret-access-key", "s3.session-token", "s3.session-token-expires-at-ms"}
# what every vended config carries for an environment on moto (region, endpoint, path style set)
VENDED_KEYS = CREDENTIAL_KEYS | {"client.region", "s3.region", "s3.endpoint", "s3.path-style-access"}
READ_ACTIONS = {"s3:GetObject", "s3:ListBucket"}
WRITE_ACTIONS = {"s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"}
DEFAULT_DURATION_S = 3600


@dataclass
class Key:
    id: str
    secret: str

    @property
    def credential(self) -> str:
        return f"{self.id}:{self.secret}"


@dataclass
class VendingEnv:
    """An environment on moto S3 whose storage names a provider integration, with its keys."""

    server: FrazilServer
    org: str
    env: str
    bucket: str
    location: str  # the environment's storage location, s3://bucket/warehouse/org/env
    integration: dict
    writer: Key
    reader: Key

    @property
    def catalog_uri(self) -> str:
        return f"{self.server.base_url}/iceberg/catalog/organizations/{self.org}/environments/{self.env}"

    def api(self, key: Key) -> tuple[str, requests.Session]:
        """The Tableflow-layout API prefix and a session with `key`'s token."""
        s = requests.Session()
        s.headers.update(bearer(fetch_token(f"{self.catalog_uri}/v1/oauth/tokens", key.id, key.secret)))
        return f"{self.catalog_uri}/v1", s


@pytest.fixture(scope="module")
def moto_sts(tmp_path_factory) -> Iterator[MotoS3]:
    moto = start_moto(tmp_path_factory.mktemp("moto-sts") / "moto.log")
    yield moto
    stop_moto(moto)


def _aws(moto_s3, sts_endpoint: str) -> dict:
    """The server's AWS settings: S3 on the shared moto, STS at `sts_endpoint`."""
    return {**aws_env(moto_s3.endpoint), **moto_s3_settings(moto_s3), "AWS_ENDPOINT_URL_STS": sts_endpoint}


def _new_server(store, moto_s3, s3_bucket, base, sts_endpoint: str) -> tuple[FrazilServer, list[Callable[[], None]]]:
    cleanups: list[Callable[[], None]] = []
    server = start_server(store, base, _database_for(store, base, cleanups), warehouse=f"s3://{s3_bucket}/warehouse", env=_aws(moto_s3, sts_endpoint))
    return server, cleanups


@pytest.fixture(scope="module")
def vending_server(store, moto_s3, moto_sts, s3_bucket, tmp_path_factory) -> Iterator[FrazilServer]:
    server, cleanups = _new_server(store, moto_s3, s3_bucket, tmp_path_factory.mktemp(f"frazil-vend-{store}"), moto_sts.endpoint)
    try:
        yield server
    finally:
        stop_server(server)
        for c in reversed(cleanups):
            c()


def role_arn() -> str:
    """A role of its own per environment: moto's records of other tests never match it."""
    return f"arn:aws:iam::123456789012:role/frazil-vend-{uuid.uuid4().hex[:12]}"


def new_vending_env(server: FrazilServer, bucket: str, integration: bool = True) -> VendingEnv:
    admin = AdminClient(server)
    t = make_tenant(server, admin, server.base_dir)
    created = {}
    if integration:
        created = admin.call(
            "POST",
            f"/organizations/{t.org}/environments/{t.env}/provider-integrations",
            json={"name": "lake", "aws": {"customer_role_arn": role_arn()}},
            expect=201,
        ).json()
        # a server administrator names the integration in the environment's storage
        patched = admin.call("PATCH", f"/organizations/{t.org}/environments/{t.env}", json={"storage": {"provider_integration": created["id"]}}, expect=200).json()
        assert patched["storage"]["provider_integration"] == created["id"]
    keys = {role: admin.create_key(t.org, t.env, role) for role in ("writer", "reader")}
    return VendingEnv(
        server=server,
        org=t.org,
        env=t.env,
        bucket=bucket,
        location=t.info["storage"]["location"],
        integration=created,
        writer=Key(keys["writer"]["key"], keys["writer"]["secret"]),
        reader=Key(keys["reader"]["key"], keys["reader"]["secret"]),
    )


@pytest.fixture(scope="module")
def vending(vending_server, s3_bucket) -> VendingEnv:
    return new_vending_env(vending_server, s3_bucket)


@pytest.fixture(scope="module")
def plain_env(vending_server, s3_bucket) -> VendingEnv:
    """An environment on the same S3 storage (with the server's static keys) and no integration."""
    return new_vending_env(vending_server, s3_bucket, integration=False)


def assumed_roles(moto_sts, arn: str) -> list[dict]:
    """moto's record of every AssumeRole call for `arn`, oldest first."""
    r = requests.get(f"{moto_sts.endpoint}/moto-api/data.json", timeout=10)
    assert r.status_code == 200, r.text[:300]
    data = r.json()
    return [r for r in data.get("sts", {}).get("AssumedRole", []) if r["role_arn"] == arn]


def vended_sessions(moto_sts, arn: str) -> list[dict]:
    """The AssumeRole calls that vended credentials: those with a session policy (Frazil's own
    I/O assumes the role without one)."""
    return [r for r in assumed_roles(moto_sts, arn) if r.get("policy")]


def split_s3(location: str) -> tuple[str, str]:
    parts = urlsplit(location)
    assert parts.scheme == "s3", location
    return parts.netloc, parts.path.strip("/")


def policy_grants(policy: str) -> dict[str, list[dict]]:
    """action -> the statements allowing it (each with its resources and condition)."""
    grants: dict[str, list[dict]] = {}
    statements = json.loads(policy)["Statement"]
    for st in statements if isinstance(statements, list) else [statements]:
        assert st["Effect"] == "Allow", st
        actions = st["Action"] if isinstance(st["Action"], list) else [st["Action"]]
        for action in actions:
            grants.setdefault(action, []).append(st)
    return grants


def resources(statement: dict) -> list[str]:
    r = statement["Resource"]
    return r if isinstance(r, list) else [r]


def assert_policy_scoped_to(policy: str, table_location: str, writes: bool) -> None:
    """The session policy allows exactly the role's actions, on the table's location only."""
    bucket, prefix = split_s3(table_location)
    grants = policy_grants(policy)
    expected = READ_ACTIONS | (WRITE_ACTIONS if writes else set())
    assert set(grants) == expected, (sorted(grants), policy)
    for action in expected - {"s3:ListBucket"}:
        for st in grants[action]:
            assert resources(st) == [f"arn:aws:s3:::{bucket}/{prefix}/*"], (action, st)
    for st in grants["s3:ListBucket"]:
        assert resources(st) == [f"arn:aws:s3:::{bucket}"], st
        condition = json.dumps(st.get("Condition"))
        assert "s3:prefix" in condition and prefix in condition, st
        listed = [p for ps in st["Condition"].values() for v in ps.values() for p in (v if isinstance(v, list) else [v])]
        assert listed and all(p.startswith(prefix) for p in listed), st


def assert_no_static_keys(text: str) -> None:
    for secret in (S3_ACCESS_KEY, S3_SECRET_KEY, AWS_KEY, AWS_SECRET):
        assert secret not in text, f"{secret!r} handed to a client"


def load(v: VendingEnv, key: Key, ns: str, table: str, headers: dict | None = None) -> requests.Response:
    base, s = v.api(key)
    return s.get(f"{base}/namespaces/{quote(ns, safe='')}/tables/{quote(table, safe='')}", headers=headers or {}, timeout=30)


def make_table(v: VendingEnv, rows=ROWS) -> tuple[str, str]:
    """A table written by PyIceberg with the writer key and nothing but vended credentials."""
    catalog = env_catalog(v.server, v.org, v.env, "tableflow", v.writer.credential)
    ns = unique("vend")
    catalog.create_namespace(ns)
    table = catalog.create_table((ns, "events"), schema=SCHEMA)
    table.append(pa.Table.from_pylist(rows, schema=SCHEMA))
    return ns, "events"


# --------------------------------------------------------------------------------------------
# PyIceberg


def test_pyiceberg_writes_and_reads_with_vended_credentials_only(vending, moto_sts, layout):
    """A writer creates, appends and reads back; a reader reads; neither has S3 keys of its own
    (PyIceberg sends the header by default). moto saw one AssumeRole per role, for the
    integration's role and external id, naming the key, scoped to the table."""
    v = vending
    arn = v.integration["aws"]["customer_role_arn"]
    writer = env_catalog(v.server, v.org, v.env, layout, v.writer.credential)
    assert not [k for k in writer.properties if k.startswith("s3.")], writer.properties
    ns = unique("py")
    writer.create_namespace(ns)
    table = writer.create_table((ns, "events"), schema=SCHEMA)
    # the table's FileIO got vended credentials and the environment's endpoint from the catalog
    assert CREDENTIAL_KEYS <= set(table.io.properties), sorted(table.io.properties)
    table.append(pa.Table.from_pylist(ROWS, schema=SCHEMA))
    assert writer.load_table((ns, "events")).scan().to_arrow().sort_by("id").to_pylist() == ROWS
    location = table.location()
    assert location.startswith(v.location + "/"), (location, v.location)

    reader = env_catalog(v.server, v.org, v.env, layout, v.reader.credential)
    read = reader.load_table((ns, "events"))
    assert read.scan().to_arrow().sort_by("id").to_pylist() == ROWS
    assert read.io.properties["s3.access-key-id"] != table.io.properties["s3.access-key-id"]

    sessions = {s["access_key_id"]: s for s in vended_sessions(moto_sts, arn)}
    for key, io, writes in [(v.writer, table.io, True), (v.reader, read.io, False)]:
        session = sessions.get(io.properties["s3.access-key-id"])
        assert session is not None, f"{io.properties['s3.access-key-id']} is not a key moto issued for {arn}"
        assert session["external_id"] == v.integration["aws"]["external_id"]
        assert key.id in session["session_name"], (key.id, session["session_name"])
        assert_policy_scoped_to(session["policy"], location, writes)
        assert io.properties["s3.secret-access-key"] == session["secret_access_key"]
        assert io.properties["s3.session-token"] == session["session_token"]


# --------------------------------------------------------------------------------------------
# DuckDB


def test_duckdb_reads_with_vended_credentials(vending, duckdb_con, layout):
    """DuckDB with `ACCESS_DELEGATION_MODE 'vended_credentials'` and no S3 secret reads the table:
    endpoint, path style and keys all come from the catalog's answer."""
    v = vending
    ns, name = make_table(v)
    duckdb_attach(
        duckdb_con, v.server, layout, org=v.org, env=v.env, client_id=v.reader.id, client_secret=v.reader.secret,
        extra="ACCESS_DELEGATION_MODE 'vended_credentials'",
    )
    assert duckdb_con.execute("SELECT count(*) FROM duckdb_secrets() WHERE type = 's3' AND name NOT LIKE '__internal_ic_%'").fetchone() == (0,)
    rows = duckdb_con.execute(f'SELECT id, name FROM frazil."{ns}"."{name}" ORDER BY id').fetchall()
    assert rows == [(r["id"], r["name"]) for r in ROWS]
    # DuckDB read with an S3 secret it made from the answer: the reader's vended key, scoped to
    # the table, with the environment's endpoint and addressing
    vended = load(v, v.reader, ns, name, HEADER).json()
    made = duckdb_con.execute("SELECT scope, secret_string FROM duckdb_secrets() WHERE type = 's3'").fetchall()
    assert made, "DuckDB made no S3 secret"
    for scope, secret in made:
        assert scope == [vended["metadata"]["location"]], scope
        assert f"key_id={vended['config']['s3.access-key-id']};" in secret, secret
        assert f"endpoint={urlsplit(vended['config']['s3.endpoint']).netloc};" in secret and "url_style=path" in secret, secret


# --------------------------------------------------------------------------------------------
# Snowflake's sequence, on the wire


def test_snowflake_sequence_downloads_files_with_only_the_vended_credentials(vending, moto_s3):
    """token (form body, scope catalog) -> config (warehouse) -> loadTable with the header -> boto3
    with only the returned credentials reads the metadata file and a data file."""
    v = vending
    ns, name = make_table(v)
    uri = f"{v.server.base_url}/iceberg/catalog"
    r = requests.post(
        f"{uri}/v1/oauth/tokens",
        data={"grant_type": "client_credentials", "client_id": v.reader.id, "client_secret": v.reader.secret, "scope": "catalog"},
        timeout=30,
    )
    assert r.status_code == 200, r.text
    headers = bearer(r.json()["access_token"])
    r = requests.get(f"{uri}/v1/config", params={"warehouse": f"{v.org}/{v.env}"}, headers=headers, timeout=30)
    assert r.status_code == 200, r.text
    prefix = r.json()["overrides"]["prefix"]
    before_ms = time.time() * 1000
    r = requests.get(f"{uri}/v1/{prefix}/namespaces/{quote(ns, safe='')}/tables/{name}", headers={**headers, **HEADER}, timeout=30)
    assert r.status_code == 200, r.text
    answer = r.json()
    config = answer["config"]
    assert VENDED_KEYS <= set(config), sorted(config)
    assert config["s3.endpoint"] == moto_s3.endpoint and config["s3.path-style-access"] == "true"
    location = answer["metadata"]["location"]
    assert answer["storage-credentials"] == [{"prefix": location, "config": {k: config[k] for k in answer["storage-credentials"][0]["config"]}}]
    assert CREDENTIAL_KEYS <= set(answer["storage-credentials"][0]["config"])
    expires_ms = int(config["s3.session-token-expires-at-ms"])
    assert before_ms + (DEFAULT_DURATION_S - 6 * 60) * 1000 < expires_ms <= time.time() * 1000 + DEFAULT_DURATION_S * 1000 + 5000, (expires_ms, before_ms)
    assert_no_static_keys(r.text)

    s3 = boto3.client(
        "s3",
        endpoint_url=config["s3.endpoint"],
        aws_access_key_id=config["s3.access-key-id"],
        aws_secret_access_key=config["s3.secret-access-key"],
        aws_session_token=config["s3.session-token"],
        region_name=config["s3.region"],
        config=boto3.session.Config(s3={"addressing_style": "path"}),
    )
    bucket, key = split_s3(answer["metadata-location"])
    metadata = json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    assert metadata["table-uuid"] == answer["metadata"]["table-uuid"]
    _, table_prefix = split_s3(location)
    listed = s3.list_objects_v2(Bucket=bucket, Prefix=f"{table_prefix}/data/")["Contents"]
    data_file = next(o["Key"] for o in listed if o["Key"].endswith(".parquet"))
    body = s3.get_object(Bucket=bucket, Key=data_file)["Body"].read()
    assert body[:4] == b"PAR1" and body[-4:] == b"PAR1"


# --------------------------------------------------------------------------------------------
# the credentials route, the header, ETags


def test_credentials_route_and_the_header(vending):
    """The credentials route returns what loadTable's storage-credentials holds; without the
    header loadTable has no credentials; a vended answer's ETag names its credentials."""
    v = vending
    ns, name = make_table(v)
    for key in (v.reader, v.writer):
        vended = load(v, key, ns, name, HEADER)
        assert vended.status_code == 200, vended.text
        base, s = v.api(key)
        creds = s.get(f"{base}/namespaces/{ns}/tables/{name}/credentials", timeout=30)
        assert creds.status_code == 200, creds.text
        assert creds.json()["storage-credentials"] == vended.json()["storage-credentials"]
        # the header is a list, in any case
        shouted = load(v, key, ns, name, {"X-Iceberg-Access-Delegation": "remote-signing ,  Vended-Credentials"})
        assert shouted.json()["storage-credentials"] == vended.json()["storage-credentials"]

        plain = load(v, key, ns, name)
        assert plain.status_code == 200
        assert "storage-credentials" not in plain.json()
        assert not CREDENTIAL_KEYS & set(plain.json()["config"]), plain.json()["config"]
        assert plain.json()["metadata"] == vended.json()["metadata"]
        # the vended keys are merged over the environment's settings
        assert vended.json()["config"] == {**plain.json()["config"], **vended.json()["storage-credentials"][0]["config"]}
        # ETags: a 304 only while the client holds the answer it would get now
        plain_tag, vended_tag = plain.headers["ETag"], vended.headers["ETag"]
        assert plain_tag != vended_tag
        assert load(v, key, ns, name, {**HEADER, "If-None-Match": vended_tag}).status_code == 304
        assert load(v, key, ns, name, {"If-None-Match": plain_tag}).status_code == 304
        fresh = load(v, key, ns, name, {**HEADER, "If-None-Match": plain_tag})
        assert fresh.status_code == 200 and fresh.json()["storage-credentials"] == vended.json()["storage-credentials"]
        unvended = load(v, key, ns, name, {"If-None-Match": vended_tag})
        assert unvended.status_code == 200 and "storage-credentials" not in unvended.json()
    # readers and writers get different credentials for the same table
    reader = load(v, v.reader, ns, name, HEADER).json()["config"]["s3.access-key-id"]
    writer = load(v, v.writer, ns, name, HEADER).json()["config"]["s3.access-key-id"]
    assert reader != writer


def test_an_environment_without_an_integration_vends_nothing(plain_env, moto_s3):
    """The header is ignored: no credentials, never the server's static keys; 304 still works;
    the credentials route answers an empty list."""
    v = plain_env
    catalog = env_catalog(v.server, v.org, v.env, "tableflow", v.writer.credential, **s3_client_properties(moto_s3))
    ns = unique("plain")
    catalog.create_namespace(ns)
    catalog.create_table((ns, "t"), schema=SCHEMA).append(pa.Table.from_pylist(ROWS, schema=SCHEMA))
    with_header = load(v, v.reader, ns, "t", HEADER)
    without = load(v, v.reader, ns, "t")
    assert with_header.status_code == 200 and without.status_code == 200
    assert with_header.content == without.content and with_header.headers["ETag"] == without.headers["ETag"]
    assert "storage-credentials" not in with_header.json()
    assert not CREDENTIAL_KEYS & set(with_header.json()["config"])
    assert_no_static_keys(with_header.text)
    assert load(v, v.reader, ns, "t", {**HEADER, "If-None-Match": with_header.headers["ETag"]}).status_code == 304
    base, s = v.api(v.reader)
    creds = s.get(f"{base}/namespaces/{ns}/tables/t/credentials", headers=HEADER, timeout=30)
    assert creds.status_code == 200 and creds.json() == {"storage-credentials": []}, creds.text


# --------------------------------------------------------------------------------------------
# create, stage-create, register, Idempotency-Key


def test_create_and_register_vend_and_replays_get_fresh_credentials(vending):
    """createTable (staged too) and registerTable answer with credentials for their caller; a
    retry with the same Idempotency-Key replays the table with credentials (the header of the
    retry decides), and no credential is stored with the key."""
    v = vending
    base, s = v.api(v.writer)
    ns = unique("idem")
    assert s.post(f"{base}/namespaces", json={"namespace": [ns]}, timeout=30).status_code == 200
    schema = {"type": "struct", "schema-id": 0, "fields": [{"id": 1, "name": "id", "type": "long", "required": False}]}
    secrets: list[str] = []
    for body in [{"name": "created", "schema": schema}, {"name": "staged", "schema": schema, "stage-create": True}]:
        key = {"Idempotency-Key": str(uuid.uuid4())}
        first = s.post(f"{base}/namespaces/{ns}/tables", json=body, headers={**HEADER, **key}, timeout=30)
        assert first.status_code == 200, first.text
        answer = first.json()
        assert answer["storage-credentials"][0]["prefix"] == answer["metadata"]["location"]
        assert CREDENTIAL_KEYS <= set(answer["config"])
        secrets += [answer["config"]["s3.secret-access-key"], answer["config"]["s3.session-token"]]
        replay = s.post(f"{base}/namespaces/{ns}/tables", json=body, headers={**HEADER, **key}, timeout=30)
        assert replay.status_code == 200, replay.text
        assert replay.json()["storage-credentials"] == answer["storage-credentials"]
        assert replay.headers.get("ETag") == first.headers.get("ETag")
        bare = s.post(f"{base}/namespaces/{ns}/tables", json=body, headers=key, timeout=30)
        assert bare.status_code == 200 and "storage-credentials" not in bare.json(), bare.text
        assert not CREDENTIAL_KEYS & set(bare.json()["config"])

    created = load(v, v.writer, ns, "created").json()
    register = {"name": "registered", "metadata-location": created["metadata-location"]}
    # a second table on the same location is refused, so register the first one's file elsewhere
    s.delete(f"{base}/namespaces/{ns}/tables/created", timeout=30)
    key = {"Idempotency-Key": str(uuid.uuid4())}
    registered = s.post(f"{base}/namespaces/{ns}/register", json=register, headers={**HEADER, **key}, timeout=30)
    assert registered.status_code == 200, registered.text
    assert registered.json()["storage-credentials"][0]["prefix"] == created["metadata"]["location"]
    replay = s.post(f"{base}/namespaces/{ns}/register", json=register, headers={**HEADER, **key}, timeout=30)
    assert replay.status_code == 200 and replay.json()["storage-credentials"] == registered.json()["storage-credentials"]

    if v.server.store == "sqlite":
        db = v.server.base_dir / "frazil.db"
        stored = b"".join(p.read_bytes() for p in db.parent.glob("frazil.db*"))
        for secret in secrets:
            assert secret.encode() not in stored, "a vended credential was stored with an idempotency key"


# --------------------------------------------------------------------------------------------
# STS failing


def test_a_failing_sts_is_503_naming_the_integration(store, moto_s3, moto_sts, s3_bucket, tmp_path):
    """Frazil restarted with STS unreachable (AWS_ENDPOINT_URL_STS at a closed port): a table of
    an environment with an integration answers 503 ServiceUnavailableException naming the
    integration, on loadTable with the header and on the credentials route, with no secret in
    the answer; so do creates, and one that saved its table says so."""
    server, cleanups = _new_server(store, moto_s3, s3_bucket, tmp_path, moto_sts.endpoint)
    try:
        v = new_vending_env(server, s3_bucket)
        ns, name = make_table(v)
        pi = v.integration
        stop_server(server)
        server = start_server(store, tmp_path, server.database_url, warehouse=server.warehouse, env=_aws(moto_s3, "http://127.0.0.1:1"))
        v.server = server

        base, s = v.api(v.reader)
        for r in [
            s.get(f"{base}/namespaces/{ns}/tables/{name}", headers=HEADER, timeout=60),
            s.get(f"{base}/namespaces/{ns}/tables/{name}/credentials", timeout=60),
        ]:
            err = assert_iceberg_error(r, 503, "ServiceUnavailableException")
            assert pi["id"] in err["message"], err
            assert pi["aws"]["external_id"] not in r.text
            assert_no_static_keys(r.text)

        # creates: 503 too; the message says the table was saved exactly when it was, and then
        # a retry with the same Idempotency-Key gets the table (not "already exists")
        base, s = v.api(v.writer)
        schema = {"type": "struct", "schema-id": 0, "fields": [{"id": 1, "name": "id", "type": "long", "required": False}]}
        for body in [{"name": "staged", "schema": schema, "stage-create": True}, {"name": "created", "schema": schema}]:
            key = {"Idempotency-Key": str(uuid.uuid4())}
            r = s.post(f"{base}/namespaces/{ns}/tables", json=body, headers={**HEADER, **key}, timeout=60)
            err = assert_iceberg_error(r, 503, "ServiceUnavailableException")
            assert pi["id"] in err["message"], err
            assert pi["aws"]["external_id"] not in r.text
            exists = s.head(f"{base}/namespaces/{ns}/tables/{body['name']}", timeout=60).status_code == 204
            assert ("was saved" in err["message"]) == exists, (exists, err)
            if exists:
                retry = s.post(f"{base}/namespaces/{ns}/tables", json=body, headers=key, timeout=60)
                assert retry.status_code == 200, retry.text
                assert retry.json()["metadata-location"] and "storage-credentials" not in retry.json()
        assert "panicked" not in server.log_text()
    finally:
        stop_server(server)
        for c in reversed(cleanups):
            c()
