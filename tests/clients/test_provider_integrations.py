"""Provider integrations (`/admin/v1/.../provider-integrations`, issue 15) on both stores.

The server gets dummy AWS keys and `AWS_ENDPOINT_URL` pointing at moto, so Frazil's own AWS
identity (STS GetCallerIdentity through the AWS SDK's standard configuration) is moto's answer
for those keys. Without AWS credentials, or with STS not answering, integrations are still
created, with `frazil_principal_arn` null, within a couple of seconds.
"""

from __future__ import annotations

import re
import socket
import time
from typing import Callable, Iterator

import boto3
import pytest

from conftest import (
    AdminClient,
    _database_for,
    assert_iceberg_error,
    fetch_token,
    make_tenant,
    moto_s3_settings,
    start_server,
    stop_server,
    unique,
)

AWS_KEY = "AKIAFRAZILTESTKEY01"
AWS_SECRET = "frazil-provider-test-secret"
ROLE_ARN = "arn:aws:iam::123456789012:role/frazil-access"
FIELDS = {"id", "name", "aws", "created_at"}
AWS_FIELDS = {"customer_role_arn", "external_id", "frazil_principal_arn"}
# the AWS SDK must find no credentials or settings of the machine running the tests
NO_AWS = {
    "AWS_ACCESS_KEY_ID": None,
    "AWS_SECRET_ACCESS_KEY": None,
    "AWS_SESSION_TOKEN": None,
    "AWS_PROFILE": None,
    "AWS_ROLE_ARN": None,
    "AWS_WEB_IDENTITY_TOKEN_FILE": None,
    "AWS_CONFIG_FILE": "/nonexistent/aws-config",
    "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent/aws-credentials",
}


def aws_env(endpoint: str) -> dict:
    return {**NO_AWS, "AWS_ACCESS_KEY_ID": AWS_KEY, "AWS_SECRET_ACCESS_KEY": AWS_SECRET, "AWS_REGION": "us-east-1", "AWS_ENDPOINT_URL": endpoint}


class Restartable:
    """A frazil on one store whose process can be restarted on the same data and database."""

    def __init__(self, store: str, base, db_url: str, env: dict, warehouse: str):
        self.store, self.base, self.db_url, self.env, self.warehouse = store, base, db_url, env, warehouse
        self.server = start_server(store, base, db_url, warehouse=warehouse, env=env)

    def restart(self) -> None:
        stop_server(self.server)
        self.server = start_server(self.store, self.base, self.db_url, warehouse=self.warehouse, env=self.env)


@pytest.fixture(scope="module")
def aws(store, moto_s3, s3_bucket, tmp_path_factory) -> Iterator[Restartable]:
    """A frazil whose environments live in a moto bucket (reached with its own S3 settings) and
    whose own AWS identity is moto's STS answer for AWS_KEY."""
    base = tmp_path_factory.mktemp(f"frazil-pi-{store}")
    cleanups: list[Callable[[], None]] = []
    try:
        running = Restartable(store, base, _database_for(store, base, cleanups), {**aws_env(moto_s3.endpoint), **moto_s3_settings(moto_s3)}, f"s3://{s3_bucket}/warehouse")
        try:
            yield running
        finally:
            stop_server(running.server)
    finally:
        for c in reversed(cleanups):
            c()


def moto_caller_arn(endpoint: str) -> str:
    sts = boto3.client("sts", endpoint_url=endpoint, aws_access_key_id=AWS_KEY, aws_secret_access_key=AWS_SECRET, region_name="us-east-1")
    return sts.get_caller_identity()["Arn"]


def path(org: str, env: str) -> str:
    return f"/organizations/{org}/environments/{env}/provider-integrations"


def create(api: AdminClient, org: str, env: str, role_arn: str = ROLE_ARN, **body) -> dict:
    return api.call("POST", path(org, env), json={"name": "lake", "aws": {"customer_role_arn": role_arn}, **body}, expect=201).json()


