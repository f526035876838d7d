//! JSON request bodies. Errors are Iceberg error bodies that say what is wrong and where:
//! 415 for a body that is not JSON, 413 beyond `max-body-bytes`, and 400 naming the field of a
//! missing field, a wrong type or an unknown enum value (`updates[2].action: unknown variant`).
//! serde_json refuses nesting deeper than 128 levels.

use actix_web::dev::Payload;
use actix_web::http::StatusCode;
use actix_web::web::Bytes;
use actix_web::{FromRequest, HttpMessage, HttpRequest};
use futures::future::LocalBoxFuture;
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// A JSON body, parsed with the path of any error.
#[derive(Debug)]
pub struct Json<T>(pub T);

impl<T> Json<T> {
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> std::ops::Deref for Json<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T: DeserializeOwned + 'static> FromRequest for Json<T> {
    type Error = actix_web::Error;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let is_json = is_json(req);
        let bytes = Bytes::from_request(req, payload);
        Box::pin(async move {
            if !is_json {
                return Err(unsupported_media_type().into());
            }
            let body = bytes.await.map_err(|e| {
                let status = e.as_response_error().status_code();
                if status == StatusCode::PAYLOAD_TOO_LARGE {
                    ApiError::new(
                        status,
                        "BadRequestException",
                        format!("Request body too large: {e}"),
                    )
                } else {
                    ApiError::bad_request(format!("Cannot read the request body: {e}"))
                }
            })?;
            parse(&body).map(Json).map_err(Into::into)
        })
    }
}

/// A body without Content-Type is read as JSON (curl, some scripts); any other type is refused.
fn is_json(req: &HttpRequest) -> bool {
    match req.mime_type() {
        Ok(None) => true,
        Ok(Some(mime)) => {
            mime.subtype() == actix_web::mime::JSON || mime.suffix() == Some(actix_web::mime::JSON)
        }
        Err(_) => false,
    }
}

pub fn unsupported_media_type() -> ApiError {
    ApiError::new(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "UnsupportedMediaTypeException",
        "The request body must be JSON: send Content-Type: application/json",
    )
}

/// Parses a body; the error names the field (`updates[0] (add-schema)`) where it can.
pub fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    // Every request body is an object; serde would also read a struct from a positional array.
    match body.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'{') => {}
        Some(_) => {
            return Err(ApiError::bad_request(
                "The request body must be a JSON object",
            ))
        }
        None => {
            return Err(ApiError::bad_request(
                "The request body is empty: send a JSON object",
            ))
        }
    }
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    let value: T = serde_path_to_error::deserialize(&mut deserializer).map_err(|e| {
        let path = e.path().clone();
        let inner = e.into_inner();
        match describe(body, &path) {
            Some(field) => {
                ApiError::bad_request(format!("Invalid request body at {field}: {inner}"))
            }
            None => ApiError::bad_request(format!("Malformed request body: {inner}")),
        }
    })?;
    deserializer
        .end()
        .map_err(|e| ApiError::bad_request(format!("Malformed request body: {e}")))?;
    Ok(value)
}

/// The path of a field, with the `action` or `type` of the update or requirement it is in:
/// serde cannot see inside those tagged objects, so the tag tells which one is meant.
fn describe(body: &[u8], path: &serde_path_to_error::Path) -> Option<String> {
    let text = path.to_string();
    if text == "." || text.is_empty() {
        return None;
    }
    let mut node = serde_json::from_slice::<serde_json::Value>(body).ok();
    for segment in path.iter() {
        node = match (segment, node) {
            (
                serde_path_to_error::Segment::Seq { index },
                Some(serde_json::Value::Array(mut items)),
            ) if *index < items.len() => Some(items.swap_remove(*index)),
            (
                serde_path_to_error::Segment::Map { key },
                Some(serde_json::Value::Object(mut map)),
            ) => map.remove(key),
            _ => None,
        };
    }
    let tag = node
        .as_ref()
        .and_then(|n| n.get("action").or_else(|| n.get("type")))
        .and_then(|t| t.as_str());
    Some(match tag {
        Some(tag) => format!("{text} ({tag})"),
        None => text,
    })
}

#[cfg(test)]
mod tests {
    use super::parse;
    use frazil_openapi::iceberg_rest::{
        CommitTableRequest, CreateNamespaceRequest, CreateTableRequest,
    };

    fn message<T: serde::de::DeserializeOwned + std::fmt::Debug>(body: &str) -> String {
        parse::<T>(body.as_bytes()).unwrap_err().to_string()
    }

    #[test]
    fn errors_name_the_field() {
        let wrong_type = message::<CreateNamespaceRequest>(r#"{"namespace": ["a", 1]}"#);
        assert!(wrong_type.contains("namespace[1]"), "{wrong_type}");
        let missing = message::<CreateNamespaceRequest>(r#"{"properties": {}}"#);
        assert!(missing.contains("namespace"), "{missing}");
        let unknown_action = message::<CommitTableRequest>(
            r#"{"requirements": [], "updates": [{"action": "set-properties", "updates": {}}, {"action": "explode"}]}"#,
        );
        assert!(unknown_action.contains("updates[1]"), "{unknown_action}");
        assert!(unknown_action.contains("explode"), "{unknown_action}");
        let positional = message::<CreateNamespaceRequest>(r#"[["a"], null]"#);
        assert!(positional.contains("must be a JSON object"), "{positional}");
        let trailing = message::<CreateNamespaceRequest>(r#"{"namespace": ["a"]} x"#);
        assert!(trailing.contains("Malformed"), "{trailing}");
        let wrong_field_type = message::<CommitTableRequest>(
            r#"{"requirements": [], "updates": [{"action": "set-current-schema", "schema-id": "zero"}]}"#,
        );
        assert!(
            wrong_field_type.contains("updates[0] (set-current-schema)"),
            "{wrong_field_type}"
        );
        // a schema of lists of lists: 200 levels of types, past the 128 levels serde_json reads
        let mut deep = r#""long""#.to_string();
        for i in 0..200 {
            deep = format!(
                r#"{{"type": "list", "element-id": {}, "element": {deep}, "element-required": false}}"#,
                1000 + i
            );
        }
        let nested = message::<CreateTableRequest>(&format!(
            r#"{{"name": "t", "schema": {{"type": "struct", "fields": [{{"id": 1, "name": "a", "required": false, "type": {deep}}}]}}}}"#
        ));
        assert!(nested.contains("recursion limit"), "{nested}");
    }
}
