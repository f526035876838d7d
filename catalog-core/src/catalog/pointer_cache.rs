//! Which metadata file each table is at, by name, so that a loadTable hit (and its 304) needs no
//! database round trip.
//!
//! An entry is dropped as soon as the store announces a change to its object (a commit, rename
//! or drop by this replica, at once; by another replica, when its Postgres `NOTIFY` arrives).
//! While changes might go unheard (the `LISTEN` connection is down) nothing is served from
//! here. Entries also expire after a time to live: the bound on staleness if a replica died
//! between its commit and its `NOTIFY`.
//!
//! Commits check their requirements against this cache too, but it never decides one: a failed
//! check is confirmed against the store (unless this process makes every change), and the
//! store's compare-and-swap catches a commit computed on a stale pointer. A reader on another
//! replica may see a table's previous version for the moment a notification takes to arrive, as
//! if it had loaded the table that moment earlier.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::RwLock;
use std::time::{Duration, Instant};

use crate::store::{ObjectListener, ObjectPointer};

/// Most entries kept; beyond it the cache starts over (a full cache of this size is ~20 MB).
const MAX_ENTRIES: usize = 100_000;
/// Most objects whose last change is remembered; beyond it, every pointer read before the
/// latest change is refused, as if that change were to its object.
const MAX_CHANGED: usize = 10_000;

#[derive(Debug)]
pub(crate) struct PointerCache {
    entries: RwLock<Entries>,
    /// Bumped by every change heard: a pointer read from the store before a change to its
    /// object is not cached after it.
    epoch: AtomicU64,
    /// Whether every change is heard now.
    hearing: AtomicBool,
    ttl: Duration,
}

#[derive(Debug, Default)]
struct Entries {
    by_name: HashMap<String, (ObjectPointer, Instant)>,
    /// uid -> the name its entry is under.
    names: HashMap<String, String>,
    /// uid -> the epoch of its last change: a miss on one busy table is still cached while
    /// other tables change.
    changed: HashMap<String, u64>,
    /// Pointers read before this epoch are not cached (changes before it are forgotten).
    floor: u64,
}

impl Entries {
    /// No entries, and no pointer read before `floor` to be cached.
    fn starting_at(floor: u64) -> Self {
        Self {
            floor,
            ..Self::default()
        }
    }

    /// Whether `uid` changed after a pointer read at `ticket`.
    fn changed_since(&self, uid: &str, ticket: Ticket) -> bool {
        ticket.0 < self.floor || self.changed.get(uid).is_some_and(|&at| at > ticket.0)
    }

    fn remember_change(&mut self, uid: &str, epoch: u64) {
        if self.changed.len() >= MAX_CHANGED {
            self.changed.clear();
            self.floor = epoch;
        }
        self.changed.insert(uid.to_string(), epoch);
    }
}

/// What a miss remembers to cache its answer: the epoch before it read the store.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ticket(u64);

impl PointerCache {
    /// A cache whose entries live at most `ttl` (zero: nothing is cached).
    pub fn new(ttl: Duration) -> Self {
        Self {
            entries: RwLock::default(),
            epoch: AtomicU64::new(0),
            hearing: AtomicBool::new(false),
            ttl,
        }
    }

    /// The cache key of a table or view: environment, namespace key and name.
    pub fn key(env_uid: &str, namespace_key: &str, name: &str) -> String {
        format!("{env_uid}\u{1f}{namespace_key}\u{1e}{name}")
    }

    pub fn get(&self, key: &str) -> Option<ObjectPointer> {
        if !self.is_hearing() {
            return None;
        }
        let entries = self.entries.read().unwrap_or_else(|e| e.into_inner());
        let (pointer, at) = entries.by_name.get(key)?;
        (at.elapsed() < self.ttl).then(|| pointer.clone())
    }

    /// Whether every change is heard now, so that entries are served.
    pub fn is_hearing(&self) -> bool {
        self.hearing.load(Ordering::Acquire)
    }

    /// Taken before reading the pointer from the store.
    pub fn ticket(&self) -> Ticket {
        Ticket(self.epoch.load(Ordering::Acquire))
    }

    /// Caches a pointer read from the store, unless a change to its object was heard since
    /// `ticket`.
    pub fn insert(&self, key: String, pointer: ObjectPointer, ticket: Ticket) {
        if self.ttl.is_zero() || !self.hearing.load(Ordering::Acquire) {
            return;
        }
        let mut entries = self.entries.write().unwrap_or_else(|e| e.into_inner());
        // Checked under the lock. A change takes its epoch before the lock: one that is not
        // recorded yet removes (or moves) this entry when it gets the lock.
        if entries.changed_since(&pointer.uid, ticket) {
            return;
        }
        if entries.by_name.len() >= MAX_ENTRIES {
            *entries = Entries::starting_at(self.epoch.load(Ordering::Acquire));
        }
        entries.names.insert(pointer.uid.clone(), key.clone());
        entries.by_name.insert(key, (pointer, Instant::now()));
    }

    fn clear(&self) {
        let floor = self.epoch.fetch_add(1, Ordering::AcqRel) + 1;
        *self.entries.write().unwrap_or_else(|e| e.into_inner()) = Entries::starting_at(floor);
    }
}

impl ObjectListener for PointerCache {
    fn changed(&self, uid: &str) {
        let epoch = self.epoch.fetch_add(1, Ordering::AcqRel) + 1;
        let mut entries = self.entries.write().unwrap_or_else(|e| e.into_inner());
        entries.remember_change(uid, epoch);
        if let Some(name) = entries.names.remove(uid) {
            entries.by_name.remove(&name);
        }
    }

