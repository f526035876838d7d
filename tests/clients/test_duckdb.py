"""DuckDB's iceberg extension against frazil: it reads (and writes) tables PyIceberg wrote,
through both URI layouts and both metadata stores."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pytest
from pyiceberg.expressions import EqualTo

from conftest import duckdb_attach, make_catalog, unique

SCHEMA = pa.schema(
    [
        pa.field("id", pa.int64()),
        pa.field("name", pa.string()),
        pa.field("amount", pa.float64()),
        pa.field("ok", pa.bool_()),
        pa.field("day", pa.date32()),
    ]
)

BATCH_1 = [
    (1, "alpha", 1.5, True, dt.date(2024, 1, 1)),
    (2, "beta", -2.25, False, dt.date(2024, 2, 29)),
    (3, None, None, None, None),
]
BATCH_2 = [
    (4, "delta", 1e10, True, dt.date(1999, 12, 31)),
    (5, "épsilon ✓", 0.0, False, dt.date(2030, 6, 15)),
]


def arrow(batch) -> pa.Table:
    cols = list(zip(*batch))
    return pa.Table.from_arrays([pa.array(c, type=f.type) for c, f in zip(cols, SCHEMA)], schema=SCHEMA)


@pytest.fixture
def written(server, tableflow_catalog):
    """A namespace and a table with two appends, written by PyIceberg."""
    ns = unique("duck")
    tableflow_catalog.create_namespace(ns)
    tbl = tableflow_catalog.create_table(f"{ns}.readings", schema=SCHEMA)
    tbl.append(arrow(BATCH_1))
    first_snapshot = tbl.current_snapshot().snapshot_id
    tbl.append(arrow(BATCH_2))
    yield ns, "readings", first_snapshot
    for ident in tableflow_catalog.list_tables(ns):
        tableflow_catalog.purge_table(ident)
    tableflow_catalog.drop_namespace(ns)


def select_all(con, ns: str, table: str, alias: str = "frazil", at: str = "") -> list[tuple]:
    return con.execute(f'SELECT id, name, amount, ok, day FROM {alias}."{ns}"."{table}" {at} ORDER BY id').fetchall()


def test_duckdb_reads_pyiceberg_table(server, layout, duckdb_con, tableflow_catalog, written):
    ns, table, _ = written
    duckdb_attach(duckdb_con, server, layout)
    assert select_all(duckdb_con, ns, table) == BATCH_1 + BATCH_2

    # identical to what PyIceberg itself reads
    py_rows = tableflow_catalog.load_table(f"{ns}.{table}").scan().to_arrow().sort_by("id").to_pylist()
    assert [tuple(r.values()) for r in py_rows] == select_all(duckdb_con, ns, table)

    listed = duckdb_con.execute(
        "SELECT schema_name, table_name FROM duckdb_tables() WHERE database_name = 'frazil' AND schema_name = ?", [ns]
    ).fetchall()
    assert listed == [(ns, table)]

    agg = duckdb_con.execute(f'SELECT count(*), sum(id), count(name) FROM frazil."{ns}"."{table}" WHERE ok').fetchall()
    assert agg == [(2, 5, 2)]


def test_duckdb_time_travel(server, layout, duckdb_con, written):
    ns, table, first_snapshot = written
    duckdb_attach(duckdb_con, server, layout)
    assert select_all(duckdb_con, ns, table, at=f"AT (VERSION => {first_snapshot})") == BATCH_1


def test_duckdb_sees_later_changes(server, layout, duckdb_con, tableflow_catalog, written):
    ns, table, _ = written
    tbl = tableflow_catalog.load_table(f"{ns}.{table}")
    tbl.delete(delete_filter=EqualTo("id", 2))
    with tbl.update_schema() as upd:
        upd.rename_column("name", "label")
    duckdb_attach(duckdb_con, server, layout)
    got = duckdb_con.execute(f'SELECT id, label FROM frazil."{ns}"."{table}" ORDER BY id').fetchall()
    assert got == [(1, "alpha"), (3, None), (4, "delta"), (5, "épsilon ✓")]


def test_duckdb_insert_visible_to_pyiceberg(server, layout, duckdb_con, written):
    ns, table, _ = written
    duckdb_attach(duckdb_con, server, layout)
    duckdb_con.execute(
        f"INSERT INTO frazil.\"{ns}\".\"{table}\" VALUES (6, 'zeta', 6.5, true, DATE '2025-05-05')"
    )
    reader = make_catalog(server, "warehouse" if layout == "tableflow" else "tableflow")
    tbl = reader.load_table(f"{ns}.{table}")
    assert len(tbl.metadata.snapshots) == 3
    got = [tuple(r.values()) for r in tbl.scan().to_arrow().sort_by("id").to_pylist()]
    assert got == BATCH_1 + BATCH_2 + [(6, "zeta", 6.5, True, dt.date(2025, 5, 5))]


def test_duckdb_topic_style_names(server, layout, duckdb_con, tableflow_catalog):
    ns = f"lkc-{unique('d')[2:]}"
    tableflow_catalog.create_namespace(ns)
    ident = (ns, "payments.v2-eu")
    tbl = tableflow_catalog.create_table(ident, schema=SCHEMA)
    tbl.append(arrow(BATCH_2))
    try:
        duckdb_attach(duckdb_con, server, layout)
        assert select_all(duckdb_con, ns, "payments.v2-eu") == BATCH_2
    finally:
        tableflow_catalog.purge_table(ident)
        tableflow_catalog.drop_namespace(ns)


def test_duckdb_creates_table(server, layout, duckdb_con):
    """DuckDB's own write path: CREATE SCHEMA, CREATE TABLE (staged create + assert-create
    commit), INSERT (transactions/commit); PyIceberg then reads the result."""
    ns = unique("duckw")
    duckdb_attach(duckdb_con, server, layout)
    duckdb_con.execute(f'CREATE SCHEMA frazil."{ns}"')
    duckdb_con.execute(f'CREATE TABLE frazil."{ns}".made (id BIGINT, name VARCHAR)')
    duckdb_con.execute(f"INSERT INTO frazil.\"{ns}\".made VALUES (1, 'one'), (2, 'two')")
    duckdb_con.execute(f"INSERT INTO frazil.\"{ns}\".made VALUES (3, 'three')")
    assert duckdb_con.execute(f'SELECT id, name FROM frazil."{ns}".made ORDER BY id').fetchall() == [
        (1, "one"),
        (2, "two"),
        (3, "three"),
    ]
    reader = make_catalog(server, "tableflow")
    tbl = reader.load_table(f"{ns}.made")
    assert [f.name for f in tbl.schema().fields] == ["id", "name"]
    assert len(tbl.metadata.snapshots) == 2
    got = tbl.scan().to_arrow().sort_by("id").to_pylist()
    assert got == [{"id": 1, "name": "one"}, {"id": 2, "name": "two"}, {"id": 3, "name": "three"}]
    reader.purge_table(f"{ns}.made")
    reader.drop_namespace(ns)
