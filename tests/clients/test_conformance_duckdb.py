"""Client conformance (issue 4), DuckDB 1.5.5's iceberg extension against the real binary: both
stores (module `server` fixture) x both catalog URI layouts.

Goes past test_duckdb.py / test_conformance.py: DuckDB's whole SQL surface on the catalog
(CREATE/ALTER/RENAME/DROP of tables and schemas, MERGE, partitioned tables), its multi-table
transactions (`POST /v1/{prefix}/transactions/commit`: all or nothing, also on a conflict), CTAS
(staged create + data in one commit), and every type both ways between DuckDB and PyIceberg,
compared row for row, plus DuckDB reading PyIceberg's partitioned and evolved tables.

Where the extension itself cannot do something, the test asserts the extension's own error and
says so; those are not Frazil's behaviour."""

from __future__ import annotations

import datetime as dt
import decimal
import uuid

import pyarrow as pa
import pytest
from pyiceberg.partitioning import PartitionField, PartitionSpec
from pyiceberg.schema import Schema
from pyiceberg.transforms import BucketTransform, DayTransform, IdentityTransform, TruncateTransform
from pyiceberg.types import DoubleType, IntegerType, LongType, NestedField, PrimitiveType, StringType, TimestampType

from conftest import duckdb_attach, make_catalog, new_duckdb_connection, unique
from test_conformance_pyiceberg import EVERY_TYPE, EVERY_TYPE_ROWS



# ------------------------------------------------------------------------------------ helpers


@pytest.fixture
def attached(server, layout):
    """A DuckDB connection with the catalog attached as `frazil` through `layout`."""
    con = new_duckdb_connection()
    duckdb_attach(con, server, layout)
    yield con
    con.close()


@pytest.fixture
def pyi(server, layout):
    """PyIceberg through the other layout than DuckDB's, so both layouts meet in every test."""
    return make_catalog(server, "warehouse" if layout == "tableflow" else "tableflow")


@pytest.fixture
def duck_ns(attached, pyi):
    name = unique("cdk")
    attached.execute(f'CREATE SCHEMA frazil."{name}"')
    yield name
    try:
        for ident in pyi.list_tables(name):
            pyi.purge_table(ident)
        pyi.drop_namespace(name)
    except Exception:
        pass


def arrow_rows(con, sql: str, key: str = "id") -> list[dict]:
    """Rows through Arrow (no pytz needed for TIMESTAMPTZ), UUIDs as strings, sorted by `key`."""
    rows = con.execute(sql).to_arrow_table().to_pylist()
    return sorted((_norm(r) for r in rows), key=lambda r: (r[key] is None, r[key]))


def py_rows(tbl, key: str = "id", **scan) -> list[dict]:
    rows = tbl.scan(**scan).to_arrow().to_pylist()
    return sorted((_norm(r) for r in rows), key=lambda r: (r[key] is None, r[key]))


def _norm(row: dict) -> dict:
    out = {}
    for k, v in row.items():
        if isinstance(v, uuid.UUID):
            v = str(v)
        elif k == "u" and isinstance(v, bytes) and len(v) == 16:
            v = str(uuid.UUID(bytes=v))
        elif isinstance(v, list) and v and isinstance(v[0], tuple):  # a map: key order is not data
            v = sorted(v, key=repr)
        out[k] = v
    return out


# ------------------------------------------------------------------------------------ DuckDB SQL


