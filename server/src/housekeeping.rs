//! Housekeeping every replica runs in the background, so that no table the catalog appends to
//! grows without bound and no request pays for the clean-up.

use std::sync::Arc;
use std::time::Duration;

use frazil_catalog::Catalog;

/// How often the clean-up runs (each replica; the deletes are idempotent).
const EVERY: Duration = Duration::from_secs(10 * 60);
/// How long the outbox keeps a change event.
pub const CHANGE_EVENT_RETENTION: Duration = Duration::from_secs(7 * 24 * 3600);

/// Starts the clean-up loop; its first round runs soon after start-up. The handle stops it at
/// shutdown.
pub fn spawn(catalog: Arc<Catalog>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(EVERY);
        loop {
            tick.tick().await;
            prune_change_events(&catalog).await;
        }
    })
}

async fn prune_change_events(catalog: &Catalog) {
    match catalog.prune_change_events(CHANGE_EVENT_RETENTION).await {
        Ok(0) => {}
        Ok(pruned) => tracing::info!(pruned, "pruned old change events"),
        Err(e) => tracing::warn!(error = %e, "could not prune old change events"),
    }
}
