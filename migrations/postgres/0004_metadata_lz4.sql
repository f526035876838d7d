-- Table metadata is stored whole and rewritten by every commit; lz4 compresses it several times
-- faster than Postgres' default pglz. Servers built without lz4 (or older than 14) keep pglz.
DO $$
BEGIN
    ALTER TABLE catalog_objects ALTER COLUMN metadata SET COMPRESSION lz4;
EXCEPTION WHEN OTHERS THEN
    RAISE NOTICE 'lz4 compression is not available; table metadata stays pglz-compressed';
END
$$;
