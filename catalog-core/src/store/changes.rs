//! Which tables and views changed: every replica's caches of table pointers hear of each change
//! to an object row, so that a cached pointer never outlives the row it copies.
//!
//! - In this process, a change is announced to every listener synchronously, right after the
//!   store committed it, before the request that made it is answered.
//! - Postgres: the change is also sent with `NOTIFY` (after the commit, batched, on a connection
//!   of its own; inside the commit it would take Postgres' notify lock and serialize every
//!   commit), and each replica `LISTEN`s. While that listening connection is down, listeners are
//!   told so, and must not trust what they cached: a change may go unheard. A replica ignores
//!   the echo of its own notifications: it told its listeners when it made the change, and
//!   hearing it again would drop what they had just updated.
//! - SQLite is embedded: one server process per database file, so announcing in-process is all.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use sqlx::postgres::PgListener;
use sqlx::{Connection, PgConnection};
use tokio::sync::mpsc;

/// The Postgres channel changes are announced on.
const CHANNEL: &str = "frazil_objects";
/// A `NOTIFY` payload holds at most 8,000 bytes: the sender's id (32) and up to 200 uids (36
/// each, with separators).
const UIDS_PER_NOTIFY: usize = 200;
/// Between the sending replica's id and the uids in a payload.
const SENDER_END: char = ':';
/// Pause before reconnecting a lost `LISTEN` or `NOTIFY` connection.
const RECONNECT_PAUSE: Duration = Duration::from_secs(1);

/// Told of changes to tables and views (by the object's uid).
pub trait ObjectListener: Send + Sync {
    /// The object with this uid changed: its pointer moved, or it was renamed or dropped.
    fn changed(&self, uid: &str);
    /// This process moved the object's pointer to `metadata_location` (and nothing else about
    /// it changed).
    fn moved(&self, uid: &str, metadata_location: &str);
    /// Changes may have been missed until now; from now on every change is heard.
    fn resynchronized(&self);
    /// Changes may go unheard from now until `resynchronized`.
    fn deaf(&self);
}

/// The store's side: who listens, and (Postgres) the connections that carry changes between
/// replicas.
pub(crate) struct Changes {
    listeners: Mutex<Vec<Weak<dyn ObjectListener>>>,
    /// Whether every change is heard now (always for SQLite; while `LISTEN`ing for Postgres).
    hearing: AtomicBool,
    /// Postgres: uids to `NOTIFY` other replicas of.
    outgoing: Mutex<Option<mpsc::UnboundedSender<String>>>,
    closed: AtomicBool,
    /// This process's id in the payloads it sends, to know its own echo.
    replica: String,
}

