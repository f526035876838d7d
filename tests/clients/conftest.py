"""Fixtures for the Python end-to-end client tests.

Every test talks to the real `frazil` binary (target/debug/frazil, or $FRAZIL_BIN) started on a
free port with its own data directory, once per metadata store:

* ``sqlite``   - a SQLite file in the temp dir;
* ``postgres`` - a fresh database ``frazil_py_<random>`` on $FRAZIL_TEST_POSTGRES_URL
                 (default postgres://postgres@127.0.0.1:5432/postgres), dropped at teardown.

Store-level fixtures are parametrized, so every test that uses them runs against both stores.
One server per store per test module; tests use unique namespace names.

Authentication is required on every catalog and admin route. Each server starts with a fixed
server-admin credential (FRAZIL_BOOTSTRAP_CLIENT_ID / FRAZIL_BOOTSTRAP_CLIENT_SECRET, or the
generated `bootstrap-credentials.json` when started with ``bootstrap_env=False``):

* PyIceberg gets ``credential="id:secret"`` (``make_catalog``),
* DuckDB gets ``CLIENT_ID`` / ``CLIENT_SECRET`` on ATTACH (``duckdb_attach``),
* raw HTTP gets ``Authorization: Bearer <token>`` (``server.auth_headers()``, ``server.http()``),
* ``AdminClient`` drives the admin REST API (organizations, environments, clusters, API keys).
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator
from urllib.parse import unquote, urlsplit, urlunsplit

import pytest
import requests

REPO_ROOT = Path(__file__).resolve().parents[2]
FRAZIL_BIN = Path(os.environ.get("FRAZIL_BIN") or REPO_ROOT / "target" / "debug" / "frazil").absolute()
POSTGRES_URL = os.environ.get("FRAZIL_TEST_POSTGRES_URL") or "postgres://postgres@127.0.0.1:5432/postgres"
STORES = ["sqlite", "postgres"]
LAYOUTS = ["tableflow", "warehouse"]
# An S3 storage root every test server lists, for environments whose S3 settings a server
# administrator gives (nothing is stored there unless a test writes tables).
S3_TEST_ROOT = "s3://frazil-test-root"
ORG = "default"
ENV = "default"
STARTUP_TIMEOUT_S = 30.0

S3_ACCESS_KEY = "frazil-test-key"
S3_SECRET_KEY = "frazil-test-secret"
S3_REGION = "us-east-1"

# the server administrator every test server is bootstrapped with
BOOTSTRAP_CLIENT_ID = "frazil-test-admin"
BOOTSTRAP_CLIENT_SECRET = "frazil-test-admin-secret-9f8e7d6c5b4a"
ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token"
TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"


# --------------------------------------------------------------------------------------------
# helpers


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def unique(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:10]}"


def eventually(check: Callable[[], bool], timeout: float = 10.0) -> bool:
    """Polls `check` until it holds or `timeout` seconds pass: a purge's files are deleted by the
    server's purge worker shortly after the drop answered."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def _tail(path: Path, limit: int = 8000) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "<no log>"
    return text[-limit:]


def _wait_http(url: str, proc: subprocess.Popen, log: Path, what: str, timeout: float = STARTUP_TIMEOUT_S) -> None:
    deadline = time.monotonic() + timeout
    last_error = ""
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"{what} exited with status {proc.returncode} before answering {url}:\n{_tail(log)}")
        try:
            r = requests.get(url, timeout=2)
            if r.status_code == 200:
                return
            last_error = f"HTTP {r.status_code}: {r.text[:200]}"
        except requests.RequestException as e:
            last_error = repr(e)
        time.sleep(0.1)
    _stop(proc)
    pytest.fail(f"{what} did not answer {url} within {timeout}s (last: {last_error}):\n{_tail(log)}")


def _stop(proc: subprocess.Popen, timeout: float = 15.0) -> None:
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)


