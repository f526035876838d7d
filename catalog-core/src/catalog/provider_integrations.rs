//! Provider integrations: an IAM role in a customer's AWS account that Frazil may assume,
//! guarded by an external id that Frazil generates (the "confused deputy" defence: only Frazil
//! knows the id the customer's trust policy requires, so no other Frazil tenant can get Frazil
//! to assume that role). Managed per environment through the admin API.

use frazil_storage::{CustomerRole, StorageConfig};

use super::tenancy::{check_id, generate_id};
use super::Catalog;
use crate::model::Environment;
use crate::role_arn::RoleArn;
use crate::store::ProviderIntegrationRecord;
use crate::{CatalogError, Result};

/// Random bytes in an external id: 256 bits, unguessable.
const EXTERNAL_ID_BYTES: usize = 32;

/// A provider integration as the admin API shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderIntegration {
    pub id: String,
    pub name: String,
    pub customer_role_arn: String,
    pub external_id: String,
    /// Frazil's own AWS principal, for the role's trust policy; `None` when Frazil has none.
    pub frazil_principal_arn: Option<String>,
    pub created_at_ms: i64,
}

/// What to create: `id` is generated (`pi-...`) when left out.
#[derive(Debug, Clone)]
pub struct NewProviderIntegration {
    pub id: Option<String>,
    pub name: String,
    pub customer_role_arn: String,
}

/// A fresh external id: 32 bytes from the thread's CSPRNG (ChaCha, seeded by the OS), as 64
/// lowercase hex digits (within STS's `[\w+=,.@:/-]{2,1224}`).
pub(crate) fn generate_external_id() -> String {
    let bytes: [u8; EXTERNAL_ID_BYTES] = rand::random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Whether `env`'s storage names integration `id` (later: or a catalog integration does).
fn uses_integration(env: &Environment, id: &str) -> bool {
    env.storage.provider_integration.as_deref() == Some(id)
}

impl Catalog {
    pub async fn create_provider_integration(
        &self,
        env: &Environment,
        new: NewProviderIntegration,
    ) -> Result<ProviderIntegration> {
        let id = new.id.unwrap_or_else(|| generate_id("pi"));
        check_id("provider integration", &id)?;
        RoleArn::parse(&new.customer_role_arn)?;
        let record = ProviderIntegrationRecord {
            env_uid: env.uid.clone(),
            id,
            name: new.name,
            customer_role_arn: new.customer_role_arn,
            external_id: generate_external_id(),
            created_at_ms: chrono::Utc::now().timestamp_millis(),
        };
        if !self.store.insert_provider_integration(&record).await? {
            return Err(CatalogError::Conflict(format!(
                "Provider integration {} already exists in {}/{}",
                record.id, env.org_id, env.id
            )));
        }
        Ok(self.shown(record, self.frazil_principal_arn().await))
    }

    pub async fn provider_integration(
        &self,
        env: &Environment,
        id: &str,
    ) -> Result<ProviderIntegration> {
        let record = self
            .store
            .provider_integration(&env.uid, id)
            .await?
            .ok_or_else(|| no_such_integration(env, id))?;
        Ok(self.shown(record, self.frazil_principal_arn().await))
    }

    pub async fn provider_integrations(
        &self,
        env: &Environment,
    ) -> Result<Vec<ProviderIntegration>> {
        let records = self.store.list_provider_integrations(&env.uid).await?;
        let principal = match records.is_empty() {
            true => None,
            false => self.frazil_principal_arn().await,
        };
        Ok(records
            .into_iter()
            .map(|r| self.shown(r, principal.clone()))
            .collect())
    }

    /// Deletes an integration no environment uses (409 otherwise).
    pub async fn delete_provider_integration(&self, env: &Environment, id: &str) -> Result<()> {
        let in_use = |environments: &[Environment]| match environments
            .iter()
            .find(|e| e.uid == env.uid && uses_integration(e, id))
        {
            Some(user) => Err(CatalogError::Conflict(format!(
                "Provider integration {id} is used by environment {}/{}; change its storage first",
                user.org_id, user.id
            ))),
            None => Ok(()),
        };
        if self
            .store
            .delete_provider_integration(&env.uid, id, &in_use)
            .await?
        {
            self.customer_roles
                .invalidate(&(env.uid.clone(), id.to_string()))
                .await;
            Ok(())
        } else {
            Err(no_such_integration(env, id))
        }
    }

    /// 400 naming `storage.provider_integration` unless the integration that `storage` names is
    /// one of `env`'s and the storage is on S3. (A delete of that integration racing this
    /// change may still win; the storage is probed with the role before it is stored.)
    pub(super) async fn check_provider_integration(
        &self,
        env: &Environment,
        storage: &StorageConfig,
    ) -> Result<()> {
        let Some(id) = &storage.provider_integration else {
            return Ok(());
        };
        if !storage.location.starts_with("s3") {
            return Err(CatalogError::BadRequest(format!(
                "storage.provider_integration needs s3:// storage, not {}",
                storage.location
            )));
        }
        match self.store.provider_integration(&env.uid, id).await? {
            Some(_) => Ok(()),
            None => Err(CatalogError::BadRequest(format!(
                "storage.provider_integration: {}",
                no_such_integration(env, id)
            ))),
        }
    }

    /// The role of `env`'s provider integration `id`, cached (records never change).
    pub(super) async fn customer_role(&self, env: &Environment, id: &str) -> Result<CustomerRole> {
        let key = (env.uid.clone(), id.to_string());
        let lookup = async {
            let record = self.store.provider_integration(&env.uid, id).await?;
            let record = record.ok_or_else(|| {
                CatalogError::Internal(format!(
                    "the storage of environment {}/{} names provider integration {id}, which \
                     does not exist",
                    env.org_id, env.id
                ))
            })?;
            Ok::<_, CatalogError>(CustomerRole {
                integration_id: record.id,
                role_arn: record.customer_role_arn,
                external_id: record.external_id,
            })
        };
        self.customer_roles
            .try_get_with(key, lookup)
            .await
            .map_err(|e| CatalogError::Internal(e.to_string()))
    }

    /// The role of the provider integration `env`'s storage names; `None` without one.
    pub(crate) async fn environment_role(&self, env: &Environment) -> Result<Option<CustomerRole>> {
        match &env.storage.provider_integration {
            Some(id) => Ok(Some(self.customer_role(env, id).await?)),
            None => Ok(None),
        }
    }

    /// Frazil's own AWS principal (cached; `None` without AWS credentials or STS).
    pub async fn frazil_principal_arn(&self) -> Option<String> {
        self.aws_identity.principal_arn().await
    }

    fn shown(
        &self,
        record: ProviderIntegrationRecord,
        frazil_principal_arn: Option<String>,
    ) -> ProviderIntegration {
        ProviderIntegration {
            id: record.id,
            name: record.name,
            customer_role_arn: record.customer_role_arn,
            external_id: record.external_id,
            frazil_principal_arn,
            created_at_ms: record.created_at_ms,
        }
    }
}

fn no_such_integration(env: &Environment, id: &str) -> CatalogError {
    CatalogError::NoSuchResource(format!(
        "Provider integration {id} does not exist in {}/{}",
        env.org_id, env.id
    ))
}

#[cfg(test)]
mod tests {
    use super::generate_external_id;

    #[test]
    fn external_ids_are_long_random_and_fit_sts() {
        let a = generate_external_id();
        let b = generate_external_id();
        assert_ne!(a, b);
        assert_eq!(a.len(), 64);
        assert!(
            a.bytes()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()),
            "{a}"
        );
    }
}