def test_create_get_list_delete(aws, moto_s3):
    server = aws.server
    admin = AdminClient(server)
    t = make_tenant(server, admin, server.base_dir)

    created = create(admin, t.org, t.env, id="pi-lake", name="Lake role")
    assert set(created) == FIELDS and set(created["aws"]) == AWS_FIELDS, created
    assert created["id"] == "pi-lake" and created["name"] == "Lake role" and created["created_at"]
    assert created["aws"]["customer_role_arn"] == ROLE_ARN
    assert re.fullmatch(r"[0-9a-f]{64}", created["aws"]["external_id"]), created
    # Frazil's principal is what STS (moto) says the server's credentials are
    assert created["aws"]["frazil_principal_arn"] == moto_caller_arn(moto_s3.endpoint)

    generated = create(admin, t.org, t.env)
    assert generated["id"].startswith("pi-") and generated["id"] != "pi-lake"
    assert generated["aws"]["external_id"] != created["aws"]["external_id"]

    assert admin.call("GET", f"{path(t.org, t.env)}/pi-lake", expect=200).json() == created
    listed = admin.call("GET", path(t.org, t.env), expect=200).json()["provider_integrations"]
    assert [i["id"] for i in listed] == sorted(["pi-lake", generated["id"]])
    assert created in listed

    # the id is taken in this environment, not in another one
    r = admin.call("POST", path(t.org, t.env), json={"id": "pi-lake", "name": "again", "aws": {"customer_role_arn": ROLE_ARN}})
    assert_iceberg_error(r, 409, "AlreadyExistsException")
    other = make_tenant(server, admin, server.base_dir, org=t.org)
    assert create(admin, t.org, other.env, id="pi-lake")["aws"]["external_id"] != created["aws"]["external_id"]

    admin.call("DELETE", f"{path(t.org, t.env)}/pi-lake", expect=204)
    assert_iceberg_error(admin.call("GET", f"{path(t.org, t.env)}/pi-lake"), 404, "NotFoundException")
    assert_iceberg_error(admin.call("DELETE", f"{path(t.org, t.env)}/pi-lake"), 404, "NotFoundException")
    assert [i["id"] for i in admin.call("GET", path(t.org, t.env), expect=200).json()["provider_integrations"]] == [generated["id"]]
    # the other environment's integration of that id is untouched
    admin.call("GET", f"{path(t.org, other.env)}/pi-lake", expect=200)

    # a missing environment is 404; deleting an environment takes its integrations along
    assert_iceberg_error(admin.call("GET", path(t.org, "no-such-env")), 404, "NotFoundException")
    admin.call("DELETE", f"/organizations/{t.org}/environments/{other.env}", expect=204)
    assert_iceberg_error(admin.call("GET", path(t.org, other.env)), 404, "NotFoundException")


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "frazil-access",
        "arn:aws:iam::123456789012:user/frazil",
        "arn:aws:iam::12345678901:role/short-account",
        "arn:aws:iam:us-east-1:123456789012:role/regional",
        "arn:aws:s3:::bucket",
        "arn:aws:iam::123456789012:role/",
        "arn:aws:iam::123456789012:role/has space",
    ],
)
def test_malformed_role_arn_is_400_naming_the_field(aws, bad):
    admin = AdminClient(aws.server)
    t = make_tenant(aws.server, admin, aws.server.base_dir)
    r = admin.call("POST", path(t.org, t.env), json={"name": "x", "aws": {"customer_role_arn": bad}})
    err = assert_iceberg_error(r, 400, "BadRequestException")
    assert "aws.customer_role_arn" in err["message"], err
    assert admin.call("GET", path(t.org, t.env), expect=200).json()["provider_integrations"] == []


def test_malformed_bodies_are_400(aws):
    admin = AdminClient(aws.server)
    t = make_tenant(aws.server, admin, aws.server.base_dir)
    for body in [{"name": "x"}, {"name": "x", "aws": {}}, {"name": "x", "aws": {"customer_role_arn": ROLE_ARN, "external_id": "mine"}}, {"name": "x", "aws": {"customer_role_arn": ROLE_ARN}, "id": "bad id"}]:
        assert_iceberg_error(admin.call("POST", path(t.org, t.env), json=body), 400)