def _psql(url: str, sql: str) -> None:
    psql = shutil.which("psql")
    if psql is None:
        pytest.fail("psql is not on PATH (needed to create the test databases)")
    r = subprocess.run([psql, url, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-c", sql], capture_output=True, text=True)
    if r.returncode != 0:
        pytest.fail(f"psql {url} -c {sql!r} failed: {r.stderr}")


def _with_database(url: str, db: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + db, parts.query, parts.fragment))


def request_token(token_url: str, client_id: str, client_secret: str, scope: str | None = "catalog") -> requests.Response:
    """A client-credentials token request as Iceberg Java and PyIceberg send it (form body)."""
    data = {"grant_type": "client_credentials", "client_id": client_id, "client_secret": client_secret}
    if scope is not None:
        data["scope"] = scope
    return requests.post(token_url, data=data, timeout=30)


def fetch_token(token_url: str, client_id: str, client_secret: str, scope: str | None = "catalog") -> str:
    r = request_token(token_url, client_id, client_secret, scope)
    assert r.status_code == 200, f"token request to {token_url} for {client_id}: {r.status_code} {r.text}"
    return r.json()["access_token"]


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def bearer_session(token: str) -> requests.Session:
    s = requests.Session()
    s.headers.update(bearer(token))
    return s


# --------------------------------------------------------------------------------------------
# the server


@dataclass
class FrazilServer:
    store: str
    port: int
    data_dir: Path
    warehouse: str  # file:///... or s3://bucket/prefix
    proc: subprocess.Popen
    log: Path
    client_id: str = BOOTSTRAP_CLIENT_ID
    client_secret: str = BOOTSTRAP_CLIENT_SECRET
    base_dir: Path | None = None
    database_url: str = ""
    env: dict = field(default_factory=dict)  # the process environment it was started with
    extra: dict = field(default_factory=dict)
    _token: tuple[str, float] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def credential(self) -> str:
        """The server administrator's credential as PyIceberg and Iceberg Java take it."""
        return f"{self.client_id}:{self.client_secret}"

    def token(self) -> str:
        """A (cached) access token of the server administrator, from `POST /oauth/token`."""
        now = time.monotonic()
        if self._token is None or self._token[1] <= now:
            r = request_token(f"{self.base_url}/oauth/token", self.client_id, self.client_secret)
            assert r.status_code == 200, f"admin token: {r.status_code} {r.text}"
            body = r.json()
            self._token = (body["access_token"], now + float(body.get("expires_in") or 60) / 2)
        return self._token[0]

    def auth_headers(self) -> dict:
        return bearer(self.token())

    def http(self) -> requests.Session:
        """A requests session that sends the server administrator's bearer token."""
        return bearer_session(self.token())

    @property
    def tableflow_uri(self) -> str:
        return f"{self.base_url}/iceberg/catalog/organizations/{ORG}/environments/{ENV}"

    @property
    def warehouse_uri(self) -> str:
        return f"{self.base_url}/iceberg/catalog"

    @property
    def warehouse_name(self) -> str:
        return f"{ORG}/{ENV}"

    @property
    def storage_root(self) -> Path:
        """A directory listed in storage_roots, below which a server administrator may choose an
        environment's storage."""
        assert self.base_dir is not None
        return self.base_dir / "roots"

    @property
    def warehouse_path(self) -> Path:
        """Local directory of a file:// warehouse."""
        assert self.warehouse.startswith("file://"), self.warehouse
        return Path(self.warehouse[len("file://") :])

    def catalog_uri(self, layout: str) -> str:
        return self.tableflow_uri if layout == "tableflow" else self.warehouse_uri

    def api_prefix(self, layout: str = "tableflow", token: str | None = None) -> str:
        """`{uri}/v1` or `{uri}/v1/{prefix}` as a client would build it after /v1/config."""
        uri = self.catalog_uri(layout)
        headers = bearer(token or self.token())
        if layout == "tableflow":
            r = requests.get(f"{uri}/v1/config", headers=headers, timeout=10)
        else:
            r = requests.get(f"{uri}/v1/config", params={"warehouse": self.warehouse_name}, headers=headers, timeout=10)
        assert r.status_code == 200, f"/v1/config: {r.status_code} {r.text}"
        cfg = r.json()
        prefix = (cfg.get("overrides") or {}).get("prefix") or (cfg.get("defaults") or {}).get("prefix")
        return f"{uri}/v1/{prefix}" if prefix else f"{uri}/v1"

    def alive(self) -> bool:
        return self.proc.poll() is None

    def log_text(self) -> str:
        return _tail(self.log, 200_000)


def server_env(base_dir: Path, database_url: str, warehouse: str, port: int | None = None, env: dict | None = None, bootstrap_env: bool = True) -> dict:
    """The environment of a frazil process (serve or the CLI) on this data dir and database.
    `env` values of None remove a variable."""
    # nothing from the caller's FRAZIL_* configuration leaks into the server under test
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("FRAZIL_")}
    full_env.update(
        {
            "FRAZIL_DATA_DIR": str(base_dir / "data"),
            "FRAZIL_DATABASE_URL": database_url,
            "FRAZIL_WAREHOUSE": warehouse,
            # the warehouse (environments made without `storage`), and where a server administrator
            # may choose storage (FrazilServer.storage_root, and S3_TEST_ROOT)
            "FRAZIL_STORAGE_ROOTS": f"{warehouse},{(base_dir / 'roots').as_uri()},{S3_TEST_ROOT}",
            "RUST_BACKTRACE": "1",
        }
    )
    if port is not None:
        full_env["FRAZIL_LISTEN"] = f"127.0.0.1:{port}"
    if bootstrap_env:
        full_env["FRAZIL_BOOTSTRAP_CLIENT_ID"] = BOOTSTRAP_CLIENT_ID
        full_env["FRAZIL_BOOTSTRAP_CLIENT_SECRET"] = BOOTSTRAP_CLIENT_SECRET
    for k, v in (env or {}).items():
        if v is None:
            full_env.pop(k, None)
        else:
            full_env[k] = v
    return full_env


