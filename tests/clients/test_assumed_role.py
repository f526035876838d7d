"""Bring your own bucket (issue 15): an environment whose storage names a provider integration is
reached with the integration's role (STS AssumeRole with its external id), never with Frazil's
own credentials, so an organization or environment admin may put it in any bucket.

A moto server of this module's own records every request (its recorder), so that the tests can
tell whose key signed each of Frazil's S3 requests; moto's `/moto-api/data.json` lists the roles
STS was asked for. The server's own AWS identity is a dummy key at moto (as in
test_provider_integrations.py); the storage root's S3 settings carry other static keys.
"""

from __future__ import annotations

import base64
import json
import re
import threading
import time
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable, Iterator
from urllib.parse import parse_qs

import pyarrow as pa
import pytest
import requests

from conftest import (
    S3_ACCESS_KEY,
    AdminClient,
    MotoS3,
    _database_for,
    assert_iceberg_error,
    bearer,
    env_catalog,
    fetch_token,
    make_tenant,
    moto_s3_settings,
    s3_client_properties,
    start_moto,
    stop_moto,
    unique,
)
from test_provider_integrations import AWS_KEY, Restartable, aws_env

SCHEMA = pa.schema([pa.field("id", pa.int64()), pa.field("name", pa.string())])
ROWS = pa.table({"id": [1, 2, 3], "name": ["a", "b", "c"]}, schema=SCHEMA)


@pytest.fixture(scope="module")
def moto(tmp_path_factory) -> Iterator[MotoS3]:
    """A moto server of this module's own, its request recording kept in a temporary file."""
    base = tmp_path_factory.mktemp("moto-recorded")
    moto = start_moto(base / "moto.log", env={"MOTO_RECORDER_FILEPATH": str(base / "recording.jsonl")})
    yield moto
    stop_moto(moto)


@pytest.fixture(scope="module")
def frazil(store, moto, tmp_path_factory) -> Iterator[Restartable]:
    bucket = unique("root").replace("_", "-")
    moto.client().create_bucket(Bucket=bucket)
    base = tmp_path_factory.mktemp(f"frazil-byo-{store}")
    cleanups: list[Callable[[], None]] = []
    try:
        running = Restartable(store, base, _database_for(store, base, cleanups), {**aws_env(moto.endpoint), **moto_s3_settings(moto)}, f"s3://{bucket}/warehouse")
        running.root_bucket = bucket
        try:
            yield running
        finally:
            from conftest import stop_server

            stop_server(running.server)
    finally:
        for c in reversed(cleanups):
            c()


def role_arn() -> str:
    return f"arn:aws:iam::123456789012:role/{unique('byo').replace('_', '-')}"


def org_admin_api(server, admin: AdminClient, org: str) -> AdminClient:
    key = admin.create_key(org, None, "admin")
    return AdminClient(server, fetch_token(f"{server.base_url}/oauth/token", key["key"], key["secret"]))


def env_path(org: str, env: str) -> str:
    return f"/organizations/{org}/environments/{env}"


def integrate(api: AdminClient, org: str, env: str, arn: str) -> dict:
    body = {"name": "own bucket", "aws": {"customer_role_arn": arn}}
    return api.call("POST", f"{env_path(org, env)}/provider-integrations", json=body, expect=201).json()


def new_bucket(moto: MotoS3) -> str:
    bucket = unique("customer").replace("_", "-")
    moto.client().create_bucket(Bucket=bucket)
    return bucket


def recorded_requests(moto: MotoS3) -> list[dict]:
    text = requests.get(f"{moto.endpoint}/moto-api/recorder/download-recording", timeout=10).text
    return [json.loads(line) for line in text.splitlines() if line.strip()]


# PyIceberg properties that keep it from sending `X-Iceberg-Access-Delegation: vended-credentials`
# (its default), for tests about Frazil's own use of the role
NO_DELEGATION = {"header.X-Iceberg-Access-Delegation": ""}


def assume_role_calls(recorded: list[dict], arn: str) -> list[dict]:
    """The parameters of the recorded STS AssumeRole calls on role `arn` (moto's data.json
    cannot be used: it fails on some S3 models)."""
    calls = []
    for r in recorded:
        body = r.get("body") or ""
        if r.get("body_encoded"):
            body = base64.b64decode(body).decode("utf-8", "replace")
        params = {k: v[0] for k, v in parse_qs(body).items()}
        if params.get("Action") == "AssumeRole" and params.get("RoleArn") == arn:
            calls.append(params)
    return calls


