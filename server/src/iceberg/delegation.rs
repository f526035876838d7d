//! Vended credentials (`X-Iceberg-Access-Delegation: vended-credentials`): short-lived S3
//! credentials for one table, added to the answers of loadTable, createTable (staged too) and
//! registerTable, and served alone by loadCredentials. Environments without a provider
//! integration vend nothing, and their answers are exactly those of a request without the header.
//!
//! The credentials are added by a middleware around those routes ([`middleware`]) rather than by
//! their handlers, for three reasons:
//! - loadTable's cached answer stays free of credentials: one entry per table version, shared by
//!   every caller, with nothing secret kept in the cache. The credentials are spliced into a copy
//!   of it per request (one copy of the body, no parsing: [`reply::with_credentials`]). Keying the
//!   cache by the credentials instead would keep a copy of the metadata per access level and per
//!   credential rotation, with session tokens in it, and miss after every rotation.
//! - The middleware sits outside the Idempotency-Key middleware: a recorded answer never holds
//!   credentials, and a replay gets fresh ones for the retrying caller, exactly as the first
//!   answer did. A create whose credentials could not be vended (503) is retried with its key and
//!   gets the created table with credentials, not a 409.
//! - A vended answer's ETag names the credentials too ([`vended_tag`]): `If-None-Match` gets 304
//!   only while the client already holds the credentials it would be given now. A 304 carries no
//!   body, so a client answered 304 keeps its old `config`; with the plain tag it would keep
//!   credentials that have since been replaced (and expire within minutes).

use std::borrow::Cow;
use std::sync::Arc;

use actix_web::body::{self, BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, EntityTag, HeaderMap, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::web::{Bytes, Data};
use actix_web::HttpResponse;
use frazil_catalog::{Access, CatalogError, Environment, Principal, VendedCredentials};
use frazil_storage::DataAccess;
use serde::Deserialize;

use super::reply;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

pub const HEADER: &str = "x-iceberg-access-delegation";

/// The mechanisms a request's `X-Iceberg-Access-Delegation` asks for: a comma-separated list,
/// in any case, with any whitespace; values Frazil does not know are ignored (the spec lets a
/// server supply any or none of them).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AccessDelegation {
    pub vended_credentials: bool,
    pub remote_signing: bool,
}

impl AccessDelegation {
    pub fn of(headers: &HeaderMap) -> AccessDelegation {
        let mut asked = AccessDelegation::default();
        let values = headers.get_all(HEADER).filter_map(|v| v.to_str().ok());
        for mechanism in values.flat_map(|v| v.split(',')).map(str::trim) {
            if mechanism.eq_ignore_ascii_case("vended-credentials") {
                asked.vended_credentials = true;
            } else if mechanism.eq_ignore_ascii_case("remote-signing") {
                asked.remote_signing = true;
            }
        }
        asked
    }
}

/// Put on a handler's answer: the location of the table it carries, so that credentials can be
/// vended without reading it out of the metadata again. Answers without it (Idempotency-Key
/// replays) are read for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableLocation(pub Arc<str>);

/// The table's `location`, read out of its metadata JSON.
pub fn table_location(metadata: &str) -> ApiResult<String> {
    #[derive(Deserialize)]
    struct Metadata<'a> {
        #[serde(borrow)]
        location: Cow<'a, str>,
    }
    let metadata: Metadata = serde_json::from_str(metadata).map_err(reply::internal)?;
    Ok(metadata.location.into_owned())
}

/// Reading or writing, as the caller may in `env`: a reader key gets credentials that read.
pub fn data_access(caller: &Principal, env: &Environment) -> DataAccess {
    match caller.authorize(&env.org_id, Some(&env.id), Access::Write) {
        Ok(()) => DataAccess::Write,
        Err(_) => DataAccess::Read,
    }
}

/// Credentials for the table at `table_location` for `caller`; `None` where the environment has
/// no provider integration. A failing STS call is [`CatalogError::Unavailable`] (503) naming the
/// integration.
pub async fn vend(
    state: &AppState,
    caller: &Principal,
    env: &Environment,
    table_location: &str,
) -> frazil_catalog::Result<Option<VendedCredentials>> {
    let access = data_access(caller, env);
    state
        .catalog
        .vend_table_credentials(env, table_location, access, &caller.key_id)
        .await
}

/// The ETag of an answer with `vended` credentials in it: the plain answer's tag and the
/// credentials, hashed (nothing of them can be read back from the tag).
pub fn vended_tag(plain: &str, vended: &VendedCredentials) -> EntityTag {
    let mut key = format!("{plain}\n{}", vended.prefix);
    for (name, value) in &vended.config {
        key.push_str(&format!("\n{name}={value}"));
    }
    EntityTag::new_strong(
        uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_URL, key.as_bytes())
            .simple()
            .to_string(),
    )
}

