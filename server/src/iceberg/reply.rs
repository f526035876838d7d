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
use frazil_catalog::{Environment, VendedCredentials};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

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
    write_head(&mut body, metadata_location, metadata)?;
    if let Some(config) = config {
        write_config(&mut body, config.iter())?;
    }
    // The newline every JSON answer ends in, written here: the newline middleware would
    // otherwise copy megabytes of table metadata on every load to add it.
    body.extend_from_slice(END);
    Ok(Bytes::from(body))
}

const END: &[u8] = b"}\n";

/// `{"metadata-location":…,"metadata":…`: the answer up to its `config`.
fn write_head(
    body: &mut Vec<u8>,
    metadata_location: Option<&str>,
    metadata: &str,
) -> ApiResult<()> {
    body.extend_from_slice(b"{\"metadata-location\":");
    serde_json::to_writer(&mut *body, &metadata_location).map_err(internal)?;
    body.extend_from_slice(b",\"metadata\":");
    body.extend_from_slice(metadata.as_bytes());
    Ok(())
}

/// `,"config":{…}`, in key order.
fn write_config<'a>(
    body: &mut Vec<u8>,
    config: impl Iterator<Item = (&'a String, &'a String)>,
) -> ApiResult<()> {
    body.extend_from_slice(b",\"config\":");
    let sorted: BTreeMap<&String, &String> = config.collect();
    serde_json::to_writer(body, &sorted).map_err(internal)
}

/// A `LoadTableResult` body with `vended` credentials merged over its `config` and as its one
/// `storage-credentials` entry. A body whose `config` is `base` (the environment's settings: every
/// answer but those with another mechanism's settings added) is not parsed: its `config` is
/// written last, so the end of the body is replaced (one copy of the metadata, for every vended
/// load). Any other body is taken apart and built again.
pub fn with_credentials(
    body: &[u8],
    base: &HashMap<String, String>,
    vended: &VendedCredentials,
) -> ApiResult<Bytes> {
    let mut plain_end = Vec::new();
    write_config(&mut plain_end, base.iter())?;
    plain_end.extend_from_slice(END);
    let mut answer = Vec::with_capacity(body.len() + 2048);
    let mut merged = match body.strip_suffix(plain_end.as_slice()) {
        Some(head) => {
            answer.extend_from_slice(head);
            base.clone()
        }
        None => {
            let parts: LoadParts = serde_json::from_slice(body).map_err(internal)?;
            write_head(
                &mut answer,
                parts.metadata_location.as_deref(),
                parts.metadata.get(),
            )?;
            parts.config
        }
    };
    merged.extend(vended.config.clone());
    write_config(&mut answer, merged.iter())?;
    answer.extend_from_slice(b",\"storage-credentials\":");
    serde_json::to_writer(&mut answer, &[StorageCredentialRef::from(vended)]).map_err(internal)?;
    answer.extend_from_slice(END);
    Ok(Bytes::from(answer))
}

/// A `storage-credentials` entry, written in key order as `config` is.
#[derive(Serialize)]
pub struct StorageCredentialRef<'a> {
    prefix: &'a str,
    config: &'a BTreeMap<String, String>,
}

impl<'a> From<&'a VendedCredentials> for StorageCredentialRef<'a> {
    fn from(vended: &'a VendedCredentials) -> Self {
        StorageCredentialRef {
            prefix: &vended.prefix,
            config: &vended.config,
        }
    }
}

/// The parts of a `LoadTableResult` body that [`with_credentials`] keeps.
#[derive(Deserialize)]
struct LoadParts<'a> {
    #[serde(rename = "metadata-location")]
    metadata_location: Option<String>,
    #[serde(borrow)]
    metadata: &'a RawValue,
    #[serde(default)]
    config: HashMap<String, String>,
}

/// The table location named by the metadata of a `LoadTableResult` body.
pub fn table_location_of(body: &[u8]) -> ApiResult<String> {
    let parts: LoadParts = serde_json::from_slice(body).map_err(internal)?;
    super::delegation::table_location(parts.metadata.get())
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

    /// Credentials spliced into a cached answer make the answer the wire type describes, with
    /// the vended keys over the answer's; an answer with other settings is taken apart instead
    /// of spliced, and keeps them.
    #[test]
    fn credentials_join_the_config_and_the_storage_credentials() {
        let metadata =
            r#"{"format-version":2,"location":"s3://b/ns/t","properties":{"config":"x"}}"#;
        let base = HashMap::from([
            ("s3.endpoint".to_string(), "http://s3".to_string()),
            ("s3.region".to_string(), "us-east-1".to_string()),
        ]);
        let vended = VendedCredentials {
            prefix: "s3://b/ns/t".into(),
            config: BTreeMap::from([
                ("s3.access-key-id".to_string(), "ASIA1".to_string()),
                ("s3.region".to_string(), "eu-west-1".to_string()),
            ]),
        };
        let location = "s3://b/ns/t/metadata/00001-a.metadata.json";
        let expected = serde_json::json!({
            "metadata-location": location,
            "metadata": serde_json::from_str::<serde_json::Value>(metadata).unwrap(),
            "config": {"s3.endpoint": "http://s3", "s3.region": "eu-west-1", "s3.access-key-id": "ASIA1"},
            "storage-credentials": [{"prefix": "s3://b/ns/t", "config": {"s3.access-key-id": "ASIA1", "s3.region": "eu-west-1"}}],
        });
        let plain = body(Some(location), metadata, Some(&base)).unwrap();
        let answer = with_credentials(&plain, &base, &vended).unwrap();
        assert!(answer.ends_with(b"]}\n"));
        let answer: serde_json::Value = serde_json::from_slice(&answer).unwrap();
        assert_eq!(answer, expected);
        assert_eq!(table_location_of(&plain).unwrap(), "s3://b/ns/t");
        // an answer with more than the environment's settings (another mechanism's) keeps them
        let mut more = base.clone();
        more.insert("s3.signer.uri".into(), "http://frazil".into());
        let plain = body(Some(location), metadata, Some(&more)).unwrap();
        let answer = with_credentials(&plain, &base, &vended).unwrap();
        let answer: serde_json::Value = serde_json::from_slice(&answer).unwrap();
        let mut expected = expected.clone();
        expected["config"]["s3.signer.uri"] = "http://frazil".into();
        assert_eq!(answer, expected);
    }
}
