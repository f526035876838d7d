//! S3 remote signing over HTTP: the table `config` that turns a client's signer on (when its
//! `X-Iceberg-Access-Delegation` asks for `remote-signing`), and the table-scoped sign route the
//! signer calls for every S3 request (`signRequest`).
//!
//! Iceberg Java and PyIceberg take the signer's address from the table `config`
//! (`s3.signer.uri` + `s3.signer.endpoint`), so the table-scoped route is the only one served:
//! neither needs the legacy `POST /v1/aws/s3/sign`, whose request names no table to check against.

use actix_web::http::header::{self, CacheControl, CacheDirective, EntityTag};
use actix_web::http::StatusCode;
use actix_web::web::Data;
use actix_web::{HttpRequest, HttpResponse};
use frazil_catalog::{Environment, TableIdent};
use frazil_openapi::iceberg_rest::{RemoteSignRequest, RemoteSignResult};
use frazil_storage::signing::S3Request;

use super::delegation::{data_access, AccessDelegation};
use super::paths::CallerTableRef;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// PyIceberg's name for the REST signer (`s3.signer`); Iceberg Java reads
/// `s3.remote-signing-enabled` instead.
const PYICEBERG_SIGNER: &str = "S3V4RestSigner";

/// PyIceberg's FileIO that can sign remotely: its default (PyArrow) cannot, and would try the
/// client's own credentials.
const PYICEBERG_SIGNING_IO: &str = "pyiceberg.io.fsspec.FsspecFileIO";