def start_server(
    store: str,
    base_dir: Path,
    database_url: str,
    warehouse: str | None = None,
    env: dict | None = None,
    bootstrap_env: bool = True,
) -> FrazilServer:
    """Starts `frazil serve`. With `bootstrap_env` the server administrator comes from
    FRAZIL_BOOTSTRAP_CLIENT_ID/SECRET (fixed test values); without, the server generates one and
    the returned server uses the credentials from `{data}/bootstrap-credentials.json`."""
    if not FRAZIL_BIN.exists():
        pytest.fail(f"frazil binary not found at {FRAZIL_BIN} (run `cargo build --bin frazil` or set FRAZIL_BIN)")
    data_dir = base_dir / "data"
    data_dir.mkdir(parents=True, exist_ok=True)
    if warehouse is None:
        wh_dir = base_dir / "warehouse"
        wh_dir.mkdir(parents=True, exist_ok=True)
        warehouse = wh_dir.as_uri()
    port = free_port()
    log = base_dir / "frazil.log"
    full_env = server_env(base_dir, database_url, warehouse, port=port, env=env, bootstrap_env=bootstrap_env)
    # appended to, so that a restarted server's log keeps the first run's output
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            [str(FRAZIL_BIN), "serve"],
            cwd=base_dir,
            env=full_env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    server = FrazilServer(
        store=store,
        port=port,
        data_dir=data_dir,
        warehouse=warehouse,
        proc=proc,
        log=log,
        base_dir=base_dir,
        database_url=database_url,
        env=full_env,
    )
    _wait_http(f"{server.base_url}/healthz", proc, log, f"frazil ({store})")
    if full_env.get("FRAZIL_BOOTSTRAP_CLIENT_ID") and full_env.get("FRAZIL_BOOTSTRAP_CLIENT_SECRET"):
        server.client_id = full_env["FRAZIL_BOOTSTRAP_CLIENT_ID"]
        server.client_secret = full_env["FRAZIL_BOOTSTRAP_CLIENT_SECRET"]
    elif (data_dir / "bootstrap-credentials.json").exists():
        creds = json.loads((data_dir / "bootstrap-credentials.json").read_text())
        server.client_id, server.client_secret = creds["client_id"], creds["client_secret"]
    return server


