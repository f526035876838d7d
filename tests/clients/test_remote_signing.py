"""S3 remote signing: clients without S3 credentials of their own have Frazil sign each S3 request.

The S3 here is a moto server of this module's own that checks SigV4 signatures (moto's IAM
authentication, on after the few set-up calls): a request it accepts was signed with the
environment's keys, and an unsigned or wrongly signed one is refused. Frazil's environment uses
the keys of a moto IAM user; the PyIceberg clients get none.
"""

from __future__ import annotations

import json
import subprocess
from urllib.parse import quote, urlsplit

import boto3
import pyarrow as pa
import pytest
import requests

from conftest import (
    ENV,
    ORG,
    S3_REGION,
    AdminClient,
    _database_for,
    assert_iceberg_error,
    env_catalog,
    fetch_token,
    make_tenant,
    start_server,
    stop_server,
    start_moto,
    stop_moto,
    unique,
)

SCHEMA = pa.schema([pa.field("id", pa.int64()), pa.field("name", pa.string())])
SCHEMA_JSON = {"type": "struct", "schema-id": 0, "fields": [{"id": 1, "name": "id", "type": "long", "required": False}]}
ROWS = [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}]
REMOTE_SIGNING = {"header.X-Iceberg-Access-Delegation": "remote-signing"}
# moto answers these many requests before it checks signatures: the IAM user, its key and policy,
# the customer's role and its policy, and the two buckets.
SETUP_CALLS = 7
ROLE_ARN = "arn:aws:iam::123456789012:role/frazil-signer"


class SigningS3:
    """A moto server that checks signatures, with one IAM user allowed everything."""

    def __init__(self, endpoint: str, proc: subprocess.Popen, key: str, secret: str, bucket: str, customer_bucket: str):
        self.endpoint, self.proc, self.key, self.secret, self.bucket = endpoint, proc, key, secret, bucket
        self.customer_bucket = customer_bucket

    def client(self):
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=self.key,
            aws_secret_access_key=self.secret,
            region_name=S3_REGION,
        )


@pytest.fixture(scope="module")
def signing_s3(tmp_path_factory) -> SigningS3:
    moto = start_moto(tmp_path_factory.mktemp("moto-auth") / "moto.log", env={"INITIAL_NO_AUTH_ACTION_COUNT": str(SETUP_CALLS)})
    endpoint, proc = moto.endpoint, moto.proc
    try:
        iam = boto3.client("iam", endpoint_url=endpoint, aws_access_key_id="setup", aws_secret_access_key="setup", region_name=S3_REGION)
        iam.create_user(UserName="frazil")
        key = iam.create_access_key(UserName="frazil")["AccessKey"]
        everything = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
        iam.put_user_policy(UserName="frazil", PolicyName="all", PolicyDocument=json.dumps(everything))
        # a customer's role (a provider integration), which Frazil's own identity (the user) assumes
        trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}]}
        iam.create_role(RoleName="frazil-signer", AssumeRolePolicyDocument=json.dumps(trust))
        iam.put_role_policy(RoleName="frazil-signer", PolicyName="all", PolicyDocument=json.dumps(everything))
        s3 = SigningS3(endpoint, proc, key["AccessKeyId"], key["SecretAccessKey"], unique("signed").replace("_", "-"), unique("customer").replace("_", "-"))
        s3.client().create_bucket(Bucket=s3.bucket)
        s3.client().create_bucket(Bucket=s3.customer_bucket)
        yield s3
    finally:
        stop_moto(moto)


