//! The view commit engine's pure part: the one view requirement and the view updates, applied
//! with the `iceberg` crate's view metadata builder.

use std::collections::HashMap;

use iceberg::spec::{Schema, ViewFormatVersion, ViewMetadata, ViewMetadataBuilder, ViewVersion};
use iceberg::ViewUpdate;
use uuid::Uuid;

use crate::{CatalogError, Result};

/// `assert-view-uuid`: the view must still be the one the client loaded.
pub(crate) fn check_view_uuid(expected: Uuid, metadata: &ViewMetadata) -> Result<()> {
    if expected == metadata.uuid() {
        return Ok(());
    }
    Err(CatalogError::CommitFailed(format!(
        "Requirement failed: view UUID does not match: expected {expected} != {}",
        metadata.uuid()
    )))
}

/// Fresh metadata for createView: the version's `schema-id` becomes the id given to `schema`.
pub(crate) fn metadata_for_new_view(
    location: &str,
    schema: Schema,
    version: ViewVersion,
    properties: HashMap<String, String>,
) -> Result<ViewMetadata> {
    let builder = ViewMetadataBuilder::new(
        location.to_string(),
        schema,
        version,
        ViewFormatVersion::V1,
        properties,
    )
    .map_err(view_error)?;
    Ok(builder.build().map_err(view_error)?.metadata)
}

/// Applies `updates` to the current view metadata; `None` when they change nothing.
pub(crate) fn apply_view_updates(
    base: ViewMetadata,
    updates: Vec<ViewUpdate>,
) -> Result<Option<ViewMetadata>> {
    let uuid = base.uuid();
    let mut builder = ViewMetadataBuilder::new_from_metadata(base);
    for update in updates {
        builder = apply_view_update(builder, update, uuid)?;
    }
    let built = builder.build().map_err(view_error)?;
    Ok((!built.changes.is_empty()).then_some(built.metadata))
}

fn apply_view_update(
    builder: ViewMetadataBuilder,
    update: ViewUpdate,
    uuid: Uuid,
) -> Result<ViewMetadataBuilder> {
    use ViewUpdate as U;
    Ok(match update {
        // Engines identify a view by its uuid: it never changes.
        U::AssignUuid { uuid: other } if other != uuid => {
            return Err(CatalogError::BadRequest(format!(
                "Cannot reassign uuid of view {uuid} to {other}"
            )))
        }
        U::AssignUuid { .. } => builder,
        U::UpgradeFormatVersion { format_version } => builder
            .upgrade_format_version(format_version)
            .map_err(view_error)?,
        U::AddSchema { schema, .. } => builder.add_schema(schema),
        U::SetLocation { location } => builder.set_location(location),
        U::SetProperties { updates } => builder.set_properties(updates).map_err(view_error)?,
        U::RemoveProperties { removals } => builder.remove_properties(&removals),
        U::AddViewVersion { view_version } => {
            builder.add_version(view_version).map_err(view_error)?
        }
        U::SetCurrentViewVersion { view_version_id } => builder
            .set_current_version_id(view_version_id)
            .map_err(view_error)?,
    })
}

fn view_error(e: iceberg::Error) -> CatalogError {
    CatalogError::BadRequest(format!("Invalid view update: {}", e.message()))
}

/// The view metadata as JSON, with versions and schemas in id order (the builder keeps them in
/// hash maps, which would shuffle them on every write).
pub(crate) fn view_to_json(metadata: &ViewMetadata) -> Result<String> {
    let fail = |e: serde_json::Error| {
        CatalogError::Internal(format!("cannot serialize view metadata: {e}"))
    };
    let mut value = serde_json::to_value(metadata).map_err(fail)?;
    for (list, key) in [("versions", "version-id"), ("schemas", "schema-id")] {
        if let Some(items) = value.get_mut(list).and_then(|v| v.as_array_mut()) {
            items.sort_by_key(|item| item[key].as_i64().unwrap_or(i64::MIN));
        }
    }
    serde_json::to_string(&value).map_err(fail)
}

pub(crate) fn view_from_json(text: &str) -> Result<ViewMetadata> {
    serde_json::from_str(text)
        .map_err(|e| CatalogError::Internal(format!("stored view metadata is unreadable: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use iceberg::spec::{NestedField, PrimitiveType, Type};

    fn schema() -> Schema {
        Schema::builder()
            .with_fields(vec![NestedField::required(
                1,
                "id",
                Type::Primitive(PrimitiveType::Long),
            )
            .into()])
            .build()
            .unwrap()
    }

    /// A version on the view's first schema (id 0).
    fn version(id: i32, sql: &str) -> ViewVersion {
        serde_json::from_value(serde_json::json!({
            "version-id": id,
            "schema-id": 0,
            "timestamp-ms": chrono_free_now(),
            "summary": {"engine-name": "test"},
            "representations": [{"type": "sql", "sql": sql, "dialect": "spark"}],
            "default-namespace": ["ns"]
        }))
        .unwrap()
    }

    fn chrono_free_now() -> i64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as i64
    }

    #[test]
    fn a_new_version_becomes_current_and_is_logged() {
        let m = metadata_for_new_view(
            "file:///w/v",
            schema(),
            version(1, "select 1"),
            HashMap::new(),
        )
        .unwrap();
        assert_eq!(m.current_version_id(), 1);
        let next = apply_view_updates(
            m.clone(),
            vec![
                ViewUpdate::AddViewVersion {
                    view_version: version(2, "select 2"),
                },
                ViewUpdate::SetCurrentViewVersion {
                    view_version_id: -1,
                },
            ],
        )
        .unwrap()
        .unwrap();
        assert_eq!(next.current_version_id(), 2);
        assert_eq!(next.history().len(), 2);
        assert_eq!(next.uuid(), m.uuid());
        let json = view_to_json(&next).unwrap();
        assert_eq!(view_from_json(&json).unwrap(), next);
    }

    #[test]
    fn the_uuid_requirement_uses_the_java_message() {
        let m = metadata_for_new_view(
            "file:///w/v",
            schema(),
            version(1, "select 1"),
            HashMap::new(),
        )
        .unwrap();
        let other = Uuid::from_u128(9);
        match check_view_uuid(other, &m) {
            Err(CatalogError::CommitFailed(message)) => assert_eq!(
                message,
                format!(
                    "Requirement failed: view UUID does not match: expected {other} != {}",
                    m.uuid()
                )
            ),
            other => panic!("expected a failed requirement, got {other:?}"),
        }
        assert!(check_view_uuid(m.uuid(), &m).is_ok());
        let reassign = apply_view_updates(m, vec![ViewUpdate::AssignUuid { uuid: other }]);
        assert!(matches!(reassign, Err(CatalogError::BadRequest(_))));
    }
}
