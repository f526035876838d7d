//! The SQL of Idempotency-Key records: claims held as leases by the request that runs, and the
//! compact final answer a retry replays.

use sqlx::Row;

use super::sql::{is_unique_violation, SqlStore};
use super::{IdempotencyClaim, IdempotencyRecord, IdempotentBody, IdempotentResponse};
use crate::Result;

impl SqlStore {
    pub(super) async fn claim_idempotency_key_row(
        &self,
        claim: &IdempotencyClaim<'_>,
        fingerprint: &str,
        at_ms: i64,
        lease_until_ms: i64,
    ) -> Result<bool> {
        let inserted = sqlx::query(
            "INSERT INTO idempotency_keys \
             (scope, idem_key, fingerprint, created_at_ms, claim_id, lease_until_ms) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(claim.scope)
        .bind(claim.key)
        .bind(fingerprint)
        .bind(at_ms)
        .bind(claim.claim_id)
        .bind(lease_until_ms)
        .execute(self.pool())
        .await;
        match inserted {
            Ok(_) => Ok(true),
            Err(e) if is_unique_violation(&e) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// One statement, so that of several retries finding the same dead claim only one wins.
    pub(super) async fn take_over_idempotency_key_row(
        &self,
        claim: &IdempotencyClaim<'_>,
        fingerprint: &str,
        at_ms: i64,
        lease_until_ms: i64,
    ) -> Result<bool> {
        let taken = sqlx::query(
            "UPDATE idempotency_keys SET claim_id = $1, lease_until_ms = $2, created_at_ms = $3 \
             WHERE scope = $4 AND idem_key = $5 AND fingerprint = $6 AND status IS NULL \
             AND COALESCE(lease_until_ms, 0) < $3",
        )
        .bind(claim.claim_id)
        .bind(lease_until_ms)
        .bind(at_ms)
        .bind(claim.scope)
        .bind(claim.key)
        .bind(fingerprint)
        .execute(self.pool())
        .await?;
        Ok(taken.rows_affected() == 1)
    }

    pub(super) async fn renew_idempotency_key_row(
        &self,
        claim: &IdempotencyClaim<'_>,
        lease_until_ms: i64,
    ) -> Result<bool> {
        let renewed = sqlx::query(
            "UPDATE idempotency_keys SET lease_until_ms = $1 \
             WHERE scope = $2 AND idem_key = $3 AND claim_id = $4 AND status IS NULL",
        )
        .bind(lease_until_ms)
        .bind(claim.scope)
        .bind(claim.key)
        .bind(claim.claim_id)
        .execute(self.pool())
        .await?;
        Ok(renewed.rows_affected() == 1)
    }

    pub(super) async fn idempotency_row(
        &self,
        scope: &str,
        key: &str,
    ) -> Result<Option<IdempotencyRecord>> {
        let row = sqlx::query(
            "SELECT fingerprint, status, content_type, etag, body, metadata_location, reply_shape, \
             created_at_ms, COALESCE(lease_until_ms, 0) AS lease_until_ms \
             FROM idempotency_keys WHERE scope = $1 AND idem_key = $2",
        )
        .bind(scope)
        .bind(key)
        .fetch_optional(self.pool())
        .await?;
        let Some(row) = row else { return Ok(None) };
        let status: Option<i64> = row.try_get("status")?;
        let response = match status {
            Some(status) => {
                let location: Option<String> = row.try_get("metadata_location")?;
                let shape: Option<String> = row.try_get("reply_shape")?;
                let body = match (location, shape) {
                    (Some(location), Some(shape)) => IdempotentBody::Metadata { location, shape },
                    _ => IdempotentBody::Stored(
                        row.try_get::<Option<String>, _>("body")?
                            .unwrap_or_default(),
                    ),
                };
                Some(IdempotentResponse {
                    status: u16::try_from(status).unwrap_or(500),
                    content_type: row.try_get("content_type")?,
                    etag: row.try_get("etag")?,
                    body,
                })
            }
            None => None,
        };
        Ok(Some(IdempotencyRecord {
            fingerprint: row.try_get("fingerprint")?,
            response,
            created_at_ms: row.try_get("created_at_ms")?,
            lease_until_ms: row.try_get("lease_until_ms")?,
        }))
    }

    pub(super) async fn finish_idempotency_key_row(
        &self,
        claim: &IdempotencyClaim<'_>,
        response: &IdempotentResponse,
    ) -> Result<bool> {
        let (body, location, shape) = match &response.body {
            IdempotentBody::Stored(body) => (Some(body.as_str()), None, None),
            IdempotentBody::Metadata { location, shape } => {
                (None, Some(location.as_str()), Some(shape.as_str()))
            }
        };
        let finished = sqlx::query(
            "UPDATE idempotency_keys SET status = $1, content_type = $2, etag = $3, body = $4, \
             metadata_location = $5, reply_shape = $6, lease_until_ms = NULL \
             WHERE scope = $7 AND idem_key = $8 AND claim_id = $9 AND status IS NULL",
        )
        .bind(i64::from(response.status))
        .bind(response.content_type.as_deref())
        .bind(response.etag.as_deref())
        .bind(body)
        .bind(location)
        .bind(shape)
        .bind(claim.scope)
        .bind(claim.key)
        .bind(claim.claim_id)
        .execute(self.pool())
        .await?;
        Ok(finished.rows_affected() == 1)
    }

    pub(super) async fn release_idempotency_key_row(
        &self,
        claim: &IdempotencyClaim<'_>,
    ) -> Result<()> {
        sqlx::query(
            "DELETE FROM idempotency_keys \
             WHERE scope = $1 AND idem_key = $2 AND claim_id = $3 AND status IS NULL",
        )
        .bind(claim.scope)
        .bind(claim.key)
        .bind(claim.claim_id)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    pub(super) async fn forget_idempotency_key_row(
        &self,
        scope: &str,
        key: &str,
        before_ms: i64,
        now_ms: i64,
    ) -> Result<()> {
        sqlx::query(
            "DELETE FROM idempotency_keys WHERE scope = $1 AND idem_key = $2 \
             AND created_at_ms < $3 AND COALESCE(lease_until_ms, 0) < $4",
        )
        .bind(scope)
        .bind(key)
        .bind(before_ms)
        .bind(now_ms)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    pub(super) async fn purge_idempotency_key_rows(
        &self,
        before_ms: i64,
        now_ms: i64,
    ) -> Result<u64> {
        let purged = sqlx::query(
            "DELETE FROM idempotency_keys \
             WHERE created_at_ms < $1 AND COALESCE(lease_until_ms, 0) < $2",
        )
        .bind(before_ms)
        .bind(now_ms)
        .execute(self.pool())
        .await?;
        Ok(purged.rows_affected())
    }
}
