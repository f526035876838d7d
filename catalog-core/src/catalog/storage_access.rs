//! Storage access for query engines (the `X-Iceberg-Access-Delegation` header): credentials
//! vended for one table, narrowed to its location, from the role of the environment's provider
//! integration. Environments without one vend nothing: Frazil never hands out static keys.

use std::collections::BTreeMap;

use frazil_storage::DataAccess;

use super::Catalog;
use crate::model::Environment;
use crate::Result;

/// Credentials for the files below `prefix` (a table's location), as the Iceberg REST
/// `storage-credentials` entry and the table `config` carry them: `s3.access-key-id`,
/// `s3.secret-access-key`, `s3.session-token`, `s3.session-token-expires-at-ms`, `client.region`,
/// `s3.region`, and `s3.endpoint` / `s3.path-style-access` when the environment sets them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VendedCredentials {
    pub prefix: String,
    pub config: BTreeMap<String, String>,
}

impl Catalog {
    /// Credentials for the table at `table_location` of `env`, allowing `access`, for the API key
    /// `api_key_id`; `None` when the environment's storage has no provider integration. A
    /// failing STS call is [`crate::CatalogError::Unavailable`] naming the integration.
    pub async fn vend_table_credentials(
        &self,
        env: &Environment,
        table_location: &str,
        access: DataAccess,
        api_key_id: &str,
    ) -> Result<Option<VendedCredentials>> {
        let _ = (env, table_location, access, api_key_id);
        unimplemented!("issue 15: vended credentials")
    }
}
