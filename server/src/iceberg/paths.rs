//! Path parameters of catalog routes. Both URI layouts name the environment `{org}/{env}`.
//!
//! The extractors [`CatalogRef`], [`NamespaceRef`], [`TableRef`] and [`ViewRef`] do what every
//! catalog handler would otherwise start with: authenticate the caller, resolve the environment
//! once the caller may use the route there (the access its [`Endpoint`] declares), and decode the
//! namespace (levels joined by `%1F`) and the table or view name. The `*Path` structs describe
//! the same parameters to the OpenAPI document.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::web::{Data, Path};
use actix_web::{FromRequest, HttpRequest};
use frazil_catalog::{CatalogError, Environment, NamespaceIdent, Page, PageRequest, TableIdent};
use frazil_openapi::iceberg_rest::{ListTablesResponse, TableIdentifier};
use serde::Deserialize;

use super::Endpoint;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use frazil_catalog::Access;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
pub struct CatalogPath {
    /// Organization id.
    pub org: String,
    /// Environment id.
    pub env: String,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
pub struct NamespacePath {
    /// Organization id.
    pub org: String,
    /// Environment id.
    pub env: String,
    /// The namespace: its levels joined by the unit separator 0x1F (`%1F` in the URL).
    pub namespace: String,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
pub struct TablePath {
    /// Organization id.
    pub org: String,
    /// Environment id.
    pub env: String,
    /// The namespace: its levels joined by the unit separator 0x1F (`%1F` in the URL).
    pub namespace: String,
    /// Table name.
    pub table: String,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
pub struct ViewPath {
    /// Organization id.
    pub org: String,
    /// Environment id.
    pub env: String,
    /// The namespace: its levels joined by the unit separator 0x1F (`%1F` in the URL).
    pub namespace: String,
    /// View name.
    pub view: String,
}

/// `pageToken` and `pageSize` of listTables and listViews.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// The `next-page-token` of the previous page; none for the first page.
    #[serde(rename = "pageToken")]
    page_token: Option<String>,
    /// The most items to return in one page.
    #[serde(rename = "pageSize")]
    page_size: Option<usize>,
}

impl PageQuery {
    pub fn page(&self) -> PageRequest {
        PageRequest {
            token: self.page_token.clone(),
            size: self.page_size,
        }
    }
}

/// A page of table or view names as the Iceberg list routes answer it.
pub fn identifiers(listed: Page<TableIdent>) -> ListTablesResponse {
    ListTablesResponse {
        identifiers: listed
            .items
            .into_iter()
            .map(|t| TableIdentifier {
                namespace: t.namespace.levels().to_vec(),
                name: t.name,
            })
            .collect(),
        next_page_token: listed.next_token,
    }
}

/// The `{namespace}` segment: levels joined by the unit separator 0x1F (sent as `%1F`).
pub fn namespace(segment: &str) -> ApiResult<NamespaceIdent> {
    let levels = segment.split('\u{1f}').map(str::to_string).collect();
    Ok(NamespaceIdent::new(levels)?)
}

pub fn table(namespace_segment: &str, name: &str) -> ApiResult<TableIdent> {
    Ok(TableIdent::new(namespace(namespace_segment)?, name)?)
}

pub fn identifier(namespace: Vec<String>, name: String) -> ApiResult<TableIdent> {
    Ok(TableIdent::new(NamespaceIdent::new(namespace)?, name)?)
}

impl AppState {
    /// The environment a catalog route addresses, once the caller may do `access` there. The
    /// scope is checked first: an environment outside the token's scope is 404
    /// NoSuchWarehouse, exactly as a missing one.
    pub async fn environment(
        &self,
        caller: &Caller,
        org: &str,
        env: &str,
        access: Access,
    ) -> ApiResult<Environment> {
        caller.0.authorize(org, Some(env), access)?;
        self.catalog
            .environment(org, env)
            .await
            .map_err(ApiError::from)
    }
}

type Extracted<T> = Pin<Box<dyn Future<Output = ApiResult<T>>>>;

/// The environment of a catalog route whose path names no namespace.
pub struct CatalogRef {
    pub env: Environment,
}

/// The namespace of a route below `/namespaces/{namespace}`, in its environment.
pub struct NamespaceRef {
    pub env: Environment,
    pub ns: NamespaceIdent,
}

/// The table of a route below `/namespaces/{namespace}/tables/{table}`, in its environment.
pub struct TableRef {
    pub env: Environment,
    pub ident: TableIdent,
}

/// A table route's table, and who calls it: for handlers whose answer depends on the caller's
/// role (the remote signer signs writes only for writers).
pub struct CallerTableRef {
    pub caller: Caller,
    pub env: Environment,
    pub ident: TableIdent,
}

/// The view of a route below `/namespaces/{namespace}/views/{view}`, in its environment.
pub struct ViewRef {
    pub env: Environment,
    pub ident: TableIdent,
}

/// The `{org}/{env}` that every catalog path starts with.
trait InEnvironment {
    fn org_env(&self) -> (&str, &str);
}

macro_rules! in_environment {
    ($($path:ty),+) => {$(
        impl InEnvironment for $path {
            fn org_env(&self) -> (&str, &str) {
                (&self.org, &self.env)
            }
        }
    )+};
}

in_environment!(CatalogPath, NamespacePath, TablePath, ViewPath);

/// Extracts the caller and `P` (the path parameters), resolves the route's environment, then
/// builds the reference from them.
fn extract<P, T>(
    request: &HttpRequest,
    payload: &mut Payload,
    build: impl FnOnce(Caller, Environment, P) -> ApiResult<T> + 'static,
) -> Extracted<T>
where
    P: serde::de::DeserializeOwned + InEnvironment + 'static,
    T: 'static,
{
    let caller = Caller::from_request(request, payload);
    let path = Path::<P>::extract(request);
    let state = request.app_data::<Data<AppState>>().cloned();
    let endpoint = Endpoint::of(request);
    Box::pin(async move {
        // The caller first: a refused caller gets 401/403 whatever its path holds.
        let caller = caller.await?;
        let path = path.await?.into_inner();
        let (Some(state), Some(endpoint)) = (state, endpoint) else {
            return Err(CatalogError::Internal("not a route of the catalog table".into()).into());
        };
        let (org, env) = path.org_env();
        let environment = state
            .environment(&caller, org, env, endpoint.access())
            .await?;
        build(caller, environment, path)
    })
}

impl FromRequest for CatalogRef {
    type Error = ApiError;
    type Future = Extracted<Self>;

