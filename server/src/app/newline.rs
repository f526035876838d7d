//! Every JSON answer ends in a newline, so that `curl` output does not run into the next
//! prompt. Applied once around all routes (see `super::configure`), outside the Idempotency-Key
//! middleware: a stored answer and its replay pass through here alike and stay byte-identical.
//! Bodies of unknown length (streams) and encoded (compressed) bodies are left alone.

use actix_web::body::{self, BodySize, BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderMap};
use actix_web::middleware::Next;
use actix_web::web::Bytes;

pub async fn middleware(
    req: ServiceRequest,
    next: Next<BoxBody>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let response = next.call(req).await?;
    let sized = matches!(response.response().body().size(), BodySize::Sized(n) if n > 0);
    if !sized || !is_plain_json(response.headers()) {
        return Ok(response);
    }
    let (req, res) = response.into_parts();
    let (mut res, body) = res.into_parts();
    let bytes = body::to_bytes(body)
        .await
        .map_err(|e| actix_web::error::ErrorInternalServerError(e.to_string()))?;
    // One copy at most: table metadata can be megabytes.
    let bytes = match bytes.ends_with(b"\n") {
        true => bytes,
        false => Bytes::from([bytes.as_ref(), b"\n"].concat()),
    };
    // actix writes the length of the new body; a length a handler set would now be wrong.
    res.headers_mut().remove(header::CONTENT_LENGTH);
    Ok(ServiceResponse::new(
        req,
        res.set_body(bytes).map_into_boxed_body(),
    ))
}

/// `application/json` (or a `+json` type), not content-encoded.
fn is_plain_json(headers: &HeaderMap) -> bool {
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|t| {
            let t = t.trim().to_ascii_lowercase();
            t == "application/json" || t.ends_with("+json")
        });
    json == Some(true) && !headers.contains_key(header::CONTENT_ENCODING)
}
