//! Answers that carry a table's or view's metadata — `LoadTableResult`, `CommitTableResponse`,
//! `UnregisterTableResult`, `LoadViewResult`, all `{"metadata-location", "metadata", "config"?}` —
//! are built here, in one way, so that an Idempotency-Key replay builds the same answer again from
//! the metadata file. The handler marks its answer with a [`MetadataReply`]; the idempotency
//! record then keeps the file's location and the answer's [`Shape`] instead of megabytes of body.

use std::collections::{BTreeMap, HashMap};

use actix_web::http::header::{self, EntityTag};
use actix_web::HttpResponse;
use bytes::Bytes;
use frazil_catalog::store::ObjectKind;
use frazil_catalog::Environment;

use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// The form of an answer that carries metadata, and how its metadata relates to the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shape {
    pub kind: ObjectKind,
    /// The answer has the storage `config` (the load forms: create, register, views).
    pub with_config: bool,
    /// The answer's metadata is the file's text as the catalog wrote it (commits, creates);
    /// else it is the file parsed and serialized the catalog's way (registered files).
    pub as_written: bool,
}

impl Shape {
    /// A table commit's `CommitTableResponse`.
    pub const TABLE_COMMITTED: Shape = Shape::table(false, true);
    /// createTable's `LoadTableResult`.
    pub const TABLE_CREATED: Shape = Shape::table(true, true);
    /// registerTable's `LoadTableResult`.
    pub const TABLE_REGISTERED: Shape = Shape::table(true, false);
    /// unregisterTable's `UnregisterTableResult`: the stored metadata, which for a registered
    /// table is the catalog's serialization rather than the file's text.
    pub const TABLE_UNREGISTERED: Shape = Shape::table(false, false);
    /// replaceView's `LoadViewResult`.
    pub const VIEW_COMMITTED: Shape = Shape::view(true);
    /// registerView's `LoadViewResult`.
    pub const VIEW_REGISTERED: Shape = Shape::view(false);

    const fn table(with_config: bool, as_written: bool) -> Shape {
        Shape {
            kind: ObjectKind::Table,
            with_config,
            as_written,
        }
    }

    const fn view(as_written: bool) -> Shape {
        Shape {
            kind: ObjectKind::View,
            with_config: true,
            as_written,
        }
    }

    /// The shape's name in an idempotency record, e.g. `table+config+as-written`.
    pub fn tag(self) -> String {
        let mut tag = String::from(match self.kind {
            ObjectKind::Table => "table",
            ObjectKind::View => "view",
        });
        if self.with_config {
            tag.push_str("+config");
        }
        if self.as_written {
            tag.push_str("+as-written");
        }
        tag
    }

    pub fn from_tag(tag: &str) -> Option<Shape> {
        let mut parts = tag.split('+');
        let kind = match parts.next()? {
            "table" => ObjectKind::Table,
            "view" => ObjectKind::View,
            _ => return None,
        };
        let mut shape = Shape {
            kind,
            with_config: false,
            as_written: false,
        };
        for part in parts {
            match part {
                "config" => shape.with_config = true,
                "as-written" => shape.as_written = true,
                _ => return None,
            }
        }
        Some(shape)
    }
}

/// Carried in an answer's extensions: what an Idempotency-Key record keeps instead of its body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetadataReply {
    pub shape: Shape,
    pub location: String,
}

/// The 200 answer of `shape` for the metadata at `location`, with `tag` as its ETag.
pub fn respond(
    shape: Shape,
    location: &str,
    metadata: &str,
    config: &HashMap<String, String>,
    tag: Option<EntityTag>,
) -> ApiResult<HttpResponse> {
    let body = body(
        Some(location),
        metadata,
        shape.with_config.then_some(config),
    )?;
    let mut response = json_response(body, tag);
    response.extensions_mut().insert(MetadataReply {
        shape,
        location: location.to_string(),
    });
    Ok(response)
}

/// The body of a `shape` answer, built again from the metadata file at `location` (an
/// Idempotency-Key replay).
pub async fn rebuild(
    state: &AppState,
    env: &Environment,
    shape: Shape,
    location: &str,
) -> ApiResult<Bytes> {
    let metadata = state
        .catalog
        .metadata_at(env, shape.kind, location, shape.as_written)
        .await?;
    let config: HashMap<String, String> = env.storage.client_config().into_iter().collect();
    body(
        Some(location),
        &metadata,
        shape.with_config.then_some(&config),
    )
}

/// A `LoadTableResult` (with `config`) or `CommitTableResponse` (without) — and the view and
/// unregister answers of the same form — serialized as those wire types are, with the metadata
/// spliced in as it is: it is the catalog's own serialized JSON, and parsing megabytes of it only
/// to copy it out again would double a response's cost. `config` is written in key order, so
/// that the same answer built twice has the same bytes.
pub fn body(
    metadata_location: Option<&str>,
    metadata: &str,
    config: Option<&HashMap<String, String>>,
) -> ApiResult<Bytes> {
    let mut body = Vec::with_capacity(metadata.len() + 512);
    body.extend_from_slice(b"{\"metadata-location\":");
    serde_json::to_writer(&mut body, &metadata_location).map_err(internal)?;
    body.extend_from_slice(b",\"metadata\":");
    body.extend_from_slice(metadata.as_bytes());
    if let Some(config) = config {
        body.extend_from_slice(b",\"config\":");
        let sorted: BTreeMap<&String, &String> = config.iter().collect();
        serde_json::to_writer(&mut body, &sorted).map_err(internal)?;
    }
    // The newline every JSON answer ends in, written here: the newline middleware would
    // otherwise copy megabytes of table metadata on every load to add it.
    body.extend_from_slice(b"}\n");
    Ok(Bytes::from(body))
}

pub fn json_response(body: Bytes, tag: Option<EntityTag>) -> HttpResponse {
    let mut response = HttpResponse::Ok();
    response.content_type(header::ContentType::json());
    if let Some(tag) = tag {
        response.insert_header(header::ETag(tag));
    }
    response.body(body)
}

/// The catalog's own stored JSON could not be read or written: a server error.
pub fn internal(e: serde_json::Error) -> ApiError {
    ApiError::from(frazil_catalog::CatalogError::Internal(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_survive_their_tags() {
        for shape in [
            Shape::TABLE_COMMITTED,
            Shape::TABLE_CREATED,
            Shape::TABLE_REGISTERED,
            Shape::TABLE_UNREGISTERED,
            Shape::VIEW_COMMITTED,
            Shape::VIEW_REGISTERED,
        ] {
            assert_eq!(Shape::from_tag(&shape.tag()), Some(shape));
        }
        assert_eq!(Shape::from_tag("table+bogus"), None);
        assert_eq!(Shape::from_tag("namespace"), None);
    }
}
