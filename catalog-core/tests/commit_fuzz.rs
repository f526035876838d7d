//! Random commits against real table metadata (a SQLite file and a local warehouse): any
//! sequence of requirements and updates either commits a valid metadata file that the table then
//! points at, or is refused with a client error and changes nothing. Never a panic, never an
//! invalid file, never a table pointing at a missing file.
//!
//! The updates are drawn from every action of the spec with values that are sometimes valid and
//! sometimes not (unknown ids, bad transforms, stale sequence numbers, downgrades); those that
//! do not even parse are the HTTP layer's 400 and are skipped here.

#![allow(clippy::unwrap_used)] // a test: a failed setup fails loudly

mod common;

use common::Harness;
use frazil_catalog::{CatalogError, TableChange, TableIdent};
use iceberg::spec::TableMetadata;
use iceberg::{TableRequirement, TableUpdate};
use proptest::prelude::*;
use proptest::test_runner::TestRunner;
use serde_json::{json, Value};

fn small_id() -> impl Strategy<Value = i64> {
    prop_oneof![Just(-1i64), 0i64..4, Just(1000), Just(i64::from(i32::MAX))]
}

fn field_type() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(json!("long")),
        Just(json!("string")),
        Just(json!("date")),
        Just(json!("timestamp")),
        Just(json!("decimal(9,2)")),
        Just(
            json!({"type": "list", "element-id": 20, "element": "int", "element-required": false})
        ),
        Just(json!("no-such-type")),
    ]
}

fn schema() -> impl Strategy<Value = Value> {
    prop::collection::vec((1i64..8, "[a-z]{1,3}", any::<bool>(), field_type()), 0..4).prop_map(
        |fields| {
            let fields: Vec<Value> = fields
                .into_iter()
                .map(|(id, name, required, ty)| json!({"id": id, "name": name, "required": required, "type": ty}))
                .collect();
            json!({"type": "struct", "schema-id": 1, "fields": fields})
        },
    )
}

fn transform() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec![
        "identity",
        "bucket[4]",
        "truncate[3]",
        "day",
        "hour",
        "void",
        "bucket[0]",
        "nope",
    ])
}

fn snapshot() -> impl Strategy<Value = Value> {
    (1i64..6, prop::option::of(1i64..6), 0i64..6, 0i64..3).prop_map(|(id, parent, seq, rows)| {
        let mut snap = json!({
            "snapshot-id": id,
            "sequence-number": seq,
            "timestamp-ms": 1_700_000_000_000i64 + id,
            "manifest-list": format!("file:///nowhere/snap-{id}.avro"),
            "summary": {"operation": "append"},
            "schema-id": 0,
        });
        if let Some(parent) = parent {
            snap["parent-snapshot-id"] = json!(parent);
        }
        if rows > 0 {
            snap["first-row-id"] = json!(rows * 10);
            snap["added-rows"] = json!(rows);
        }
        snap
    })
}

fn update() -> impl Strategy<Value = Value> {
    prop_oneof![
        ("[a-z]{1,4}", "[a-z0-9]{0,4}").prop_map(|(k, v)| json!({"action": "set-properties", "updates": {k: v}})),
        "[a-z]{1,4}".prop_map(|k| json!({"action": "remove-properties", "removals": [k]})),
        schema().prop_map(|s| json!({"action": "add-schema", "schema": s})),
        small_id().prop_map(|id| json!({"action": "set-current-schema", "schema-id": id})),
        (0i64..9, transform(), prop::option::of(999i64..1003)).prop_map(|(source, t, field)| {
            let mut f = json!({"source-id": source, "name": format!("p{source}_{}", t.len()), "transform": t});
            if let Some(field) = field {
                f["field-id"] = json!(field);
            }
            json!({"action": "add-spec", "spec": {"fields": [f]}})
        }),
        small_id().prop_map(|id| json!({"action": "set-default-spec", "spec-id": id})),
        (0i64..9, transform()).prop_map(|(source, t)| json!({"action": "add-sort-order", "sort-order": {"order-id": 1, "fields": [
            {"source-id": source, "transform": t, "direction": "asc", "null-order": "nulls-first"}]}})),
        small_id().prop_map(|id| json!({"action": "set-default-sort-order", "sort-order-id": id})),
        snapshot().prop_map(|s| json!({"action": "add-snapshot", "snapshot": s})),
        (prop::sample::select(vec!["main", "dev", "v1"]), prop::sample::select(vec!["branch", "tag"]), 1i64..6)
            .prop_map(|(name, kind, id)| json!({"action": "set-snapshot-ref", "ref-name": name, "type": kind, "snapshot-id": id})),
        prop::sample::select(vec!["main", "dev", "v1"]).prop_map(|name| json!({"action": "remove-snapshot-ref", "ref-name": name})),
        prop::collection::vec(1i64..6, 1..3).prop_map(|ids| json!({"action": "remove-snapshots", "snapshot-ids": ids})),
        (1u8..5).prop_map(|v| json!({"action": "upgrade-format-version", "format-version": v})),
        prop::sample::select(vec!["file:///elsewhere/t", "", "not a url", "s3://b/t"])
            .prop_map(|l| json!({"action": "set-location", "location": l})),
        Just(json!({"action": "assign-uuid", "uuid": "00000000-0000-0000-0000-000000000007"})),
        prop::collection::vec(0i64..3, 1..2).prop_map(|ids| json!({"action": "remove-partition-specs", "spec-ids": ids})),
        prop::collection::vec(0i64..3, 1..2).prop_map(|ids| json!({"action": "remove-schemas", "schema-ids": ids})),
    ]
}