@pytest.fixture(scope="module")
def server(signing_s3: SigningS3, tmp_path_factory):
    """A frazil (SQLite) whose default environment is s3://<bucket>/warehouse on that moto, with
    the IAM user's keys as its static S3 keys."""
    base = tmp_path_factory.mktemp("frazil-signing")
    cleanups: list = []
    settings = {
        "FRAZIL_S3_ENDPOINT": signing_s3.endpoint,
        "FRAZIL_S3_REGION": S3_REGION,
        "FRAZIL_S3_ACCESS_KEY_ID": signing_s3.key,
        "FRAZIL_S3_SECRET_ACCESS_KEY": signing_s3.secret,
        "FRAZIL_S3_PATH_STYLE": "true",
        "FRAZIL_S3_ALLOW_HTTP": "true",
        # Frazil's own AWS identity (the IAM user), for STS: it assumes provider integrations' roles
        "AWS_ACCESS_KEY_ID": signing_s3.key,
        "AWS_SECRET_ACCESS_KEY": signing_s3.secret,
        "AWS_SESSION_TOKEN": None,
        "AWS_PROFILE": None,
        "AWS_REGION": S3_REGION,
        "AWS_ENDPOINT_URL": signing_s3.endpoint,
    }
    db_url = _database_for("sqlite", base, cleanups)
    srv = start_server("sqlite", base, db_url, warehouse=f"s3://{signing_s3.bucket}/warehouse", env=settings)
    try:
        yield srv
    finally:
        stop_server(srv)


@pytest.fixture(scope="module")
def keys(server) -> dict:
    """A writer's and a reader's API key of the default environment, as `key:secret`."""
    admin = AdminClient(server)
    made = {role: admin.create_key(ORG, ENV, role) for role in ("writer", "reader")}
    return {role: f"{k['key']}:{k['secret']}" for role, k in made.items()}


@pytest.fixture(autouse=True)
def no_aws_credentials(monkeypatch):
    """The client side has no AWS credentials at all: only signatures from Frazil get it in."""
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")


def signing_catalog(server, layout: str, credential: str):
    return env_catalog(server, ORG, ENV, layout, credential, **REMOTE_SIGNING)


def token_of(server, credential: str) -> str:
    client_id, secret = credential.split(":", 1)
    return fetch_token(f"{server.base_url}/oauth/token", client_id, secret)


def sign_url(server, layout: str, ns: str, table: str) -> str:
    prefix = "" if layout == "tableflow" else f"/{ORG}/{ENV}"
    return f"{server.catalog_uri(layout)}/v1{prefix}/namespaces/{quote(ns)}/tables/{quote(table)}/sign"


def object_url(s3: SigningS3, location: str) -> str:
    parts = urlsplit(location)
    return f"{s3.endpoint}/{parts.netloc}/{quote(parts.path.lstrip('/'))}"


def sign(server, token: str, url: str, method: str, uri: str, headers: dict | None = None, body: str | None = None):
    request = {"region": S3_REGION, "uri": uri, "method": method, "headers": headers or {}}
    if body is not None:
        request["body"] = body
    return requests.post(url, json=request, headers={"Authorization": f"Bearer {token}"}, timeout=30)


@pytest.fixture(scope="module")
def written(server, keys, signing_s3) -> dict:
    """A table created and appended to by a writer through the signer (tableflow layout)."""
    catalog = signing_catalog(server, "tableflow", keys["writer"])
    ns = unique("signed")
    catalog.create_namespace(ns)
    table = catalog.create_table(f"{ns}.events", schema=SCHEMA)
    table.append(pa.Table.from_pylist(ROWS, schema=SCHEMA))
    return {"ns": ns, "table": catalog.load_table(f"{ns}.events")}


