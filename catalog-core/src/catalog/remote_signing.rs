//! S3 remote signing (`X-Iceberg-Access-Delegation: remote-signing`): the catalog signs the S3
//! requests of a client that holds no S3 credentials, one request at a time, for the one table
//! the client names, with the environment's credentials. Nothing but signatures leaves the
//! server; what may be signed is the storage crate's scope check.

use std::time::SystemTime;

use frazil_storage::signing::scope::{self, TableScope};
use frazil_storage::signing::{self, S3Request, SignedS3Request, SigningCredentials};
use frazil_storage::{table_location, DataAccess, Location};
use uuid::Uuid;

use super::Catalog;
use crate::model::{Environment, TableIdent};
use crate::{CatalogError, Result};

/// The region requests are signed for when neither the client nor the environment names one.
const DEFAULT_REGION: &str = "us-east-1";

impl Catalog {
    /// `request` signed for the table `ident` of `env`, for a caller with `access` to it; a
    /// request outside the table's location (or a write by a reader) is
    /// [`CatalogError::Forbidden`] saying why.
    pub async fn sign_s3_request(
        &self,
        env: &Environment,
        ident: &TableIdent,
        access: DataAccess,
        region: Option<&str>,
        request: &S3Request,
    ) -> Result<SignedS3Request> {
        let location = match self.table_location(env, ident).await {
            Err(CatalogError::NoSuchTable(_)) if access == DataAccess::Write => {
                self.staged_location(env, ident, request).await?
            }
            found => found?,
        };
        if !matches!(location.url().scheme(), "s3" | "s3a") {
            return Err(CatalogError::BadRequest(format!(
                "Table {ident} is stored at {location}, not on S3: there are no S3 requests to sign"
            )));
        }
        let endpoint = env
            .storage
            .s3
            .as_ref()
            .and_then(|s3| s3.endpoint.as_deref());
        let table = TableScope {
            location: &location,
            endpoint,
        };
        scope::check(request, table, access).map_err(|refused| {
            CatalogError::Forbidden(format!(
                "Cannot sign {} {} for table {ident}: {refused}",
                request.method, request.uri
            ))
        })?;
        let region = region
            .filter(|r| !r.is_empty())
            .or_else(|| env.storage.s3.as_ref().and_then(|s3| s3.region.as_deref()))
            .unwrap_or(DEFAULT_REGION);
        let credentials = self.signing_credentials(env).await?;
        signing::sign_s3_request(request, region, &credentials, SystemTime::now())
            .map_err(|e| CatalogError::BadRequest(e.to_string()))
    }

    /// The table's location, from its current metadata (parsed once per metadata file, shared
    /// with commits).
    async fn table_location(&self, env: &Environment, ident: &TableIdent) -> Result<Location> {
        let current = self.current_table(env, ident, true).await?;
        let location = current.parsed.metadata.location();
        Location::parse(location).map_err(|e| CatalogError::Internal(e.to_string()))
    }

    /// A table in a create transaction is not in the catalog yet while its writer writes its
    /// first files: the location a create would have given it is read from the request
    /// (`{namespace}/{table}-{uuid}` below the environment's warehouse), if no other table or
    /// files waiting to be purged are there. A table created at a location of its own is signed
    /// for once its create is committed.
    async fn staged_location(
        &self,
        env: &Environment,
        ident: &TableIdent,
        request: &S3Request,
    ) -> Result<Location> {
        self.namespace_record(env, &ident.namespace).await?;
        let warehouse = self.warehouse(env).await?;
        let levels = ident.namespace.levels();
        let unnamed = table_location(warehouse.root(), levels, &ident.name, Uuid::nil());
        let endpoint = env
            .storage
            .s3
            .as_ref()
            .and_then(|s3| s3.endpoint.as_deref());
        let location = scope::staged_location(request, endpoint, &unnamed)
            .ok_or_else(|| CatalogError::NoSuchTable(ident.clone()))?;
        self.ensure_location_free(env, &location, None).await?;
        Ok(location)
    }

    /// The credentials the environment's S3 requests are signed with: its provider
    /// integration's role when it names one, else its static keys, else Frazil's own from the
    /// AWS SDK's default chain.
    async fn signing_credentials(&self, env: &Environment) -> Result<SigningCredentials> {
        if let Some(role) = self.role_credentials(env).await? {
            return Ok(SigningCredentials::from(role.as_ref()));
        }
        let s3 = env.storage.s3.as_ref();
        if let Some((key, secret)) =
            s3.and_then(|s3| Some((s3.access_key_id.as_ref()?, s3.secret_access_key.as_ref()?)))
        {
            return Ok(SigningCredentials {
                access_key_id: key.clone(),
                secret_access_key: secret.clone(),
                session_token: None,
            });
        }
        signing::default_chain_credentials().await.map_err(|why| {
            CatalogError::Unavailable(format!("No AWS credentials to sign with: {why}"))
        })
    }
}