/// The table `config` entries that make a client sign its S3 requests through this catalog:
/// empty unless the request asks for remote signing and the environment's storage is S3. No
/// secret is in them: the client authenticates to the signer with its own catalog token.
pub fn table_config(
    request: &HttpRequest,
    env: &Environment,
    ident: &TableIdent,
) -> Vec<(String, String)> {
    if !AccessDelegation::of(request.headers()).remote_signing
        || !env.storage.location.starts_with("s3")
    {
        return Vec::new();
    }
    let (base, endpoint) = signer_address(request, env, ident);
    [
        ("s3.remote-signing-enabled", "true"),
        ("s3.signer", PYICEBERG_SIGNER),
        ("s3.signer.uri", base.as_str()),
        ("s3.signer.endpoint", endpoint.as_str()),
        ("py-io-impl", PYICEBERG_SIGNING_IO),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

/// The ETag of a load answer with the signer `config` in it: the plain tag and the config,
/// hashed. A 304 leaves the client with the `config` it holds, so a client that loaded the table
/// without the signer (or with another signer address) must not get one.
pub fn tagged(plain: EntityTag, config: &[(String, String)]) -> EntityTag {
    if config.is_empty() {
        return plain;
    }
    let mut key = plain.tag().to_string();
    for (name, value) in config {
        key.push_str(&format!("\n{name}={value}"));
    }
    EntityTag::new_strong(
        uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_URL, key.as_bytes())
            .simple()
            .to_string(),
    )
}

/// The catalog base URI the client used (`s3.signer.uri`) and the table's sign route relative to
/// it (`s3.signer.endpoint`), in the request's URI layout.
fn signer_address(
    request: &HttpRequest,
    env: &Environment,
    ident: &TableIdent,
) -> (String, String) {
    let info = request.connection_info();
    let origin = format!("{}://{}", info.scheme(), info.host());
    let tableflow = request
        .path()
        .starts_with("/iceberg/catalog/organizations/");
    let mut base = format!("{origin}/iceberg/catalog");
    let mut segments: Vec<&str> = vec!["v1"];
    if tableflow {
        base = format!(
            "{base}/organizations/{}/environments/{}",
            env.org_id, env.id
        );
    } else {
        segments.extend([env.org_id.as_str(), env.id.as_str()]);
    }
    let namespace = ident.namespace.levels().join("\u{1f}");
    segments.extend(["namespaces", &namespace, "tables", &ident.name, "sign"]);
    (base, encoded_path(&segments))
}

/// `segments` as a relative URL path, each segment percent-encoded.
fn encoded_path(segments: &[&str]) -> String {
    let mut url = url::Url::parse("http://signer/").expect("a valid base URL");
    url.path_segments_mut()
        .expect("http URLs have paths")
        .pop_if_empty()
        .extend(segments);
    url.path().trim_start_matches('/').to_string()
}

#[utoipa::path(
    post,
    context_path = crate::api_docs::ICEBERG_V1,
    path = "/namespaces/{namespace}/tables/{table}/sign",
    operation_id = "signRequest",
    tag = "Tables",
    summary = "Sign an S3 request",
    description = "Signs an S3 request of a remote-signing client (SigV4, with the environment's \
        credentials) and answers the URI and every header to send it with. Loading a table with \
        `X-Iceberg-Access-Delegation: remote-signing` puts this route in the table's `config` \
        (`s3.signer.uri`, `s3.signer.endpoint`). Only requests within the table's location are \
        signed: objects below it, listings whose `prefix` lies below it, and DeleteObjects whose \
        body's keys all do; a read-only key signs only GET and HEAD. Anything else is 403.",
    params(super::paths::TablePath),
    request_body = RemoteSignRequest,
    responses(
        (status = 200, description = "The signed request", body = RemoteSignResult, headers(("Cache-Control" = String, description = "`no-cache`: a signature is for one request"))),
        (status = 403, description = "The request reaches outside the table, or writes with a read-only key", body = frazil_openapi::IcebergErrorResponse),
        (status = 404, description = "The environment, the namespace or the table does not exist", body = frazil_openapi::IcebergErrorResponse),
    ),
)]
pub async fn sign(
    state: Data<AppState>,
    table: CallerTableRef,
    body: crate::error::Body<RemoteSignRequest>,
) -> ApiResult<HttpResponse> {
    let CallerTableRef { caller, env, ident } = table;
    let body = body?.into_inner();
    if body.provider.as_deref().is_some_and(|p| p != "s3") {
        return Err(ApiError::bad_request(format!(
            "Only S3 requests are signed, not provider {:?}",
            body.provider.unwrap_or_default()
        )));
    }
    let access = data_access(&caller.0, &env);
    let request = S3Request {
        method: body.method,
        uri: body.uri,
        headers: body.headers,
        body: body.body,
    };
    let signed = state
        .catalog
        .sign_s3_request(&env, &ident, access, Some(&body.region), &request)
        .await?;
    Ok(HttpResponse::build(StatusCode::OK)
        .insert_header(CacheControl(vec![CacheDirective::NoCache]))
        .insert_header(header::ContentType::json())
        .json(RemoteSignResult {
            uri: signed.uri,
            headers: signed.headers,
        }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;
    use frazil_catalog::NamespaceIdent;
    use frazil_storage::StorageConfig;

    fn env(location: &str) -> Environment {
        Environment {
            uid: "u".into(),
            org_id: "acme".into(),
            id: "prod".into(),
            name: "prod".into(),
            storage: StorageConfig {
                location: location.into(),
                s3: None,
                provider_integration: None,
            },
        }
    }

    fn ident() -> TableIdent {
        TableIdent {
            namespace: NamespaceIdent::new(vec!["lkc-1".into(), "a b".into()]).unwrap(),
            name: "orders/v2".into(),
        }
    }

    fn config(path: &str, delegation: &str, location: &str) -> Vec<(String, String)> {
        let request = TestRequest::get()
            .uri(path)
            .insert_header(("host", "catalog.example:8080"))
            .insert_header((crate::iceberg::delegation::HEADER, delegation))
            .to_http_request();
        table_config(&request, &env(location), &ident())
    }

    fn value<'a>(config: &'a [(String, String)], key: &str) -> &'a str {
        config
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .unwrap_or_else(|| panic!("{key} missing from {config:?}"))
    }

    #[test]
    fn the_signer_is_the_tables_route_in_the_layout_the_client_used() {
        let tableflow = config(
            "/iceberg/catalog/organizations/acme/environments/prod/v1/namespaces/x/tables/y",
            "vended-credentials, Remote-Signing",
            "s3://b/w",
        );
        assert_eq!(value(&tableflow, "s3.remote-signing-enabled"), "true");
        assert_eq!(value(&tableflow, "s3.signer"), "S3V4RestSigner");
        assert_eq!(
            value(&tableflow, "s3.signer.uri"),
            "http://catalog.example:8080/iceberg/catalog/organizations/acme/environments/prod"
        );
        assert_eq!(
            value(&tableflow, "s3.signer.endpoint"),
            "v1/namespaces/lkc-1%1Fa%20b/tables/orders%2Fv2/sign"
        );
        let warehouse = config(
            "/iceberg/catalog/v1/acme/prod/namespaces/x/tables/y",
            "remote-signing",
            "s3://b/w",
        );
        assert_eq!(
            value(&warehouse, "s3.signer.uri"),
            "http://catalog.example:8080/iceberg/catalog"
        );
        assert_eq!(
            value(&warehouse, "s3.signer.endpoint"),
            "v1/acme/prod/namespaces/lkc-1%1Fa%20b/tables/orders%2Fv2/sign"
        );
    }

    #[test]
    fn the_tag_of_a_signing_answer_differs_from_the_plain_one_and_per_signer() {
        let plain = EntityTag::new_strong("abc".into());
        assert_eq!(tagged(plain.clone(), &[]), plain);
        let path = "/iceberg/catalog/v1/acme/prod/namespaces/x/tables/y";
        let signing = config(path, "remote-signing", "s3://b/w");
        let tag = tagged(plain.clone(), &signing);
        assert_ne!(tag, plain);
        assert_eq!(tag, tagged(plain.clone(), &signing));
        let mut elsewhere = signing.clone();
        elsewhere[2].1 = "http://other/iceberg/catalog".into();
        assert_ne!(tag, tagged(plain, &elsewhere));
    }

    #[test]
    fn nothing_is_added_unless_asked_for_on_s3() {
        let path = "/iceberg/catalog/v1/acme/prod/namespaces/x/tables/y";
        assert!(config(path, "vended-credentials", "s3://b/w").is_empty());
        assert!(config(path, "remote-signing", "file:///w").is_empty());
    }
}