def signing_key(request: dict) -> str | None:
    auth = {k.lower(): v for k, v in request["headers"].items()}.get("authorization", "")
    found = re.search(r"Credential=([^/]+)/", auth)
    return found.group(1) if found else None


def test_an_org_admin_brings_a_bucket_that_frazil_reaches_with_the_role(frazil, moto):
    server = frazil.server
    admin = AdminClient(server)
    t = make_tenant(server, admin, server.base_dir)
    org_api = org_admin_api(server, admin, t.org)
    arn = role_arn()
    integration = integrate(org_api, t.org, t.env, arn)
    bucket = new_bucket(moto)

    requests.post(f"{moto.endpoint}/moto-api/recorder/reset-recording", timeout=10)
    requests.post(f"{moto.endpoint}/moto-api/recorder/start-recording", timeout=10)
    try:
        patched = org_api.call("PATCH", env_path(t.org, t.env), json={"storage": {"location": f"s3://{bucket}/lake", "provider_integration": integration["id"]}}, expect=200).json()
        storage = patched["storage"]
        assert storage["location"] == f"s3://{bucket}/lake" and storage["provider_integration"] == integration["id"], storage
        # the root's static keys do not come along: the role is how the bucket is reached
        assert storage["s3"].get("access_key_id") is None and storage["s3"]["secret_access_key_set"] is False, storage

        # PyIceberg writes data files with keys of its own; Frazil writes the metadata files
        writer = admin.create_key(t.org, t.env, "writer")
        # PyIceberg asks for vended credentials by default; here it uses its own keys
        catalog = env_catalog(server, t.org, t.env, "tableflow", f"{writer['key']}:{writer['secret']}", **s3_client_properties(moto), **NO_DELEGATION)
        catalog.create_namespace("ns")
        table = catalog.create_table("ns.events", schema=SCHEMA)
        table.append(ROWS)
        assert catalog.load_table("ns.events").scan().to_arrow().sort_by("id") == ROWS
    finally:
        requests.post(f"{moto.endpoint}/moto-api/recorder/stop-recording", timeout=10)

    keys = moto.keys(bucket, "lake/")
    metadata = [k for k in keys if k.endswith(".metadata.json")]
    assert len(metadata) >= 2 and all(k.startswith("lake/ns/events") for k in metadata), keys
    assert any(k.endswith(".parquet") for k in keys), keys
    assert moto.keys(frazil.root_bucket, f"warehouse/{t.org}/") == []

    # STS was asked for the role with the integration's external id, by Frazil's own session,
    # for the configured duration (default one hour), without a session policy (Frazil's own
    # I/O has the role's permissions); once: the credentials are cached
    recorded = recorded_requests(moto)
    calls = assume_role_calls(recorded, arn)
    assert len(calls) == 1, calls
    assert calls[0]["ExternalId"] == integration["aws"]["external_id"], calls
    assert calls[0]["RoleSessionName"] == "frazil-catalog" and calls[0]["DurationSeconds"] == "3600", calls
    assert "Policy" not in calls[0], calls

    # every request of Frazil's to the bucket (the probe, metadata files) was signed with
    # temporary credentials from STS (ASIA...), never Frazil's own key nor the root's static key
    def in_bucket(r: dict) -> bool:
        return r["url"].split("?")[0].split("/", 3)[-1].startswith(f"{bucket}/")

    bucket_requests = [r for r in recorded if in_bucket(r)]
    frazils = [r for r in bucket_requests if ".metadata.json" in r["url"] or ".frazil-probe-" in r["url"]]
    assert any(r["method"] == "PUT" and ".metadata.json" in r["url"] for r in frazils), [r["url"] for r in bucket_requests]
    assert any(r["method"] == "PUT" and ".frazil-probe-" in r["url"] for r in frazils), [r["url"] for r in bucket_requests]
    assert all((signing_key(r) or "").startswith("ASIA") for r in frazils), {(r["method"], r["url"], signing_key(r)) for r in frazils}
    assert not [r for r in bucket_requests if signing_key(r) == AWS_KEY]
    # PyIceberg's data files: its own key
    assert all(signing_key(r) == S3_ACCESS_KEY for r in bucket_requests if ".parquet" in r["url"] and r["method"] in ("PUT", "POST"))


