//! The SQL of organizations, environments, API keys and signing keys.

use sqlx::any::AnyRow;
use sqlx::Row;

use uuid::Uuid;

use super::sql::{environment_from_row, inserted, is_unique_violation, now_ms, Backend, SqlStore};
use super::{ApiKeyRecord, DropOutcome, OrganizationRecord, Placement, SigningKeyRecord};
use crate::model::{Environment, NewEnvironment};
use crate::{CatalogError, Result};

const API_KEY_COLUMNS: &str = "id, org_id, env_id, role, description, secret_hash, created_at_ms, last_used_at_ms, expires_at_ms, revoked_at_ms";

fn api_key_from_row(row: &AnyRow) -> Result<ApiKeyRecord> {
    Ok(ApiKeyRecord {
        id: row.try_get("id")?,
        org_id: row.try_get("org_id")?,
        env_id: row.try_get("env_id")?,
        role: row.try_get("role")?,
        description: row.try_get("description")?,
        secret_hash: row.try_get("secret_hash")?,
        created_at_ms: row.try_get("created_at_ms")?,
        last_used_at_ms: row.try_get("last_used_at_ms")?,
        expires_at_ms: row.try_get("expires_at_ms")?,
        revoked_at_ms: row.try_get("revoked_at_ms")?,
    })
}

fn organization_from_row(row: &AnyRow) -> Result<OrganizationRecord> {
    Ok(OrganizationRecord {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        created_at_ms: row.try_get("created_at_ms")?,
    })
}

impl SqlStore {
    pub(super) async fn create_organization_row(
        &self,
        id: &str,
        name: &str,
        now: i64,
    ) -> Result<bool> {
        let result =
            sqlx::query("INSERT INTO organizations (id, name, created_at_ms) VALUES ($1, $2, $3)")
                .bind(id)
                .bind(name)
                .bind(now)
                .execute(self.pool())
                .await;
        inserted(result)
    }

    pub(super) async fn organization_row(&self, id: &str) -> Result<Option<OrganizationRecord>> {
        let row = sqlx::query("SELECT id, name, created_at_ms FROM organizations WHERE id = $1")
            .bind(id)
            .fetch_optional(self.pool())
            .await?;
        row.as_ref().map(organization_from_row).transpose()
    }

    pub(super) async fn organization_rows(&self) -> Result<Vec<OrganizationRecord>> {
        let rows = sqlx::query("SELECT id, name, created_at_ms FROM organizations ORDER BY id")
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(organization_from_row).collect()
    }