def stop_server(server: FrazilServer) -> None:
    crashed = server.proc.poll() is not None
    _stop(server.proc)
    text = server.log_text()
    if crashed:
        pytest.fail(f"frazil ({server.store}) died during the tests (status {server.proc.returncode}):\n{text[-8000:]}")
    if "panicked at" in text:
        idx = text.index("panicked at")
        pytest.fail(f"frazil ({server.store}) panicked while serving the tests:\n{text[max(0, idx - 2000) : idx + 4000]}")


def _database_for(store: str, base_dir: Path, stack: list[Callable[[], None]]) -> str:
    if store == "sqlite":
        return f"sqlite://{base_dir / 'frazil.db'}"
    db = unique("frazil_py").lower()
    _psql(POSTGRES_URL, f'CREATE DATABASE "{db}"')
    stack.append(lambda: _psql(POSTGRES_URL, f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)'))
    return _with_database(POSTGRES_URL, db)


@pytest.fixture(scope="module", params=STORES)
def store(request) -> str:
    return request.param


@pytest.fixture(scope="module")
def server(store: str, tmp_path_factory) -> Iterator[FrazilServer]:
    """One frazil per store per module, with a local file:// warehouse."""
    base = tmp_path_factory.mktemp(f"frazil-{store}")
    cleanups: list[Callable[[], None]] = []
    try:
        db_url = _database_for(store, base, cleanups)
        srv = start_server(store, base, db_url)
        try:
            yield srv
        finally:
            stop_server(srv)
    finally:
        for c in reversed(cleanups):
            c()


@pytest.fixture(params=LAYOUTS)
def layout(request) -> str:
    return request.param


# --------------------------------------------------------------------------------------------
# PyIceberg


_AUTH_PROPS = ("credential", "token", "auth")


def make_catalog(server: FrazilServer, layout: str, **props):
    """A PyIceberg RestCatalog on the default environment; it logs in as the server administrator
    (`credential="id:secret"`) unless `props` bring their own credential/token/auth."""
    from pyiceberg.catalog.rest import RestCatalog

    if not any(k in props for k in _AUTH_PROPS):
        props["credential"] = server.credential
    if layout == "tableflow":
        return RestCatalog(f"frazil-{layout}", uri=server.tableflow_uri, **props)
    return RestCatalog(f"frazil-{layout}", uri=server.warehouse_uri, warehouse=server.warehouse_name, **props)


def env_catalog(server: FrazilServer, org: str, env: str, layout: str, credential: str, **props):
    """A PyIceberg RestCatalog on environment `org`/`env` through `layout`, logging in with
    `credential` ("key:secret")."""
    from pyiceberg.catalog.rest import RestCatalog

    if layout == "tableflow":
        uri = f"{server.base_url}/iceberg/catalog/organizations/{org}/environments/{env}"
        return RestCatalog(f"{org}-{env}-{layout}", uri=uri, credential=credential, **props)
    return RestCatalog(f"{org}-{env}-{layout}", uri=server.warehouse_uri, warehouse=f"{org}/{env}", credential=credential, **props)


@pytest.fixture
def catalog(server: FrazilServer, layout: str):
    """A PyIceberg RestCatalog on `server` through `layout` (each test runs with both layouts)."""
    return make_catalog(server, layout)


@pytest.fixture
def tableflow_catalog(server: FrazilServer):
    return make_catalog(server, "tableflow")


@pytest.fixture
def warehouse_catalog(server: FrazilServer):
    return make_catalog(server, "warehouse")


@pytest.fixture
def namespace(catalog) -> Iterator[str]:
    """A fresh namespace in `catalog`; its tables and itself are dropped afterwards (best effort)."""
    ns = unique("ns")
    catalog.create_namespace(ns)
    yield ns
    _cleanup_namespace(catalog, ns)


def _cleanup_namespace(catalog, ns: str) -> None:
    try:
        for ident in catalog.list_tables(ns):
            try:
                catalog.purge_table(ident)
            except Exception:
                pass
        for ident in catalog.list_views(ns):
            try:
                catalog.drop_view(ident)
            except Exception:
                pass
        catalog.drop_namespace(ns)
    except Exception:
        pass


# --------------------------------------------------------------------------------------------
# DuckDB


def duckdb_extension_path(name: str) -> str:
    import duckdb

    spec = importlib.util.find_spec(f"duckdb_extension_{name}")
    if spec is None or not spec.submodule_search_locations:
        pytest.fail(f"python package duckdb_extension_{name} is not installed")
    base = Path(list(spec.submodule_search_locations)[0])
    path = base / "extensions" / f"v{duckdb.__version__}" / f"{name}.duckdb_extension"
    if not path.exists():
        pytest.fail(f"missing DuckDB extension file {path}")
    return str(path)


def new_duckdb_connection():
    """A DuckDB connection with httpfs, avro and iceberg loaded from the wheel packages."""
    import duckdb

    con = duckdb.connect(config={"autoinstall_known_extensions": False, "autoload_known_extensions": False})
    for name in ("httpfs", "avro", "iceberg"):
        con.execute(f"LOAD '{duckdb_extension_path(name)}'")
    return con


@pytest.fixture
def duckdb_con():
    con = new_duckdb_connection()
    yield con
    con.close()


def duckdb_attach(
    con,
    server: FrazilServer,
    layout: str,
    alias: str = "frazil",
    extra: str = "",
    client_id: str | None = None,
    client_secret: str | None = None,
    org: str = ORG,
    env: str = ENV,
    secret_scope: str | None = None,
) -> None:
    """ATTACH environment `org`/`env` through `layout`, logging in with CLIENT_ID/CLIENT_SECRET
    (default: the server administrator). DuckDB fetches its token itself, as it does against
    Tableflow: HTTP Basic at `{ENDPOINT}/v1/oauth/tokens`, scope PRINCIPAL_ROLE:ALL.
    With `secret_scope`, the credentials go into a `CREATE SECRET (TYPE iceberg, ...)` with that
    OAUTH2_SCOPE instead (Confluent's DuckDB recipe uses 'catalog'). `extra`: more ATTACH options."""
    client_id = client_id or server.client_id
    client_secret = client_secret or server.client_secret
    if layout == "tableflow":
        endpoint = f"{server.base_url}/iceberg/catalog/organizations/{org}/environments/{env}"
        # the ATTACH path is sent as ?warehouse= and must be ignored by the Tableflow layout
        path = "ignored"
    else:
        endpoint, path = server.warehouse_uri, f"{org}/{env}"
    if secret_scope is None:
        auth = f"CLIENT_ID '{client_id}', CLIENT_SECRET '{client_secret}'"
    else:
        con.execute(
            f"CREATE OR REPLACE SECRET {alias}_secret (TYPE iceberg, CLIENT_ID '{client_id}', "
            f"CLIENT_SECRET '{client_secret}', ENDPOINT '{endpoint}', OAUTH2_SCOPE '{secret_scope}')"
        )
        auth = f"SECRET {alias}_secret"
    more = f", {extra}" if extra else ""
    con.execute(f"ATTACH '{path}' AS {alias} (TYPE iceberg, ENDPOINT '{endpoint}', {auth}{more})")


# --------------------------------------------------------------------------------------------
# the admin REST API


class AdminError(AssertionError):
    pass


class AdminClient:
    """The admin REST API (`/admin/v1`) with one bearer token (default: the server administrator)."""

    def __init__(self, server: FrazilServer, token: str | None = None):
        self.server = server
        self.base = f"{server.base_url}/admin/v1"
        self.s = bearer_session(token or server.token())

    def call(self, method: str, path: str, expect: int | None = None, **kw) -> requests.Response:
        r = self.s.request(method, f"{self.base}{path}", timeout=30, **kw)
        if expect is not None and r.status_code != expect:
            raise AdminError(f"{method} /admin/v1{path}: expected {expect}, got {r.status_code}: {r.text[:800]}")
        return r

    def create_org(self, org_id: str | None = None, name: str | None = None) -> dict:
        body = {"name": name or f"org {org_id}"}
        if org_id is not None:
            body["id"] = org_id
        return self.call("POST", "/organizations", json=body, expect=201).json()

    def create_env(self, org: str, env_id: str | None, location: str | None = None, name: str | None = None, s3: dict | None = None) -> dict:
        """Without `location` the environment lives at `{root}/{org}/{env}`; choosing one is a server
        administrator's (below a storage root)."""
        body: dict = {"name": name or f"env {env_id}"}
        if location is not None:
            body["storage"] = {"location": location}
        if env_id is not None:
            body["id"] = env_id
        if s3 is not None:
            body.setdefault("storage", {})["s3"] = s3
        return self.call("POST", f"/organizations/{org}/environments", json=body, expect=201).json()

    def register_cluster(self, org: str, env: str, cluster_id: str, name: str | None = None) -> dict:
        body = {"id": cluster_id}
        if name is not None:
            body["name"] = name
        return self.call("POST", f"/organizations/{org}/environments/{env}/clusters", json=body, expect=201).json()

    def create_key(self, org: str, env: str | None, role: str, **extra) -> dict:
        """A new API key (201): the response with `key` and `secret`."""
        path = f"/organizations/{org}/environments/{env}/api-keys" if env else f"/organizations/{org}/api-keys"
        return self.call("POST", path, json={"role": role, **extra}, expect=201).json()

    def revoke_key(self, org: str, env: str | None, key: str) -> None:
        path = f"/organizations/{org}/environments/{env}/api-keys/{key}" if env else f"/organizations/{org}/api-keys/{key}"
        self.call("DELETE", path, expect=204)


@dataclass
class Tenant:
    """An organization + environment made through the admin API, with its storage directory."""

    org: str
    env: str
    info: dict  # the environment as the admin API returned it
    warehouse_dir: Path

    @property
    def catalog_uri(self) -> str:
        return self.info["catalog_uri"]


def make_tenant(server: FrazilServer, admin: AdminClient, base_dir: Path, org: str | None = None, env: str | None = None) -> Tenant:
    """A fresh organization and environment, made without `storage` as tenants do: its storage is
    `{warehouse}/{org}/{env}` (`base_dir` is no longer used)."""
    org = org or unique("org").replace("_", "-")
    env = env or unique("env").replace("_", "-")
    existing = admin.call("GET", f"/organizations/{org}")
    if existing.status_code == 404:
        admin.create_org(org)
    info = admin.create_env(org, env)
    location = info["storage"]["location"]
    wh = Path(unquote(urlsplit(location).path)) if location.startswith("file:") else Path(location)
    return Tenant(org=org, env=env, info=info, warehouse_dir=wh)


def assert_iceberg_error(resp: requests.Response, code: int, type_: str | None = None) -> dict:
    """`resp` is `code` with the Iceberg error body {"error": {"message", "type", "code"}}."""
    assert resp.status_code == code, f"expected {code}, got {resp.status_code}: {resp.text[:600]}"
    assert resp.headers.get("content-type", "").startswith("application/json"), (resp.status_code, dict(resp.headers))
    err = resp.json().get("error")
    assert isinstance(err, dict), resp.text
    assert err.get("code") == code, resp.text
    assert isinstance(err.get("message"), str) and err["message"], resp.text
    assert isinstance(err.get("type"), str) and err["type"], resp.text
    if type_ is not None:
        assert err["type"] == type_, resp.text
    return err


# --------------------------------------------------------------------------------------------
# S3 (moto)


@dataclass
class MotoS3:
    endpoint: str
    proc: subprocess.Popen
    log: Path

    def client(self):
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=S3_ACCESS_KEY,
            aws_secret_access_key=S3_SECRET_KEY,
            region_name=S3_REGION,
        )

    def keys(self, bucket: str, prefix: str = "") -> list[str]:
        """Object keys under `prefix`, without the zero-byte `dir/` markers that pyarrow's S3
        filesystem creates (they hold no table data)."""
        out: list[str] = []
        paginator = self.client().get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
            out.extend(o["Key"] for o in page.get("Contents", []) if not (o["Key"].endswith("/") and o["Size"] == 0))
        return sorted(out)


