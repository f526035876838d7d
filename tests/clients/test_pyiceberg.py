"""PyIceberg against frazil: both URI layouts x both metadata stores, local file:// warehouse."""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlsplit

import pyarrow as pa
import pytest
import requests
from pyiceberg.exceptions import (
    CommitFailedException,
    NamespaceAlreadyExistsError,
    NamespaceNotEmptyError,
    NoSuchNamespaceError,
    NoSuchTableError,
    TableAlreadyExistsError,
)
from pyiceberg.expressions import GreaterThanOrEqual
from pyiceberg.table import StaticTable
from pyiceberg.types import DoubleType

from conftest import bearer, eventually, make_catalog, unique

SCHEMA = pa.schema([pa.field("id", pa.int64()), pa.field("name", pa.string())])


def rows(*pairs) -> pa.Table:
    return pa.Table.from_pylist([{"id": i, "name": n} for i, n in pairs], schema=SCHEMA)


def read_sorted(tbl, **scan_args) -> list[dict]:
    return tbl.scan(**scan_args).to_arrow().sort_by("id").to_pylist()


def local_path(location: str) -> Path:
    parts = urlsplit(location)
    assert parts.scheme in ("file", ""), f"expected a local location, got {location}"
    return Path(parts.path)


def files_under(path: Path) -> list[Path]:
    if not path.exists():
        return []
    return [Path(root) / f for root, _, names in os.walk(path) for f in names]


# ----------------------------------------------------------------------------------- namespaces


def test_namespace_lifecycle(catalog):
    ns = unique("ns")
    catalog.create_namespace(ns, properties={"owner": "alice", "team": "streams"})
    try:
        assert (ns,) in catalog.list_namespaces()
        assert catalog.namespace_exists(ns)
        props = catalog.load_namespace_properties(ns)
        assert props["owner"] == "alice" and props["team"] == "streams"

        with pytest.raises(NamespaceAlreadyExistsError):
            catalog.create_namespace(ns)

        summary = catalog.update_namespace_properties(ns, removals={"team", "absent-key"}, updates={"owner": "bob", "tier": "gold"})
        assert sorted(summary.removed) == ["team"]
        assert sorted(summary.updated) == ["owner", "tier"]
        assert sorted(summary.missing) == ["absent-key"]

        props = catalog.load_namespace_properties(ns)
        assert props["owner"] == "bob" and props["tier"] == "gold"
        assert "team" not in props
    finally:
        catalog.drop_namespace(ns)
    assert not catalog.namespace_exists(ns)
    assert (ns,) not in catalog.list_namespaces()
    with pytest.raises(NoSuchNamespaceError):
        catalog.load_namespace_properties(ns)


def test_list_tables_and_missing_objects(catalog, namespace):
    names = sorted(unique("t") for _ in range(3))
    for name in names:
        catalog.create_table(f"{namespace}.{name}", schema=SCHEMA)
    assert sorted(catalog.list_tables(namespace)) == [(namespace, n) for n in names]
    assert catalog.table_exists(f"{namespace}.{names[0]}")
    assert not catalog.table_exists(f"{namespace}.missing")
    with pytest.raises(NoSuchTableError):
        catalog.load_table(f"{namespace}.missing")
    with pytest.raises(TableAlreadyExistsError):
        catalog.create_table(f"{namespace}.{names[0]}", schema=SCHEMA)
    with pytest.raises(NoSuchNamespaceError):
        catalog.create_table(f"{unique('missing')}.t", schema=SCHEMA)
    with pytest.raises(NamespaceNotEmptyError):
        catalog.drop_namespace(namespace)
    assert catalog.namespace_exists(namespace)


