-- Idempotency-Key records (Iceberg REST 1.11): the final response of a mutation, replayed to a
-- retry with the same key. status NULL: the first request is still running. Kept in the store so
-- that every replica replays them; rows older than the advertised lifetime are purged.
CREATE TABLE idempotency_keys (
    scope          TEXT NOT NULL,
    idem_key       TEXT NOT NULL,
    fingerprint    TEXT NOT NULL,
    status         INTEGER,
    content_type   TEXT,
    etag           TEXT,
    body           TEXT,
    created_at_ms  INTEGER NOT NULL,
    PRIMARY KEY (scope, idem_key)
);
CREATE INDEX idempotency_keys_by_age ON idempotency_keys (created_at_ms);