def test_duckdb_sql_lifecycle(server, layout, attached, pyi):
    con = attached
    ns = unique("cdk")
    t = f'frazil."{ns}".orders'
    con.execute(f'CREATE SCHEMA frazil."{ns}"')
    assert pyi.namespace_exists(ns)
    con.execute(f"CREATE TABLE {t} (id BIGINT, customer VARCHAR, amount DECIMAL(10, 2), paid BOOLEAN, day DATE, score DOUBLE)")
    tbl = pyi.load_table((ns, "orders"))
    assert [(f.name, str(f.field_type)) for f in tbl.schema().fields] == [
        ("id", "long"),
        ("customer", "string"),
        ("amount", "decimal(10, 2)"),
        ("paid", "boolean"),
        ("day", "date"),
        ("score", "double"),
    ]
    assert tbl.current_snapshot() is None

    con.execute(
        f"INSERT INTO {t} VALUES (1, 'ann', 10.50, true, DATE '2024-01-01', 0.5), "
        f"(2, 'bob', 20.00, false, DATE '2024-01-02', NULL), (3, 'cid', NULL, NULL, NULL, 1e-3)"
    )
    con.execute(f"UPDATE {t} SET amount = amount * 2, paid = true WHERE id = 2")
    con.execute(f"DELETE FROM {t} WHERE customer = 'cid'")
    expected = [
        (1, "ann", decimal.Decimal("10.50"), True, dt.date(2024, 1, 1), 0.5),
        (2, "bob", decimal.Decimal("40.00"), True, dt.date(2024, 1, 2), None),
    ]
    assert con.execute(f"SELECT * FROM {t} ORDER BY id").fetchall() == expected
    tbl = pyi.load_table((ns, "orders"))
    assert [tuple(r.values()) for r in py_rows(tbl)] == expected
    snaps = sorted(tbl.snapshots(), key=lambda s: s.sequence_number)
    assert len(snaps) == 3  # insert, update, delete: one commit each
    assert snaps[0].summary.operation.value == "append"
    # merge-on-read: the data files hold 3 + 1 rewritten rows, two of them deleted by position
    summary = tbl.current_snapshot().summary
    assert (summary["total-records"], summary["total-position-deletes"]) == ("4", "2")

    # ALTER TABLE: add, rename, drop columns; widen int -> long; field ids are kept
    ids_before = {f.name: f.field_id for f in tbl.schema().fields}
    con.execute(f"ALTER TABLE {t} ADD COLUMN qty INTEGER")
    con.execute(f"ALTER TABLE {t} RENAME COLUMN customer TO buyer")
    con.execute(f"ALTER TABLE {t} DROP COLUMN score")
    con.execute(f"ALTER TABLE {t} ALTER COLUMN qty TYPE BIGINT")
    tbl = pyi.load_table((ns, "orders"))
    fields = [(f.name, str(f.field_type)) for f in tbl.schema().fields]
    assert fields == [("id", "long"), ("buyer", "string"), ("amount", "decimal(10, 2)"), ("paid", "boolean"), ("day", "date"), ("qty", "long")]
    assert tbl.schema().find_field("buyer").field_id == ids_before["customer"]
    assert tbl.schema().find_field("qty").field_id not in ids_before.values()
    assert len(tbl.schemas()) >= 2
    con.execute(f"INSERT INTO {t} VALUES (4, 'dee', 1.25, false, DATE '2024-02-01', 7)")
    assert [tuple(r.values()) for r in py_rows(pyi.load_table((ns, "orders")))] == [
        (1, "ann", decimal.Decimal("10.50"), True, dt.date(2024, 1, 1), None),
        (2, "bob", decimal.Decimal("40.00"), True, dt.date(2024, 1, 2), None),
        (4, "dee", decimal.Decimal("1.25"), False, dt.date(2024, 2, 1), 7),
    ]
    # sort orders cannot be set from DuckDB 1.5.5 (the extension's own refusal)
    with pytest.raises(Exception, match="Alter table type not supported: SET_SORTED_BY"):
        con.execute(f"ALTER TABLE {t} SET SORTED BY (id)")

    # rename the table (POST /v1/{prefix}/tables/rename), then drop it and the schema
    uuid_before = pyi.load_table((ns, "orders")).metadata.table_uuid
    con.execute(f"ALTER TABLE {t} RENAME TO ledger")
    assert not pyi.table_exists((ns, "orders"))
    assert pyi.load_table((ns, "ledger")).metadata.table_uuid == uuid_before
    assert con.execute(f'SELECT count(*) FROM frazil."{ns}".ledger').fetchone() == (3,)
    con.execute(f'DROP TABLE frazil."{ns}".ledger')
    assert pyi.list_tables(ns) == []
    con.execute(f'DROP SCHEMA frazil."{ns}"')
    assert not pyi.namespace_exists(ns)