def test_both_layouts_see_the_same_environment(server, namespace, catalog, layout):
    other = make_catalog(server, "warehouse" if layout == "tableflow" else "tableflow")
    tbl = catalog.create_table(f"{namespace}.shared", schema=SCHEMA)
    tbl.append(rows((1, "a"), (2, "b")))
    assert (namespace,) in other.list_namespaces()
    seen = other.load_table(f"{namespace}.shared")
    assert seen.metadata.table_uuid == tbl.metadata.table_uuid
    assert seen.metadata_location == tbl.metadata_location
    assert read_sorted(seen) == [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}]


# ------------------------------------------------------------------------------------- tables


def test_create_append_read(server, catalog, namespace):
    ident = f"{namespace}.events"
    tbl = catalog.create_table(ident, schema=SCHEMA, properties={"custom.key": "v1"})
    assert tbl.metadata.format_version == 2
    assert tbl.properties.get("custom.key") == "v1"
    assert tbl.current_snapshot() is None
    assert read_sorted(tbl) == []
    # the server wrote the metadata file it points to, inside the warehouse
    assert local_path(tbl.metadata_location).is_file()
    assert str(local_path(tbl.metadata_location)).startswith(str(server.warehouse_path))

    tbl.append(rows((1, "a"), (2, "b"), (3, "c")))
    tbl.append(rows((4, "d")))
    expected = [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}, {"id": 3, "name": "c"}, {"id": 4, "name": "d"}]
    assert read_sorted(tbl) == expected

    # a fresh client (new session, reload from the catalog) sees the same state
    fresh = make_catalog(server, "tableflow").load_table(ident)
    assert fresh.metadata_location == tbl.metadata_location
    assert len(fresh.metadata.snapshots) == 2
    assert fresh.current_snapshot().summary.operation.value == "append"
    assert fresh.current_snapshot().summary["added-records"] == "1"
    assert fresh.current_snapshot().summary["total-records"] == "4"
    assert read_sorted(fresh) == expected
    assert local_path(fresh.metadata_location).is_file()


def test_schema_evolution(catalog, namespace):
    ident = f"{namespace}.evolve"
    tbl = catalog.create_table(ident, schema=SCHEMA)
    tbl.append(rows((1, "a"), (2, "b")))

    with tbl.update_schema() as upd:
        upd.add_column("score", DoubleType())
        upd.rename_column("name", "label")

    reloaded = catalog.load_table(ident)
    assert [f.name for f in reloaded.schema().fields] == ["id", "label", "score"]
    assert reloaded.metadata.current_schema_id == 1
    assert len(reloaded.metadata.schemas) == 2

    new_schema = pa.schema([pa.field("id", pa.int64()), pa.field("label", pa.string()), pa.field("score", pa.float64())])
    reloaded.append(pa.Table.from_pylist([{"id": 3, "label": "c", "score": 0.5}], schema=new_schema))

    got = read_sorted(catalog.load_table(ident))
    assert got == [
        {"id": 1, "label": "a", "score": None},
        {"id": 2, "label": "b", "score": None},
        {"id": 3, "label": "c", "score": 0.5},
    ]


def test_overwrite_and_delete(catalog, namespace):
    ident = f"{namespace}.ow"
    tbl = catalog.create_table(ident, schema=SCHEMA)
    tbl.append(rows((1, "a"), (2, "b")))

    tbl.overwrite(rows((10, "x"), (11, "y"), (12, "z"), (13, "w")))
    assert read_sorted(catalog.load_table(ident)) == [
        {"id": 10, "name": "x"},
        {"id": 11, "name": "y"},
        {"id": 12, "name": "z"},
        {"id": 13, "name": "w"},
    ]

    tbl = catalog.load_table(ident)
    tbl.delete(delete_filter=GreaterThanOrEqual("id", 12))
    after = catalog.load_table(ident)
    assert read_sorted(after) == [{"id": 10, "name": "x"}, {"id": 11, "name": "y"}]
    # the spec does not order the `snapshots` list; order by sequence number
    snaps = sorted(after.metadata.snapshots, key=lambda s: s.sequence_number)
    assert [s.sequence_number for s in snaps] == list(range(1, len(snaps) + 1))
    ops = [s.summary.operation.value for s in snaps]
    assert ops[0] == "append"
    assert "overwrite" in ops or "delete" in ops
    assert snaps[-1].snapshot_id == after.current_snapshot().snapshot_id
    # every snapshot's parent is the previous one: a linear main branch
    for prev, cur in zip(snaps, snaps[1:]):
        assert cur.parent_snapshot_id == prev.snapshot_id