def test_who_may_bring_a_bucket_and_with_what(frazil, moto):
    server = frazil.server
    admin = AdminClient(server)
    t = make_tenant(server, admin, server.base_dir)
    org_api = org_admin_api(server, admin, t.org)
    bucket = new_bucket(moto)
    path = env_path(t.org, t.env)
    byo = {"location": f"s3://{bucket}/lake"}

    # without an integration, a location outside the roots stays a server administrator's choice
    assert_iceberg_error(org_api.call("PATCH", path, json={"storage": byo}), 403, "ForbiddenException")
    # an integration that does not exist is named
    r = org_api.call("PATCH", path, json={"storage": {**byo, "provider_integration": "pi-missing"}})
    assert "pi-missing" in assert_iceberg_error(r, 400, "BadRequestException")["message"]

    integration = integrate(org_api, t.org, t.env, role_arn())
    with_role = {**byo, "provider_integration": integration["id"]}
    # static keys with an integration: 400, whoever asks
    for api in (org_api, admin):
        r = api.call("PATCH", path, json={"storage": {**with_role, "s3": {"access_key_id": "AKIAOWN", "secret_access_key": "own-secret"}}})
        assert "static S3 keys" in assert_iceberg_error(r, 400, "BadRequestException")["message"]
    # another endpoint stays a server administrator's
    r = org_api.call("PATCH", path, json={"storage": {**with_role, "s3": {"endpoint": "http://169.254.169.254"}}})
    assert_iceberg_error(r, 403, "ForbiddenException")
    assert admin.call("GET", path, expect=200).json()["storage"] == t.info["storage"]

    # an environment admin may, with the environment's integration
    env_key = admin.create_key(t.org, t.env, "admin")
    env_api = AdminClient(server, fetch_token(f"{t.catalog_uri}/v1/oauth/tokens", env_key["key"], env_key["secret"]))
    patched = env_api.call("PATCH", path, json={"storage": with_role}, expect=200).json()
    assert patched["storage"]["location"] == byo["location"]

    # another environment's location stays taken (the overlap rule holds for brought buckets)
    other = make_tenant(server, admin, server.base_dir, org=t.org)
    other_integration = integrate(org_api, t.org, other.env, role_arn())
    r = org_api.call("PATCH", env_path(t.org, other.env), json={"storage": {"location": f"s3://{bucket}/lake/inner", "provider_integration": other_integration["id"]}})
    assert_iceberg_error(r, 409)


def test_sts_refusing_is_a_503_naming_the_integration(frazil, moto):
    """Frazil restarted with STS unreachable (AWS_ENDPOINT_URL_STS at a closed port): the
    environment's I/O cannot get the role's credentials, and requests that need it answer 503
    naming the integration, without secrets; an environment without an integration works."""
    server = frazil.server
    admin = AdminClient(server)
    t = make_tenant(server, admin, server.base_dir)
    integration = integrate(admin, t.org, t.env, role_arn())
    bucket = new_bucket(moto)
    admin.call("PATCH", env_path(t.org, t.env), json={"storage": {"location": f"s3://{bucket}/lake", "provider_integration": integration["id"]}}, expect=200)
    plain = make_tenant(server, admin, server.base_dir, org=t.org)

    frazil.env = {**frazil.env, "AWS_ENDPOINT_URL_STS": "http://127.0.0.1:1"}
    try:
        frazil.restart()
        server = frazil.server
        admin = AdminClient(server)
        for tenant, expected in ((t, 503), (plain, 200)):
            key = admin.create_key(tenant.org, tenant.env, "writer")
            uri = f"{server.base_url}/iceberg/catalog/organizations/{tenant.org}/environments/{tenant.env}"
            token = fetch_token(f"{uri}/v1/oauth/tokens", key["key"], key["secret"])
            base = f"{uri}/v1"
            requests.post(f"{base}/namespaces", json={"namespace": ["ns"]}, headers=bearer(token), timeout=30).raise_for_status()
            body = {"name": "t", "schema": {"type": "struct", "schema-id": 0, "fields": [{"id": 1, "name": "id", "type": "long", "required": False}]}}
            r = requests.post(f"{base}/namespaces/ns/tables", json=body, headers=bearer(token), timeout=30)
            if expected == 200:
                assert r.status_code == 200, r.text
                continue
            err = assert_iceberg_error(r, 503, "ServiceUnavailableException")
            assert integration["id"] in err["message"] and "Cannot get storage credentials" in err["message"], err
            for secret in (integration["aws"]["external_id"], "frazil-provider-test-secret"):
                assert secret not in r.text and secret not in server.log_text()
        # setting storage through a role that cannot be assumed: 400 naming the integration
        other = make_tenant(server, admin, server.base_dir, org=t.org)
        other_integration = integrate(admin, t.org, other.env, role_arn())
        r = admin.call("PATCH", env_path(t.org, other.env), json={"storage": {"location": f"s3://{bucket}/other", "provider_integration": other_integration["id"]}})
        err = assert_iceberg_error(r, 400, "BadRequestException")
        assert other_integration["id"] in err["message"] and f"s3://{bucket}/other" in err["message"], err
        assert admin.call("GET", env_path(t.org, other.env), expect=200).json()["storage"]["provider_integration"] is None
    finally:
        frazil.env = {k: v for k, v in frazil.env.items() if k != "AWS_ENDPOINT_URL_STS"}
        frazil.restart()


