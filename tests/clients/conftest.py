"""Fixtures for the Python end-to-end client tests.

Every test talks to the real `frazil` binary (target/debug/frazil, or $FRAZIL_BIN) started on a
free port with its own data directory, once per metadata store:

* ``sqlite``   - a SQLite file in the temp dir;
* ``postgres`` - a fresh database ``frazil_py_<random>`` on $FRAZIL_TEST_POSTGRES_URL
                 (default postgres://postgres@127.0.0.1:5432/postgres), dropped at teardown.

Store-level fixtures are parametrized, so every test that uses them runs against both stores.
One server per store per test module; tests use unique namespace names.
"""

from __future__ import annotations

import importlib.util
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
from urllib.parse import urlsplit, urlunsplit

import pytest
import requests

REPO_ROOT = Path(__file__).resolve().parents[2]
FRAZIL_BIN = Path(os.environ.get("FRAZIL_BIN") or REPO_ROOT / "target" / "debug" / "frazil").absolute()
POSTGRES_URL = os.environ.get("FRAZIL_TEST_POSTGRES_URL") or "postgres://postgres@127.0.0.1:5432/postgres"
STORES = ["sqlite", "postgres"]
LAYOUTS = ["tableflow", "warehouse"]
ORG = "default"
ENV = "default"
STARTUP_TIMEOUT_S = 30.0

S3_ACCESS_KEY = "frazil-test-key"
S3_SECRET_KEY = "frazil-test-secret"
S3_REGION = "us-east-1"


# --------------------------------------------------------------------------------------------
# helpers


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def unique(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:10]}"


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
    extra: dict = field(default_factory=dict)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

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
    def warehouse_path(self) -> Path:
        """Local directory of a file:// warehouse."""
        assert self.warehouse.startswith("file://"), self.warehouse
        return Path(self.warehouse[len("file://") :])

    def catalog_uri(self, layout: str) -> str:
        return self.tableflow_uri if layout == "tableflow" else self.warehouse_uri

    def api_prefix(self, layout: str = "tableflow") -> str:
        """`{uri}/v1` or `{uri}/v1/{prefix}` as a client would build it after /v1/config."""
        uri = self.catalog_uri(layout)
        if layout == "tableflow":
            r = requests.get(f"{uri}/v1/config", timeout=10)
        else:
            r = requests.get(f"{uri}/v1/config", params={"warehouse": self.warehouse_name}, timeout=10)
        r.raise_for_status()
        cfg = r.json()
        prefix = (cfg.get("overrides") or {}).get("prefix") or (cfg.get("defaults") or {}).get("prefix")
        return f"{uri}/v1/{prefix}" if prefix else f"{uri}/v1"

    def alive(self) -> bool:
        return self.proc.poll() is None

    def log_text(self) -> str:
        return _tail(self.log, 200_000)


def start_server(store: str, base_dir: Path, database_url: str, warehouse: str | None = None, env: dict | None = None) -> FrazilServer:
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
    # nothing from the caller's FRAZIL_* configuration leaks into the server under test
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("FRAZIL_")}
    full_env.update(
        {
            "FRAZIL_LISTEN": f"127.0.0.1:{port}",
            "FRAZIL_DATA_DIR": str(data_dir),
            "FRAZIL_DATABASE_URL": database_url,
            "FRAZIL_WAREHOUSE": warehouse,
            "RUST_BACKTRACE": "1",
        }
    )
    full_env.update(env or {})
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [str(FRAZIL_BIN), "serve"],
            cwd=base_dir,
            env=full_env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    server = FrazilServer(store=store, port=port, data_dir=data_dir, warehouse=warehouse, proc=proc, log=log)
    _wait_http(f"{server.base_url}/healthz", proc, log, f"frazil ({store})")
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


def make_catalog(server: FrazilServer, layout: str, **props):
    from pyiceberg.catalog.rest import RestCatalog

    if layout == "tableflow":
        return RestCatalog(f"frazil-{layout}", uri=server.tableflow_uri, **props)
    return RestCatalog(f"frazil-{layout}", uri=server.warehouse_uri, warehouse=server.warehouse_name, **props)


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


@pytest.fixture
def duckdb_con():
    """A DuckDB connection with httpfs, avro and iceberg loaded from the wheel packages."""
    import duckdb

    con = duckdb.connect(config={"autoinstall_known_extensions": False, "autoload_known_extensions": False})
    for name in ("httpfs", "avro", "iceberg"):
        con.execute(f"LOAD '{duckdb_extension_path(name)}'")
    yield con
    con.close()


def duckdb_attach(con, server: FrazilServer, layout: str, alias: str = "frazil", extra: str = "") -> None:
    """ATTACH the catalog through `layout` without authentication (`extra`: more ATTACH options)."""
    more = f", {extra}" if extra else ""
    if layout == "tableflow":
        # the ATTACH path is sent as ?warehouse= and must be ignored by the Tableflow layout
        con.execute(
            f"ATTACH 'ignored' AS {alias} (TYPE iceberg, ENDPOINT '{server.tableflow_uri}', AUTHORIZATION_TYPE 'none'{more})"
        )
    else:
        con.execute(
            f"ATTACH '{server.warehouse_name}' AS {alias} "
            f"(TYPE iceberg, ENDPOINT '{server.warehouse_uri}', AUTHORIZATION_TYPE 'none'{more})"
        )


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


@pytest.fixture(scope="session")
def moto_s3(tmp_path_factory) -> Iterator[MotoS3]:
    moto_server = Path(sys.executable).parent / "moto_server"
    if not moto_server.exists():
        found = shutil.which("moto_server")
        if found is None:
            pytest.fail("moto_server not found (run scripts/setup-python.sh)")
        moto_server = Path(found)
    port = free_port()
    log = tmp_path_factory.mktemp("moto") / "moto.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [str(moto_server), "-H", "127.0.0.1", "-p", str(port)],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    endpoint = f"http://127.0.0.1:{port}"
    _wait_http(f"{endpoint}/moto-api/", proc, log, "moto_server")
    yield MotoS3(endpoint=endpoint, proc=proc, log=log)
    _stop(proc)


@pytest.fixture(scope="module")
def s3_bucket(moto_s3: MotoS3) -> str:
    bucket = unique("frazil").replace("_", "-")
    moto_s3.client().create_bucket(Bucket=bucket)
    return bucket


@pytest.fixture(scope="module")
def s3_server(store: str, moto_s3: MotoS3, s3_bucket: str, tmp_path_factory) -> Iterator[FrazilServer]:
    """A frazil per store whose warehouse is s3://<bucket>/warehouse on moto."""
    base = tmp_path_factory.mktemp(f"frazil-s3-{store}")
    cleanups: list[Callable[[], None]] = []
    try:
        db_url = _database_for(store, base, cleanups)
        env = {
            "FRAZIL_S3_ENDPOINT": moto_s3.endpoint,
            "FRAZIL_S3_REGION": S3_REGION,
            "FRAZIL_S3_ACCESS_KEY_ID": S3_ACCESS_KEY,
            "FRAZIL_S3_SECRET_ACCESS_KEY": S3_SECRET_KEY,
            "FRAZIL_S3_PATH_STYLE": "true",
            "FRAZIL_S3_ALLOW_HTTP": "true",
        }
        srv = start_server(store, base, db_url, warehouse=f"s3://{s3_bucket}/warehouse", env=env)
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