def test_time_travel(catalog, namespace):
    ident = f"{namespace}.tt"
    tbl = catalog.create_table(ident, schema=SCHEMA)
    tbl.append(rows((1, "a")))
    first = tbl.current_snapshot().snapshot_id
    tbl.append(rows((2, "b")))
    second = tbl.current_snapshot().snapshot_id
    tbl.overwrite(rows((3, "c")))

    tbl = catalog.load_table(ident)
    assert read_sorted(tbl) == [{"id": 3, "name": "c"}]
    assert read_sorted(tbl, snapshot_id=first) == [{"id": 1, "name": "a"}]
    assert read_sorted(tbl, snapshot_id=second) == [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}]
    assert [h.snapshot_id for h in tbl.history()][:2] == [first, second]
    # the metadata log records the earlier metadata files
    assert len(tbl.metadata.metadata_log) >= 3


def test_rename_table(catalog, namespace):
    tbl = catalog.create_table(f"{namespace}.before", schema=SCHEMA)
    tbl.append(rows((1, "a")))
    uuid_before = tbl.metadata.table_uuid

    renamed = catalog.rename_table(f"{namespace}.before", f"{namespace}.after")
    assert renamed.metadata.table_uuid == uuid_before
    assert not catalog.table_exists(f"{namespace}.before")
    assert catalog.list_tables(namespace) == [(namespace, "after")]
    after = catalog.load_table(f"{namespace}.after")
    assert after.metadata.table_uuid == uuid_before
    assert read_sorted(after) == [{"id": 1, "name": "a"}]
    after.append(rows((2, "b")))
    assert read_sorted(catalog.load_table(f"{namespace}.after")) == [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}]

    # to another namespace
    other = unique("ns")
    catalog.create_namespace(other)
    try:
        catalog.rename_table(f"{namespace}.after", f"{other}.moved")
        assert catalog.list_tables(namespace) == []
        assert catalog.load_table(f"{other}.moved").metadata.table_uuid == uuid_before
        with pytest.raises(NoSuchTableError):
            catalog.rename_table(f"{namespace}.after", f"{namespace}.again")
    finally:
        catalog.purge_table(f"{other}.moved")
        catalog.drop_namespace(other)


def test_drop_with_purge_removes_files(catalog, namespace):
    ident = f"{namespace}.purged"
    tbl = catalog.create_table(ident, schema=SCHEMA)
    tbl.append(rows((1, "a"), (2, "b")))
    location = local_path(tbl.location())
    before = files_under(location)
    assert any(p.suffix == ".parquet" for p in before), before
    assert any(p.name.endswith(".metadata.json") for p in before), before

    catalog.purge_table(ident)
    assert not catalog.table_exists(ident)
    assert eventually(lambda: files_under(location) == [])
    # the name can be used again, and starts empty
    again = catalog.create_table(ident, schema=SCHEMA)
    assert read_sorted(again) == []


def test_drop_without_purge_keeps_files(catalog, namespace):
    ident = f"{namespace}.kept"
    tbl = catalog.create_table(ident, schema=SCHEMA)
    tbl.append(rows((1, "a")))
    location = local_path(tbl.location())
    before = sorted(files_under(location))
    metadata_file = local_path(tbl.metadata_location)

    catalog.drop_table(ident)
    assert not catalog.table_exists(ident)
    with pytest.raises(NoSuchTableError):
        catalog.load_table(ident)
    assert sorted(files_under(location)) == before
    assert metadata_file.is_file()

    # the files are intact: the table still reads from its last metadata file
    static = StaticTable.from_metadata(str(tbl.metadata_location))
    assert read_sorted(static) == [{"id": 1, "name": "a"}]