def test_the_signer_is_advertised_and_configured_only_when_asked_for(server, keys, written):
    token = token_of(server, keys["reader"])
    auth = {"Authorization": f"Bearer {token}"}
    config = requests.get(f"{server.tableflow_uri}/v1/config", headers=auth, timeout=10).json()
    assert "POST /v1/{prefix}/namespaces/{namespace}/tables/{table}/sign" in config["endpoints"]

    table_url = f"{server.tableflow_uri}/v1/namespaces/{written['ns']}/tables/events"
    plain_answer = requests.get(table_url, headers=auth, timeout=10)
    plain = plain_answer.json()["config"]
    assert "s3.remote-signing-enabled" not in plain and "s3.signer" not in plain
    asked = {**auth, "X-Iceberg-Access-Delegation": "vended-credentials,remote-signing"}
    # the plain answer's ETag does not stand for the signing one: no 304 with it
    signing_answer = requests.get(table_url, headers={**asked, "If-None-Match": plain_answer.headers["ETag"]}, timeout=10)
    assert signing_answer.status_code == 200
    again = requests.get(table_url, headers={**asked, "If-None-Match": signing_answer.headers["ETag"]}, timeout=10)
    assert again.status_code == 304
    signing = signing_answer.json()["config"]
    assert signing["s3.remote-signing-enabled"] == "true"
    assert signing["s3.signer"] == "S3V4RestSigner"
    assert signing["s3.signer.uri"] == server.tableflow_uri
    assert signing["s3.signer.endpoint"] == f"v1/namespaces/{written['ns']}/tables/events/sign"
    assert signing["s3.region"] == S3_REGION and signing["s3.path-style-access"] == "true"
    # nothing secret: no keys and no token are handed out
    assert not any(k in signing for k in ("s3.access-key-id", "s3.secret-access-key", "token"))


def test_a_writer_without_s3_keys_creates_appends_and_reads_through_the_signer(server, keys, signing_s3, written):
    table = written["table"]
    assert type(table.io).__name__ == "FsspecFileIO"
    assert table.scan().to_arrow().sort_by("id").to_pylist() == ROWS
    # the data and metadata the client wrote are in the bucket
    bucket, prefix = urlsplit(table.location()).netloc, urlsplit(table.location()).path.lstrip("/")
    listed = signing_s3.client().list_objects_v2(Bucket=bucket, Prefix=f"{prefix}/")
    names = [o["Key"] for o in listed.get("Contents", [])]
    assert any(n.endswith(".parquet") for n in names), names
    assert any(n.endswith(".avro") for n in names), names


@pytest.mark.parametrize("layout", ["tableflow", "warehouse"])
def test_a_reader_reads_through_the_signer(server, keys, written, layout):
    catalog = signing_catalog(server, layout, keys["reader"])
    table = catalog.load_table(f"{written['ns']}.events")
    assert table.scan().to_arrow().sort_by("id").to_pylist() == ROWS


def test_a_signed_request_is_accepted_by_s3_and_an_unsigned_one_is_not(server, keys, signing_s3, written):
    table = written["table"]
    uri = object_url(signing_s3, table.metadata_location)
    assert requests.get(uri, timeout=10).status_code == 403
    token = token_of(server, keys["reader"])
    r = sign(server, token, sign_url(server, "warehouse", written["ns"], "events"), "GET", uri)
    assert r.status_code == 200, r.text
    assert r.headers["Cache-Control"] == "no-cache"
    signed = r.json()
    assert signed["uri"] == uri
    assert signed["headers"]["authorization"][0].startswith(f"AWS4-HMAC-SHA256 Credential={signing_s3.key}/")
    headers = {name: ", ".join(values) for name, values in signed["headers"].items()}
    fetched = requests.get(signed["uri"], headers=headers, timeout=10)
    assert fetched.status_code == 200, fetched.text
    assert json.loads(fetched.content)["location"] == table.location()


def test_a_readers_write_is_refused(server, keys, signing_s3, written):
    table = written["table"]
    uri = object_url(signing_s3, f"{table.location()}/data/forged.parquet")
    url = sign_url(server, "tableflow", written["ns"], "events")
    reader = token_of(server, keys["reader"])
    for method in ("PUT", "DELETE", "POST"):
        err = assert_iceberg_error(sign(server, reader, url, method, uri), 403, "ForbiddenException")
        assert "read-only" in err["message"], err
    # the same write is signed for a writer
    assert sign(server, token_of(server, keys["writer"]), url, "PUT", uri).status_code == 200


