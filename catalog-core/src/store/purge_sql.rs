//! The SQL of object locations and purge tasks: the overlap checks that keep every table's and
//! view's directory apart (through the `location` index, never a scan), the durable queue of
//! purges that drops commit, and the start-up fill of locations for rows older than the column.

use frazil_storage::Location;
use serde::Deserialize;
use sqlx::{AnyConnection, Row};

use super::sql::{environment_from_row, is_unique_violation, Backend, SqlStore};
use super::{LocationConflict, NewPurge, PurgeTask};
use crate::model::Environment;
use crate::Result;

/// Rows filled per statement batch by [`SqlStore::fill_locations`].
const FILL_BATCH: i64 = 500;

/// Other objects' and pending purges' locations that equal, contain or lie inside `location`.
/// Containing: `location`'s ancestors, an IN list on the index; inside: the index range of
/// strings that start with `location/` (`'0'` is the character after `'/'`).
pub(super) async fn find_conflict(
    conn: &mut AnyConnection,
    location: &str,
    exclude_uid: Option<&str>,
    pending_purges: bool,
) -> Result<Option<LocationConflict>> {
    let parsed = Location::parse(location)?;
    let mut candidates = parsed.ancestors();
    candidates.push(parsed.as_str().to_string());
    let list = (0..candidates.len())
        .map(|i| format!("${}", i + 4))
        .collect::<Vec<_>>()
        .join(", ");
    let objects = "SELECT o.location AS location, n.env_uid AS env_uid, 'object' AS what \
                   FROM catalog_objects o JOIN namespaces n ON n.uid = o.namespace_uid";
    let mut sql = format!(
        "{objects} WHERE o.location IN ({list}) AND o.uid <> $3 \
         UNION ALL {objects} WHERE o.location >= $1 AND o.location < $2 AND o.uid <> $3"
    );
    if pending_purges {
        let purges = "SELECT location, env_uid, 'purge' AS what FROM purge_tasks";
        sql.push_str(&format!(
            " UNION ALL {purges} WHERE location IN ({list}) \
              UNION ALL {purges} WHERE location >= $1 AND location < $2"
        ));
    }
    sql.push_str(" LIMIT 1");
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(format!("{}/", parsed.as_str()))
        .bind(format!("{}0", parsed.as_str()))
        .bind(exclude_uid.unwrap_or_default().to_string());
    for candidate in candidates {
        query = query.bind(candidate);
    }
    let Some(row) = query.fetch_optional(&mut *conn).await? else {
        return Ok(None);
    };
    Ok(Some(LocationConflict {
        location: row.try_get("location")?,
        env_uid: row.try_get("env_uid")?,
        pending_purge: row.try_get::<String, _>("what")? == "purge",
    }))
}

impl SqlStore {
    /// Inside a write transaction: serializes location changes in one environment (Postgres;
    /// SQLite has one writer already), then checks `location` against the others. The unique
    /// index alone catches two creates at one location; the lock also keeps two concurrent
    /// creates from landing one inside the other.
    pub(super) async fn claim_location(
        &self,
        conn: &mut AnyConnection,
        env_uid: &str,
        location: &str,
        exclude_uid: Option<&str>,
    ) -> Result<()> {
        self.lock_locations(conn, env_uid).await?;
        match find_conflict(conn, location, exclude_uid, true).await? {
            Some(conflict) => Err(conflict.into_error(env_uid, location)),
            None => Ok(()),
        }
    }

    /// Postgres: the transaction-scoped lock on one environment's object locations (taking it
    /// again in the same transaction is free). SQLite's single writer serializes already.
    pub(super) async fn lock_locations(
        &self,
        conn: &mut AnyConnection,
        env_uid: &str,
    ) -> Result<()> {
        if self.backend() == Backend::Postgres {
            sqlx::query("SELECT pg_advisory_xact_lock(1718378860, hashtext($1))")
                .bind(env_uid)
                .execute(&mut *conn)
                .await?;
        }
        Ok(())
    }

    pub(super) async fn location_conflict_row(
        &self,
        location: &str,
        exclude_uid: Option<&str>,
        pending_purges: bool,
    ) -> Result<Option<LocationConflict>> {
        let mut conn = self.pool().acquire().await?;
        find_conflict(&mut conn, location, exclude_uid, pending_purges).await
    }