def test_create_table_transaction(catalog, namespace):
    ident = f"{namespace}.staged"
    txn = catalog.create_table_transaction(ident, schema=SCHEMA, properties={"stage": "yes"})
    txn.set_properties({"extra": "1"})
    txn.append(rows((1, "a"), (2, "b")))
    # staged: not visible before the commit
    assert not catalog.table_exists(ident)
    txn.commit_transaction()

    tbl = catalog.load_table(ident)
    assert tbl.properties.get("stage") == "yes"
    assert tbl.properties.get("extra") == "1"
    assert read_sorted(tbl) == [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}]
    assert len(tbl.metadata.snapshots) == 1

    # a second staged create of the same name fails: at stage time (AlreadyExists) or at the
    # commit (assert-create: "Requirement failed: table already exists")
    with pytest.raises((TableAlreadyExistsError, CommitFailedException)) as exc:
        txn2 = catalog.create_table_transaction(ident, schema=SCHEMA)
        txn2.commit_transaction()
    assert "already exists" in str(exc.value).lower()
    assert catalog.load_table(ident).metadata_location == tbl.metadata_location


def test_table_properties_update(catalog, namespace):
    ident = f"{namespace}.props"
    tbl = catalog.create_table(ident, schema=SCHEMA, properties={"a": "1", "b": "2"})
    with tbl.transaction() as txn:
        txn.set_properties({"a": "10", "c": "3"})
        txn.remove_properties("b")
    props = catalog.load_table(ident).properties
    assert props["a"] == "10" and props["c"] == "3"
    assert "b" not in props


def test_topic_style_names(catalog):
    """Tableflow names: namespace = Kafka cluster id, table = topic name with dots and dashes."""
    ns = f"lkc-{unique('x')[2:].replace('_', '')}"
    table = ("orders.v1-eu_west",)
    catalog.create_namespace(ns)
    try:
        ident = (ns,) + table
        tbl = catalog.create_table(ident, schema=SCHEMA)
        tbl.append(rows((1, "a")))
        assert catalog.list_tables(ns) == [ident]
        assert catalog.table_exists(ident)
        assert read_sorted(catalog.load_table(ident)) == [{"id": 1, "name": "a"}]
        catalog.purge_table(ident)
        assert catalog.list_tables(ns) == []
    finally:
        catalog.drop_namespace(ns)


def test_state_survives_restart(store, tmp_path):
    """Stop the server and start a new one on the same database and warehouse: everything is there."""
    from conftest import _database_for, start_server, stop_server

    cleanups: list = []
    try:
        db_url = _database_for(store, tmp_path, cleanups)
        first = start_server(store, tmp_path, db_url)
        try:
            cat = make_catalog(first, "tableflow")
            cat.create_namespace("kept", properties={"p": "1"})
            tbl = cat.create_table("kept.t", schema=SCHEMA)
            tbl.append(rows((1, "a"), (2, "b")))
            location = tbl.metadata_location
            uuid_ = tbl.metadata.table_uuid
            old_token = first.token()
        finally:
            stop_server(first)
        second = start_server(store, tmp_path, db_url)
        try:
            # signing keys and API keys live in the store: a token of the first process still works
            r = requests.get(f"{second.tableflow_uri}/v1/namespaces/kept", headers=bearer(old_token), timeout=30)
            assert r.status_code == 200, r.text
            cat = make_catalog(second, "warehouse")
            assert cat.load_namespace_properties("kept")["p"] == "1"
            tbl = cat.load_table("kept.t")
            assert tbl.metadata_location == location
            assert tbl.metadata.table_uuid == uuid_
            assert read_sorted(tbl) == [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}]
            tbl.append(rows((3, "c")))
            assert len(cat.load_table("kept.t").metadata.snapshots) == 2
        finally:
            stop_server(second)
    finally:
        for c in reversed(cleanups):
            c()