def test_uris_outside_the_table_are_refused(server, keys, signing_s3, written):
    catalog = signing_catalog(server, "tableflow", keys["writer"])
    other = catalog.create_table(f"{written['ns']}.other", schema=SCHEMA)
    table = written["table"]
    url = sign_url(server, "tableflow", written["ns"], "events")
    writer = token_of(server, keys["writer"])
    bucket = urlsplit(table.location()).netloc
    outside = [
        object_url(signing_s3, other.metadata_location),
        object_url(signing_s3, f"{table.location()}-2/data/x.parquet"),
        object_url(signing_s3, f"{table.location()}/../other/x"),
        f"{signing_s3.endpoint}/another-bucket/{urlsplit(table.location()).path.lstrip('/')}/x",
        f"{signing_s3.endpoint}/{bucket}?list-type=2&prefix=warehouse/",
        f"http://elsewhere.example/{bucket}/{urlsplit(table.location()).path.lstrip('/')}/x",
    ]
    for uri in outside:
        err = assert_iceberg_error(sign(server, writer, url, "GET", uri), 403, "ForbiddenException")
        assert "events" in err["message"], err
    # DeleteObjects is judged by the keys in its body
    other_key = urlsplit(other.metadata_location).path.lstrip("/")
    body = f"<Delete><Object><Key>{other_key}</Key></Object></Delete>"
    delete = f"{signing_s3.endpoint}/{bucket}?delete"
    assert_iceberg_error(sign(server, writer, url, "POST", delete, body=body), 403, "ForbiddenException")
    assert_iceberg_error(sign(server, writer, url, "POST", delete), 403, "ForbiddenException")
    # and the other table's own signer signs it
    other_url = sign_url(server, "tableflow", written["ns"], "other")
    assert sign(server, writer, other_url, "GET", object_url(signing_s3, other.metadata_location)).status_code == 200


def test_a_table_outside_s3_has_nothing_to_sign(server, keys, signing_s3, written, tmp_path):
    """An environment on file:// storage: 400, past authorization."""
    admin = AdminClient(server)
    org = unique("files").replace("_", "-")
    admin.create_org(org)
    admin.create_env(org, "local", location=(server.storage_root / org).as_uri())
    writer = admin.create_key(org, "local", "writer")
    token = token_of(server, f"{writer['key']}:{writer['secret']}")
    base = f"{server.base_url}/iceberg/catalog/organizations/{org}/environments/local/v1"
    auth = {"Authorization": f"Bearer {token}"}
    assert requests.post(f"{base}/namespaces", json={"namespace": ["n"]}, headers=auth, timeout=10).status_code == 200
    created = requests.post(f"{base}/namespaces/n/tables", json={"name": "t", "schema": SCHEMA_JSON}, headers=auth, timeout=10)
    assert created.status_code == 200, created.text
    asked = {**auth, "X-Iceberg-Access-Delegation": "remote-signing"}
    config = requests.get(f"{base}/namespaces/n/tables/t", headers=asked, timeout=10).json()["config"]
    assert "s3.remote-signing-enabled" not in config
    uri = object_url(signing_s3, f"s3://{signing_s3.bucket}/x")
    err = assert_iceberg_error(sign(server, token, f"{base}/namespaces/n/tables/t/sign", "GET", uri), 400)
    assert "not on S3" in err["message"], err


def test_a_missing_table_or_no_token_is_not_signed(server, keys, signing_s3, written):
    uri = object_url(signing_s3, written["table"].metadata_location)
    reader = token_of(server, keys["reader"])
    missing = sign_url(server, "tableflow", written["ns"], "nope")
    assert_iceberg_error(sign(server, reader, missing, "GET", uri), 404)
    url = sign_url(server, "tableflow", written["ns"], "events")
    r = requests.post(url, json={"region": S3_REGION, "uri": uri, "method": "GET", "headers": {}}, timeout=10)
    assert_iceberg_error(r, 401)


