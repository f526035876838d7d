-- Where each table or view lives: its metadata's `location`, in the one spelling of
-- frazil_storage::Location. Creates, registers and location changes check it against every
-- other object's location with this index (equal: the unique index; containing: an IN list of
-- the new location's ancestors; inside: a range over `location || '/'`), so no two objects'
-- directories overlap and a purge deletes only its own table's files. Rows that exist before
-- this migration are filled at start-up from their metadata (SqlStore::migrate).
ALTER TABLE catalog_objects ADD COLUMN location TEXT;
CREATE UNIQUE INDEX catalog_objects_by_location ON catalog_objects (location);

-- Purges of dropped tables, committed in the drop's transaction and carried out by a worker on
-- every replica. due_at_ms: when the task may run next; a worker that claims it moves it one
-- lease ahead (so a crashed worker's task runs again), a failure moves it one backoff ahead.
CREATE TABLE purge_tasks (
    id            TEXT PRIMARY KEY,
    env_uid       TEXT NOT NULL,
    object_uid    TEXT NOT NULL,
    location      TEXT NOT NULL,
    attempts      INTEGER NOT NULL DEFAULT 0,
    due_at_ms     INTEGER NOT NULL,
    last_error    TEXT,
    created_at_ms INTEGER NOT NULL
);
CREATE INDEX purge_tasks_by_due ON purge_tasks (due_at_ms);
CREATE INDEX purge_tasks_by_location ON purge_tasks (location);