def test_duckdb_merge_into(attached, pyi, duck_ns):
    con = attached
    t = f'frazil."{duck_ns}".accounts'
    con.execute(f"CREATE TABLE {t} (id BIGINT, balance BIGINT, status VARCHAR)")
    con.execute(f"INSERT INTO {t} VALUES (1, 100, 'open'), (2, 200, 'open'), (3, 300, 'open')")
    source = "(VALUES (2, 50, 'open'), (3, 0, 'closed'), (4, 400, 'new')) AS s(id, delta, status)"
    # the extension takes one UPDATE/DELETE action per MERGE (its own refusal)
    with pytest.raises(Exception, match="MERGE INTO with Iceberg only supports a single UPDATE/DELETE action"):
        con.execute(
            f"""MERGE INTO {t} AS a USING {source} ON a.id = s.id
                WHEN MATCHED AND s.status = 'closed' THEN DELETE
                WHEN MATCHED THEN UPDATE SET balance = a.balance + s.delta
                WHEN NOT MATCHED THEN INSERT VALUES (s.id, s.delta, s.status)"""
        )
    con.execute(
        f"""MERGE INTO {t} AS a USING {source} ON a.id = s.id
            WHEN MATCHED THEN UPDATE SET balance = a.balance + s.delta, status = s.status
            WHEN NOT MATCHED THEN INSERT VALUES (s.id, s.delta, s.status)"""
    )
    assert con.execute(f"SELECT * FROM {t} ORDER BY id").fetchall() == [(1, 100, "open"), (2, 250, "open"), (3, 300, "closed"), (4, 400, "new")]
    con.execute(f"MERGE INTO {t} AS a USING (VALUES (3)) AS s(id) ON a.id = s.id WHEN MATCHED THEN DELETE")
    expected = [(1, 100, "open"), (2, 250, "open"), (4, 400, "new")]
    assert con.execute(f"SELECT * FROM {t} ORDER BY id").fetchall() == expected
    assert [tuple(r.values()) for r in py_rows(pyi.load_table((duck_ns, "accounts")))] == expected