    pub(super) async fn delete_organization_row(&self, id: &str) -> Result<DropOutcome> {
        let mut tx = self.pool().begin().await?;
        let deleted = sqlx::query(
            "DELETE FROM organizations WHERE id = $1 AND NOT EXISTS (SELECT 1 FROM environments e WHERE e.org_id = $1)",
        )
        .bind(id)
        .execute(&mut *tx)
        .await?;
        if deleted.rows_affected() == 0 {
            tx.rollback().await?;
            return Ok(match self.organization_row(id).await? {
                Some(_) => DropOutcome::NotEmpty,
                None => DropOutcome::Missing,
            });
        }
        sqlx::query("DELETE FROM api_keys WHERE org_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(DropOutcome::Dropped)
    }

    pub(super) async fn environment_rows(&self, org_id: &str) -> Result<Vec<Environment>> {
        let rows = sqlx::query(
            "SELECT uid, org_id, id, name, storage FROM environments WHERE org_id = $1 ORDER BY id",
        )
        .bind(org_id)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(environment_from_row).collect()
    }

    /// Inserts an environment if `placement` accepts it beside every other environment; `None`
    /// when the organization already has one with that id.
    pub(super) async fn insert_environment_row(
        &self,
        env: &NewEnvironment,
        placement: &Placement<'_>,
    ) -> Result<Option<Environment>> {
        let created = Environment {
            uid: Uuid::now_v7().to_string(),
            org_id: env.org_id.clone(),
            id: env.id.clone(),
            name: env.name.clone(),
            storage: env.storage.clone(),
        };
        let storage = storage_json(&created)?;
        let (_writing, mut tx) = self.write_transaction().await?;
        self.lock_environments(&mut tx).await?;
        placement(&all_environments(&mut tx).await?)?;
        let result = sqlx::query(
            "INSERT INTO environments (uid, org_id, id, name, storage, created_at_ms) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&created.uid)
        .bind(&created.org_id)
        .bind(&created.id)
        .bind(&created.name)
        .bind(storage)
        .bind(now_ms())
        .execute(&mut *tx)
        .await;
        match result {
            Ok(_) => {
                tx.commit().await?;
                Ok(Some(created))
            }
            Err(e) if is_unique_violation(&e) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    pub(super) async fn update_environment_row(
        &self,
        env: &Environment,
        placement: &Placement<'_>,
    ) -> Result<()> {
        let storage = storage_json(env)?;
        let (_writing, mut tx) = self.write_transaction().await?;
        self.lock_environments(&mut tx).await?;
        placement(&all_environments(&mut tx).await?)?;
        sqlx::query("UPDATE environments SET name = $1, storage = $2 WHERE uid = $3")
            .bind(&env.name)
            .bind(storage)
            .bind(&env.uid)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Serializes creations and changes of environments until the transaction ends, so that
    /// two at once cannot both find the other's storage free: Postgres locks the table against
    /// writers (readers go on); SQLite takes its single write lock now rather than at the insert.
    pub(super) async fn lock_environments(
        &self,
        tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    ) -> Result<()> {
        let statement = match self.backend() {
            Backend::Postgres => "LOCK TABLE environments IN SHARE ROW EXCLUSIVE MODE",
            Backend::Sqlite => "UPDATE environments SET name = name WHERE 1 = 0",
        };
        sqlx::query(statement).execute(&mut **tx).await?;
        Ok(())
    }

    pub(super) async fn delete_environment_row(&self, env: &Environment) -> Result<DropOutcome> {
        let mut tx = self.pool().begin().await?;
        // Its integrations go first (they refer to it); a refused delete rolls them back.
        sqlx::query("DELETE FROM provider_integrations WHERE env_uid = $1")
            .bind(&env.uid)
            .execute(&mut *tx)
            .await?;
        let deleted = sqlx::query(
            "DELETE FROM environments WHERE uid = $1 AND NOT EXISTS (SELECT 1 FROM namespaces n WHERE n.env_uid = $1)",
        )
        .bind(&env.uid)
        .execute(&mut *tx)
        .await?;
        if deleted.rows_affected() == 0 {
            tx.rollback().await?;
            return Ok(DropOutcome::NotEmpty);
        }
        sqlx::query("DELETE FROM api_keys WHERE org_id = $1 AND env_id = $2")
            .bind(&env.org_id)
            .bind(&env.id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(DropOutcome::Dropped)
    }

    pub(super) async fn insert_api_key_row(&self, key: &ApiKeyRecord) -> Result<bool> {
        let result = sqlx::query(
            "INSERT INTO api_keys (id, org_id, env_id, role, description, secret_hash, created_at_ms, expires_at_ms) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&key.id)
        .bind(&key.org_id)
        .bind(&key.env_id)
        .bind(&key.role)
        .bind(&key.description)
        .bind(&key.secret_hash)
        .bind(key.created_at_ms)
        .bind(key.expires_at_ms)
        .execute(self.pool())
        .await;
        inserted(result)
    }

    pub(super) async fn api_key_row(&self, id: &str) -> Result<Option<ApiKeyRecord>> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {API_KEY_COLUMNS} FROM api_keys WHERE id = $1"
        )))
        .bind(id)
        .fetch_optional(self.pool())
        .await?;
        row.as_ref().map(api_key_from_row).transpose()
    }

    pub(super) async fn api_key_rows(
        &self,
        org_id: Option<&str>,
        env_id: Option<&str>,
    ) -> Result<Vec<ApiKeyRecord>> {
        let sql = format!(
            "SELECT {API_KEY_COLUMNS} FROM api_keys \
             WHERE org_id IS NOT DISTINCT FROM $1 AND env_id IS NOT DISTINCT FROM $2 ORDER BY created_at_ms, id"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(org_id)
            .bind(env_id)
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(api_key_from_row).collect()
    }

    pub(super) async fn revoke_api_key_row(&self, id: &str, at_ms: i64) -> Result<bool> {
        let revoked = sqlx::query(
            "UPDATE api_keys SET revoked_at_ms = $1 WHERE id = $2 AND revoked_at_ms IS NULL",
        )
        .bind(at_ms)
        .bind(id)
        .execute(self.pool())
        .await?;
        Ok(revoked.rows_affected() == 1)
    }

    pub(super) async fn touch_api_key_row(&self, id: &str, at_ms: i64) -> Result<()> {
        sqlx::query("UPDATE api_keys SET last_used_at_ms = $1 WHERE id = $2")
            .bind(at_ms)
            .bind(id)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    pub(super) async fn has_server_admin_row(&self) -> Result<bool> {
        let row = sqlx::query(
            "SELECT COUNT(*) AS n FROM api_keys WHERE org_id IS NULL AND role = 'admin' AND revoked_at_ms IS NULL",
        )
        .fetch_one(self.pool())
        .await?;
        Ok(row.try_get::<i64, _>("n")? > 0)
    }

    pub(super) async fn insert_signing_key_row(&self, key: &SigningKeyRecord) -> Result<()> {
        sqlx::query("INSERT INTO signing_keys (kid, private_key, public_key, created_at_ms) VALUES ($1, $2, $3, $4)")
            .bind(&key.kid)
            .bind(&key.private_key)
            .bind(&key.public_key)
            .bind(key.created_at_ms)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    pub(super) async fn signing_key_rows(
        &self,
        include_retired: bool,
    ) -> Result<Vec<SigningKeyRecord>> {
        let rows = sqlx::query(
            "SELECT kid, private_key, public_key, created_at_ms FROM signing_keys \
             WHERE retired_at_ms IS NULL OR $1 ORDER BY created_at_ms DESC, kid DESC",
        )
        .bind(include_retired)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|row| {
                Ok(SigningKeyRecord {
                    kid: row.try_get("kid")?,
                    private_key: row.try_get("private_key")?,
                    public_key: row.try_get("public_key")?,
                    created_at_ms: row.try_get("created_at_ms")?,
                })
            })
            .collect()
    }

    pub(super) async fn set_signing_key_private_row(
        &self,
        kid: &str,
        private_key: &str,
    ) -> Result<()> {
        sqlx::query("UPDATE signing_keys SET private_key = $1 WHERE kid = $2")
            .bind(private_key)
            .bind(kid)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    pub(super) async fn retire_signing_key_rows(
        &self,
        keep: &str,
        before_ms: i64,
        at_ms: i64,
    ) -> Result<u64> {
        let retired = sqlx::query(
            "UPDATE signing_keys SET retired_at_ms = $1 WHERE kid <> $2 AND created_at_ms < $3 AND retired_at_ms IS NULL",
        )
        .bind(at_ms)
        .bind(keep)
        .bind(before_ms)
        .execute(self.pool())
        .await?;
        Ok(retired.rows_affected())
    }
}

fn storage_json(env: &Environment) -> Result<String> {
    serde_json::to_string(&env.storage).map_err(|e| CatalogError::Internal(e.to_string()))
}

/// Every environment of every organization (a few per tenant), in the caller's transaction.
pub(super) async fn all_environments(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
) -> Result<Vec<Environment>> {
    let rows = sqlx::query("SELECT uid, org_id, id, name, storage FROM environments")
        .fetch_all(&mut **tx)
        .await?;
    rows.iter().map(environment_from_row).collect()
}
