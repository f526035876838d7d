"""The client conformance suite beyond the basics of test_pyiceberg.py / test_duckdb.py: every
type, partition transforms and sort orders, upsert, schema and partition evolution, branches and
tags, `snapshots=refs` loading, registration, and DuckDB's UPDATE / DELETE with PyIceberg reading
the result (and the other way round). Real clients, real binary, both stores and both layouts."""

from __future__ import annotations

import datetime as dt
import decimal
import uuid

import pyarrow as pa
import pytest
from pyiceberg.expressions import EqualTo, GreaterThan
from pyiceberg.partitioning import PartitionField, PartitionSpec
from pyiceberg.schema import Schema
from pyiceberg.table.sorting import SortDirection, SortField, SortOrder
from pyiceberg.transforms import BucketTransform, DayTransform, IdentityTransform, TruncateTransform
from pyiceberg.types import (
    BinaryType,
    BooleanType,
    DateType,
    DecimalType,
    DoubleType,
    FixedType,
    FloatType,
    IntegerType,
    ListType,
    LongType,
    MapType,
    NestedField,
    StringType,
    StructType,
    TimestampType,
    TimestamptzType,
    TimeType,
    UUIDType,
)

from conftest import duckdb_attach, make_catalog, unique

TIMEOUT = 30

ALL_TYPES = Schema(
    NestedField(1, "b", BooleanType()),
    NestedField(2, "i", IntegerType()),
    NestedField(3, "l", LongType()),
    NestedField(4, "f", FloatType()),
    NestedField(5, "d", DoubleType()),
    NestedField(6, "dec", DecimalType(12, 3)),
    NestedField(7, "date", DateType()),
    NestedField(8, "time", TimeType()),
    NestedField(9, "ts", TimestampType()),
    NestedField(10, "tstz", TimestamptzType()),
    NestedField(11, "s", StringType()),
    NestedField(12, "u", UUIDType()),
    NestedField(13, "fx", FixedType(4)),
    NestedField(14, "bin", BinaryType()),
    NestedField(15, "st", StructType(NestedField(16, "x", IntegerType()), NestedField(17, "y", StringType()))),
    NestedField(18, "li", ListType(19, LongType())),
    NestedField(20, "m", MapType(21, StringType(), 22, DoubleType())),
)


def all_types_rows(schema: pa.Schema) -> pa.Table:
    rows = [
        {
            "b": True,
            "i": 7,
            "l": 2**40,
            "f": 1.5,
            "d": -2.25,
            "dec": decimal.Decimal("123.456"),
            "date": dt.date(2024, 2, 29),
            "time": dt.time(12, 34, 56, 789000),
            "ts": dt.datetime(2024, 1, 2, 3, 4, 5, 678000),
            "tstz": dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc),
            "s": "épsilon ✓",
            "u": uuid.UUID("12345678-1234-5678-1234-567812345678").bytes,
            "fx": b"\x00\x01\x02\x03",
            "bin": b"\xff" * 10,
            "st": {"x": 1, "y": "one"},
            "li": [1, 2, 3],
            "m": [("a", 1.0), ("b", 2.0)],
        },
        {k: None for k in ("b", "i", "l", "f", "d", "dec", "date", "time", "ts", "tstz", "s", "u", "fx", "bin", "st", "li", "m")},
    ]
    return pa.Table.from_pylist(rows, schema=schema)


@pytest.fixture
def ns(catalog):
    name = unique("conf")
    catalog.create_namespace(name)
    yield name
    for ident in catalog.list_tables(name):
        try:
            catalog.purge_table(ident)
        except Exception:
            pass


def test_nested_namespaces_and_properties(catalog):
    top = unique("lkc")
    catalog.create_namespace(top, {"owner": "platform"})
    catalog.create_namespace((top, "team"), {"tier": "gold"})
    catalog.create_namespace((top, "team", "sub"))
    assert catalog.load_namespace_properties(top)["owner"] == "platform"
    assert catalog.list_namespaces(top) == [(top, "team")]
    assert catalog.list_namespaces((top, "team")) == [(top, "team", "sub")]
    summary = catalog.update_namespace_properties((top, "team"), removals={"tier"}, updates={"sla": "1h"})
    assert summary.updated == ["sla"] and summary.removed == ["tier"]
    assert catalog.load_namespace_properties((top, "team")) == {"sla": "1h"}
    catalog.drop_namespace((top, "team", "sub"))
    catalog.drop_namespace((top, "team"))
    catalog.drop_namespace(top)


