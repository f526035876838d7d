//! Path parameters of catalog routes. Both URI layouts name the environment `{org}/{env}`.

use frazil_catalog::{Environment, NamespaceIdent, Page, PageRequest, TableIdent};
use frazil_openapi::iceberg_rest::{ListTablesResponse, TableIdentifier};
use serde::Deserialize;

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
