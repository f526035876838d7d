-- API keys: OAuth2 client credentials. Only an argon2id hash of each secret is kept.
-- Scope: org_id NULL = the whole server (bootstrap admin); env_id NULL = the whole organization.
CREATE TABLE api_keys (
    id              TEXT PRIMARY KEY,
    org_id          TEXT,
    env_id          TEXT,
    role            TEXT NOT NULL CHECK (role IN ('reader', 'writer', 'admin')),
    description     TEXT NOT NULL,
    secret_hash     TEXT NOT NULL,
    created_at_ms   INTEGER NOT NULL,
    last_used_at_ms INTEGER,
    expires_at_ms   INTEGER,
    revoked_at_ms   INTEGER
);
CREATE INDEX api_keys_by_scope ON api_keys (org_id, env_id);

-- Token signing keys (Ed25519). The newest active key signs; every unretired key verifies.
CREATE TABLE signing_keys (
    kid            TEXT PRIMARY KEY,
    private_key    TEXT NOT NULL,
    public_key     TEXT NOT NULL,
    created_at_ms  INTEGER NOT NULL,
    retired_at_ms  INTEGER
);