def start_moto(log: Path, env: dict | None = None) -> MotoS3:
    """A moto_server on a free port, logging to `log`, with `env` added to its environment (moto's
    own switches: request recording, IAM authentication); stop it with `stop_moto`."""
    moto_server = Path(sys.executable).parent / "moto_server"
    if not moto_server.exists():
        found = shutil.which("moto_server")
        if found is None:
            pytest.fail("moto_server not found (run scripts/setup-python.sh)")
        moto_server = Path(found)
    port = free_port()
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [str(moto_server), "-H", "127.0.0.1", "-p", str(port)],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
        )
    endpoint = f"http://127.0.0.1:{port}"
    _wait_http(f"{endpoint}/moto-api/", proc, log, "moto_server")
    return MotoS3(endpoint=endpoint, proc=proc, log=log)


def stop_moto(moto: MotoS3) -> None:
    _stop(moto.proc)


@pytest.fixture(scope="session")
def moto_s3(tmp_path_factory) -> Iterator[MotoS3]:
    moto = start_moto(tmp_path_factory.mktemp("moto") / "moto.log")
    yield moto
    stop_moto(moto)


@pytest.fixture(scope="module")
def s3_bucket(moto_s3: MotoS3) -> str:
    bucket = unique("frazil").replace("_", "-")
    moto_s3.client().create_bucket(Bucket=bucket)
    return bucket


