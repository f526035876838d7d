//! Commits to one table from this process wait for each other instead of racing: a lost
//! compare-and-swap costs a metadata file and a recomputation, a wait costs nothing. Commits
//! from other replicas still race, and the compare-and-swap decides between them.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::{Mutex as AsyncMutex, OwnedMutexGuard};

#[derive(Debug, Default)]
pub(crate) struct TableLocks {
    held: Arc<Mutex<HashMap<String, Arc<AsyncMutex<()>>>>>,
}

/// Holds the commit locks of some tables; releasing forgets locks nobody waits for.
pub(crate) struct TableLockGuard {
    held: Arc<Mutex<HashMap<String, Arc<AsyncMutex<()>>>>>,
    guards: Vec<(String, OwnedMutexGuard<()>)>,
}

impl TableLocks {
    /// Locks every key, in sorted order so that two transactions cannot deadlock.
    pub(crate) async fn lock(&self, keys: &[String]) -> TableLockGuard {
        let mut keys: Vec<String> = keys.to_vec();
        keys.sort();
        keys.dedup();
        let mut guards = Vec::with_capacity(keys.len());
        for key in keys {
            let lock = {
                let mut held = self.held.lock().unwrap_or_else(|e| e.into_inner());
                held.entry(key.clone()).or_default().clone()
            };
            guards.push((key, lock.lock_owned().await));
        }
        TableLockGuard {
            held: self.held.clone(),
            guards,
        }
    }
}

impl Drop for TableLockGuard {
    fn drop(&mut self) {
        let mut held = self.held.lock().unwrap_or_else(|e| e.into_inner());
        for (key, _) in &self.guards {
            // Two references: the map's and this guard's. More means someone is waiting.
            if held
                .get(key)
                .is_some_and(|lock| Arc::strong_count(lock) == 2)
            {
                held.remove(key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_second_commit_waits_and_idle_locks_are_forgotten() {
        let locks = TableLocks::default();
        let first = locks.lock(&["t".into()]).await;
        let waiting = tokio::time::timeout(
            std::time::Duration::from_millis(50),
            locks.lock(&["t".into()]),
        )
        .await;
        assert!(waiting.is_err(), "the second lock must wait");
        let other = tokio::time::timeout(
            std::time::Duration::from_millis(50),
            locks.lock(&["u".into()]),
        )
        .await;
        assert!(other.is_ok(), "another table is not blocked");
        drop(other);
        drop(first);
        let again = locks.lock(&["t".into()]).await;
        drop(again);
        assert!(locks.held.lock().unwrap().is_empty());
    }
}
