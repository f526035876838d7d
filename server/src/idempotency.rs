//! Idempotency-Key (Iceberg REST 1.11): a mutation retried with the same key has no further
//! effect; the retry gets the first request's final response. Records live in the metadata
//! store, so any replica replays them.
//!
//! - Only the operations that declare the header honour it (every catalog POST and DELETE but
//!   createView and reportMetrics): the route table (`iceberg::Endpoint`) wraps this middleware
//!   around exactly those routes.
//! - The caller is authenticated and authorized before anything else: a replay never bypasses
//!   a 401 or 403, and those answers are never stored.
//! - A record is scoped by environment and key, and bound to a fingerprint of the caller's key
//!   id, the method, path, query and body: the same key on a different request, or from another
//!   API key, is 422.
//! - The operation runs in its own task, which holds the key's claim until the operation ends
//!   and records its answer itself: a request cut by the timeout, or whose client went away,
//!   leaves the operation running, and a retry waits for its answer instead of running it again
//!   (which would answer 409 for a commit that landed).
//! - 2xx and terminal 4xx answers are stored and replayed; 5xx (and 401, 403, 408, 429) are not:
//!   the claim is released so that a retry runs again.
//! - Answers that carry a table's or view's metadata are stored as the metadata file's location
//!   (see `iceberg::reply`) and built again from that file on replay: the same bytes, without
//!   keeping megabytes per key.
//! - A claim is a lease of the request timeout plus a margin, renewed while the operation runs:
//!   the claim of a replica that died expires soon after, and a retry then runs the request again.
//! - A duplicate arriving while the first request runs waits for its answer, until just before
//!   its own request timeout; then it answers 503 with Retry-After.
//! - Expired records are deleted by a background task on every replica ([`spawn_pruner`]).
//! - Any valid UUID is accepted as a key (the spec asks clients for UUIDv7; being lenient costs
//!   nothing because keys are scoped by environment and bound to the request).

use std::time::Duration;

