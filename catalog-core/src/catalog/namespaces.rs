//! Namespaces: Kafka clusters at the top level, any depth below.

use std::collections::HashSet;

use super::{into_page, page_bounds, Catalog};
use crate::model::{Environment, NamespaceIdent, Page, PageRequest, Properties, PropertiesUpdate};
use crate::store::{DropOutcome, NamespaceRecord};
use crate::{CatalogError, Result};

impl Catalog {
    pub async fn list_namespaces(
        &self,
        env: &Environment,
        parent: Option<&NamespaceIdent>,
        page: &PageRequest,
    ) -> Result<Page<NamespaceIdent>> {
        if let Some(parent) = parent {
            self.namespace_record(env, parent).await?;
        }
        let parent_key = parent.map(NamespaceIdent::key).unwrap_or_default();
        let (after, limit) = page_bounds(page)?;
        let items = self
            .store
            .list_namespaces(
                &env.uid,
                &parent_key,
                after.as_deref(),
                limit.map(|l| l + 1),
            )
            .await?;
        Ok(into_page(items, limit, NamespaceIdent::key))
    }

    pub async fn create_namespace(
        &self,
        env: &Environment,
        ns: &NamespaceIdent,
        properties: Properties,
    ) -> Result<Properties> {
        if let Some(parent) = ns.parent() {
            self.namespace_record(env, &parent).await?;
        }
        if !self
            .store
            .create_namespace(&env.uid, ns, &properties)
            .await?
        {
            return Err(CatalogError::NamespaceExists(ns.clone()));
        }
        Ok(properties)
    }

    pub async fn load_namespace(
        &self,
        env: &Environment,
        ns: &NamespaceIdent,
    ) -> Result<Properties> {
        Ok(self.namespace_record(env, ns).await?.properties)
    }

    pub async fn drop_namespace(&self, env: &Environment, ns: &NamespaceIdent) -> Result<()> {
        match self.store.drop_namespace(&env.uid, ns).await? {
            DropOutcome::Dropped => Ok(()),
            DropOutcome::NotEmpty => Err(CatalogError::NamespaceNotEmpty(ns.clone())),
            DropOutcome::Missing => Err(CatalogError::NoSuchNamespace(ns.clone())),
        }
    }

    /// Sets and removes properties; a key in both lists is 422 and changes nothing.
    pub async fn update_namespace_properties(
        &self,
        env: &Environment,
        ns: &NamespaceIdent,
        removals: Vec<String>,
        updates: Properties,
    ) -> Result<PropertiesUpdate> {
        let removal_set: HashSet<&String> = removals.iter().collect();
        let mut both: Vec<&String> = updates.keys().filter(|k| removal_set.contains(k)).collect();
        if !both.is_empty() {
            both.sort();
            let keys: Vec<&str> = both.iter().map(|k| k.as_str()).collect();
            return Err(CatalogError::Unprocessable(format!(
                "Duplicate key to update and remove: {}",
                keys.join(", ")
            )));
        }
        let record = self.namespace_record(env, ns).await?;
        let mut properties = record.properties;
        let mut result = PropertiesUpdate::default();
        for key in removals {
            if properties.remove(&key).is_some() {
                result.removed.push(key);
            } else {
                result.missing.push(key);
            }
        }
        for (key, value) in updates {
            properties.insert(key.clone(), value);
            result.updated.push(key);
        }
        self.store
            .set_namespace_properties(&record.uid, &properties)
            .await?;
        Ok(result)
    }

    pub(crate) async fn namespace_record(
        &self,
        env: &Environment,
        ns: &NamespaceIdent,
    ) -> Result<NamespaceRecord> {
        self.store
            .namespace(&env.uid, ns)
            .await?
            .ok_or_else(|| CatalogError::NoSuchNamespace(ns.clone()))
    }
}