def test_duckdb_multi_table_transaction_is_atomic(server, layout, attached, pyi, duck_ns):
    """DuckDB commits INSERTs into several tables with one POST /v1/{prefix}/transactions/commit."""
    con = attached
    a, b = f'frazil."{duck_ns}".a', f'frazil."{duck_ns}".b'
    con.execute(f"CREATE TABLE {a} (id BIGINT, v VARCHAR)")
    con.execute(f"CREATE TABLE {b} (id BIGINT)")
    con.execute(f"INSERT INTO {a} VALUES (1, 'x')")
    con.execute(f"INSERT INTO {b} VALUES (1)")

    # both or ...
    con.execute("BEGIN")
    con.execute(f"INSERT INTO {a} VALUES (2, 'y')")
    con.execute(f"INSERT INTO {b} VALUES (2)")
    con.execute("COMMIT")
    assert [r["id"] for r in py_rows(pyi.load_table((duck_ns, "a")))] == [1, 2]
    assert [r["id"] for r in py_rows(pyi.load_table((duck_ns, "b")))] == [1, 2]

    # ... nothing: a rollback sends nothing
    loc_a, loc_b = pyi.load_table((duck_ns, "a")).metadata_location, pyi.load_table((duck_ns, "b")).metadata_location
    con.execute("BEGIN")
    con.execute(f"INSERT INTO {a} VALUES (3, 'z')")
    con.execute(f"INSERT INTO {b} VALUES (3)")
    con.execute("ROLLBACK")
    assert pyi.load_table((duck_ns, "a")).metadata_location == loc_a
    assert pyi.load_table((duck_ns, "b")).metadata_location == loc_b

    # ... nothing either when one table's requirement fails at the commit: PyIceberg appends
    # to `a` between DuckDB's read and its commit; the server answers 409 for the whole
    # transaction and leaves `b` untouched too
    con.execute("BEGIN")
    con.execute(f"INSERT INTO {b} VALUES (4)")
    con.execute(f"INSERT INTO {a} VALUES (4, 'w')")
    other = pyi.load_table((duck_ns, "a"))
    other.append(pa.Table.from_pylist([{"id": 100, "v": "py"}], schema=other.schema().as_arrow()))
    loc_a = pyi.load_table((duck_ns, "a")).metadata_location
    with pytest.raises(Exception, match=r"(?s)transactions/commit.*409.*CommitFailedException"):
        con.execute("COMMIT")
    assert pyi.load_table((duck_ns, "a")).metadata_location == loc_a
    assert pyi.load_table((duck_ns, "b")).metadata_location == loc_b
    assert [r["id"] for r in py_rows(pyi.load_table((duck_ns, "a")))] == [1, 2, 100]
    assert [r["id"] for r in py_rows(pyi.load_table((duck_ns, "b")))] == [1, 2]
    # a fresh DuckDB session sees the same
    fresh = new_duckdb_connection()
    try:
        duckdb_attach(fresh, server, layout)
        assert fresh.execute(f"SELECT id FROM {a} ORDER BY id").fetchall() == [(1,), (2,), (100,)]
        assert fresh.execute(f"SELECT id FROM {b} ORDER BY id").fetchall() == [(1,), (2,)]
    finally:
        fresh.close()


def test_duckdb_partitioned_tables(attached, pyi, duck_ns):
    con = attached
    p = f'frazil."{duck_ns}".events'
    con.execute(f"CREATE TABLE {p} (id BIGINT, region VARCHAR, ts TIMESTAMP)")
    con.execute(f"ALTER TABLE {p} SET PARTITIONED BY (region, bucket(4, id), day(ts))")
    tbl = pyi.load_table((duck_ns, "events"))
    assert [(f.source_id, str(f.transform)) for f in tbl.spec().fields] == [(2, "identity"), (1, "bucket[4]"), (3, "day")]
    rows = [(i, ["eu", "us", "ap"][i % 3], dt.datetime(2024, 1, 1 + i % 4, 10) if i % 5 else None) for i in range(1, 13)]
    values = ", ".join(f"({i}, '{r}', {f'TIMESTAMP {str(ts)!r}' if ts else 'NULL'})" for i, r, ts in rows)
    con.execute(f"INSERT INTO {p} VALUES {values}")

    tbl = pyi.load_table((duck_ns, "events"))
    assert [(r["id"], r["region"], r["ts"]) for r in py_rows(tbl)] == rows
    # the partition tuples DuckDB wrote are the Iceberg transforms of the rows (PyIceberg's
    # implementation as the reference), under the table's current spec
    bucket = BucketTransform(4).transform(LongType())
    expected = {(r, bucket(i), ts.date() if ts else None) for i, r, ts in rows}
    files = tbl.inspect.files().to_pylist()
    assert {f["spec_id"] for f in files} == {tbl.spec().spec_id}
    assert {tuple(f["partition"].values()) for f in files} == expected
    assert con.execute(f"SELECT id FROM {p} WHERE region = 'us' ORDER BY id").fetchall() == [(i,) for i, r, _ in rows if r == "us"]

    # UPDATE / DELETE on a partitioned table
    con.execute(f"UPDATE {p} SET region = 'eu' WHERE id = 2")
    con.execute(f"DELETE FROM {p} WHERE ts IS NULL")
    after = [(i, "eu" if i == 2 else r, ts) for i, r, ts in rows if ts is not None]
    assert [(r["id"], r["region"], r["ts"]) for r in py_rows(pyi.load_table((duck_ns, "events")))] == after

    # CREATE TABLE ... PARTITIONED BY (a staged create with a spec)
    q = f'frazil."{duck_ns}".by_day'
    con.execute(f"CREATE TABLE {q} (id BIGINT, day DATE) PARTITIONED BY (day)")
    con.execute(f"INSERT INTO {q} VALUES (1, DATE '2024-05-01'), (2, DATE '2024-05-02'), (3, DATE '2024-05-01')")
    tbl = pyi.load_table((duck_ns, "by_day"))
    # DuckDB's commit: assert-create + add-spec {"spec-id": 0, identity(day)} + set-default-spec 0;
    # the table must be partitioned by day
    assert [(f.source_id, str(f.transform)) for f in tbl.spec().fields] == [(2, "identity")], tbl.specs()
    files = tbl.inspect.files().to_pylist()
    assert sorted(list(f["partition"].values())[0] for f in files) == [dt.date(2024, 5, 1), dt.date(2024, 5, 2)]
    assert [(r["id"], r["day"]) for r in py_rows(tbl)] == [(1, dt.date(2024, 5, 1)), (2, dt.date(2024, 5, 2)), (3, dt.date(2024, 5, 1))]