fn requirement() -> impl Strategy<Value = Value> {
    prop_oneof![
        prop::option::of(1i64..6).prop_map(|id| json!({"type": "assert-ref-snapshot-id", "ref": "main", "snapshot-id": id})),
        small_id().prop_map(|id| json!({"type": "assert-current-schema-id", "current-schema-id": id})),
        (0i64..4).prop_map(|id| json!({"type": "assert-last-assigned-field-id", "last-assigned-field-id": id})),
        (999i64..1002).prop_map(|id| json!({"type": "assert-last-assigned-partition-id", "last-assigned-partition-id": id})),
        small_id().prop_map(|id| json!({"type": "assert-default-spec-id", "default-spec-id": id})),
        small_id().prop_map(|id| json!({"type": "assert-default-sort-order-id", "default-sort-order-id": id})),
        Just(json!({"type": "assert-table-uuid", "uuid": "00000000-0000-0000-0000-000000000007"})),
    ]
}

/// One commit: requirements and updates, as they arrive in a request body.
fn commit() -> impl Strategy<Value = (Vec<Value>, Vec<Value>)> {
    (
        prop::collection::vec(requirement(), 0..2),
        prop::collection::vec(update(), 1..4),
    )
}

/// Errors a client causes: the request is refused and nothing changes (4xx at the HTTP layer).
fn is_client_error(e: &CatalogError) -> bool {
    matches!(
        e,
        CatalogError::BadRequest(_)
            | CatalogError::CommitFailed(_)
            | CatalogError::Unprocessable(_)
    )
}

/// What the cases did, so that the test can show it exercised both outcomes.
#[derive(Debug, Default)]
struct Tally {
    unparsable: usize,
    committed: usize,
    refused: usize,
}

async fn run(
    h: &Harness,
    table: &TableIdent,
    commits: Vec<(Vec<Value>, Vec<Value>)>,
    tally: &mut Tally,
) {
    for (requirements, updates) in commits {
        let (Ok(requirements), Ok(updates)) = (
            serde_json::from_value::<Vec<TableRequirement>>(Value::Array(requirements)),
            serde_json::from_value::<Vec<TableUpdate>>(Value::Array(updates)),
        ) else {
            tally.unparsable += 1; // a body the HTTP layer refuses with 400
            continue;
        };
        let before = h.catalog.load_table(&h.env, table).await.unwrap();
        let change = TableChange {
            ident: table.clone(),
            requirements: requirements.clone(),
            updates: updates.clone(),
        };
        let result = h.catalog.commit_table(&h.env, change).await;
        let after = h.catalog.load_table(&h.env, table).await.unwrap();
        let location = after.metadata_location.clone().unwrap();
        // whatever happened, the table points at a readable, valid metadata file
        let file = std::fs::read_to_string(h.path_of(&location))
            .unwrap_or_else(|e| panic!("table points at a missing file {location}: {e}"));
        let parsed: TableMetadata = serde_json::from_str(&file)
            .unwrap_or_else(|e| panic!("invalid metadata file after {updates:?}: {e}"));
        assert_eq!(
            serde_json::from_str::<Value>(&file).unwrap(),
            serde_json::from_str::<Value>(&after.metadata).unwrap()
        );
        match result {
            Ok(committed) => {
                tally.committed += 1;
                assert_eq!(
                    committed.metadata_location.as_deref(),
                    Some(location.as_str())
                );
                let old: TableMetadata = serde_json::from_str(&before.metadata).unwrap();
                assert_eq!(parsed.uuid(), old.uuid(), "the table uuid never changes");
            }
            Err(e) => {
                tally.refused += 1;
                assert!(
                    is_client_error(&e),
                    "{e:?} for {requirements:?} {updates:?}"
                );
                assert_eq!(
                    after.metadata_location, before.metadata_location,
                    "a refused commit changed the table: {e}"
                );
            }
        }
    }
}

/// Runs `FRAZIL_FUZZ_CASES` (default 500) random sequences of 1 to 5 commits, each on a fresh
/// table of format version 1, 2 or 3.
#[test]
fn any_commit_sequence_commits_a_valid_file_or_changes_nothing() {
    let cases = std::env::var("FRAZIL_FUZZ_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(500);
    let config = ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let tally = std::cell::RefCell::new(Tally::default());
    let strategy = (prop::collection::vec(commit(), 1..6), 1u8..4);
    let result = TestRunner::new(config).run(&strategy, |(commits, format)| {
        runtime.block_on(async {
            let h = Harness::sqlite().await;
            let ns = h.namespace("lkc-fuzz").await;
            let mut create = common::create("t");
            create
                .properties
                .insert("format-version".into(), format.to_string());
            h.catalog.create_table(&h.env, &ns, create).await.unwrap();
            let table = TableIdent::new(ns, "t").unwrap();
            let mut this_case = Tally::default();
            run(&h, &table, commits, &mut this_case).await;
            h.close().await;
            let mut total = tally.borrow_mut();
            total.unparsable += this_case.unparsable;
            total.committed += this_case.committed;
            total.refused += this_case.refused;
        });
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
    let tally = tally.into_inner();
    println!("{tally:?}");
    // the generator reaches both outcomes, not only one
    let applied = tally.committed + tally.refused;
    assert!(tally.committed * 20 >= applied, "{tally:?}");
    assert!(tally.refused * 20 >= applied, "{tally:?}");
}