def test_external_id_is_stable_across_gets_and_restarts(aws):
    admin = AdminClient(aws.server)
    t = make_tenant(aws.server, admin, aws.server.base_dir)
    created = create(admin, t.org, t.env, id="pi-stable")
    again = admin.call("GET", f"{path(t.org, t.env)}/pi-stable", expect=200).json()
    assert again == created
    aws.restart()
    admin = AdminClient(aws.server)
    after = admin.call("GET", f"{path(t.org, t.env)}/pi-stable", expect=200).json()
    assert after == created


def test_environment_storage_names_an_integration(aws):
    """PATCH storage.provider_integration: shown in GET; the integration cannot be deleted while named (409); null removes it."""
    server = aws.server
    admin = AdminClient(server)
    t = make_tenant(server, admin, server.base_dir)
    assert t.info["storage"]["location"].startswith("s3://") and t.info["storage"]["provider_integration"] is None, t.info
    create(admin, t.org, t.env, id="pi-used")
    env_path = f"/organizations/{t.org}/environments/{t.env}"

    patched = admin.call("PATCH", env_path, json={"storage": {"provider_integration": "pi-used"}}, expect=200).json()
    assert patched["storage"]["provider_integration"] == "pi-used"
    # the root's static keys go: storage reached through the role holds none (test_assumed_role.py)
    no_keys = {**t.info["storage"]["s3"], "access_key_id": None, "secret_access_key_set": False}
    assert patched["storage"]["location"] == t.info["storage"]["location"] and patched["storage"]["s3"] == no_keys
    assert admin.call("GET", env_path, expect=200).json()["storage"]["provider_integration"] == "pi-used"
    # a rename keeps it
    assert admin.call("PATCH", env_path, json={"name": "renamed"}, expect=200).json()["storage"]["provider_integration"] == "pi-used"

    err = assert_iceberg_error(admin.call("DELETE", f"{path(t.org, t.env)}/pi-used"), 409, "AlreadyExistsException")
    assert "pi-used" in err["message"] and t.env in err["message"], err
    admin.call("GET", f"{path(t.org, t.env)}/pi-used", expect=200)

    # an integration of another environment, or none, is 400 naming the field; nothing changes
    other = make_tenant(server, admin, server.base_dir, org=t.org)
    create(admin, t.org, other.env, id="pi-other")
    for missing in ("pi-other", "pi-nope"):
        r = admin.call("PATCH", env_path, json={"storage": {"provider_integration": missing}})
        assert "storage.provider_integration" in assert_iceberg_error(r, 400, "BadRequestException")["message"]
    assert admin.call("GET", env_path, expect=200).json()["storage"]["provider_integration"] == "pi-used"
    # environment admins do not choose storage
    env_admin = admin.create_key(t.org, t.env, "admin")
    env_api = AdminClient(server, fetch_token(f"{t.catalog_uri}/v1/oauth/tokens", env_admin["key"], env_admin["secret"]))
    assert_iceberg_error(env_api.call("PATCH", env_path, json={"storage": {"provider_integration": None}}), 403, "ForbiddenException")

    cleared = admin.call("PATCH", env_path, json={"storage": {"provider_integration": None}}, expect=200).json()
    assert cleared["storage"]["provider_integration"] is None
    admin.call("DELETE", f"{path(t.org, t.env)}/pi-used", expect=204)


def test_only_s3_storage_names_an_integration(aws):
    server = aws.server
    admin = AdminClient(server)
    org = make_tenant(server, admin, server.base_dir).org
    local = (server.storage_root / unique("local")).as_uri()
    env = admin.create_env(org, unique("local").replace("_", "-"), location=local)
    create(admin, org, env["id"], id="pi-local")
    r = admin.call("PATCH", f"/organizations/{org}/environments/{env['id']}", json={"storage": {"provider_integration": "pi-local"}})
    assert "s3://" in assert_iceberg_error(r, 400, "BadRequestException")["message"]
    # creating an environment cannot name one (its integrations do not exist yet)
    r = admin.call("POST", f"/organizations/{org}/environments", json={"name": "x", "storage": {"location": local + "-2", "provider_integration": "pi-local"}})
    assert_iceberg_error(r, 400)