    pub(super) async fn add_purge_task(
        conn: &mut AnyConnection,
        env_uid: &str,
        object_uid: &str,
        purge: &NewPurge,
        now_ms: i64,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO purge_tasks (id, env_uid, object_uid, location, attempts, due_at_ms, created_at_ms) \
             VALUES ($1, $2, $3, $4, 0, $5, $6)",
        )
        .bind(uuid::Uuid::now_v7().to_string())
        .bind(env_uid)
        .bind(object_uid)
        .bind(&purge.location)
        .bind(purge.due_at_ms)
        .bind(now_ms)
        .execute(&mut *conn)
        .await?;
        Ok(())
    }

    pub(super) async fn claim_purge_task_row(
        &self,
        now_ms: i64,
        lease_ms: i64,
    ) -> Result<Option<PurgeTask>> {
        // Replicas skip a task another one is claiming instead of queueing behind it.
        let skip_locked = match self.backend() {
            Backend::Postgres => " FOR UPDATE SKIP LOCKED",
            Backend::Sqlite => "",
        };
        let sql = format!(
            "UPDATE purge_tasks SET due_at_ms = $2, attempts = attempts + 1 \
             WHERE id = (SELECT id FROM purge_tasks WHERE due_at_ms <= $1 \
                         ORDER BY due_at_ms LIMIT 1{skip_locked}) \
             RETURNING id, env_uid, object_uid, location, attempts"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(now_ms)
            .bind(now_ms.saturating_add(lease_ms))
            .fetch_optional(self.pool())
            .await?;
        let Some(row) = row else { return Ok(None) };
        Ok(Some(PurgeTask {
            id: row.try_get("id")?,
            env_uid: row.try_get("env_uid")?,
            object_uid: row.try_get("object_uid")?,
            location: row.try_get("location")?,
            attempts: row.try_get("attempts")?,
        }))
    }

    pub(super) async fn finish_purge_task_row(&self, id: &str) -> Result<()> {
        sqlx::query("DELETE FROM purge_tasks WHERE id = $1")
            .bind(id)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    pub(super) async fn retry_purge_task_row(
        &self,
        id: &str,
        due_at_ms: i64,
        error: &str,
    ) -> Result<()> {
        sqlx::query("UPDATE purge_tasks SET due_at_ms = $1, last_error = $2 WHERE id = $3")
            .bind(due_at_ms)
            .bind(error)
            .bind(id)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    pub(super) async fn environment_by_uid_row(&self, uid: &str) -> Result<Option<Environment>> {
        let row =
            sqlx::query("SELECT uid, org_id, id, name, storage FROM environments WHERE uid = $1")
                .bind(uid)
                .fetch_optional(self.pool())
                .await?;
        row.as_ref().map(environment_from_row).transpose()
    }

    /// Fills the location of rows written before the column existed, from their metadata
    /// (run after the migrations, by every start; a no-op once every row has one). A row whose
    /// location another row already holds (two tables sharing a directory, which the catalog
    /// allowed then) keeps none and is logged: it cannot be purged until one of them is moved.
    pub(super) async fn fill_locations(&self) -> Result<()> {
        let mut after = String::new();
        let mut filled = 0u64;
        loop {
            let rows = sqlx::query(
                "SELECT uid, metadata FROM catalog_objects WHERE location IS NULL AND uid > $1 \
                 ORDER BY uid LIMIT $2",
            )
            .bind(&after)
            .bind(FILL_BATCH)
            .fetch_all(self.pool())
            .await?;
            let Some(last) = rows.last() else { break };
            after = last.try_get("uid")?;
            for row in &rows {
                let uid: String = row.try_get("uid")?;
                let metadata: String = row.try_get("metadata")?;
                filled += u64::from(self.fill_location(&uid, &metadata).await?);
            }
        }
        if filled > 0 {
            tracing::info!(
                filled,
                "filled the location of tables and views from their metadata"
            );
        }
        Ok(())
    }

    async fn fill_location(&self, uid: &str, metadata: &str) -> Result<bool> {
        #[derive(Deserialize)]
        struct Located {
            location: String,
        }
        let location = serde_json::from_str::<Located>(metadata)
            .ok()
            .and_then(|m| Location::parse(&m.location).ok());
        let Some(location) = location else {
            tracing::warn!(
                object = uid,
                "stored metadata has no readable location; left unset"
            );
            return Ok(false);
        };
        let updated = sqlx::query(
            "UPDATE catalog_objects SET location = $1 WHERE uid = $2 AND location IS NULL",
        )
        .bind(location.as_str())
        .bind(uid)
        .execute(self.pool())
        .await;
        match updated {
            Ok(done) => Ok(done.rows_affected() == 1),
            Err(e) if is_unique_violation(&e) => {
                tracing::warn!(object = uid, %location, "another table or view has this location; left unset");
                Ok(false)
            }
            Err(e) => Err(e.into()),
        }
    }
}
