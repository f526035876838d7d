"""What a new user meets when starting and operating `frazil` (issue 14): stopping with Ctrl-C,
settings mistakes named at start-up, one server per SQLite database, recovering a lost
administrator credential, and CLI commands that print their output without log noise.

Each test starts its own processes: most of them are about start-up failing, or about the
process ending. SQLite unless the store matters.
"""

from __future__ import annotations

import json
import re
import signal
import socket
import stat
import subprocess
import time
from pathlib import Path

import requests
from conftest import (
    BOOTSTRAP_CLIENT_ID,
    FRAZIL_BIN,
    AdminClient,
    free_port,
    request_token,
    server_env,
    start_server,
    stop_server,
    unique,
)

TIMEOUT = 60


def sqlite_env(base: Path, port: int | None = None, env: dict | None = None) -> dict:
    (base / "data").mkdir(parents=True, exist_ok=True)
    (base / "warehouse").mkdir(parents=True, exist_ok=True)
    return server_env(base, f"sqlite://{base / 'frazil.db'}", (base / "warehouse").as_uri(), port=port, env=env)


def frazil(args: list[str], env: dict, timeout: float = TIMEOUT) -> subprocess.CompletedProcess:
    return subprocess.run([str(FRAZIL_BIN), *args], env=env, capture_output=True, text=True, timeout=timeout)


def assert_no_info_lines(r: subprocess.CompletedProcess) -> None:
    """CLI commands log at warn unless told otherwise: their output is not buried in INFO lines."""
    assert " INFO " not in r.stderr and " INFO " not in r.stdout, r.stderr


def start_sqlite(base: Path, env: dict | None = None, bootstrap_env: bool = True):
    base.mkdir(parents=True, exist_ok=True)
    return start_server("sqlite", base, f"sqlite://{base / 'frazil.db'}", env=env, bootstrap_env=bootstrap_env)


# --------------------------------------------------------------------------------------------
# stopping


def begin_slow_request(srv, ns: str) -> tuple[socket.socket, bytes]:
    """A create-namespace request whose body is only half sent: it is in flight until the rest
    follows. Returns the socket and the rest of the body."""
    body = json.dumps({"namespace": [ns]}).encode()
    path = "/iceberg/catalog/organizations/default/environments/default/v1/namespaces"
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{srv.port}\r\nAuthorization: Bearer {srv.token()}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode()
    sock = socket.create_connection(("127.0.0.1", srv.port), timeout=30)
    half = len(body) // 2
    sock.sendall(head + body[:half])
    time.sleep(0.3)  # the server has read the head and waits for the body
    return sock, body[half:]


def read_response(sock: socket.socket) -> bytes:
    chunks = []
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)


def test_sigint_lets_a_request_in_flight_finish(tmp_path):
    srv = start_sqlite(tmp_path)
    try:
        ns = unique("inflight")
        sock, rest = begin_slow_request(srv, ns)
        srv.proc.send_signal(signal.SIGINT)
        time.sleep(1.0)
        assert srv.alive(), "SIGINT stopped the server with a request in flight:\n" + srv.log_text()
        sock.sendall(rest)
        response = read_response(sock)
        sock.close()
        assert response.startswith(b"HTTP/1.1 200"), response[:500]
        assert srv.proc.wait(timeout=30) == 0, srv.log_text()
        log = srv.log_text()
        assert "SIGINT received" in log, log
        assert "panicked" not in log, log
    finally:
        if srv.alive():
            srv.proc.kill()
            srv.proc.wait()
    # the namespace was committed: a server on the same store lists it
    again = start_sqlite(tmp_path)
    try:
        r = again.http().get(f"{again.tableflow_uri}/v1/namespaces", timeout=30)
        assert [ns] in r.json()["namespaces"], r.text
    finally:
        stop_server(again)


def test_a_second_sigint_stops_at_once(tmp_path):
    srv = start_sqlite(tmp_path)
    try:
        sock, _ = begin_slow_request(srv, unique("cut"))
        srv.proc.send_signal(signal.SIGINT)
        time.sleep(0.5)
        assert srv.alive(), srv.log_text()
        started = time.monotonic()
        srv.proc.send_signal(signal.SIGINT)
        status = srv.proc.wait(timeout=10)
        assert time.monotonic() - started < 5, "the second SIGINT did not stop the server at once"
        assert status == 130, (status, srv.log_text())
        assert "received again: stopping at once" in srv.log_text()
        sock.close()
    finally:
        if srv.alive():
            srv.proc.kill()
            srv.proc.wait()


