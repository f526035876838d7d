"""Bad requests over raw HTTP: each gets the right 4xx Iceberg error body and changes nothing."""

from __future__ import annotations

import uuid
from urllib.parse import quote

import pytest
import requests

from conftest import unique

TIMEOUT = 30
SCHEMA = {
    "type": "struct",
    "schema-id": 0,
    "fields": [
        {"id": 1, "name": "id", "required": False, "type": "long"},
        {"id": 2, "name": "name", "required": False, "type": "string"},
    ],
}


def assert_error(resp: requests.Response, code: int, type_: str, message: str | None = None, prefix: str | None = None) -> dict:
    assert resp.status_code == code, f"expected {code}, got {resp.status_code}: {resp.text[:600]}"
    assert resp.headers.get("content-type", "").startswith("application/json"), resp.headers
    body = resp.json()
    err = body.get("error")
    assert isinstance(err, dict), body
    assert err.get("code") == code, body
    assert err.get("type") == type_, body
    assert isinstance(err.get("message"), str) and err["message"], body
    if message is not None:
        assert err["message"] == message, body
    if prefix is not None:
        assert err["message"].startswith(prefix), body
    return err


class Api:
    """The REST routes under `{uri}/v1[/{prefix}]` for one layout."""

    def __init__(self, server, layout: str):
        self.base = server.api_prefix(layout)
        self.s = server.http()  # the server administrator's bearer token

    def ns_url(self, ns: str) -> str:
        return f"{self.base}/namespaces/{quote(ns, safe='')}"

    def table_url(self, ns: str, table: str) -> str:
        return f"{self.ns_url(ns)}/tables/{quote(table, safe='')}"

    def create_namespace(self, ns: str) -> None:
        r = self.s.post(f"{self.base}/namespaces", json={"namespace": [ns], "properties": {}}, timeout=TIMEOUT)
        assert r.status_code == 200, r.text

    def create_table(self, ns: str, table: str) -> dict:
        r = self.s.post(f"{self.ns_url(ns)}/tables", json={"name": table, "schema": SCHEMA}, timeout=TIMEOUT)
        assert r.status_code == 200, r.text
        return r.json()

    def load_table(self, ns: str, table: str) -> requests.Response:
        return self.s.get(self.table_url(ns, table), timeout=TIMEOUT)

    def state(self, ns: str, table: str) -> tuple:
        """What must not change: status, metadata location, uuid, snapshots, properties."""
        r = self.load_table(ns, table)
        if r.status_code != 200:
            return (r.status_code,)
        body = r.json()
        md = body["metadata"]
        return (
            200,
            body["metadata-location"],
            md["table-uuid"],
            md.get("current-snapshot-id"),
            len(md.get("snapshots") or []),
            tuple(sorted((md.get("properties") or {}).items())),
            len(md.get("schemas") or []),
        )

    def namespaces(self) -> list:
        r = self.s.get(f"{self.base}/namespaces", timeout=TIMEOUT)
        assert r.status_code == 200, r.text
        return sorted(tuple(n) for n in r.json()["namespaces"])

    def tables(self, ns: str) -> list:
        r = self.s.get(f"{self.ns_url(ns)}/tables", timeout=TIMEOUT)
        assert r.status_code == 200, r.text
        return sorted((tuple(i["namespace"]), i["name"]) for i in r.json()["identifiers"])

    def commit(self, ns: str, table: str, body) -> requests.Response:
        if isinstance(body, (bytes, str)):
            return self.s.post(self.table_url(ns, table), data=body, headers={"Content-Type": "application/json"}, timeout=TIMEOUT)
        return self.s.post(self.table_url(ns, table), json=body, timeout=TIMEOUT)


@pytest.fixture
def api(server, layout) -> Api:
    return Api(server, layout)


@pytest.fixture
def table(api, tableflow_catalog):
    """(namespace, table) with one appended snapshot, so `main` exists."""
    import pyarrow as pa

    ns = unique("bad")
    api.create_namespace(ns)
    api.create_table(ns, "t")
    tbl = tableflow_catalog.load_table(f"{ns}.t")
    tbl.append(pa.Table.from_pylist([{"id": 1, "name": "a"}], schema=tbl.schema().as_arrow()))
    return ns, "t"


def set_props(key: str = "changed") -> dict:
    return {"action": "set-properties", "updates": {key: "yes"}}


# ------------------------------------------------------------------------------- malformed JSON


@pytest.mark.parametrize(
    "payload",
    [b"{not json", b'{"namespace": ["x"], ', b"", b"[1, 2]", b'{"namespace": "not-a-list"}'],
    ids=["garbage", "truncated", "empty", "array", "wrong-type"],
)
def test_malformed_create_namespace(api, payload):
    before = api.namespaces()
    r = api.s.post(f"{api.base}/namespaces", data=payload, headers={"Content-Type": "application/json"}, timeout=TIMEOUT)
    assert_error(r, 400, "BadRequestException")
    assert api.namespaces() == before


