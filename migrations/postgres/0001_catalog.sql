-- Tenancy: organizations -> environments (one Iceberg catalog each) -> namespaces -> tables/views.
CREATE TABLE organizations (
    id            TEXT COLLATE "C" PRIMARY KEY,
    name          TEXT COLLATE "C" NOT NULL,
    created_at_ms BIGINT NOT NULL
);

CREATE TABLE environments (
    uid           TEXT COLLATE "C" PRIMARY KEY,
    org_id        TEXT NOT NULL REFERENCES organizations (id),
    id            TEXT NOT NULL,
    name          TEXT COLLATE "C" NOT NULL,
    storage       TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL,
    UNIQUE (org_id, id)
);
CREATE INDEX environments_by_id ON environments (id);

-- name: the levels joined with 0x1F; parent: the parent's name, '' at the top level.
CREATE TABLE namespaces (
    uid           TEXT COLLATE "C" PRIMARY KEY,
    env_uid       TEXT NOT NULL REFERENCES environments (uid),
    name          TEXT COLLATE "C" NOT NULL,
    parent        TEXT COLLATE "C" NOT NULL,
    properties    TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL,
    UNIQUE (env_uid, name)
);
CREATE INDEX namespaces_by_parent ON namespaces (env_uid, parent, name);

-- Tables and views share one name space per namespace.
CREATE TABLE catalog_objects (
    uid               TEXT COLLATE "C" PRIMARY KEY,
    namespace_uid     TEXT NOT NULL REFERENCES namespaces (uid),
    name              TEXT COLLATE "C" NOT NULL,
    kind              TEXT NOT NULL CHECK (kind IN ('table', 'view')),
    metadata_location TEXT NOT NULL,
    metadata          TEXT NOT NULL,
    metadata_version  BIGINT NOT NULL,
    created_at_ms     BIGINT NOT NULL,
    updated_at_ms     BIGINT NOT NULL,
    UNIQUE (namespace_uid, name)
);
CREATE INDEX catalog_objects_by_kind ON catalog_objects (namespace_uid, kind, name);

-- The outbox of table changes, written in the same transaction as the change.
CREATE TABLE table_events (
    seq               BIGSERIAL PRIMARY KEY,
    env_uid           TEXT NOT NULL,
    object_uid        TEXT NOT NULL,
    kind              TEXT NOT NULL,
    metadata_location TEXT NOT NULL,
    created_at_ms     BIGINT NOT NULL
);