class AgingSts:
    """STS as moto answers it, except that every credential expires `lifetime` seconds after it is
    issued: what a 15-minute credential has left once it has been cached for a while. Counts the
    AssumeRole calls per role."""

    def __init__(self, moto: MotoS3, lifetime: float):
        self.moto, self.lifetime, self.calls = moto, lifetime, []
        sts = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server's naming)
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                params = {k: v[0] for k, v in parse_qs(body.decode()).items()}
                if params.get("Action") == "AssumeRole":
                    sts.calls.append(params)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length")}
                answer = requests.post(f"{sts.moto.endpoint}{self.path}", data=body, headers=headers, timeout=10)
                expires = (datetime.now(timezone.utc) + timedelta(seconds=sts.lifetime)).strftime("%Y-%m-%dT%H:%M:%SZ")
                text = re.sub(r"<Expiration>[^<]*</Expiration>", f"<Expiration>{expires}</Expiration>", answer.text).encode()
                self.send_response(answer.status_code)
                self.send_header("Content-Type", answer.headers.get("Content-Type", "text/xml"))
                self.send_header("Content-Length", str(len(text)))
                self.end_headers()
                self.wfile.write(text)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.endpoint = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def role_calls(self, arn: str) -> list[dict]:
        return [c for c in self.calls if c.get("RoleArn") == arn]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_a_cached_credential_is_replaced_before_it_has_five_minutes_left(frazil, moto):
    """With 15-minute sessions, Frazil's own I/O reuses the role's credential while it has more
    than five minutes left and assumes the role again once it has less: STS (moto behind a proxy)
    answers credentials that expire in 5 minutes and 10 seconds."""
    sts = AgingSts(moto, lifetime=5 * 60 + 10)
    saved = frazil.env
    frazil.env = {**saved, "AWS_ENDPOINT_URL_STS": sts.endpoint, "FRAZIL_VENDED_CREDENTIALS_DURATION_SECONDS": "900"}
    try:
        frazil.restart()
        server = frazil.server
        admin = AdminClient(server)
        t = make_tenant(server, admin, server.base_dir)
        arn = role_arn()
        integration = integrate(admin, t.org, t.env, arn)
        bucket = new_bucket(moto)
        # the credential is issued during the PATCH (its storage probe): between these two times
        before = time.monotonic()
        admin.call("PATCH", env_path(t.org, t.env), json={"storage": {"location": f"s3://{bucket}/lake", "provider_integration": integration["id"]}}, expect=200)
        after = time.monotonic()
        assert len(sts.role_calls(arn)) == 1 and sts.role_calls(arn)[0]["DurationSeconds"] == "900", sts.role_calls(arn)

        writer = admin.create_key(t.org, t.env, "writer")
        # no vended credentials either: only Frazil's own sessions of the role are counted
        catalog = env_catalog(server, t.org, t.env, "tableflow", f"{writer['key']}:{writer['secret']}", **NO_DELEGATION)
        catalog.create_namespace("ns")
        catalog.create_table("ns.first", schema=SCHEMA)
        assert time.monotonic() - before < 10, "too slow to use the credential while it had more than 5 minutes left"
        assert len(sts.role_calls(arn)) == 1, sts.role_calls(arn)  # the cached credential
        time.sleep(max(0.0, after + 11 - time.monotonic()))  # now it has less than five minutes left
        catalog.create_table("ns.second", schema=SCHEMA)
        assert len(sts.role_calls(arn)) == 2, sts.role_calls(arn)
        assert all(c["ExternalId"] == integration["aws"]["external_id"] for c in sts.role_calls(arn))
        assert len([k for k in moto.keys(bucket, "lake/ns/") if k.endswith(".metadata.json")]) == 2
    finally:
        frazil.env = saved
        frazil.restart()
        sts.close()
