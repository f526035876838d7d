//! Purges of dropped tables. A drop with purge commits a purge task in the transaction that
//! removes the table's row; the worker here, one on every replica, claims due tasks and deletes
//! the files, retrying failures with growing pauses. So a drop answers without waiting for the
//! deletion, and a timeout, a crash or a failing store never leaves files nobody will delete.

use std::sync::Arc;
use std::time::Duration;

use frazil_storage::Location;
use tokio::sync::Notify;

use super::tables::object_location;
use super::Catalog;
use crate::store::PurgeTask;
use crate::Result;

/// How long a claimed task is left to its worker before another may take it: a worker that
/// died mid-purge is replaced after this long. Deleting one tree twice at once is harmless.
const LEASE: Duration = Duration::from_secs(300);
/// The first retry of a failed purge waits this long; each next one twice as long as the last.
const FIRST_RETRY: Duration = Duration::from_secs(1);
const MAX_RETRY: Duration = Duration::from_secs(3600);

/// How drops reach the purge worker of this replica.
#[derive(Debug, Default)]
pub(crate) struct PurgeQueue {
    /// How long after its drop a purge may run (default none).
    pub(crate) delay: Duration,
    /// Wakes this replica's worker when a drop added a task.
    pub(crate) wake: Notify,
}

/// What became of one purge task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PurgeOutcome {
    Purged {
        location: String,
    },
    /// The deletion failed; the task runs again after `retry_in`.
    Failed {
        location: String,
        error: String,
        retry_in: Duration,
    },
    /// Not deleted, and never will be: `reason` says why (another live table's files are in
    /// the tree, or the environment is gone).
    Abandoned {
        location: String,
        reason: String,
    },
}

impl Catalog {
    /// Drops with purge leave their files for at least `delay` before the worker deletes them.
    pub fn with_purge_delay(mut self, delay: Duration) -> Self {
        self.purge.delay = delay;
        self
    }

    /// Claims the purge task due first, if any, and carries it out.
    pub async fn purge_next(&self) -> Result<Option<PurgeOutcome>> {
        let now = chrono::Utc::now().timestamp_millis();
        let Some(task) = self.store.claim_purge_task(now, millis(LEASE)).await? else {
            return Ok(None);
        };
        let outcome = self.carry_out(&task).await?;
        match &outcome {
            PurgeOutcome::Failed {
                error, retry_in, ..
            } => {
                let due = chrono::Utc::now().timestamp_millis() + millis(*retry_in);
                self.store.retry_purge_task(&task.id, due, error).await?;
            }
            PurgeOutcome::Purged { .. } | PurgeOutcome::Abandoned { .. } => {
                self.store.finish_purge_task(&task.id).await?;
            }
        }
        Ok(Some(outcome))
    }

    /// Deletes a task's tree unless, now, another live table or view lives in it (or contains
    /// it): a drop checked that, but the tree is checked again at the moment of deletion.
    async fn carry_out(&self, task: &PurgeTask) -> Result<PurgeOutcome> {
        let location = task.location.clone();
        let abandon = |reason: String| PurgeOutcome::Abandoned {
            location: location.clone(),
            reason,
        };
        let Some(env) = self.store.environment_by_uid(&task.env_uid).await? else {
            return Ok(abandon("its environment no longer exists".into()));
        };
        if let Some(other) = self
            .store
            .location_conflict(&task.location, None, false)
            .await?
        {
            return Ok(abandon(format!(
                "the live table or view at {} shares these files",
                other.location
            )));
        }
        let deleted = match self.warehouse(&env).await {
            Ok(warehouse) => match object_location(&warehouse, &task.location) {
                Ok(tree) => delete(&warehouse, &tree).await,
                Err(e) => return Ok(abandon(e.to_string())),
            },
            Err(e) => Err(e.to_string()),
        };
        Ok(match deleted {
            Ok(()) => PurgeOutcome::Purged { location },
            Err(error) => PurgeOutcome::Failed {
                location,
                error,
                retry_in: retry_delay(task.attempts),
            },
        })
    }

    /// The purge worker of this replica: carries out every due task, then waits for a drop on
    /// this replica or `poll` (tasks of other replicas' drops, retries, delayed purges).
    pub async fn run_purge_worker(self: Arc<Self>, poll: Duration) {
        loop {
            loop {
                match self.purge_next().await {
                    Ok(Some(outcome)) => log(&outcome),
                    Ok(None) => break,
                    Err(e) => {
                        tracing::warn!(error = %e, "purge worker cannot reach the metadata store");
                        break;
                    }
                }
            }
            tokio::select! {
                () = tokio::time::sleep(poll) => {}
                () = self.purge.wake.notified() => {}
            }
        }
    }
}

async fn delete(
    warehouse: &frazil_storage::Warehouse,
    tree: &Location,
) -> std::result::Result<(), String> {
    warehouse.delete_tree(tree).await.map_err(|e| e.to_string())
}

fn log(outcome: &PurgeOutcome) {
    match outcome {
        PurgeOutcome::Purged { location } => {
            tracing::info!(%location, "purged a dropped table's files")
        }
        PurgeOutcome::Failed {
            location,
            error,
            retry_in,
        } => tracing::warn!(%location, %error, ?retry_in, "purge failed; it will be retried"),
        PurgeOutcome::Abandoned { location, reason } => {
            tracing::error!(%location, %reason, "purge abandoned; the files are kept")
        }
    }
}

/// 1 s after the first failure, then twice as long each time, at most an hour.
fn retry_delay(attempts: i64) -> Duration {
    let doublings = u32::try_from(attempts.saturating_sub(1).clamp(0, 12)).unwrap_or(12);
    (FIRST_RETRY * 2u32.pow(doublings)).min(MAX_RETRY)
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX / 2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_back_off_to_an_hour() {
        assert_eq!(retry_delay(1), Duration::from_secs(1));
        assert_eq!(retry_delay(2), Duration::from_secs(2));
        assert_eq!(retry_delay(5), Duration::from_secs(16));
        assert_eq!(retry_delay(40), MAX_RETRY);
    }
}
