//! Organizations, environments and Kafka clusters: what the admin API manages.

use std::collections::HashMap;

use frazil_storage::{Location, StorageConfig, Warehouse};

use super::Catalog;
use crate::access::Principal;
use crate::model::{Environment, NamespaceIdent, NewEnvironment};
use crate::storage_policy::check_no_overlap;
use crate::store::{DropOutcome, OrganizationRecord};
use crate::{CatalogError, Result};

/// The namespace property that keeps a cluster's display name.
const CLUSTER_NAME_PROPERTY: &str = "frazil.cluster-name";

pub type Organization = OrganizationRecord;

/// A Kafka cluster registered in an environment: a top-level namespace named by its id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cluster {
    pub id: String,
    pub name: String,
}

/// Ids of organizations, environments and clusters: 1 to 64 of `A-Z a-z 0-9 . _ -`, starting
/// with a letter or digit (they appear in URLs and storage paths).
pub fn check_id(kind: &str, id: &str) -> Result<()> {
    let valid = !id.is_empty()
        && id.len() <= 64
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        && id.starts_with(|c: char| c.is_ascii_alphanumeric());
    if valid {
        Ok(())
    } else {
        Err(CatalogError::BadRequest(format!(
            "Invalid {kind} id {id:?}: use 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit"
        )))
    }
}

/// Frazil reaches an environment's storage with its own identity (its local files, its S3
/// credentials, any endpoint it is told): only a server administrator may point it somewhere.
fn only_server_admins_choose_storage(caller: &Principal) -> Result<()> {
    if caller.is_server_admin() {
        return Ok(());
    }
    Err(CatalogError::Forbidden(
        "Only a server administrator may choose an environment's storage (location, S3 \
         endpoint or keys): Frazil reaches it with the server's own identity. Leave `storage` \
         out to get the environment's own directory below the server's storage root"
            .into(),
    ))
}

/// 400 naming the cause when the server cannot write, read back and delete a file at the
/// storage's location; asked after the policy checks, before anything is stored.
async fn check_usable(storage: &StorageConfig) -> Result<()> {
    check_warehouse_usable(&Warehouse::new(storage.clone())?).await
}

/// A role that cannot be assumed makes the storage unusable too: the 400 then names the
/// integration and STS's answer, for the admin setting it up.
async fn check_warehouse_usable(warehouse: &Warehouse) -> Result<()> {
    Ok(warehouse.check_usable().await?)
}

/// A fresh id such as `env-7k2m9q4x`.
pub fn generate_id(prefix: &str) -> String {
    const ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyz23456789";
    let suffix: String = (0..8)
        .map(|_| ALPHABET[rand::random_range(0..ALPHABET.len())] as char)
        .collect();
    format!("{prefix}-{suffix}")
}

impl Catalog {
    pub async fn create_organization(
        &self,
        id: Option<String>,
        name: String,
    ) -> Result<Organization> {
        let id = id.unwrap_or_else(|| generate_id("org"));
        check_id("organization", &id)?;
        if !self.store.create_organization(&id, &name).await? {
            return Err(CatalogError::Conflict(format!(
                "Organization {id} already exists"
            )));
        }
        self.organization(&id).await
    }

    pub async fn organization(&self, id: &str) -> Result<Organization> {
        self.store
            .organization(id)
            .await?
            .ok_or_else(|| CatalogError::no_such_organization(id))
    }

    pub async fn organizations(&self) -> Result<Vec<Organization>> {
        self.store.list_organizations().await
    }

    pub async fn delete_organization(&self, id: &str) -> Result<()> {
        match self.store.delete_organization(id).await? {
            DropOutcome::Dropped => Ok(()),
            DropOutcome::NotEmpty => Err(CatalogError::Conflict(format!(
                "Organization {id} still has environments; delete them first"
            ))),
            DropOutcome::Missing => Err(CatalogError::NoSuchResource(format!(
                "Organization {id} does not exist"
            ))),
        }
    }

    /// Creates an environment. Without `storage` it lives at `{root}/{org}/{env}` below the
    /// first storage root; choosing storage is a server administrator's, below a root. Its
    /// location may not overlap another environment's or hold the server's own files (409).
    pub async fn create_environment(
        &self,
        caller: &Principal,
        org: &str,
        id: Option<String>,
        name: String,
        storage: Option<StorageConfig>,
    ) -> Result<Environment> {
        self.organization(org).await?;
        let id = id.unwrap_or_else(|| generate_id("env"));
        check_id("environment", &id)?;
        let storage = match storage {
            None => self.storage_policy.default_storage(org, &id)?,
            Some(chosen) => {
                only_server_admins_choose_storage(caller)?;
                self.storage_policy.chosen_storage(chosen)?
            }
        };
        self.storage_policy.check_not_protected(&storage.location)?;
        check_usable(&storage).await?;
        let new = NewEnvironment {
            org_id: org.to_string(),
            id: id.clone(),
            name,
            storage,
        };
        let placement =
            |others: &[Environment]| check_no_overlap(&new.storage.location, None, others);
        self.store
            .create_environment(&new, &placement)
            .await?
            .ok_or_else(|| CatalogError::Conflict(format!("Environment {org}/{id} already exists")))
    }