# --------------------------------------------------------------------------------------------
# settings mistakes


def test_an_unknown_key_in_the_config_file_is_refused(tmp_path):
    config = tmp_path / "frazil.toml"
    config.write_text('lisen = "127.0.0.1:9999"\n')
    r = frazil(["--config", str(config), "serve"], sqlite_env(tmp_path))
    assert r.returncode != 0
    assert "unknown setting `lisen`" in r.stderr and str(config) in r.stderr, r.stderr
    assert "did you mean `listen`" in r.stderr, r.stderr
    assert "panicked" not in r.stderr


def test_bad_values_are_refused_by_name(tmp_path):
    r = frazil(["serve"], sqlite_env(tmp_path, env={"FRAZIL_LISTEN": "127.0.0.1"}))
    assert r.returncode != 0
    assert "FRAZIL_LISTEN" in r.stderr and '"127.0.0.1"' in r.stderr, r.stderr

    r = frazil(["serve"], sqlite_env(tmp_path, port=free_port(), env={"FRAZIL_LOG_FORMAT": "jsn"}))
    assert r.returncode != 0
    assert 'FRAZIL_LOG_FORMAT = "jsn"' in r.stderr and "text, json" in r.stderr, r.stderr

    config = tmp_path / "frazil.toml"
    config.write_text('sqlite_synchronous = "sometimes"\n')
    r = frazil(["--config", str(config), "bootstrap"], sqlite_env(tmp_path))
    assert r.returncode != 0
    assert "`sqlite_synchronous`" in r.stderr and '"sometimes"' in r.stderr, r.stderr


def test_a_session_duration_sts_refuses_is_refused_at_start(tmp_path):
    for seconds in ("899", "43201"):
        r = frazil(["serve"], sqlite_env(tmp_path, port=free_port(), env={"FRAZIL_VENDED_CREDENTIALS_DURATION_SECONDS": seconds}))
        assert r.returncode != 0
        assert "FRAZIL_VENDED_CREDENTIALS_DURATION_SECONDS" in r.stderr and "900" in r.stderr and "43200" in r.stderr, r.stderr
        assert "panicked" not in r.stderr


def test_a_misspelt_variable_is_refused_and_an_unknown_one_warned_about(tmp_path):
    r = frazil(["serve"], sqlite_env(tmp_path, env={"FRAZIL_LISEN": "127.0.0.1:1"}))
    assert r.returncode != 0
    assert "FRAZIL_LISEN: did you mean FRAZIL_LISTEN?" in r.stderr, r.stderr

    r = frazil(["bootstrap"], sqlite_env(tmp_path, env={"FRAZIL_SOMETHING_ELSE": "1"}))
    assert r.returncode == 0, r.stderr
    assert "FRAZIL_SOMETHING_ELSE" in r.stderr, r.stderr