    fn from_request(request: &HttpRequest, payload: &mut Payload) -> Self::Future {
        extract(request, payload, |_, env, _: CatalogPath| {
            Ok(CatalogRef { env })
        })
    }
}

impl FromRequest for NamespaceRef {
    type Error = ApiError;
    type Future = Extracted<Self>;

    fn from_request(request: &HttpRequest, payload: &mut Payload) -> Self::Future {
        extract(request, payload, |_, env, path: NamespacePath| {
            let ns = namespace(&path.namespace)?;
            Ok(NamespaceRef { env, ns })
        })
    }
}

impl FromRequest for TableRef {
    type Error = ApiError;
    type Future = Extracted<Self>;

    fn from_request(request: &HttpRequest, payload: &mut Payload) -> Self::Future {
        extract(request, payload, |_, env, path: TablePath| {
            let ident = table(&path.namespace, &path.table)?;
            Ok(TableRef { env, ident })
        })
    }
}

impl FromRequest for CallerTableRef {
    type Error = ApiError;
    type Future = Extracted<Self>;

    fn from_request(request: &HttpRequest, payload: &mut Payload) -> Self::Future {
        extract(request, payload, |caller, env, path: TablePath| {
            let ident = table(&path.namespace, &path.table)?;
            Ok(CallerTableRef { caller, env, ident })
        })
    }
}

impl FromRequest for ViewRef {
    type Error = ApiError;
    type Future = Extracted<Self>;

    fn from_request(request: &HttpRequest, payload: &mut Payload) -> Self::Future {
        extract(request, payload, |_, env, path: ViewPath| {
            let ident = table(&path.namespace, &path.view)?;
            Ok(ViewRef { env, ident })
        })
    }
}