/// Around loadTable, createTable and registerTable: when the request asks for vended
/// credentials and the environment has a provider integration, adds them to a 200 answer (see
/// the module documentation for why here). Otherwise the request passes as if without the header.
pub async fn middleware(
    mut req: ServiceRequest,
    next: Next<BoxBody>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    if !AccessDelegation::of(req.headers()).vended_credentials {
        return next.call(req).await;
    }
    let Some(state) = req.app_data::<Data<AppState>>().cloned() else {
        return next.call(req).await;
    };
    let caller = match req.extract::<Caller>().await {
        Ok(caller) => caller,
        Err(e) => return Ok(req.error_response(e)),
    };
    let org = req.match_info().get("org").unwrap_or_default();
    let env = req.match_info().get("env").unwrap_or_default();
    let env = match state.environment(&caller, org, env, Access::Read).await {
        Ok(env) => env,
        Err(e) => return Ok(req.error_response(e)),
    };
    // Cheap to know here, and then the answer is the handler's, 304 included.
    if env.storage.provider_integration.is_none() {
        return next.call(req).await;
    }
    // The handler must not answer 304 for its plain tag: the client may hold other credentials.
    let if_none_match: Vec<HeaderValue> = match *req.method() == Method::GET {
        true => req.headers_mut().remove(header::IF_NONE_MATCH).collect(),
        false => Vec::new(),
    };
    let posted = *req.method() == Method::POST;
    let response = next.call(req).await?;
    if response.status() != StatusCode::OK {
        return Ok(response);
    }
    // A create's or register's answer names a metadata file (and has its ETag) once the table
    // is saved; a staged create's does not.
    let saved = posted && response.headers().contains_key(header::ETAG);
    let (req, response) = response.into_parts();
    let answer = Answer {
        caller: &caller.0,
        env: &env,
        if_none_match: &if_none_match,
        saved,
    };
    let response = match answer.with_credentials(&state, response).await {
        Ok(response) => response,
        Err(error) => actix_web::ResponseError::error_response(&error),
    };
    Ok(ServiceResponse::new(req, response))
}

/// What the middleware needs of the request to answer it with credentials.
struct Answer<'a> {
    caller: &'a Principal,
    env: &'a Environment,
    /// The request's `If-None-Match`, kept from the handler.
    if_none_match: &'a [HeaderValue],
    /// The answer is a create's or a register's: the table was saved before credentials were
    /// asked for.
    saved: bool,
}

impl Answer<'_> {
    /// `plain` (the handler's 200, or its replay) with credentials for the caller, or unchanged
    /// where the environment vends none; 304 when the client's tag names this very answer.
    async fn with_credentials(
        &self,
        state: &AppState,
        plain: HttpResponse,
    ) -> ApiResult<HttpResponse> {
        let known_location = plain.extensions().get::<TableLocation>().cloned();
        let (mut head, payload) = plain.into_parts();
        let body = body::to_bytes(payload)
            .await
            .map_err(|e| ApiError::from(CatalogError::Internal(e.to_string())))?;
        let location = match known_location {
            Some(TableLocation(location)) => location,
            None => reply::table_location_of(&body)?.into(),
        };
        let plain_tag = head
            .headers()
            .get(header::ETAG)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<EntityTag>().ok());
        let Some(vended) = self.vend(state, &location).await? else {
            return Ok(self.conditional(head, body, plain_tag));
        };
        let base = self.env.storage.client_config().into_iter().collect();
        let body = reply::with_credentials(&body, &base, &vended)?;
        let tag = plain_tag.map(|plain| vended_tag(plain.tag(), &vended));
        if let Some(tag) = &tag {
            let value = HeaderValue::from_str(&tag.to_string())
                .map_err(|e| ApiError::from(CatalogError::Internal(e.to_string())))?;
            head.headers_mut().insert(header::ETAG, value);
        }
        Ok(self.conditional(head, body, tag))
    }

    async fn vend(&self, state: &AppState, location: &str) -> ApiResult<Option<VendedCredentials>> {
        let vended = vend(state, self.caller, self.env, location).await;
        Ok(vended.map_err(|e| match e {
            CatalogError::Unavailable(why) if self.saved => CatalogError::Unavailable(format!(
                "{why}. The table itself was saved: load it again for credentials, or retry \
                 with the same Idempotency-Key."
            )),
            e => e,
        })?)
    }

    /// The answer, or 304 when the request's `If-None-Match` names its `tag`.
    fn conditional(
        &self,
        head: HttpResponse<()>,
        body: Bytes,
        tag: Option<EntityTag>,
    ) -> HttpResponse {
        match tag {
            Some(tag) if super::tables::matches_tag(self.if_none_match.iter(), &tag) => {
                HttpResponse::NotModified()
                    .insert_header(header::ETag(tag))
                    .finish()
            }
            _ => head.set_body(body.boxed()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn asked(values: &[&str]) -> AccessDelegation {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append(
                header::HeaderName::from_static(HEADER),
                HeaderValue::from_str(value).unwrap(),
            );
        }
        AccessDelegation::of(&headers)
    }

    #[test]
    fn the_header_is_a_list_in_any_case_with_unknown_values_ignored() {
        let vended = AccessDelegation {
            vended_credentials: true,
            remote_signing: false,
        };
        assert_eq!(asked(&["vended-credentials"]), vended);
        assert_eq!(asked(&[" Vended-Credentials , bogus"]), vended);
        assert_eq!(asked(&["bogus", "VENDED-CREDENTIALS"]), vended);
        let both = AccessDelegation {
            vended_credentials: true,
            remote_signing: true,
        };
        assert_eq!(asked(&["remote-signing,vended-credentials"]), both);
        assert_eq!(asked(&[]), AccessDelegation::default());
        assert_eq!(
            asked(&["", "vended_credentials"]),
            AccessDelegation::default()
        );
    }

    #[test]
    fn the_vended_tag_changes_with_the_credentials_and_hides_them() {
        let mut vended = VendedCredentials {
            prefix: "s3://b/t".into(),
            config: [("s3.session-token".to_string(), "SECRET".to_string())].into(),
        };
        let first = vended_tag("abc", &vended);
        assert_eq!(first, vended_tag("abc", &vended));
        assert_ne!(first, vended_tag("abd", &vended));
        assert!(!first.to_string().contains("SECRET"));
        vended
            .config
            .insert("s3.session-token".into(), "ROTATED".into());
        assert_ne!(first, vended_tag("abc", &vended));
    }
}
