//! The SQL of Idempotency-Key records.

use sqlx::Row;

use super::sql::{is_unique_violation, SqlStore};
use super::{IdempotencyRecord, IdempotentResponse};
use crate::Result;

impl SqlStore {
    pub(super) async fn claim_idempotency_key_row(
        &self,
        scope: &str,
        key: &str,
        fingerprint: &str,
        at_ms: i64,
    ) -> Result<bool> {
        let inserted = sqlx::query(
            "INSERT INTO idempotency_keys (scope, idem_key, fingerprint, created_at_ms) VALUES ($1, $2, $3, $4)",
        )
        .bind(scope)
        .bind(key)
        .bind(fingerprint)
        .bind(at_ms)
        .execute(self.pool())
        .await;
        match inserted {
            Ok(_) => Ok(true),
            Err(e) if is_unique_violation(&e) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    pub(super) async fn idempotency_row(
        &self,
        scope: &str,
        key: &str,
    ) -> Result<Option<IdempotencyRecord>> {
        let row = sqlx::query(
            "SELECT fingerprint, status, content_type, etag, body, created_at_ms \
             FROM idempotency_keys WHERE scope = $1 AND idem_key = $2",
        )
        .bind(scope)
        .bind(key)
        .fetch_optional(self.pool())
        .await?;
        let Some(row) = row else { return Ok(None) };
        let status: Option<i64> = row.try_get("status")?;
        let response = match status {
            Some(status) => Some(IdempotentResponse {
                status: u16::try_from(status).unwrap_or(500),
                content_type: row.try_get("content_type")?,
                etag: row.try_get("etag")?,
                body: row
                    .try_get::<Option<String>, _>("body")?
                    .unwrap_or_default(),
            }),
            None => None,
        };
        Ok(Some(IdempotencyRecord {
            fingerprint: row.try_get("fingerprint")?,
            response,
            created_at_ms: row.try_get("created_at_ms")?,
        }))
    }

    pub(super) async fn finish_idempotency_key_row(
        &self,
        scope: &str,
        key: &str,
        response: &IdempotentResponse,
    ) -> Result<()> {
        sqlx::query(
            "UPDATE idempotency_keys SET status = $1, content_type = $2, etag = $3, body = $4 \
             WHERE scope = $5 AND idem_key = $6",
        )
        .bind(i64::from(response.status))
        .bind(response.content_type.as_deref())
        .bind(response.etag.as_deref())
        .bind(&response.body)
        .bind(scope)
        .bind(key)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    pub(super) async fn release_idempotency_key_row(&self, scope: &str, key: &str) -> Result<()> {
        sqlx::query("DELETE FROM idempotency_keys WHERE scope = $1 AND idem_key = $2")
            .bind(scope)
            .bind(key)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    pub(super) async fn purge_idempotency_key_rows(&self, before_ms: i64) -> Result<u64> {
        let purged = sqlx::query("DELETE FROM idempotency_keys WHERE created_at_ms < $1")
            .bind(before_ms)
            .execute(self.pool())
            .await?;
        Ok(purged.rows_affected())
    }
}