@pytest.mark.parametrize(
    "payload",
    [b"{", b'{"requirements": [], "updates": [', b'{"requirements": 5, "updates": []}', b"null"],
    ids=["garbage", "truncated", "wrong-type", "null"],
)
def test_malformed_commit(api, table, payload):
    ns, t = table
    before = api.state(ns, t)
    assert_error(api.commit(ns, t, payload), 400, "BadRequestException")
    assert api.state(ns, t) == before


def test_malformed_create_table(api, table):
    ns, _ = table
    before = api.tables(ns)
    r = api.s.post(f"{api.ns_url(ns)}/tables", data=b'{"name": "u", "schema": ', headers={"Content-Type": "application/json"}, timeout=TIMEOUT)
    assert_error(r, 400, "BadRequestException")
    r = api.s.post(f"{api.ns_url(ns)}/tables", json={"name": "u", "schema": {"type": "struct", "fields": "nope"}}, timeout=TIMEOUT)
    assert_error(r, 400, "BadRequestException")
    assert api.tables(ns) == before


# ------------------------------------------------------------------ unknown action / requirement


def test_unknown_update_action(api, table):
    ns, t = table
    before = api.state(ns, t)
    body = {"requirements": [], "updates": [set_props(), {"action": "frobnicate-table", "value": 1}]}
    assert_error(api.commit(ns, t, body), 400, "BadRequestException")
    assert api.state(ns, t) == before


def test_unknown_requirement_type(api, table):
    ns, t = table
    before = api.state(ns, t)
    body = {"requirements": [{"type": "assert-the-moon-is-full"}], "updates": [set_props()]}
    assert_error(api.commit(ns, t, body), 400, "BadRequestException")
    assert api.state(ns, t) == before


def test_reassign_table_uuid_rejected(api, table):
    """A table's UUID never changes (Snowflake drops catalog-linked tables whose uuid changes);
    the reference builders reject it with "Cannot reassign uuid"."""
    ns, t = table
    before = api.state(ns, t)
    body = {"requirements": [], "updates": [{"action": "assign-uuid", "uuid": str(uuid.uuid4())}, set_props()]}
    assert_error(api.commit(ns, t, body), 400, "BadRequestException")
    assert api.state(ns, t) == before
    # assigning the same uuid is a no-op and allowed
    same = {"requirements": [], "updates": [{"action": "assign-uuid", "uuid": before[2]}]}
    r = api.commit(ns, t, same)
    assert r.status_code == 200, r.text
    assert api.state(ns, t)[2] == before[2]


@pytest.mark.parametrize(
    "update",
    [
        {"action": "set-current-schema", "schema-id": 99},
        {"action": "set-snapshot-ref", "ref-name": "main", "type": "branch", "snapshot-id": 123},
        {"action": "upgrade-format-version", "format-version": 1},
        {"action": "set-default-spec", "spec-id": 42},
    ],
    ids=["unknown-schema", "unknown-snapshot", "downgrade", "unknown-spec"],
)
def test_invalid_update(api, table, update):
    ns, t = table
    before = api.state(ns, t)
    assert_error(api.commit(ns, t, {"requirements": [], "updates": [set_props(), update]}), 400, "BadRequestException")
    assert api.state(ns, t) == before


# ------------------------------------------------------------------------- failed requirements


def test_failed_ref_requirement(api, table):
    ns, t = table
    before = api.state(ns, t)
    current = before[3]
    assert current is not None
    wrong = current + 1
    body = {
        "requirements": [{"type": "assert-ref-snapshot-id", "ref": "main", "snapshot-id": wrong}],
        "updates": [set_props()],
    }
    assert_error(
        api.commit(ns, t, body),
        409,
        "CommitFailedException",
        message=f"Requirement failed: branch main has changed: expected id {wrong} != {current}",
    )
    assert api.state(ns, t) == before


def test_failed_ref_requirement_expecting_no_ref(api, table):
    ns, t = table
    before = api.state(ns, t)
    body = {
        "requirements": [{"type": "assert-ref-snapshot-id", "ref": "main", "snapshot-id": None}],
        "updates": [set_props()],
    }
    assert_error(
        api.commit(ns, t, body), 409, "CommitFailedException", message="Requirement failed: branch main was created concurrently"
    )
    assert api.state(ns, t) == before


def test_failed_uuid_requirement(api, table):
    ns, t = table
    before = api.state(ns, t)
    actual = before[2]
    wrong = str(uuid.uuid4())
    body = {"requirements": [{"type": "assert-table-uuid", "uuid": wrong}], "updates": [set_props()]}
    assert_error(
        api.commit(ns, t, body),
        409,
        "CommitFailedException",
        message=f"Requirement failed: UUID does not match: expected {wrong} != {actual}",
    )
    assert api.state(ns, t) == before


