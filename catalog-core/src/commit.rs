//! The commit engine's pure part: requirements checked against table metadata with the messages
//! Iceberg clients expect, and updates applied with the `iceberg` crate's metadata builder.

use std::collections::HashMap;

use iceberg::spec::{
    FormatVersion, PartitionSpec, PartitionSpecBuilder, Schema, SortOrder, TableMetadata,
    TableMetadataBuilder, UnboundPartitionSpec,
};
use iceberg::{TableRequirement, TableUpdate};

use crate::catalog::RefTypes;
use crate::{CatalogError, Result};

fn failed(message: String) -> CatalogError {
    CatalogError::CommitFailed(format!("Requirement failed: {message}"))
}

/// Checks every requirement against the current metadata (`ref_types` name a ref's type in a
/// message).
pub(crate) fn check_requirements(
    requirements: &[TableRequirement],
    metadata: &TableMetadata,
    ref_types: &RefTypes,
) -> Result<()> {
    for requirement in requirements {
        check_requirement(requirement, metadata, ref_types)?;
    }
    Ok(())
}

fn check_requirement(
    requirement: &TableRequirement,
    m: &TableMetadata,
    ref_types: &RefTypes,
) -> Result<()> {
    use TableRequirement as R;
    let mismatch = |what: &str, expected: String, actual: String| {
        Err(failed(format!(
            "{what} changed: expected id {expected} != {actual}"
        )))
    };
    match requirement {
        R::NotExist => Err(failed("table already exists".into())),
        R::UuidMatch { uuid } if *uuid != m.uuid() => Err(failed(format!(
            "UUID does not match: expected {uuid} != {}",
            m.uuid()
        ))),
        R::RefSnapshotIdMatch { r#ref, snapshot_id } => {
            let current = m.snapshot_for_ref(r#ref).map(|s| s.snapshot_id());
            match (snapshot_id, current) {
                (None, Some(_)) => Err(failed(format!(
                    "{} {ref} was created concurrently",
                    ref_type(ref_types, r#ref)
                ))),
                (Some(expected), None) => Err(failed(format!(
                    "branch or tag {ref} is missing, expected {expected}"
                ))),
                (Some(expected), Some(actual)) if *expected != actual => Err(failed(format!(
                    "{} {ref} has changed: expected id {expected} != {actual}",
                    ref_type(ref_types, r#ref)
                ))),
                _ => Ok(()),
            }
        }
        R::LastAssignedFieldIdMatch {
            last_assigned_field_id: id,
        } if *id != m.last_column_id() => mismatch(
            "last assigned field id",
            id.to_string(),
            m.last_column_id().to_string(),
        ),
        R::CurrentSchemaIdMatch {
            current_schema_id: id,
        } if *id != m.current_schema_id() => mismatch(
            "current schema",
            id.to_string(),
            m.current_schema_id().to_string(),
        ),
        R::LastAssignedPartitionIdMatch {
            last_assigned_partition_id: id,
        } if *id != m.last_partition_id() => mismatch(
            "last assigned partition id",
            id.to_string(),
            m.last_partition_id().to_string(),
        ),
        R::DefaultSpecIdMatch {
            default_spec_id: id,
        } if *id != m.default_partition_spec_id() => mismatch(
            "default partition spec",
            id.to_string(),
            m.default_partition_spec_id().to_string(),
        ),
        R::DefaultSortOrderIdMatch {
            default_sort_order_id: id,
        } if *id != m.default_sort_order_id() => mismatch(
            "default sort order",
            id.to_string(),
            m.default_sort_order_id().to_string(),
        ),
        _ => Ok(()),
    }
}

/// "branch" or "tag", as the metadata records the ref.
fn ref_type<'a>(ref_types: &'a RefTypes, name: &str) -> &'a str {
    ref_types.get(name).map_or("branch", String::as_str)
}

/// Applies `updates` to the current metadata; `None` when they change nothing.
pub(crate) fn apply_updates(
    base: TableMetadata,
    base_location: &str,
    updates: Vec<TableUpdate>,
) -> Result<Option<TableMetadata>> {
    if let Some(other) = updates.iter().find_map(|u| match u {
        TableUpdate::AssignUuid { uuid } if *uuid != base.uuid() => Some(*uuid),
        _ => None,
    }) {
        // Engines (Snowflake, Glue) identify a table by its uuid: it never changes.
        return Err(CatalogError::BadRequest(format!(
            "Cannot reassign uuid of table {} to {other}",
            base.uuid()
        )));
    }
    let mut builder =
        TableMetadataBuilder::new_from_metadata(base, Some(base_location.to_string()));
    for update in updates {
        builder = update.apply(builder).map_err(update_error)?;
    }
    let built = builder.build().map_err(update_error)?;
    Ok((!built.changes.is_empty()).then_some(built.metadata))
}

/// Metadata for a table created by a commit carrying `assert-create` (a create transaction).
/// Like the Java reference (`buildFromEmpty`), the table starts from the first schema and
/// partition spec the updates add, under id 0 and with the field ids the client sent; then every
/// update is applied in order. The client may already have written manifests naming spec 0 and
/// those field ids inside the transaction, so they must mean what they meant to the client.
pub(crate) fn metadata_for_create(
    updates: Vec<TableUpdate>,
    default_location: &str,
) -> Result<TableMetadata> {
    let seed = empty_table(&updates, default_location)?;
    let mut builder = TableMetadataBuilder::new_from_metadata(seed, None);
    for update in updates {
        builder = update.apply(builder).map_err(update_error)?;
    }
    Ok(builder.build().map_err(update_error)?.metadata)
}

/// The table before a create transaction's updates: its first schema and spec as ids 0, the
/// unsorted order, no properties and no snapshots.
fn empty_table(updates: &[TableUpdate], location: &str) -> Result<TableMetadata> {
    let schema = updates
        .iter()
        .find_map(|u| match u {
            TableUpdate::AddSchema { schema } => Some(schema.clone()),
            _ => None,
        })
        .ok_or_else(|| CatalogError::BadRequest("A create transaction must add a schema".into()))?;
    let schema = schema
        .into_builder()
        .with_schema_id(0)
        .build()
        .map_err(update_error)?;
    let spec = match updates.iter().find_map(|u| match u {
        TableUpdate::AddSpec { spec } => Some(spec.clone()),
        _ => None,
    }) {
        Some(unbound) => PartitionSpecBuilder::new_from_unbound(unbound, schema.clone())
            .and_then(|b| b.build())
            .map_err(update_error)?
            .with_spec_id(0),
        None => PartitionSpec::unpartition_spec(),
    };
    let format_version = updates
        .iter()
        .find_map(|u| match u {
            TableUpdate::UpgradeFormatVersion { format_version } => Some(*format_version),
            _ => None,
        })
        .unwrap_or(FormatVersion::V2);
    // Built as JSON because the builder's own constructor renumbers every field id.
    let seed = serde_json::json!({
        "format-version": format_version,
        "table-uuid": uuid::Uuid::now_v7(),
        "location": location,
        "last-sequence-number": 0,
        "last-updated-ms": chrono::Utc::now().timestamp_millis(),
        "last-column-id": schema.highest_field_id(),
        "schemas": [schema],
        "current-schema-id": 0,
        "last-partition-id": spec.highest_field_id().unwrap_or(999),
        "partition-specs": [spec],
        "default-spec-id": 0,
        "sort-orders": [SortOrder::unsorted_order()],
        "default-sort-order-id": 0,
        "properties": {},
        "next-row-id": 0,
    });
    serde_json::from_value(seed)
        .map_err(|e| CatalogError::BadRequest(format!("Invalid table update: {e}")))
}

/// What createTable needs from the request, validated.
#[derive(Debug, Clone)]
pub struct NewTableMetadata {
    pub schema: Schema,
    pub partition_spec: Option<UnboundPartitionSpec>,
    pub sort_order: Option<SortOrder>,
    pub properties: HashMap<String, String>,
}

/// Fresh metadata for createTable; `format-version` may come as a table property (1, 2 or 3).
pub(crate) fn metadata_for_new_table(
    table: NewTableMetadata,
    location: &str,
    uuid: uuid::Uuid,
) -> Result<TableMetadata> {
    let mut properties = table.properties;
    let format_version = match properties.remove("format-version").as_deref() {
        None => FormatVersion::V2,
        Some("1") => FormatVersion::V1,
        Some("2") => FormatVersion::V2,
        Some("3") => FormatVersion::V3,
        Some(other) => {
            return Err(CatalogError::BadRequest(format!(
                "Unsupported format version: {other} (supported: 1, 2, 3)"
            )))
        }
    };
    let builder = TableMetadataBuilder::new(
        table.schema,
        table
            .partition_spec
            .unwrap_or_else(|| UnboundPartitionSpec::builder().build()),
        table.sort_order.unwrap_or_else(SortOrder::unsorted_order),
        location.to_string(),
        format_version,
        properties,
    )
    .map_err(update_error)?;
    Ok(builder
        .assign_uuid(uuid)
        .build()
        .map_err(update_error)?
        .metadata)
}

/// The builder rejects invalid updates (400). A stale sequence number or row id means the table
/// moved under a commit whose requirements still held: the client should refresh and retry (409).
fn update_error(e: iceberg::Error) -> CatalogError {
    let message = e.message().to_string();
    if message.contains("sequence number") || message.contains("first-row-id is behind") {
        CatalogError::CommitFailed(format!("Validation failed, please retry: {message}"))
    } else {
        CatalogError::BadRequest(format!("Invalid table update: {message}"))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use iceberg::spec::{NestedField, PrimitiveType, Type};

    /// A new table with one column and no snapshots.
    pub(crate) fn table() -> (TableMetadata, RefTypes) {
        let schema = Schema::builder()
            .with_fields(vec![NestedField::required(
                1,
                "id",
                Type::Primitive(PrimitiveType::Long),
            )
            .into()])
            .build()
            .unwrap();
        let new = NewTableMetadata {
            schema,
            partition_spec: None,
            sort_order: None,
            properties: HashMap::new(),
        };
        let m = metadata_for_new_table(new, "file:///w/t", uuid::Uuid::nil()).unwrap();
        (m, RefTypes::new())
    }

    fn message(r: Result<()>) -> String {
        match r {
            Err(CatalogError::CommitFailed(m)) => m,
            other => panic!("expected a failed requirement, got {other:?}"),
        }
    }

    #[test]
    fn requirement_messages_match_the_java_reference() {
        let (m, refs) = table();
        let other = uuid::Uuid::from_u128(7);
        let uuid_check =
            check_requirements(&[TableRequirement::UuidMatch { uuid: other }], &m, &refs);
        assert_eq!(
            message(uuid_check),
            format!(
                "Requirement failed: UUID does not match: expected {other} != {}",
                uuid::Uuid::nil()
            )
        );
        let missing_ref = TableRequirement::RefSnapshotIdMatch {
            r#ref: "main".into(),
            snapshot_id: Some(5),
        };
        assert_eq!(
            message(check_requirements(&[missing_ref], &m, &refs)),
            "Requirement failed: branch or tag main is missing, expected 5"
        );
        let schema = TableRequirement::CurrentSchemaIdMatch {
            current_schema_id: 3,
        };
        assert_eq!(
            message(check_requirements(&[schema], &m, &refs)),
            "Requirement failed: current schema changed: expected id 3 != 0"
        );
        assert_eq!(
            message(check_requirements(&[TableRequirement::NotExist], &m, &refs)),
            "Requirement failed: table already exists"
        );
    }

    #[test]
    fn requirements_that_hold_pass() {
        let (m, refs) = table();
        let ok = [
            TableRequirement::UuidMatch { uuid: m.uuid() },
            TableRequirement::RefSnapshotIdMatch {
                r#ref: "main".into(),
                snapshot_id: None,
            },
            TableRequirement::LastAssignedFieldIdMatch {
                last_assigned_field_id: 1,
            },
            TableRequirement::DefaultSpecIdMatch { default_spec_id: 0 },
        ];
        check_requirements(&ok, &m, &refs).unwrap();
    }

    #[test]
    fn a_table_uuid_is_never_reassigned() {
        let (m, _) = table();
        let same = vec![TableUpdate::AssignUuid { uuid: m.uuid() }];
        assert!(
            apply_updates(m.clone(), "file:///w/t/metadata/0.json", same)
                .unwrap()
                .is_none()
        );
        let other = vec![TableUpdate::AssignUuid {
            uuid: uuid::Uuid::from_u128(9),
        }];
        let result = apply_updates(m, "file:///w/t/metadata/0.json", other);
        assert!(
            matches!(result, Err(CatalogError::BadRequest(_))),
            "{result:?}"
        );
    }

    #[test]
    fn format_version_comes_from_properties() {
        let (base, _) = table();
        for (value, expected) in [("1", FormatVersion::V1), ("3", FormatVersion::V3)] {
            let new = NewTableMetadata {
                schema: (**base.current_schema()).clone(),
                partition_spec: None,
                sort_order: None,
                properties: HashMap::from([("format-version".to_string(), value.to_string())]),
            };
            let m = metadata_for_new_table(new, "file:///w/t", uuid::Uuid::nil()).unwrap();
            assert_eq!(m.format_version(), expected);
            assert!(!m.properties().contains_key("format-version"));
        }
    }

    #[test]
    fn updates_that_change_nothing_write_nothing() {
        let (m, _) = table();
        let same = vec![TableUpdate::SetCurrentSchema { schema_id: 0 }];
        assert!(apply_updates(
            m.clone(),
            "file:///w/t/metadata/00000-x.metadata.json",
            same
        )
        .unwrap()
        .is_none());
        let props = vec![TableUpdate::SetProperties {
            updates: HashMap::from([("k".into(), "v".into())]),
        }];
        let next = apply_updates(m, "file:///w/t/metadata/00000-x.metadata.json", props)
            .unwrap()
            .unwrap();
        assert_eq!(next.properties().get("k").map(String::as_str), Some("v"));
        assert_eq!(next.metadata_log().len(), 1);
    }

    /// A create transaction's updates as DuckDB and PyIceberg send them.
    fn create_updates(default_spec: i32, field_ids: (i32, i32)) -> Vec<TableUpdate> {
        let (id, kind) = field_ids;
        serde_json::from_value(serde_json::json!([
            {"action": "upgrade-format-version", "format-version": 2},
            {"action": "add-schema", "schema": {"type": "struct", "schema-id": 0, "fields": [
                {"id": id, "name": "id", "required": true, "type": "long"},
                {"id": kind, "name": "kind", "required": false, "type": "string"}]}},
            {"action": "set-current-schema", "schema-id": -1},
            {"action": "add-spec", "spec": {"spec-id": 0, "fields": [
                {"source-id": kind, "field-id": 1000, "name": "kind", "transform": "identity"}]}},
            {"action": "set-default-spec", "spec-id": default_spec},
            {"action": "add-sort-order", "sort-order": {"order-id": 1, "fields": [
                {"source-id": id, "transform": "identity", "direction": "desc", "null-order": "nulls-last"}]}},
            {"action": "set-default-sort-order", "sort-order-id": -1},
            {"action": "set-location", "location": "file:///w/staged"},
            {"action": "set-properties", "updates": {"owner": "etl"}}
        ]))
        .unwrap()
    }

    #[test]
    fn a_create_transaction_keeps_the_clients_spec_and_field_ids() {
        // (1, 2): the ids every client assigns; (7, 4): ids the builder's constructor would renumber
        for field_ids in [(1, 2), (7, 4)] {
            for default_spec in [0, -1] {
                let m = metadata_for_create(create_updates(default_spec, field_ids), "file:///w/x")
                    .unwrap();
                // manifests the client wrote in the transaction name spec 0 and its field ids
                let specs: Vec<_> = m.partition_specs_iter().map(|s| s.spec_id()).collect();
                assert_eq!(specs, vec![0], "{field_ids:?} {default_spec}");
                let spec = m.default_partition_spec();
                assert_eq!(spec.spec_id(), 0);
                assert_eq!(spec.fields()[0].source_id, field_ids.1);
                assert_eq!(spec.fields()[0].field_id, 1000);
                assert_eq!(
                    m.current_schema().field_by_name("id").unwrap().id,
                    field_ids.0
                );
                assert_eq!(m.schemas_iter().count(), 1);
                assert_eq!(m.default_sort_order().fields[0].source_id, field_ids.0);
                assert_eq!(m.location(), "file:///w/staged");
                assert_eq!(m.properties()["owner"], "etl");
                assert_eq!(m.last_column_id(), field_ids.0.max(field_ids.1));
            }
        }
    }

    #[test]
    fn a_create_transaction_without_a_spec_is_unpartitioned() {
        let mut updates = create_updates(0, (1, 2));
        updates.retain(|u| {
            !matches!(
                u,
                TableUpdate::AddSpec { .. } | TableUpdate::SetDefaultSpec { .. }
            )
        });
        let m = metadata_for_create(updates, "file:///w/x").unwrap();
        assert!(m.default_partition_spec().is_unpartitioned());
        assert_eq!(m.format_version(), FormatVersion::V2);
        let no_schema = vec![TableUpdate::SetLocation {
            location: "file:///w/x".into(),
        }];
        assert!(matches!(
            metadata_for_create(no_schema, "file:///w/x"),
            Err(CatalogError::BadRequest(_))
        ));
    }
}