def test_every_type_round_trips(catalog, ns):
    tbl = catalog.create_table((ns, "all_types"), schema=ALL_TYPES)
    data = all_types_rows(tbl.schema().as_arrow())
    tbl.append(data)
    loaded = catalog.load_table((ns, "all_types"))
    assert loaded.schema() == tbl.schema()
    got = loaded.scan().to_arrow()
    assert got.num_rows == 2
    first = [r for r in got.to_pylist() if r["i"] == 7][0]
    expected = data.to_pylist()[0]
    for column, value in expected.items():
        if column == "m":
            assert sorted(first[column]) == sorted(value)
        else:
            assert first[column] == value, column


def test_partition_transforms_and_sort_order(catalog, ns):
    schema = Schema(
        NestedField(1, "id", LongType()),
        NestedField(2, "topic", StringType()),
        NestedField(3, "ts", TimestampType()),
        NestedField(4, "region", StringType()),
    )
    spec = PartitionSpec(
        PartitionField(4, 1000, IdentityTransform(), "region"),
        PartitionField(1, 1001, BucketTransform(8), "id_bucket"),
        PartitionField(2, 1002, TruncateTransform(3), "topic_trunc"),
        PartitionField(3, 1003, DayTransform(), "ts_day"),
    )
    order = SortOrder(SortField(source_id=3, transform=IdentityTransform(), direction=SortDirection.DESC))
    tbl = catalog.create_table((ns, "parted"), schema=schema, partition_spec=spec, sort_order=order)
    loaded = catalog.load_table((ns, "parted"))
    assert [(f.name, str(f.transform)) for f in loaded.spec().fields] == [
        ("region", "identity"),
        ("id_bucket", "bucket[8]"),
        ("topic_trunc", "truncate[3]"),
        ("ts_day", "day"),
    ]
    assert loaded.sort_order().fields[0].direction == SortDirection.DESC
    rows = [
        {"id": i, "topic": f"topic-{i % 3}", "ts": dt.datetime(2024, 1, 1 + i % 5), "region": "eu" if i % 2 else "us"}
        for i in range(20)
    ]
    tbl.append(pa.Table.from_pylist(rows, schema=tbl.schema().as_arrow()))
    got = catalog.load_table((ns, "parted")).scan(row_filter=EqualTo("region", "eu")).to_arrow()
    assert sorted(got.column("id").to_pylist()) == [i for i in range(20) if i % 2]
    assert len(catalog.load_table((ns, "parted")).inspect.files()) > 1


def test_upsert(catalog, ns):
    schema = Schema(NestedField(1, "id", LongType(), required=True), NestedField(2, "v", StringType()), identifier_field_ids=[1])
    tbl = catalog.create_table((ns, "upserted"), schema=schema)
    arrow_schema = tbl.schema().as_arrow()
    tbl.append(pa.Table.from_pylist([{"id": 1, "v": "a"}, {"id": 2, "v": "b"}], schema=arrow_schema))
    result = tbl.upsert(pa.Table.from_pylist([{"id": 2, "v": "B"}, {"id": 3, "v": "c"}], schema=arrow_schema))
    assert (result.rows_updated, result.rows_inserted) == (1, 1)
    got = catalog.load_table((ns, "upserted")).scan().to_arrow().sort_by("id").to_pylist()
    assert got == [{"id": 1, "v": "a"}, {"id": 2, "v": "B"}, {"id": 3, "v": "c"}]