    /// Updates the entry in place, if there is one under this uid: a rename or drop removes the
    /// uid's entry, so a move heard after it changes nothing, whatever the order.
    fn moved(&self, uid: &str, metadata_location: &str) {
        let epoch = self.epoch.fetch_add(1, Ordering::AcqRel) + 1;
        let mut entries = self.entries.write().unwrap_or_else(|e| e.into_inner());
        entries.remember_change(uid, epoch);
        let Some(name) = entries.names.get(uid).cloned() else {
            return;
        };
        if let Some((pointer, at)) = entries.by_name.get_mut(&name) {
            pointer.metadata_location = metadata_location.to_string();
            pointer.version = frazil_storage::version_of(metadata_location);
            *at = Instant::now();
        }
    }

    fn resynchronized(&self) {
        self.clear();
        self.hearing.store(true, Ordering::Release);
    }

    fn deaf(&self) {
        self.hearing.store(false, Ordering::Release);
        self.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::ObjectKind;

    fn pointer(uid: &str, location: &str) -> ObjectPointer {
        ObjectPointer {
            uid: uid.into(),
            kind: ObjectKind::Table,
            metadata_location: location.into(),
            version: 0,
        }
    }

    fn hearing_cache() -> PointerCache {
        let cache = PointerCache::new(Duration::from_secs(60));
        cache.resynchronized();
        cache
    }

    #[test]
    fn a_change_drops_the_entry_of_its_object() {
        let cache = hearing_cache();
        cache.insert("t".into(), pointer("u1", "a"), cache.ticket());
        cache.insert("s".into(), pointer("u2", "b"), cache.ticket());
        assert_eq!(
            cache.get("t").map(|p| p.metadata_location),
            Some("a".into())
        );
        cache.changed("u1");
        assert_eq!(cache.get("t"), None);
        assert!(cache.get("s").is_some(), "other tables keep their entries");
    }

    #[test]
    fn a_move_updates_the_entry_and_a_drop_wins_over_it_in_any_order() {
        let cache = hearing_cache();
        cache.insert("t".into(), pointer("u1", "a"), cache.ticket());
        cache.moved("u1", "file:///w/t/metadata/00001-b.metadata.json");
        let moved = cache.get("t").unwrap();
        assert_eq!(
            moved.metadata_location,
            "file:///w/t/metadata/00001-b.metadata.json"
        );
        assert_eq!(moved.version, 1);
        // Dropped (or renamed), then a late move: the entry stays gone.
        cache.changed("u1");
        cache.moved("u1", "c");
        assert_eq!(cache.get("t"), None);
        // A move of an object that has no entry creates none.
        cache.moved("u2", "d");
        assert_eq!(cache.get("t"), None);
    }

    #[test]
    fn a_pointer_read_before_a_change_is_not_cached_after_it() {
        let cache = hearing_cache();
        let ticket = cache.ticket();
        // The store was read here (old location); then a commit's change is heard.
        cache.changed("u1");
        cache.insert("t".into(), pointer("u1", "old"), ticket);
        assert_eq!(cache.get("t"), None);
    }

    #[test]
    fn a_pointer_read_before_a_move_is_not_cached_after_it() {
        let cache = hearing_cache();
        let ticket = cache.ticket();
        cache.moved("u1", "new");
        cache.insert("t".into(), pointer("u1", "old"), ticket);
        assert_eq!(cache.get("t"), None);
    }

    #[test]
    fn changes_to_other_tables_do_not_keep_a_pointer_out() {
        let cache = hearing_cache();
        let ticket = cache.ticket();
        cache.changed("u2");
        cache.moved("u3", "elsewhere");
        cache.insert("t".into(), pointer("u1", "a"), ticket);
        assert_eq!(
            cache.get("t").map(|p| p.metadata_location),
            Some("a".into())
        );
    }

    #[test]
    fn once_changes_are_forgotten_every_older_read_is_refused() {
        let cache = hearing_cache();
        let ticket = cache.ticket();
        cache.changed("u1");
        // So many other objects change that u1's change is forgotten.
        for i in 0..MAX_CHANGED {
            cache.changed(&format!("other-{i}"));
        }
        cache.insert("t".into(), pointer("u1", "old"), ticket);
        assert_eq!(cache.get("t"), None);
        // A read after them is cached.
        cache.insert("t".into(), pointer("u1", "new"), cache.ticket());
        assert!(cache.get("t").is_some());
    }

    #[test]
    fn a_read_from_before_deafness_is_not_cached_after_it() {
        let cache = hearing_cache();
        let ticket = cache.ticket();
        cache.deaf();
        cache.resynchronized();
        cache.insert("t".into(), pointer("u1", "a"), ticket);
        assert_eq!(cache.get("t"), None);
    }

    #[test]
    fn nothing_is_served_while_changes_may_go_unheard() {
        let cache = PointerCache::new(Duration::from_secs(60));
        cache.insert("t".into(), pointer("u1", "a"), cache.ticket());
        assert_eq!(cache.get("t"), None, "not hearing yet");
        cache.resynchronized();
        cache.insert("t".into(), pointer("u1", "a"), cache.ticket());
        assert!(cache.get("t").is_some());
        cache.deaf();
        assert_eq!(cache.get("t"), None);
        cache.resynchronized();
        assert_eq!(cache.get("t"), None, "entries from before are gone");
    }

    #[test]
    fn entries_expire() {
        let cache = PointerCache::new(Duration::from_millis(20));
        cache.resynchronized();
        cache.insert("t".into(), pointer("u1", "a"), cache.ticket());
        assert!(cache.get("t").is_some());
        std::thread::sleep(Duration::from_millis(30));
        assert_eq!(cache.get("t"), None);
    }
}
