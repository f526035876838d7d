-- Idempotency-Key claims are leases: the replica running a keyed request holds its claim until
-- the operation's task ends (renewing lease_until_ms while it runs), and only the holder
-- (claim_id) may finish or release it. A claim whose lease ran out (its replica died) is taken
-- over by a retry. Answers that carry a table's or view's metadata keep only the metadata file's
-- location (metadata_location) and how the answer is built from it (reply_shape), not the body.
ALTER TABLE idempotency_keys ADD COLUMN claim_id TEXT;
ALTER TABLE idempotency_keys ADD COLUMN lease_until_ms BIGINT;
ALTER TABLE idempotency_keys ADD COLUMN metadata_location TEXT;
ALTER TABLE idempotency_keys ADD COLUMN reply_shape TEXT;