def test_commit_to_missing_table(api, table):
    ns, _ = table
    before = api.tables(ns)
    body = {"requirements": [], "updates": [set_props()]}
    assert_error(api.commit(ns, "missing", body), 404, "NoSuchTableException")
    assert api.tables(ns) == before


# ------------------------------------------------------------------- namespaces and duplicates


def test_create_table_in_missing_namespace(api):
    ns = unique("missing")
    before = api.namespaces()
    r = api.s.post(f"{api.ns_url(ns)}/tables", json={"name": "t", "schema": SCHEMA}, timeout=TIMEOUT)
    assert_error(r, 404, "NoSuchNamespaceException", message=f"Namespace does not exist: {ns}")
    assert api.namespaces() == before
    r = api.s.get(api.ns_url(ns), timeout=TIMEOUT)
    assert_error(r, 404, "NoSuchNamespaceException")


def test_duplicate_table(api, table):
    ns, t = table
    before = api.state(ns, t)
    r = api.s.post(f"{api.ns_url(ns)}/tables", json={"name": t, "schema": SCHEMA, "properties": {"changed": "yes"}}, timeout=TIMEOUT)
    assert_error(r, 409, "AlreadyExistsException", prefix=f"Table already exists: {ns}.{t}")
    assert api.state(ns, t) == before
    assert api.tables(ns) == [((ns,), t)]


def test_duplicate_namespace(api, table):
    ns, _ = table
    before = api.namespaces()
    r = api.s.post(f"{api.base}/namespaces", json={"namespace": [ns], "properties": {"changed": "yes"}}, timeout=TIMEOUT)
    err = assert_error(r, 409, "AlreadyExistsException")
    assert "already exists" in err["message"].lower()
    assert api.namespaces() == before
    props = api.s.get(api.ns_url(ns), timeout=TIMEOUT).json().get("properties") or {}
    assert "changed" not in props


def test_drop_non_empty_namespace(api, table):
    ns, t = table
    before = api.state(ns, t)
    r = api.s.delete(api.ns_url(ns), timeout=TIMEOUT)
    err = assert_error(r, 409, "NamespaceNotEmptyException")
    assert "not empty" in err["message"].lower()
    assert api.s.get(api.ns_url(ns), timeout=TIMEOUT).status_code == 200
    assert (ns,) in api.namespaces()
    assert api.state(ns, t) == before


# ------------------------------------------------------------------- multi-table transactions


def test_multi_table_commit_is_atomic(api, table):
    """POST /v1/{prefix}/transactions/commit: one failed requirement -> 409 and no table changes."""
    ns, t = table
    api.create_table(ns, "second")
    first_before = api.state(ns, t)
    second_before = api.state(ns, "second")
    body = {
        "table-changes": [
            {
                "identifier": {"namespace": [ns], "name": t},
                "requirements": [{"type": "assert-table-uuid", "uuid": first_before[2]}],
                "updates": [set_props()],
            },
            {
                "identifier": {"namespace": [ns], "name": "second"},
                "requirements": [{"type": "assert-table-uuid", "uuid": str(uuid.uuid4())}],
                "updates": [set_props()],
            },
        ]
    }
    r = api.s.post(f"{api.base}/transactions/commit", json=body, timeout=TIMEOUT)
    assert_error(r, 409, "CommitFailedException", prefix="Requirement failed: UUID does not match")
    assert api.state(ns, t) == first_before
    assert api.state(ns, "second") == second_before

    # the same transaction with valid requirements applies to both tables
    body["table-changes"][1]["requirements"][0]["uuid"] = second_before[2]
    r = api.s.post(f"{api.base}/transactions/commit", json=body, timeout=TIMEOUT)
    assert r.status_code == 204, r.text
    assert ("changed", "yes") in api.state(ns, t)[5]
    assert ("changed", "yes") in api.state(ns, "second")[5]


def test_malformed_transaction(api, table):
    ns, t = table
    before = api.state(ns, t)
    r = api.s.post(f"{api.base}/transactions/commit", data=b'{"table-changes": [{"identifier": ', headers={"Content-Type": "application/json"}, timeout=TIMEOUT)
    assert_error(r, 400, "BadRequestException")
    body = {"table-changes": [{"identifier": {"namespace": [ns], "name": t}, "requirements": [], "updates": [{"action": "no-such-action"}]}]}
    r = api.s.post(f"{api.base}/transactions/commit", json=body, timeout=TIMEOUT)
    assert_error(r, 400, "BadRequestException")
    assert api.state(ns, t) == before