def test_a_busy_port_is_named(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        r = frazil(["serve"], sqlite_env(tmp_path, port=port))
    assert r.returncode != 0
    assert f"cannot listen on 127.0.0.1:{port}" in r.stderr, r.stderr
    assert "address already in use" in r.stderr, r.stderr


def test_an_unreachable_postgres_is_named_at_once(tmp_path):
    port = free_port()  # nothing listens there
    url = f"postgres://frazil:not-this-password@127.0.0.1:{port}/frazil"
    env = sqlite_env(tmp_path, port=free_port(), env={"FRAZIL_DATABASE_URL": url})
    started = time.monotonic()
    r = frazil(["serve"], env)
    elapsed = time.monotonic() - started
    assert r.returncode != 0
    assert elapsed < 10, f"took {elapsed:.1f} s to report an unreachable database"
    assert f"127.0.0.1:{port}" in r.stderr, r.stderr
    assert "refused" in r.stderr.lower(), r.stderr
    assert "not-this-password" not in r.stderr + r.stdout


# --------------------------------------------------------------------------------------------
# one server per SQLite database


def test_a_second_server_on_one_sqlite_database_is_refused(tmp_path):
    srv = start_sqlite(tmp_path)
    try:
        r = frazil(["serve"], sqlite_env(tmp_path, port=free_port()))
        assert r.returncode != 0
        assert "frazil.db.lock" in r.stderr, r.stderr
        assert f"pid {srv.proc.pid}" in r.stderr, r.stderr
        assert srv.alive()
        # the commands still work beside it (SQLite WAL), and it sees their keys at once
        k = frazil(["api-key", "create", "--org", "default", "--env", "default"], sqlite_env(tmp_path))
        assert k.returncode == 0, k.stderr
        key = re.search(r"^key:\s+(\S+)", k.stdout, re.M).group(1)
        secret = re.search(r"^secret:\s+(\S+)", k.stdout, re.M).group(1)
        assert re.search(r"^role:\s+reader", k.stdout, re.M), k.stdout
        assert request_token(f"{srv.base_url}/oauth/token", key, secret).status_code == 200
    finally:
        stop_server(srv)


# --------------------------------------------------------------------------------------------
# the administrator's credential


def test_admin_key_create_issues_a_working_key(tmp_path):
    srv = start_sqlite(tmp_path)
    try:
        env = sqlite_env(tmp_path)
        r = frazil(["admin-key", "create"], env)
        assert r.returncode == 0, r.stderr
        assert_no_info_lines(r)
        client_id = re.search(r"client id:\s+(\S+)", r.stdout).group(1)
        secret = re.search(r"client secret:\s+(\S+)", r.stdout).group(1)
        file = srv.data_dir / f"admin-key-{client_id}.json"
        assert stat.S_IMODE(file.stat().st_mode) == 0o600
        assert json.loads(file.read_text()) == {"client_id": client_id, "client_secret": secret, "role": "admin"}
        # the running server accepts it as a server administrator
        r = request_token(f"{srv.base_url}/oauth/token", client_id, secret)
        assert r.status_code == 200, r.text
        token = r.json()["access_token"]
        r = requests.get(f"{srv.base_url}/admin/v1/organizations", headers={"Authorization": f"Bearer {token}"}, timeout=30)
        assert r.status_code == 200, r.text

        listed = frazil(["admin-key", "list"], env)
        assert listed.returncode == 0 and client_id in listed.stdout and BOOTSTRAP_CLIENT_ID in listed.stdout, listed
        revoked = frazil(["admin-key", "revoke", BOOTSTRAP_CLIENT_ID], env)
        assert revoked.returncode == 0, revoked.stderr
        listed = frazil(["admin-key", "list"], env)
        assert re.search(rf"^{re.escape(BOOTSTRAP_CLIENT_ID)}\s+revoked", listed.stdout, re.M), listed.stdout

        # bootstrap on a store with an administrator says so and points at the command
        b = frazil(["bootstrap"], env)
        assert b.returncode == 0, b.stderr
        assert "already has an administrator" in b.stdout and "frazil admin-key create" in b.stdout, b.stdout
        assert secret not in srv.log_text()
    finally:
        stop_server(srv)


def test_stale_bootstrap_variables_are_warned_about_on_start(tmp_path):
    srv = start_sqlite(tmp_path)
    stop_server(srv)
    changed = "a-changed-secret-that-is-long-enough"
    srv = start_sqlite(tmp_path, env={"FRAZIL_BOOTSTRAP_CLIENT_SECRET": changed})
    try:
        log = srv.log_text()
        assert f"FRAZIL_BOOTSTRAP_CLIENT_ID {BOOTSTRAP_CLIENT_ID} does not verify" in log, log
        assert "frazil admin-key create" in log
        assert changed not in log
    finally:
        stop_server(srv)
    srv = start_sqlite(tmp_path, env={"FRAZIL_BOOTSTRAP_CLIENT_ID": "someone-else"})
    try:
        assert "FRAZIL_BOOTSTRAP_CLIENT_ID someone-else names no key" in srv.log_text()
    finally:
        stop_server(srv)


# --------------------------------------------------------------------------------------------
# the CLI's output


def test_openapi_into_a_closed_pipe_exits_quietly():
    for fmt in ("json", "yaml"):
        r = subprocess.run(
            f"'{FRAZIL_BIN}' openapi --format {fmt} | head -1",
            shell=True,
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
        )
        assert r.stdout, r
        assert r.stderr == "", r.stderr


def test_an_organization_key_defaults_to_admin(tmp_path):
    srv = start_sqlite(tmp_path)
    try:
        org = unique("org").replace("_", "-")
        admin = AdminClient(srv)
        admin.create_org(org)
        r = frazil(["api-key", "create", "--org", org], sqlite_env(tmp_path))
        assert r.returncode == 0, r.stderr
        assert_no_info_lines(r)
        key = re.search(r"^key:\s+(\S+)", r.stdout, re.M).group(1)
        keys = admin.call("GET", f"/organizations/{org}/api-keys", expect=200).json()["api_keys"]
        assert next(k for k in keys if k["key"] == key)["role"] == "admin"
        help_text = frazil(["api-key", "create", "--help"], sqlite_env(tmp_path)).stdout
        assert "admin for an organization key" in help_text, help_text
    finally:
        stop_server(srv)
