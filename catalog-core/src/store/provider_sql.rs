//! The SQL of provider integrations (an environment's IAM roles to assume).

use sqlx::any::AnyRow;
use sqlx::Row;

use super::sql::{inserted, SqlStore};
use super::tenancy_sql::all_environments;
use super::{Placement, ProviderIntegrationRecord};
use crate::Result;

const COLUMNS: &str = "env_uid, id, name, customer_role_arn, external_id, created_at_ms";

fn integration_from_row(row: &AnyRow) -> Result<ProviderIntegrationRecord> {
    Ok(ProviderIntegrationRecord {
        env_uid: row.try_get("env_uid")?,
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        customer_role_arn: row.try_get("customer_role_arn")?,
        external_id: row.try_get("external_id")?,
        created_at_ms: row.try_get("created_at_ms")?,
    })
}

impl SqlStore {
    pub(super) async fn insert_provider_integration_row(
        &self,
        record: &ProviderIntegrationRecord,
    ) -> Result<bool> {
        let result = sqlx::query(
            "INSERT INTO provider_integrations (env_uid, id, name, customer_role_arn, external_id, created_at_ms) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&record.env_uid)
        .bind(&record.id)
        .bind(&record.name)
        .bind(&record.customer_role_arn)
        .bind(&record.external_id)
        .bind(record.created_at_ms)
        .execute(self.pool())
        .await;
        inserted(result)
    }

    pub(super) async fn provider_integration_row(
        &self,
        env_uid: &str,
        id: &str,
    ) -> Result<Option<ProviderIntegrationRecord>> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM provider_integrations WHERE env_uid = $1 AND id = $2"
        )))
        .bind(env_uid)
        .bind(id)
        .fetch_optional(self.pool())
        .await?;
        row.as_ref().map(integration_from_row).transpose()
    }

    pub(super) async fn provider_integration_rows(
        &self,
        env_uid: &str,
    ) -> Result<Vec<ProviderIntegrationRecord>> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM provider_integrations WHERE env_uid = $1 ORDER BY id"
        )))
        .bind(env_uid)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(integration_from_row).collect()
    }

    /// Deletes with environment changes serialized, after `in_use` accepted every environment.
    pub(super) async fn delete_provider_integration_row(
        &self,
        env_uid: &str,
        id: &str,
        in_use: &Placement<'_>,
    ) -> Result<bool> {
        let (_writing, mut tx) = self.write_transaction().await?;
        self.lock_environments(&mut tx).await?;
        in_use(&all_environments(&mut tx).await?)?;
        let deleted =
            sqlx::query("DELETE FROM provider_integrations WHERE env_uid = $1 AND id = $2")
                .bind(env_uid)
                .bind(id)
                .execute(&mut *tx)
                .await?;
        tx.commit().await?;
        Ok(deleted.rows_affected() == 1)
    }
}
