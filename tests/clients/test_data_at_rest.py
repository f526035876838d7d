"""What the server leaves on disk: the embedded default's data directory is readable by its owner
only (database, its WAL, the generated master key, the first administrator's credentials), the
token-signing private keys are sealed with the master key in the database, and a server given
another master key refuses to start instead of serving with keys it cannot open."""

from __future__ import annotations

import base64
import os
import sqlite3
import stat
import subprocess

from conftest import FRAZIL_BIN, server_env, start_server, stop_server


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def fresh_server(tmp_path, env=None):
    """A server on a data directory it creates itself (the embedded default's layout)."""
    data = tmp_path / "data"
    wh = tmp_path / "warehouse"
    wh.mkdir(exist_ok=True)
    return start_server(
        "sqlite", tmp_path, f"sqlite://{data / 'frazil.db'}", warehouse=wh.as_uri(), env=env, bootstrap_env=False
    )


def test_the_data_directory_is_private_to_its_owner(tmp_path):
    server = fresh_server(tmp_path)
    try:
        assert server.token()  # the server works: it wrote its keys and a WAL
    finally:
        stop_server(server)
    data = tmp_path / "data"
    assert mode(data) == 0o700
    for name in ["frazil.db", "master.key", "bootstrap-credentials.json"]:
        assert mode(data / name) == 0o600, name
    for extra in data.glob("frazil.db-*"):
        assert mode(extra) == 0o600, extra.name
    assert len(base64.b64decode((data / "master.key").read_text().strip())) == 32


def test_signing_keys_are_sealed_and_a_wrong_master_key_stops_the_start(tmp_path):
    server = fresh_server(tmp_path)
    try:
        server.token()
    finally:
        stop_server(server)
    with sqlite3.connect(tmp_path / "data" / "frazil.db") as db:
        keys = [row[0] for row in db.execute("SELECT private_key FROM signing_keys")]
    assert keys and all(k.startswith("sealed:v1:") for k in keys), keys

    # The same data directory starts again with its own key ...
    again = fresh_server(tmp_path)
    try:
        assert again.token()
    finally:
        stop_server(again)
    # ... and not with another one.
    wrong = base64.b64encode(os.urandom(32)).decode()
    env = server_env(
        tmp_path,
        f"sqlite://{tmp_path / 'data' / 'frazil.db'}",
        (tmp_path / "warehouse").as_uri(),
        env={"FRAZIL_MASTER_KEY": wrong},
        bootstrap_env=False,
    )
    result = subprocess.run([str(FRAZIL_BIN), "serve"], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert "master key" in result.stderr, result.stderr[-2000:]