def test_an_environment_with_a_provider_integration_signs_with_the_role(server, signing_s3):
    """The environment's storage is the customer's bucket, reached through its role: requests are
    signed with the role's temporary credentials (from STS AssumeRole), which S3 accepts."""
    admin = AdminClient(server)
    t = make_tenant(server, admin, server.base_dir)
    body = {"name": "customer", "aws": {"customer_role_arn": ROLE_ARN}}
    path = f"/organizations/{t.org}/environments/{t.env}"
    integration = admin.call("POST", f"{path}/provider-integrations", json=body, expect=201).json()
    storage = {"location": f"s3://{signing_s3.customer_bucket}/lake", "provider_integration": integration["id"]}
    admin.call("PATCH", path, json={"storage": storage}, expect=200)

    writer = admin.create_key(t.org, t.env, "writer")
    credential = f"{writer['key']}:{writer['secret']}"
    catalog = env_catalog(server, t.org, t.env, "tableflow", credential, **REMOTE_SIGNING)
    catalog.create_namespace("ns")
    table = catalog.create_table("ns.events", schema=SCHEMA)
    table.append(pa.Table.from_pylist(ROWS, schema=SCHEMA))
    assert catalog.load_table("ns.events").scan().to_arrow().sort_by("id").to_pylist() == ROWS
    listed = signing_s3.client().list_objects_v2(Bucket=signing_s3.customer_bucket, Prefix="lake/ns/events")
    assert any(o["Key"].endswith(".parquet") for o in listed.get("Contents", [])), listed

    # a signed GET carries the role's session: an STS key (ASIA...) and its token, not Frazil's
    # own key; S3 accepts it
    token = token_of(server, credential)
    uri = object_url(signing_s3, table.metadata_location)
    url = f"{t.catalog_uri}/v1/namespaces/ns/tables/events/sign"
    signed = sign(server, token, url, "GET", uri)
    assert signed.status_code == 200, signed.text
    headers = signed.json()["headers"]
    credential_key = headers["authorization"][0].split("Credential=")[1].split("/")[0]
    assert credential_key.startswith("ASIA") and credential_key != signing_s3.key, headers["authorization"]
    assert headers["x-amz-security-token"][0]
    fetched = requests.get(uri, headers={k: ", ".join(v) for k, v in headers.items()}, timeout=10)
    assert fetched.status_code == 200, fetched.text


def test_a_create_transaction_writes_its_first_files_through_the_signer(server, keys, signing_s3, written):
    """stage-create stores nothing until the commit, while the client writes the data files: the
    signer signs a writer's requests below the location a create would give the table."""
    catalog = signing_catalog(server, "warehouse", keys["writer"])
    with catalog.create_table_transaction(f"{written['ns']}.staged", schema=SCHEMA) as tx:
        tx.append(pa.Table.from_pylist(ROWS, schema=SCHEMA))
    table = catalog.load_table(f"{written['ns']}.staged")
    assert table.scan().to_arrow().sort_by("id").to_pylist() == ROWS

    # a location of that form for a table that does not exist: signed for a writer only, and
    # only while no table is there
    parts = urlsplit(table.location())
    stem = parts.path.lstrip("/").rsplit("-", 1)[0]
    elsewhere = f"{signing_s3.endpoint}/{parts.netloc}/{stem.rsplit('/', 1)[0]}/later-{'ab' * 16}/data/a.parquet"
    url = sign_url(server, "tableflow", written["ns"], "later")
    assert sign(server, token_of(server, keys["writer"]), url, "PUT", elsewhere).status_code == 200
    assert_iceberg_error(sign(server, token_of(server, keys["reader"]), url, "GET", elsewhere), 404)
    # another table's name: not this one's location
    taken = object_url(signing_s3, f"{table.location()}/data/b.parquet")
    assert_iceberg_error(sign(server, token_of(server, keys["writer"]), url, "PUT", taken), 404)
    # a location of that form that another table was created at
    occupied_location = f"s3://{parts.netloc}/{stem.rsplit('/', 1)[0]}/later-{'cd' * 16}"
    catalog.create_table(f"{written['ns']}.occupier", schema=SCHEMA, location=occupied_location)
    occupied = object_url(signing_s3, f"{occupied_location}/data/c.parquet")
    r = sign(server, token_of(server, keys["writer"]), url, "PUT", occupied)
    assert_iceberg_error(r, 400)