def test_schema_evolution_rename_drop_widen_reorder(catalog, ns):
    schema = Schema(NestedField(1, "id", IntegerType()), NestedField(2, "score", FloatType()), NestedField(3, "old", StringType()))
    tbl = catalog.create_table((ns, "evolving"), schema=schema)
    tbl.append(pa.Table.from_pylist([{"id": 1, "score": 0.5, "old": "x"}], schema=tbl.schema().as_arrow()))
    with tbl.update_schema() as update:
        update.update_column("id", LongType())
        update.update_column("score", DoubleType())
        update.rename_column("old", "legacy")
    with tbl.update_schema() as update:
        update.delete_column("legacy")
        update.add_column("note", StringType())
        update.move_first("note")
    loaded = catalog.load_table((ns, "evolving"))
    assert [(f.name, str(f.field_type)) for f in loaded.schema().fields] == [("note", "string"), ("id", "long"), ("score", "double")]
    assert len(loaded.schemas()) == 3
    loaded.append(pa.Table.from_pylist([{"note": "n", "id": 2**40, "score": 1.25}], schema=loaded.schema().as_arrow()))
    got = catalog.load_table((ns, "evolving")).scan().to_arrow().sort_by("id").to_pylist()
    assert got == [{"note": None, "id": 1, "score": 0.5}, {"note": "n", "id": 2**40, "score": 1.25}]


def test_partition_evolution(catalog, ns):
    schema = Schema(NestedField(1, "id", LongType()), NestedField(2, "region", StringType()))
    tbl = catalog.create_table((ns, "repart"), schema=schema)
    arrow_schema = tbl.schema().as_arrow()
    tbl.append(pa.Table.from_pylist([{"id": 1, "region": "eu"}], schema=arrow_schema))
    with tbl.update_spec() as update:
        update.add_identity("region")
    tbl.append(pa.Table.from_pylist([{"id": 2, "region": "us"}], schema=arrow_schema))
    with tbl.update_spec() as update:
        update.remove_field("region")
    tbl.append(pa.Table.from_pylist([{"id": 3, "region": "ap"}], schema=arrow_schema))
    loaded = catalog.load_table((ns, "repart"))
    # removing the field brings back the unpartitioned spec 0 (an equal spec is reused)
    assert sorted(loaded.specs()) == [0, 1]
    assert loaded.spec().spec_id == 0 and not loaded.spec().fields
    assert sorted(loaded.scan().to_arrow().column("id").to_pylist()) == [1, 2, 3]
    assert loaded.scan(row_filter=EqualTo("region", "us")).to_arrow().column("id").to_pylist() == [2]


def test_branches_tags_and_refs_loading(server, catalog, ns):
    schema = Schema(NestedField(1, "id", LongType()))
    tbl = catalog.create_table((ns, "refs"), schema=schema)
    arrow_schema = tbl.schema().as_arrow()
    for i in range(4):
        tbl.append(pa.Table.from_pylist([{"id": i}], schema=arrow_schema))
    snapshots = [s.snapshot_id for s in tbl.snapshots()]
    assert len(snapshots) == 4
    tbl.manage_snapshots().create_tag(snapshots[1], "v1").create_branch(snapshots[2], "audit").commit()
    loaded = catalog.load_table((ns, "refs"))
    assert loaded.metadata.refs["v1"].snapshot_id == snapshots[1]
    assert loaded.metadata.refs["audit"].snapshot_id == snapshots[2]
    assert sorted(loaded.scan(snapshot_id=snapshots[1]).to_arrow().column("id").to_pylist()) == [0, 1]

    # snapshots=refs: only the snapshots a branch or tag names (main, v1, audit); the log is whole
    url = f"{server.tableflow_uri}/v1/namespaces/{ns}/tables/refs"
    body = server.http().get(url, params={"snapshots": "refs"}, timeout=TIMEOUT).json()
    assert sorted(s["snapshot-id"] for s in body["metadata"]["snapshots"]) == sorted([snapshots[1], snapshots[2], snapshots[3]])
    assert len(body["metadata"]["snapshot-log"]) == 4
    # PyIceberg in refs mode loads and reads the current snapshot
    refs_catalog = make_catalog(server, "tableflow", **{"snapshot-loading-mode": "refs"})
    assert sorted(refs_catalog.load_table((ns, "refs")).scan().to_arrow().column("id").to_pylist()) == [0, 1, 2, 3]

    tbl = catalog.load_table((ns, "refs"))
    tbl.manage_snapshots().remove_tag("v1").commit()
    assert "v1" not in catalog.load_table((ns, "refs")).metadata.refs


def test_register_table_from_metadata_file(catalog, ns):
    schema = Schema(NestedField(1, "id", LongType()))
    tbl = catalog.create_table((ns, "original"), schema=schema)
    tbl.append(pa.Table.from_pylist([{"id": 1}, {"id": 2}], schema=tbl.schema().as_arrow()))
    location = catalog.load_table((ns, "original")).metadata_location
    catalog.drop_table((ns, "original"))
    registered = catalog.register_table((ns, "adopted"), location)
    assert registered.metadata_location == location
    assert sorted(registered.scan().to_arrow().column("id").to_pylist()) == [1, 2]