def test_duckdb_update_after_partitioning_existing_data(attached, pyi, duck_ns):
    """Partition evolution from DuckDB over data it wrote unpartitioned: both clients read the
    files of both specs, and DuckDB's row changes in the new spec read the same in PyIceberg.

    Not covered: a DuckDB 1.5.5 UPDATE/DELETE of a row in an old-spec file. The extension writes
    that position-delete file under the *current* spec (partition id=null, spec 1) while the
    data file is in spec 0, so spec-conforming readers (PyIceberg) do not apply it; directly
    after the ALTER it even refuses ("Manifest file contains entries without partition info
    even though there is a partition spec"). Both are the extension's, not the catalog's."""
    con = attached
    t = f'frazil."{duck_ns}".evolving'
    con.execute(f"CREATE TABLE {t} (id BIGINT, name VARCHAR)")
    con.execute(f"INSERT INTO {t} VALUES (1, 'a')")
    con.execute(f"ALTER TABLE {t} SET PARTITIONED BY (id)")
    con.execute(f"INSERT INTO {t} VALUES (2, 'b')")
    tbl = pyi.load_table((duck_ns, "evolving"))
    assert sorted(tbl.specs()) == [0, 1]
    assert tbl.specs()[0].fields == () and [str(f.transform) for f in tbl.specs()[1].fields] == ["identity"]
    assert sorted({f["spec_id"] for f in tbl.inspect.files().to_pylist()}) == [0, 1]
    assert [(r["id"], r["name"]) for r in py_rows(tbl)] == [(1, "a"), (2, "b")]
    assert con.execute(f"SELECT * FROM {t} ORDER BY id").fetchall() == [(1, "a"), (2, "b")]
    con.execute(f"INSERT INTO {t} VALUES (3, 'c')")
    con.execute(f"UPDATE {t} SET name = 'B' WHERE id = 2")
    con.execute(f"DELETE FROM {t} WHERE id = 3")
    assert con.execute(f"SELECT * FROM {t} ORDER BY id").fetchall() == [(1, "a"), (2, "B")]
    assert [(r["id"], r["name"]) for r in py_rows(pyi.load_table((duck_ns, "evolving")))] == [(1, "a"), (2, "B")]