def test_who_may_manage_integrations(aws):
    server = aws.server
    admin = AdminClient(server)
    a = make_tenant(server, admin, server.base_dir)
    b = make_tenant(server, admin, server.base_dir)
    create(admin, b.org, b.env, id="pi-b")

    env_admin = admin.create_key(a.org, a.env, "admin")
    env_api = AdminClient(server, fetch_token(f"{a.catalog_uri}/v1/oauth/tokens", env_admin["key"], env_admin["secret"]))
    created = create(env_api, a.org, a.env, id="pi-a")
    env_api.call("GET", f"{path(a.org, a.env)}/pi-a", expect=200)

    org_admin = admin.create_key(a.org, None, "admin")
    org_api = AdminClient(server, fetch_token(f"{server.base_url}/oauth/token", org_admin["key"], org_admin["secret"]))
    assert org_api.call("GET", f"{path(a.org, a.env)}/pi-a", expect=200).json() == created

    # readers and writers of the environment: 403
    for role in ("reader", "writer"):
        k = admin.create_key(a.org, a.env, role)
        api = AdminClient(server, fetch_token(f"{a.catalog_uri}/v1/oauth/tokens", k["key"], k["secret"]))
        assert_iceberg_error(api.call("GET", path(a.org, a.env)), 403, "ForbiddenException")
        assert_iceberg_error(api.call("GET", f"{path(a.org, a.env)}/pi-a"), 403, "ForbiddenException")
        r = api.call("POST", path(a.org, a.env), json={"name": "x", "aws": {"customer_role_arn": ROLE_ARN}})
        assert_iceberg_error(r, 403, "ForbiddenException")
        assert_iceberg_error(api.call("DELETE", f"{path(a.org, a.env)}/pi-a"), 403, "ForbiddenException")

    # another organization's admins: its environments read as missing
    for api in (env_api, org_api):
        for method, p, body in [
            ("GET", path(b.org, b.env), None),
            ("GET", f"{path(b.org, b.env)}/pi-b", None),
            ("POST", path(b.org, b.env), {"name": "x", "aws": {"customer_role_arn": ROLE_ARN}}),
            ("DELETE", f"{path(b.org, b.env)}/pi-b", None),
        ]:
            assert_iceberg_error(api.call(method, p, json=body), 404, "NotFoundException")
    admin.call("GET", f"{path(b.org, b.env)}/pi-b", expect=200)


def test_no_aws_identity_does_not_fail_or_hang(store, tmp_path):
    """Without AWS credentials (the SDK then also asks instance metadata, which does not answer
    here), and with credentials but an STS endpoint that never answers: created, principal
    null, within a couple of seconds; a second create does not wait again."""
    blackhole = socket.socket()
    blackhole.bind(("127.0.0.1", 0))
    blackhole.listen(16)  # accepts connections (the kernel does) but never answers
    silent_sts = f"http://127.0.0.1:{blackhole.getsockname()[1]}"
    try:
        for name, env in [
            ("no-credentials", NO_AWS),
            ("sts-silent", {**aws_env("http://127.0.0.1:1"), "AWS_ENDPOINT_URL_STS": silent_sts}),  # the per-service variable wins
        ]:
            base = tmp_path / name
            cleanups: list[Callable[[], None]] = []
            try:
                server = start_server(store, base, _database_for(store, base, cleanups), env=env)
                try:
                    admin = AdminClient(server)
                    t = make_tenant(server, admin, base)
                    for attempt in range(2):
                        started = time.monotonic()
                        created = create(admin, t.org, t.env, id=f"pi-{attempt}")
                        took = time.monotonic() - started
                        assert created["aws"]["frazil_principal_arn"] is None, (name, created)
                        assert took < (4.0 if attempt == 0 else 1.0), (name, attempt, took)
                    assert admin.call("GET", f"{path(t.org, t.env)}/pi-0", expect=200).json()["aws"]["frazil_principal_arn"] is None
                finally:
                    stop_server(server)
            finally:
                for c in reversed(cleanups):
                    c()
    finally:
        blackhole.close()