def test_create_table_transaction_with_data(catalog, ns):
    schema = Schema(NestedField(1, "id", LongType()))
    with catalog.create_table_transaction((ns, "ctas"), schema=schema, properties={"owner": "ctas"}) as tx:
        tx.append(pa.Table.from_pylist([{"id": 5}], schema=schema.as_arrow()))
    loaded = catalog.load_table((ns, "ctas"))
    assert loaded.properties["owner"] == "ctas"
    assert loaded.scan().to_arrow().column("id").to_pylist() == [5]


# ------------------------------------------------------------------------------------ DuckDB


def test_duckdb_update_delete_read_by_pyiceberg(server, layout, duckdb_con):
    ns = unique("duckc")
    duckdb_attach(duckdb_con, server, layout)
    duckdb_con.execute(f'CREATE SCHEMA frazil."{ns}"')
    duckdb_con.execute(f'CREATE TABLE frazil."{ns}".t (id BIGINT, name VARCHAR, amount DOUBLE, day DATE)')
    duckdb_con.execute(
        f"INSERT INTO frazil.\"{ns}\".t VALUES (1, 'a', 1.5, DATE '2024-01-01'), (2, 'b', 2.5, DATE '2024-01-02'), (3, 'c', NULL, NULL)"
    )
    duckdb_con.execute(f"UPDATE frazil.\"{ns}\".t SET name = 'B', amount = 20.5 WHERE id = 2")
    duckdb_con.execute(f'DELETE FROM frazil."{ns}".t WHERE id = 3')
    expected = [(1, "a", 1.5, dt.date(2024, 1, 1)), (2, "B", 20.5, dt.date(2024, 1, 2))]
    assert duckdb_con.execute(f'SELECT id, name, amount, day FROM frazil."{ns}".t ORDER BY id').fetchall() == expected
    reader = make_catalog(server, layout)
    got = reader.load_table((ns, "t")).scan().to_arrow().sort_by("id").to_pylist()
    assert [(r["id"], r["name"], r["amount"], r["day"]) for r in got] == expected


def test_pyiceberg_reads_what_duckdb_wrote_and_back(server, layout, duckdb_con, catalog):
    ns = unique("duckx")
    catalog.create_namespace(ns)
    schema = Schema(NestedField(1, "id", LongType()), NestedField(2, "ts", TimestampType()), NestedField(3, "v", DecimalType(10, 2)))
    tbl = catalog.create_table((ns, "shared"), schema=schema)
    tbl.append(
        pa.Table.from_pylist(
            [{"id": 1, "ts": dt.datetime(2024, 5, 1, 12), "v": decimal.Decimal("1.25")}], schema=tbl.schema().as_arrow()
        )
    )
    duckdb_attach(duckdb_con, server, layout)
    duckdb_con.execute(f"INSERT INTO frazil.\"{ns}\".shared VALUES (2, TIMESTAMP '2024-05-02 13:00:00', 2.50)")
    from_duckdb = duckdb_con.execute(f'SELECT id, ts, v FROM frazil."{ns}".shared ORDER BY id').fetchall()
    from_pyiceberg = [
        (r["id"], r["ts"], r["v"]) for r in catalog.load_table((ns, "shared")).scan().to_arrow().sort_by("id").to_pylist()
    ]
    assert from_duckdb == from_pyiceberg
    assert from_pyiceberg == [
        (1, dt.datetime(2024, 5, 1, 12), decimal.Decimal("1.25")),
        (2, dt.datetime(2024, 5, 2, 13), decimal.Decimal("2.50")),
    ]
    # PyIceberg appends again; DuckDB sees it
    catalog.load_table((ns, "shared")).append(
        pa.Table.from_pylist([{"id": 3, "ts": None, "v": None}], schema=tbl.schema().as_arrow())
    )
    assert duckdb_con.execute(f'SELECT count(*) FROM frazil."{ns}".shared WHERE id > 1').fetchone() == (2,)
    assert catalog.load_table((ns, "shared")).scan(row_filter=GreaterThan("id", 1)).to_arrow().num_rows == 2