def test_duckdb_ctas_on_file_warehouse(attached, pyi, duck_ns):
    """CTAS is a staged create plus the data in one commit. On a file:// warehouse the extension
    writes its manifest into the table's metadata/ directory, which nobody has created yet for a
    staged table, and DuckDB's local file system does not create parent directories (on object
    storage, where directories do not exist, it works: test_duckdb_ctas_on_s3). The failed CTAS
    must leave no table behind."""
    con = attached
    with pytest.raises(Exception, match=r'Cannot open file ".*/metadata/[^"]*-m0\.avro": No such file or directory'):
        con.execute(f'CREATE TABLE frazil."{duck_ns}".made AS SELECT 1::BIGINT AS id')
    assert not pyi.table_exists((duck_ns, "made"))
    # CREATE + INSERT as two statements works on the same warehouse
    con.execute(f'CREATE TABLE frazil."{duck_ns}".made (id BIGINT)')
    con.execute(f'INSERT INTO frazil."{duck_ns}".made SELECT range FROM range(3)')
    assert [r["id"] for r in py_rows(pyi.load_table((duck_ns, "made")))] == [0, 1, 2]


def test_duckdb_ctas_on_s3(s3_server, moto_s3, layout):
    """CTAS against an s3:// warehouse (moto), DuckDB with its own S3 secret: the staged create,
    the data and assert-create land in one commit; PyIceberg reads the rows."""
    from conftest import S3_ACCESS_KEY, S3_REGION, S3_SECRET_KEY, s3_client_properties

    con = new_duckdb_connection()
    try:
        endpoint = moto_s3.endpoint.removeprefix("http://")
        con.execute(
            f"CREATE SECRET s3 (TYPE s3, KEY_ID '{S3_ACCESS_KEY}', SECRET '{S3_SECRET_KEY}', REGION '{S3_REGION}', "
            f"ENDPOINT '{endpoint}', URL_STYLE 'path', USE_SSL false)"
        )
        duckdb_attach(con, s3_server, layout, extra="ACCESS_DELEGATION_MODE 'none'")
        ns = unique("cdks3")
        con.execute(f'CREATE SCHEMA frazil."{ns}"')
        con.execute(
            f"CREATE TABLE frazil.\"{ns}\".made AS SELECT range AS id, 'n' || range::VARCHAR AS name, "
            f"DATE '2024-01-01' + range::INTEGER AS day FROM range(5)"
        )
        assert con.execute(f'SELECT count(*), sum(id) FROM frazil."{ns}".made').fetchone() == (5, 10)
        pyi = make_catalog(s3_server, "tableflow", **s3_client_properties(moto_s3))
        tbl = pyi.load_table((ns, "made"))
        assert len(tbl.snapshots()) == 1
        assert [(r["id"], r["name"], r["day"]) for r in py_rows(tbl)] == [
            (i, f"n{i}", dt.date(2024, 1, 1) + dt.timedelta(days=i)) for i in range(5)
        ]
        assert tbl.metadata_location.startswith(f"s3://{s3_server.extra['bucket']}/")
        pyi.purge_table((ns, "made"))
        pyi.drop_namespace(ns)
    finally:
        con.close()


# ------------------------------------------------------------------------------------ both ways


