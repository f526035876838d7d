//! Idempotency-Key (Iceberg REST 1.11): a mutation retried with the same key has no further
//! effect; the retry gets the first request's final response. Records live in the metadata
//! store, so any replica replays them.
//!
//! - Only the operations that declare the header honour it (every catalog POST and DELETE but
//!   createView and reportMetrics).
//! - The caller is authenticated and authorized before anything else: a replay never bypasses
//!   a 401 or 403, and those answers are never stored.
//! - A record is scoped by environment and key, and bound to a fingerprint of the caller's key
//!   id, the method, path, query and body: the same key on a different request, or from another
//!   API key, is 422.
//! - 2xx and terminal 4xx answers are stored and replayed; 5xx (and 401, 403, 408, 429) are not:
//!   the record is removed so that a retry runs again.
//! - A duplicate arriving while the first request runs waits for its answer.
//! - Any valid UUID is accepted as a key (the spec asks clients for UUIDv7; being lenient costs
//!   nothing because keys are scoped by environment and bound to the request).

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use actix_web::body::{self, BoxBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::{header, Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::web::{Bytes, Data};
use actix_web::HttpResponse;
use frazil_catalog::store::{IdempotentResponse, MetadataStore};
use sha2::{Digest, Sha256};

use crate::auth::Caller;
use crate::error::ApiError;
use crate::state::AppState;

/// How long a key's record is kept, as `/v1/config` advertises it.
pub const LIFETIME: Duration = Duration::from_secs(30 * 60);
pub const LIFETIME_ISO8601: &str = "PT30M";

const HEADER: &str = "idempotency-key";
/// How long a duplicate waits for the first request before answering 503 with Retry-After.
const WAIT_FOR_FIRST: Duration = Duration::from_secs(30);
const POLL: Duration = Duration::from_millis(25);

/// The last purge of expired records, in ms since the epoch (one purge a minute per replica).
static LAST_PURGE_MS: AtomicI64 = AtomicI64::new(0);

pub async fn middleware(
    mut req: ServiceRequest,
    next: Next<BoxBody>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let Some(key) = req.headers().get(HEADER).cloned() else {
        return next.call(req).await;
    };
    if !declares_key(req.method(), req.path()) {
        return next.call(req).await;
    }
    let key = match key
        .to_str()
        .ok()
        .and_then(|k| uuid::Uuid::parse_str(k.trim()).ok())
    {
        Some(key) => key.to_string(),
        None => {
            let error = ApiError::bad_request("Idempotency-Key must be a UUID (UUIDv7)");
            return Ok(req.error_response(error));
        }
    };
    let caller = match req.extract::<Caller>().await {
        Ok(caller) => caller,
        Err(e) => return Ok(req.error_response(e)),
    };
    let body = match req.extract::<Bytes>().await {
        Ok(body) => body,
        Err(e) => {
            let status = e.as_response_error().status_code();
            let error = ApiError::new(status, "BadRequestException", format!("Request body: {e}"));
            return Ok(req.error_response(error));
        }
    };
    let Some(state) = req.app_data::<Data<AppState>>().cloned() else {
        return next.call(req).await;
    };
    let scope = format!(
        "{}/{}",
        req.match_info().get("org").unwrap_or_default(),
        req.match_info().get("env").unwrap_or_default()
    );
    let fingerprint = fingerprint(&caller, &req, &body);
    req.set_payload(Payload::from(body));

    let store: &dyn MetadataStore = &state.store;
    purge_expired(store).await;
    match claim(store, &scope, &key, &fingerprint).await {
        Ok(Claim::Owned) => {}
        Ok(Claim::Replay(response)) => return Ok(req.into_response(replay(response))),
        Ok(Claim::Refused(error)) => return Ok(req.error_response(error)),
        Err(error) => return Ok(req.error_response(error)),
    }
    let mut claimed = ClaimGuard {
        state: Some(state.clone()),
        scope: scope.clone(),
        key: key.clone(),
    };
    let response = match next.call(req).await {
        Ok(response) => response,
        Err(e) => {
            claimed.state = None;
            release(store, &scope, &key).await;
            return Err(e);
        }
    };
    claimed.state = None;
    if !is_final(response.status()) {
        release(store, &scope, &key).await;
        return Ok(response);
    }
    finish(store, &scope, &key, response).await
}

/// Lets go of a claimed key when the request is dropped before it answers (cut by the request
/// timeout, or the client went away), so that a retry runs instead of waiting for a record
/// that would never be finished.
struct ClaimGuard {
    state: Option<Data<AppState>>,
    scope: String,
    key: String,
}

impl Drop for ClaimGuard {
    fn drop(&mut self) {
        if let Some(state) = self.state.take() {
            let (scope, key) = (
                std::mem::take(&mut self.scope),
                std::mem::take(&mut self.key),
            );
            tokio::spawn(async move { release(&state.store, &scope, &key).await });
        }
    }
}

/// The operations that declare Idempotency-Key: every catalog POST and DELETE but createView
/// (`POST .../namespaces/{ns}/views`) and reportMetrics.
fn declares_key(method: &Method, path: &str) -> bool {
    match *method {
        Method::DELETE => true,
        Method::POST => {
            let create_view = path.ends_with("/views")
                && path.trim_end_matches("/views").contains("/namespaces/");
            !create_view && !path.ends_with("/metrics")
        }
        _ => false,
    }
}

fn fingerprint(caller: &Caller, req: &ServiceRequest, body: &[u8]) -> String {
    let mut hash = Sha256::new();
    for part in [
        caller.0.key_id.as_bytes(),
        req.method().as_str().as_bytes(),
        req.path().as_bytes(),
        req.query_string().as_bytes(),
    ] {
        hash.update(part);
        hash.update([0u8]);
    }
    hash.update(body);
    hex(&hash.finalize())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

enum Claim {
    /// This request runs the operation.
    Owned,
    Replay(IdempotentResponse),
    Refused(ApiError),
}

/// Claims the key, or waits for the request that holds it and returns its answer.
async fn claim(
    store: &dyn MetadataStore,
    scope: &str,
    key: &str,
    fingerprint: &str,
) -> Result<Claim, ApiError> {
    let deadline = tokio::time::Instant::now() + WAIT_FOR_FIRST;
    loop {
        let now = now_ms();
        if store
            .claim_idempotency_key(scope, key, fingerprint, now)
            .await?
        {
            return Ok(Claim::Owned);
        }
        let Some(record) = store.idempotency_record(scope, key).await? else {
            // The first request failed and let go of the key: try again.
            continue;
        };
        if record.created_at_ms < now - lifetime_ms() {
            store.release_idempotency_key(scope, key).await?;
            continue;
        }
        if record.fingerprint != fingerprint {
            return Ok(Claim::Refused(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "UnprocessableEntityException",
                "Idempotency-Key was already used for a different request; use a new key for a new operation",
            )));
        }
        if let Some(response) = record.response {
            return Ok(Claim::Replay(response));
        }
        if tokio::time::Instant::now() >= deadline {
            return Ok(Claim::Refused(still_running()));
        }
        tokio::time::sleep(POLL).await;
    }
}

fn still_running() -> ApiError {
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "ServiceUnavailableException",
        "A request with this Idempotency-Key is still running; retry later",
    )
}

/// 2xx and deterministic 4xx answers are final; 5xx and answers that depend on the caller's
/// credentials or on timing are not.
fn is_final(status: StatusCode) -> bool {
    status.is_success()
        || (status.is_client_error()
            && ![
                StatusCode::UNAUTHORIZED,
                StatusCode::FORBIDDEN,
                StatusCode::REQUEST_TIMEOUT,
                StatusCode::TOO_MANY_REQUESTS,
            ]
            .contains(&status))
}

/// Stores the final response and hands it on.
async fn finish(
    store: &dyn MetadataStore,
    scope: &str,
    key: &str,
    response: ServiceResponse<BoxBody>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let (req, response) = response.into_parts();
    let status = response.status();
    let header_text = |name| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let content_type = header_text(header::CONTENT_TYPE);
    let etag = header_text(header::ETAG);
    let (response, payload) = response.into_parts();
    let bytes = body::to_bytes(payload).await.unwrap_or_default();
    let record = IdempotentResponse {
        status: status.as_u16(),
        content_type,
        etag,
        body: String::from_utf8_lossy(&bytes).into_owned(),
    };
    if let Err(e) = store.finish_idempotency_key(scope, key, &record).await {
        tracing::warn!(error = %e, "could not record an idempotent response");
        release(store, scope, key).await;
    }
    let response = response.set_body(bytes.boxed());
    Ok(ServiceResponse::new(req, response))
}

fn replay(response: IdempotentResponse) -> HttpResponse {
    let status = StatusCode::from_u16(response.status).unwrap_or(StatusCode::OK);
    let mut replayed = HttpResponse::build(status);
    if let Some(content_type) = response.content_type {
        replayed.insert_header((header::CONTENT_TYPE, content_type));
    }
    if let Some(etag) = response.etag {
        replayed.insert_header((header::ETAG, etag));
    }
    if response.body.is_empty() {
        replayed.finish()
    } else {
        replayed.body(response.body)
    }
}

async fn release(store: &dyn MetadataStore, scope: &str, key: &str) {
    if let Err(e) = store.release_idempotency_key(scope, key).await {
        tracing::warn!(error = %e, "could not release an idempotency key");
    }
}

/// Deletes expired records, at most once a minute per replica.
async fn purge_expired(store: &dyn MetadataStore) {
    let now = now_ms();
    let last = LAST_PURGE_MS.load(Ordering::Relaxed);
    if now - last < 60_000
        || LAST_PURGE_MS
            .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
            .is_err()
    {
        return;
    }
    match store.purge_idempotency_keys(now - lifetime_ms()).await {
        Ok(0) => {}
        Ok(purged) => tracing::debug!(purged, "purged expired idempotency keys"),
        Err(e) => tracing::warn!(error = %e, "could not purge expired idempotency keys"),
    }
}

fn lifetime_ms() -> i64 {
    i64::try_from(LIFETIME.as_millis()).unwrap_or(i64::MAX)
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_declared_operations_honour_the_key() {
        let prefix = "/iceberg/catalog/v1/default/default";
        let post = |p: &str| declares_key(&Method::POST, &format!("{prefix}{p}"));
        assert!(post("/namespaces"));
        assert!(post("/namespaces/ns/tables/t"));
        assert!(post("/transactions/commit"));
        assert!(post("/views/rename"));
        assert!(post("/namespaces/ns/views/v"));
        assert!(
            !post("/namespaces/ns/views"),
            "createView does not declare it"
        );
        assert!(!post("/namespaces/ns/tables/t/metrics"));
        assert!(declares_key(&Method::DELETE, "/x/namespaces/ns"));
        assert!(!declares_key(&Method::GET, "/x/namespaces/ns"));
    }

    #[test]
    fn credential_and_timing_answers_are_not_final() {
        assert!(is_final(StatusCode::OK));
        assert!(is_final(StatusCode::NO_CONTENT));
        assert!(is_final(StatusCode::CONFLICT));
        assert!(is_final(StatusCode::NOT_FOUND));
        assert!(!is_final(StatusCode::FORBIDDEN));
        assert!(!is_final(StatusCode::UNAUTHORIZED));
        assert!(!is_final(StatusCode::INTERNAL_SERVER_ERROR));
        assert!(!is_final(StatusCode::SERVICE_UNAVAILABLE));
    }
}