use actix_web::body::{self, BoxBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::{header, StatusCode};
use actix_web::middleware::Next;
use actix_web::web::{Bytes, Data};
use actix_web::HttpResponse;
use frazil_catalog::store::{
    IdempotencyClaim, IdempotentBody, IdempotentResponse, MetadataStore, SqlStore,
};
use frazil_catalog::Access;
use sha2::{Digest, Sha256};

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::iceberg::reply::{self, MetadataReply, Shape};
use crate::state::AppState;

/// How long a key's record is kept, as `/v1/config` advertises it.
pub const LIFETIME: Duration = Duration::from_secs(30 * 60);
pub const LIFETIME_ISO8601: &str = "PT30M";

const HEADER: &str = "idempotency-key";
/// How long a duplicate waits for the first request at most (and never past its own timeout).
const WAIT_FOR_FIRST: Duration = Duration::from_secs(30);
const POLL: Duration = Duration::from_millis(25);
/// A claim outlives the request timeout by this much at least: the lease a replica must renew.
const LEASE_MARGIN: Duration = Duration::from_secs(1);

pub async fn middleware(
    mut req: ServiceRequest,
    next: Next<BoxBody>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let Some(key) = req.headers().get(HEADER).cloned() else {
        return next.call(req).await;
    };
    // Authorization first: a refused caller gets 401/403 whatever key it sent.
    let caller = match req.extract::<Caller>().await {
        Ok(caller) => caller,
        Err(e) => return Ok(req.error_response(e)),
    };
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
    let org = req.match_info().get("org").unwrap_or_default().to_string();
    let env = req.match_info().get("env").unwrap_or_default().to_string();
    let scope = format!("{org}/{env}");
    let fingerprint = fingerprint(&caller, &req, &body);
    req.set_payload(Payload::from(body));

    let timing = Timing::of(&state);
    let claim_id = match claim(&state.store, &scope, &key, &fingerprint, &timing).await {
        Ok(Claim::Owned(claim_id)) => claim_id,
        Ok(Claim::Replay(response)) => {
            let replayed = replay(&state, &caller, &org, &env, response).await;
            return Ok(req.into_response(replayed));
        }
        Ok(Claim::Refused(error)) | Err(error) => return Ok(req.error_response(error)),
    };
    let held = Held {
        state: state.clone(),
        scope,
        key,
        claim_id,
        timing,
    };
    // Spawned, not awaited here: when this request is cut or dropped, the task goes on.
    match actix_web::rt::spawn(held.run(next, req)).await {
        Ok(answer) => answer,
        Err(e) => Err(
            ApiError::from(frazil_catalog::CatalogError::CommitStateUnknown(format!(
                "The operation's task failed: {e}"
            )))
            .into(),
        ),
    }
}

/// The lease of a claim and how long a duplicate waits, from the request timeout.
#[derive(Debug, Clone, Copy)]
struct Timing {
    lease: Duration,
    renew_every: Duration,
    wait_for_first: Duration,
}

impl Timing {
    fn of(state: &AppState) -> Timing {
        Timing::for_timeout(state.request_timeout)
    }

    fn for_timeout(timeout: Duration) -> Timing {
        let lease = timeout + LEASE_MARGIN.max(timeout / 10);
        Timing {
            lease,
            renew_every: lease / 3,
            // Answered before the request timeout would cut the duplicate with a 504.
            wait_for_first: WAIT_FOR_FIRST.min(timeout.mul_f64(0.9)),
        }
    }

    fn lease_until(&self, now_ms: i64) -> i64 {
        now_ms.saturating_add(i64::try_from(self.lease.as_millis()).unwrap_or(i64::MAX))
    }
}

/// A claimed key, owned by the task that runs the request's operation.
struct Held {
    state: Data<AppState>,
    scope: String,
    key: String,
    claim_id: String,
    timing: Timing,
}

impl Held {
    fn claim(&self) -> IdempotencyClaim<'_> {
        IdempotencyClaim {
            scope: &self.scope,
            key: &self.key,
            claim_id: &self.claim_id,
        }
    }

    /// Runs the operation while renewing the claim, then records its answer or lets go of the
    /// key, and hands the answer on (to a request that may no longer be waiting).
    async fn run(
        self,
        next: Next<BoxBody>,
        req: ServiceRequest,
    ) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
        let operation = next.call(req);
        tokio::pin!(operation);
        let outcome = tokio::select! {
            biased;
            outcome = &mut operation => outcome,
            () = self.renew_while_running() => operation.await,
        };
        let response = match outcome {
            Ok(response) => response,
            Err(e) => {
                self.release().await;
                return Err(e);
            }
        };
        if !is_final(response.status()) {
            self.release().await;
            return Ok(response);
        }
        self.finish(response).await
    }

    /// Renews the lease until the claim is no longer this one's (then it returns).
    async fn renew_while_running(&self) {
        loop {
            tokio::time::sleep(self.timing.renew_every).await;
            let until = self.timing.lease_until(now_ms());
            match self
                .state
                .store
                .renew_idempotency_key(&self.claim(), until)
                .await
            {
                Ok(true) => {}
                Ok(false) => {
                    tracing::warn!(key = %self.key, "lost the claim of an idempotency key");
                    return;
                }
                Err(e) => tracing::warn!(error = %e, "could not renew an idempotency key's claim"),
            }
        }
    }

    /// Stores the final response (compact: see [`record_of`]) and hands it on.
    async fn finish(
        self,
        response: ServiceResponse<BoxBody>,
    ) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
        let (req, response) = response.into_parts();
        let (record, response) = record_of(response).await;
        match self
            .state
            .store
            .finish_idempotency_key(&self.claim(), &record)
            .await
        {
            Ok(true) => {}
            Ok(false) => {
                tracing::warn!(key = %self.key, "an idempotency key's claim was taken over before its answer was recorded")
            }
            Err(e) => {
                tracing::warn!(error = %e, "could not record an idempotent response");
                self.release().await;
            }
        }
        Ok(ServiceResponse::new(req, response))
    }

    async fn release(&self) {
        if let Err(e) = self
            .state
            .store
            .release_idempotency_key(&self.claim())
            .await
        {
            tracing::warn!(error = %e, "could not release an idempotency key");
        }
    }
}

/// The record of a final answer: an answer that carries metadata keeps only the metadata file's
/// location and the answer's shape; any other keeps its (small) body.
async fn record_of(response: HttpResponse) -> (IdempotentResponse, HttpResponse) {
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
    let metadata = response.extensions().get::<MetadataReply>().cloned();
    let (body, response) = match metadata {
        Some(MetadataReply { shape, location }) if status.is_success() => (
            IdempotentBody::Metadata {
                location,
                shape: shape.tag(),
            },
            response,
        ),
        _ => {
            let (response, payload) = response.into_parts();
            let bytes = body::to_bytes(payload).await.unwrap_or_default();
            let text = String::from_utf8_lossy(&bytes).into_owned();
            (
                IdempotentBody::Stored(text),
                response.set_body(bytes.boxed()),
            )
        }
    };
    let record = IdempotentResponse {
        status: status.as_u16(),
        content_type,
        etag,
        body,
    };
    (record, response)
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
    /// This request runs the operation, under this claim id.
    Owned(String),
    Replay(IdempotentResponse),
    Refused(ApiError),
}