def test_duckdb_reads_every_type_pyiceberg_wrote(server, layout, attached, pyi):
    ns = unique("cdkty")
    pyi.create_namespace(ns)
    tbl = pyi.create_table((ns, "every_type"), schema=EVERY_TYPE)
    tbl.append(pa.Table.from_pylist(EVERY_TYPE_ROWS, schema=tbl.schema().as_arrow()))
    try:
        described = {name: type_ for name, type_, *_ in attached.execute(f'DESCRIBE frazil."{ns}".every_type').fetchall()}
        assert described == {
            "id": "INTEGER",
            "b": "BOOLEAN",
            "l": "BIGINT",
            "f": "FLOAT",
            "d": "DOUBLE",
            "dec": "DECIMAL(18,4)",
            "day": "DATE",
            "tod": "TIME",
            "ts": "TIMESTAMP",
            "tstz": "TIMESTAMP WITH TIME ZONE",
            "s": "VARCHAR",
            "u": "UUID",
            "fx": "BLOB",
            "bin": "BLOB",
            "st": 'STRUCT(x BIGINT, "inner" STRUCT(flag BOOLEAN, note VARCHAR))',
            "li": "VARCHAR[]",
            "m": "MAP(VARCHAR, BIGINT)",
            "lst": "STRUCT(k VARCHAR, v DOUBLE)[]",
        }
        from_duckdb = arrow_rows(attached, f'SELECT * FROM frazil."{ns}".every_type')
        from_pyiceberg = py_rows(pyi.load_table((ns, "every_type")))
        assert from_duckdb == from_pyiceberg
        assert len(from_duckdb) == 3
        assert from_duckdb[0]["dec"] == decimal.Decimal("12345678901234.5678")
        assert from_duckdb[0]["u"] == "12345678-1234-5678-1234-567812345678"
    finally:
        pyi.purge_table((ns, "every_type"))
        pyi.drop_namespace(ns)


def test_pyiceberg_reads_every_type_duckdb_wrote(attached, pyi, duck_ns):
    con = attached
    t = f'frazil."{duck_ns}".from_duck'
    con.execute(
        f"""CREATE TABLE {t} (id INTEGER, b BOOLEAN, l BIGINT, f FLOAT, d DOUBLE, dec DECIMAL(20, 5), day DATE,
            tod TIME, ts TIMESTAMP, tstz TIMESTAMPTZ, s VARCHAR, u UUID, bin BLOB,
            st STRUCT(x INTEGER, y VARCHAR), li BIGINT[], m MAP(VARCHAR, DOUBLE), lst STRUCT(k VARCHAR)[])"""
    )
    con.execute(
        f"""INSERT INTO {t} VALUES
        (1, true, 9223372036854775807, 3.25, -1.5e-300, 123456789012345.12345, DATE '2024-02-29',
         TIME '23:59:59.999999', TIMESTAMP '2024-01-02 03:04:05.678901', TIMESTAMPTZ '2024-01-02 03:04:05.5+00',
         'épsilon ✓', '12345678-1234-5678-1234-567812345678', '\\x00\\xFF\\x10'::BLOB,
         {{'x': 7, 'y': 'seven'}}, [1, NULL, 3], MAP {{'a': 1.0, 'b': NULL}}, [{{'k': 'p'}}, NULL]),
        (2, false, -9223372036854775808, -0.0, 0.0, -0.00001, DATE '1969-12-31', TIME '00:00:00',
         TIMESTAMP '1969-12-31 23:59:59', TIMESTAMPTZ '2038-01-19 03:14:08+00', '',
         '00000000-0000-0000-0000-000000000000', ''::BLOB, {{'x': NULL, 'y': NULL}}, [], MAP {{}}, []),
        (3, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)"""
    )
    tbl = pyi.load_table((duck_ns, "from_duck"))
    assert [(f.name, str(f.field_type)) for f in tbl.schema().fields if isinstance(f.field_type, PrimitiveType)] == [
        ("id", "int"),
        ("b", "boolean"),
        ("l", "long"),
        ("f", "float"),
        ("d", "double"),
        ("dec", "decimal(20, 5)"),
        ("day", "date"),
        ("tod", "time"),
        ("ts", "timestamp"),
        ("tstz", "timestamptz"),
        ("s", "string"),
        ("u", "uuid"),
        ("bin", "binary"),
    ]
    assert [str(tbl.schema().find_field(n).field_type).split("<")[0] for n in ("st", "li", "m", "lst")] == ["struct", "list", "map", "list"]

    from_pyiceberg = py_rows(tbl)
    from_duckdb = arrow_rows(con, f"SELECT * FROM {t}")
    # PyIceberg 0.12 reads a null list<struct> as [] (DuckDB reads the same file as NULL)
    assert from_duckdb[2]["lst"] is None and from_pyiceberg[2]["lst"] == []
    from_pyiceberg[2]["lst"] = None
    assert from_pyiceberg == from_duckdb
    first = from_pyiceberg[0]
    assert first["l"] == 2**63 - 1 and first["dec"] == decimal.Decimal("123456789012345.12345")
    assert first["tstz"] == dt.datetime(2024, 1, 2, 3, 4, 5, 500000, tzinfo=dt.timezone.utc)
    assert first["u"] == "12345678-1234-5678-1234-567812345678"
    assert first["bin"] == b"\x00\xff\x10"
    assert first["st"] == {"x": 7, "y": "seven"} and first["li"] == [1, None, 3]
    assert sorted(first["m"]) == [("a", 1.0), ("b", None)]
    assert from_pyiceberg[2] == {k: None for k in from_pyiceberg[2]} | {"id": 3}