impl std::fmt::Debug for Changes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Changes")
            .field("hearing", &self.hearing.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl Changes {
    fn new() -> Self {
        Self {
            listeners: Mutex::default(),
            hearing: AtomicBool::new(false),
            outgoing: Mutex::default(),
            closed: AtomicBool::new(false),
            replica: uuid::Uuid::new_v4().simple().to_string(),
        }
    }

    /// In-process only (SQLite): every change passes through this process.
    pub fn in_process() -> Arc<Self> {
        let changes = Arc::new(Self::new());
        changes.hearing.store(true, Ordering::SeqCst);
        changes
    }

    /// Between replicas over Postgres at `url`; needs a Tokio runtime (else nothing is heard
    /// from other replicas, and listeners are told so).
    pub fn postgres(url: &str) -> Arc<Self> {
        let changes = Arc::new(Self::new());
        if tokio::runtime::Handle::try_current().is_ok() {
            let (tx, rx) = mpsc::unbounded_channel();
            *lock(&changes.outgoing) = Some(tx);
            let sender = changes.replica.clone();
            tokio::spawn(notify_loop(
                url.to_string(),
                sender,
                rx,
                Arc::downgrade(&changes),
            ));
            tokio::spawn(listen_loop(url.to_string(), Arc::downgrade(&changes)));
        }
        changes
    }

    /// Adds a listener, told at once if every change is heard already.
    pub fn subscribe(&self, listener: Weak<dyn ObjectListener>) {
        let mut listeners = lock(&self.listeners);
        listeners.retain(|l| l.strong_count() > 0);
        if let Some(l) = listener.upgrade() {
            if self.hearing.load(Ordering::SeqCst) {
                l.resynchronized();
            }
        }
        listeners.push(listener);
    }

    /// This process changed these objects (call after the change is committed).
    pub fn announce(&self, uids: &[&str]) {
        self.each_listener(|l| uids.iter().for_each(|uid| l.changed(uid)));
        self.tell_other_replicas(uids.iter().copied());
    }

    /// This process moved these objects' pointers: `(uid, new metadata location)`.
    pub fn announce_moves(&self, moves: &[(&str, &str)]) {
        self.each_listener(|l| moves.iter().for_each(|(uid, at)| l.moved(uid, at)));
        self.tell_other_replicas(moves.iter().map(|(uid, _)| *uid));
    }

    fn tell_other_replicas<'a>(&self, uids: impl Iterator<Item = &'a str>) {
        if let Some(tx) = lock(&self.outgoing).as_ref() {
            for uid in uids {
                let _ = tx.send(uid.to_string());
            }
        }
    }

    /// The uids in a payload another replica sent (`sender:uid,uid,...`); `None` for this
    /// replica's own. A payload without a sender (from an older replica) is all uids.
    fn others_changes<'a>(&self, payload: &'a str) -> Option<&'a str> {
        match payload.split_once(SENDER_END) {
            Some((sender, _)) if sender == self.replica => None,
            Some((_, uids)) => Some(uids),
            None => Some(payload),
        }
    }

    pub fn close(&self) {
        self.closed.store(true, Ordering::SeqCst);
        lock(&self.outgoing).take();
        self.set_hearing(false);
    }

    /// Under the listeners' lock, so that a new listener hears exactly one account of it.
    fn set_hearing(&self, hearing: bool) {
        let listeners = lock(&self.listeners);
        self.hearing.store(hearing, Ordering::SeqCst);
        for listener in listeners.iter().filter_map(Weak::upgrade) {
            if hearing {
                listener.resynchronized();
            } else {
                listener.deaf();
            }
        }
    }

    fn each_listener(&self, f: impl Fn(&dyn ObjectListener)) {
        let listeners: Vec<Arc<dyn ObjectListener>> = lock(&self.listeners)
            .iter()
            .filter_map(Weak::upgrade)
            .collect();
        for listener in listeners {
            f(listener.as_ref());
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// Hears other replicas' changes for as long as the store is open.
async fn listen_loop(url: String, changes: Weak<Changes>) {
    loop {
        match PgListener::connect(&url).await {
            Ok(mut listener) => match listener.listen(CHANNEL).await {
                Ok(()) => {
                    let Some(hub) = changes.upgrade() else { return };
                    if hub.closed.load(Ordering::SeqCst) {
                        return;
                    }
                    hub.set_hearing(true);
                    drop(hub);
                    hear(&mut listener, &changes).await;
                }
                Err(e) => tracing::warn!(error = %e, "cannot LISTEN for table changes"),
            },
            Err(e) => tracing::warn!(error = %e, "cannot connect to LISTEN for table changes"),
        }
        let Some(hub) = changes.upgrade() else { return };
        if hub.closed.load(Ordering::SeqCst) {
            return;
        }
        hub.set_hearing(false);
        drop(hub);
        tokio::time::sleep(RECONNECT_PAUSE).await;
    }
}

/// Passes notifications on until the connection is lost.
async fn hear(listener: &mut PgListener, changes: &Weak<Changes>) {
    loop {
        let notification = match listener.try_recv().await {
            Ok(Some(notification)) => notification,
            Ok(None) => return tracing::warn!("lost the LISTEN connection for table changes"),
            Err(e) => return tracing::warn!(error = %e, "LISTEN for table changes failed"),
        };
        let Some(hub) = changes.upgrade() else { return };
        if hub.closed.load(Ordering::SeqCst) {
            return;
        }
        let Some(uids) = hub.others_changes(notification.payload()) else {
            continue;
        };
        hub.each_listener(|l| uids.split(',').for_each(|uid| l.changed(uid)));
    }
}

/// Sends this process's changes to the other replicas, as many per `NOTIFY` as are waiting.
async fn notify_loop(
    url: String,
    sender: String,
    mut rx: mpsc::UnboundedReceiver<String>,
    changes: Weak<Changes>,
) {
    let mut connection: Option<PgConnection> = None;
    while let Some(first) = rx.recv().await {
        let mut uids = vec![first];
        while uids.len() < UIDS_PER_NOTIFY {
            match rx.try_recv() {
                Ok(uid) => uids.push(uid),
                Err(_) => break,
            }
        }
        let payload = format!("{sender}{SENDER_END}{}", uids.join(","));
        loop {
            if changes
                .upgrade()
                .is_none_or(|c| c.closed.load(Ordering::SeqCst))
            {
                return;
            }
            match send(&url, &mut connection, &payload).await {
                Ok(()) => break,
                Err(e) => {
                    // Other replicas miss this change until their cached pointer expires.
                    tracing::warn!(error = %e, "cannot NOTIFY other replicas of table changes");
                    connection = None;
                    tokio::time::sleep(RECONNECT_PAUSE).await;
                }
            }
        }
    }
}

async fn send(
    url: &str,
    connection: &mut Option<PgConnection>,
    payload: &str,
) -> Result<(), sqlx::Error> {
    if connection.is_none() {
        *connection = Some(PgConnection::connect(url).await?);
    }
    let Some(conn) = connection.as_mut() else {
        return Ok(());
    };
    sqlx::query("SELECT pg_notify($1, $2)")
        .bind(CHANNEL)
        .bind(payload)
        .execute(conn)
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_replica_skips_its_own_echo_and_reads_others_and_older_payloads() {
        let (me, other) = (Changes::new(), Changes::new());
        let mine = format!("{}{SENDER_END}u1,u2", me.replica);
        let theirs = format!("{}{SENDER_END}u3", other.replica);
        assert_eq!(me.others_changes(&mine), None);
        assert_eq!(me.others_changes(&theirs), Some("u3"));
        assert_eq!(other.others_changes(&mine), Some("u1,u2"));
        // Sent by a replica from before senders were named.
        assert_eq!(me.others_changes("u4,u5"), Some("u4,u5"));
    }
}