    pub async fn environments(&self, org: &str) -> Result<Vec<Environment>> {
        self.organization(org).await?;
        self.store.list_environments(org).await
    }

    /// An environment for the admin API: a missing one is 404 NoSuchResource.
    pub async fn admin_environment(&self, org: &str, env: &str) -> Result<Environment> {
        self.store
            .environment(org, env)
            .await?
            .ok_or_else(|| CatalogError::no_such_environment(org, env))
    }

    /// Renames an environment or changes its storage settings: a server administrator's, as
    /// when creating it, except storage reached through one of the environment's provider
    /// integrations, which its admins may set in any bucket (bring your own bucket). The
    /// location may change only while the environment holds no namespace.
    pub async fn update_environment(
        &self,
        caller: &Principal,
        org: &str,
        env: &str,
        name: Option<String>,
        storage: Option<StorageConfig>,
    ) -> Result<Environment> {
        let mut current = self.admin_environment(org, env).await?;
        if let Some(name) = name {
            current.name = name;
        }
        let mut moved = false;
        if let Some(storage) = storage {
            let storage = match storage.provider_integration.is_some() {
                // Reached with the customer's role, not the server's identity: an environment's
                // admin may bring any bucket (see StoragePolicy::role_storage).
                true => {
                    self.check_provider_integration(&current, &storage).await?;
                    self.storage_policy.role_storage(
                        storage,
                        &current.storage,
                        caller.is_server_admin(),
                    )?
                }
                false => {
                    only_server_admins_choose_storage(caller)?;
                    self.storage_policy.chosen_storage(storage)?
                }
            };
            moved =
                Location::parse(&storage.location)? != Location::parse(&current.storage.location)?;
            if moved {
                self.storage_policy.check_not_protected(&storage.location)?;
                self.check_empty_before_move(&current).await?;
            }
            check_warehouse_usable(&self.open_storage(&current, &storage).await?).await?;
            current.storage = storage;
        }
        let placement = |others: &[Environment]| match moved {
            true => check_no_overlap(&current.storage.location, Some(&current.uid), others),
            false => Ok(()),
        };
        self.store.update_environment(&current, &placement).await?;
        self.forget_environment(org, env).await;
        Ok(current)
    }

    async fn check_empty_before_move(&self, env: &Environment) -> Result<()> {
        let namespaces = self
            .store
            .list_namespaces(&env.uid, "", None, Some(1))
            .await?;
        if namespaces.is_empty() {
            Ok(())
        } else {
            Err(CatalogError::Conflict(format!(
                "Environment {}/{} holds tables: its storage location cannot move",
                env.org_id, env.id
            )))
        }
    }

    pub async fn delete_environment(&self, org: &str, env: &str) -> Result<()> {
        let current = self.admin_environment(org, env).await?;
        let outcome = self.store.delete_environment(&current).await?;
        self.forget_environment(org, env).await;
        match outcome {
            DropOutcome::Dropped => Ok(()),
            _ => Err(CatalogError::Conflict(format!(
                "Environment {org}/{env} still has clusters; delete them first"
            ))),
        }
    }

    /// Registers a Kafka cluster: creates the top-level namespace named by its id.
    pub async fn register_cluster(
        &self,
        env: &Environment,
        id: &str,
        name: Option<String>,
    ) -> Result<Cluster> {
        check_id("cluster", id)?;
        let ns = NamespaceIdent::new(vec![id.to_string()])?;
        let name = name.unwrap_or_else(|| id.to_string());
        let properties = HashMap::from([(CLUSTER_NAME_PROPERTY.to_string(), name.clone())]);
        match self.create_namespace(env, &ns, properties).await {
            Ok(_) => Ok(Cluster {
                id: id.to_string(),
                name,
            }),
            Err(CatalogError::NamespaceExists(_)) => Err(CatalogError::Conflict(format!(
                "Cluster {id} is already registered in {}/{}",
                env.org_id, env.id
            ))),
            Err(e) => Err(e),
        }
    }

    /// The environment's top-level namespaces, each a cluster.
    pub async fn clusters(&self, env: &Environment) -> Result<Vec<Cluster>> {
        let mut clusters = Vec::new();
        for ns in self.store.list_namespaces(&env.uid, "", None, None).await? {
            let properties = self.load_namespace(env, &ns).await.unwrap_or_default();
            let id = ns.levels()[0].clone();
            let name = properties
                .get(CLUSTER_NAME_PROPERTY)
                .cloned()
                .unwrap_or_else(|| id.clone());
            clusters.push(Cluster { id, name });
        }
        Ok(clusters)
    }

    pub async fn delete_cluster(&self, env: &Environment, id: &str) -> Result<()> {
        let ns = NamespaceIdent::new(vec![id.to_string()])?;
        match self.drop_namespace(env, &ns).await {
            Ok(()) => Ok(()),
            Err(CatalogError::NoSuchNamespace(_)) => Err(CatalogError::NoSuchResource(format!(
                "Cluster {id} is not registered"
            ))),
            Err(CatalogError::NamespaceNotEmpty(_)) => Err(CatalogError::Conflict(format!(
                "Cluster {id} still has tables or namespaces; drop them first"
            ))),
            Err(e) => Err(e),
        }
    }
}