def test_duckdb_reads_pyiceberg_partitioned_and_evolved_table(server, layout, attached, pyi):
    ns = unique("cdkev")
    pyi.create_namespace(ns)
    schema = Schema(
        NestedField(1, "id", IntegerType(), required=True),
        NestedField(2, "topic", StringType()),
        NestedField(3, "ts", TimestampType()),
        NestedField(4, "old", StringType()),
        NestedField(5, "score", DoubleType()),
    )
    spec = PartitionSpec(
        PartitionField(2, 1000, TruncateTransform(3), "topic_trunc"),
        PartitionField(1, 1001, BucketTransform(3), "id_bucket"),
        PartitionField(3, 1002, DayTransform(), "ts_day"),
    )
    tbl = pyi.create_table((ns, "evolved"), schema=schema, partition_spec=spec)
    try:
        tbl.append(
            pa.Table.from_pylist(
                [{"id": i, "topic": f"topic-{i % 3}", "ts": dt.datetime(2024, 6, 1 + i % 2, 8), "old": "o", "score": i / 2} for i in range(6)],
                schema=tbl.schema().as_arrow(),
            )
        )
        # evolve: widen, rename, drop, add, reorder; add an identity partition field
        with tbl.update_schema() as u:
            u.update_column("id", LongType())
            u.rename_column("topic", "subject")
            u.delete_column("old")
            u.add_column("extra", StringType())
            u.move_first("score")
        with tbl.update_spec() as u:
            u.add_field("extra", IdentityTransform(), "extra")
        tbl = pyi.load_table((ns, "evolved"))
        tbl.append(
            pa.Table.from_pylist(
                [{"score": 9.5, "id": 2**40, "subject": "topic-x", "ts": None, "extra": "e"}], schema=tbl.schema().as_arrow()
            )
        )
        tbl = pyi.load_table((ns, "evolved"))
        assert sorted({f["spec_id"] for f in tbl.inspect.files().to_pylist()}) == [0, 1]
        expected = py_rows(tbl)
        assert len(expected) == 7 and list(expected[0]) == ["score", "id", "subject", "ts", "extra"]
        assert arrow_rows(attached, f'SELECT * FROM frazil."{ns}".evolved') == expected
        assert attached.execute(f'SELECT id FROM frazil."{ns}".evolved WHERE subject = \'topic-1\' ORDER BY id').fetchall() == [(1,), (4,)]
        assert attached.execute(f'SELECT id FROM frazil."{ns}".evolved WHERE extra = \'e\'').fetchall() == [(2**40,)]
        assert attached.execute(
            f"SELECT count(*) FROM frazil.\"{ns}\".evolved WHERE ts >= TIMESTAMP '2024-06-02 00:00:00'"
        ).fetchone() == (3,)
    finally:
        pyi.purge_table((ns, "evolved"))
        pyi.drop_namespace(ns)