def moto_s3_settings(moto: MotoS3) -> dict:
    """The server's S3 settings (environment variables) for storage on moto."""
    return {
        "FRAZIL_S3_ENDPOINT": moto.endpoint,
        "FRAZIL_S3_REGION": S3_REGION,
        "FRAZIL_S3_ACCESS_KEY_ID": S3_ACCESS_KEY,
        "FRAZIL_S3_SECRET_ACCESS_KEY": S3_SECRET_KEY,
        "FRAZIL_S3_PATH_STYLE": "true",
        "FRAZIL_S3_ALLOW_HTTP": "true",
    }


@pytest.fixture(scope="module")
def s3_server(store: str, moto_s3: MotoS3, s3_bucket: str, tmp_path_factory) -> Iterator[FrazilServer]:
    """A frazil per store whose warehouse is s3://<bucket>/warehouse on moto."""
    base = tmp_path_factory.mktemp(f"frazil-s3-{store}")
    cleanups: list[Callable[[], None]] = []
    try:
        db_url = _database_for(store, base, cleanups)
        srv = start_server(store, base, db_url, warehouse=f"s3://{s3_bucket}/warehouse", env=moto_s3_settings(moto_s3))
        srv.extra["bucket"] = s3_bucket
        try:
            yield srv
        finally:
            stop_server(srv)
    finally:
        for c in reversed(cleanups):
            c()


def s3_client_properties(moto: MotoS3) -> dict:
    """PyIceberg catalog properties that let the client read/write data files on moto."""
    return {
        "s3.endpoint": moto.endpoint,
        "s3.access-key-id": S3_ACCESS_KEY,
        "s3.secret-access-key": S3_SECRET_KEY,
        "s3.region": S3_REGION,
        "s3.path-style-access": "true",
    }