/// Claims the key, or waits for the request that holds it and returns its answer.
async fn claim(
    store: &SqlStore,
    scope: &str,
    key: &str,
    fingerprint: &str,
    timing: &Timing,
) -> Result<Claim, ApiError> {
    let claim_id = uuid::Uuid::now_v7().to_string();
    let claim = IdempotencyClaim {
        scope,
        key,
        claim_id: &claim_id,
    };
    let deadline = tokio::time::Instant::now() + timing.wait_for_first;
    loop {
        let now = now_ms();
        let lease_until = timing.lease_until(now);
        if store
            .claim_idempotency_key(&claim, fingerprint, now, lease_until)
            .await?
        {
            return Ok(Claim::Owned(claim_id));
        }
        let Some(record) = store.idempotency_record(scope, key).await? else {
            // The first request failed and let go of the key: try again.
            continue;
        };
        let expired_before = now - lifetime_ms();
        if record.created_at_ms < expired_before && record.lease_until_ms < now {
            store
                .forget_idempotency_key(scope, key, expired_before, now)
                .await?;
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
        if record.lease_until_ms < now {
            // The replica running the first request died (its lease ran out unrenewed): this
            // retry runs the request again; of several such retries, one takes the claim over.
            if store
                .take_over_idempotency_key(&claim, fingerprint, now, lease_until)
                .await?
            {
                tracing::info!(key, "took over the expired claim of an idempotency key");
                return Ok(Claim::Owned(claim_id));
            }
            continue;
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

/// The recorded answer, its body built again from the metadata file when it carried metadata.
async fn replay(
    state: &AppState,
    caller: &Caller,
    org: &str,
    env: &str,
    response: IdempotentResponse,
) -> HttpResponse {
    let body = match response.body {
        IdempotentBody::Stored(text) => Bytes::from(text),
        IdempotentBody::Metadata { location, shape } => {
            match rebuild(state, caller, org, env, &shape, &location).await {
                Ok(body) => body,
                Err(error) => return actix_web::ResponseError::error_response(&error),
            }
        }
    };
    let status = StatusCode::from_u16(response.status).unwrap_or(StatusCode::OK);
    let mut replayed = HttpResponse::build(status);
    if let Some(content_type) = response.content_type {
        replayed.insert_header((header::CONTENT_TYPE, content_type));
    }
    if let Some(etag) = response.etag {
        replayed.insert_header((header::ETAG, etag));
    }
    if body.is_empty() {
        replayed.finish()
    } else {
        replayed.body(body)
    }
}

async fn rebuild(
    state: &AppState,
    caller: &Caller,
    org: &str,
    env: &str,
    shape: &str,
    location: &str,
) -> ApiResult<Bytes> {
    let shape = Shape::from_tag(shape).ok_or_else(|| {
        ApiError::from(frazil_catalog::CatalogError::Internal(format!(
            "unknown shape {shape:?} of a recorded answer"
        )))
    })?;
    let env = state.environment(caller, org, env, Access::Write).await?;
    reply::rebuild(state, &env, shape, location).await
}

/// Deletes expired records every `interval`, on every replica, off the request path; the handle
/// stops it at shutdown.
pub fn spawn_pruner(store: SqlStore, interval: Duration) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let now = now_ms();
            match store.purge_idempotency_keys(now - lifetime_ms(), now).await {
                Ok(0) => {}
                Ok(purged) => tracing::debug!(purged, "purged expired idempotency keys"),
                Err(e) => tracing::warn!(error = %e, "could not purge expired idempotency keys"),
            }
        }
    })
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
    fn a_claim_outlives_the_request_timeout_by_a_margin_and_a_duplicate_answers_within_it() {
        let default = Timing::for_timeout(Duration::from_secs(60));
        assert_eq!(default.lease, Duration::from_secs(66));
        assert_eq!(default.renew_every, Duration::from_secs(22));
        assert_eq!(default.wait_for_first, WAIT_FOR_FIRST);
        let short = Timing::for_timeout(Duration::from_millis(1000));
        assert_eq!(short.lease, Duration::from_millis(2000));
        assert!(short.wait_for_first < Duration::from_millis(1000));
        assert_eq!(short.lease_until(5_000), 7_000);
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
