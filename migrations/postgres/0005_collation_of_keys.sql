-- Keys that are compared with "C"-collated uids get the "C" collation too. With the default
-- collation on one side, Postgres cannot use the (namespace_uid, name) index for a join with
-- namespaces (or a comparison with a uid it selected), and the generic plan of the pointer query
-- that every loadTable and commit runs scanned the whole table: 10 ms at 100,000 tables, 0.07 ms
-- with the index.
ALTER TABLE catalog_objects ALTER COLUMN namespace_uid TYPE TEXT COLLATE "C";
ALTER TABLE namespaces ALTER COLUMN env_uid TYPE TEXT COLLATE "C";
